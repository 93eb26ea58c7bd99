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
from classifiers.extract.html import dispatch_embedded, html_extract
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


#: Bytes a character takes at most in any encoding we read (UTF-32, ISO-2022-JP with its escapes).
_BYTES_PER_CHAR = 8

#: Records located at most per file (a segment each); later rows share one last location.
MAX_RECORDS = 100_000
_BREAK = regex.compile(r"\r\n|\n|\r")


def record_starts(text: str, limit: int = MAX_RECORDS) -> list[int]:
    """Offsets where each csv record starts (a newline inside double quotes does not end one),
    at most ``limit`` + 1 of them (the last one starts the records not located one by one).

    >>> record_starts('a,b\\n"x\\ny",z\\nlast')
    [0, 4, 12]
    >>> record_starts("a\\nb\\nc\\nd", limit=2)
    [0, 2, 4]
    """
    if '"' not in text and not _OTHER_BREAKS.search(text) and text.count("\n") < limit:
        # No quotes, and str.splitlines would break only where a record ends: all in C.
        # Each line's end but the last (the end of the text) starts a record.
        return [0, *list(accumulate(map(len, text.splitlines(keepends=True))))[:-1]]
    return _quoted_record_starts(text, limit)


def _quoted_record_starts(text: str, limit: int = MAX_RECORDS) -> list[int]:
    """:func:`record_starts` for any text: one step per line break (the quotes between two
    breaks are counted in C), never per character, and at most a few per record kept.

    >>> _quoted_record_starts('a,"b\\n""c"\\nd,"open\\ne')
    [0, 10]
    """
    starts = [0]
    quotes = 0
    after = 0  # where the last break ended
    for steps, m in enumerate(_BREAK.finditer(text)):
        quotes += text.count('"', after, m.start())
        after = m.end()
        if quotes % 2 == 0 and after < len(text):
            starts.append(after)
            if len(starts) > limit:
                break
        if steps > 4 * limit:  # a quoted field of very many lines: stop locating
            break
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
    reasons = list(truncated)
    if kind in ("text", "csv") and len(data) > _BYTES_PER_CHAR * ctx.text_left:
        # Whatever the encoding, the text allowed cannot come from more bytes than this.
        data = data[: _BYTES_PER_CHAR * ctx.text_left]
        reasons.append("text_bytes")
    declared = charset or (declared_charset(data, kind) if kind in ("xml", "html") else None)
    decoded = decode_text(data, declared)
    text = decoded.text
    content_type = {
        "csv": "text/csv",
        "json": "application/json",
        "xml": "application/xml",
        "html": "text/html",
    }
    segments: tuple[tuple[int, str], ...] = ()
    embedded: list[tuple[str, bytes]] = []
    if kind == "html":
        found = html_extract(text, ctx.text_left, ctx.deadline)
        text, embedded = found.text, found.embedded
        if found.cut:
            reasons.append(found.cut)
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
        starts = record_starts(text)
        segments = tuple((o, f"{where.location}!R{i}") for i, o in enumerate(starts[:MAX_RECORDS], 1))
        if len(starts) > MAX_RECORDS:  # the rows after that: one location for them all
            segments += ((starts[MAX_RECORDS], f"{where.location}!R{MAX_RECORDS + 1}+"),)
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
    dispatch_embedded(ctx, where, embedded)
