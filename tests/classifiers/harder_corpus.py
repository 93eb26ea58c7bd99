"""The harder corpus: hand-written Japanese business documents, labelled, in the forms people send.

The generated corpus (:mod:`tests.classifiers.corpus`) grades the classifiers on the shapes its
own templates write. This one is written by hand, one document at a time, in the forms that go
wrong in practice: customer lists with フリガナ columns and split address columns, member
registers with era birth dates and empty cells, supplier masters and vendor lists (companies
only), shipping notices and dispatch lists whose slip numbers pass the My Number check, an HR
mail about マイナンバー that carries none, press releases and newsletters with company contact
blocks, invoices, employee and driver registers, card ledgers, mail that names people as
offices write them, addresses without the prefecture, confidential markings next to prose
about 機密情報, and prose with no personal data at all.

Source files live in ``tests/classifiers/harder/``. Each starts with ``%%`` lines:

- ``form``: what the document is (printed in reports);
- ``render``: ``txt``, ``eml``, ``csv``, ``xlsx``, ``docx`` or ``html`` (the file that is scanned);
- ``people``: how many natural persons' data it holds (the expected ``records``);
- ``prose: yes``: no personal data at all, so no finding at all is expected;
- ``columns``: ``header=type; ...``: every non-empty cell under that header is labelled;
- ``subject`` (eml), ``properties`` (docx: ``name=value``), ``encoding`` (csv/txt).

In the body (and the subject), ``{{type|value}}`` labels a value where it is written; the
markup is removed before rendering. Table sources: a ``csv`` body is the CSV itself; for
``xlsx``, ``docx`` and ``html`` the lines holding a tab are table rows (the first one of a run
is its header row) and the other lines are paragraphs.

The matching rule is the generated corpus's (:func:`tests.classifiers.corpus.score_item`):
every reported finding counts whatever its score, values are compared in canonical form.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from html import escape
from pathlib import Path

from classifiers.model import ENTITY_TYPES
from tests.classifiers.corpus import Entity, TypeScore, score_item

SOURCES = Path(__file__).resolve().parent / "harder"
_LABEL = re.compile(r"\{\{(\w+)\|([^{}|]+)\}\}")


@dataclass(frozen=True, slots=True)
class HardItem:
    """One rendered document of the harder corpus and its labels."""

    name: str  # the rendered file's name
    source: str  # the source file's name
    form: str
    people: int
    prose: bool
    truth: tuple[Entity, ...]
    data: bytes


def strip_labels(text: str) -> tuple[str, list[Entity]]:
    """Remove ``{{type|value}}`` markup; return the text and the labels in order.

    >>> strip_labels("担当：{{person_name|山田 太郎}} 様")
    ('担当：山田 太郎 様', [('person_name', '山田 太郎')])
    """
    truth: list[Entity] = []

    def repl(m: re.Match[str]) -> str:
        kind, value = m.group(1), m.group(2)
        if kind not in ENTITY_TYPES:
            raise ValueError(f"unknown entity type {kind!r} in label {m.group(0)!r}")
        truth.append((kind, value))
        return value

    return _LABEL.sub(repl, text), truth


def _front_matter(text: str) -> tuple[dict[str, str], str]:
    meta: dict[str, str] = {}
    lines = text.split("\n")
    i = 0
    while i < len(lines) and lines[i].startswith("%%"):
        key, _, value = lines[i][2:].partition(":")
        meta[key.strip()] = value.strip()
        i += 1
    return meta, "\n".join(lines[i:])


def _columns(spec: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in filter(None, (s.strip() for s in spec.split(";"))):
        header, _, kind = item.partition("=")
        if kind.strip() not in ENTITY_TYPES:
            raise ValueError(f"unknown entity type in columns: {item!r}")
        out[header.strip()] = kind.strip()
    return out


def _label_rows(rows: list[list[str]], columns: dict[str, str]) -> tuple[list[list[str]], list[Entity]]:
    """Strip cell markup; label the cells under the ``columns`` headers (first matching row)."""
    truth: list[Entity] = []
    plain_rows: list[list[str]] = []
    kinds: dict[int, str] | None = None
    for row in rows:
        cells = []
        for index, cell in enumerate(row):
            text, labels = strip_labels(cell)
            truth.extend(labels)
            if kinds is not None and not labels and text.strip() and index in kinds:
                truth.append((kinds[index], text.strip()))
            cells.append(text)
        if kinds is None and columns and any(c.strip() in columns for c in cells):
            kinds = {i: columns[c.strip()] for i, c in enumerate(cells) if c.strip() in columns}
        plain_rows.append(cells)
    return plain_rows, truth


def _blocks(body: str) -> list[str | list[list[str]]]:
    """Paragraph lines and tables (runs of lines holding a tab)."""
    out: list[str | list[list[str]]] = []
    for line in body.strip("\n").split("\n"):
        if "\t" in line:
            if out and isinstance(out[-1], list):
                out[-1].append(line.split("\t"))
            else:
                out.append([line.split("\t")])
        else:
            out.append(line)
    return out


def _labelled_blocks(body: str, columns: dict[str, str]) -> tuple[list[str | list[list[str]]], list[Entity]]:
    truth: list[Entity] = []
    blocks: list[str | list[list[str]]] = []
    for block in _blocks(body):
        if isinstance(block, str):
            text, labels = strip_labels(block)
            truth.extend(labels)
            blocks.append(text)
        else:
            rows, labels = _label_rows(block, columns)
            truth.extend(labels)
            blocks.append(rows)
    return blocks, truth


# ---- renderers ------------------------------------------------------------------------------


def _render_eml(meta: dict[str, str], body: str) -> tuple[bytes, list[Entity]]:
    subject, subject_truth = strip_labels(meta.get("subject", "(no subject)"))
    text, truth = strip_labels(body.strip("\n") + "\n")
    msg = EmailMessage()
    msg["From"] = "sender@example.co.jp"
    msg["To"] = "recipient@example.net"
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime(2025, 3, 17, 9, 30, tzinfo=UTC))
    msg["Message-ID"] = "<harder-corpus@example.co.jp>"
    charset = meta.get("charset", "utf-8")
    msg.set_content(text, charset=charset, cte="base64" if charset == "utf-8" else "7bit")
    return msg.as_bytes(), subject_truth + truth


def _render_csv(meta: dict[str, str], body: str) -> tuple[bytes, list[Entity]]:
    rows = list(csv.reader(io.StringIO(body.strip("\n") + "\n")))
    plain_rows, truth = _label_rows(rows, _columns(meta.get("columns", "")))
    out = io.StringIO()
    quote_all = body.lstrip().startswith('"')
    writer = csv.writer(out, quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerows(plain_rows)
    return out.getvalue().encode(meta.get("encoding", "utf-8-sig")), truth


def _cell_value(text: str) -> str | int:
    """What a spreadsheet holds: whole numbers without a leading zero are numbers."""
    return int(text) if text.isdigit() and not text.startswith("0") and len(text) <= 15 else text


def _render_xlsx(meta: dict[str, str], body: str) -> tuple[bytes, list[Entity]]:
    from openpyxl import Workbook

    blocks, truth = _labelled_blocks(body, _columns(meta.get("columns", "")))
    book = Workbook()
    sheet = book.active
    sheet.title = meta.get("sheet", "Sheet1")
    row = 1
    for block in blocks:
        for cells in [[block]] if isinstance(block, str) else block:
            for col, text in enumerate(cells, start=1):
                if text:
                    sheet.cell(row=row, column=col, value=_cell_value(text))
            row += 1
    out = io.BytesIO()
    book.save(out)
    return out.getvalue(), truth


def _render_docx(meta: dict[str, str], body: str) -> tuple[bytes, list[Entity]]:
    from docx import Document

    blocks, truth = _labelled_blocks(body, _columns(meta.get("columns", "")))
    doc = Document()
    for block in blocks:
        if isinstance(block, str):
            doc.add_paragraph(block)
            continue
        table = doc.add_table(rows=len(block), cols=max(len(r) for r in block))
        for r, cells in enumerate(block):
            for c, text in enumerate(cells):
                table.cell(r, c).text = text
    for item in filter(None, (s.strip() for s in meta.get("properties", "").split(";"))):
        name, _, raw = item.partition("=")
        value, labels = strip_labels(raw)
        truth.extend(labels)
        setattr(doc.core_properties, name.strip(), value)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue(), truth


def _render_html(meta: dict[str, str], body: str) -> tuple[bytes, list[Entity]]:
    blocks, truth = _labelled_blocks(body, _columns(meta.get("columns", "")))
    html = [
        '<!DOCTYPE html>\n<html lang="ja"><head><meta charset="utf-8"><title>document</title></head><body>'
    ]
    for block in blocks:
        if isinstance(block, str):
            if block.strip():
                html.append(f"<p>{escape(block)}</p>")
            continue
        html.append('<table border="1">')
        for r, cells in enumerate(block):
            tag = "th" if r == 0 else "td"
            html.append("<tr>" + "".join(f"<{tag}>{escape(c)}</{tag}>" for c in cells) + "</tr>")
        html.append("</table>")
    html.append("</body></html>\n")
    return "\n".join(html).encode("utf-8"), truth


def _render_txt(meta: dict[str, str], body: str) -> tuple[bytes, list[Entity]]:
    text, truth = strip_labels(body.strip("\n") + "\n")
    return text.encode(meta.get("encoding", "utf-8")), truth


RENDERERS = {
    "txt": _render_txt,
    "eml": _render_eml,
    "csv": _render_csv,
    "xlsx": _render_xlsx,
    "docx": _render_docx,
    "html": _render_html,
}


def load_item(path: Path) -> HardItem:
    meta, body = _front_matter(path.read_text(encoding="utf-8"))
    render = meta["render"]
    data, truth = RENDERERS[render](meta, body)
    return HardItem(
        name=f"{path.name.split('.')[0]}.{render}",
        source=path.name,
        form=meta["form"],
        people=int(meta["people"]),
        prose=meta.get("prose", "") == "yes",
        truth=tuple(truth),
        data=data,
    )


def build_items(folder: Path = SOURCES) -> list[HardItem]:
    """Every document of the harder corpus, rendered, in file-name order."""
    return [load_item(p) for p in sorted(folder.iterdir()) if p.is_file() and not p.name.startswith(".")]


@dataclass(frozen=True, slots=True)
class Outcome:
    """One document scanned: what was found (outside envelope headers) and ``records``."""

    item: HardItem
    found: tuple[Entity, ...]
    records: int


def scan_items(items: list[HardItem], folder: Path) -> list[Outcome]:
    """Write each document to ``folder`` and scan it as ``sekimori scan`` does."""
    from classifiers import scan_file

    out: list[Outcome] = []
    for item in items:
        path = folder / item.name
        path.write_bytes(item.data)
        result = scan_file(path)
        found = tuple((f.type, f.value) for p in result.parts if p.kind != "header" for f in p.findings)
        out.append(Outcome(item, found, result.records))
    return out


def score(outcomes: list[Outcome]) -> dict[str, TypeScore]:
    scores: dict[str, TypeScore] = {t: TypeScore() for t in ENTITY_TYPES}
    for o in outcomes:
        score_item(o.item.name, list(o.item.truth), list(o.found), scores)
    return scores


def records_report(outcomes: list[Outcome]) -> str:
    lines = [f"{'file':<28} {'people':>6} {'records':>7}  form"]
    for o in outcomes:
        mark = "" if o.records == o.item.people else "  <-"
        lines.append(f"{o.item.name:<28} {o.item.people:>6} {o.records:>7}{mark}  {o.item.form[:60]}")
    return "\n".join(lines)
