from __future__ import annotations

import pytest

from classifiers.extract import extract_file
from classifiers.extract.sniff import looks_like_message, ooxml_kind, sniff
from classifiers.limits import Deadline, Limits
from tests.classifiers.extract.builders import docx_bytes, message, pdf_bytes, pptx_bytes, xlsx_bytes, zip_of

CASES = [
    ("text", "プレーンテキスト".encode()),
    ("text", "プレーンテキスト".encode("cp932")),
    ("html", b"<!DOCTYPE html><html><body><p>x</p></body></html>"),
    ("json", b'{"name": "\xe5\xb1\xb1\xe7\x94\xb0", "id": 1}'),
    ("xml", b'<?xml version="1.0"?><root><a>x</a></root>'),
    ("csv", b"name,tel,zip\nyamada,03-1234-5678,100-0001\nsato,06-1234-5678,530-0001\n"),
    ("zip", zip_of({"a.txt": b"x"})),
    ("pdf", pdf_bytes(["x"])),
    ("message", message()),
    ("empty", b""),
    ("empty", b"  \r\n"),
    ("binary", b"\x89PNG\r\n\x1a\n" + b"\0" * 100),
]


@pytest.mark.parametrize(("kind", "data"), CASES, ids=[f"{k}-{i}" for i, (k, _) in enumerate(CASES)])
def test_sniff_kinds(kind, data):
    assert sniff(data).kind == kind


@pytest.mark.parametrize(
    ("builder", "kind"), [(docx_bytes, "docx"), (xlsx_bytes, "xlsx"), (pptx_bytes, "pptx")]
)
def test_ooxml_is_told_apart_by_content_types(builder, kind):
    data = builder()
    assert ooxml_kind(data) == kind
    assert sniff(data).kind == kind


def test_a_plain_zip_is_not_ooxml():
    assert ooxml_kind(zip_of({"a.txt": b"x"})) is None


def test_content_decides_first_and_a_name_that_disagrees_is_reported():
    zipped = zip_of({"inner.csv": b"a,b\n1,2\n"})
    ex = extract_file(zipped, "notes.txt", Limits(), Deadline(5))  # a .txt that is really a zip
    assert [(p.location, p.type_mismatch) for p in ex.parts][:2] == [
        ("notes.txt/inner.csv", ()),
        ("notes.txt", ("name .txt",)),
    ]
    assert ex.parts[2].content_type == "text/plain"  # ... and read as the text it claims to be
    ex = extract_file(zipped, "scan.pdf", Limits(), Deadline(5))  # a zip named .pdf
    assert [(p.location, p.type_mismatch) for p in ex.parts] == [
        ("scan.pdf/inner.csv", ()),
        ("scan.pdf", ("name .pdf",)),
    ]
    ex = extract_file(xlsx_bytes(), "data.zip", Limits(), Deadline(5))  # an xlsx named .zip: no disguise
    assert "data.zip!顧客" in [p.location for p in ex.parts]
    assert not any(p.type_mismatch for p in ex.parts)
    ex = extract_file(b"plain words", "report.pdf", Limits(), Deadline(5))
    assert ex.parts[0].text == "plain words"
    assert ex.parts[0].content_type == "text/plain"
    assert ex.parts[0].type_mismatch == ("name .pdf",)
    assert [p.truncated for p in ex.parts] == [()]  # read as a PDF it is no PDF: no damage


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"From: a@example.jp\r\nTo: b@example.jp\r\n\r\nbody", True),
        (b"Received: from x\r\nSubject: y\r\n\r\n", True),
        (b"Subject: only one\r\n\r\n", False),
        (b"Dear all,\r\nFrom: me\r\n", False),
        (b"", False),
    ],
)
def test_looks_like_message(data, expected):
    assert looks_like_message(data) is expected
