"""Column headers of tabular text, for every detector that reads context from a table.

A value in a table carries its meaning in the header of its column (氏名, 生年月日, 個人番号...),
often far away from the value, while the character window around it spans other columns.
Extraction writes table rows as lines: cells split by tabs (spreadsheets, HTML and Word tables),
commas (CSV) or runs of two spaces or more (PDF layout text, text exports). The header of a row
is the nearest line above with as many cells (or more: a sheet row drops its empty trailing
cells), all short labels without digits (not a
key-value row, 氏名 | 楠木 ゆず, whose first cell labels the second); blank lines between rows keep it, and a few rows that do not fit (a value with a separator in it) do
not end the table, several in a row do.

A table without a header says what a column holds only through its cells: :func:`column_tally`
counts the cells of a column that pass a detector's test, each table read once.

>>> from classifiers.normalize import normalize
>>> doc = Document(normalize("No,氏名,電話\\n1,山田太郎,03-1234-5678\\n"))
>>> column_header(doc, doc.text.index("山田"))
'氏名'
>>> doc = Document(normalize("No  氏名  生年月日\\n\\n1  山田 太郎  1985-04-12\\n"))
>>> column_cell(doc, doc.text.index("1985"))
('生年月日', '')
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TypeVar

import regex

from classifiers.detectors._base import Document

T = TypeVar("T")

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


_EMPTY = _Layout((), (), False)
_layout_cache: dict[int, tuple[str, _Layout]] = {}


def _quoted_starts(line: str, sep: str) -> list[int]:
    """Where each cell of a CSV line starts when a field is quoted (a separator inside double
    quotes does not end a cell: ``"東京都港区1-2-3, 5F"``)."""
    starts = [0]
    quoted = False
    for i, ch in enumerate(line):
        if ch == '"':
            quoted = not quoted
        elif ch == sep and not quoted:
            starts.append(i + 1)
    return starts


def _split(line: str, sep: str) -> list[str]:
    if sep == "  ":
        return _SPACES.split(line.strip(" "))
    if '"' not in line:
        return line.split(sep)
    starts = _quoted_starts(line, sep)
    ends = [s - 1 for s in starts[1:]] + [len(line)]
    return [line[a:b] for a, b in zip(starts, ends, strict=True)]


def _cells(line: str) -> tuple[str, list[str]] | None:
    """A table line's separator (tab, comma, or two spaces or more) and its cells."""
    for sep in ("\t", ","):
        if sep in line:
            return sep, _split(line, sep)
    if "  " in line.strip(" "):
        return "  ", _split(line, "  ")
    return None


_LETTER = regex.compile(r"[\p{L}〒#№]")
_DIGIT = regex.compile(r"\d")


def _is_label(cell: str) -> bool:
    """A header cell: a short label with a letter in it and at most two digits (住所1, TEL2,
    No.), not a value (an address, a mail address, a number)."""
    return (
        len(cell) <= _MAX_HEADER_CELL
        and len(_DIGIT.findall(cell)) <= 2
        and bool(_LETTER.search(cell))
        and "@" not in cell
    )


#: A field label: how the first cell of a key-value row ends (氏名, 免許証番号, 生年月日, 住所...).
_FIELD = regex.compile(
    r"(?i)(?:名|番号|No\.?|日|住所|所在地|先|TEL|FAX|電話|携帯|メール|mail|コード|ID|者|区分|性別|年齢"
    r"|フリガナ|ふりがな|カナ|口座|〒|郵便|備考|連絡先|内容|項目|種別|状況|金額|数量|期限|所属"
    r"|name|address|phone|e-?mail|zip|kana|birthday|date|code|company|dept|status|type|amount)[:：]?$"
)


def _is_header(cells: list[str]) -> bool:
    labels = [c.strip().strip('"') for c in cells]
    filled = [c for c in labels if c]
    if len(filled) == 2 and _FIELD.search(filled[0]) and not _FIELD.search(filled[1]):
        return False  # a key-value row (氏名 | 楠木 ゆず): the first cell labels the second
    return len(filled) >= 2 and all(_is_label(c) for c in filled)


def _is_new_header(line: str, sep: str) -> bool:
    cells = _split(line, sep)
    return _is_header(cells) and sum(bool(_FIELD.search(c.strip().strip('"'))) for c in cells) >= 2


