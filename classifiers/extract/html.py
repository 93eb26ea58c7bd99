"""HTML to text with lxml's (libxml2) HTML parser: scripts and styles dropped, link targets kept.

Share links often sit only in ``href`` (the visible text says "こちら"), so each link's target is
written after its text, unless the text is the target itself. A table row becomes one line with
its cells split by tabs (line breaks inside a cell become spaces), as spreadsheet rows are:
the detectors read a column's meaning from the header row. A row of one cell, or one that holds
a table, is page layout and keeps its lines. The parser is fed in slices through its target interface, so memory stays
flat and the work stops at the output cap or the deadline.

>>> html_to_text('<p>資料は<a href="https://example.com/s/abc">こちら</a></p><script>x=1</script>', 1000)
('\\n資料はこちら <https://example.com/s/abc>\\n', None)
>>> html_to_text('<table>\\n <tr><th>氏名</th> <th>電話</th></tr>\\n <tr><td><p>山田</p><p>太郎</p></td><td>03</td></tr></table>', 1000)
('\\n氏名\\t電話\\n山田 太郎\\t03\\n', None)
"""

from __future__ import annotations

import regex
from lxml import etree

from classifiers.limits import Deadline

_DROP = frozenset({"script", "style", "template", "head", "object", "svg", "noembed", "noframes"})
_KEEP_IN_HEAD = frozenset({"title"})
_BLOCK = frozenset(
    {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "dl", "dt", "dd",
     "blockquote", "pre", "hr", "section", "article", "header", "footer", "title", "address"}
)  # fmt: skip
_CELL = frozenset({"td", "th"})
#: The parser is fed in slices so that it stops soon after the output cap or the deadline.
FEED_CHARS = 64 * 1024
#: libxml2 refuses characters that XML forbids; they carry no text anyway.
_FORBIDDEN = regex.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


class _Row:
    """An open ``<tr>``: where its text starts in the output, its cells, whether it holds a table."""

    __slots__ = ("cells", "first", "nested")

    def __init__(self, first: int) -> None:
        self.first = first
        self.cells = 0
        self.nested = False


class _Text:
    """lxml parser target: collects visible text."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.out: list[str] = []
        self.size = 0
        self.drop = 0  # depth inside dropped elements
        self.keep = 0  # depth inside kept elements of a dropped one (<title> in <head>)
        self.hrefs: list[tuple[str | None, int]] = []  # (target, index in out of the link text)
        self.rows: list[_Row] = []  # open <tr> elements, innermost last
        self.cells = 0  # depth of open <td>/<th>
        self.tables = 0  # depth of open <table>

    @property
    def full(self) -> bool:
        return self.size >= self.cap

    def _emit(self, s: str) -> None:
        if not self.full and s:
            self.out.append(s)
            self.size += len(s)

    def _break(self) -> None:
        """A line break between blocks (one, however many blocks end or start there)."""
        if not self.out or not self.out[-1].endswith("\n"):
            self._emit("\n")

    def _end_row(self) -> None:
        """A row of two cells or more (a data table, not a layout table) becomes one line."""
        row = self.rows.pop()
        if self.rows:
            self.rows[-1].nested = True
        if row.cells < 2 or row.nested or row.first >= len(self.out):
            return
        text = "".join(self.out[row.first :])
        line = "\t".join(" ".join(cell.split("\n")).strip(" ") for cell in text.strip("\n").split("\t"))
        prefix = "\n" if text.startswith("\n") else ""
        self.out[row.first :] = [prefix + line]
        self.size += len(prefix + line) - len(text)

    def start(self, tag: object, attrib: dict[str, str]) -> None:
        name = tag.lower() if isinstance(tag, str) else ""
        if name in _DROP:
            self.drop += 1
            return
        if self.drop and name in _KEEP_IN_HEAD:
            self.keep += 1
        if self.drop and not self.keep:
            return
        if name == "table":
            self.tables += 1
        if name == "tr":
            self._break()
            self.rows.append(_Row(len(self.out)))
        elif name in _BLOCK:
            self._break()
        elif name in _CELL:
            if self.rows:
                if self.rows[-1].cells:
                    self._emit("\t")
                self.rows[-1].cells += 1
            else:
                self._emit("\t")
            self.cells += 1
        if name == "a":
            self.hrefs.append((attrib.get("href"), len(self.out)))
        elif name == "img" and attrib.get("alt"):
            self._emit(f" {attrib['alt']} ")

    def end(self, tag: object) -> None:
        name = tag.lower() if isinstance(tag, str) else ""
        if name in _DROP:
            self.drop = max(0, self.drop - 1)
            return
        if name in _KEEP_IN_HEAD and self.keep:
            self.keep -= 1
            self._emit("\n")
            return
        if self.drop and not self.keep:
            return
        if name == "a" and self.hrefs:
            href, first = self.hrefs.pop()
            target = (href or "").strip()
            shown = "".join(self.out[first:]).strip()
            if target and not target.lower().startswith(("#", "javascript:")) and shown != target:
                self._emit(f" <{target}>")
        elif name == "tr":
            if self.rows:
                self._end_row()
            self._break()
        elif name in _CELL:
            self.cells = max(0, self.cells - 1)
        elif name in _BLOCK:
            self._break()
        if name == "table":
            self.tables = max(0, self.tables - 1)

    def data(self, data: str) -> None:
        if self.drop and not self.keep:
            return
        if self.tables and not self.cells and not data.strip():
            return  # the source's indentation between cells and rows
        self._emit(data)

    def comment(self, text: str) -> None:
        return None

    def close(self) -> str:
        return "".join(self.out)


def html_to_text(html: str, cap: int, deadline: Deadline | None = None) -> tuple[str, str | None]:
    """The visible text (plus link targets) of ``html``, at most ``cap`` characters, and why it
    was cut short: ``"text_bytes"`` (the cap), ``"time"`` (the deadline) or None."""
    target = _Text(cap)
    parser = etree.HTMLParser(target=target, no_network=True, recover=True, remove_comments=True)
    cut: str | None = None
    try:
        for start in range(0, len(html), FEED_CHARS):
            if target.full:
                cut = "text_bytes"
                break
            if deadline is not None and deadline.expired:
                cut = "time"
                break
            parser.feed(_FORBIDDEN.sub(" ", html[start : start + FEED_CHARS]))
        if not cut and html:
            parser.close()
    except (etree.LxmlError, ValueError):  # libxml2 gives up on some garbage; keep what was read
        pass
    text = "".join(target.out)
    return text[:cap], cut or ("text_bytes" if target.full else None)
