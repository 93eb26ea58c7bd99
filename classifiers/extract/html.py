"""HTML to text with lxml's (libxml2) HTML parser: all text any client could show, link targets kept.

What a recipient may see depends on the client, so nothing a client could show is dropped:

- the text of every element, hidden or not (CSS ``display:none``, ``font-size:0``, white on
  white: we do not render CSS), including ``<template>``, ``<noscript>``, ``<noembed>``,
  ``<noframes>``, ``<object>`` fallback content and SVG ``<text>``/``<title>``/``<desc>``;
- comments, read as HTML: Outlook renders its conditional comments (``<!--[if mso]>…<![endif]-->``),
  and any comment is one "view source" away;
- attributes people read: ``alt``, ``title`` (tooltips), ``aria-label``, ``placeholder``,
  ``value``, ``label``, ``summary``; an ``<iframe srcdoc>`` is read as HTML;
- strings in scripts (a browser shows what they write) and the ``content:`` strings of style
  sheets (``p::before { content: "…" }`` is shown); the rest of a style sheet is not text;
- ``data:`` URLs (``<img src="data:…">``, ``<a href="data:…">``, ``<object data=…>``) are handed
  back as embedded files for the caller to read like attachments.

Share links often sit only in ``href`` (the visible text says "こちら"), so each link's target is
written after its text, unless the text is the target itself. A table row becomes one line with
its cells split by tabs (line breaks inside a cell become spaces), as spreadsheet rows are:
the detectors read a column's meaning from the header row. A row of one cell, or one that holds
a table, is page layout and keeps its lines. The parser is fed in slices through its target
interface, so memory stays flat and the work stops at the output cap or the deadline.

>>> html_to_text('<p>資料は<a href="https://example.com/s/abc">こちら</a></p><style>p{color:red}</style>', 1000)
('\\n資料はこちら <https://example.com/s/abc>\\n', None)
>>> html_to_text('<table>\\n <tr><th>氏名</th> <th>電話</th></tr>\\n <tr><td><p>山田</p><p>太郎</p></td><td>03</td></tr></table>', 1000)
('\\n氏名\\t電話\\n山田 太郎\\t03\\n', None)
>>> html_to_text('<!--[if mso]><p>Outlook だけに表示</p><![endif]--><svg><text>図の文字</text></svg>', 1000)[0]
'\\nOutlook だけに表示\\n図の文字\\n'
"""

from __future__ import annotations

import binascii
import urllib.parse
from dataclasses import dataclass, field

import regex
from lxml import etree

from classifiers.extract.context import Context, Where
from classifiers.limits import Deadline

#: Elements whose content is not text: a style sheet (only its ``content:`` strings are).
_STYLE = "style"
_SCRIPT = "script"
_BLOCK = frozenset(
    {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "dl", "dt", "dd",
     "blockquote", "pre", "hr", "section", "article", "header", "footer", "title", "address", "template",
     "noscript", "noembed", "noframes", "object", "svg", "text", "desc", "option", "textarea", "figcaption",
     "caption", "details", "summary", "legend", "fieldset", "form", "nav", "aside", "main", "script"}
)  # fmt: skip
_CELL = frozenset({"td", "th"})
#: Attributes whose values a person reads (tooltips, alternative text, form values).
_SHOWN_ATTRIBUTES = (
    "alt",
    "title",
    "aria-label",
    "placeholder",
    "value",
    "label",
    "summary",
    "aria-description",
)
#: Attributes that may hold a ``data:`` URL.
_URL_ATTRIBUTES = ("src", "href", "data", "poster", "background", "srcset", "xlink:href")
#: The parser is fed in slices so that it stops soon after the output cap or the deadline.
FEED_CHARS = 64 * 1024
#: Comments and ``srcdoc`` documents are read as HTML to this depth.
MAX_NESTING = 3
#: At most this many ``data:`` URLs are handed back (each is a part of its own).
MAX_EMBEDDED = 50
#: libxml2 refuses characters that XML forbids; they carry no text anyway.
_FORBIDDEN = regex.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
#: A conditional comment's condition and end (``[if mso]>`` … ``<![endif]``).
_CONDITION = regex.compile(r"^\s*\[if[^\]]{0,200}\]>|<!\[endif\]\s*$|^\s*<!|^\s*<!\[endif\]", regex.I)
#: ``content: "…"`` in a style sheet (CSS escapes ``\\30FC`` decoded afterwards).
_CSS_CONTENT = regex.compile(r"""content\s*:\s*(?:"((?:[^"\\]|\\.){0,4000})"|'((?:[^'\\]|\\.){0,4000})')""")
_CSS_ESCAPE = regex.compile(r"\\([0-9A-Fa-f]{1,6})\s?|\\(.)", regex.S)


