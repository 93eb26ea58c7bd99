"""Reading upload bodies without changing them: multipart/form-data and multipart/related
(file names raw UTF-8, RFC 2231, RFC 2047), JSON and form text, spooled bodies."""

from __future__ import annotations

import gzip
import json
import urllib.parse
import zlib
from pathlib import Path

import pytest

from gateway.proxy import bodies
from gateway.proxy.bodies import body_kind, decode, extract, json_strings, text_of


def form(*parts: tuple[bytes, bytes], boundary: bytes = b"B0undary") -> tuple[bytes, str]:
    body = b"".join(b"--" + boundary + b"\r\n" + head + b"\r\n\r\n" + data + b"\r\n" for head, data in parts)
    return body + b"--" + boundary + b"--\r\n", "multipart/form-data; boundary=" + boundary.decode()


FILE = b"a,b\r\n1,2\r\n\r\n\n"  # line breaks of every kind, kept as they are


@pytest.mark.parametrize(
    ("disposition", "name"),
    [
        ('form-data; name="file"; filename="顧客.csv"'.encode(), "顧客.csv"),  # raw UTF-8, as browsers send
        (b"form-data; name=\"file\"; filename*=UTF-8''%E9%A1%A7%E5%AE%A2.csv", "顧客.csv"),  # RFC 2231
        (b'form-data; name="file"; filename="=?UTF-8?B?6aGn5a6i?=.csv"', "顧客.csv"),  # RFC 2047 words
        (
            b'form-data; name="file"; filename="C:\\\\Users\\\\taro\\\\x.csv"',
            "x.csv",
        ),  # an old browser's path
    ],
)
def test_multipart_file_names_and_bytes(disposition: bytes, name: str) -> None:
    body, ctype = form((b"Content-Disposition: " + disposition + b"\r\nContent-Type: text/csv", FILE))
    found = extract(body, "form-data", ctype)
    assert [(p.name, p.content_type, p.data) for p in found.pieces] == [(name, "text/csv", FILE)]
    assert found.problems == []


def test_box_attributes_name_the_file_and_fields_become_text() -> None:
    body, ctype = form(
        (
            b'Content-Disposition: form-data; name="attributes"',
            '{"name": "名簿.xlsx", "parent": {"id": "0"}}'.encode(),
        ),
        (b'Content-Disposition: form-data; name="file"; filename="upload.bin"', FILE),
        (b'Content-Disposition: form-data; name="comment"', "来月の名簿です".encode()),
    )
    found = extract(body, "form-data", ctype, label="box: text")
    files = [p for p in found.pieces if not p.is_text]
    texts = [p for p in found.pieces if p.is_text]
    assert [(p.name, p.data) for p in files] == [("名簿.xlsx", FILE)]
    assert [(p.name, p.data) for p in texts] == [("box: text", "来月の名簿です".encode())]
    assert found.metadata["parent"] == {"id": "0"}


def test_drive_related_metadata_then_media() -> None:
    body = (
        b"--X\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n"
        + '{"name": "議事録.txt", "mimeType": "text/plain"}'.encode()
        + b"\r\n--X\r\nContent-Type: text/plain\r\n\r\n"
        + FILE
        + b"\r\n--X--"
    )
    found = extract(body, "related", "multipart/related; boundary=X")
    assert [(p.name, p.content_type, p.data) for p in found.pieces] == [("議事録.txt", "text/plain", FILE)]


def test_a_spooled_body_is_parsed_from_its_file_into_files(tmp_path: Path) -> None:
    big = b"0123456789" * 100_000
    body, ctype = form((b'Content-Disposition: form-data; name="file"; filename="big.bin"', big))
    spooled = tmp_path / "body"
    spooled.write_bytes(body)
    found = extract(spooled, "form-data", ctype, out_dir=tmp_path)
    (piece,) = found.pieces
    assert piece.data is None and piece.path is not None and piece.path.read_bytes() == big
    assert found.written == [piece.path] and piece.size == len(big)


def test_a_broken_multipart_body_is_reported_not_hidden() -> None:
    body, ctype = form((b'Content-Disposition: form-data; name="file"; filename="a.txt"', FILE))
    cut = body[:-40] + b"\x00garbage"
    found = extract(cut, "form-data", ctype)
    assert found.problems and "could not be read" in found.problems[0]
    assert [p.data for p in found.pieces if not p.is_text] == [cut]  # inspected whole, not let through
    no_boundary = extract(b"raw bytes", "form-data", "multipart/form-data")
    assert no_boundary.problems and no_boundary.pieces[0].data == b"raw bytes"


