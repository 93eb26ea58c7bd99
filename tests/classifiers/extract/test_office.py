from __future__ import annotations

import pytest

from classifiers.extract import extract_file
from classifiers.limits import Deadline, Limits
from classifiers.model import Part
from tests.classifiers.extract.builders import (
    SHARE_LINK,
    docx_bytes,
    encrypted_ooxml,
    handmade_xlsx,
    pptx_bytes,
    xlsx_bytes,
    zip_of,
)

LIMITS = Limits(max_seconds=5)


def parts_of(data: bytes, name: str, limits: Limits = LIMITS):
    ex = extract_file(data, name, limits, Deadline(limits.max_seconds))
    return {p.location: p for p in ex.parts}, ex.errors


def located(part: Part, needle: str) -> str:
    return part.location_at(part.text.index(needle))


def test_docx_stories_are_located():
    parts, errors = parts_of(docx_bytes(), "report.docx")
    assert errors == []
    doc = parts["report.docx"]
    assert doc.content_type.endswith("wordprocessingml.document")
    cases = {
        "本文 個人番号 123456789018": "report.docx",
        "表のセル": "report.docx",
        "テキストボックス内の電話": "report.docx",
        "ヘッダー 機密": "report.docx!header",
        "フッター 株式会社髙橋": "report.docx!footer",
        "脚注の住所": "report.docx!footnotes",
        "コメント 確認してください": "report.docx!comments",
    }
    for needle, location in cases.items():
        assert located(doc, needle) == location, needle
    assert doc.text.count("テキストボックス内の電話") == 1  # the mc:Fallback copy is skipped
    assert "共有フォルダ" in doc.text
    assert SHARE_LINK in doc.text  # hyperlink targets live only in the relationships


def test_docx_properties_and_sensitivity_label():
    parts, _ = parts_of(docx_bytes(), "report.docx")
    meta = parts["report.docx!properties"]
    assert meta.kind == "metadata"
    lines = meta.text.splitlines()
    assert "title: 顧客一覧" in lines
    assert "creator: 山田太郎" in lines
    assert "keywords: 社外秘" in lines
    assert "sensitivity-label: 社外秘" in lines
    assert "案件番号: PRJ-0042" in lines
    assert meta.fields == ("社外秘",)


def test_xlsx_every_sheet_with_cell_locations():
    parts, errors = parts_of(xlsx_bytes(), "list.xlsx")
    assert errors == []
    sheet = parts["list.xlsx!顧客"]
    assert located(sheet, "山田 髙") == "list.xlsx!顧客!C12"
    assert located(sheet, "123456789018") == "list.xlsx!顧客!D12"
    assert located(sheet, "3.5") == "list.xlsx!顧客!E12"
    assert located(sheet, "氏名") == "list.xlsx!顧客!A1"
    assert located(parts["list.xlsx!集計"], "合計") == "list.xlsx!集計!B2"
    assert "title: 名簿" in parts["list.xlsx!properties"].text


def test_xlsx_inline_strings_booleans_and_missing_refs():
    parts, errors = parts_of(handmade_xlsx(), "hand.xlsx")
    assert errors == []
    sheet = parts["hand.xlsx!手書き"]
    assert located(sheet, "インライン") == "hand.xlsx!手書き!A1"
    assert located(sheet, "TRUE") == "hand.xlsx!手書き!B1"
    assert located(sheet, "42") == "hand.xlsx!手書き!C1"
    assert located(sheet, "リッチテキスト") == "hand.xlsx!手書き!A5"
    assert "ﾌﾘｶﾞﾅ" not in sheet.text


def test_pptx_slides_and_notes():
    parts, errors = parts_of(pptx_bytes(), "deck.pptx")
    assert errors == []
    deck = parts["deck.pptx"]
    assert located(deck, "表紙 社外秘") == "deck.pptx!slide1"
    assert located(deck, "スライド1の本文") == "deck.pptx!slide1"
    assert located(deck, "発表者メモ") == "deck.pptx!slide1!notes"
    assert located(deck, "スライド2の本文") == "deck.pptx!slide2"
    assert "creator: 発表者" in parts["deck.pptx!properties"].text


@pytest.mark.parametrize("builder", [docx_bytes, xlsx_bytes], ids=["docx", "xlsx"])
def test_encrypted_office_is_reported(builder):
    parts, _ = parts_of(encrypted_ooxml(builder()), "secret.docx")
    assert parts["secret.docx"].encrypted
    assert parts["secret.docx"].filename == "secret.docx"


