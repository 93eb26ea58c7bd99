"""XML and JSON to text: the values people wrote, without the markup around them.

Scanned as raw markup, a value runs into its closing tag (``6e2uezY!TxUF</line>`` as a
password) and entities stay encoded (``&amp;`` breaks a share link). XML becomes one line per
element (its attribute values, then its text, entities decoded), parsed by defusedxml (no DTD
entities, no external resources) in slices, so the work stops at the output cap or the
deadline. JSON becomes one line per string or number, written ``key: value`` under the nearest
object key (in a list, only the first item carries the key). A document that does not parse is returned as None: the caller scans the raw text,
so nothing is lost.

>>> xml_to_text('<?xml version="1.0"?><r><f name="氏名">山田 &amp; 太郎</f></r>', 1000)
('氏名 山田 & 太郎\\n', None)
>>> json_to_text('{"title": "名簿", "rows": [{"氏名": "山田太郎", "年齢": 40}]}', 1000)
('title: 名簿\\n氏名: 山田太郎\\n年齢: 40\\n', None)
"""

from __future__ import annotations

import json
from xml.etree.ElementTree import ParseError

import regex
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from classifiers.limits import Deadline

#: The parser is fed in slices so that it stops soon after the output cap or the deadline.
FEED_CHARS = 64 * 1024
#: The declaration names the encoding of bytes; the text here is already decoded.
_XML_DECL = regex.compile(r"^\ufeff?\s*<\?xml[^>]{0,200}\?>")


class _Lines:
    """Collects lines up to a character cap."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.out: list[str] = []
        self.size = 0

    @property
    def full(self) -> bool:
        return self.size >= self.cap

    def line(self, text: str) -> None:
        text = text.strip()
        if text and not self.full:
            self.out.append(text + "\n")
            self.size += len(text) + 1

    def text(self) -> str:
        return "".join(self.out)[: self.cap]


class _XmlTarget:
    """Parser target: one line per element, attribute values first, then the element's text.

    Text that follows a child element (mixed content) becomes a line of its own.
    """

    def __init__(self, lines: _Lines) -> None:
        self.lines = lines
        self.open: list[list[str]] = []  # per open element: the pieces of its pending line

    def _flush(self) -> None:
        if self.open:
            self.lines.line(" ".join(self.open[-1]))
            self.open[-1] = []

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        self._flush()
        self.open.append([v for v in attrib.values() if v.strip()])

    def end(self, tag: str) -> None:
        self._flush()
        if self.open:
            self.open.pop()

    def data(self, data: str) -> None:
        if self.open:
            self.open[-1].append(data)
        else:
            self.lines.line(data)

    def close(self) -> None:
        return None


def xml_to_text(xml: str, cap: int, deadline: Deadline | None = None) -> tuple[str, str | None] | None:
    """The text of ``xml`` (at most ``cap`` characters) and why it was cut short (``"text_bytes"``
    or ``"time"``), or None when it is not well-formed or declares entities."""
    lines = _Lines(cap)
    parser = DefusedXMLParser(target=_XmlTarget(lines), forbid_dtd=False)
    xml = _XML_DECL.sub("", xml, count=1)
    try:
        for start in range(0, len(xml), FEED_CHARS):
            if lines.full:
                return lines.text(), "text_bytes"
            if deadline is not None and deadline.expired:
                return lines.text(), "time"
            parser.feed(xml[start : start + FEED_CHARS])
        parser.close()
    except (ParseError, DefusedXmlException, ValueError):
        return None
    return lines.text(), "text_bytes" if lines.full else None


def json_to_text(data: str, cap: int, deadline: Deadline | None = None) -> tuple[str, str | None] | None:
    """The strings and numbers of JSON ``data`` as ``key: value`` lines (at most ``cap``
    characters) and why they were cut short, or None when it does not parse (or nests deeper
    than the parser's recursion limit)."""
    try:
        root = json.loads(data)
    except (ValueError, RecursionError):
        return None
    lines = _Lines(cap)
    # An explicit stack: no recursion however deep the document nests.
    # (key, value, whether the key is written): the items of a list after its first are not.
    stack: list[tuple[str | None, object, bool]] = [(None, root, True)]
    while stack:
        if lines.full:
            return lines.text(), "text_bytes"
        if deadline is not None and deadline.expired:
            return lines.text(), "time"
        key, value, show = stack.pop()
        if isinstance(value, dict):
            stack.extend(reversed([(str(k), v, True) for k, v in value.items()]))
        elif isinstance(value, list):
            stack.extend(reversed([(key, v, show and i == 0) for i, v in enumerate(value)]))
        elif isinstance(value, str | int | float) and not isinstance(value, bool) and str(value).strip():
            lines.line(f"{key}: {value}" if key is not None and show else str(value))
    return lines.text(), "text_bytes" if lines.full else None