@dataclass(slots=True)
class Html:
    """What :func:`html_extract` found: the text, why it was cut short, embedded files."""

    text: str
    cut: str | None
    #: ``(declared media type, bytes)`` of each ``data:`` URL, in document order.
    embedded: list[tuple[str, bytes]] = field(default_factory=list)


class _Row:
    """An open ``<tr>``: where its text starts in the output, its cells, whether it holds a table."""

    __slots__ = ("cells", "first", "nested")

    def __init__(self, first: int) -> None:
        self.first = first
        self.cells = 0
        self.nested = False


def _css_unescape(text: str) -> str:
    r"""CSS string escapes: ``\30FC`` is ``ー``, ``\"`` is ``"``.

    >>> _css_unescape(r"\30DE\30A4 No\.1")  # one blank after a hex escape ends it
    'マイNo.1'
    """

    def one(m: regex.Match[str]) -> str:
        if m.group(1):
            cp = int(m.group(1), 16)
            return chr(cp) if 0 < cp <= 0x10FFFF and not 0xD800 <= cp <= 0xDFFF else ""
        return m.group(2)

    return _CSS_ESCAPE.sub(one, text)


def data_url(url: str) -> tuple[str, bytes] | None:
    """``(media type, bytes)`` of a ``data:`` URL (RFC 2397), or None for another URL.

    >>> data_url("data:text/plain;charset=utf-8,%E6%9C%AC%E6%96%87")
    ('text/plain', b'\\xe6\\x9c\\xac\\xe6\\x96\\x87')
    >>> data_url("data:image/png;base64,iVBORw0KGgo=")
    ('image/png', b'\\x89PNG\\r\\n\\x1a\\n')
    >>> data_url("https://example.com/") is None
    True
    """
    url = url.strip()
    if url[:5].lower() != "data:" or "," not in url:
        return None
    head, payload = url[5:].split(",", 1)
    params = [p.strip() for p in head.split(";")]
    media = params[0].lower() if params and "/" in params[0] else "text/plain"
    if any(p.lower() == "base64" for p in params[1:]):
        clean = regex.sub(r"[^A-Za-z0-9+/=]", "", urllib.parse.unquote(payload))
        try:
            return media, binascii.a2b_base64(clean)
        except binascii.Error:  # bad padding: what the whole quads hold
            bare = clean.replace("=", "")
            return media, binascii.a2b_base64(bare[: len(bare) // 4 * 4])
    return media, urllib.parse.unquote_to_bytes(payload)


class _Text:
    """lxml parser target: collects the text any client could show."""

    def __init__(
        self, cap: int, deadline: Deadline | None, nesting: int, embedded: list[tuple[str, bytes]]
    ) -> None:
        self.cap = cap
        self.deadline = deadline
        self.nesting = nesting
        self.embedded = embedded
        self.out: list[str] = []
        self.size = 0
        self.style = 0  # depth inside <style>
        self.hrefs: list[tuple[str | None, int]] = []  # (target, index in out of the link text)
        self.rows: list[_Row] = []  # open <tr> elements, innermost last
        self.cells = 0  # depth of open <td>/<th>
        self.tables = 0  # depth of open <table>
        self.cut: str | None = None

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

    def _nested(self, html: str) -> None:
        """Read ``html`` (a comment, a ``srcdoc``) as a document of its own, as a block."""
        if self.nesting >= MAX_NESTING or self.full or not html.strip():
            return
        inner = _parse(html, self.cap - self.size, self.deadline, self.nesting + 1, self.embedded)
        if inner.cut == "time":
            self.cut = "time"
        if inner.text.strip():
            self._break()
            self._emit(inner.text.strip("\n"))
            self._break()

    def _url(self, value: str) -> None:
        if len(self.embedded) >= MAX_EMBEDDED:
            return
        found = data_url(value)
        if found is not None and found[1]:
            self.embedded.append(found)

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
        if name == _STYLE:
            self.style += 1
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
        if not attrib:  # most tags (lxml's mapping looks keys up in Python)
            return
        for key in _SHOWN_ATTRIBUTES:
            value = attrib.get(key)
            if value and value.strip():
                self._emit(f" {value.strip()} ")
        for key in _URL_ATTRIBUTES:
            value = attrib.get(key)
            if value and value.lstrip()[:5].lower() == "data:":
                self._url(value)
        srcdoc = attrib.get("srcdoc")
        if srcdoc:
            self._nested(srcdoc)

    def end(self, tag: object) -> None:
        name = tag.lower() if isinstance(tag, str) else ""
        if name == _STYLE:
            self.style = max(0, self.style - 1)
            return
        if name == "a" and self.hrefs:
            href, first = self.hrefs.pop()
            target = (href or "").strip()
            shown = "".join(self.out[first:]).strip()
            if target and not target.lower().startswith(("#", "javascript:", "data:")) and shown != target:
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
        if self.style:
            for m in _CSS_CONTENT.finditer(data):
                shown = _css_unescape(m.group(1) if m.group(1) is not None else m.group(2) or "")
                if shown.strip():
                    self._break()
                    self._emit(shown)
                    self._break()
            return
        if self.tables and not self.cells and not data.strip():
            return  # the source's indentation between cells and rows
        self._emit(data)

    def comment(self, text: str) -> None:
        if not text.lstrip().startswith("?"):  # an XML declaration libxml2 took for a comment
            self._nested(_CONDITION.sub("", text))

    def close(self) -> str:
        return "".join(self.out)


def _parse(
    html: str, cap: int, deadline: Deadline | None, nesting: int, embedded: list[tuple[str, bytes]]
) -> Html:
    target = _Text(cap, deadline, nesting, embedded)
    parser = etree.HTMLParser(target=target, no_network=True, recover=True, remove_comments=False)
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
    return Html(text[:cap], cut or target.cut or ("text_bytes" if target.full else None), embedded)


def html_extract(html: str, cap: int, deadline: Deadline | None = None) -> Html:
    """The text any client could show of ``html`` (at most ``cap`` characters), why it was cut
    short (``"text_bytes"``: the cap, ``"time"``: the deadline, or None) and its ``data:`` files."""
    return _parse(html, cap, deadline, 0, [])


def html_to_text(html: str, cap: int, deadline: Deadline | None = None) -> tuple[str, str | None]:
    """:func:`html_extract`'s text and why it was cut short, without the embedded files."""
    found = html_extract(html, cap, deadline)
    return found.text, found.cut


def dispatch_embedded(ctx: Context, where: Where, embedded: list[tuple[str, bytes]]) -> None:
    """Read the ``data:`` files of an HTML part found at ``where`` like attachments, located
    ``<where>!data[<n>]``."""
    for n, (media, data) in enumerate(embedded, 1):
        if ctx.stopped:
            ctx.stop_marker(where)
            return
        name = f"{where.location}!data[{n}]"
        ctx.dispatch(ctx, data, Where(name, where.kind, where.depth + 1, None, declared=media), ())


__all__ = ["Html", "data_url", "dispatch_embedded", "html_extract", "html_to_text"]
