"""My Number (マイナンバー, 個人番号: Individual Number).

Twelve digits; the last is a check digit over the first eleven, as defined by the
Ordinance of the Ministry of Internal Affairs and Communications on the Individual Number
(総務省令第85号, 第5条): with P(n) the n-th digit counted from the right of the first eleven and
Q(n) = n + 1 for n <= 6, n - 5 for n >= 7, the remainder r = sum(P(n) * Q(n)) mod 11 gives the
check digit 0 when r <= 1, else 11 - r.

>>> validate("1234 5678 9018")
'123456789018'
>>> is_valid("123456789012")
False
>>> [f.value for f in scan("個人番号：１２３４ー５６７８ー９０１８")]
['１２３４ー５６７８ー９０１８']
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator

import regex

from classifiers.detectors._base import Document, Hit, scan_with, words_pattern
from classifiers.detectors._numeric import (
    ORDER_LIKE,
    candidates,
    chunk_shape,
    context_words,
    find_context,
    fold,
    refused_by_label,
)
from classifiers.detectors._tokens import NUMBER
from classifiers.errors import InvalidChecksum, InvalidFormat, InvalidLength
from classifiers.model import Explanation, Finding

ENTITY_TYPE = "my_number"
#: Identifies or describes a natural person: counts towards ``records``.
PERSONAL = True
#: Only a natural person has one: whoever holds the data, it is a person's (classifiers.holders).
PERSON_ONLY = True
#: Characters kept at the end when a value is shown masked (``classifiers.redact``).
KEEP_TAIL = 4
PATTERN = NUMBER
PRIORITY = 50
MIN_LENGTH = 12  # the shortest shape, in characters: shorter tokens are skipped unread

BASE_SCORE = 0.6  # a valid check digit with no context: counts, but lower
CONTEXT_SCORE = 1.0

_CONTEXT = words_pattern(
    ["マイナンバー", "個人番号", "my number", "mynumber", "個人番号カード", "通知カード", "番号確認"]
)
_NEGATIVE = context_words(
    [
        *ORDER_LIKE,
        "法人番号",
        "口座",
        "電話",
        "TEL",
        "FAX",
        "免許",
        "年金",
        "旅券",
        "パスポート",
    ]
)
_GROUPED = chunk_shape(r"\d{4}([- .]?)\d{4}\1\d{4}")


def compact(number: str) -> str:
    """Remove separators (after the scan's normalisation: full-width digits, every dash)."""
    return "".join(ch for ch in fold(number) if ch.isdigit())


def calc_check_digit(first11: str) -> str:
    total = 0
    for n, ch in enumerate(reversed(first11), start=1):
        q = n + 1 if n <= 6 else n - 5
        total += int(ch) * q
    r = total % 11
    return "0" if r <= 1 else str(11 - r)


def validate(number: str) -> str:
    """Return the compact number or raise an :class:`~classifiers.errors.ValidationError`."""
    digits = compact(number)
    if not digits.isdigit():
        raise InvalidFormat(number)
    if len(digits) != 12:
        raise InvalidLength(number)
    if calc_check_digit(digits[:11]) != digits[11]:
        raise InvalidChecksum(number)
    return digits


def is_valid(number: str) -> bool:
    try:
        validate(number)
    except ValueError:
        return False
    return True


def check(match: regex.Match[str], doc: Document) -> Iterable[Hit]:
    taken = -1
    for start, end, text in candidates(match, _GROUPED):
        if start < taken:
            continue
        digits = compact(text)
        if not is_valid(digits):
            continue
        context = find_context(doc, start, end, _CONTEXT, before=40, after=20)
        if refused_by_label(doc, start, end, _CONTEXT, _NEGATIVE):
            continue
        taken = end
        score = CONTEXT_SCORE if context else BASE_SCORE
        yield Hit(start, end, score, digits, Explanation("12 digits, 4-4-4", "checksum", BASE_SCORE, context))


def scan(text: str) -> Iterator[Finding]:
    return scan_with(sys.modules[__name__], text)
