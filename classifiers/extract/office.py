"""Office Open XML (docx, xlsx, pptx) read from the zip parts with defusedxml, plus OLE files.

Locations (``<file>`` is the file's own location):

- docx: one part ``<file>`` with segments ``<file>`` (body and text boxes), ``<file>!header``,
  ``<file>!footer``, ``<file>!footnotes``, ``<file>!endnotes``, ``<file>!comments``;
- xlsx: one part per sheet ``<file>!<sheet name>`` with a segment per cell ``<file>!<sheet>!C12``;
- pptx: one part ``<file>`` with segments ``<file>!slide<n>`` and ``<file>!slide<n>!notes``;
- document properties: ``<file>!properties`` (kind ``metadata``), one ``name: value`` line per
  property; a Microsoft sensitivity label (``MSIP_Label_<guid>_Name`` in docProps/custom.xml)
  adds the line ``sensitivity-label: <Name>``;
- every other part with text (comments of a sheet, charts, SmartArt, slide masters, pivot
  caches, external link caches, custom XML): ``<file>!other`` with a segment
  ``<file>!<part name>`` each; embedded files (a workbook in a document, OLE objects, macros):
  ``<file>/<part name>``, read like archive members.

Elements are matched by local name, so Transitional and Strict OOXML read the same; the
``mc:Fallback`` copy of a text box is skipped (its ``mc:Choice`` twin is read).
"""

from __future__ import annotations

import io
import posixpath
import zipfile
import zlib
from collections.abc import Iterator
from typing import Any

import olefile
import regex
from defusedxml import ElementTree

from classifiers.extract.archive import MemberError, is_folder, read_member
from classifiers.extract.context import Context, TextSink, Where
from classifiers.extract.sniff import sniff, zip_inside
from classifiers.model import Part

_CT_DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
_CT_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_CT_PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
_WORD_STORIES = (  # content-type suffix -> segment label, in reading order after the body
    ("wordprocessingml.header+xml", "header"),
    ("wordprocessingml.footer+xml", "footer"),
    ("wordprocessingml.footnotes+xml", "footnotes"),
    ("wordprocessingml.endnotes+xml", "endnotes"),
    ("wordprocessingml.comments+xml", "comments"),
)
_PROPS = {
    "application/vnd.openxmlformats-package.core-properties+xml": "docProps/core.xml",
    "application/vnd.openxmlformats-officedocument.extended-properties+xml": "docProps/app.xml",
    "application/vnd.openxmlformats-officedocument.custom-properties+xml": "docProps/custom.xml",
}
_MSIP_NAME = regex.compile(r"^MSIP_Label_[0-9A-Fa-f-]{36}_Name$")
_COLUMN = regex.compile(r"^([A-Z]+)(\d+)$")
_REL_EXTERNAL = "External"


