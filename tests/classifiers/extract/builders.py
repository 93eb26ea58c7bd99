"""Fixture builders for the extraction tests: every binary input is generated here, none is stored."""

from __future__ import annotations

import io
import zipfile
from email.message import EmailMessage

SAMPLE = "株式会社髙橋商事 ①番窓口 ㈱ ｱｲｳ 個人番号 123456789018"
#: The characters that need the Microsoft extensions of the Japanese encodings.
EXTENSIONS = "①㈱髙"


def _nec_selected() -> dict[str, bytes]:
    """cp932 encodes IBM extensions (0xFA-0xFC); 7-bit and EUC forms need the NEC-selected twins."""
    out: dict[str, bytes] = {}
    for lead in (0xED, 0xEE):
        for trail in range(0x40, 0xFD):
            try:
                out.setdefault(bytes((lead, trail)).decode("cp932"), bytes((lead, trail)))
            except UnicodeDecodeError:
                continue
    return out


_NEC = _nec_selected()


def _sjis(ch: str) -> bytes:
    b = ch.encode("cp932")
    return _NEC.get(ch, b) if len(b) == 2 and b[0] >= 0xFA else b


def _sjis_to_jis(s1: int, s2: int) -> tuple[int, int]:
    row = (s1 - 0x70 if s1 <= 0x9F else s1 - 0xB0) * 2
    if s2 < 0x9F:
        return row - 1, s2 - 0x1F - (1 if s2 >= 0x80 else 0)
    return row, s2 - 0x7E


def to_cp50221(text: str, *, shift_out: bool = False) -> bytes:
    """ISO-2022-JP with the Microsoft extensions; half-width kana by ESC ( I, or SO/SI (CP50222)."""
    out = bytearray()
    mode = "ascii"
    for ch in text:
        b = _sjis(ch)
        if len(b) == 1 and b[0] < 0x80:
            want, payload = "ascii", b
        elif len(b) == 1:
            want, payload = "kana", bytes((b[0] - 0x80,))
        else:
            want, payload = "jis", bytes(_sjis_to_jis(b[0], b[1]))
        if want != mode:
            if shift_out and mode == "kana":
                out += b"\x0f"
            if shift_out and want == "kana":
                out += b"\x0e"
            else:
                out += {"ascii": b"\x1b(B", "kana": b"\x1b(I", "jis": b"\x1b$B"}[want]
            mode = want
        out += payload
    if shift_out and mode == "kana":
        out += b"\x0f"
    elif mode != "ascii":
        out += b"\x1b(B"
    return bytes(out)


def to_cp51932(text: str) -> bytes:
    """EUC-JP as Windows writes it (NEC row 13 and NEC-selected IBM rows in the 2-byte plane)."""
    out = bytearray()
    for ch in text:
        b = _sjis(ch)
        if len(b) == 1 and b[0] < 0x80:
            out += b
        elif len(b) == 1:
            out += bytes((0x8E, b[0]))
        else:
            j1, j2 = _sjis_to_jis(b[0], b[1])
            out += bytes((j1 | 0x80, j2 | 0x80))
    return bytes(out)