def test_text_bodies() -> None:
    chat = b'{"messages": [{"content": {"parts": ["\\u30de\\u30a4\\u30ca\\u30f3\\u30d0\\u30fc 1234"]}}], "model": "m"}'
    assert text_of("json", chat) == "マイナンバー 1234\nm"
    gemini = "f.req=" + '[null,"[[\\"顧客の番号 1234 5678 9018\\"]]"]'
    assert "顧客の番号 1234 5678 9018" in text_of("form", gemini.encode())
    assert text_of("json", b"{not json") == "{not json"  # scanned as it was sent
    deep = "[" * 5000 + "]" * 5000
    assert text_of("json", deep.encode()) == deep  # too deep to parse: still scanned, never a crash
    assert list(json_strings({"a": ["x", {"b": "y"}], "c": 3})) == ["x", "y"]


@pytest.mark.parametrize(
    ("declared", "ctype", "kind"),
    [
        ("auto", "multipart/form-data; boundary=x", "form-data"),
        ("auto", "multipart/related; boundary=x", "related"),
        ("auto", "application/json; charset=utf-8", "json"),
        ("auto", "application/x-www-form-urlencoded", "form"),
        ("auto", "application/octet-stream", "raw"),
        ("json", "text/plain", "json"),
    ],
)
def test_body_kind(declared: str, ctype: str, kind: str) -> None:
    assert body_kind(declared, ctype) == kind  # type: ignore[arg-type]


def test_a_compressed_body_is_read_decompressed_and_a_bomb_stops_at_the_limit(tmp_path: Path) -> None:
    text = "マイナンバー 1234 5678 9018".encode()
    both = zlib.compress(gzip.compress(text))  # gzip applied first, then deflate
    assert decode(both, "gzip, deflate", limit=1024).body == text
    bomb = gzip.compress(bytes(64 * 1024 * 1024))
    over = decode(bomb, "gzip", limit=1024 * 1024)
    assert over.body == bomb and over.problem is not None and "more than 1048576 bytes" in over.problem
    found = extract(gzip.compress(text), "raw", "text/plain", name="a.txt", content_encoding="x-gzip")
    assert [p.data for p in found.pieces] == [text] and not found.problems


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (gzip.compress(b"hello")[:-9], "ends early"),
        (gzip.compress(b"hello") + b"tail", "after the end"),
        (b"plain", "does not decompress"),
    ],
)
def test_a_body_that_does_not_decompress_is_read_as_sent_and_reported(data: bytes, reason: str) -> None:
    found = extract(data, "raw", "text/plain", name="a.txt", content_encoding="gzip")
    assert [p.data for p in found.pieces] == [data]
    assert len(found.problems) == 1 and reason in found.problems[0]


def test_a_large_decompressed_body_goes_to_a_file_and_a_spooled_one_is_read_from_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bodies, "DECODED_IN_MEMORY", 1024)
    data = bytes(range(256)) * 64  # 16 KiB
    spooled = tmp_path / "body"
    spooled.write_bytes(gzip.compress(data))
    found = extract(spooled, "raw", "", name="a.bin", out_dir=tmp_path, content_encoding="gzip")
    (piece,) = found.pieces
    assert piece.path is not None and piece.path.read_bytes() == data and found.written == [piece.path]


def test_a_json_key_given_twice_has_both_its_values_read() -> None:
    # Parsers differ on which one wins (the first, the last, or an error): the service may read either.
    sent = '{"prompt": "マイナンバー 1234 5678 9018", "prompt": "こんにちは", "x": "{\\"a\\": \\"1\\", \\"a\\": \\"2\\"}"}'
    text = text_of("json", sent.encode())
    assert text.split("\n") == ["マイナンバー 1234 5678 9018", "こんにちは", "1", "2"]


@pytest.mark.parametrize("charset", ["cp932", "euc_jp", "utf-8"])
def test_a_japanese_form_or_json_body_is_read_in_its_charset(charset: str) -> None:
    # A browser posts a form in the page's charset and does not say which (WHATWG URL s5.2).
    said = "マイナンバー 1234 5678 9018"
    form = urllib.parse.urlencode(
        {"q": said, "f.req": json.dumps([[said]], ensure_ascii=False)}, encoding=charset
    )
    (piece,) = extract(form.encode(), "form", "application/x-www-form-urlencoded").pieces
    assert piece.data is not None and piece.data.decode().split("\n") == [said, said]
    doc = json.dumps({"prompt": said}, ensure_ascii=False).encode(charset)
    label = {"cp932": "Shift_JIS", "euc_jp": "EUC-JP", "utf-8": "utf-8"}[charset]
    (piece,) = extract(doc, "json", f"application/json; charset={label}").pieces
    assert piece.data == said.encode()


@pytest.mark.parametrize("charset", ["cp932", "euc_jp"])
def test_a_multipart_form_field_is_read_in_its_charset(charset: str) -> None:
    said = "マイナンバー 1234 5678 9018"
    body, ctype = form((b'Content-Disposition: form-data; name="comment"', said.encode(charset)))
    pieces = extract(body, "form-data", ctype).pieces
    assert [p.data for p in pieces if p.is_text] == [said.encode()]
