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
