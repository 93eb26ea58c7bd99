"""Corporate Number (法人番号) and invoice registration number (適格請求書発行事業者登録番号).

Thirteen digits: a leading check digit before a twelve-digit base number (基礎番号), as defined
by the Ordinance of the Ministry of Finance on the designation of corporate numbers
(平成26年財務省令第70号 法人番号の指定等に関する省令, 第2条): with P(n) the n-th digit of the base
number counted from the right and Q(n) = 1 for odd n, 2 for even n, the check digit is
9 - (sum(P(n) * Q(n)) mod 9), always 1-9. The base number of a registered company is its
12-digit 会社法人等番号; other bodies get a base number from the National Tax Agency (FAQ
法人番号の指定). The base number's own layout is not checked: a number the NTA assigns outside
the usual ranges must not be missed. A qualified invoice issuer registered as a corporation is ``T`` + its corporate
number (消費税法第57条の2; 国税庁 インボイス制度 登録番号の構成).

A 13-digit number is never a My Number (12 digits). JAN/EAN-13 barcodes of GS1 Japan start
with ``45`` or ``49``: such a number that also has a valid EAN-13 check digit is taken for a
barcode unless the context says corporate number.

>>> validate("7 0107 0500 0725")
'7010705000725'
>>> is_valid("T7010705000725"), is_valid("8010705000725")
(True, False)
>>> [(f.value, f.score) for f in scan("登録番号：Ｔ７０１０７０５０００７２５")]
[('Ｔ７０１０７０５０００７２５', 1.0)]
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator

import regex

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

ENTITY_TYPE = "corporate_number"
#: Characters kept at the end when a value is shown masked (``classifiers.redact``).
KEEP_TAIL = 4
PATTERN = NUMBER
PRIORITY = 50
MIN_LENGTH = 13  # the shortest shape, in characters: shorter tokens are skipped unread

BASE_SCORE = 0.6  # 13 digits with a valid check digit, no context
INVOICE_SCORE = 0.85  # ``T`` + 13 digits with a valid check digit: the invoice number's own shape
CONTEXT_SCORE = 1.0

_CONTEXT = context_words(
    [
        "法人番号",
        "会社法人等番号",
        "登録番号",
        "適格請求書",
        "インボイス",
        "事業者番号",
        "corporate number",
        "corporation number",
        "registration number",
        "invoice registration",
        "houjin bangou",
    ]
)
_NEGATIVE = context_words(ORDER_LIKE)
#: 13 digits, or 1-4-4-4 (the boxes of the NTA forms), optionally led by ``T``.
_SHAPE = chunk_shape(r"T?\d{13}|T?\d([-. ])\d{4}\1\d{4}\1\d{4}")


def compact(number: str) -> str:
    """Remove separators and the ``T`` of an invoice registration number."""
    number = fold(number)
    if number[:1] in ("T", "t"):
        number = number[1:]
    return "".join(ch for ch in number if ch not in " -.")


def calc_check_digit(base12: str) -> str:
    """The leading check digit for a 12-digit base number."""
    total = 0
    for n, ch in enumerate(reversed(base12), start=1):
        total += int(ch) * (1 if n % 2 else 2)
    return str(9 - total % 9)


def validate(number: str) -> str:
    """Return the 13 digits or raise an :class:`~classifiers.errors.ValidationError`."""
    value = compact(number)
    if not value.isdigit():
        raise InvalidFormat(number)
    if len(value) != 13:
        raise InvalidLength(number)
    if value[0] == "0":
        raise InvalidFormat(number)
    if calc_check_digit(value[1:]) != value[0]:
        raise InvalidChecksum(number)
    return value


def is_valid(number: str) -> bool:
    try:
        validate(number)
    except ValueError:
        return False
    return True


def _ean13_valid(value: str) -> bool:
    total = sum(int(ch) * (3 if i % 2 else 1) for i, ch in enumerate(value[:12]))
    return (10 - total % 10) % 10 == int(value[12])


def check(match: regex.Match[str], doc: Document) -> Iterable[Hit]:
    taken = -1
    for start, end, text in candidates(match, _SHAPE):
        if start < taken:
            continue
        value = digits(text)
        if not is_valid(value):
            continue
        invoice = text.startswith("T")
        context = find_context(doc, start, end, _CONTEXT, before=40, after=20)
        if refused_by_label(doc, start, end, _CONTEXT, _NEGATIVE):
            continue
        if not context and not invoice and value[:2] in ("45", "49") and _ean13_valid(value):
            continue  # a JAN/EAN product code
        base = INVOICE_SCORE if invoice else BASE_SCORE
        score = CONTEXT_SCORE if context else base
        pattern = (
            "T + 13 digits (invoice registration number)" if invoice else "13 digits, leading check digit"
        )
        taken = end
        yield Hit(start, end, score, value, Explanation(pattern, "checksum", base, context))


def scan(text: str) -> Iterator[Finding]:
    return scan_with(sys.modules[__name__], text)
