"""Credit card number (クレジットカード番号, payment card PAN).

A primary account number of ISO/IEC 7812-1: an issuer identification number (IIN) prefix, an
account number and a final check digit computed with the Luhn formula (ISO/IEC 7812-1,
Annex B: double every second digit from the right, sum the digits, the total must be a
multiple of 10). The prefixes and lengths accepted are those the card networks publish for
their cards: Visa ``4`` (13, 16 or 19 digits: Visa still honours the 13-digit numbers it
issued), Mastercard ``51``-``55`` and ``2221``-``2720``
(16), American Express ``34``/``37`` (15), JCB ``3528``-``3589`` (16-19), Diners Club
``300``-``305``/``3095``/``36``/``38``/``39`` (14-19), Discover ``6011``/``644``-``649``/``65``
(16-19), UnionPay ``62`` and ``81`` (16-19), Mir ``2200``-``2204`` (16-19), RuPay ``60``/``508``
(16) and Troy ``9792`` (16). Written contiguous or grouped 4-4-4-4 (4-4-4-4-3 for 19 digits),
4-6-5 (Amex), 4-6-4 (Diners) or 4-3-3-3 and 4-4-4-1 (13-digit Visa), with spaces, hyphens or dots.

A 13-digit number that is also a valid corporate number (法人番号: its own check digit) is taken
for one unless the context says card.

>>> validate("4111 1111 1111 1111")
'4111111111111111'
>>> issuer("3530111333300000"), issuer("378282246310005"), issuer("2223003122003222")
('JCB', 'American Express', 'Mastercard')
>>> is_valid("4111111111111112")
False
>>> [f.value for f in scan("カード番号：４１１１ー１１１１ー１１１１ー１１１１")]
['４１１１ー１１１１ー１１１１ー１１１１']
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator

import regex

from classifiers.detectors import corporate_number
from classifiers.detectors._base import Document, Hit, scan_with
from classifiers.detectors._numeric import (
    ORDER_LIKE,
    candidates,
    chunk_shape,
    context_words,
    digits,
    find_context,
    fold,
    refused_by_label,
)
from classifiers.detectors._tokens import NUMBER
from classifiers.errors import InvalidChecksum, InvalidFormat, InvalidLength
from classifiers.model import Explanation, Finding

ENTITY_TYPE = "credit_card"
#: Identifies or describes a natural person: counts towards ``records``.
PERSONAL = True
#: Only a natural person has one: whoever holds the data, it is a person's (classifiers.holders).
PERSON_ONLY = True
#: Characters kept at the end when a value is shown masked (``classifiers.redact``).
KEEP_TAIL = 4
PATTERN = NUMBER
PRIORITY = 50
MIN_LENGTH = 13  # the shortest shape, in characters: shorter tokens are skipped unread

BASE_SCORE = 0.7  # known issuer range and a valid Luhn digit, no context
CONTEXT_SCORE = 1.0

_CONTEXT = context_words(
    [
        "クレジット",
        "カード番号",
        "カード",
        "有効期限",
        "セキュリティコード",
        "決済",
        "credit",
        "card",
        "card number",
        "card no",
        "expiry",
        "exp",
        "CVV",
        "CVC",
        "VISA",
        "Mastercard",
        "AMEX",
        "JCB",
        "Diners",
        "Discover",
        "UnionPay",
        "銀聯",
    ]
)
_NEGATIVE = context_words([*ORDER_LIKE, "法人番号", "登録番号", "口座", "電話", "TEL", "FAX"])
_SHAPE = chunk_shape(
    r"\d{13,19}"
    r"|\d{4}([-. ])\d{4}\1\d{4}\1\d{4}(?:\1\d{3})?"  # 4-4-4-4, 4-4-4-4-3
    r"|\d{4}([-. ])\d{6}\2\d{4,5}"  # 4-6-5 (Amex), 4-6-4 (Diners)
    r"|4\d{3}([-. ])\d{3}\3\d{3}\3\d{3}"  # 4-3-3-3 (13-digit Visa)
    r"|4\d{3}([-. ])\d{4}\4\d{4}\4\d"  # 4-4-4-1: a 13-digit Visa typed in a 16-digit card's groups
)

#: (network, first IIN, last IIN, prefix length, lengths)
_RANGES: tuple[tuple[str, int, int, int, tuple[int, ...]], ...] = (
    ("Visa", 4, 4, 1, (13, 16, 19)),
    ("Mastercard", 51, 55, 2, (16,)),
    ("Mastercard", 2221, 2720, 4, (16,)),
    ("American Express", 34, 34, 2, (15,)),
    ("American Express", 37, 37, 2, (15,)),
    ("JCB", 3528, 3589, 4, (16, 17, 18, 19)),
    ("Diners Club", 300, 305, 3, (14, 15, 16, 17, 18, 19)),
    ("Diners Club", 3095, 3095, 4, (14, 15, 16, 17, 18, 19)),
    ("Diners Club", 36, 36, 2, (14, 15, 16, 17, 18, 19)),
    ("Diners Club", 38, 39, 2, (14, 15, 16, 17, 18, 19)),
    ("Discover", 6011, 6011, 4, (16, 17, 18, 19)),
    ("Discover", 644, 649, 3, (16, 17, 18, 19)),
    ("Discover", 65, 65, 2, (16, 17, 18, 19)),
    ("UnionPay", 62, 62, 2, (16, 17, 18, 19)),
    ("UnionPay", 81, 81, 2, (16, 17, 18, 19)),
    ("Mir", 2200, 2204, 4, (16, 17, 18, 19)),
    ("RuPay", 60, 60, 2, (16,)),
    ("RuPay", 508, 508, 3, (16,)),
    ("Troy", 9792, 9792, 4, (16,)),
)


def compact(number: str) -> str:
    """Remove separators."""
    return "".join(ch for ch in fold(number) if ch not in " -.")


def luhn_checksum(number: str) -> int:
    """The Luhn sum mod 10 (0 for a valid number)."""
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10


def calc_check_digit(payload: str) -> str:
    """The Luhn digit to append to ``payload``."""
    return str((10 - luhn_checksum(payload + "0")) % 10)


def issuer(number: str) -> str | None:
    """The card network of a compact number, by its IIN prefix and length."""
    for name, low, high, width, lengths in _RANGES:
        if len(number) in lengths and low <= int(number[:width]) <= high:
            return name
    return None


def validate(number: str) -> str:
    """Return the compact number or raise an :class:`~classifiers.errors.ValidationError`."""
    value = compact(number)
    if not value.isdigit():
        raise InvalidFormat(number)
    if not 13 <= len(value) <= 19:
        raise InvalidLength(number)
    if issuer(value) is None:
        raise InvalidFormat(number)
    if luhn_checksum(value) != 0:
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
        if start < taken:
            continue
        value = digits(text)
        if not is_valid(value):
            continue
        context = find_context(doc, start, end, _CONTEXT, before=40, after=20)
        if refused_by_label(doc, start, end, _CONTEXT, _NEGATIVE) or (
            not context and len(value) == 13 and corporate_number.is_valid(value)
        ):
            continue
        taken = end
        score = CONTEXT_SCORE if context else BASE_SCORE
        pattern = f"{issuer(value)} range, {len(value)} digits"
        yield Hit(start, end, score, value, Explanation(pattern, "checksum", BASE_SCORE, context))


def scan(text: str) -> Iterator[Finding]:
    return scan_with(sys.modules[__name__], text)
