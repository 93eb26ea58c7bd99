"""What an upload request's body carries: files and text, read without changing a byte.

``multipart/form-data`` (RFC 7578) and ``multipart/related`` (RFC 2387) are parsed with
python-multipart's streaming parser: mitmproxy's ``multipart_form`` cannot be used for files
(it splits part bodies on line breaks and joins them without, and ignores file names). A body
in memory is parsed in memory; a spooled body is parsed from its file and each file part is
written to a file of its own beside it, so memory stays bounded whatever the size.

JSON and form bodies are text sent to a service (a chat message): their string values are
joined into one text to scan; keys and structure are not content.

A body sent with a ``Content-Encoding`` (RFC 9110 s8.4) is read as the service reads it: gzip
and deflate are undone first, within a bound; a coding the gateway does not open (br, zstd...),
or a body that does not decompress, is inspected as sent and reported as not fully inspected.
The service always gets the bytes as sent.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import urllib.parse
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, MultipartState, parse_options_header

from classifiers.extract.charset import decode_text
from gateway.proxy.services.base import BodyKind, disposition_filename

#: Read spooled bodies in pieces of this size.
READ_SIZE = 256 * 1024
#: A part's headers beyond this are not a real client's (python-multipart enforces its own too).
MAX_PART_HEADERS = 16 * 1024
#: Text gathered from one JSON or form body; past it the rest is cut and reported.
MAX_TEXT = 16 * 1024 * 1024
#: Metadata parts (JSON) read for a file name: Box ``attributes``, Drive's first related part.
MAX_METADATA = 256 * 1024

#: Content codings undone before inspection, with their zlib window (RFC 9110 s8.4.1).
OPENED_CODINGS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
#: A decompressed body larger than this goes to a file beside the spool, not memory.
DECODED_IN_MEMORY = 16 * 1024 * 1024

Body = bytes | Path


@dataclass
class Piece:
    """One thing to inspect: a file (its bytes or a spooled copy) or a text."""

    name: str
    content_type: str
    data: bytes | None = None
    path: Path | None = None
    size: int = 0
    is_text: bool = False


@dataclass
class Extracted:
    pieces: list[Piece] = field(default_factory=list)
    #: JSON metadata a multipart body carried beside the file (``name``, ``parents``...).
    metadata: dict[str, Any] = field(default_factory=dict)
    #: Why the body could not be read completely (the item counts as not fully inspected).
    problems: list[str] = field(default_factory=list)
    #: Files this extraction wrote (the caller removes them).
    written: list[Path] = field(default_factory=list)


def body_kind(declared: BodyKind, content_type: str) -> BodyKind:
    """Resolve ``auto`` by the request's Content-Type.

    >>> body_kind("auto", "multipart/form-data; boundary=x"), body_kind("auto", "application/vnd.api+json")
    ('form-data', 'json')
    >>> body_kind("raw", "application/json")
    'raw'
    """
    if declared != "auto":
        return declared
    ctype = content_type.split(";", 1)[0].strip().lower()
    if ctype == "multipart/form-data":
        return "form-data"
    if ctype == "multipart/related":
        return "related"
    if ctype == "application/json" or ctype.endswith("+json"):
        return "json"
    if ctype == "application/x-www-form-urlencoded":
        return "form"
    return "raw"


def _chunks(body: Body) -> Iterator[bytes]:
    if isinstance(body, bytes):
        yield body
        return
    with body.open("rb") as fh:
        while piece := fh.read(READ_SIZE):
            yield piece


def _read_all(body: Body, limit: int) -> tuple[bytes, bool]:
    if isinstance(body, bytes):
        return body[:limit], len(body) > limit
    with body.open("rb") as fh:
        data = fh.read(limit + 1)
    return data[:limit], len(data) > limit


def size_of(body: Body) -> int:
    return len(body) if isinstance(body, bytes) else body.stat().st_size


# -- content codings ---------------------------------------------------------------------------


@dataclass
class Decoded:
    """A body with its content codings undone, or why it could not be."""

    body: Body
    problem: str | None = None
    written: list[Path] = field(default_factory=list)


def decode(body: Body, content_encoding: str, *, limit: int, out_dir: Path | None = None) -> Decoded:
    """``body`` as the service reads it: the codings ``content_encoding`` lists undone, the last
    applied first, at most ``limit`` bytes each. A problem leaves the body as sent.

    >>> import gzip
    >>> decode(gzip.compress(b"hello"), "gzip", limit=100).body
    b'hello'
    >>> decode(b"hello", "identity", limit=100).body, decode(b"x", "br", limit=100).problem
    (b'hello', 'body sent with Content-Encoding br, which the gateway does not open')
    """
    codings = [c.strip().lower() for c in content_encoding.split(",")]
    codings = [c for c in codings if c and c != "identity"]
    if not codings:
        return Decoded(body)
    other = [c for c in codings if c not in OPENED_CODINGS]
    if other:
        return Decoded(
            body, f"body sent with Content-Encoding {', '.join(other)}, which the gateway does not open"
        )
    result = Decoded(body)
    current = body
    for coding in reversed(codings):
        try:
            current = _inflate(current, OPENED_CODINGS[coding], limit, out_dir, result.written)
        except (zlib.error, ValueError) as exc:
            remove(result.written)
            return Decoded(body, f"body sent with Content-Encoding {coding} does not decompress: {exc}")
    result.body = current
    return result


def _inflate(body: Body, wbits: int, limit: int, out_dir: Path | None, written: list[Path]) -> Body:
    d = zlib.decompressobj(wbits)
    held = bytearray()
    fh: Any = None
    total = 0
    try:
        for chunk in _chunks(body):
            data = chunk
            while data and not d.eof:
                out = d.decompress(data, READ_SIZE)
                data = d.unconsumed_tail
                total += len(out)
                if total > limit:
                    raise ValueError(f"more than {limit} bytes once decompressed")
                if fh is None and out_dir is not None and len(held) + len(out) > DECODED_IN_MEMORY:
                    path = out_dir / f"decoded-{secrets.token_hex(8)}"
                    written.append(path)
                    fh = path.open("wb")
                    fh.write(held)
                    held = bytearray()
                if fh is not None:
                    fh.write(out)
                else:
                    held += out
            if d.eof and (data or d.unused_data):
                raise ValueError("data after the end of the compressed stream")
        if not d.eof:
            raise ValueError("the compressed stream ends early")
    finally:
        if fh is not None:
            fh.close()
    return written[-1] if fh is not None else bytes(held)


# -- text bodies --------------------------------------------------------------------------------


def json_strings(value: Any) -> Iterator[str]:
    """Every string value in a JSON document, depth first, keys left out; strings that are
    themselves JSON documents (Gemini's ``f.req``) are opened too.

    >>> list(json_strings({"model": "x", "messages": [{"content": {"parts": ["マイナンバー 1"]}}]}))
    ['x', 'マイナンバー 1']
    """
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            inner = _nested_json(node)
            if inner is None:
                yield node
            else:
                stack.append(inner)
        elif isinstance(node, dict):
            stack.extend(reversed(list(node.values())))
        elif isinstance(node, list):
            stack.extend(reversed(node))


def _all_values(pairs: list[tuple[str, Any]]) -> list[Any]:
    """An object as the list of its values, every one kept: a key given twice has both its
    values read (parsers differ on which one wins, so the service may read either)."""
    return [value for _, value in pairs]


def _loads(text: str) -> Any:
    return json.loads(text, object_pairs_hook=_all_values)


def _nested_json(text: str) -> Any:
    if len(text) < 2 or text[0] not in "[{":
        return None
    try:
        return _loads(text)
    except (ValueError, RecursionError):
        return None


def text_of(kind: BodyKind, data: bytes, charset: str | None = None) -> str:
    """The text a JSON or form body sends; undecodable bytes are replaced, never dropped.

    The bytes are read in the declared ``charset``, or the one they are in (a browser posts a
    form in its page's charset, Shift_JIS or EUC-JP on older Japanese sites, without saying so).
    """
    if kind == "json":
        raw = decode_text(data, charset).text
        try:
            doc = _loads(raw)
        except (ValueError, RecursionError):
            return raw  # not JSON after all: scan what was sent
        return "\n".join(json_strings(doc))
    # Percent-decoded to the bytes sent (latin-1 keeps each byte), then read in their charset.
    pairs = urllib.parse.parse_qsl(data.decode("latin-1"), keep_blank_values=True, encoding="latin-1")
    sent = [v.encode("latin-1") for _, v in pairs]
    found = decode_text(b"\n".join(sent), charset).charset
    values: list[str] = []
    for v in sent:
        values.extend(json_strings(decode_text(v, found).text))
    return "\n".join(values)


# -- multipart ----------------------------------------------------------------------------------


@dataclass
class _Part:
    head: bytearray = field(default_factory=bytearray)
    name: str = ""
    filename: str | None = None
    content_type: str = ""
    data: bytearray | None = None
    fh: Any = None
    path: Path | None = None
    size: int = 0

    def parse_head(self) -> None:
        """Name, file name and type from the part's raw header bytes. File names arrive as raw
        UTF-8 (browsers, RFC 7578 s4.2), as RFC 2231 ``filename*=`` or as RFC 2047 words."""
        disposition = b""
        for line in bytes(self.head).split(b"\r\n"):
            field, sep, value = line.partition(b":")
            if not sep:
                continue
            key = field.strip().lower()
            if key == b"content-disposition":
                disposition = value.strip()
            elif key == b"content-type":
                self.content_type = value.decode("latin-1").split(";", 1)[0].strip().lower()
        _, params = parse_options_header(disposition)  # bytes in, raw bytes out
        self.name = params.get(b"name", b"").decode("utf-8", "replace")
        self.filename = disposition_filename(disposition)


def _is_file(kind: BodyKind, index: int, part: _Part) -> bool:
    if kind == "related":
        return index > 0  # RFC 2387: the root (first) part is the metadata
    return part.filename is not None or part.name in ("file", "media")


def _parse_multipart(
    kind: BodyKind, boundary: bytes, body: Body, out_dir: Path | None, result: Extracted
) -> list[tuple[_Part, bool]]:
    parts: list[_Part] = []
    state: dict[str, Any] = {"part": None, "field": bytearray(), "value": bytearray()}
    in_memory = isinstance(body, bytes) or out_dir is None

    def begin() -> None:
        part = _Part()
        parts.append(part)
        state["part"] = part

    def header_field(data: bytes, start: int, end: int) -> None:
        state["field"] += data[start:end]

    def header_value(data: bytes, start: int, end: int) -> None:
        state["value"] += data[start:end]

    def header_end() -> None:
        part: _Part = state["part"]
        if len(part.head) < MAX_PART_HEADERS:
            part.head += bytes(state["field"]) + b": " + bytes(state["value"]) + b"\r\n"
        state["field"], state["value"] = bytearray(), bytearray()

    def headers_done() -> None:
        part: _Part = state["part"]
        part.parse_head()
        index = len(parts) - 1
        if not in_memory and _is_file(kind, index, part):
            assert out_dir is not None
            path = out_dir / f"part-{secrets.token_hex(6)}"
            part.path = path
            part.fh = path.open("wb")
            result.written.append(path)
        else:
            part.data = bytearray()

    def data(chunk: bytes, start: int, end: int) -> None:
        part: _Part = state["part"]
        piece = chunk[start:end]
        part.size += len(piece)
        if part.fh is not None:
            part.fh.write(piece)
        elif part.data is not None:
            part.data += piece

    def end_part() -> None:
        part: _Part = state["part"]
        if part.fh is not None:
            part.fh.close()
            part.fh = None

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": begin,
            "on_header_field": header_field,
            "on_header_value": header_value,
            "on_header_end": header_end,
            "on_headers_finished": headers_done,
            "on_part_data": data,
            "on_part_end": end_part,
        },
    )
    try:
        for piece in _chunks(body):
            parser.write(piece)
        parser.finalize()
        if parser.state != MultipartState.END:
            result.problems.append("multipart body could not be read to its end: no closing boundary")
    except MultipartParseError as exc:
        result.problems.append(f"multipart body could not be read to its end: {exc}")
    finally:
        for part in parts:
            if part.fh is not None:
                part.fh.close()
    return [(p, _is_file(kind, i, p)) for i, p in enumerate(parts)]


def _metadata(part: _Part) -> dict[str, Any]:
    if part.data is None or len(part.data) > MAX_METADATA:
        return {}
    try:
        value = json.loads(bytes(part.data))
    except (ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


def extract(
    body: Body,
    kind: BodyKind,
    content_type: str,
    *,
    name: str = "",
    label: str = "",
    out_dir: Path | None = None,
    content_encoding: str = "",
    decoded_max: int = 100 * 1024 * 1024,
) -> Extracted:
    """Read ``body`` (bytes, or the path of a spooled copy) as ``kind``. ``name`` and
    ``content_type`` describe a raw body's file; ``label`` names the text of a JSON or form body
    (the service); ``content_encoding`` is undone first (see :func:`decode`). Blocking for a
    spooled or compressed body: call it in a thread."""
    result = Extracted()
    if content_encoding:
        decoded = decode(body, content_encoding, limit=decoded_max, out_dir=out_dir)
        result.written.extend(decoded.written)
        if decoded.problem:
            result.problems.append(decoded.problem)
        body = decoded.body
    kind = body_kind(kind, content_type)
    ctype = content_type.split(";", 1)[0].strip().lower()
    if kind == "none":
        return result
    if kind in ("json", "form"):
        data, cut = _read_all(body, MAX_TEXT)
        if cut:
            result.problems.append(f"text body longer than {MAX_TEXT} bytes: the rest was not read")
        charset = parse_options_header(content_type)[1].get(b"charset", b"").decode("latin-1")
        text = text_of(kind, data, charset or None).encode("utf-8")
        result.pieces.append(Piece(label or "text", "text/plain", data=text, size=len(text), is_text=True))
        return result
    if kind in ("form-data", "related"):
        _, params = parse_options_header(content_type)
        boundary = params.get(b"boundary")
        if not boundary:
            result.problems.append(f"{ctype or 'multipart'} body without a boundary: read as one file")
        else:
            return _from_parts(kind, boundary, body, out_dir, name, label, result)
    size = size_of(body)
    if isinstance(body, bytes):
        result.pieces.append(Piece(name, ctype, data=body, size=size))
    else:
        result.pieces.append(Piece(name, ctype, path=body, size=size))
    return result


def _from_parts(
    kind: BodyKind,
    boundary: bytes,
    body: Body,
    out_dir: Path | None,
    name: str,
    label: str,
    result: Extracted,
) -> Extracted:
    fields: list[str] = []
    for index, (part, is_file) in enumerate(_parse_multipart(kind, boundary, body, out_dir, result)):
        if not is_file:
            meta = (
                _metadata(part)
                if (kind == "related" and index == 0) or part.name in ("attributes", "metadata")
                else {}
            )
            if meta:
                result.metadata.update(meta)
            elif part.data:
                # A form's fields are in its page's charset (Shift_JIS, EUC-JP...), rarely named.
                declared = parse_options_header(part.content_type)[1].get(b"charset", b"").decode("latin-1")
                fields.append(decode_text(bytes(part.data), declared or None).text)
            continue
        piece = Piece(part.filename or "", part.content_type, size=part.size)
        if part.path is not None:
            piece.path = part.path
        else:
            piece.data = bytes(part.data or b"")
        result.pieces.append(piece)
    meta_name = result.metadata.get("name") or result.metadata.get("title")
    meta_type = result.metadata.get("mimeType")
    for piece in result.pieces:
        # The metadata's name is the one the file gets in the cloud (Box attributes, Drive).
        if isinstance(meta_name, str) and meta_name:
            piece.name = meta_name
        elif not piece.name:
            piece.name = name
        if not piece.content_type and isinstance(meta_type, str):
            piece.content_type = meta_type
    text = "\n".join(f for f in fields if f.strip())
    if text:
        data = text.encode("utf-8")
        result.pieces.append(
            Piece(label or "form fields", "text/plain", data=data, size=len(data), is_text=True)
        )
    if result.problems and not any(not p.is_text for p in result.pieces) and size_of(body):
        # Nothing usable came out of a body that did not parse: inspect it whole instead.
        whole = Piece(name, "", data=body) if isinstance(body, bytes) else Piece(name, "", path=body)
        whole.size = size_of(body)
        result.pieces.append(whole)
    return result


def remove(paths: list[Path]) -> None:
    for p in paths:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(p)


__all__ = [
    "Body",
    "Extracted",
    "Piece",
    "body_kind",
    "extract",
    "json_strings",
    "remove",
    "size_of",
    "text_of",
]
