"""Basic Pension Number (基礎年金番号).

Ten digits written ``NNNN-NNNNNN``: a four-digit code and a six-digit serial, as printed on the
年金手帳 and 基礎年金番号通知書 (日本年金機構, 基礎年金番号について). The Japan Pension Service
publishes no check digit, so the shape only counts with a pension word nearby (年金,
基礎年金番号, 年金手帳, pension); ten contiguous digits count with a lower score.

>>> validate("１２３４ー５６７８９０")
'1234567890'
>>> [(f.value, f.score) for f in scan("基礎年金番号：1234-567890")]
[('1234-567890', 0.9)]
>>> list(scan("1234-567890"))
[]
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator

import regex

from classifiers.detectors._base import Document, Hit, scan_with
from classifiers.detectors._numeric import candidates, chunk_shape, context_words, find_context, fold
from classifiers.detectors._tokens import NUMBER
from classifiers.errors import InvalidFormat, InvalidLength
from classifiers.model import Explanation, Finding

ENTITY_TYPE = "pension_number"
#: Identifies or describes a natural person: counts towards ``records``.
PERSONAL = True
#: Only a natural person has one: whoever holds the data, it is a person's (classifiers.holders).
PERSON_ONLY = True
#: Characters kept at the end when a value is shown masked (``classifiers.redact``).
KEEP_TAIL = 4
PATTERN = NUMBER
PRIORITY = 50
MIN_LENGTH = 10  # the shortest shape, in characters: shorter tokens are skipped unread

BASE_SCORE = 0.9  # NNNN-NNNNNN with a pension word
PLAIN_SCORE = 0.7  # ten contiguous digits with a pension word

_CONTEXT = context_words(
    ["年金", "基礎年金番号", "年金番号", "年金手帳", "基礎年金", "pension", "nenkin", "厚生年金", "国民年金"]
)
_PHONE = context_words(["電話", "TEL", "FAX", "携帯", "phone"])
_SHAPE = chunk_shape(r"\d{4}[- ]\d{6}|\d{10}")


def compact(number: str) -> str:
    """Remove separators."""
    return "".join(ch for ch in fold(number) if ch not in " -")


def validate(number: str) -> str:
    """Return the ten digits or raise an :class:`~classifiers.errors.ValidationError`."""
    value = compact(number)
    if not value.isdigit():
        raise InvalidFormat(number)
    if len(value) != 10:
        raise InvalidLength(number)
    return value


def is_valid(number: str) -> bool:
    try:
        validate(number)
    except ValueError:
        return False
    return True


def check(match: regex.Match[str], doc: Document) -> Iterable[Hit]:
    taken = -1
    for start, end, text in candidates(match, _SHAPE):
        if start < taken or not is_valid(text):
            continue
        context = find_context(doc, start, end, _CONTEXT, before=30, after=10)
        if not context:
            continue
        grouped = len(text) == 11
        if not grouped and find_context(doc, start, end, _PHONE, before=15, after=0):
            continue  # 年金事務所 TEL 0312345678 is the office's phone
        taken = end
        yield Hit(
            start,
            end,
            BASE_SCORE if grouped else PLAIN_SCORE,
            compact(text),
            Explanation("NNNN-NNNNNN" if grouped else "10 digits", "keyword", BASE_SCORE, context),
        )


def scan(text: str) -> Iterator[Finding]:
    return scan_with(sys.modules[__name__], text)
