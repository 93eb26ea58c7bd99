"""Column headers of tabular text (CSV/TSV lines, spreadsheet rows as the extractor emits them).

A value in a table carries its meaning in the header of its column (氏名, 生年月日, Name...),
often far away from the value. :func:`column_header` finds it: the nearest line above that looks
like a header row, split with the same separator, at the same cell index.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from classifiers.detectors._base import Document

_SEPARATORS = ("\t", ",")
_MAX_HEADER_CELL = 20  # header cells are short labels
_MAX_LINES = 200_000  # bounded cost on hostile input


@dataclass(frozen=True, slots=True)
class _Layout:
    starts: tuple[int, ...]  # offset of each line
    headers: tuple[tuple[str, tuple[str, ...]] | None, ...]  # per line: the header row in force


_cache: dict[int, tuple[str, _Layout]] = {}


def _is_header(cells: list[str]) -> bool:
    """Short non-numeric cells: every cell a label, at least two cells."""
    if len(cells) < 2:
        return False
    labels = [c.strip().strip('"') for c in cells]
    return all(0 < len(c) <= _MAX_HEADER_CELL and not any(ch.isdigit() for ch in c) for c in labels)


def _layout(doc: Document) -> _Layout:
    key = id(doc)
    cached = _cache.get(key)
    if cached is not None and cached[0] is doc.text:
        return cached[1]
    if "\t" not in doc.text and "," not in doc.text:
        layout = _Layout((), ())
        _cache.clear()
        _cache[key] = (doc.text, layout)
        return layout
    starts: list[int] = []
    headers: list[tuple[str, tuple[str, ...]] | None] = []
    current: tuple[str, tuple[str, ...]] | None = None
    pos = 0
    for n, line in enumerate(doc.text.split("\n")):
        if n >= _MAX_LINES:
            break
        starts.append(pos)
        pos += len(line) + 1
        if not line.strip():
            current = None
            headers.append(None)
            continue
        sep = next((s for s in _SEPARATORS if s in line), None)
        if sep is not None:
            cells = line.split(sep)
            if current is None or current[0] != sep or len(cells) != len(current[1]):
                current = (sep, tuple(c.strip().strip('"') for c in cells)) if _is_header(cells) else None
                headers.append(None)  # the header row itself is not under a header
                continue
        elif current is not None:
            current = None
        headers.append(current)
    layout = _Layout(tuple(starts), tuple(headers))
    _cache.clear()
    _cache[key] = (doc.text, layout)
    return layout


def column_header(doc: Document, pos: int) -> str | None:
    """The header of the table column that contains offset ``pos``, if any.

    >>> from classifiers.normalize import normalize
    >>> doc = Document(normalize("No,氏名,電話\\n1,山田太郎,03-1234-5678\\n"))
    >>> column_header(doc, doc.text.index("山田"))
    '氏名'
    """
    layout = _layout(doc)
    i = bisect.bisect_right(layout.starts, pos) - 1
    if i < 0 or i >= len(layout.headers):
        return None
    header = layout.headers[i]
    if header is None:
        return None
    sep, cells = header
    index = doc.text.count(sep, layout.starts[i], pos)
    return cells[index] if index < len(cells) else None
