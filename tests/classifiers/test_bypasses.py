"""No way around the scan (issue 10): a My Number planted in every container and encoding the
extractors know, and behind every trick found so far, is found, or the item is reported as not
fully inspected.

A *carrier* puts text somewhere a recipient can read it (a mail body, a spreadsheet cell, an
Outlook conditional comment, a PDF annotation...) and gives an item: bytes, a file name and a
declared type. A *wrapper* puts an item inside another (a zip, a mail attachment, an attached
message, a file embedded in a Word document or attached to a PDF, a ``data:`` URL, a picture
with an archive appended...). The property draws an encoding, a carrier and up to two wrappers;
the table test runs every carrier and every wrapper once, and asserts the number is *found*.
"""

from __future__ import annotations

import base64
import io
import json
import quopri
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from email.header import Header
from email.message import EmailMessage
from email.mime.base import MIMEBase
from email.mime.message import MIMEMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import SMTP

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from classifiers import ScanResult, scan_bytes, scan_message
from tests.classifiers.extract.builders import W_NS, rewrite_zip

DIGITS = "123456789018"
PAYLOAD = "マイナンバー 1234 5678 9018"


@dataclass(frozen=True)
class Item:
    """Something to scan: a message (``name`` None) or a file with its name and declared type."""

    data: bytes
    name: str | None = None
    declared: str | None = None


def found(result: ScanResult) -> bool:
    return any(f.type == "my_number" and f.normalized == DIGITS for f in result.findings)


def scan(item: Item) -> ScanResult:
    if item.name is None:
        return scan_message(item.data)
    return scan_bytes(item.data, item.name, declared_type=item.declared)


# --- encodings of the text -----------------------------------------------------------------------
def _fullwidth(text: str) -> str:
    return text.translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789"}).replace(" ", "\u3000")


#: (name, text transform, charset for text carriers)
ENCODINGS: dict[str, tuple[Callable[[str], str], str]] = {
    "utf-8": (lambda t: t, "utf-8"),
    "shift_jis": (lambda t: t, "cp932"),
    "euc-jp": (lambda t: t, "euc_jp"),
    "iso-2022-jp": (lambda t: t, "iso2022_jp"),
    "utf-16": (lambda t: t, "utf-16"),
    "full-width digits": (_fullwidth, "utf-8"),
    "japanese dashes": (lambda t: t.replace(" 5678 ", "ー5678－").replace("1234", "1234"), "utf-8"),
    # Invisible to a reader, splitting the digits for a pattern: zero-width space, joiners,
    # word joiner, soft hyphen, byte-order mark (between the groups, no space: a header folded
    # there would lose the space, RFC 2047 s6.2, and the number its grouping).
    "zero-width characters": (
        lambda t: t.replace("1234 5678 9018", "12\u200b34\u200c5678\u200d90\u00ad1\u2060\ufeff8"),
        "utf-8",
    ),
}
_CHARSET_LABEL = {"cp932": "shift_jis", "euc_jp": "euc-jp", "iso2022_jp": "iso-2022-jp", "utf-16": "utf-16"}


def _label(charset: str) -> str:
    return _CHARSET_LABEL.get(charset, charset)


# --- carriers: text -> item ----------------------------------------------------------------------
def _mail(body: MIMEBase | EmailMessage, subject: str = "資料") -> bytes:
    body["From"] = "taro@example.co.jp"
    body["To"] = "tanaka@partner.example"
    body["Subject"] = Header(subject, "utf-8").encode()
    return body.as_bytes(policy=SMTP)


