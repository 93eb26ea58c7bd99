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

import bisect
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import regex

from classifiers.detectors._base import Document

#: Wrap a shape so that it only matches whole chunks of a token.
CHUNK_START = r"(?<![^ /])"
CHUNK_END = r"(?![^ /])"

_SEPARATORS = "-. /"
_DASHES = str.maketrans(dict.fromkeys("ー‐‑‒–—―−ｰ", "-"))


def chunk_shape(source: str) -> regex.Pattern[str]:
    """Compile a shape that matches only at chunk boundaries of a token."""
    return regex.compile(f"{CHUNK_START}(?:{source}){CHUNK_END}")


def fold(text: str) -> str:
    """NFKC and the dash family, for the public ``compact()`` functions called on raw input.

    The scan path never needs this (it sees normalised text); ``validate("１００ー０００１")`` does.
    """
    return unicodedata.normalize("NFKC", text).translate(_DASHES).strip()


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
    token = match.group(0)
    base = match.start()
    for m in shape.finditer(token, overlapped=True):
        s, e = m.span()
        text = m.group(0)
        sep = inner_separator(text)
        if sep and sep in " /" and (_plain_chunk_before(token, s, sep) or _plain_chunk_after(token, e, sep)):
            continue
        yield base + s, base + e, text


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
    number only)."""
    left = _LAST_NUMBER.sub("", doc.before(start, before))
    right = _FIRST_NUMBER.sub("", doc.after(end, after))
    return bool(words.search(left) or words.search(right))


# ---- table columns --------------------------------------------------------------------------

_SPACES = regex.compile(r" {2,}")
_MAX_HEADER_CELL = 24  # header cells are short labels
_MAX_LINES = 200_000  # bounded cost on hostile input
_MAX_MISFITS = 2  # rows in a row that do not fit the header before the table counts as ended


@dataclass(frozen=True, slots=True)
class _Layout:
    starts: tuple[int, ...]  # offset of each line
    headers: tuple[tuple[str, tuple[str, ...]] | None, ...]  # per line: (separator, header cells)
    tables: bool  # whether any line is under a header
    cell_starts: dict[int, tuple[int, ...]] = field(default_factory=dict)  # per line, lazily


_layout_cache: dict[int, tuple[str, _Layout]] = {}


def _split(line: str, sep: str) -> list[str]:
    return _SPACES.split(line) if sep == "  " else line.split(sep)


def _cells(line: str) -> tuple[str, list[str]] | None:
    """A table line's separator (tab, comma, or two spaces or more) and its cells."""
    for sep in ("\t", ","):
        if sep in line:
            return sep, line.split(sep)
    if "  " in line.strip():
        return "  ", _SPACES.split(line)
    return None


def _is_header(cells: list[str]) -> bool:
    labels = [c.strip().strip('"') for c in cells]
    filled = [c for c in labels if c]
    return len(filled) >= 2 and all(
        len(c) <= _MAX_HEADER_CELL and not any(ch.isdigit() for ch in c) for c in filled
    )


def _layout(doc: Document) -> _Layout:
    cached = _layout_cache.get(id(doc))
    if cached is not None and cached[0] is doc.text:
        return cached[1]
    starts: list[int] = []
    headers: list[tuple[str, tuple[str, ...]] | None] = []
    current: tuple[str, tuple[str, ...]] | None = None
    misfits = 0
    pos = 0
    for n, line in enumerate(doc.text.split("\n")):
        if n >= _MAX_LINES:
            break
        starts.append(pos)
        pos += len(line) + 1
        if not line.strip():
            headers.append(current)  # blank lines between rows (HTML tables) keep the header
            continue
        if current is not None and len(_split(line, current[0])) == len(current[1]):
            headers.append(current)
            misfits = 0
            continue
        split = _cells(line)
        if split is not None and _is_header(split[1]):
            current = (split[0], tuple(c.strip().strip('"') for c in split[1]))
            misfits = 0
        else:
            misfits += 1  # a row that does not fit (a value with a separator in it) ...
            if misfits > _MAX_MISFITS:  # ... but several in a row: the table has ended
                current = None
        headers.append(None)  # a header row is not under a header itself
    layout = _Layout(tuple(starts), tuple(headers), any(h is not None for h in headers))
    _layout_cache.clear()
    _layout_cache[id(doc)] = (doc.text, layout)
    return layout


def column_cell(doc: Document, pos: int) -> tuple[str, str] | None:
    """(column header, cell text before ``pos``) when ``pos`` is in a table row under a header.

    Tables are lines split by tabs (spreadsheets), commas (CSV) or runs of two spaces or more
    (text exports); the header is the nearest line above with the same number of cells, all
    short labels without digits.
    """
    layout = _layout(doc)
    if not layout.tables:
        return None
    i = bisect.bisect_right(layout.starts, pos) - 1
    if not 0 <= i < len(layout.headers) or layout.headers[i] is None:
        return None
    header = layout.headers[i]
    assert header is not None
    sep, cells = header
    starts = layout.cell_starts.get(i)
    if starts is None:
        line_start = layout.starts[i]
        line_end = layout.starts[i + 1] - 1 if i + 1 < len(layout.starts) else len(doc.text)
        if sep == "  ":
            ends = [m.end() for m in _SPACES.finditer(doc.text, line_start, line_end)]
        else:
            ends = [k + 1 for k, ch in enumerate(doc.text[line_start:line_end], line_start) if ch == sep]
        starts = layout.cell_starts[i] = (line_start, *ends)
    index = bisect.bisect_right(starts, pos) - 1
    if index >= len(cells):
        return None
    return cells[index], doc.text[starts[index] : pos]


def find_context(
    doc: Document, start: int, end: int, words: regex.Pattern[str], before: int = 30, after: int = 10
) -> tuple[str, ...]:
    """Context words for a number: in a table, its column header and its own cell; elsewhere
    the character window around it."""
    cell = column_cell(doc, start)
    if cell is None:
        return doc.context(start, end, words, before, after)
    header, label = cell
    return tuple(dict.fromkeys(m.group(0) for text in (header, label) for m in words.finditer(text)))


def is_labelled_as(doc: Document, start: int, end: int, words: regex.Pattern[str]) -> bool:
    """Whether the number's own label (column header and cell in a table, else the text up to
    the neighbouring numbers) says it is something else."""
    cell = column_cell(doc, start)
    if cell is None:
        return own_label(doc, start, end, words)
    return any(words.search(text) for text in cell)


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


#: Words that say a number is something else (an order, a parcel, a product code...).
ORDER_LIKE = (
    "注文",
    "受注",
    "発注",
    "伝票",
    "追跡",
    "問い合わせ番号",
    "問合せ番号",
    "お問合せ番号",
    "受付番号",
    "管理番号",
    "会員番号",
    "会員ID",
    "お客様番号",
    "顧客番号",
    "請求書番号",
    "伝票番号",
    "品番",
    "型番",
    "商品コード",
    "JANコード",
    "JAN",
    "EAN",
    "バーコード",
    "シリアル",
    "製造番号",
    "order",
    "tracking",
    "serial",
    "invoice no",
)
