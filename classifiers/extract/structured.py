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
import re
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


#: One JSON token after optional blanks: a string, a number, a punctuator or a literal. The
#: standard library's ``re`` runs possessive repetition in constant memory, whatever the length.
_JSON_TOKEN = re.compile(
    r'[ \t\r\n]*+(?:("[^"\\\x00-\x1f]*+(?:\\.[^"\\\x00-\x1f]*+)*+")'
    r"|(-?(?:0|[1-9][0-9]*+)(?:\.[0-9]++)?(?:[eE][+-]?[0-9]++)?)|([{}\[\]:,])|(true|false|null))"
)
_BLANKS = re.compile(r"[ \t\r\n]*+")


class _Frame:
    """An open object or array: its key and whether it is shown, where the parser is in it."""

    __slots__ = ("array", "index", "key", "member", "show", "state")

    def __init__(self, array: bool, key: str | None, show: bool) -> None:
        self.array = array
        self.key = key
        self.show = show
        self.member: str | None = None  # an object's current member name
        self.index = 0  # an array's current item
        self.state = "first"  # first, key, colon, value, comma


def json_to_text(data: str, cap: int, deadline: Deadline | None = None) -> tuple[str, str | None] | None:
    """The strings and numbers of JSON ``data`` as ``key: value`` lines (at most ``cap``
    characters) and why they were cut short, or None when it is not JSON.

    Read token by token with an explicit stack: memory stays flat and the deadline holds
    however long or deep the document is. Numbers are written as the document writes them.
    """
    lines = _Lines(cap)
    stack: list[_Frame] = []
    pos = 0
    end = len(data)
    done = False  # the top-level value is complete
    tokens = 0
    while True:
        m = _JSON_TOKEN.match(data, pos)
        if m is None:
            pos = _BLANKS.match(data, pos).end()  # type: ignore[union-attr]  # always matches
            return (lines.text(), "text_bytes" if lines.full else None) if pos == end and done else None
        pos = m.end()
        tokens += 1
        if not tokens & 0xFFF:
            if lines.full:
                return lines.text(), "text_bytes"
            if deadline is not None and deadline.expired:
                return lines.text(), "time"
        string, number, punct, _literal = m.groups()
        if done:
            return None  # something after the top-level value
        top = stack[-1] if stack else None
        if punct in (",", ":", "}", "]"):
            if top is None or not _punctuator(top, punct):
                return None
            if punct in ("}", "]"):
                stack.pop()
                done = not stack
                if stack:
                    stack[-1].state = "comma"
            continue
        # A value (or an object's member name).
        if top is not None and not top.array and top.state in ("first", "key"):
            if string is None:
                return None
            top.member = json.loads(string)
            top.state = "colon"
            continue
        if top is not None and top.state not in ("first", "value"):
            return None
        key, show = _slot(top)
        if punct in ("{", "["):
            stack.append(_Frame(punct == "[", key, show))
            continue
        if string is not None or number is not None:
            value = json.loads(string) if string is not None else number
            if value.strip():
                lines.line(f"{key}: {value}" if key is not None and show else value)
        if top is None:
            done = True
        else:
            top.state = "comma"


def _slot(top: _Frame | None) -> tuple[str | None, bool]:
    """The key and visibility of the value that comes next in ``top``."""
    if top is None:
        return None, True
    if top.array:
        return top.key, top.show and top.index == 0
    return top.member, True


def _punctuator(top: _Frame, punct: str) -> bool:
    """Advance ``top`` over a punctuator; False when it does not belong there."""
    if punct == ":":
        if top.array or top.state != "colon":
            return False
        top.state = "value"
        return True
    if punct == ",":
        if top.state != "comma":
            return False
        top.state = "value" if top.array else "key"
        top.index += 1
        return True
    closing = "]" if top.array else "}"
    return punct == closing and top.state in ("first", "comma")
