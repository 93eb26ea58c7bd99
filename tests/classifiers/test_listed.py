"""``scan_listed`` beside ``scan_bytes``: for content it answers, the same result; for anything
else, no answer (the full classification reads it)."""

from __future__ import annotations

import io
import os
import struct
import zipfile
import zlib

import pytest

from classifiers import ScanResult, listed_at_once, scan_bytes, scan_listed


def png(size: int = 4096) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    head = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 64, 64, 8, 2, 0, 0, 0))
    return head + chunk(b"IDAT", os.urandom(size)) + chunk(b"IEND", b"")


JPEG = (
    b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + os.urandom(4096) + b"\xff\xd9"
)
GIF = b"GIF89a\x10\x00\x10\x00\x80\x00\x00" + bytes(200)
TIFF = b"II*\x00\x08\x00\x00\x00" + bytes(200)
MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + bytes(400)


def zipped() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("顧客.csv", "氏名,マイナンバー\n山田,123456789018\n")
    return out.getvalue()


LISTED = [
    (png(), "photo.png", "image/png"),
    (png(200_000), "IMG_0001.PNG", None),
    (png(), "photo.png", "application/octet-stream"),  # says nothing: not a claim
    (png(), "photo", None),
    (png(), "写真.jpg", "image/jpeg"),  # another picture: one family, no disguise
    (JPEG, "photo.jpeg", "image/jpeg"),
    (GIF, "logo.gif", None),
    (TIFF, "scan.tif", "image/tiff"),
    (MP4, "clip.mp4", "video/mp4"),
]

NOT_LISTED = [
    (png(), "名簿.csv", None),  # a picture named as a list: read as a CSV too
    (png(), "photo.png", "text/csv"),
    (png(), "photo.mp3", None),  # a picture named as a sound: a disguise, reported
    (png() + zipped(), "photo.png", "image/png"),  # an archive appended
    (b"name,phone\n" * 100, "photo.png", "image/png"),
    ("氏名,電話\n".encode() * 100, "list.csv", "text/csv"),
    (zipped(), "a.zip", None),
    (b"%PDF-1.4\n" + bytes(100), "photo.png", None),
    (os.urandom(4096), "photo.png", None),  # bytes libmagic does not know: unsupported
    (b"", "photo.png", None),
    (b"\x89PNG\r\n\x1a\n" + bytes(100), "photo.png", None),  # no header: not a picture to libmagic
]


@pytest.mark.parametrize(("data", "name", "declared"), LISTED)
def test_a_listed_file_has_the_scan_the_full_classification_gives(
    data: bytes, name: str, declared: str | None
) -> None:
    listed = scan_listed(data, name, declared_type=declared)
    assert isinstance(listed, ScanResult)
    assert listed == scan_bytes(data, name, declared_type=declared)
    assert listed.fully_inspected and listed.records == 0


@pytest.mark.parametrize(("data", "name", "declared"), NOT_LISTED)
def test_anything_else_is_left_to_the_full_classification(
    data: bytes, name: str, declared: str | None
) -> None:
    assert scan_listed(data, name, declared_type=declared) is None


def test_only_png_and_jpeg_heads_without_a_zip_directory_are_answered_at_once() -> None:
    assert listed_at_once(png()) and listed_at_once(JPEG)
    assert not listed_at_once(GIF) and not listed_at_once(MP4) and not listed_at_once(b"name,phone\n")
    assert not listed_at_once(png() + zipped())