class OfficeError(Exception):
    """A part of the package is unreadable; ``reason`` is a truncation reason."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


class _Package:
    """Bounded access to the parts of one OOXML zip."""

    def __init__(self, ctx: Context, zf: zipfile.ZipFile, where: Where) -> None:
        self.ctx = ctx
        self.zf = zf
        self.where = where
        self.reasons: list[str] = []
        self.names = {i.filename: i for i in zf.infolist()}
        self.consumed: set[str] = set()  # parts read by a structured reader
        self.size = 0  # the package's own size, set by the caller
        self.types: dict[str, str] = {}
        self.defaults: dict[str, str] = {}
        for el in self.parse("[Content_Types].xml"):
            name = el.get("PartName")
            if name and el.get("ContentType"):
                self.types[name.lstrip("/")] = el.get("ContentType", "")
            ext = el.get("Extension")
            if ext and el.get("ContentType"):
                self.defaults[ext.lower()] = el.get("ContentType", "")

    def read(self, name: str) -> bytes | None:
        info = self.names.get(name)
        if info is None:
            return None
        self.consumed.add(name)
        try:
            data, reasons = read_member(self.zf, info, self.ctx.limits, self.ctx)
        except MemberError as exc:
            self.fail(exc.reason, f"{name}: {exc}")
            return None
        for r in reasons:
            self.fail(r, f"{name}: larger than {self.ctx.limits.max_member_bytes} bytes")
        return data

    def timed_out(self) -> bool:
        """Whether the deadline passed (then the part being built is marked ``time``)."""
        if self.ctx.out_of_time():
            if "time" not in self.reasons:
                self.reasons.append("time")
            return True
        return False

    def fail(self, reason: str, detail: str) -> None:
        if reason not in self.reasons:
            self.reasons.append(reason)
        self.ctx.error(self.where.location, detail)

    def parse(self, name: str) -> list[Any]:
        """The root's children of a small part (content types, relationships, workbook, props)."""
        data = self.read(name)
        if data is None:
            return []
        try:
            return list(ElementTree.fromstring(data))
        except Exception as exc:  # malformed XML or a forbidden DTD/entity
            self.fail("corrupt", f"{name}: {type(exc).__name__}")
            return []

    def iterparse(self, name: str) -> Iterator[tuple[str, Any]]:
        """Streaming events over a possibly large part; stops quietly on malformed XML."""
        data = self.read(name)
        if data is None:
            return
        try:
            yield from ElementTree.iterparse(io.BytesIO(data), events=("start", "end"))
        except Exception as exc:  # malformed XML or a forbidden DTD/entity
            self.fail("corrupt", f"{name}: {type(exc).__name__}")

    def content_type(self, name: str) -> str:
        """A part's content type: its override, else the default for its extension."""
        return self.types.get(name) or self.defaults.get(name.rsplit(".", 1)[-1].lower(), "")

    def parts_of(self, suffix: str) -> list[str]:
        return sorted((n for n, t in self.types.items() if t.endswith(suffix)), key=_natural)

    def rels(self, name: str) -> dict[str, tuple[str, str, bool]]:
        """rId -> (target part or URL, relationship type, external) for a part."""
        folder, base = posixpath.split(name)
        out: dict[str, tuple[str, str, bool]] = {}
        for el in self.parse(posixpath.join(folder, "_rels", base + ".rels")):
            rid, target = el.get("Id"), el.get("Target")
            if not rid or not target:
                continue
            external = el.get("TargetMode") == _REL_EXTERNAL
            if not external:
                target = posixpath.normpath(posixpath.join("/" + folder, target)).lstrip("/")
            out[rid] = (target, el.get("Type", ""), external)
        return out


def _natural(name: str) -> tuple[str, int]:
    m = regex.search(r"(\d+)\.xml$", name)
    return (regex.sub(r"\d+\.xml$", "", name), int(m.group(1)) if m else 0)


#: Marks a cell boundary inside a buffered table row; XML text cannot hold it.
_CELL_MARK = "\x1f"


class _Row:
    """An open table row: its text so far (cells split by ``_CELL_MARK``), cells, nesting."""

    __slots__ = ("cells", "nested", "parts", "size")

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.cells = 0
        self.nested = False

    def text(self) -> str:
        """One line of tab-separated cells for a data row (two cells or more); a one-cell row
        or one holding a table is page layout and keeps its lines."""
        text = "".join(self.parts)
        if self.cells < 2 or self.nested:
            return text.replace(_CELL_MARK, "\n").strip("\n") + "\n"
        cells = text.split(_CELL_MARK)
        return "\t".join(" ".join(c.replace("\t", " ").split("\n")).strip(" ") for c in cells) + "\n"


