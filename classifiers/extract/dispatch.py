"""Route a blob to its extractors: by its sniffed content, and also by what it claims to be.

The content decides how a blob is read first. When the file name's extension or the declared
content type claim another kind (``list.csv``, ``text/csv``, content a GIF), the blob is also
read as each kind claimed, since a recipient's program may open it so; and a zip directory at
the end of a blob that is not a zip (a picture or PDF with an archive appended) is read as a
zip too. The disagreement is reported on the part (``Part.type_mismatch``): a renamed or
disguised file is a signal the policy can act on. A reading that the content does not support
(a real picture read as CSV finds nothing; a text read as a PDF fails) is not reported as damage:
the content was read as what it is.
"""

from __future__ import annotations

from classifiers.extract import archive, mime, office, pdf, text
from classifiers.extract.context import Context, Where
from classifiers.extract.sniff import Sniffed, disagreements, sniff, zip_inside
from classifiers.model import Part

_MEDIA = frozenset({"image", "audio", "video"})
_TEXT_KINDS = frozenset({"text", "csv", "json", "xml", "html"})
_MIME_OF = {
    "text": "text/plain",
    "csv": "text/csv",
    "json": "application/json",
    "xml": "application/xml",
    "html": "text/html",
    "pdf": "application/pdf",
    "zip": "application/zip",
    "message": "message/rfc822",
    "ole": "application/x-ole-storage",
}


def dispatch(
    ctx: Context,
    data: bytes,
    where: Where,
    truncated: tuple[str, ...] = (),
    *,
    sniffed: Sniffed | None = None,
) -> None:
    """Extract ``data`` found at ``where``; ``truncated`` are reasons already known for it;
    ``sniffed`` is what :func:`sniff` says of ``data``, when the caller asked it already."""
    if ctx.stopped:
        ctx.stop_marker(where)
        return
    if any(data is blob or (len(data) == len(blob) and data == blob) for blob in ctx.reading):
        return  # the same bytes, already being read (a file read as a message holds itself)
    ctx.reading.append(data)
    try:
        _dispatch(ctx, data, where, truncated, sniff(data) if sniffed is None else sniffed)
    finally:
        ctx.reading.pop()


def _dispatch(ctx: Context, data: bytes, where: Where, truncated: tuple[str, ...], sniffed: Sniffed) -> None:
    labels, also = disagreements(sniffed, where.filename, where.declared)
    appended = sniffed.kind not in ("zip", "docx", "xlsx", "pptx", "empty") and zip_inside(data)
    if appended:
        labels = (*labels, "zip archive appended")
        also = (*also, "zip") if "zip" not in also else also
    with ctx.mismatch(where, labels, sniffed.mime):
        _extract_as(ctx, data, where, sniffed.kind, sniffed, truncated)
    for kind in also:
        if ctx.stopped:
            ctx.stop_marker(where)
            return
        with ctx.lenient():
            _extract_as(ctx, data, where, kind, Sniffed(kind, _MIME_OF.get(kind, sniffed.mime)), truncated)


def _extract_as(
    ctx: Context, data: bytes, where: Where, kind: str, sniffed: Sniffed, truncated: tuple[str, ...]
) -> None:
    if kind == "zip":
        archive.extract_zip(ctx, data, where, truncated)
    elif kind in ("docx", "xlsx", "pptx"):
        office.extract_ooxml(ctx, data, where, kind, truncated)
    elif kind == "ole":
        office.extract_ole(ctx, data, where, truncated)
    elif kind == "pdf":
        pdf.extract_pdf(ctx, data, where, truncated)
    elif kind == "message":
        mime.extract_nested(ctx, data, where, truncated)
    elif kind in _TEXT_KINDS:
        text.extract_text(ctx, data, where, kind, charset=where.charset, truncated=truncated)
    else:
        # Pictures, sound and video carry no text we read (no OCR): listed, not flagged, or
        # every mail with a logo would count as "not fully inspected". Other binaries are.
        media = sniffed.mime.split("/", 1)[0] in _MEDIA
        reasons = truncated if kind == "empty" or media else (*truncated, "unsupported")
        ctx.add(
            Part(
                location=where.location,
                text="",
                kind=where.kind,
                content_type=sniffed.mime,
                filename=where.filename,
                size=len(data),
                truncated=tuple(dict.fromkeys(reasons)),
            )
        )
