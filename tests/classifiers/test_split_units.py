"""A My Number whose 4-4-4 digit groups are split across adjacent text units.

A recipient reads "マイナンバー 1234 5678 9018" whether the groups sit in one line, in the cells
of one table row, in consecutive JSON string values or in consecutive inline text parts of a
mail; the classifiers find it in each, and still do not join numbers of a numeric table or
lines of prose without My Number context.
"""

from __future__ import annotations

import io
import json

import docx

from classifiers import scan_bytes, scan_message
from classifiers.model import Finding, ScanResult
from gateway.proxy import bodies
from tests.classifiers.detectors._support import only, scan_engine

NUMBER = "123456789018"  # a valid check digit
A, B, C = NUMBER[:4], NUMBER[4:8], NUMBER[8:]
BAD = "123456789012"  # the same groups with a wrong check digit


def _my_numbers(result: ScanResult) -> list[Finding]:
    return [f for part in result.parts for f in part.findings if f.type == "my_number"]


def _mail(*bodies_: str) -> bytes:
    parts = "".join(f"--B\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n" for text in bodies_)
    return (
        "From: taro.yamada@example.co.jp\r\nTo: tanaka@partner.example\r\nSubject: s\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n" + parts + "--B--\r\n"
    ).encode()


def test_mail_with_the_last_group_in_the_next_text_part() -> None:
    found = _my_numbers(scan_message(_mail(f"マイナンバー {A} {B}", C)))
    assert [f.normalized for f in found] == [NUMBER]
    assert found[0].score == 1.0
    assert (found[0].location, found[0].span) == ("body[2]", (0, 4))


def test_mail_with_two_groups_in_the_next_text_part() -> None:
    found = _my_numbers(
        scan_message(_mail(f"よろしくお願いします。\r\nマイナンバー {A}", f"{B} {C}\r\n以上"))
    )
    assert [f.normalized for f in found] == [NUMBER]


def test_mail_parts_without_context_or_check_digit_are_not_joined() -> None:
    assert _my_numbers(scan_message(_mail(f"請求書 {A} {B}", C))) == []
    assert _my_numbers(scan_message(_mail(f"マイナンバー {BAD[:4]} {BAD[4:8]}", BAD[8:]))) == []


def _docx_row(cells: list[str]) -> bytes:
    d = docx.Document()
    table = d.add_table(rows=1, cols=len(cells))
    for cell, value in zip(table.rows[0].cells, cells, strict=True):
        cell.text = value
    out = io.BytesIO()
    d.save(out)
    return out.getvalue()


def test_docx_table_row_with_the_groups_in_two_cells() -> None:
    found = _my_numbers(scan_bytes(_docx_row(["マイナンバー", A, f"{B} {C}"]), "dt.docx"))
    assert [f.normalized for f in found] == [NUMBER]
    found = _my_numbers(scan_bytes(_docx_row(["マイナンバー", f"{A} {B}", C]), "dt.docx"))
    assert [f.normalized for f in found] == [NUMBER]


def _json_scan(value: object) -> list[Finding]:
    data = json.dumps(value).encode()
    extracted = bodies.extract(data, "json", "application/json", label="chat")
    found: list[Finding] = []
    for piece in extracted.pieces:
        assert piece.data is not None
        found.extend(_my_numbers(scan_bytes(piece.data, piece.name, declared_type=piece.content_type)))
    return found


def test_json_string_values_with_the_groups_split() -> None:
    assert [f.normalized for f in _json_scan({"a": f"マイナンバー {A}", "b": f"{B} {C}"})] == [NUMBER]
    assert [f.normalized for f in _json_scan({"a": f"マイナンバー {A} {B}", "b": C})] == [NUMBER]
    assert _json_scan({"a": f"マイナンバー {BAD[:4]}", "b": f"{BAD[4:8]} {BAD[8:]}"}) == []


def test_numeric_columns_without_context_are_not_joined() -> None:
    rows = [f"{A}\t{B} {C}", f"{A} {B}\t{C}", f"0001\t{A}\t{B} {C}", f"{A}\t{B}\t{C}"]
    tsv = "コード\t値\t備考\n" + "\n".join(rows) + "\n"
    assert only(scan_engine(tsv), "my_number") == []
    assert _my_numbers(scan_bytes(tsv.encode(), "list.tsv")) == []
    csv = "\n".join(r.replace("\t", ",") for r in rows) + "\n"
    assert _my_numbers(scan_bytes(csv.encode(), "list.csv")) == []


def test_lines_of_four_digits_in_prose_are_not_joined() -> None:
    for prose in (
        f"在庫数は次の通りです。\n{A}\n{B}\n{C}\nご確認ください。",
        f"請求番号 {A}\n{B} {C}\n以上です。",
        f"部品コード {A} {B}\n{C} 個を発注します。",
    ):
        assert only(scan_engine(prose), "my_number") == [], prose


def test_a_row_that_goes_on_with_more_groups_is_not_cut_into_a_my_number() -> None:
    assert only(scan_engine(f"マイナンバー\t{A}\t{B} {C}\t3456"), "my_number") == []
    assert only(scan_engine(f"マイナンバー\t5555\t{A}\t{B} {C}"), "my_number") == []
    assert only(scan_engine(f"マイナンバー {A}\n{B} {C}\n3456"), "my_number") == []
