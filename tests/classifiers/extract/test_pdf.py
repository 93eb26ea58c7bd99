from __future__ import annotations

import pytest

from classifiers.extract import extract_file
from classifiers.limits import Deadline, Limits
from tests.classifiers.extract.builders import pdf_bytes

LIMITS = Limits(max_seconds=5)


def extract(data: bytes, limits: Limits = LIMITS):
    ex = extract_file(data, "report.pdf", limits, Deadline(limits.max_seconds))
    return {p.location: p for p in ex.parts}, ex.errors


def test_text_per_page_with_japanese_cid_font():
    parts, errors = extract(pdf_bytes(["一頁目 個人番号 123456789018", "二頁目 ①㈱髙"]))
    assert errors == []
    pdf = parts["report.pdf"]
    assert pdf.content_type == "application/pdf"
    assert pdf.location_at(pdf.text.index("123456789018")) == "report.pdf!p1"
    assert pdf.location_at(pdf.text.index("①㈱髙")) == "report.pdf!p2"


def test_metadata_part():
    parts, _ = extract(pdf_bytes(["x"]))
    meta = parts["report.pdf!properties"]
    assert meta.kind == "metadata"
    lines = meta.text.splitlines()
    for line in (
        "title: 四半期報告 社外秘",
        "author: 経理部 髙橋",
        "subject: 顧客情報",
        "keywords: 機密, 個人情報",
    ):
        assert line in lines


def test_page_limit():
    parts, errors = extract(
        pdf_bytes([f"page {n}" for n in range(1, 6)]), Limits(max_seconds=5, max_pdf_pages=2)
    )
    pdf = parts["report.pdf"]
    assert pdf.truncated == ("pdf_pages",)
    assert "page 2" in pdf.text and "page 3" not in pdf.text
    assert errors


def test_encrypted_pdf():
    parts, errors = extract(pdf_bytes(["秘密"], password="pw"))
    assert parts["report.pdf"].encrypted
    assert parts["report.pdf"].text == ""
    assert errors


@pytest.mark.parametrize(
    "mangle",
    [
        lambda d: d[: len(d) // 2],
        lambda d: d.replace(b"obj", b"jbo"),
        lambda d: b"%PDF-1.4\n" + b"\x00garbage" * 50,
        lambda d: d.replace(b"/Root", b"/Rooo"),
    ],
    ids=["cut", "no-objects", "garbage", "no-root"],
)
def test_corrupt_pdf(mangle):
    parts, errors = extract(mangle(pdf_bytes(["本文"], metadata=False)))
    assert parts["report.pdf"].truncated == ("corrupt",)
    assert any("corrupt PDF" in e for e in errors)


def test_corrupt_pdf_is_flagged():
    parts, errors = extract(
        b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >>\nendobj\ntrailer\n<< >>\n%%EOF"
    )
    assert parts["report.pdf"].truncated == ("corrupt",)
    assert errors
