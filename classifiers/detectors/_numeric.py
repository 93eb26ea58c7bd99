"""Helpers shared by the number detectors: chunks of a NUMBER token, labels, table columns.

The shared ``NUMBER`` token joins digit groups across single spaces and slashes, so one token
can hold several numbers of a table row (``03-1234-5678 090-1234-5678``). Each detector looks
for its own shapes inside the token with :func:`candidates`: a shape may only start at the
token's start or after a space/slash, and only end at the token's end or before one, and a
candidate whose own separator continues into a chunk of bare digits (``1234 5678 9012`` inside
``1234 5678 9012 3456``) is part of a longer number, not a number of its own.

Context comes from the character window around a number, except in tables: there the header
of the number's column (and the text before it in its own cell) says what it is, because the
window spans other columns (``個人番号,基礎年金番号,運転免許証番号`` rows put a licence number
within a few characters of a My Number). :func:`find_context` and :func:`is_labelled_as` choose.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import lru_cache

import regex

from classifiers.detectors._base import Document
from classifiers.detectors._table import column_cell, header_words, row_label
from classifiers.detectors._vocab import lines
from classifiers.normalize import fold as fold  # the one normalisation, for compact()

#: Wrap a shape so that it only matches whole chunks of a token.
CHUNK_START = r"(?<![^ /])"
CHUNK_END = r"(?![^ /])"

_SEPARATORS = "-. /"


def chunk_shape(source: str) -> regex.Pattern[str]:
    """Compile a shape that matches only at chunk boundaries of a token."""
    return regex.compile(f"{CHUNK_START}(?:{source}){CHUNK_END}")


def digits(text: str) -> str:
    """The ASCII digits of ``text`` (normalised text: full-width digits are already ASCII)."""
    return "".join(ch for ch in text if "0" <= ch <= "9")


def inner_separator(text: str) -> str:
    """The first separator written between two digits of ``text`` ('' if none)."""
    for i in range(1, len(text) - 1):
        if text[i] in _SEPARATORS and text[i - 1].isdigit() and text[i + 1].isdigit():
            return text[i]
    return ""


def candidates(match: regex.Match[str], shape: regex.Pattern[str]) -> Iterator[tuple[int, int, str]]:
    """Whole-chunk matches of ``shape`` inside the token, as (start, end, text) in document offsets.

    Candidates overlap (every chunk start is tried); a detector skips the ones overlapping a hit
    it already reported.
    """
    token, base = _unbracketed(match.group(0), match.start())
    for m in shape.finditer(token, overlapped=True):
        s, e = m.span()
        text = m.group(0)
        sep = inner_separator(text)
        if sep and sep in " /" and (_plain_chunk_before(token, s, sep) or _plain_chunk_after(token, e, sep)):
            continue
        yield base + s, base + e, text


def _unbracketed(token: str, base: int) -> tuple[str, int]:
    """The token without brackets around the whole number (``(052-291-7887)``, from
    ``人事部（052-291-7887）まで``) or left open at either end; brackets inside it
    (``(03)1234-5678``, ``03(1234)5678``) stay, they are part of the number's shape.

    >>> _unbracketed("(052-291-7887)", 10), _unbracketed("03-1234-5678)", 0), _unbracketed("(03)1234-5678", 0)
    (('052-291-7887', 11), ('03-1234-5678', 0), ('(03)1234-5678', 0))
    """
    opens, closes = token.count("("), token.count(")")
    if opens == closes == 1 and token[0] == "(" and token[-1] == ")":
        return token[1:-1], base + 1
    if opens == 1 and closes == 0 and token[0] == "(":
        return token[1:], base + 1
    if closes == 1 and opens == 0 and token[-1] == ")":
        return token[:-1], base
    return token, base


def _plain_chunk_before(token: str, start: int, sep: str) -> bool:
    """Whether ``sep`` + a chunk of bare digits precedes ``start`` (the number goes on)."""
    if start < 2 or token[start - 1] != sep:
        return False
    i = start - 1
    while i > 0 and token[i - 1].isdigit():
        i -= 1
    return i < start - 1 and (i == 0 or token[i - 1] in " /")


def _plain_chunk_after(token: str, end: int, sep: str) -> bool:
    """Whether ``sep`` + a chunk of bare digits follows ``end`` (the number goes on)."""
    if end + 1 >= len(token) or token[end] != sep:
        return False
    i = end + 1
    while i < len(token) and token[i].isdigit():
        i += 1
    return i > end + 1 and (i == len(token) or token[i] in " /")


#: A neighbouring number: four digits or more (``12桁`` or ``第1回`` inside a label are not).
_LAST_NUMBER = regex.compile(r"^.*\d{4}", regex.DOTALL)
_FIRST_NUMBER = regex.compile(r"\d{4}.*$", regex.DOTALL)


def own_label(
    doc: Document, start: int, end: int, words: regex.Pattern[str], before: int = 20, after: int = 5
) -> bool:
    """Whether ``words`` occur in the label of this number: the text around it up to the
    neighbouring numbers (``個人番号 1234-5678-9018 090-1234-5678``: 個人番号 labels the first
    number only; what follows on the next line is not its label)."""
    left = _LAST_NUMBER.sub("", doc.before(start, before))
    right = _FIRST_NUMBER.sub("", doc.after(end, after).split("\n", 1)[0])
    return bool(words.search(left) or words.search(right))


def find_context(
    doc: Document, start: int, end: int, words: regex.Pattern[str], before: int = 30, after: int = 10
) -> tuple[str, ...]:
    """Context words for a number: in a table, its column header and its own cell; elsewhere
    the character window around it."""
    cell = column_cell(doc, start)
    if cell is None:
        # what follows the number on the next line labels the next line (個人番号 below a slip number)
        line_end = doc.text.find("\n", end, end + after)
        return doc.context(start, end, words, before, after if line_end < 0 else line_end - end)
    header, label = cell
    found = list(_header_words_found(words, header))
    for text in _labels(doc, start, label):
        found.extend(m.group(0) for m in words.finditer(text))
    return tuple(dict.fromkeys(found))


@lru_cache(maxsize=4096)  # a table has a few columns, each asked about for every number in it
def _header_words_found(words: regex.Pattern[str], header: str) -> tuple[str, ...]:
    """The matches of ``words`` in a column header (as words: ``MemberNo``)."""
    return tuple(m.group(0) for m in words.finditer(header_words(header)))


def _labels(doc: Document, start: int, label: str) -> tuple[str, ...]:
    """What labels a number in a table besides its column header: the text of its cell before
    it, and the row's first cell in a key-value table."""
    first = row_label(doc, start)
    return (label,) if first is None else (label, first)


