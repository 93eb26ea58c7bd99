"""PDF text with pdfminer.six, under budgets that hold inside pdfminer's own work.

A page is read under a budget of its own: decompressed stream bytes (content streams, forms
and fonts it loads: ``Limits.max_pdf_stream_bytes``), content-stream tokens
(``max_pdf_operators``), glyphs shown (``max_pdf_page_chars``) and the deadline, checked at
every token. The document's structure (object streams, outlines, annotations, forms, attached
files) is read under a budget of its own too. A page cut short keeps the text it showed
until then. The budget reaches inside pdfminer at two seams: its decoders are replaced by
bounded ones (a 1 GiB stream of spaces is never inflated past the budget, a damaged stream
keeps what inflated before the damage), and its content parser counts what it reads.

Besides the pages, everything a reader shows is read: annotations (comments, sticky notes,
free text) after their page, form field values, bookmark titles, the document information and
its XMP metadata, and attached files (a PDF portfolio, file attachment annotations), which are
read like the members of an archive.

Locations: one part ``<file>`` with segments ``<file>!p<n>`` per page, ``<file>!p<n>!annotations``,
``<file>!form`` and ``<file>!outline``; the document information (Title, Subject, Keywords,
Author, Creator, Producer and XMP text) as ``<file>!properties`` (kind ``metadata``); attached
files as ``<file>/<name>``. A PDF that needs a password is reported with ``encrypted=True``.
"""

from __future__ import annotations

import contextvars
import io
import logging
import zlib
from collections.abc import Iterator
from typing import Any

import pdfminer.cmapdb
import pdfminer.converter
import pdfminer.encodingdb
import pdfminer.pdfdocument
import pdfminer.pdffont
import pdfminer.pdfinterp
import pdfminer.pdfpage
import pdfminer.pdfparser
import pdfminer.pdftypes
import pdfminer.psparser
from pdfminer.ccitt import ccittfaxdecode
from pdfminer.converter import TextConverter
from pdfminer.layout import LAParams
from pdfminer.lzw import LZWDecoder
from pdfminer.pdfcolor import PDFColorSpace
from pdfminer.pdfdocument import PDFDocument, PDFEncryptionError, PDFPasswordIncorrect
from pdfminer.pdffont import PDFFont
from pdfminer.pdfinterp import PDFGraphicState, PDFPageInterpreter, PDFResourceManager
from pdfminer.pdfpage import PDFPage
from pdfminer.pdfparser import PDFParser
from pdfminer.pdftypes import PDFObjRef, PDFStream, resolve1
from pdfminer.psparser import PSLiteral
from pdfminer.utils import Matrix, decode_text

from classifiers.extract.context import Context, TextSink, Where
from classifiers.extract.structured import xml_to_text
from classifiers.limits import Deadline, Limits
from classifiers.model import Part

_INFO_KEYS = ("Title", "Subject", "Keywords", "Author", "Creator", "Producer")
#: Annotation entries a reader shows: the text, the author, the subject, rich text.
_ANNOT_KEYS = ("Contents", "T", "Subj", "RC")
#: Form field entries a reader shows: the value, the tooltip.
_FIELD_KEYS = ("V", "TU")
#: Upper bounds on the objects walked in the document's own structure (hostile trees).
MAX_NODES = 20_000
#: Above this many glyphs on a page, text boxes are ordered by position instead of grouped
#: (pdfminer's grouping compares every pair of boxes).
LAYOUT_GROUPING_MAX = 20_000
_CHUNK = 64 * 1024

# pdfminer logs every oddity of a hostile file at WARNING; errors are reported through the Part.
logging.getLogger("pdfminer").setLevel(logging.ERROR)


class _Log:
    """A pdfminer module's logger whose ``debug`` does nothing at once. pdfminer logs at DEBUG
    for every token and every glyph (``debug`` then ``isEnabledFor``: two Python calls each,
    about 1% of a text PDF's scan), at a level the line above keeps from ever showing."""

    __slots__ = ("_logger", "debug")

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger
        self.debug = "".format  # takes any arguments and returns "": one C call, no frame

    def __getattr__(self, name: str) -> Any:
        return getattr(self._logger, name)


for _module in (
    pdfminer.cmapdb,
    pdfminer.converter,
    pdfminer.encodingdb,
    pdfminer.pdfdocument,
    pdfminer.pdffont,
    pdfminer.pdfinterp,
    pdfminer.pdfpage,
    pdfminer.pdfparser,
    pdfminer.psparser,
):
    _logger = vars(_module).get("log")
    if isinstance(_logger, logging.Logger):
        vars(_module)["log"] = _Log(_logger)


