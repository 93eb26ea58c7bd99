from __future__ import annotations

import io
import zipfile

import pyzipper

from classifiers.extract import extract_file
from classifiers.extract.archive import member_name
from classifiers.limits import Deadline, Limits
from tests.classifiers.extract.builders import zip_of

LIMITS = Limits(max_seconds=5)


def extract(data: bytes, name: str = "a.zip", limits: Limits = LIMITS):
    ex = extract_file(data, name, limits, Deadline(limits.max_seconds))
    return {p.location: p for p in ex.parts}, ex.errors


def test_nested_zip_locations():
    inner = zip_of({"b.csv": "名前,電話\n山田,03-1234-5678\n".encode(), "dir/c.txt": b"hello"})
    parts, errors = extract(zip_of({"inner.zip": inner, "top.txt": "上".encode()}))
    assert errors == []
    assert set(parts) == {"a.zip/inner.zip/b.csv", "a.zip/inner.zip/dir/c.txt", "a.zip/top.txt"}
    csv = parts["a.zip/inner.zip/b.csv"]
    assert csv.filename == "b.csv"
    assert csv.location_at(csv.text.index("山田")) == "a.zip/inner.zip/b.csv!R2"


def test_cp932_member_names_without_utf8_flag():
    name = "名簿.csv".encode("cp932")
    placeholder = b"X" * (len(name) - 4) + b".csv"
    data = zip_of({placeholder.decode(): b"a,b\n"}).replace(placeholder, name)
    info = zipfile.ZipFile(io.BytesIO(data)).infolist()[0]
    assert not info.flag_bits & 0x800
    assert member_name(info) == "名簿.csv"
    parts, _ = extract(data)
    assert "a.zip/名簿.csv" in parts


def test_zip_bomb_by_ratio():
    data = zip_of({"bomb.txt": b"\0" * (20 * 1024 * 1024), "ok.txt": b"fine"})
    parts, errors = extract(data)
    assert parts["a.zip/bomb.txt"].truncated == ("ratio",)
    assert parts["a.zip/ok.txt"].text == "fine"
    assert errors


def test_member_bytes_stops_the_stream_and_keeps_the_start():
    line = "".join(f"{n:08d} 個人番号\n" for n in range(200_000)).encode()
    limits = Limits(max_seconds=5, max_member_bytes=64 * 1024, max_ratio=1000)
    parts, errors = extract(zip_of({"big.txt": line}), limits=limits)
    big = parts["a.zip/big.txt"]
    assert big.truncated == ("member_bytes",)
    assert big.text.startswith("00000000 個人番号")
    assert len(big.text) <= limits.max_member_bytes
    assert errors


def test_twenty_deep_nested_zip_stops_at_depth():
    data = b"leaf text"
    name = "leaf.txt"
    for level in range(20):
        data = zip_of({name: data})
        name = f"level{level}.zip"
    parts, _ = extract(data, "top.zip")
    deep = [p for p in parts.values() if "depth" in p.truncated]
    assert len(deep) == 1
    assert deep[0].location.count("/") == LIMITS.max_depth + 1
    assert not any("time" in p.truncated for p in parts.values())


def test_encrypted_zip():
    buf = io.BytesIO()
    with pyzipper.AESZipFile(buf, "w", compression=pyzipper.ZIP_DEFLATED, encryption=pyzipper.WZ_AES) as zf:
        zf.setpassword(b"secret")
        zf.writestr("顧客.xlsx", b"not read")
    parts, _ = extract(buf.getvalue(), "secret.zip")
    member = parts["secret.zip/顧客.xlsx"]
    assert member.encrypted
    assert member.filename == "顧客.xlsx"


def test_corrupt_zip():
    data = zip_of({"a.txt": b"x" * 1000})
    parts, errors = extract(data[:-30] + b"\0" * 30)
    assert parts["a.zip"].truncated == ("corrupt",)
    assert errors


def test_crc_error_is_corrupt_and_other_members_survive():
    data = bytearray(
        zip_of({"a.txt": b"first member", "b.txt": b"second member"}, compression=zipfile.ZIP_STORED)
    )
    at = data.index(b"first member")
    data[at] = ord("F")
    parts, errors = extract(bytes(data))
    assert parts["a.zip/a.txt"].truncated == ("corrupt",)
    assert parts["a.zip/b.txt"].text == "second member"
    assert errors


def test_parts_limit_inside_an_archive():
    data = zip_of({f"f{n}.txt": b"x" for n in range(50)})
    parts, _ = extract(data, limits=Limits(max_seconds=5, max_parts=10))
    assert len(parts) == 11
    assert list(parts.values())[-1].truncated == ("parts",)
