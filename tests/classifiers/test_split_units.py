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
from tests.classifiers.detectors._support import fullwidth, only, scan_engine

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


# Three lone 4-digit units: no number token is ever formed, each group is its own cell, value,
# line or mail part.


def test_three_cells_of_a_docx_table_row() -> None:
    found = _my_numbers(scan_bytes(_docx_row(["マイナンバー", A, B, C]), "dt.docx"))
    assert [f.normalized for f in found] == [NUMBER]
    assert found[0].score == 1.0


def test_three_cells_of_an_xlsx_row() -> None:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["マイナンバー", A, B, C])
    out = io.BytesIO()
    book.save(out)
    assert [f.normalized for f in _my_numbers(scan_bytes(out.getvalue(), "x.xlsx"))] == [NUMBER]


def test_three_cells_of_an_html_table_row() -> None:
    html = f"<html><body><table><tr><td>マイナンバー</td><td>{A}</td><td>{B}</td><td>{C}</td></tr></table></body></html>"
    assert [f.normalized for f in _my_numbers(scan_bytes(html.encode(), "t.html"))] == [NUMBER]


def test_tsv_row_and_lines() -> None:
    for text in (
        f"マイナンバー\t{A}\t{B}\t{C}",
        f"氏名\t山田太郎\nマイナンバー\t{A}\t{B}\t{C}\n",
        f"マイナンバー\n{A}\n{B}\n{C}",
        f"マイナンバー\r\n{A}\r\n{B}\r\n{C}\r\n",
        f"マイナンバー {fullwidth(A)}\n{fullwidth(B)}\n{fullwidth(C)}",
    ):
        found = only(scan_engine(text), "my_number")
        assert [f.normalized for f in found] == [NUMBER], text
        assert found[0].score == 1.0


def test_tsv_file_row() -> None:
    tsv = f"項目\t値1\t値2\t値3\nマイナンバー\t{A}\t{B}\t{C}\n"
    assert [f.normalized for f in _my_numbers(scan_bytes(tsv.encode(), "r.tsv"))] == [NUMBER]


def test_json_string_values_with_one_group_each() -> None:
    assert [f.normalized for f in _json_scan({"a": f"マイナンバー {A}", "b": B, "c": C})] == [NUMBER]
    assert [f.normalized for f in _json_scan({"k": "マイナンバー", "a": A, "b": B, "c": C})] == [NUMBER]
    assert _json_scan({"a": f"マイナンバー {BAD[:4]}", "b": BAD[4:8], "c": BAD[8:]}) == []


def test_mail_with_one_group_in_each_of_three_text_parts() -> None:
    found = _my_numbers(scan_message(_mail(f"マイナンバー {A}", B, C)))
    assert [f.normalized for f in found] == [NUMBER]
    assert found[0].location == "body[3]"
    found = _my_numbers(scan_message(_mail("マイナンバー", A, B, C)))
    assert [f.normalized for f in found] == [NUMBER]
    assert _my_numbers(scan_message(_mail(f"請求書 {A}", B, C))) == []
    assert _my_numbers(scan_message(_mail(f"マイナンバー {A}", B, C, "3456"))) == []
    assert _my_numbers(scan_message(_mail(f"マイナンバー {A} {B}", C, "3456"))) == []
    found = _my_numbers(scan_message(_mail(f"マイナンバー {A}", B, C, "以上")))
    assert [(f.normalized, f.location) for f in found] == [(NUMBER, "body[3]")]


def test_three_units_without_context_or_with_a_wrong_check_digit_are_not_joined() -> None:
    for text in (
        f"{A}\t{B}\t{C}",
        f"{A}\n{B}\n{C}",
        f"在庫数は次の通りです。\n{A}\n{B}\n{C}\nご確認ください。",
        f"マイナンバー\t{BAD[:4]}\t{BAD[4:8]}\t{BAD[8:]}",
        f"マイナンバー\n{BAD[:4]}\n{BAD[4:8]}\n{BAD[8:]}",
    ):
        assert only(scan_engine(text), "my_number") == [], text


def test_a_tsv_of_four_digit_codes_is_not_a_my_number() -> None:
    tsv = f"品番\t品番\t品番\n{A}\t{B}\t{C}\n0001\t0002\t0003\n"
    assert only(scan_engine(tsv), "my_number") == []
    assert _my_numbers(scan_bytes(tsv.encode(), "codes.tsv")) == []
    # a My Number column elsewhere in the sheet does not label the code columns
    tsv = f"氏名\tマイナンバー\t品番A\t品番B\t品番C\n山田\t\t{A}\t{B}\t{C}\n"
    assert only(scan_engine(tsv), "my_number") == []


def test_a_column_of_years_or_pins_is_not_a_my_number() -> None:
    assert only(scan_engine(f"暗証番号\n{A}\n{B}\n{C}\n"), "my_number") == []
    assert only(scan_engine(f"入社年\n{A}\n{B}\n{C}\n"), "my_number") == []


def test_four_or_more_units_in_a_row_or_column_are_not_cut_into_a_my_number() -> None:
    for sep in ("\t", "\n"):
        for groups in ([A, B, C, "3456"], ["3456", A, B, C], ["3456", A, B, C, "7890"]):
            text = "マイナンバー" + sep + sep.join(groups)
            assert only(scan_engine(text), "my_number") == [], repr(text)
    assert only(scan_engine(f"マイナンバー\n{A}\n{B}\n{C} 3456"), "my_number") == []
    assert only(scan_engine(f"マイナンバー\n12 {A}\n{B}\n{C}"), "my_number") == []


def test_mixed_or_doubled_separators_are_not_joined() -> None:
    for text in (
        f"マイナンバー\t{A}\t{B}\n{C}",
        f"マイナンバー\n{A}\n\n{B}\n\n{C}",
        f"マイナンバー\t{A}\t\t{B}\t\t{C}",
        f"マイナンバー\n{A}5\n{B}\n{C}",
    ):
        assert only(scan_engine(text), "my_number") == [], repr(text)


def test_a_negative_label_refuses_the_three_units() -> None:
    assert only(scan_engine(f"口座番号\t{A}\t{B}\t{C}"), "my_number") == []
