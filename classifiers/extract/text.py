"""Plain files: text, csv/tsv (a segment per record), json and xml (their values), html.

Records of a csv/tsv become segments ``<file>!R<n>`` (1-based; a quoted field may span lines).
Whether a text file is delimited is decided from the content (libmagic) or, among texts only,
from the name's suffix: the name never decides *whether* content is inspected, only how findings
inside it are located.
"""

from __future__ import annotations

from itertools import accumulate

import regex

from classifiers.extract.charset import decode_text
from classifiers.extract.context import Context, Where
from classifiers.extract.html import html_to_text
from classifiers.extract.structured import json_to_text, xml_to_text
from classifiers.model import Part

_XML_DECL = regex.compile(rb"""^\s*<\?xml[^>]{0,200}?encoding\s*=\s*["']([A-Za-z0-9._-]{1,40})["']""")
_META_CHARSET = regex.compile(rb"""<meta[^>]{0,400}?charset\s*=\s*["']?([A-Za-z0-9._-]{1,40})""", regex.I)


def declared_charset(data: bytes, kind: str) -> str | None:
    """The charset an XML declaration or an HTML ``<meta>`` names, if any.

    >>> declared_charset(b'<?xml version="1.0" encoding="Shift_JIS"?><a/>', "xml")
    'Shift_JIS'
    >>> declared_charset(b'<meta http-equiv="Content-Type" content="text/html; charset=euc-jp">', "html")
    'euc-jp'
    """
    pattern = _XML_DECL if kind == "xml" else _META_CHARSET
    m = pattern.search(data[:4096])
    return m.group(1).decode("ascii") if m else None


#: Where str.splitlines breaks a line besides CR, LF and CRLF (a csv record does not end there).
_OTHER_BREAKS = regex.compile("[\v\f\x1c\x1d\x1e\x85\u2028\u2029]")


def record_starts(text: str) -> list[int]:
    """Offsets where each csv record starts (a newline inside double quotes does not end one).

    >>> record_starts('a,b\\n"x\\ny",z\\nlast')
    [0, 4, 12]
    """
    if '"' not in text and not _OTHER_BREAKS.search(text):
        # No quotes, and str.splitlines would break only where a record ends: all in C.
        # Each line's end but the last (the end of the text) starts a record.
        return [0, *list(accumulate(map(len, text.splitlines(keepends=True))))[:-1]]
    return _quoted_record_starts(text)


def _quoted_record_starts(text: str) -> list[int]:
    """:func:`record_starts` for any text, tracking double quotes."""
    starts = [0]
    quoted = False
    for m in regex.finditer(r'"|\r\n|\n|\r', text):
        if m.group() == '"':
            quoted = not quoted
        elif not quoted and m.end() < len(text):
            starts.append(m.end())
    return starts


def extract_text(
    ctx: Context,
    data: bytes,
    where: Where,
    kind: str,
    *,
    charset: str | None = None,
    truncated: tuple[str, ...] = (),
) -> None:
    """One part for a text-like file; ``kind`` is the sniffed kind (text csv json xml html)."""
    declared = charset or (declared_charset(data, kind) if kind in ("xml", "html") else None)
    decoded = decode_text(data, declared)
    text = decoded.text
    reasons = list(truncated)
    content_type = {
        "csv": "text/csv",
        "json": "application/json",
        "xml": "application/xml",
        "html": "text/html",
    }
    segments: tuple[tuple[int, str], ...] = ()
    if kind == "html":
        text, cut = html_to_text(text, ctx.text_left, ctx.deadline)
        if cut:
            reasons.append(cut)
    elif kind in ("xml", "json"):
        convert = xml_to_text if kind == "xml" else json_to_text
        values = convert(text, ctx.text_left, ctx.deadline)
        if values is not None:  # malformed: the raw text is scanned instead
            text, cut = values
            if cut:
                reasons.append(cut)
    elif kind == "csv" or (kind == "text" and where.location.lower().endswith((".csv", ".tsv"))):
        kind = "csv"
        text = text[: ctx.text_left + 1]
        segments = tuple((o, f"{where.location}!R{i}") for i, o in enumerate(record_starts(text), 1))
    ctx.add(
        Part(
            location=where.location,
            text=text,
            kind=where.kind,
            content_type=content_type.get(kind, "text/plain"),
            filename=where.filename,
            size=len(data),
            truncated=tuple(reasons),
            segments=segments,
        )
    )