def test_legacy_ole_is_unsupported():
    data = encrypted_ooxml(docx_bytes(label=False))
    # rename the EncryptionInfo stream: an OLE file that is not an encrypted package
    data = data.replace("EncryptionInfo".encode("utf-16-le"), "EncryptionInfX".encode("utf-16-le"))
    parts, errors = parts_of(data, "old.doc")
    assert parts["old.doc"].truncated == ("unsupported",)
    assert not parts["old.doc"].encrypted
    assert errors


def test_corrupt_ole():
    data = encrypted_ooxml(docx_bytes(label=False))[:1200]
    parts, errors = parts_of(data, "broken.docx")
    assert parts["broken.docx"].truncated == ("corrupt",)
    assert errors


def test_ooxml_with_malformed_part_is_corrupt_but_keeps_the_rest():
    members = _members(xlsx_bytes())
    members["xl/worksheets/sheet1.xml"] = members["xl/worksheets/sheet1.xml"][:300]
    data = zip_of(members)
    parts, errors = parts_of(data, "cut.xlsx")
    assert "corrupt" in parts["cut.xlsx!顧客"].truncated
    assert parts["cut.xlsx!集計"].truncated == ()
    assert "合計" in parts["cut.xlsx!集計"].text
    assert errors


def test_xml_entity_expansion_is_refused():
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row>'
        '<c t="inlineStr"><is><t>&lol2;</t></is></c></row></sheetData></worksheet>'
    )
    data = zip_of({**_members(handmade_xlsx()), "xl/worksheets/sheet1.xml": bomb.encode()})
    parts, errors = parts_of(data, "bomb.xlsx")
    assert errors
    assert "corrupt" in parts["bomb.xlsx!手書き"].truncated
    assert "lollol" not in parts["bomb.xlsx!手書き"].text


def test_text_limit_cuts_a_sheet():
    limits = Limits(max_seconds=5, max_text_bytes=40)
    parts, _ = parts_of(xlsx_bytes(), "list.xlsx", limits)
    assert "text_bytes" in parts["list.xlsx!顧客"].truncated


def _member(data: bytes, name: str) -> bytes:
    return _members(data)[name]


def _members(data: bytes) -> dict[str, bytes]:
    import io
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def test_table_rows_are_lines_of_tab_separated_cells():
    import io

    import docx
    from pptx import Presentation
    from pptx.util import Inches

    rows = [["No", "氏名", "生年月日"], ["1", "山田 太郎", "1985-04-12"]]
    word = docx.Document()
    word.add_paragraph("顧客名簿")
    table = word.add_table(rows=2, cols=3)
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    table.cell(1, 1).add_paragraph("（本人）")  # a cell of two paragraphs stays in its row
    buf = io.BytesIO()
    word.save(buf)
    parts, _ = parts_of(buf.getvalue(), "list.docx")
    assert "No\t氏名\t生年月日\n1\t山田 太郎 （本人）\t1985-04-12\n" in parts["list.docx"].text

    prs = Presentation()
    slide = prs.slides.add_slide(prs.slide_layouts[6])
    shape = slide.shapes.add_table(2, 3, Inches(1), Inches(1), Inches(6), Inches(2))
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            shape.table.cell(r, c).text = value
    buf = io.BytesIO()
    prs.save(buf)
    parts, _ = parts_of(buf.getvalue(), "list.pptx")
    assert "No\t氏名\t生年月日\n1\t山田 太郎\t1985-04-12\n" in parts["list.pptx"].text


def test_layout_tables_keep_their_lines_and_cut_tables_keep_their_text():
    import io

    import docx

    word = docx.Document()
    layout = word.add_table(rows=1, cols=1)
    layout.cell(0, 0).text = "本文です。"
    layout.cell(0, 0).add_paragraph("山田 太郎")
    buf = io.BytesIO()
    word.save(buf)
    parts, _ = parts_of(buf.getvalue(), "letter.docx")
    assert "本文です。\n山田 太郎\n" in parts["letter.docx"].text

    table = word.add_table(rows=1, cols=2)
    table.cell(0, 0).text = "氏名"
    table.cell(0, 1).text = "山田 花子"
    buf = io.BytesIO()
    word.save(buf)
    data = buf.getvalue()
    # The same document with its body cut off inside the second table's row.
    import zipfile

    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == "word/document.xml":
                end = "山田 花子</w:t>".encode()
                body = body[: body.index(end) + len(end)]
            dst.writestr(info, body)
    parts, _ = parts_of(out.getvalue(), "cut.docx")
    assert "氏名\t山田 花子\n" in parts["cut.docx"].text
    assert "corrupt" in parts["cut.docx"].truncated
