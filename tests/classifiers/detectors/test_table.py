"""Column headers as context, in every table form the extractors read (csv, xlsx, HTML, docx).

A header names the type of every cell below it, however far above it is, and also what a
column is not (配送伝票番号 is not a My Number); a key-value table (氏名 | 楠木 ゆず) labels each
value by the cell before it.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from html import escape

import pytest

from classifiers import scan_bytes
from classifiers.detectors._base import Document
from classifiers.detectors._table import column_cell, column_header, column_tally, row_label
from classifiers.normalize import normalize

HEADER = ["No", "氏名", "郵便番号", "配送伝票番号", "免許証番号", "生年月日", "会員番号"]
#: 123456789018 passes the My Number check; 400524261480 is a driver's licence number.
FILLER = [[str(i), "", "", f"T-{i:04d}", "", "", ""] for i in range(2, 40)]
ROW = ["1", "轟 ひかる", "451-5536", "123456789018", "400524261480", "1991/01/14", "223456789012"]
EXPECTED = {
    ("person_name", "轟 ひかる"),
    ("postal_code", "451-5536"),
    ("drivers_license", "400524261480"),
    ("date_of_birth", "1991/01/14"),
}


def _csv(rows: list[list[str]]) -> tuple[bytes, str]:
    return "\r\n".join(",".join(r) for r in rows).encode("utf-8-sig"), "t.csv"


def _xlsx(rows: list[list[str]]) -> tuple[bytes, str]:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["会員名簿（2025年度）"])  # a title row above the header
    for row in rows:
        sheet.append([int(c) if c.isdigit() and not c.startswith("0") else (c or None) for c in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue(), "t.xlsx"


def _html(rows: list[list[str]]) -> tuple[bytes, str]:
    body = "".join(
        "<tr>"
        + "".join(f"<{'th' if i == 0 else 'td'}>{escape(c)}</{'th' if i == 0 else 'td'}>" for c in r)
        + "</tr>"
        for i, r in enumerate(rows)
    )
    return f"<html><body><p>一覧</p><table>{body}</table></body></html>".encode(), "t.html"


def _docx(rows: list[list[str]]) -> tuple[bytes, str]:
    from docx import Document as Docx

    doc = Docx()
    doc.add_paragraph("一覧")
    table = doc.add_table(rows=len(rows), cols=len(rows[0]))
    for r, cells in enumerate(rows):
        for c, text in enumerate(cells):
            table.cell(r, c).text = text
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue(), "t.docx"


FORMS: dict[str, Callable[[list[list[str]]], tuple[bytes, str]]] = {
    "csv": _csv,
    "xlsx": _xlsx,
    "html": _html,
    "docx": _docx,
}


def _found(data: bytes, name: str) -> set[tuple[str, str]]:
    result = scan_bytes(data, name)
    return {(f.type, f.value) for p in result.parts if p.kind != "header" for f in p.findings}


@pytest.mark.parametrize("form", FORMS)
def test_a_header_far_above_names_the_cell_and_what_it_is_not(form: str) -> None:
    found = _found(*FORMS[form]([HEADER, *FILLER, ROW]))
    assert found >= EXPECTED
    # 配送伝票番号 and 会員番号 columns: checksum-valid 12 digits that are not My Numbers
    assert not {f for f in found if f[0] == "my_number"}


@pytest.mark.parametrize("form", FORMS)
def test_without_the_header_bare_values_are_not_read_as_those_types(form: str) -> None:
    found = _found(*FORMS[form]([ROW[:1] + ["ひかる"] + ROW[2:3] + ["x"] * 4]))
    assert not {f for f in found if f[0] in ("postal_code", "person_name")}


@pytest.mark.parametrize("form", ["html", "docx", "csv"])
def test_a_key_value_table_labels_each_value_by_the_cell_before_it(form: str) -> None:
    rows = [
        ["氏名", "楠木 ゆず"],
        ["免許証番号", "400524261480"],
        ["配送伝票番号", "123456789018"],
        ["個人番号", "223456789012"],
    ]
    found = _found(*FORMS[form](rows))
    assert ("person_name", "楠木 ゆず") in found and ("drivers_license", "400524261480") in found
    assert ("my_number", "223456789012") in found and ("my_number", "123456789018") not in found
    assert ("person_name", "免許証番号") not in found


def test_column_cell_gives_the_header_and_the_cell_text_before_the_offset() -> None:
    doc = Document(normalize("氏名\t電話\n山田 太郎\t03-1234-5678\n"))
    assert column_header(doc, doc.text.index("山田")) == "氏名"
    assert column_cell(doc, doc.text.index("1234")) == ("電話", "03-")
    assert column_header(doc, 0) is None  # the header row itself


def test_a_key_value_row_is_not_a_header() -> None:
    doc = Document(normalize("氏名\t楠木 ゆず\n免許証番号\t400524261480\n"))
    assert column_header(doc, doc.text.index("免許")) is None


def test_a_key_value_row_labels_its_value_and_camel_case_headers_read_as_words() -> None:
    doc = Document(normalize("項目\t内容\n郵便番号\t260-0013\n"))
    assert row_label(doc, doc.text.index("260")) == "郵便番号"
    assert row_label(doc, doc.text.index("郵便")) is None  # the label itself
    found = _found(*_csv([["MemberNo", "Name"], ["100245783099", "吉岡 知世"]]))
    assert found == {("person_name", "吉岡 知世")}  # MemberNo: a member number, not a My Number


def _upper(cell: str) -> bool:
    return cell.isupper()


@pytest.mark.parametrize(
    ("text", "cell", "tally"),
    [
        ("A\t1\nB\t2\nc\t3\n", "B", (2, 3)),  # a table without a header
        ('A,1\n"B, b",2\nC,3\n', "C", (2, 3)),  # a quoted separator stays in its cell
        ("  A   1\n\n  B   2\n  c  3\n", "c", (2, 3)),  # layout text, a blank line between rows
        ("No\tName\nA\t1\nB\t2\n", "B", (2, 2)),  # a header row counts only where it passes
        ("A\t1\nB\t2\nprose ends it\nC\t3\nD\t4\nE\t5\n", "E", (3, 3)),
        ("A\t1\n\tB\n", "A", (1, 1)),  # an empty cell does not count
        ("A\t1\nB\t2\n", "1", (0, 2)),
        ("A\t1\nBB x\t2\n", "BB", None),  # not the whole cell
        ("A B C\n", "B", None),  # no table
    ],
)
def test_column_tally_counts_the_cells_of_a_column_that_pass_a_test(
    text: str, cell: str, tally: tuple[int, int] | None
) -> None:
    doc = Document(normalize(text))
    start = doc.text.rindex(cell)
    assert column_tally(doc, start, start + len(cell), _upper) == tally
