"""PDF text with pdfminer.six, page by page under the deadline and the page limit.

Locations: one part ``<file>`` with a segment per page ``<file>!p<n>``; the document information
(Title, Subject, Keywords, Author, Creator, Producer) as ``<file>!properties`` (kind
``metadata``), one ``name: value`` line each. A PDF that needs a password is reported with
``encrypted=True``.
"""

from __future__ import annotations

import io
import logging
from typing import Any

from pdfminer.converter import TextConverter
from pdfminer.layout import LAParams
from pdfminer.pdfdocument import PDFDocument, PDFEncryptionError, PDFPasswordIncorrect
from pdfminer.pdfinterp import PDFPageInterpreter, PDFResourceManager
from pdfminer.pdfpage import PDFPage
from pdfminer.pdfparser import PDFParser
from pdfminer.pdftypes import resolve1
from pdfminer.psparser import PSLiteral
from pdfminer.utils import decode_text

from classifiers.extract.context import Context, TextSink, Where
from classifiers.model import Part

_INFO_KEYS = ("Title", "Subject", "Keywords", "Author", "Creator", "Producer")

# pdfminer logs every oddity of a hostile file at WARNING; errors are reported through the Part.
logging.getLogger("pdfminer").setLevel(logging.ERROR)


def _info_value(value: Any) -> str:
    value = resolve1(value)
    if isinstance(value, bytes):
        return decode_text(value).strip()
    if isinstance(value, PSLiteral):
        return str(value.name)
    if isinstance(value, str):
        return value.strip()
    return ""


def extract_pdf(ctx: Context, data: bytes, where: Where, truncated: tuple[str, ...] = ()) -> None:
    reasons = list(truncated)
    sink = TextSink(ctx.text_left)
    encrypted = False
    info_lines: list[str] = []
    try:
        parser = PDFParser(io.BytesIO(data))
        doc = PDFDocument(parser, password="")
        for info in doc.info:
            for key in _INFO_KEYS:
                if key in info:
                    value = _info_value(info[key])
                    if value:
                        info_lines.append(f"{key.lower()}: {value}")
        _pages(ctx, doc, where, sink, reasons)
    except (PDFPasswordIncorrect, PDFEncryptionError) as exc:
        encrypted = True
        ctx.error(where.location, f"encrypted PDF ({type(exc).__name__})")
    except Exception as exc:  # pdfminer raises many types (PSEOF, PDFSyntaxError, KeyError...) on damage
        reasons.append("corrupt")
        ctx.error(where.location, f"corrupt PDF ({type(exc).__name__})")
    if sink.truncated:
        reasons.append("text_bytes")
    ctx.add(
        Part(
            location=where.location,
            text=sink.text(),
            kind=where.kind,
            content_type="application/pdf",
            filename=where.filename,
            size=len(data),
            truncated=tuple(dict.fromkeys(reasons)),
            encrypted=encrypted,
            segments=tuple(sink.segments),
        )
    )
    if info_lines and not ctx.stopped:
        ctx.add(
            Part(
                location=f"{where.location}!properties",
                text="\n".join(info_lines) + "\n",
                kind="metadata",
                filename=where.filename,
                size=sum(len(line) for line in info_lines),
            )
        )


def _pages(ctx: Context, doc: PDFDocument, where: Where, sink: TextSink, reasons: list[str]) -> None:
    rsrc = PDFResourceManager(caching=True)
    out = io.StringIO()
    device = TextConverter(rsrc, out, laparams=LAParams())
    interpreter = PDFPageInterpreter(rsrc, device)
    n = 0
    try:
        for n, page in enumerate(PDFPage.create_pages(doc), 1):
            if n > ctx.limits.max_pdf_pages:
                reasons.append("pdf_pages")
                ctx.error(
                    where.location, f"more than {ctx.limits.max_pdf_pages} pages; the rest was not read"
                )
                break
            if ctx.out_of_time():
                reasons.append("time")
                break
            out.seek(0)
            out.truncate()
            interpreter.process_page(page)
            sink.mark(f"{where.location}!p{n}")
            sink.write(out.getvalue())
            if sink.full:
                break
    finally:
        device.close()
    if n == 0:
        reasons.append("corrupt")
        ctx.error(where.location, "corrupt PDF (no pages found)")