def _build(text: str) -> _Layout:
    if "\t" not in text and "," not in text and "  " not in text:
        return _EMPTY
    starts: list[int] = []
    headers: list[tuple[str, tuple[str, ...]] | None] = []
    current: tuple[str, tuple[str, ...]] | None = None
    misfits = 0
    pos = 0
    for n, line in enumerate(text.split("\n")):
        if n >= _MAX_LINES:
            break
        starts.append(pos)
        pos += len(line) + 1
        if not line.strip():
            headers.append(current)  # blank lines between rows (PDF layout text) keep the header
            continue
        if current is not None and current[0] in line:
            width = len(_split(line, current[0]))
            # a row fits its header with as many cells, or fewer (a sheet row without its empty
            # trailing cells), unless it is the header of a narrower table
            if width == len(current[1]) or (width < len(current[1]) and not _is_new_header(line, current[0])):
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
    return _Layout(tuple(starts), tuple(headers), headers.count(None) < len(headers))


def _per_document(cache: dict[int, tuple[str, T]], doc: Document, build: Callable[[str], T]) -> T:
    """``build(doc.text)``, kept for the last document asked about (the detectors ask about one
    document many times in a row; its text's identity tells it from the next)."""
    cached = cache.get(id(doc))
    if cached is not None and cached[0] is doc.text:
        return cached[1]
    value = build(doc.text)
    cache.clear()
    cache[id(doc)] = (doc.text, value)
    return value


def _layout(doc: Document) -> _Layout:
    return _per_document(_layout_cache, doc, _build)


def column_cell(doc: Document, pos: int) -> tuple[str, str] | None:
    """(column header, cell text before ``pos``) when ``pos`` is in a table row under a header."""
    layout = _layout(doc)
    if not layout.tables:
        return None
    i = bisect.bisect_right(layout.starts, pos) - 1
    if not 0 <= i < len(layout.headers):
        return None
    header = layout.headers[i]
    if header is None:
        return None
    sep, cells = header
    starts = layout.cell_starts.get(i)
    if starts is None:
        line_start = layout.starts[i]
        line_end = layout.starts[i + 1] - 1 if i + 1 < len(layout.starts) else len(doc.text)
        if sep == "  ":
            while line_start < line_end and doc.text[line_start] == " ":
                line_start += 1
            ends = [m.end() for m in _SPACES.finditer(doc.text, line_start, line_end)]
        elif '"' in doc.text[line_start:line_end]:
            ends = [line_start + k for k in _quoted_starts(doc.text[line_start:line_end], sep)[1:]]
        else:
            ends = [k + 1 for k, ch in enumerate(doc.text[line_start:line_end], line_start) if ch == sep]
        starts = layout.cell_starts[i] = (line_start, *ends)
    index = bisect.bisect_right(starts, pos) - 1
    if not 0 <= index < len(cells):
        return None
    return cells[index], doc.text[starts[index] : pos]


def column_header(doc: Document, pos: int) -> str | None:
    """The header of the table column that contains offset ``pos``, if any."""
    cell = column_cell(doc, pos)
    return None if cell is None else cell[0]


_CAMEL = regex.compile(r"(?<=[a-z])(?=[A-Z])|_")


@lru_cache(maxsize=1024)  # a table has a few header cells, asked about for each of its numbers
def header_words(cell: str) -> str:
    """A header cell as words: ``MemberNo`` → ``Member No``, ``order_id`` → ``order id``.

    >>> header_words("MemberNo"), header_words("customer_code")
    ('Member No', 'customer code')
    """
    return _CAMEL.sub(" ", cell)


@dataclass(frozen=True, slots=True)
class _Line:
    text: str  # the document's text (its identity tells one document from another)
    start: int
    end: int  # the offset of the newline that ends the line, or the text's length
    facts: dict[Callable[[Document, int, int], bool], bool]  # per fact asked about, its answer


_line_cache: dict[int, _Line] = {}


def _line_at(doc: Document, pos: int) -> _Line:
    cached = _line_cache.get(id(doc))
    if cached is not None and cached.text is doc.text and cached.start <= pos <= cached.end:
        return cached
    text = doc.text
    start = text.rfind("\n", 0, pos) + 1
    end = text.find("\n", pos)
    line = _Line(text, start, len(text) if end < 0 else end, {})
    _line_cache.clear()
    _line_cache[id(doc)] = line
    return line


