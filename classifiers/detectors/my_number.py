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
#: The shortest token read, in characters: two groups (``5678 9018``) whose third group is the
#: neighbouring unit (see :func:`_across_units`); shorter tokens are skipped unread.
MIN_LENGTH = 9
_WHOLE_LENGTH = 12  # the shortest shape written in one token
_UNITS_LENGTH = 14  # the shortest match of UNITS (three groups, two tabs)

BASE_SCORE = 0.6  # a valid check digit with no context: counts, but lower
CONTEXT_SCORE = 1.0

_WORDS = ("マイナンバー", "個人番号", "my number", "mynumber", "個人番号カード", "通知カード", "番号確認")
_CONTEXT = words_pattern(_WORDS)
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


#: Three lone groups, one per unit: a table row's cells (``1234\t5678\t9018``), lines or JSON
#: values (joined by line breaks). One separator kind throughout, each a single tab or a single
#: line break (``\r\n`` or ``\n``): a line break between the second and third group of a row
#: would be the next row. Nothing that goes on into a number on either side: no digit, letter or
#: number separator flush against it, no fourth group one space, tab or line break away (a row
#: or column of a numeric table is not cut into a My Number).
UNITS = (
    r"(?=[0-9]{4}[\t\r\n])(?<![0-9A-Za-z\-./,]|[0-9][ \t]|[0-9]\r?\n)"  # the look-ahead first: faster
    r"[0-9]{4}(?:(\t)|\r?\n)[0-9]{4}(?(1)\t|\r?\n)[0-9]{4}"
    r"(?![0-9A-Za-z\-./,]|[ \t][0-9]|\r?\n[0-9])"
)
#: The NUMBER token never forms there (a lone group is too short and a token never crosses a
#: tab or a line break, which keep columns and lines apart for the other number detectors):
#: the units are a token of their own, read by :func:`_three_units`.
EXTRA_PATTERNS = (UNITS,)
#: The pass over UNITS runs only in a part that has a My Number word, which :func:`_three_units`
#: requires; its matches hold only digits, tabs and line breaks followed by digits, where no
#: later pass starts a match, so skipping it hides nothing.
PASS_REQUIRES = {UNITS: tuple(word.lower() for word in _WORDS)}


def check(match: regex.Match[str], doc: Document) -> Iterable[Hit]:
    start = match.start()
    if match.end() - start >= _UNITS_LENGTH and doc.text[start + 4] in "\t\r\n":
        # a UNITS match: a NUMBER token holds no tab or line break
        yield from _three_units(match, doc)
        return
    if match.end() - match.start() < _WHOLE_LENGTH:
        yield from _across_units(match, doc)
        return
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


#: Two groups in one token; the third is in the neighbouring unit.
_PAIR = regex.compile(r"\d{4} \d{4}")
#: A lone group in the unit before the token (a table cell, a JSON value, a line), up to the tab
#: or line break that ends it; nothing that continues a number before it (``5555\t1234``).
_GROUP_BEFORE = regex.compile(r"(?<![\d\-./])(?<!\d[ \t\n])\d{4}[\t\n]$")
#: The same after the token (``\t9018``), with nothing that continues a number after it.
_GROUP_AFTER = regex.compile(r"^[\t\n]\d{4}(?![\d\-./])(?![ \t\n]\d)")
#: What may not follow a number that ends with the token: another group in the next unit.
_MORE_AFTER = regex.compile(r"^[\t\n]\d")
_MORE_BEFORE = regex.compile(r"\d[\t\n]$")


def _across_units(match: regex.Match[str], doc: Document) -> Iterator[Hit]:
    """A My Number whose groups are split between adjacent text units: a table row's cells
    (joined by a tab), consecutive JSON string values or lines (joined by a line break).

    The token holds two groups (``5678 9018``) and the unit before or after it a lone third one,
    separated by a single tab or line break. The NUMBER token never crosses those (they separate
    columns and lines, which hold other numbers), so the join is made here, and only as far as
    a reader would: the check digit must hold, a My Number word must label it (a numeric table
    or lines of prose are not read as one number without one), and neither end may go on into
    another group (a row of a numeric table).
    """
    token = match.group(0)
    if not _PAIR.fullmatch(token):
        return
    start, end = match.span()
    text = doc.text
    before = _GROUP_BEFORE.search(text, max(0, start - 7), start)
    after = _GROUP_AFTER.match(text[end : end + 7])
    if before is not None and after is None and not _MORE_AFTER.match(text[end : end + 2]):
        start = before.start()
    elif after is not None and before is None and not _MORE_BEFORE.search(text, max(0, start - 2), start):
        end += after.end()
    else:
        return
    yield from _labelled_units(doc, start, end, "12 digits, 4-4-4 across units")


def _labelled_units(
    doc: Document, start: int, end: int, shape: str, first_cell: bool = False
) -> Iterator[Hit]:
    """The My Number that the units at ``start``-``end`` make when a reader would join them: the
    check digit holds, a My Number word labels them (column header, row label or the text
    before; with ``first_cell``, also the row's first cell) and no negative label does."""
    digits = compact(doc.text[start:end])
    if not is_valid(digits):
        return
    context = find_context(doc, start, end, _CONTEXT, before=40, after=20)
    if not context and first_cell:
        # The row's first cell, as a label of the cells after it, even under a header
        # (項目 | 値1 | 値2 | 値3): a My Number word is no field label (名, 番号...) to the table.
        line_start = doc.text.rfind("\n", 0, start) + 1
        first = doc.text[line_start : min(start, line_start + 64)].split("\t", 1)[0]
        context = tuple(m.group(0) for m in _CONTEXT.finditer(first))
    if not context or refused_by_label(doc, start, end, _CONTEXT, _NEGATIVE):
        return
    yield Hit(start, end, CONTEXT_SCORE, digits, Explanation(shape, "checksum", BASE_SCORE, context))


def _three_units(match: regex.Match[str], doc: Document) -> Iterator[Hit]:
    """A My Number written one group per unit (``マイナンバー | 1234 | 5678 | 9018``, three
    lines, three JSON values), matched by :data:`UNITS`. Three 4-digit units are as common as
    codes, years and PINs, so they are read as one number only as far as a reader would: the
    check digit must hold, a My Number word must label them (column header, row label or the
    text before), and no negative label may.
    """
    start, end = match.span()
    yield from _labelled_units(
        doc, start, end, "12 digits, 4-4-4 in three units", first_cell=bool(match.group(1))
    )
