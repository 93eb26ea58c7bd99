"""Route a blob to its extractor by sniffed content type (never by name or declared type)."""

from __future__ import annotations

from classifiers.extract import archive, mime, office, pdf, text
from classifiers.extract.context import Context, Where
from classifiers.extract.sniff import sniff
from classifiers.model import Part

_MEDIA = frozenset({"image", "audio", "video"})


def dispatch(ctx: Context, data: bytes, where: Where, truncated: tuple[str, ...] = ()) -> None:
    """Extract ``data`` found at ``where``; ``truncated`` are reasons already known for it."""
    if ctx.stopped:
        ctx.stop_marker(where)
        return
    kind = sniff(data)
    if kind.kind == "zip":
        archive.extract_zip(ctx, data, where, truncated)
    elif kind.kind in ("docx", "xlsx", "pptx"):
        office.extract_ooxml(ctx, data, where, kind.kind, truncated)
    elif kind.kind == "ole":
        office.extract_ole(ctx, data, where, truncated)
    elif kind.kind == "pdf":
        pdf.extract_pdf(ctx, data, where, truncated)
    elif kind.kind == "message":
        mime.extract_nested(ctx, data, where, truncated)
    elif kind.kind in ("text", "csv", "json", "xml", "html"):
        text.extract_text(ctx, data, where, kind.kind, charset=where.charset, truncated=truncated)
    else:
        # Pictures, sound and video carry no text we read (no OCR): listed, not flagged, or
        # every mail with a logo would count as "not fully inspected". Other binaries are.
        media = kind.mime.split("/", 1)[0] in _MEDIA
        reasons = truncated if kind.kind == "empty" or media else (*truncated, "unsupported")
        ctx.add(
            Part(
                location=where.location,
                text="",
                kind=where.kind,
                content_type=kind.mime,
                filename=where.filename,
                size=len(data),
                truncated=tuple(dict.fromkeys(reasons)),
            )
        )