def line_span(doc: Document, pos: int) -> tuple[int, int]:
    """The start of the line holding offset ``pos`` and its end (its newline, or the end of the
    text).

    The line last asked about is remembered: the candidates of one line come in order, and a
    line of thousands of cells (a hostile table row) must not be searched for its ends once per
    cell.

    >>> from classifiers.normalize import normalize
    >>> doc = Document(normalize("氏名\\n山田\\t佐藤\\n"))
    >>> line_span(doc, doc.text.index("佐藤")), line_span(doc, 0)
    ((3, 8), (0, 2))
    """
    line = _line_at(doc, pos)
    return line.start, line.end


def line_fact(doc: Document, pos: int, fact: Callable[[Document, int, int], bool]) -> bool:
    """``fact(doc, start, end)`` for the line holding offset ``pos`` (see :func:`line_span`),
    computed once per line however many of its candidates ask (``fact`` is the key: pass a
    module-level function that reads nothing but the text)."""
    line = _line_at(doc, pos)
    known = line.facts.get(fact)
    if known is None:
        known = line.facts[fact] = fact(doc, line.start, line.end)
    return known


def row_label(doc: Document, pos: int) -> str | None:
    """The first cell of the row at ``pos`` when it is a field label and ``pos`` is in a later
    cell: a key-value table (``郵便番号 | 260-0013``, ``フリガナ | ウサミ サオリ``) labels each
    value by the cell before it."""
    line_start = line_span(doc, pos)[0]
    line = doc.text[line_start : line_start + 64]
    for sep in ("\t", ","):
        cut = line.find(sep)
        if 0 < cut < pos - line_start:
            return _field_label(line[:cut])
    return None


@lru_cache(maxsize=1024)  # the first cells of a key-value table repeat on every row's numbers
def _field_label(cell: str) -> str | None:
    """``cell`` as a field label (stripped), or ``None`` when it is not one."""
    first = cell.strip().strip('"')
    return first if _is_label(first) and _FIELD.search(first) else None


def row_headers(doc: Document, pos: int) -> tuple[str, ...]:
    """The header cells of the table whose row contains offset ``pos`` (empty outside tables)."""
    layout = _layout(doc)
    if not layout.tables:
        return ()
    i = bisect.bisect_right(layout.starts, pos) - 1
    header = layout.headers[i] if 0 <= i < len(layout.headers) else None
    return () if header is None else header[1]


@dataclass(slots=True)
class _Grid:
    """The tables of a text, with or without a header (a Word table of attendees, a quick CSV
    export), whose columns say what they hold only by their cells: a table is a run of lines
    split by the same separator (blank lines between rows keep it); any other line ends it."""

    starts: tuple[int, ...]  # offset of each line
    blocks: tuple[int, ...]  # per line: its table's number, or -1
    seps: tuple[str, ...]  # per table: its separator
    lines: tuple[tuple[int, int], ...]  # per table: its first line and the line after its last
    cell_starts: dict[int, tuple[int, ...]] = field(default_factory=dict)  # per line, lazily
    #: per table: whether its first row is a header row, and its rows split into cells; lazily
    rows: dict[int, tuple[bool, list[list[str]]]] = field(default_factory=dict)
    #: per (cell test, table, column): (cells that pass the test, non-empty cells); lazily
    tallies: dict[tuple[object, int, int], tuple[int, int]] = field(default_factory=dict)


_grid_cache: dict[int, tuple[str, _Grid]] = {}


def _separator(line: str) -> str | None:
    for sep in ("\t", ","):
        if sep in line:
            return sep
    return "  " if "  " in line.strip(" ") else None


def _build_grid(text: str) -> _Grid:
    starts: list[int] = []
    blocks: list[int] = []
    seps: list[str] = []
    spans: list[tuple[int, int]] = []
    current = -1
    pos = 0
    for n, line in enumerate(text.split("\n")):
        if n >= _MAX_LINES:
            break
        starts.append(pos)
        pos += len(line) + 1
        if not line.strip():
            blocks.append(current)  # blank lines between rows (PDF layout text) keep the table
            continue
        sep = _separator(line)
        if sep is None:
            current = -1
        elif current < 0 or seps[current] != sep:
            current = len(seps)
            seps.append(sep)
            spans.append((n, n + 1))
        else:
            spans[current] = (spans[current][0], n + 1)
        blocks.append(current)
    return _Grid(tuple(starts), tuple(blocks), tuple(seps), tuple(spans))