class _Tripped(Exception):
    """A page or the document reached one of its budgets (``reason`` names it)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Budget:
    """What one page (or the document's structure) may still cost."""

    __slots__ = ("deadline", "glyphs", "start", "stream_bytes", "tokens", "tripped")

    def __init__(self, limits: Limits, deadline: Deadline, stream_bytes: int) -> None:
        self.deadline = deadline
        self.stream_bytes = self.start = stream_bytes
        self.tokens = limits.max_pdf_operators
        self.glyphs = limits.max_pdf_page_chars
        self.tripped: str | None = None

    def trip(self, reason: str) -> None:
        if self.tripped is None:
            self.tripped = reason

    def token(self) -> None:
        self.tokens -= 1
        self.check_tokens()

    def check_tokens(self) -> None:
        """After a token was counted: out of tokens, or (every 1024th token) out of time."""
        if self.tokens < 0:
            self.trip("pdf_operators")
            raise _Tripped("pdf_operators")
        if not self.tokens & 0x3FF and self.deadline.expired:
            self.trip("time")
            raise _Tripped("time")

    def glyph(self) -> None:
        self.glyphs -= 1
        if self.glyphs < 0:
            self.out_of_glyphs()

    def out_of_glyphs(self) -> None:
        self.trip("pdf_operators")
        raise _Tripped("pdf_operators")


_BUDGET: contextvars.ContextVar[Budget | None] = contextvars.ContextVar("pdf_budget", default=None)


# --- bounded decoders, put in place of pdfminer's -----------------------------------------------
def _inflate(data: bytes) -> bytes:
    """zlib inflate within the budget; a damaged stream keeps what inflated before the damage
    (pdfminer's own recovery reads one byte at a time and grows its output quadratically)."""
    budget = _BUDGET.get()
    room = budget.stream_bytes if budget is not None else 1 << 62
    d = zlib.decompressobj()
    out = bytearray()
    for start in range(0, len(data), _CHUNK):
        try:
            out += d.decompress(data[start : start + _CHUNK], room - len(out) + 1)
        except zlib.error:
            break
        if len(out) > room:
            del out[room:]
            if budget is not None:
                budget.trip("pdf_stream_bytes")
            break
        if d.eof:
            break
    return _spend(bytes(out))


def _spend(data: bytes) -> bytes:
    budget = _BUDGET.get()
    if budget is not None:
        budget.stream_bytes -= len(data)
    return data


def _room() -> int:
    budget = _BUDGET.get()
    return budget.stream_bytes if budget is not None else 1 << 62


def _over(data: bytearray, room: int) -> bool:
    if len(data) <= room:
        return False
    del data[room:]
    budget = _BUDGET.get()
    if budget is not None:
        budget.trip("pdf_stream_bytes")
    return True


def _lzw(data: bytes) -> bytes:
    room = _room()
    out = bytearray()
    for piece in LZWDecoder(io.BytesIO(data)).run():
        out += piece
        if _over(out, room):
            break
    return _spend(bytes(out))


def _run_length(data: bytes) -> bytes:
    """RunLengthDecode (PDF 32000-1:2008 s 7.4.5): a length byte 0-127 copies that many + 1
    bytes, 129-255 repeats the next byte 257 - length times, 128 ends the data."""
    room = _room()
    out = bytearray()
    i = 0
    while i < len(data):
        length = data[i]
        if length == 128:
            break
        if length < 128:
            out += data[i + 1 : i + 2 + length]
            i += 2 + length
        else:
            out += data[i + 1 : i + 2] * (257 - length)
            i += 2
        if _over(out, room):
            break
    return _spend(bytes(out))


def _ccitt_bounded(data: bytes, params: dict[str, object]) -> bytes:
    columns = resolve1(params.get("Columns", 1728)) if isinstance(params, dict) else 1728
    rows = resolve1(params.get("Rows", 0)) if isinstance(params, dict) else 0
    if (
        not isinstance(columns, int)
        or not isinstance(rows, int)
        or not 0 < columns * max(rows, 1) // 8 <= _room()
    ):
        budget = _BUDGET.get()
        if budget is not None:
            budget.trip("pdf_stream_bytes")
        return b""  # a picture (fax) in any case: no text to read
    return _spend(ccittfaxdecode(data, params))


class _Zlib:
    """Stands in for the ``zlib`` module inside :mod:`pdfminer.pdftypes`."""

    error = zlib.error

    @staticmethod
    def decompress(data: bytes) -> bytes:
        return _inflate(data)

    @staticmethod
    def decompressobj() -> Any:
        return zlib.decompressobj()


#: pdfminer's decoders, by the names :mod:`pdfminer.pdftypes` calls them, and their bounded stand-ins.
_BOUNDED_DECODERS: dict[str, object] = {
    "zlib": _Zlib,
    "lzwdecode": _lzw,
    "rldecode": _run_length,
    "ccittfaxdecode": _ccitt_bounded,
}
for _name, _decoder in _BOUNDED_DECODERS.items():
    setattr(pdfminer.pdftypes, _name, _decoder)


class _ContentParser(pdfminer.pdfinterp.PDFContentParser):
    """pdfminer's content-stream parser, counting every token against the page's budget.

    A parser reads the streams of one page (or of a form on it), so it takes the page's budget
    once, when made; each token then costs a decrement and a test, not a call."""

    def __init__(self, streams: Any) -> None:
        self._budget = _BUDGET.get()
        super().__init__(streams)

    def nextobject(self) -> Any:
        budget = self._budget
        if budget is not None:
            budget.tokens -= 1
            if budget.tokens < 0 or not budget.tokens & 0x3FF:
                budget.check_tokens()
        return _NEXTOBJECT(self)


_NEXTOBJECT = pdfminer.pdfinterp.PDFContentParser.nextobject
_RENDER_CHAR = pdfminer.converter.PDFLayoutAnalyzer.render_char


pdfminer.pdfinterp.PDFContentParser = _ContentParser  # type: ignore[misc]


class _Device(TextConverter):
    """pdfminer's text converter, counting glyphs; a page with very many is laid out simply."""

    glyphs = 0
    #: The budget of the page being interpreted (set with ``_BUDGET`` by :func:`_pages`).
    budget: Budget | None = None

    def begin_page(self, page: PDFPage, ctm: Any) -> None:
        self.glyphs = 0
        super().begin_page(page, ctm)

    def render_char(
        self,
        matrix: Matrix,
        font: PDFFont,
        fontsize: float,
        scaling: float,
        rise: float,
        cid: int,
        ncs: PDFColorSpace,
        graphicstate: PDFGraphicState,
    ) -> float:
        """Count the glyph against the page's budget (held on the device, so no context
        variable is read per glyph), then let pdfminer place it."""
        budget = self.budget
        if budget is not None:
            budget.glyphs -= 1
            if budget.glyphs < 0:
                budget.out_of_glyphs()
        self.glyphs += 1
        return _RENDER_CHAR(self, matrix, font, fontsize, scaling, rise, cid, ncs, graphicstate)

    def end_page(self, page: PDFPage) -> None:
        laparams = self.laparams
        if laparams is not None and self.glyphs > LAYOUT_GROUPING_MAX:
            self.laparams = LAParams(boxes_flow=None)
        try:
            super().end_page(page)
        finally:
            self.laparams = laparams

    def finish_page(self, page: PDFPage) -> None:
        """End a page cut short (perhaps inside a form XObject): lay out and write what it showed."""
        while self._stack:
            self.end_figure("")
        self.end_page(page)


# --- extraction ---------------------------------------------------------------------------------
def _text_value(value: Any) -> str:
    value = resolve1(value)
    if isinstance(value, bytes):
        return decode_text(value).strip()
    if isinstance(value, PSLiteral):
        return str(value.name)
    if isinstance(value, str):
        return value.strip()
    return ""


def _info_value(value: Any) -> str:
    return _text_value(value)


def extract_pdf(ctx: Context, data: bytes, where: Where, truncated: tuple[str, ...] = ()) -> None:
    reasons = list(truncated)
    sink = TextSink(ctx.text_left)
    encrypted = False
    info_lines: list[str] = []
    attached: list[tuple[str, bytes, tuple[str, ...]]] = []
    limits = ctx.limits
    pool = _Pool(limits.max_pdf_document_stream_bytes)
    structure = pool.budget(limits, ctx.deadline)
    token = _BUDGET.set(structure)
    try:
        parser = PDFParser(io.BytesIO(data))
        doc = PDFDocument(parser, password="")
        for info in doc.info:
            for key in _INFO_KEYS:
                if key in info:
                    value = _info_value(info[key])
                    if value:
                        info_lines.append(f"{key.lower()}: {value}")
        _pages(ctx, doc, where, sink, reasons, pool)
        pool.spent(structure)
        structure = pool.budget(limits, ctx.deadline)
        _BUDGET.set(structure)
        _document(ctx, doc, where, sink, info_lines, attached)
    except (PDFPasswordIncorrect, PDFEncryptionError) as exc:
        encrypted = True
        ctx.error(where.location, f"encrypted PDF ({type(exc).__name__})")
    except _Tripped:
        pass  # the document's structure used up its budget: what was read stays
    except Exception as exc:  # pdfminer raises many types (PSEOF, PDFSyntaxError, KeyError...) on damage
        reasons.append("corrupt")
        ctx.error(where.location, f"corrupt PDF ({type(exc).__name__})")
    finally:
        _BUDGET.reset(token)
    if structure.tripped:
        reasons.append(structure.tripped)
        ctx.error(where.location, f"document structure cut short ({structure.tripped})")
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
    for name, content, cut in attached:
        child = where.child(f"{where.location}/{name}", name)
        if ctx.stopped:
            ctx.stop_marker(child)
            return
        if child.depth > limits.max_depth:
            ctx.add(
                Part(location=child.location, text="", kind=child.kind, filename=name, truncated=("depth",))
            )
            continue
        ctx.dispatch(ctx, content, child, cut)


class _Pool:
    """Decompressed stream bytes left for the whole file: each page's budget is drawn from it."""

    def __init__(self, size: int) -> None:
        self.left = size

    def budget(self, limits: Limits, deadline: Deadline) -> Budget:
        return Budget(limits, deadline, min(limits.max_pdf_stream_bytes, self.left))

    def spent(self, budget: Budget) -> None:
        self.left -= max(0, budget.start - budget.stream_bytes)


def _pages(
    ctx: Context, doc: PDFDocument, where: Where, sink: TextSink, reasons: list[str], pool: _Pool
) -> None:
    rsrc = PDFResourceManager(caching=True)
    out = io.StringIO()
    device = _Device(rsrc, out, laparams=LAParams())
    interpreter = PDFPageInterpreter(rsrc, device)
    limits = ctx.limits
    n = 0
    try:
        for n, page in enumerate(PDFPage.create_pages(doc), 1):
            if n > limits.max_pdf_pages:
                reasons.append("pdf_pages")
                ctx.error(where.location, f"more than {limits.max_pdf_pages} pages; the rest was not read")
                break
            if ctx.out_of_time():
                reasons.append("time")
                break
            out.seek(0)
            out.truncate()
            budget = pool.budget(limits, ctx.deadline)
            _BUDGET.set(budget)
            device.budget = budget
            _page(interpreter, device, page)
            pool.spent(budget)
            if budget.tripped:
                reasons.append(budget.tripped)
                ctx.error(
                    where.location, f"page {n} cut short ({budget.tripped}); its text until then was read"
                )
            sink.mark(f"{where.location}!p{n}")
            sink.write(out.getvalue())
            notes = _annotations(page)
            if notes:
                sink.mark(f"{where.location}!p{n}!annotations")
                sink.write("\n".join(notes) + "\n")
            if sink.full or budget.tripped == "time":
                break
    finally:
        device.close()
    if n == 0:
        reasons.append("corrupt")
        ctx.error(where.location, "corrupt PDF (no pages found)")


def _page(interpreter: PDFPageInterpreter, device: _Device, page: PDFPage) -> None:
    """Interpret one page under the current budget; a page cut short keeps what it showed."""
    try:
        interpreter.process_page(page)
    except _Tripped:
        _BUDGET.set(None)  # laying out what was shown is not interpreting any more
        device.budget = None
        device.finish_page(page)


def _annotations(page: PDFPage) -> list[str]:
    lines: list[str] = []
    for annot in _list(page.annots)[:MAX_NODES]:
        entry = resolve1(annot)
        if not isinstance(entry, dict):
            continue
        for key in _ANNOT_KEYS:
            text = _text_value(entry.get(key))
            if text:
                lines.append(text)
    return lines


def _list(value: Any) -> list[Any]:
    value = resolve1(value)
    return list(value) if isinstance(value, list | tuple) else []


def _dict(value: Any) -> dict[str, Any]:
    value = resolve1(value)
    return value if isinstance(value, dict) else {}


def _document(
    ctx: Context,
    doc: PDFDocument,
    where: Where,
    sink: TextSink,
    info_lines: list[str],
    attached: list[tuple[str, bytes, tuple[str, ...]]],
) -> None:
    """Form values, bookmarks, XMP metadata and attached files, from the catalog."""
    catalog = doc.catalog
    values = [
        text
        for field in _walk(_dict(catalog.get("AcroForm")).get("Fields"), "Kids")
        for text in _field(field)
    ]
    if values and not sink.full:
        sink.mark(f"{where.location}!form")
        sink.write("\n".join(values) + "\n")
    outline = _dict(catalog.get("Outlines"))
    titles = [_text_value(item.get("Title")) for item in _walk(outline.get("First"), "First", "Next")]
    titles = [t for t in titles if t]
    if titles and not sink.full:
        sink.mark(f"{where.location}!outline")
        sink.write("\n".join(titles) + "\n")
    metadata = resolve1(catalog.get("Metadata"))
    if isinstance(metadata, PDFStream):
        xmp = _stream_bytes(metadata)
        found = xml_to_text(xmp.decode("utf-8", "replace"), ctx.text_left, ctx.deadline)
        if found is not None and found[0].strip():
            info_lines.append("xmp: " + " ".join(found[0].split()))
    names = _dict(_dict(catalog.get("Names")).get("EmbeddedFiles"))
    specs = [spec for node in _walk(names, "Kids") for spec in _name_tree_values(node)]
    specs.extend(_file_annotations(doc, ctx.limits.max_pdf_pages))
    for n, spec in enumerate(specs[: ctx.limits.max_parts], 1):
        found_file = _embedded_file(ctx, spec, n)
        if found_file is not None:
            attached.append(found_file)


def _walk(start: Any, *links: str) -> Iterator[dict[str, Any]]:
    """Dictionaries reachable from ``start`` through ``links`` (each a reference, or an array
    of references), each once, at most :data:`MAX_NODES`."""
    seen: set[int] = set()
    todo: list[Any] = [start] if not isinstance(resolve1(start), list) else list(resolve1(start))
    count = 0
    while todo and count < MAX_NODES:
        ref = todo.pop()
        if isinstance(ref, PDFObjRef):
            if ref.objid in seen:
                continue
            seen.add(ref.objid)
        node = resolve1(ref)
        if not isinstance(node, dict):
            continue
        count += 1
        yield node
        for link in links:
            nxt = node.get(link)
            if isinstance(resolve1(nxt), list):
                todo.extend(reversed(resolve1(nxt)))
            elif nxt is not None:
                todo.append(nxt)


def _field(node: dict[str, Any]) -> list[str]:
    return [text for key in _FIELD_KEYS if (text := _text_value(node.get(key)))]


def _name_tree_values(node: dict[str, Any]) -> list[Any]:
    pairs = _list(node.get("Names"))
    return [pairs[i + 1] for i in range(0, len(pairs) - 1, 2)]


def _file_annotations(doc: PDFDocument, pages: int) -> list[Any]:
    out: list[Any] = []
    for n, page in enumerate(PDFPage.create_pages(doc), 1):
        if n > pages:
            break
        for annot in _list(page.annots):
            entry = _dict(annot)
            if entry.get("FS") is not None:
                out.append(entry.get("FS"))
    return out


def _embedded_file(ctx: Context, spec: Any, n: int) -> tuple[str, bytes, tuple[str, ...]] | None:
    spec = _dict(spec)
    files = _dict(spec.get("EF"))
    stream = resolve1(files.get("UF") or files.get("F"))
    if not isinstance(stream, PDFStream):
        return None
    name = _text_value(spec.get("UF")) or _text_value(spec.get("F")) or f"attachment[{n}]"
    name = name.replace("\\", "/").rsplit("/", 1)[-1] or f"attachment[{n}]"
    data = _stream_bytes(stream)
    cut: tuple[str, ...] = ()
    if len(data) > ctx.limits.max_member_bytes:
        data, cut = data[: ctx.limits.max_member_bytes], ("member_bytes",)
    return name, data, cut


def _stream_bytes(stream: PDFStream) -> bytes:
    try:
        return stream.get_data()
    except _Tripped:
        raise
    except Exception:  # damaged or unsupported filter
        return b""


__all__ = ["Budget", "extract_pdf"]