def zip_of(members: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def rewrite_zip(data: bytes, add: dict[str, bytes], content_types: dict[str, str] | None = None) -> bytes:
    """Copy an OOXML zip adding parts (and their ``[Content_Types].xml`` overrides)."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info)
            if info.filename == "[Content_Types].xml" and content_types:
                extra = "".join(
                    f'<Override PartName="/{name}" ContentType="{ct}"/>' for name, ct in content_types.items()
                )
                body = body.replace(b"</Types>", extra.encode() + b"</Types>")
            dst.writestr(info.filename, body)
        for name, body in add.items():
            dst.writestr(name, body)
    return out.getvalue()


def message(
    subject: str = "件名",
    body: str = "本文",
    *,
    attachments: tuple[tuple[str, bytes], ...] = (),
) -> bytes:
    msg = EmailMessage()
    msg["From"] = "sender@example.co.jp"
    msg["To"] = "someone@example.com"
    msg["Subject"] = subject
    msg.set_content(body)
    for name, data in attachments:
        msg.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    return msg.as_bytes()


def raw_message(headers: str, body: bytes) -> bytes:
    """A message assembled by hand, for the malformed and non-standard cases."""
    return headers.replace("\n", "\r\n").encode("ascii", errors="surrogateescape") + b"\r\n" + body


SHARE_LINK = "https://example.sharepoint.com/:x:/s/team/EabcDEF?e=anyone"
MSIP_GUID = "3f0e2c1a-5b6d-4e7f-8a9b-0c1d2e3f4a5b"
CUSTOM_XML = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/custom-properties" '
    'xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes">'
    f'<property fmtid="{{D5CDD505-2E9C-101B-9397-08002B2CF9AE}}" pid="2" name="MSIP_Label_{MSIP_GUID}_Enabled">'
    "<vt:lpwstr>true</vt:lpwstr></property>"
    f'<property fmtid="{{D5CDD505-2E9C-101B-9397-08002B2CF9AE}}" pid="3" name="MSIP_Label_{MSIP_GUID}_Name">'
    "<vt:lpwstr>社外秘</vt:lpwstr></property>"
    '<property fmtid="{D5CDD505-2E9C-101B-9397-08002B2CF9AE}" pid="4" name="案件番号">'
    "<vt:lpwstr>PRJ-0042</vt:lpwstr></property>"
    "</Properties>"
)
CUSTOM_CT = "application/vnd.openxmlformats-officedocument.custom-properties+xml"
W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
TEXTBOX_RUN = (
    f'<w:r xmlns:w="{W_NS}" xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006" '
    'xmlns:wps="http://schemas.microsoft.com/office/word/2010/wordprocessingShape" '
    'xmlns:v="urn:schemas-microsoft-com:vml">'
    '<mc:AlternateContent><mc:Choice Requires="wps"><w:drawing><wps:txbx><w:txbxContent>'
    "<w:p><w:r><w:t>テキストボックス内の電話 03-1234-5678</w:t></w:r></w:p>"
    "</w:txbxContent></wps:txbx></w:drawing></mc:Choice>"
    "<mc:Fallback><w:pict><v:textbox><w:txbxContent>"
    "<w:p><w:r><w:t>テキストボックス内の電話 03-1234-5678</w:t></w:r></w:p>"
    "</w:txbxContent></v:textbox></w:pict></mc:Fallback></mc:AlternateContent></w:r>"
)
FOOTNOTES_XML = (
    f'<w:footnotes xmlns:w="{W_NS}"><w:footnote w:id="1"><w:p><w:r><w:t>脚注の住所 東京都千代田区</w:t>'
    "</w:r></w:p></w:footnote></w:footnotes>"
)
FOOTNOTES_CT = "application/vnd.openxmlformats-officedocument.wordprocessingml.footnotes+xml"


def docx_bytes(*, label: bool = True) -> bytes:
    """A docx with body, table, header, footer, comment, text box, footnotes, properties and a label."""
    import docx
    from docx.oxml import parse_xml

    doc = docx.Document()
    doc.core_properties.title = "顧客一覧"
    doc.core_properties.author = "山田太郎"
    doc.core_properties.keywords = "社外秘"
    section = doc.sections[0]
    section.header.paragraphs[0].text = "ヘッダー 機密"
    section.footer.paragraphs[0].text = "フッター 株式会社髙橋"
    para = doc.add_paragraph("本文 個人番号 123456789018")
    doc.add_comment(para.runs[0], text="コメント 確認してください", author="査読者")
    table = doc.add_table(rows=1, cols=2)
    table.cell(0, 0).text = "表のセル"
    table.cell(0, 1).text = "①"
    box = doc.add_paragraph()
    box._p.append(parse_xml(TEXTBOX_RUN))
    from docx.opc.constants import RELATIONSHIP_TYPE

    rid = doc.part.relate_to(SHARE_LINK, RELATIONSHIP_TYPE.HYPERLINK, is_external=True)
    link = doc.add_paragraph()
    link._p.append(
        parse_xml(
            f'<w:hyperlink xmlns:w="{W_NS}" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/'
            f'relationships" r:id="{rid}"><w:r><w:t>共有フォルダ</w:t></w:r></w:hyperlink>'
        )
    )
    buf = io.BytesIO()
    doc.save(buf)
    add = {"word/footnotes.xml": FOOTNOTES_XML.encode()}
    types = {"word/footnotes.xml": FOOTNOTES_CT}
    if label:
        add["docProps/custom.xml"] = CUSTOM_XML.encode()
        types["docProps/custom.xml"] = CUSTOM_CT
    return rewrite_zip(buf.getvalue(), add, types)


def xlsx_bytes() -> bytes:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "顧客"
    ws["A1"] = "氏名"
    ws["B1"] = "個人番号"
    ws["C12"] = "山田 髙"
    ws["D12"] = 123456789018
    ws["E12"] = 3.5
    ws2 = wb.create_sheet("集計")
    ws2["B2"] = "合計"
    wb.properties.title = "名簿"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def handmade_xlsx() -> bytes:
    """A minimal workbook written by hand: inline strings, booleans, no ``r`` attributes."""
    s = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    r = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    return zip_of(
        {
            "[Content_Types].xml": (
                b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                b'<Override PartName="/xl/workbook.xml" '
                b'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
                b'<Override PartName="/xl/worksheets/sheet1.xml" '
                b'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
                b"</Types>"
            ),
            "xl/workbook.xml": (
                f'<workbook xmlns="{s}" xmlns:r="{r}"><sheets>'
                '<sheet name="手書き" sheetId="1" r:id="rId1"/></sheets></workbook>'
            ).encode(),
            "xl/_rels/workbook.xml.rels": (
                b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                b'<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
                b'relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'
            ),
            "xl/worksheets/sheet1.xml": (
                f'<worksheet xmlns="{s}"><sheetData><row>'
                '<c t="inlineStr"><is><t>インライン</t></is></c><c t="b"><v>1</v></c><c><v>42</v></c>'
                '</row><row r="5"><c t="inlineStr"><is><r><t>リッチ</t></r><r><t>テキスト</t></r>'
                "<rPh><t>ﾌﾘｶﾞﾅ</t></rPh></is></c></row></sheetData></worksheet>"
            ).encode(),
        }
    )


def pptx_bytes() -> bytes:
    from pptx import Presentation
    from pptx.util import Inches

    prs = Presentation()
    for n, (title, note) in enumerate(
        [("表紙 社外秘", "発表者メモ 個人番号 123456789018"), ("二枚目", None)], 1
    ):
        slide = prs.slides.add_slide(prs.slide_layouts[5])
        slide.shapes.title.text = title
        box = slide.shapes.add_textbox(Inches(1), Inches(2), Inches(4), Inches(1))
        box.text_frame.text = f"スライド{n}の本文"
        if note:
            slide.notes_slide.notes_text_frame.text = note
    prs.core_properties.author = "発表者"
    buf = io.BytesIO()
    prs.save(buf)
    return buf.getvalue()


def encrypted_ooxml(data: bytes, password: str = "secret") -> bytes:
    from msoffcrypto.format.ooxml import OOXMLFile

    out = io.BytesIO()
    OOXMLFile(io.BytesIO(data)).encrypt(password, out)
    return out.getvalue()


def pdf_bytes(pages: list[str], *, password: str | None = None, metadata: bool = True) -> bytes:
    """A PDF with Japanese text (non-embedded CID font) on each page, and document information."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("HeiseiKakuGo-W5"))
    buf = io.BytesIO()
    c = canvas.Canvas(buf, encrypt=password, invariant=1)
    if metadata:
        c.setTitle("四半期報告 社外秘")
        c.setAuthor("経理部 髙橋")
        c.setSubject("顧客情報")
        c.setKeywords("機密, 個人情報")
    for text in pages:
        c.setFont("HeiseiKakuGo-W5", 12)
        for n, line in enumerate(text.splitlines()):
            c.drawString(72, 720 - 16 * n, line)
        c.showPage()
    c.save()
    return buf.getvalue()
