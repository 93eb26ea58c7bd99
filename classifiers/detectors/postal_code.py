"""Postal code (郵便番号).

Seven digits written ``NNN-NNNN`` (Japan Post, 郵便番号制度 since 1998: a three-digit area part
and a four-digit town part). There is no check digit, and seven digits alone are too common to
mean anything, so a candidate counts only with context: the postal mark ``〒`` (which also
allows the unhyphenated ``〒1234567``), the words 郵便番号/住所/所在地/postal/zip before it (or
a column header 〒/郵便番号 above it), or a prefecture or municipality name right after it
(``123-4567 東京都...``, ``359-0042 所沢市...``, or in the next cell of a row without a header:
``231-0023,横浜市中区...``). The area part is never ``000``.

>>> validate("１００ー０００１")
'1000001'
>>> validate("000-1234")
Traceback (most recent call last):
classifiers.errors.InvalidFormat: 000-1234
>>> [(f.value, f.score) for f in scan("〒１００ー０００１ 東京都千代田区千代田1-1")]
[('１００ー０００１', 1.0)]
>>> list(scan("1000001"))
[]
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator

import regex

from classifiers.detectors._base import Document, Hit, scan_with
from classifiers.detectors._japan import PREFECTURES, municipality_at
from classifiers.detectors._numeric import candidates, chunk_shape, context_words, find_context, fold
from classifiers.detectors._tokens import NUMBER
from classifiers.errors import InvalidFormat, InvalidLength
from classifiers.model import Explanation, Finding

ENTITY_TYPE = "postal_code"
#: Characters kept at the end when a value is shown masked (``classifiers.redact``).
KEEP_TAIL = 0
PATTERN = NUMBER
PRIORITY = 50
MIN_LENGTH = 7  # the shortest shape, in characters: shorter tokens are skipped unread

BASE_SCORE = 0.8  # NNN-NNNN with a context word
MARK_SCORE = 1.0  # led by 〒

_MARK = regex.compile(r"〒\s?$")
_CONTEXT = context_words(
    ["郵便番号", "郵便", "〒", "住所", "所在地", "送付先", "postal", "zip", "post code", "postcode"]
)
#: A prefecture or municipality right after the code, in the same line or the next cell of a
#: row (``231-0023,横浜市中区…``, a CSV without a header).
_PREFECTURE_AFTER = regex.compile(r'^[\s,"]*(?:' + "|".join(PREFECTURES) + ")")
_CELL_GAP = ' \t,"'
_SHAPE = chunk_shape(r"\d{3}-\d{4}|\d{7}")


def compact(number: str) -> str:
    """Remove the hyphen and spaces."""
    return "".join(ch for ch in fold(number) if ch not in " -")


def validate(number: str) -> str:
    """Return the seven digits or raise an :class:`~classifiers.errors.ValidationError`."""
    value = compact(number)
    if not value.isdigit():
        raise InvalidFormat(number)
    if len(value) != 7:
        raise InvalidLength(number)
    if value.startswith("000"):
        raise InvalidFormat(number)
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
        marked = bool(_MARK.search(doc.before(start, 2)))
        if "-" not in text and not marked:
            continue
        context = find_context(doc, start, end, _CONTEXT, before=20, after=0)
        prefecture = _PREFECTURE_AFTER.match(doc.after(end, 8))
        if prefecture:
            context = (*context, prefecture.group(0).strip())
        elif city := municipality_at(doc.after(end, 14).lstrip(_CELL_GAP)):
            context = (*context, city)
        if marked:
            context = tuple(dict.fromkeys(("〒", *context)))
        elif not context:
            continue
        taken = end
        score = MARK_SCORE if marked else BASE_SCORE
        yield Hit(start, end, score, compact(text), Explanation("NNN-NNNN", "format", BASE_SCORE, context))


def scan(text: str) -> Iterator[Finding]:
    return scan_with(sys.modules[__name__], text)
