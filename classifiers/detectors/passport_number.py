"""Passport number (旅券番号), Japanese passports.

Two capital letters and seven digits (``TK1234567``), the layout of the passport number in the
visual zone and machine readable zone of Japanese passports (ICAO Doc 9303 Part 4, document
number field; 外務省 旅券の記載事項). There is no check digit outside the MRZ, so the shape with
a passport word nearby (旅券, パスポート, passport) scores high, the shape alone low. The token
is letters + digits, which the shared ``NUMBER`` token does not cover: this detector has its
own pattern.

>>> validate("ｔｋ１２３４５６７")
'TK1234567'
>>> validate("TK123456")
Traceback (most recent call last):
classifiers.errors.InvalidLength: TK123456
>>> [(f.value, f.score) for f in scan("旅券番号：ＴＫ１２３４５６７")]
[('ＴＫ１２３４５６７', 0.9)]
>>> [(f.value, f.score) for f in scan("TK1234567")]
[('TK1234567', 0.35)]
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator

import regex

from classifiers.detectors._base import Document, Hit, scan_with
from classifiers.detectors._numeric import context_words, find_context, fold, is_labelled_as
from classifiers.errors import InvalidFormat, InvalidLength
from classifiers.model import Explanation, Finding

ENTITY_TYPE = "passport_number"
#: Identifies or describes a natural person: counts towards ``records``.
PERSONAL = True
#: Only a natural person has one: whoever holds the data, it is a person's (classifiers.holders).
PERSON_ONLY = True
#: Characters kept at the end when a value is shown masked (``classifiers.redact``).
KEEP_TAIL = 3
PATTERN = r"(?<![0-9A-Za-z_])[A-Z]{2}[- ]?\d{7}(?![0-9A-Za-z])"
PRIORITY = 40

BASE_SCORE = 0.35  # the letter pair + seven digits alone
CONTEXT_SCORE = 0.9

_CONTEXT = context_words(["旅券", "旅券番号", "パスポート", "passport", "passport no", "pass port"])
#: Letter pairs + seven digits that are well-known other codes (Microsoft KB articles).
_OTHER_CODES = frozenset({"KB"})
_NEGATIVE = context_words(["注文", "型番", "品番", "伝票", "order", "model", "part no", "serial", "SKU"])


def compact(number: str) -> str:
    """Remove separators and upper-case the letters."""
    return "".join(ch for ch in fold(number).upper() if ch not in " -")


def validate(number: str) -> str:
    """Return ``LLNNNNNNN`` or raise an :class:`~classifiers.errors.ValidationError`."""
    value = compact(number)
    if len(value) != 9:
        raise InvalidLength(number)
    if not (value[:2].isascii() and value[:2].isalpha() and value[2:].isdigit()):
        raise InvalidFormat(number)
    return value


def is_valid(number: str) -> bool:
    try:
        validate(number)
    except ValueError:
        return False
    return True


def check(match: regex.Match[str], doc: Document) -> Iterable[Hit]:
    start, end = match.span()
    value = compact(match.group(0))
    context = find_context(doc, start, end, _CONTEXT, before=30, after=10)
    if not context and (value[:2] in _OTHER_CODES or is_labelled_as(doc, start, end, _NEGATIVE)):
        return
    score = CONTEXT_SCORE if context else BASE_SCORE
    yield Hit(start, end, score, value, Explanation("2 letters + 7 digits", "format", BASE_SCORE, context))


def scan(text: str) -> Iterator[Finding]:
    return scan_with(sys.modules[__name__], text)
