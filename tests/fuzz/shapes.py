"""Hostile shapes of input, at any size: each plants a My Number at its start, so that a test can
check that what was found before a limit tripped is kept.

Used by the hypothesis tests (several MiB of each shape), the gateway's hostile-set test (peak
memory and decision time of a worker) and the atheris harness (``make fuzz``), which sizes and
mixes them from the fuzzer's bytes.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from collections.abc import Callable
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

PLANTED = "マイナンバー 1234 5678 9018"
PLANTED_DIGITS = "123456789018"
MIB = 1024 * 1024


def _deflate_repeated(chunk: bytes, times: int) -> bytes:
    c = zlib.compressobj(9)
    return b"".join([*(c.compress(chunk) for _ in range(times)), c.flush()])


def raw_pdf(content: bytes, *, flate: bool = True) -> bytes:
    """A one-page PDF (Helvetica) whose page content stream is ``content`` (already deflated)."""
    filt = b" /Filter /FlateDecode" if flate else b""
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 5 0 R >> >>"
        b" /Contents 4 0 R >>",
        b"<< /Length %d%s >>\nstream\n" % (len(content), filt) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return bytes(out)


_PDF_PLANTED = b"BT /F1 12 Tf 72 700 Td (My Number 1234 5678 9018) Tj ET\n"


def pdf_spaces(mib: int) -> bytes:
    """A page whose content stream inflates to ``64 * mib`` MiB of spaces (issue 10: 1 GiB)."""
    c = zlib.compressobj(9)
    parts = [c.compress(_PDF_PLANTED)]
    parts += [c.compress(b" " * MIB) for _ in range(64 * mib)]
    parts.append(c.flush())
    return raw_pdf(b"".join(parts))


def pdf_operators(mib: int) -> bytes:
    """A page of ``12 * mib`` MiB of text-showing operators (issue 10: 200 MB in 583 KB)."""
    ops = b"BT /F1 1 Tf 1 1 Td (a) Tj ET\n" * 1000
    c = zlib.compressobj(9)
    parts = [c.compress(_PDF_PLANTED)]
    parts += [c.compress(ops) for _ in range(12 * mib * MIB // len(ops))]
    parts.append(c.flush())
    return raw_pdf(b"".join(parts))


def pdf_damaged_stream(mib: int) -> bytes:
    """A deflated stream damaged after its start (pdfminer's own recovery reads it byte by byte)."""
    good = zlib.compress(_PDF_PLANTED + b" " * (mib * MIB), 1)
    return raw_pdf(good[: len(good) // 2] + b"\xff" * (mib * MIB // 4))


def _text(mib: int, unit: str) -> bytes:
    return (PLANTED + "\n" + unit * (mib * MIB // len(unit.encode()))).encode()


def text_digits(mib: int) -> bytes:
    return _text(mib, "1")


def text_emails(mib: int) -> bytes:
    return _text(mib, "a@b.jp ")


def text_numbers(mib: int) -> bytes:
    return _text(mib, "1234 5678 9018 ")


def csv_quotes(mib: int) -> bytes:
    return _text(mib, '"')


def csv_newlines(mib: int) -> bytes:
    return _text(mib, "\n")


def json_deep(mib: int) -> bytes:
    n = mib * MIB // 2
    return ('{"memo": "' + PLANTED + '", "x": ' + "[" * n + "]" * n + "}").encode()


def json_strings(mib: int) -> bytes:
    return ('["' + PLANTED + '"' + ',"ab"' * (mib * MIB // 5) + "]").encode()


def html_nested(mib: int) -> bytes:
    return ("<html><body><p>" + PLANTED + "</p>" + "<b>" * (mib * MIB // 3) + "</body></html>").encode()


def html_comments(mib: int) -> bytes:
    return (
        "<html><body><p>" + PLANTED + "</p>" + "<!--[if mso]><p>x</p><![endif]-->" * (mib * MIB // 34)
    ).encode()


def xml_elements(mib: int) -> bytes:
    return ('<?xml version="1.0"?><r><m>' + PLANTED + "</m>" + "<a/>" * (mib * MIB // 4) + "</r>").encode()


def zip_bomb(mib: int) -> bytes:
    """One member that inflates far past the ratio limit, after one with the number."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.txt", PLANTED)
        info = zipfile.ZipInfo("bomb.txt")
        info.compress_type = zipfile.ZIP_DEFLATED
        with zf.open(info, "w", force_zip64=True) as fh:
            for _ in range(64 * mib):
                fh.write(b"\0" * MIB)
    return buf.getvalue()


def zip_many_members(mib: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("a.txt", PLANTED)
        for n in range(mib * MIB // 100):
            zf.writestr(f"{n}.txt", b"x")
    return buf.getvalue()


#: Shapes of files: name -> (file name, builder of about ``mib`` MiB on the wire)
FILES: dict[str, tuple[str, Callable[[int], bytes]]] = {
    "pdf_spaces": ("a.pdf", pdf_spaces),
    "pdf_operators": ("a.pdf", pdf_operators),
    "pdf_damaged_stream": ("a.pdf", pdf_damaged_stream),
    "text_digits": ("a.txt", text_digits),
    "text_emails": ("a.txt", text_emails),
    "text_numbers": ("a.txt", text_numbers),
    "csv_quotes": ("a.csv", csv_quotes),
    "csv_newlines": ("a.csv", csv_newlines),
    "json_deep": ("a.json", json_deep),
    "json_strings": ("a.json", json_strings),
    "html_nested": ("a.html", html_nested),
    "html_comments": ("a.html", html_comments),
    "xml_elements": ("a.xml", xml_elements),
    "zip_bomb": ("a.zip", zip_bomb),
    "zip_many_members": ("a.zip", zip_many_members),
}


def mime_parts(mib: int) -> bytes:
    body = "".join("--b\r\nContent-Type: text/plain\r\n\r\nx\r\n" for _ in range(mib * MIB // 40))
    return (
        "From: a@example.co.jp\r\nTo: b@example.com\r\nSubject: s\r\n"
        "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        + PLANTED
        + "\r\n"
        + body
        + "--b--\r\n"
    ).encode()


def mime_headers(mib: int) -> bytes:
    return (
        "From: a@example.co.jp\r\nTo: b@example.com\r\nSubject: =?utf-8?b?6LOH5paZ?=\r\n"
        + "X-A: b\r\n" * (mib * MIB // 8)
        + "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        + PLANTED
        + "\r\n"
    ).encode()


def mime_nested(mib: int) -> bytes:
    depth = mib * MIB // 60
    opening = "".join(
        f"--b{i}\r\nContent-Type: multipart/mixed; boundary=b{i + 1}\r\n\r\n" for i in range(depth)
    )
    return (
        "From: a@example.co.jp\r\nTo: b@example.com\r\nSubject: s\r\n"
        "Content-Type: multipart/mixed; boundary=b0\r\n\r\n--b0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        + PLANTED
        + "\r\n"
        + opening
    ).encode()


#: Shapes of whole messages: name -> builder
MESSAGES: dict[str, Callable[[int], bytes]] = {
    "mime_parts": mime_parts,
    "mime_headers": mime_headers,
    "mime_nested": mime_nested,
}


def as_mail(name: str, data: bytes) -> bytes:
    """A message from the company to outside with the file attached and the number in the body."""
    msg = MIMEMultipart("mixed")
    msg["From"] = "taro@example.co.jp"
    msg["To"] = "tanaka@partner.example"
    msg["Subject"] = "資料"
    msg.attach(MIMEText("添付をご確認ください。", "plain", "utf-8"))
    msg.attach(MIMEApplication(data, Name=name))
    return msg.as_bytes()


def message(shape: str, mib: int) -> bytes:
    """``shape`` as a whole message (file shapes attached to one)."""
    if shape in MESSAGES:
        return MESSAGES[shape](mib)
    name, build = FILES[shape]
    return as_mail(name, build(mib))


SHAPES = (*FILES, *MESSAGES)
#: Shapes whose planted number is read before anything hostile (the text and PDF shapes of
#: issue 10: the number at the start of the text was lost with the MemoryError).
PLANTED_FIRST = frozenset(
    {"pdf_spaces", "pdf_operators", "text_digits", "text_emails", "text_numbers", "csv_quotes", "json_strings",
     "html_nested", "mime_parts", "mime_headers"}
)  # fmt: skip
