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


# --- what a file claims to be --------------------------------------------------------------------
_IMAGE_EXT = (
    "png",
    "jpg",
    "jpeg",
    "jpe",
    "gif",
    "bmp",
    "tif",
    "tiff",
    "webp",
    "heic",
    "heif",
    "ico",
    "emf",
    "wmf",
)
_AUDIO_EXT = ("mp3", "wav", "m4a", "aac", "ogg", "oga", "flac", "wma", "mid")
_VIDEO_EXT = ("mp4", "m4v", "mov", "avi", "mkv", "webm", "wmv", "mpg", "mpeg", "3gp")
#: File name extension -> the kinds a file so named may be.
EXTENSIONS: dict[str, frozenset[str]] = {
    **dict.fromkeys(("txt", "text", "log", "md", "ini", "cfg", "conf"), frozenset({"text"})),
    **dict.fromkeys(("csv", "tsv", "tab"), frozenset({"csv"})),
    "json": frozenset({"json"}),
    **dict.fromkeys(("xml", "svg", "rss", "atom"), frozenset({"xml"})),
    **dict.fromkeys(("html", "htm", "xhtml", "shtml", "mht", "mhtml"), frozenset({"html"})),
    "eml": frozenset({"message"}),
    "pdf": frozenset({"pdf"}),
    "zip": frozenset({"zip"}),
    **dict.fromkeys(("docx", "docm", "dotx", "dotm"), frozenset({"docx"})),
    **dict.fromkeys(("xlsx", "xlsm", "xltx", "xltm"), frozenset({"xlsx"})),
    **dict.fromkeys(("pptx", "pptm", "ppsx", "ppsm", "potx", "potm"), frozenset({"pptx"})),
    **dict.fromkeys(("doc", "xls", "ppt", "msg", "dot", "xlt", "pps"), frozenset({"ole"})),
    **dict.fromkeys(_IMAGE_EXT, frozenset({"image"})),
    **dict.fromkeys(_AUDIO_EXT, frozenset({"audio"})),
    **dict.fromkeys(_VIDEO_EXT, frozenset({"video"})),
}
#: Declared content type -> the kinds content so declared may be. Types that say nothing
#: (application/octet-stream, application/x-download...) are not claims.
DECLARED: dict[str, frozenset[str]] = {
    "text/plain": frozenset({"text"}),
    **dict.fromkeys(
        (
            "text/csv",
            "application/csv",
            "text/comma-separated-values",
            "text/tab-separated-values",
            "text/x-csv",
        ),
        frozenset({"csv"}),
    ),
    **dict.fromkeys(("text/html", "application/xhtml+xml"), frozenset({"html"})),
    **dict.fromkeys(("application/json", "text/json"), frozenset({"json"})),
    **dict.fromkeys(("text/xml", "application/xml", "image/svg+xml"), frozenset({"xml"})),
    "message/rfc822": frozenset({"message"}),
    **dict.fromkeys(("application/pdf", "application/x-pdf"), frozenset({"pdf"})),
    **dict.fromkeys(
        ("application/zip", "application/x-zip-compressed", "application/x-zip"), frozenset({"zip"})
    ),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": frozenset({"docx"}),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": frozenset({"xlsx"}),
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": frozenset({"pptx"}),
    "application/msword": frozenset({"ole"}),
    "application/vnd.ms-powerpoint": frozenset({"ole"}),
    "application/vnd.ms-outlook": frozenset({"ole"}),
    # Windows declares a .csv file as an Excel document.
    "application/vnd.ms-excel": frozenset({"ole", "csv"}),
}
#: Kinds that are one family: the same content read a little differently, never a disguise.
_FAMILY = {
    **dict.fromkeys(("text", "csv", "json", "xml", "html", "message"), "text"),
    **dict.fromkeys(("zip", "docx", "xlsx", "pptx"), "zip"),
}
#: Kinds with an extractor (the others are listed, not read).
READABLE = frozenset(
    {"text", "csv", "json", "xml", "html", "message", "zip", "docx", "xlsx", "pptx", "ole", "pdf"}
)


def family(kind: str) -> str:
    """The family of a kind: text-like kinds are one, zip and OOXML are one.

    >>> family("csv"), family("docx"), family("pdf")
    ('text', 'zip', 'pdf')
    """
    return _FAMILY.get(kind, kind)