def _write_story(pkg: _Package, name: str, sink: TextSink) -> None:
    """Text of a WordprocessingML or DrawingML part: runs, tabs, breaks, paragraphs.

    A table row (``w:tr``/``a:tr``) of two cells or more becomes one line with its cells
    (``w:tc``/``a:tc``) split by tabs and the lines of a cell joined by spaces, as spreadsheet
    rows are: the detectors read a column's meaning from the header row.
    """
    skip = 0
    rows: list[_Row] = []  # open rows, innermost last; their text is buffered up to the cap

    def write(text: str) -> None:
        if not rows:
            sink.write(text)
        elif rows[-1].size < sink.cap - len(sink):
            rows[-1].parts.append(text)
            rows[-1].size += len(text)

    for event, el in pkg.iterparse(name):
        tag = _local(el.tag)
        if tag in ("Fallback", "rPh"):
            skip += 1 if event == "start" else -1
            continue
        if skip:
            continue
        if event == "start":
            if tag == "tr":
                rows.append(_Row())
            elif tag == "tc" and rows:
                if rows[-1].cells:
                    write(_CELL_MARK)
                rows[-1].cells += 1
            continue
        if tag in ("t", "delText"):
            write(el.text or "")
        elif tag == "instrText":  # a field code (Alt+F9 shows it): a HYPERLINK's target is only here
            write(f" {el.text or ''} ")
        elif tag == "tab":
            write("\t")
        elif tag in ("br", "cr", "p"):
            write("\n")
            if tag == "p":
                el.clear()
        elif tag == "tr" and rows:
            row = rows.pop()
            if rows:
                rows[-1].nested = True
            write(row.text())
        if sink.full or pkg.timed_out():
            break
    while rows:  # cut short inside a table (malformed part, deadline, cap): keep what was read
        row = rows.pop()
        write(row.text())
    if sink.full or pkg.timed_out():
        return
    for target, _type, external in pkg.rels(name).values():
        if external and target.lower().startswith(("http:", "https:", "mailto:", "file:", "\\\\")):
            sink.write(f"{target}\n")


def _docx(pkg: _Package, main: str, where: Where) -> None:
    sink = TextSink(pkg.ctx.text_left)
    sink.mark(where.location)
    _write_story(pkg, main, sink)
    for suffix, label in _WORD_STORIES:
        for name in pkg.parts_of(suffix):
            sink.mark(f"{where.location}!{label}")
            _write_story(pkg, name, sink)
    _add(pkg, where, sink, _CT_DOCX)


def _pptx(pkg: _Package, main: str, where: Where) -> None:
    sink = TextSink(pkg.ctx.text_left)
    rels = pkg.rels(main)
    slides: list[str] = []
    for el in pkg.parse(main):
        if _local(el.tag) == "sldIdLst":
            for sld in el:
                rid = next(
                    (v for k, v in sld.attrib.items() if _local(k) == "id" and k.startswith("{")), None
                )
                if rid in rels:
                    slides.append(rels[rid][0])
    if not slides:
        slides = pkg.parts_of("presentationml.slide+xml")
    for n, slide in enumerate(slides, 1):
        if pkg.timed_out():
            break
        sink.mark(f"{where.location}!slide{n}")
        _write_story(pkg, slide, sink)
        for target, rtype, external in pkg.rels(slide).values():
            if not external and rtype.endswith("/notesSlide"):
                sink.mark(f"{where.location}!slide{n}!notes")
                _write_story(pkg, target, sink)
    _add(pkg, where, sink, _CT_PPTX)


def _shared_strings(pkg: _Package, cap: int) -> list[str]:
    names = pkg.parts_of("spreadsheetml.sharedStrings+xml")
    out: list[str] = []
    size = 0
    if not names:
        return out
    buf: list[str] = []
    skip = 0
    for event, el in pkg.iterparse(names[0]):
        tag = _local(el.tag)
        if tag == "rPh":
            skip += 1 if event == "start" else -1
        elif event == "end" and tag == "t" and not skip:
            buf.append(el.text or "")
        elif event == "end" and tag == "si":
            s = "".join(buf)
            out.append(s)
            size += len(s)
            buf.clear()
            el.clear()
            if size > cap:
                pkg.fail("text_bytes", "shared strings exceed the text limit")
                break
            if not len(out) & 0x3FF and pkg.timed_out():
                break
    return out


