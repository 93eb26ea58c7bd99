from __future__ import annotations

import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from classifiers.extract.charset import (
    _iso2022,
    _iso2022_runs,
    _Unsupported,
    canonical,
    decode_eucjp,
    decode_iso2022jp,
    decode_text,
    detect,
)
from tests.classifiers.extract.builders import EXTENSIONS, SAMPLE, to_cp50221, to_cp51932

TEXTS = [EXTENSIONS, SAMPLE, "ｶﾅ混在のﾃｷｽﾄ ①", "ASCII only 123"]


def iconv(text: str, charset: str) -> bytes:
    """An encoder independent of ours (glibc iconv)."""
    return subprocess.run(
        ["iconv", "-f", "UTF-8", "-t", charset], input=text.encode(), capture_output=True, check=True
    ).stdout


ENCODINGS = [
    ("cp932", lambda t: t.encode("cp932"), ["Shift_JIS", "cp932", "Windows-31J", "x-sjis", None]),
    ("cp50221", to_cp50221, ["ISO-2022-JP", "CP50221", "csISO2022JP", None]),
    ("cp50222", lambda t: to_cp50221(t, shift_out=True), ["ISO-2022-JP", "CP50222"]),
    ("cp51932", to_cp51932, ["EUC-JP", "cp51932", None]),
    ("utf-8", lambda t: t.encode("utf-8"), ["UTF-8", "utf8", None]),
]


@pytest.mark.parametrize("text", TEXTS)
@pytest.mark.parametrize(("name", "encode", "declarations"), ENCODINGS, ids=[e[0] for e in ENCODINGS])
def test_round_trip_with_extensions(name, encode, declarations, text):
    data = encode(text)
    for declared in declarations:
        assert decode_text(data, declared).text == text, (name, declared)


@pytest.mark.parametrize(
    ("charset", "text"),
    [
        ("CP932", SAMPLE),
        ("EUC-JP-MS", "①㈱ 高橋 ｱｲｳ"),
        ("ISO-2022-JP", "日本語のテキスト"),
        ("EUC-JP", "日本語のテキスト"),
    ],
)
def test_decodes_what_iconv_encodes(charset, text):
    assert decode_text(iconv(text, charset), charset).text == text


def test_python_iso2022_jp_encoder_output_decodes():
    text = "日本語 abc テスト"
    assert decode_iso2022jp(text.encode("iso2022_jp")) == text


def test_jis_x_0212_in_iso2022_and_euc():
    ch = "丂"  # JIS X 0212 only
    euc = ch.encode("euc_jp")
    assert euc[0] == 0x8F
    assert decode_eucjp(euc) == ch
    assert decode_iso2022jp(b"\x1b$(D" + bytes((euc[1] & 0x7F, euc[2] & 0x7F)) + b"\x1b(B") == ch


def test_iso2022_jp_2004_escape_falls_back_to_python_codec():
    text = "𠀋"  # JIS X 0213 plane 2
    assert decode_iso2022jp(text.encode("iso2022_jp_2004")) == text


@pytest.mark.parametrize(
    ("data", "declared", "expected"),
    [
        (SAMPLE.encode("cp932"), "iso-8859-1", SAMPLE),  # single-byte declaration, mojibake
        (SAMPLE.encode("cp932"), "utf-8", SAMPLE),  # fails to decode
        (SAMPLE.encode("utf-8"), "shift_jis", SAMPLE),  # valid UTF-8 wins over a lie
        (to_cp51932(SAMPLE), "us-ascii", SAMPLE),
        (SAMPLE.encode("cp932"), "iso-2022-jp", SAMPLE),  # 8-bit bytes in a 7-bit charset
        (SAMPLE.encode("cp932"), "x-bogus-charset", SAMPLE),
        (SAMPLE.encode("utf-8"), "windows-1252", SAMPLE),
    ],
)
def test_lying_declarations_fall_back_to_detection(data, declared, expected):
    decoded = decode_text(data, declared)
    assert decoded.text == expected
    assert not decoded.declared_ok


@pytest.mark.parametrize(
    ("label", "canon"),
    [("ISO-2022-JP", "iso2022_jp"), ("Shift_JIS", "shift_jis"), ("EUC-JP", "euc_jp"), ("utf-8", "utf_8"),
     ("\"UTF-8\"", "utf_8"), ("", ""), (None, ""), ("unknown-8bit", "")],
)  # fmt: skip
def test_canonical(label, canon):
    assert canonical(label) == canon


@pytest.mark.parametrize(
    ("data", "expected"),
    [(b"plain", "ascii"), (to_cp50221("日本"), "iso2022_jp"), ("日本".encode(), "utf_8"),
     (b"\xef\xbb\xbfabc", "utf_8_sig"), (SAMPLE.encode("cp932"), "cp932"), (to_cp51932(SAMPLE * 3), "euc_jp")],
)  # fmt: skip
def test_detect(data, expected):
    assert detect(data) == expected


def _byte_loop(data: bytes) -> str | None:
    try:
        return _iso2022(data)
    except (_Unsupported, UnicodeDecodeError):
        return None


def test_iso2022_runs_decode_every_jis_pair_as_the_byte_loop_does():
    every_pair = bytes(b for j1 in range(0x21, 0x7F) for j2 in range(0x21, 0x7F) for b in (j1, j2))
    data = b"To: x\r\n\x1b$B" + every_pair + b"\x1b(B\r\n\x1b(I1\x1b&@\x1b$B$3\n$s\x1b(J!"
    assert _iso2022_runs(data) == _byte_loop(data) is not None
    # an unassigned pair (undecodable in cp932) next to each other pair: the same replacement
    for j1 in range(0x21, 0x7F, 7):
        for j2 in range(0x21, 0x7F):
            data = b"\x1b$B" + bytes((0x2F, 0x7E, j1, j2)) + b"\x1b(Bx\x1b$B" + bytes((j2, j1)) + b"\x1b(Iz"
            assert _iso2022_runs(data) == _byte_loop(data)


_PIECES = [b"\x1b$B", b"\x1b(B", b"\x1b(J", b"\x1b(I", b"\x1b&@", b"\x1b$@", b"\x1b(", b"\x1b$(D", b"\x1b",
           b"\r\n", b" ", b"\x7f", b"\x00", b"\x0e", b"\x0f", b"\x80", b"$B", b"!!", b"0!", b"~~", b"`a", b"1"]  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(_PIECES), st.binary(max_size=5)), max_size=16))
def test_iso2022_runs_answer_as_the_byte_loop_or_leave_it(pieces):
    data = b"".join(pieces)
    fast = _iso2022_runs(data)
    if fast is not None:
        assert fast == _byte_loop(data)


@pytest.mark.parametrize("bad", [b"\x1b$B\x21", b"\x1b$B\x21\x0a\x1b(B", b"\x1b(I\x7e"])
def test_broken_iso2022_raises_unicode_error_and_decode_text_survives(bad):
    with pytest.raises(UnicodeDecodeError):
        decode_iso2022jp(bad)
    assert isinstance(decode_text(bad, "iso-2022-jp").text, str)


@settings(max_examples=150, deadline=None)
@given(
    st.binary(max_size=300), st.sampled_from(["iso-2022-jp", "shift_jis", "euc-jp", "utf-8", None, "latin-1"])
)
def test_decode_text_never_raises(data, declared):
    assert isinstance(decode_text(data, declared).text, str)
