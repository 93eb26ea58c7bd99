"""Driver's licence number (運転免許証番号).

Twelve digits (道路交通法施行規則 別記様式第十四 の 免許証の番号): digits 1-2 the code of the
prefectural public safety commission that first issued a licence (10-14 Hokkaido, 20-25
Tohoku, 30 Tokyo ... 97 Okinawa), digits 3-4 the year of first issue, digits 5-10 a serial,
digit 11 a check digit and digit 12 the number of reissues.

The check-digit formula is not published by the National Police Agency. The one used here is
the one documented independently by several public sources and checked against real licences
by a crowd survey (Tetsutaro Uehara, 免許証番号におけるチェックデジットを計算,
tetsutalow.github.io/driversnumbercheckdigit): with the first ten digits a..j, the check digit
is (11 - (5a+4b+3c+2d+7e+6f+5g+4h+3i+2j) mod 11) mod 10. Because twelve digits are also the
shape of a My Number, a candidate only counts with a licence word nearby (免許, 運転免許証,
license, licence).

>>> validate("3001 2345 6710")
'300123456710'
>>> validate("300123456790")
Traceback (most recent call last):
classifiers.errors.InvalidChecksum: 300123456790
>>> validate("990123456710")
Traceback (most recent call last):
classifiers.errors.InvalidFormat: 990123456710
>>> [(f.value, f.score) for f in scan("運転免許証番号 第３００１２３４５６７１０号")]
[('３００１２３４５６７１０', 0.9)]
>>> list(scan("300123456710"))
[]
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator

import regex

from classifiers.detectors._base import Document, Hit, scan_with
from classifiers.detectors._numeric import candidates, chunk_shape, context_words, find_context, fold
from classifiers.detectors._tokens import NUMBER
from classifiers.errors import InvalidChecksum, InvalidFormat, InvalidLength
from classifiers.model import Explanation, Finding

ENTITY_TYPE = "drivers_license"
#: Identifies or describes a natural person: counts towards ``records``.
PERSONAL = True
#: Only a natural person has one: whoever holds the data, it is a person's (classifiers.holders).
PERSON_ONLY = True
#: Characters kept at the end when a value is shown masked (``classifiers.redact``).
KEEP_TAIL = 4
PATTERN = NUMBER
PRIORITY = 50
MIN_LENGTH = 12  # the shortest shape, in characters: shorter tokens are skipped unread

BASE_SCORE = 0.9  # shape, commission code and check digit, with a licence word

#: Public safety commission codes (都道府県公安委員会 / 北海道の方面公安委員会).
COMMISSION_CODES = frozenset(
    (
        *range(10, 15),
        *range(20, 26),
        30,
        *range(40, 56),
        *range(60, 66),
        *range(70, 75),
        *range(80, 84),
        *range(90, 98),
    )
)
_WEIGHTS = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)

_CONTEXT = context_words(
    [
        "免許",
        "免許証",
        "運転免許",
        "運転免許証",
        "免許証番号",
        "driver's license",
        "drivers license",
        "driving licence",
        "driving license",
        "driver license",
        "license",
        "licence",
    ]
)
_SHAPE = chunk_shape(r"\d{12}|\d{4}([-. ])\d{4}\1\d{4}")


def compact(number: str) -> str:
    """Remove separators."""
    return "".join(ch for ch in fold(number) if ch not in " -.")


def calc_check_digit(first10: str) -> str:
    total = sum(int(ch) * w for ch, w in zip(first10, _WEIGHTS, strict=True))
    return str((11 - total % 11) % 10)


def validate(number: str) -> str:
    """Return the twelve digits or raise an :class:`~classifiers.errors.ValidationError`."""
    value = compact(number)
    if not value.isdigit():
        raise InvalidFormat(number)
    if len(value) != 12:
        raise InvalidLength(number)
    if int(value[:2]) not in COMMISSION_CODES:
        raise InvalidFormat(number)
    if calc_check_digit(value[:10]) != value[10]:
        raise InvalidChecksum(number)
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
        taken = end
        yield Hit(
            start,
            end,
            BASE_SCORE,
            compact(text),
            Explanation("12 digits, commission code", "checksum", BASE_SCORE, context),
        )


def scan(text: str) -> Iterator[Finding]:
    return scan_with(sys.modules[__name__], text)
