"""Content-type sniffing (python-magic), never trusting names or declared types.

OOXML files are zips; which one (docx, xlsx, pptx) is read from ``[Content_Types].xml``.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

import magic
import regex
from defusedxml import ElementTree

_HEADER_LINE = regex.compile(rb"^[A-Za-z][A-Za-z0-9-]{0,76}:[ \t]")
_MESSAGE_HEADERS = (b"from:", b"to:", b"subject:", b"date:", b"message-id:", b"mime-version:", b"received:")

#: libmagic looks at the head of a buffer only.
SNIFF_BYTES = 64 * 1024
#: ``[Content_Types].xml`` is small; a larger one is not trusted.
CONTENT_TYPES_MAX = 1024 * 1024

_OOXML_MAIN = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml": "docx",
    "application/vnd.ms-word.document.macroEnabled.main+xml": "docx",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.template.main+xml": "docx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml": "xlsx",
    "application/vnd.ms-excel.sheet.macroEnabled.main+xml": "xlsx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.template.main+xml": "xlsx",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml": "pptx",
    "application/vnd.ms-powerpoint.presentation.macroEnabled.main+xml": "pptx",
    "application/vnd.openxmlformats-officedocument.presentationml.slideshow.main+xml": "pptx",
}
_TEXT_KINDS = {
    "text/html": "html",
    "application/xhtml+xml": "html",
    "text/xml": "xml",
    "application/xml": "xml",
    "image/svg+xml": "xml",
    "application/json": "json",
    "text/csv": "csv",
    "message/rfc822": "message",
    "message/news": "message",
}
_OLE = {"application/x-ole-storage", "application/cdfv2", "application/msword", "application/vnd.ms-excel",
        "application/vnd.ms-powerpoint", "application/vnd.ms-outlook", "application/encrypted",
        "application/cdfv2-encrypted", "application/vnd.ms-office"}  # fmt: skip
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


@dataclass(frozen=True, slots=True)
class Sniffed:
    """``kind`` is what we extract it as; ``mime`` is what libmagic said."""

    kind: str  # zip docx xlsx pptx ole pdf message html xml json csv text empty binary
    mime: str


def looks_like_message(data: bytes) -> bool:
    """An RFC 5322 message starts with header fields, among them the usual ones.

    >>> looks_like_message(b"From: a@example.jp\\r\\nSubject: x\\r\\n\\r\\nbody")
    True
    >>> looks_like_message(b"name,phone\\r\\n")
    False
    """
    head = data[:4096].split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0]
    lines = [ln for ln in head.splitlines() if ln and not ln[:1].isspace()]
    if not lines or not all(_HEADER_LINE.match(ln) or ln.startswith(b"From ") for ln in lines[:3]):
        return False
    names = {ln.split(b":", 1)[0].lower() + b":" for ln in lines}
    return len(names & set(_MESSAGE_HEADERS)) >= 2


def mime_type(data: bytes) -> str:
    """What libmagic says about the head of ``data`` (lower case)."""
    try:
        return str(magic.from_buffer(data[:SNIFF_BYTES], mime=True)).lower()
    except Exception:  # libmagic errors on pathological input; treat as unknown bytes
        return "application/octet-stream"


def ooxml_kind(data: bytes) -> str | None:
    """docx / xlsx / pptx from the zip's ``[Content_Types].xml``, or None for another zip.

    >>> ooxml_kind(b"not a zip") is None
    True
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            info = zf.getinfo("[Content_Types].xml")
            if info.file_size > CONTENT_TYPES_MAX:
                return None
            with zf.open(info) as fh:
                xml = fh.read(CONTENT_TYPES_MAX + 1)
        root = ElementTree.fromstring(xml)
    except Exception:  # not a zip, no such member, bad XML, entity tricks: not OOXML
        return None
    for el in root:
        kind = _OOXML_MAIN.get(el.get("ContentType", "").strip())
        if kind is not None:
            return kind
    return None


def _is_text(data: bytes) -> bool:
    head = data[:SNIFF_BYTES]
    return b"\x00" not in head or head.startswith((b"\xff\xfe", b"\xfe\xff"))


def sniff(data: bytes) -> Sniffed:
    """The kind of content, from the bytes alone."""
    if not data.strip():
        return Sniffed("empty", "application/x-empty")
    mime = mime_type(data)
    if (
        data.startswith((b"PK\x03\x04", b"PK\x05\x06"))
        or mime in ("application/zip", "application/x-zip-compressed")
        or "openxml" in mime
    ):
        office = ooxml_kind(data)
        return Sniffed(office or "zip", mime)
    if mime == "application/pdf" or b"%PDF-" in data[:1024]:
        return Sniffed("pdf", "application/pdf")
    if data.startswith(_OLE_MAGIC) or mime in _OLE:
        return Sniffed("ole", mime)
    kind = _TEXT_KINDS.get(mime)
    if kind is None and (mime.startswith("text/") or (mime == "application/octet-stream" and _is_text(data))):
        kind = "text"
    if kind in ("text", "csv", "message") and looks_like_message(data):
        return Sniffed("message", "message/rfc822")
    if kind == "message":
        kind = "text"
    if kind == "text" and _looks_like_html(data):
        kind = "html"
    return Sniffed(kind or "binary", mime)


def _looks_like_html(data: bytes) -> bool:
    head = data[:2048].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html")) or b"<body" in head