def _grid(doc: Document) -> _Grid:
    return _per_document(_grid_cache, doc, _build_grid)


def _line(doc: Document, grid: _Grid, i: int) -> str:
    end = grid.starts[i + 1] - 1 if i + 1 < len(grid.starts) else len(doc.text)
    return doc.text[grid.starts[i] : end]


def _strip_cell(cell: str) -> str:
    return cell.strip(" \r").strip('"').strip(" ")


def _rows(doc: Document, grid: _Grid, block: int) -> tuple[bool, list[list[str]]]:
    """Table ``block``'s rows split into cells, and whether the first one is a header row."""
    rows = grid.rows.get(block)
    if rows is None:
        sep = grid.seps[block]
        first, end = grid.lines[block]
        lines = (_line(doc, grid, i) for i in range(first, end) if grid.blocks[i] == block)
        cells = [_split(line, sep) for line in lines if line.strip()]
        rows = grid.rows[block] = (_is_header([_strip_cell(c) for c in cells[0]]), cells)
    return rows


def _tally(
    doc: Document, grid: _Grid, block: int, column: int, test: Callable[[str], bool]
) -> tuple[int, int]:
    """(cells of ``column`` of table ``block`` that pass ``test``, its non-empty cells). A first
    row that reads as a header row counts only where its cell passes the test."""
    header, rows = _rows(doc, grid, block)
    passed = filled = 0
    for n, cells in enumerate(rows):
        cell = _strip_cell(cells[column]) if column < len(cells) else ""
        if cell:
            ok = test(cell)
            passed += ok
            filled += ok or n > 0 or not header
    return passed, filled


def column_tally(doc: Document, start: int, end: int, test: Callable[[str], bool]) -> tuple[int, int] | None:
    """When ``start:end`` is a whole cell of a table row (quotes and spaces around it aside),
    with or without a header: how many cells of its column pass ``test`` (the cell itself
    included) and how many are not empty. ``None`` elsewhere.

    Each table is split once, and each column tested once per test, whatever number of its
    cells is asked about (``test`` is the key: pass a module-level function).

    >>> from classifiers.normalize import normalize
    >>> doc = Document(normalize("山田\\tA\\n佐藤\\t\\n田中\\tB\\n"))
    >>> column_tally(doc, 0, 2, lambda cell: "田" in cell), column_tally(doc, 3, 4, str.isupper)
    ((2, 3), (2, 2))
    >>> column_tally(doc, 0, 1, str.isupper) is None  # not a whole cell
    True
    """
    grid = _grid(doc)
    i = bisect.bisect_right(grid.starts, start) - 1
    if not 0 <= i < len(grid.blocks) or grid.blocks[i] < 0:
        return None
    block = grid.blocks[i]
    sep = grid.seps[block]
    line_start = grid.starts[i]
    line_end = grid.starts[i + 1] - 1 if i + 1 < len(grid.starts) else len(doc.text)
    if end > line_end:
        return None
    starts = grid.cell_starts.get(i)
    if starts is None:
        line = doc.text[line_start:line_end]
        if sep == "  ":
            lead = len(line) - len(line.lstrip(" "))
            rel = [lead, *(m.end() for m in _SPACES.finditer(line, lead))]
        elif '"' in line:
            rel = _quoted_starts(line, sep)
        else:
            rel = [0, *(k + 1 for k, ch in enumerate(line) if ch == sep)]
        starts = grid.cell_starts[i] = tuple(line_start + k for k in rel)
    index = bisect.bisect_right(starts, start) - 1
    if index < 0:
        return None
    cell_end = starts[index + 1] - (sep != "  ") if index + 1 < len(starts) else line_end
    raw = doc.text[starts[index] : cell_end]
    inner = _strip_cell(raw)
    at = starts[index] + raw.find(inner)
    if not inner or (at, at + len(inner)) != (start, end):
        return None
    key = (test, block, index)
    tally = grid.tallies.get(key)
    if tally is None:
        tally = grid.tallies[key] = _tally(doc, grid, block, index, test)
    return tally
