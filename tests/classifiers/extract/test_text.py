from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from classifiers.extract import extract_file
from classifiers.extract.text import _quoted_record_starts, declared_charset, record_starts
from classifiers.limits import Deadline, Limits
from tests.classifiers.extract.builders import SAMPLE, to_cp51932


def extract(data: bytes, name: str, limits: Limits | None = None):
    limits = limits or Limits(max_seconds=5)
    return extract_file(data, name, limits, Deadline(limits.max_seconds))


@pytest.mark.parametrize(
    ("text", "starts"),
    [
        ("a\nb\nc", [0, 2, 4]),
        ("a\r\nb\r\n", [0, 3]),
        ('x,"multi\nline",y\nnext', [0, 17]),
        ("", [0]),
    ],
)
def test_record_starts(text, starts):
    assert record_starts(text) == starts


@given(st.text(alphabet='ab,"\r\n\v\x1c\u2028', max_size=30))
def test_record_starts_with_and_without_quotes(text: str) -> None:
    """The quick path (no quotes, no exotic breaks) agrees with the quote-tracking one."""
    assert record_starts(text) == _quoted_record_starts(text)


@pytest.mark.parametrize(
    ("data", "name"),
    [
        ("氏名,電話\r\n山田,03-1234-5678\r\n佐藤,\"06-1234\r\n-5678\"\r\n鈴木,011-123-4567\r\n".encode("cp932"),
         "list.csv"),
        ("氏名\t電話\n山田\t03-1234-5678\n佐藤\t\"06-1234\n-5678\"\n鈴木\t011-123-4567\n".encode(), "list.tsv"),
    ],
)  # fmt: skip
def test_delimited_rows_are_segments(data, name):
    part = extract(data, name).parts[0]
    assert part.location_at(part.text.index("山田")) == f"{name}!R2"
    assert part.location_at(part.text.index('-5678"')) == f"{name}!R3"
    assert part.location_at(part.text.index("鈴木")) == f"{name}!R4"


@pytest.mark.parametrize(
    ("data", "name", "content_type"),
    [
        ('{"氏名": "山田", "番号": "123456789018"}'.encode(), "a.json", "application/json"),
        (
            f'<?xml version="1.0" encoding="Shift_JIS"?><r>{SAMPLE}</r>'.encode("cp932"),
            "a.xml",
            "application/xml",
        ),
        (to_cp51932(SAMPLE), "memo.txt", "text/plain"),
    ],
)
def test_text_files_decode(data, name, content_type):
    part = extract(data, name).parts[0]
    assert SAMPLE in part.text or "山田" in part.text
    assert part.content_type == content_type
    assert part.kind == "file"


def test_html_file_with_meta_charset():
    html = f'<html><head><meta charset="euc-jp"></head><body><a href="https://x.example/s">{SAMPLE}</a></body></html>'
    part = extract(to_cp51932(html), "page.html").parts[0]
    assert SAMPLE in part.text and "https://x.example/s" in part.text


@pytest.mark.parametrize(
    ("data", "kind", "expected"),
    [
        (b'<?xml version="1.0" encoding="EUC-JP"?>', "xml", "EUC-JP"),
        (b"<?xml version='1.0'?>", "xml", None),
        (b'<meta charset="utf-8">', "html", "utf-8"),
        (b"<p>no meta</p>", "html", None),
    ],
)
def test_declared_charset(data, kind, expected):
    assert declared_charset(data, kind) == expected


def test_text_bytes_limit_cuts_a_file():
    part = extract(("あ" * 1000).encode(), "big.txt", Limits(max_seconds=5, max_text_bytes=300)).parts[0]
    assert part.truncated == ("text_bytes",)
    assert len(part.text.encode()) <= 300