def kind_of(sniffed: Sniffed) -> str:
    """The kind to compare with a claim: media are ``image``, ``audio`` or ``video``."""
    major = sniffed.mime.split("/", 1)[0]
    if sniffed.kind == "binary" and major in ("image", "audio", "video"):
        return major
    return sniffed.kind


def claims(filename: str | None, declared: str | None) -> list[tuple[str, frozenset[str]]]:
    """What the name's extension and the declared content type say the content is:
    ``(label, kinds)`` pairs, the label as shown in evidence.

    >>> claims("list.CSV", "text/csv; charset=utf-8")
    [('name .csv', frozenset({'csv'})), ('declared text/csv', frozenset({'csv'}))]
    >>> claims("README", "application/octet-stream")
    []
    """
    out: list[tuple[str, frozenset[str]]] = []
    if filename and "." in filename:
        ext = filename.rsplit(".", 1)[1].strip().lower()
        kinds = EXTENSIONS.get(ext)
        if kinds is not None:
            out.append((f"name .{ext}", kinds))
    if declared:
        mime = declared.split(";", 1)[0].strip().lower()
        kinds = DECLARED.get(mime)
        if kinds is None and mime.split("/", 1)[0] in ("image", "audio", "video") and mime != "image/svg+xml":
            kinds = frozenset({mime.split("/", 1)[0]})
        if kinds is not None:
            out.append((f"declared {mime}", kinds))
    return out


def disagreements(
    sniffed: Sniffed, filename: str | None, declared: str | None
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The claims that disagree with the content (labels) and the kinds they claim that the
    content was not read as (to read it as those too).

    >>> disagreements(Sniffed("binary", "image/gif"), "list.csv", "text/csv")
    (('name .csv', 'declared text/csv'), ('csv',))
    >>> disagreements(Sniffed("csv", "text/csv"), "list.csv", "application/vnd.ms-excel")
    ((), ())
    >>> disagreements(Sniffed("empty", "application/x-empty"), "a.pdf", None)
    ((), ())
    """
    actual = kind_of(sniffed)
    if actual == "empty":
        return (), ()
    labels: list[str] = []
    kinds: list[str] = []
    for label, claimed in claims(filename, declared):
        if family(actual) in {family(k) for k in claimed}:
            continue
        labels.append(label)
        kinds.extend(k for k in sorted(claimed) if k in READABLE and k not in kinds)
    return tuple(labels), tuple(kinds)


#: How far from its end a zip's end-of-directory record may start (its comment is at most 64 KiB).
_ZIP_TAIL = 65536 + 22


def zip_tail(data: bytes) -> bool:
    """Whether the signature of a zip's end-of-directory record is in the tail of ``data``
    (searched in place: the tail is not copied out of the body).

    >>> zip_tail(b"x" * 70000 + b"PK\\x05\\x06" + bytes(18)), zip_tail(b"PK\\x05\\x06" + bytes(70000))
    (True, False)
    """
    return data.find(b"PK\x05\x06", max(0, len(data) - _ZIP_TAIL)) >= 0


def zip_inside(data: bytes) -> bool:
    """Whether ``data`` ends with a readable zip directory with at least one entry (zip readers
    find an archive from its end, so one appended to a picture or a PDF opens as a zip).

    >>> zip_inside(b"GIF89a" + b"x" * 100)
    False
    """
    if not zip_tail(data):
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            return bool(zf.infolist())
    except Exception:  # not a zip after all
        return False


#: Leading bytes of formats that are never text (a text body that starts so is a file).
_BINARY_MAGIC = (
    b"PK\x03\x04",
    b"%PDF-",
    _OLE_MAGIC,
    b"GIF8",
    b"\x89PNG",
    b"\xff\xd8\xff",
    b"\x1f\x8b",
    b"Rar!",
    b"7z\xbc\xaf",
)


def looks_binary(data: bytes) -> bool:
    """Whether bytes declared as text are a file: a NUL near the start (without a UTF-16/32
    byte order mark) or the signature of a binary format.

    >>> looks_binary("本文".encode()), looks_binary(b"PK\\x03\\x04..."), looks_binary(b"a\\x00b")
    (False, True, True)
    """
    head = data[:SNIFF_BYTES].lstrip(b"\r\n\t ")
    return head.startswith(_BINARY_MAGIC) or not _is_text(head)
