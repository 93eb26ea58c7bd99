"""The package API: whole messages end to end, and hostile input that must never raise."""

from __future__ import annotations

import base64
import functools
import io
import zipfile
from email.message import EmailMessage

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from classifiers import scan_bytes, scan_file, scan_message
from classifiers.extract import Extraction, extract_file, extract_message
from classifiers.limits import TRUNCATION_REASONS, Deadline, Limits
from classifiers.model import ScanResult
from tests.classifiers.extract.builders import (
    EXTENSIONS,
    docx_bytes,
    pdf_bytes,
    pptx_bytes,
    to_cp50221,
    xlsx_bytes,
    zip_of,
)

LIMITS = Limits(max_seconds=5)


@functools.cache
def rich_message() -> bytes:
    """A Japanese business mail with one attachment of every supported kind."""
    msg = EmailMessage()
    msg["From"] = "yamada@example.co.jp"
    msg["To"] = "partner@example.com"
    msg["Subject"] = (
        "=?ISO-2022-JP?B?" + base64.b64encode(to_cp50221("【社外秘】" + EXTENSIONS)).decode() + "?="
    )
    msg.set_content("お世話になっております。個人番号 123456789018 をお送りします。")
    msg.add_alternative(
        "<p>お世話になっております。<a href='https://share.example/s/x'>資料</a></p>", subtype="html"
    )
    for name, data in [
        ("顧客.xlsx", xlsx_bytes()),
        ("報告.docx", docx_bytes()),
        ("資料.pptx", pptx_bytes()),
        ("決算.pdf", pdf_bytes(["決算 個人番号 123456789018"])),
        ("まとめ.zip", zip_of({"名簿.csv": "氏名,番号\n山田,123456789018\n".encode("cp932")})),
    ]:
        msg.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    return msg.as_bytes()


def test_rich_message_locations():
    ex = extract_message(rich_message(), LIMITS, Deadline(5))
    assert ex.errors == []
    locations = [p.location for p in ex.parts]
    assert locations == [
        "subject",
        "body",
        "body[2]",
        "顧客.xlsx!顧客",
        "顧客.xlsx!集計",
        "顧客.xlsx!properties",
        "報告.docx",
        "報告.docx!properties",
        "資料.pptx",
        "資料.pptx!properties",
        "資料.pptx!other",  # its slide master and layouts
        "決算.pdf",
        "決算.pdf!properties",
        "まとめ.zip/名簿.csv",
        "headers",
    ]
    assert ex.parts[0].text == "【社外秘】" + EXTENSIONS
    assert ex.parts[-1].kind == "header"
    result = scan_message(rich_message(), LIMITS)
    assert result.fully_inspected
    located = {f.location for f in result.findings if f.type == "my_number"}
    assert {"body", "顧客.xlsx!顧客!D12", "報告.docx", "資料.pptx!slide1!notes", "決算.pdf!p1",
            "まとめ.zip/名簿.csv!R2"} <= located  # fmt: skip


def test_time_limit_is_reported():
    result = scan_message(rich_message(), Limits(max_seconds=0))
    assert result.truncated
    assert {reason for _, reason in result.truncated} == {"time"}


def test_scan_bytes_sniffs_a_message():
    result = scan_bytes(rich_message(), "upload.bin", LIMITS)
    assert result.parts[0].location == "subject"


def test_scan_file_goes_by_content(tmp_path):
    eml = tmp_path / "mail.eml"
    eml.write_bytes(rich_message())
    assert scan_file(eml, LIMITS).parts[0].location == "subject"
    disguised = tmp_path / "mail2.eml"
    disguised.write_bytes(zip_of({"名簿.csv": b"a,b\n"}))
    parts = scan_file(disguised, LIMITS).parts
    assert [p.location for p in parts] == ["mail2.eml/名簿.csv", "mail2.eml"]
    assert parts[1].type_mismatch == ("name .eml",)  # a zip named .eml is reported as such
    odd = tmp_path / "odd.eml"
    odd.write_bytes(b"X-Custom: 1\r\n\r\nbody only\r\n")
    assert [p.location for p in scan_file(odd, LIMITS).parts] == ["body"]
    unnamed = tmp_path / "upload.bin"
    unnamed.write_bytes(rich_message())
    assert scan_file(unnamed, LIMITS).parts[1].location == "body"


def _check(ex: Extraction) -> None:
    assert isinstance(ex, Extraction)
    for part in ex.parts:
        assert isinstance(part.text, str)
        assert set(part.truncated) <= set(TRUNCATION_REASONS)


FAST = Limits(max_seconds=2, max_parts=50)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_raise(data):
    _check(extract_message(data, FAST, Deadline(FAST.max_seconds)))
    _check(extract_file(data, "x.bin", FAST, Deadline(FAST.max_seconds)))
    assert isinstance(scan_message(data, FAST), ScanResult)


_MIME_NOISE = [b"\r\n", b"--", b"Content-Type: multipart/mixed; boundary=", b"=?ISO-2022-JP?B?", b"\x1b$B",
               b"Content-Transfer-Encoding: base64\r\n", b"filename*=", b"message/rfc822", b"\r\n\r\n", b"PK\x03\x04"]  # fmt: skip


@st.composite
def mutated(draw: st.DrawFn, base: bytes) -> bytes:
    data = bytearray(base)
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.sampled_from(["flip", "cut", "insert", "delete"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif op == "cut":
            del data[at:]
        elif op == "insert":
            data[at:at] = draw(st.sampled_from(_MIME_NOISE) | st.binary(max_size=16))
        elif data:
            del data[at : at + draw(st.integers(1, 4096))]
    return bytes(data)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(st.data())
def test_mutated_messages_never_raise(data):
    raw = data.draw(mutated(rich_message()))
    _check(extract_message(raw, FAST, Deadline(FAST.max_seconds)))
    assert isinstance(scan_message(raw, FAST), ScanResult)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(st.sampled_from(["xlsx", "docx", "pptx", "pdf", "zip"]), st.data())
def test_mutated_files_never_raise(kind, data):
    base = {"xlsx": xlsx_bytes, "docx": docx_bytes, "pptx": pptx_bytes, "pdf": lambda: pdf_bytes(["本文"]),
            "zip": lambda: zip_of({"a.csv": b"a,b\n", "b.zip": zip_of({"c.txt": b"x"})})}  # fmt: skip
    blob = data.draw(mutated(_cached(kind, base[kind])))
    _check(extract_file(blob, f"f.{kind}", FAST, Deadline(FAST.max_seconds)))


_CACHE: dict[str, bytes] = {}


def _cached(kind: str, build) -> bytes:
    if kind not in _CACHE:
        _CACHE[kind] = build()
    return _CACHE[kind]


def test_a_zip_member_without_a_name_is_read_and_its_neighbours_too() -> None:
    """A crafted archive may hold a member with an empty name (``ZipInfo.is_dir`` raises on it):
    the archive is still read, and a My Number in the member beside it is found."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr(zipfile.ZipInfo(""), b"no name")
        zf.writestr("list.txt", "マイナンバー 1234 5678 9018".encode())
    result = scan_bytes(out.getvalue(), "files.zip")
    assert any(f.type == "my_number" and f.normalized == "123456789018" for f in result.findings)