def mail_plain(text: str, charset: str, cte: str) -> Item:
    """A one-part text/plain mail, written by hand (the email package will not write 8-bit)."""
    raw = text.encode(charset)
    if cte == "base64":
        body = base64.encodebytes(raw)
    elif cte == "quoted-printable":
        body = quopri.encodestring(raw)
    else:
        body = raw
    head = (
        "From: taro@example.co.jp\r\nTo: tanaka@partner.example\r\nSubject: =?utf-8?b?6LOH5paZ?=\r\n"
        f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset={_label(charset)}\r\n"
        f"Content-Transfer-Encoding: {cte}\r\n\r\n"
    )
    return Item(head.encode() + body.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") + b"\r\n")


def mail_header(field: str) -> Callable[[str, str], Item]:
    def carry(text: str, charset: str) -> Item:
        msg = EmailMessage()
        msg.set_content("本文です。")
        msg["To"] = "tanaka@partner.example"
        msg["From"] = f"{text} <taro@example.co.jp>" if field == "From" else "taro@example.co.jp"
        msg["Subject"] = text if field == "Subject" else "件名"
        if field not in ("From", "Subject"):
            msg[field] = text
        # Unfolded: where Python's folder splits a value into encoded words at a space, the space
        # is lost (the planted number would read 1234 56789018 in the message itself).
        return Item(msg.as_bytes(policy=SMTP.clone(max_line_length=None)))

    return carry


def attachment_name(text: str, charset: str) -> Item:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "taro@example.co.jp", "tanaka@partner.example", "添付"
    msg.set_content("添付します。")
    msg.add_attachment(b"x", maintype="application", subtype="octet-stream", filename=f"{text}.txt")
    return Item(msg.as_bytes(policy=SMTP))


def text_file(ext: str, declared: str) -> Callable[[str, str], Item]:
    def carry(text: str, charset: str) -> Item:
        body = {
            "txt": text,
            "csv": f"氏名,番号\n山田 太郎,{text}\n",
            "html": f"<html><body><p>{text}</p></body></html>",
            "xml": f'<?xml version="1.0" encoding="{_label(charset)}"?><r><v>{text}</v></r>',
            "json": json.dumps({"memo": text}, ensure_ascii=True),  # \\u escapes
        }[ext]
        return Item(body.encode(charset), f"file.{ext}", declared)

    return carry


#: Where a mail client or a browser shows text of an HTML body (issue 10's list, then more).
HTML_TRICKS: dict[str, str] = {
    "svg text": "<svg><text x='1' y='9'>{}</text></svg>",
    "object fallback": "<object data='x.swf'><p>{}</p></object>",
    "outlook conditional comment": "<!--[if mso]><p>{}</p><![endif]-->",
    "comment": "<!-- {} -->",
    "template": "<template><p>{}</p></template>",
    "noscript": "<noscript>{}</noscript>",
    "img alt": "<img src='logo.png' alt='{}'>",
    "title attribute": "<span title='{}'>i</span>",
    "css display none": "<div style='display:none'>{}</div>",
    "css zero font white": "<span style='font-size:0;color:#ffffff'>{}</span>",
    "css content": "<style>b::after {{ content: '{}' }}</style><b></b>",
    "script string": "<script>document.write('{}')</script>",
    "iframe srcdoc": "<iframe srcdoc='&lt;p&gt;{}&lt;/p&gt;'></iframe>",
    "input value": "<input type='hidden' value='{}'>",
    "entities": "{}",  # the payload written as numeric character references
}


def html_body(trick: str) -> Callable[[str, str], Item]:
    def carry(text: str, charset: str) -> Item:
        shown = "".join(f"&#{ord(c)};" for c in text) if trick == "entities" else text
        html = f"<html><body><p>ご確認ください。</p>{HTML_TRICKS[trick].format(shown)}</body></html>"
        alt = MIMEMultipart("alternative")
        alt.attach(MIMEText("ご確認ください。", "plain", "utf-8"))
        alt.attach(MIMEText(html, "html", "utf-8"))
        return Item(_mail(alt))

    return carry


def data_url_html(text: str, charset: str) -> Item:
    encoded = base64.b64encode(text.encode("utf-8")).decode()
    html = f"<html><body><a href='data:text/plain;charset=utf-8;base64,{encoded}'>memo</a></body></html>"
    return Item(html.encode(), "page.html", "text/html")


def docx_story(where: str) -> Callable[[str, str], Item]:
    def carry(text: str, charset: str) -> Item:
        import docx
        from docx.oxml import parse_xml

        doc = docx.Document()
        para = doc.add_paragraph("本文")
        if where == "body":
            doc.add_paragraph(text)
        elif where == "header":
            doc.sections[0].header.paragraphs[0].text = text
        elif where == "footer":
            doc.sections[0].footer.paragraphs[0].text = text
        elif where == "comment":
            doc.add_comment(para.runs[0], text=text, author="査読者")
        elif where == "table cell":
            doc.add_table(rows=1, cols=2).cell(0, 1).text = text
        elif where == "field code":
            doc.add_paragraph()._p.append(
                parse_xml(f'<w:r xmlns:w="{W_NS}"><w:instrText>{text}</w:instrText></w:r>')
            )
        elif where == "deleted text":
            doc.add_paragraph()._p.append(
                parse_xml(
                    f'<w:del xmlns:w="{W_NS}" w:id="1" w:author="a"><w:r><w:delText>{text}</w:delText></w:r></w:del>'
                )
            )
        elif where == "hidden text":
            run = doc.add_paragraph().add_run(text)
            run.font.hidden = True
        elif where == "core properties":
            doc.core_properties.subject = text
        buf = io.BytesIO()
        doc.save(buf)
        data = buf.getvalue()
        if where == "custom xml":
            data = rewrite_zip(data, {"customXml/item9.xml": f"<data><memo>{text}</memo></data>".encode()})
        return Item(
            data, "report.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        )

    return carry


def xlsx_place(where: str) -> Callable[[str, str], Item]:
    def carry(text: str, charset: str) -> Item:
        import openpyxl
        from openpyxl.comments import Comment

        wb = openpyxl.Workbook()
        ws = wb.active
        assert ws is not None
        ws["A1"] = "memo"
        if where == "cell":
            ws["B2"] = text
        elif where == "hidden sheet":
            hidden = wb.create_sheet("非表示")
            hidden["A1"] = text
            hidden.sheet_state = "hidden"
        elif where == "comment":
            ws["A1"].comment = Comment(text, "査読者")
        elif where == "header":
            ws.oddHeader.center.text = text
        elif where == "formula":
            ws["B2"] = f'="{text}"'
        buf = io.BytesIO()
        wb.save(buf)
        return Item(
            buf.getvalue(), "list.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        )

    return carry


def pptx_place(where: str) -> Callable[[str, str], Item]:
    def carry(text: str, charset: str) -> Item:
        from pptx import Presentation
        from pptx.util import Inches

        prs = Presentation()
        slide = prs.slides.add_slide(prs.slide_layouts[5])
        slide.shapes.title.text = "表紙"
        if where == "slide":
            slide.shapes.add_textbox(Inches(1), Inches(2), Inches(4), Inches(1)).text_frame.text = text
        elif where == "notes":
            slide.notes_slide.notes_text_frame.text = text
        buf = io.BytesIO()
        prs.save(buf)
        ct = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
        return Item(buf.getvalue(), "deck.pptx", ct)

    return carry


def pdf_place(where: str) -> Callable[[str, str], Item]:
    def carry(text: str, charset: str) -> Item:
        from reportlab.pdfbase import pdfmetrics
        from reportlab.pdfbase.cidfonts import UnicodeCIDFont
        from reportlab.pdfgen import canvas

        pdfmetrics.registerFont(UnicodeCIDFont("HeiseiKakuGo-W5"))
        buf = io.BytesIO()
        c = canvas.Canvas(buf, invariant=1)
        c.setFont("HeiseiKakuGo-W5", 12)
        c.drawString(72, 720, text if where == "page" else "本文")
        if where == "white text":
            c.setFillColorRGB(1, 1, 1)
            c.drawString(72, 700, text)
        if where == "metadata":
            c.setSubject(text)
        elif where == "annotation":
            c.textAnnotation(text, Rect=(72, 600, 200, 650))
        elif where == "bookmark":
            c.bookmarkPage("p1")
            c.addOutlineEntry(text, "p1")
        elif where == "form field":
            c.acroForm.textfield(name="f1", value="My Number 1234 5678 9018", x=72, y=500, width=300)
        c.showPage()
        c.save()
        return Item(buf.getvalue(), "report.pdf", "application/pdf")

    return carry


def disguised_csv(text: str, charset: str) -> Item:
    """Issue 10's first bypass: a CSV whose first line makes it sniff as a GIF."""
    return Item(f"GIF89a\n氏名,番号\n山田 太郎,{text}\n".encode(charset), "list.csv", "text/csv")


def renamed_as_picture(text: str, charset: str) -> Item:
    return Item(f"氏名,番号\n山田 太郎,{text}\n".encode(charset), "photo.png", "image/png")


#: name -> carry(text, charset)
CARRIERS: dict[str, Callable[[str, str], Item]] = {
    "mail text/plain 8bit": lambda t, c: mail_plain(t, c, "8bit"),
    "mail text/plain base64": lambda t, c: mail_plain(t, c, "base64"),
    "mail text/plain quoted-printable": lambda t, c: mail_plain(t, c, "quoted-printable"),
    "mail subject": mail_header("Subject"),
    "mail from display name": mail_header("From"),
    "mail keywords": mail_header("Keywords"),
    "mail attachment name": attachment_name,
    **{
        f"file .{e}": text_file(e, d)
        for e, d in (
            ("txt", "text/plain"),
            ("csv", "text/csv"),
            ("html", "text/html"),
            ("xml", "application/xml"),
            ("json", "application/json"),
        )
    },
    **{f"html {t}": html_body(t) for t in HTML_TRICKS},
    "html data: url": data_url_html,
    **{
        f"docx {w}": docx_story(w)
        for w in (
            "body",
            "header",
            "footer",
            "comment",
            "table cell",
            "field code",
            "deleted text",
            "hidden text",
            "core properties",
            "custom xml",
        )
    },
    **{f"xlsx {w}": xlsx_place(w) for w in ("cell", "hidden sheet", "comment", "header", "formula")},
    **{f"pptx {w}": pptx_place(w) for w in ("slide", "notes")},
    **{
        f"pdf {w}": pdf_place(w)
        for w in ("page", "white text", "metadata", "annotation", "bookmark", "form field")
    },
    "csv disguised as a gif": disguised_csv,
    "csv renamed as a picture": renamed_as_picture,
}
#: Carriers that encode the text themselves (not in the drawn charset).
_OWN_CHARSET = {n for n in CARRIERS if n.startswith(("html ", "docx", "xlsx", "pptx", "pdf", "mail subject",
                                                     "mail from", "mail keywords", "mail attachment name"))}  # fmt: skip


# --- wrappers: item -> item ----------------------------------------------------------------------
def _as_file(item: Item) -> tuple[bytes, str, str]:
    if item.name is None:
        return item.data, "forwarded.eml", "message/rfc822"
    return item.data, item.name, item.declared or "application/octet-stream"


def in_zip(item: Item) -> Item:
    data, name, _ = _as_file(item)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"folder/{name}", data)
    return Item(buf.getvalue(), "archive.zip", "application/zip")


def as_attachment(item: Item) -> Item:
    data, name, declared = _as_file(item)
    msg = MIMEMultipart("mixed")
    msg.attach(MIMEText("添付します。", "plain", "utf-8"))
    if declared == "message/rfc822":
        from email import message_from_bytes

        msg.attach(MIMEMessage(message_from_bytes(data)))
    else:
        major, minor = declared.split("/", 1)
        part = MIMEBase(major, minor)
        part.set_payload(base64.encodebytes(data).decode())
        part["Content-Transfer-Encoding"] = "base64"
        part.add_header("Content-Disposition", "attachment", filename=("utf-8", "", name))
        msg.attach(part)
    return Item(_mail(msg, "添付"))


def as_base64_message(item: Item) -> Item:
    """An attached message sent base64-encoded (RFC 2046 forbids it; some clients do it)."""
    data, _, _ = _as_file(as_attachment(item) if item.name is not None else item)
    msg = MIMEMultipart("mixed")
    msg.attach(MIMEText("転送します。", "plain", "utf-8"))
    part = MIMEBase("message", "rfc822")
    part.set_payload(base64.encodebytes(data).decode())
    part["Content-Transfer-Encoding"] = "base64"
    msg.attach(part)
    return Item(_mail(msg, "転送"))


def embedded_in_docx(item: Item) -> Item:
    import docx

    data, name, _ = _as_file(item)
    doc = docx.Document()
    doc.add_paragraph("別添のとおり")
    buf = io.BytesIO()
    doc.save(buf)
    ct = "application/vnd.openxmlformats-officedocument.oleObject"
    return Item(
        rewrite_zip(buf.getvalue(), {f"word/embeddings/{name}": data}, {f"word/embeddings/{name}": ct}),
        "cover.docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    )


def attached_to_pdf(item: Item) -> Item:
    data, name, _ = _as_file(item)
    return Item(pdf_with_attachment(name, data), "portfolio.pdf", "application/pdf")


def appended_to_picture(item: Item) -> Item:
    """A GIF with a zip appended: a picture viewer shows the picture, an unzip tool the files."""
    zipped = in_zip(item).data
    gif = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
    return Item(gif + zipped, "photo.gif", "image/gif")


def as_data_url(item: Item) -> Item:
    data, name, declared = _as_file(item)
    encoded = base64.b64encode(data).decode()
    html = f"<html><body><a download='{name}' href='data:{declared};base64,{encoded}'>資料</a></body></html>"
    return Item(html.encode(), "page.html", "text/html")


def zip_body_labelled_text(item: Item) -> Item:
    """A zip sent as the text/plain body of a mail."""
    zipped = in_zip(item).data
    part = MIMEText("", "plain", "utf-8")
    part.set_payload(base64.encodebytes(zipped).decode())
    del part["Content-Transfer-Encoding"]
    part["Content-Transfer-Encoding"] = "base64"
    return Item(_mail(part))


WRAPPERS: dict[str, Callable[[Item], Item]] = {
    "zip": in_zip,
    "mail attachment": as_attachment,
    "base64 message/rfc822": as_base64_message,
    "embedded in docx": embedded_in_docx,
    "attached to pdf": attached_to_pdf,
    "zip appended to a gif": appended_to_picture,
    "html data: url": as_data_url,
    "zip as a text/plain body": zip_body_labelled_text,
}


def pdf_with_attachment(name: str, data: bytes) -> bytes:
    """A PDF with one embedded file (``/EmbeddedFiles`` name tree), written by hand."""
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R /Names << /EmbeddedFiles << /Names [(f) 5 0 R] >> >> >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
        b"<< /Length 0 >>\nstream\n\nendstream",
        b"<< /Type /Filespec /F (" + name.encode("ascii", "replace") + b") /EF << /F 6 0 R >> >>",
        b"<< /Type /EmbeddedFile /Length %d >>\nstream\n" % len(data) + data + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return bytes(out)


def carry(carrier: str, encoding: str) -> Item:
    transform, charset = ENCODINGS[encoding]
    return CARRIERS[carrier](transform(PAYLOAD), "utf-8" if carrier in _OWN_CHARSET else charset)


@pytest.mark.parametrize("carrier", list(CARRIERS))
def test_every_carrier_is_found(carrier: str) -> None:
    result = scan(carry(carrier, "utf-8"))
    assert found(result), [(f.type, f.value, f.location) for f in result.findings]


@pytest.mark.parametrize("encoding", list(ENCODINGS))
@pytest.mark.parametrize(
    "carrier", ["mail text/plain base64", "file .txt", "file .csv", "csv disguised as a gif"]
)
def test_every_encoding_is_found(carrier: str, encoding: str) -> None:
    assert found(scan(carry(carrier, encoding)))


@pytest.mark.parametrize("wrapper", list(WRAPPERS))
@pytest.mark.parametrize("carrier", ["file .csv", "docx body", "mail text/plain 8bit"])
def test_every_wrapper_is_opened(wrapper: str, carrier: str) -> None:
    result = scan(WRAPPERS[wrapper](carry(carrier, "utf-8")))
    assert found(result), [(p.location, p.content_type, p.truncated) for p in result.parts]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    encoding=st.sampled_from(sorted(ENCODINGS)),
    carrier=st.sampled_from(sorted(CARRIERS)),
    wrappers=st.lists(st.sampled_from(sorted(WRAPPERS)), max_size=2),
)
def test_a_planted_my_number_is_found_or_reported(encoding: str, carrier: str, wrappers: list[str]) -> None:
    item = carry(carrier, encoding)
    for name in wrappers:
        item = WRAPPERS[name](item)
    result = scan(item)
    assert found(result) or not result.fully_inspected, (carrier, encoding, wrappers)