def is_labelled_as(doc: Document, start: int, end: int, words: regex.Pattern[str]) -> bool:
    """Whether the number's own label (column header and cell in a table, else the text up to
    the neighbouring numbers) says it is something else."""
    cell = column_cell(doc, start)
    if cell is None:
        return own_label(doc, start, end, words)
    header, label = cell
    return bool(_header_words_found(words, header)) or any(
        words.search(text) for text in _labels(doc, start, label)
    )


def refused_by_label(
    doc: Document, start: int, end: int, words: regex.Pattern[str], negative: regex.Pattern[str]
) -> bool:
    """Whether the number's own label says it is something else (送り状番号, 会員番号, a column
    配送伝票番号) and not what ``words`` say: its own label decides over words further away."""
    return is_labelled_as(doc, start, end, negative) and not is_labelled_as(doc, start, end, words)


def context_words(words: Iterable[str]) -> regex.Pattern[str]:
    """Context words as one case-insensitive alternation, longest first.

    ASCII words only match as whole words (``TEL`` is not found in ``hotel``, ``JAN`` not in
    ``January``); Japanese words match anywhere (the text is not segmented).
    """
    parts = []
    for word in sorted(set(words), key=len, reverse=True):
        escaped = regex.escape(word)
        if word.isascii():
            escaped = f"(?<![A-Za-z]){escaped}(?![A-Za-z])"
        parts.append(escaped)
    return regex.compile("|".join(parts), regex.IGNORECASE)


#: Labels that say a number is something else (a slip, an order, a member, a product...): the
#: vocabulary ``classifiers/data/negative_labels.txt``.
ORDER_LIKE: tuple[str, ...] = lines("negative_labels.txt")