def _column_ref(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


#: Empty columns written as tabs between two cells of a row, at most (a cell at XFD1 after A1
#: must not cost 16,000 tabs).
_MAX_GAP = 64


def _column_index(letters: str) -> int:
    """``A`` -> 0, ``Z`` -> 25, ``AA`` -> 26."""
    index = 0
    for ch in letters:
        index = index * 26 + ord(ch) - 64
    return index - 1


def _xlsx(pkg: _Package, main: str, where: Where) -> None:
    ctx = pkg.ctx
    rels = pkg.rels(main)
    sheets: list[tuple[str, str]] = []
    for el in pkg.parse(main):
        if _local(el.tag) == "sheets":
            for sh in el:
                rid = next((v for k, v in sh.attrib.items() if _local(k) == "id" and k.startswith("{")), None)
                if rid in rels:
                    sheets.append((sh.get("name") or rels[rid][0], rels[rid][0]))
    strings = _shared_strings(pkg, ctx.text_left)
    head_reasons = list(pkg.reasons)
    for sheet_name, part in sheets:
        loc = f"{where.location}!{sheet_name}"
        if ctx.stopped:
            ctx.stop_marker(Where(loc, where.kind, where.depth, where.filename))
            break
        pkg.reasons = list(head_reasons)
        sink = TextSink(ctx.text_left)
        _write_sheet(pkg, part, loc, strings, sink)
        _add(pkg, Where(loc, where.kind, where.depth, where.filename), sink, _CT_XLSX)


#: Formulas, headers and footers kept per sheet (written after its rows).
_MAX_EXTRAS = 10_000
_HEADER_FOOTER = frozenset(
    {"oddHeader", "oddFooter", "evenHeader", "evenFooter", "firstHeader", "firstFooter"}
)


def _write_sheet(pkg: _Package, part: str, loc: str, strings: list[str], sink: TextSink) -> None:
    ref = ""
    ctype = ""
    value: list[str] = []
    extras: list[tuple[str, str]] = []  # formulas, headers and footers
    col = 0
    row = 0
    column: regex.Match[str] | None = None  # the cell reference's column letters and row
    written = 0  # tab-separated fields written on the current row
    skip = 0
    for event, el in pkg.iterparse(part):
        tag = _local(el.tag)
        if tag == "rPh":
            skip += 1 if event == "start" else -1
            continue
        if skip:
            continue
        if event == "start":
            if tag == "row":
                row = int(el.get("r") or row + 1) if (el.get("r") or "").isdigit() else row + 1
                col = 0
                written = 0
            elif tag == "c":
                ref = el.get("r") or f"{_column_ref(col)}{row}"
                column = _COLUMN.match(ref)
                if column:
                    row = int(column.group(2))
                ctype = el.get("t") or "n"
                value.clear()
            continue
        if tag in ("v", "t") and el.text:
            value.append(el.text)
        elif tag == "f" and el.text and len(extras) < _MAX_EXTRAS:  # shown in the formula bar
            extras.append((f"{loc}!{ref}!formula", el.text))
        elif tag in _HEADER_FOOTER and el.text and len(extras) < _MAX_EXTRAS:  # printed on every page
            extras.append((f"{loc}!{tag}", el.text))
        elif tag == "c":
            col += 1
            text = "".join(value)
            if ctype == "s":
                idx = int(text) if text.isdigit() else -1
                text = strings[idx] if 0 <= idx < len(strings) else ""
            elif ctype == "b":
                text = "TRUE" if text == "1" else "FALSE"
            if text:
                # Empty cells keep their column: a row's n-th tab-separated field is column n
                # (counted from the first column written), so a header row names every cell.
                index = _column_index(column.group(1)) if column else col - 1
                if index > written:
                    sink.write("\t" * min(index - written, _MAX_GAP))
                    written = index
                sink.mark(f"{loc}!{ref}")
                sink.write(text.replace("\t", " ").replace("\n", " "))
                sink.write("\t")
                written += 1
            el.clear()
        elif tag == "row":
            sink.write("\n")
            el.clear()
            if sink.full or pkg.timed_out():
                break
    for where, text in extras:  # after the rows, so that each row stays one line
        sink.mark(where)
        sink.write(text + "\n")


def _add(pkg: _Package, where: Where, sink: TextSink, content_type: str) -> None:
    reasons = list(pkg.reasons)
    if sink.truncated:
        reasons.append("text_bytes")
    pkg.ctx.add(
        Part(
            location=where.location,
            text=sink.text(),
            kind=where.kind,
            content_type=content_type,
            filename=where.filename,
            size=pkg.size,
            truncated=tuple(dict.fromkeys(reasons)),
            segments=tuple(sink.segments),
        )
    )


def _properties(pkg: _Package, where: Where) -> None:
    lines: list[str] = []
    labels: list[str] = []
    paths = {ct: pkg.parts_of(ct) or [default] for ct, default in _PROPS.items()}
    for ct, names in paths.items():
        for name in names:
            if name not in pkg.names:
                continue
            for el in pkg.parse(name):
                if ct.endswith("custom-properties+xml"):
                    key = el.get("name") or ""
                    value = "".join("".join(child.itertext()) for child in el).strip()
                    if _MSIP_NAME.match(key) and value:
                        labels.append(value)
                        lines.append(f"sensitivity-label: {value}")
                else:
                    key = _local(el.tag)
                    value = (el.text or "").strip() if len(el) == 0 else ""
                if key and value:
                    lines.append(f"{key}: {value}")
    if lines:
        pkg.ctx.add(
            Part(
                location=f"{where.location}!properties",
                text="\n".join(lines) + "\n",
                kind="metadata",
                filename=where.filename,
                size=sum(len(line) for line in lines),
                fields=tuple(labels),
            )
        )


#: Package parts with no text of anyone's (formatting, settings, fonts, printer set-up).
_NO_TEXT = (
    "styles+xml", "stylesWithEffects+xml", "theme+xml", "themeOverride+xml", "settings+xml",
    "webSettings+xml", "fontTable+xml", "numbering+xml", "calcChain+xml", "presProps+xml",
    "viewProps+xml", "tableStyles+xml", "relationships+xml", "printerSettings", "obfuscatedFont",
    "font-ttf", "font-otf", "x-font", "customXmlProperties+xml", "core-properties+xml",
    "extended-properties+xml", "custom-properties+xml",
)  # fmt: skip
#: Attributes whose values are data people wrote (pivot cache values, connection strings and
#: queries, alternative text and titles of pictures and charts).
_DATA_ATTRIBUTES = frozenset({"v", "connection", "command", "descr", "title", "caption"})
_MEDIA_TYPES = ("image/", "audio/", "video/")


def _rest(pkg: _Package, where: Where, kind: str) -> None:
    """Every part no structured reader took: text in XML parts (comments, charts, SmartArt,
    slide masters, pivot caches, external link caches, custom XML...) as one more part
    ``<file>!other`` with a segment ``<file>!<part name>`` each; embedded files (an Excel sheet in a Word file, OLE objects, macros)
    read like archive members. Pictures are listed only when they hold more than a picture."""
    ctx = pkg.ctx
    sink = TextSink(ctx.text_left)
    embedded: list[str] = []
    for name, info in pkg.names.items():
        if name in pkg.consumed or is_folder(info) or name.endswith(".rels") or name == "[Content_Types].xml":
            continue
        ctype = pkg.content_type(name)
        if any(marker in ctype for marker in _NO_TEXT):
            continue
        if ctype.endswith("xml") or (not ctype and name.lower().endswith(".xml")):
            sink.mark(f"{where.location}!{name}")
            _write_xml_text(pkg, name, sink)
        else:
            embedded.append(name)
        if sink.full or pkg.timed_out():
            break
    if len(sink):
        _add(pkg, Where(f"{where.location}!other", where.kind, where.depth, where.filename), sink,
             _CONTENT_TYPES[kind])  # fmt: skip
    for name in embedded:
        child = where.child(f"{where.location}/{name}", name.rsplit("/", 1)[-1])
        if ctx.stopped:
            ctx.stop_marker(child)
            return
        if child.depth > ctx.limits.max_depth:
            ctx.add(Part(location=child.location, text="", kind=child.kind, filename=child.filename,
                         truncated=("depth",)))  # fmt: skip
            continue
        data = pkg.read(name)
        if data is None:
            continue
        if pkg.content_type(name).startswith(_MEDIA_TYPES) and _only_a_picture(data):
            continue
        ctx.dispatch(ctx, data, child, tuple(pkg.reasons))


def _only_a_picture(data: bytes) -> bool:
    sniffed = sniff(data)
    return sniffed.mime.startswith(_MEDIA_TYPES) and not zip_inside(data)


def _write_xml_text(pkg: _Package, name: str, sink: TextSink) -> None:
    """The text of any XML part: element text, and the values of data attributes."""
    for event, el in pkg.iterparse(name):
        if event == "start":
            for key, value in el.attrib.items():
                if _local(key).lower() in _DATA_ATTRIBUTES and value.strip():
                    sink.write(value.strip() + "\n")
            continue
        if el.text and el.text.strip():
            sink.write(el.text.strip() + "\n")
        el.clear()
        if sink.full or pkg.timed_out():
            return


_CONTENT_TYPES = {"docx": _CT_DOCX, "xlsx": _CT_XLSX, "pptx": _CT_PPTX}
_HANDLERS = {"docx": _docx, "xlsx": _xlsx, "pptx": _pptx}
_MAIN_SUFFIX = {
    "docx": ("document.main+xml", "template.main+xml", "document.macroEnabled.main+xml"),
    "xlsx": ("sheet.main+xml", "template.main+xml", "sheet.macroEnabled.main+xml"),
    "pptx": ("presentation.main+xml", "slideshow.main+xml", "presentation.macroEnabled.main+xml"),
}


def extract_ooxml(
    ctx: Context, data: bytes, where: Where, kind: str, truncated: tuple[str, ...] = ()
) -> None:
    """A docx, xlsx or pptx (``kind`` from sniffing): its text parts and its properties."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError) as exc:
        ctx.error(where.location, f"corrupt {kind} ({exc})")
        ctx.add(Part(location=where.location, text="", kind=where.kind, filename=where.filename,
                     size=len(data), truncated=(*truncated, "corrupt")))  # fmt: skip
        return
    with zf:
        pkg = _Package(ctx, zf, where)
        pkg.size = len(data)
        pkg.reasons.extend(truncated)
        main = next((n for n, t in pkg.types.items() if t.endswith(_MAIN_SUFFIX[kind])), None)
        if main is None:
            pkg.fail("corrupt", f"no main {kind} part")
            _add(pkg, where, TextSink(0), "application/zip")
            return
        _HANDLERS[kind](pkg, main, where)
        if not ctx.stopped:
            pkg.reasons = []
            _properties(pkg, where)
        if not ctx.stopped:
            pkg.reasons = []
            _rest(pkg, where, kind)


def extract_ole(ctx: Context, data: bytes, where: Where, truncated: tuple[str, ...] = ()) -> None:
    """An OLE compound file: an encrypted OOXML package, or a legacy binary Office file."""
    reasons = list(truncated)
    encrypted = False
    try:
        with olefile.OleFileIO(io.BytesIO(data)) as ole:
            if ole.exists("EncryptionInfo") and ole.exists("EncryptedPackage"):
                encrypted = True
            else:
                reasons.append("unsupported")
                ctx.error(where.location, "legacy binary Office file (OLE) is not inspected")
    except Exception as exc:  # olefile raises assorted errors on damaged sector chains
        reasons.append("corrupt")
        ctx.error(where.location, f"corrupt OLE file ({type(exc).__name__})")
    ctx.add(
        Part(
            location=where.location,
            text="",
            kind=where.kind,
            content_type="application/x-ole-storage",
            filename=where.filename,
            size=len(data),
            truncated=tuple(reasons),
            encrypted=encrypted,
        )
    )
