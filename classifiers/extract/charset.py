"""Text decoding for Japanese mail and files.

Declared charsets are tried first but never trusted: a declaration that fails to decode, or that
decodes to mojibake, falls back to detection (charset-normalizer). The Japanese encodings are
decoded through code page 932 so that the Microsoft extensions survive: NEC special characters
(row 13: ①, ㈱), NEC-selected IBM extensions (髙, 﨑) and half-width kana.

ISO-2022-JP (RFC 1468) and its Microsoft variants CP50220/CP50221/CP50222 carry JIS X 0208 in
7-bit pairs; each pair maps arithmetically onto Shift_JIS, which cp932 then decodes.

>>> decode_text("①㈱髙".encode("cp932"), "shift_jis").text
'①㈱髙'
>>> decode_text(b"\\x1b$B-!-j|b\\x1b(B", "iso-2022-jp").text
'①㈱髙'
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

import regex
from charset_normalizer import from_bytes
from charset_normalizer.md import mess_ratio

#: Above this charset-normalizer "mess" ratio a decoded text is taken for mojibake.
MOJIBAKE_RATIO = 0.2
#: Detection looks at this many leading bytes (charset-normalizer samples inside it).
DETECT_BYTES = 256 * 1024

_ESC = 0x1B
_ISO2022_NAMES = frozenset(
    {"iso2022_jp", "iso2022_jp_1", "iso2022_jp_2", "iso2022_jp_ext", "cp50220", "cp50221", "cp50222"}
)
_SJIS_NAMES = frozenset({"shift_jis", "cp932", "shift_jis_2004", "shift_jisx0213", "ms_kanji", "windows_31j"})
_EUC_NAMES = frozenset({"euc_jp", "euc_jis_2004", "euc_jisx0213", "cp51932", "eucjp_ms", "euc_jp_ms"})
_ALIASES = {
    "csiso2022jp": "iso2022_jp",
    "iso_2022_jp_ms": "cp50221",
    "iso2022_jp_ms": "cp50221",
    "x_sjis": "shift_jis",
    "sjis": "shift_jis",
    "shift_jis_ms": "cp932",
    "windows_31j": "cp932",
    "ms932": "cp932",
    "x_euc_jp": "euc_jp",
    "eucjp": "euc_jp",
    "eucjp_ms": "euc_jp",
    "euc_jp_ms": "euc_jp",
    "cp51932": "euc_jp",
    "x_unknown": "",
    "unknown_8bit": "",
}


@dataclass(frozen=True, slots=True)
class Decoded:
    text: str
    charset: str  # the charset actually used
    declared_ok: bool  # False when a declaration was present but not used


def canonical(name: str | None) -> str:
    """A charset label in Python codec spelling, or '' when unknown.

    >>> canonical("ISO-2022-JP"), canonical("Shift_JIS"), canonical("x-sjis"), canonical("bogus")
    ('iso2022_jp', 'shift_jis', 'shift_jis', '')
    >>> canonical("\\x00utf-8")
    ''
    """
    if not name:
        return ""
    key = name.strip().strip("\"'").lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key in _ISO2022_NAMES or key in _SJIS_NAMES or key in _EUC_NAMES:
        return key
    try:
        return codecs.lookup(key).name.replace("-", "_")
    except (LookupError, ValueError):  # ValueError: a NUL inside a hostile label
        return ""


def _jis_to_sjis(j1: int, j2: int) -> tuple[int, int]:
    s1 = (j1 + 1) // 2 + 0x70
    if s1 > 0x9F:
        s1 += 0x40
    s2 = (j2 + 0x1F + (j2 >= 0x60)) if j1 & 1 else j2 + 0x7E
    return s1, s2


class _Unsupported(Exception):
    """An ISO-2022 designation we do not map ourselves (ISO-2022-JP-2 / -2004 sets)."""


def decode_iso2022jp(data: bytes) -> str:
    """ISO-2022-JP with the CP5022x extensions; raises UnicodeDecodeError on 8-bit or broken input.

    >>> decode_iso2022jp(b"\\x1b(I1\\x1b(B")  # ESC ( I: JIS X 0201 katakana
    'ｱ'
    """
    try:
        fast = _iso2022_runs(data)
        return fast if fast is not None else _iso2022(data)
    except _Unsupported:
        for codec in ("iso2022_jp_2004", "iso2022_jp_2"):
            try:
                return data.decode(codec)
            except UnicodeDecodeError:
                continue
        return data.decode("iso2022_jp_2", errors="replace")


#: Byte tables for :func:`_iso2022_runs`: a JIS X 0208 pair's Shift_JIS lead byte (from the
#: first byte), a flag for an odd first byte, and the trail byte (from the second byte, plus
#: 0x80 when the first was odd): :func:`_jis_to_sjis` as table lookups.
_SJIS_LEAD = bytes(_jis_to_sjis(b, 0x21)[0] if 0x21 <= b <= 0x7E else 0 for b in range(256))
_ODD = bytes(0x80 if b & 1 else 0 for b in range(256))
_SJIS_TRAIL = bytes(
    _jis_to_sjis(0x21 if b & 0x80 else 0x22, b & 0x7F)[1] if 0x21 <= b & 0x7F <= 0x7E else 0
    for b in range(256)
)
_GRAPHIC = bytes(range(0x21, 0x7F))  # the bytes of a JIS pair (translate(None, _GRAPHIC) deletes them)
_KANA = bytes(b + 0x80 if 0x21 <= b <= 0x5F else b for b in range(256))  # JIS X 0201 kana to cp932
_KANA_OK = bytes(range(0x60)) + b"\x7f"  # kana and controls (translate(None, _KANA_OK) deletes them)
_CONTROLS = regex.compile(rb"([\x00-\x20\x7f]+)")  # pass through in every mode
_DESIGNATIONS = {
    b"(B": "ascii",
    b"(J": "ascii",
    b"(H": "ascii",
    b"(I": "kana",
    b"$@": "jis0208",
    b"$B": "jis0208",
}


def _iso2022_runs(data: bytes) -> str | None:
    """:func:`_iso2022` a run of bytes at a time (mail text is a few long runs per mode), or
    None for what only the byte loop handles: 8-bit bytes, SO/SI, JIS X 0212, designations it
    does not know, a malformed run. Where it answers, the answer is the byte loop's: it builds
    the same cp932 bytes and decodes them the same way."""
    if not data.isascii() or b"\x0e" in data or b"\x0f" in data:
        return None
    buf = bytearray()
    segments = data.split(b"\x1b")
    buf += segments[0]  # before the first escape: ASCII
    mode = "ascii"
    for seg in segments[1:]:
        tag = seg[:2]
        if tag == b"&@":  # JIS X 0208-1990 announcer: the mode stays
            body = seg[2:]
        else:
            new = _DESIGNATIONS.get(tag)
            if new is None:
                return None
            mode, body = new, seg[2:]
        if mode == "ascii":
            buf += body
        elif mode == "kana":
            if body.translate(None, _KANA_OK):
                return None
            buf += body.translate(_KANA)
        else:
            for k, chunk in enumerate(_CONTROLS.split(body)):
                if k & 1:
                    buf += chunk
                elif chunk:
                    if len(chunk) & 1 or chunk.translate(None, _GRAPHIC):
                        return None
                    first, second = chunk[0::2], chunk[1::2]
                    flags = int.from_bytes(first.translate(_ODD), "big") | int.from_bytes(second, "big")
                    pairs = bytearray(len(chunk))
                    pairs[0::2] = first.translate(_SJIS_LEAD)
                    pairs[1::2] = flags.to_bytes(len(second), "big").translate(_SJIS_TRAIL)
                    buf += pairs
    return buf.decode("cp932", errors="replace")


def _iso2022(data: bytes) -> str:
    out: list[str] = []
    buf = bytearray()  # cp932 bytes pending decode
    mode = "ascii"  # ascii | kana | jis0208 | jis0212
    shifted = False  # SO ... SI (CP50222)
    i, n = 0, len(data)
    while i < n:
        b = data[i]
        if b == _ESC:
            seq = data[i + 1 : i + 4]
            if seq[:2] in (b"(B", b"(J", b"(H"):
                mode, i = "ascii", i + 3
            elif seq[:2] == b"(I":
                mode, i = "kana", i + 3
            elif seq[:2] in (b"$@", b"$B"):
                mode, i = "jis0208", i + 3
            elif seq[:2] == b"&@":  # JIS X 0208-1990 announcer, followed by ESC $ B
                i += 3
            elif seq == b"$(D":
                mode, i = "jis0212", i + 4
            else:
                raise _Unsupported
            continue
        if b >= 0x80:
            raise UnicodeDecodeError("iso2022_jp", data, i, i + 1, "8-bit byte in 7-bit encoding")
        if b == 0x0E:
            shifted, i = True, i + 1
            continue
        if b == 0x0F:
            shifted, i = False, i + 1
            continue
        if b < 0x21 or b == 0x7F:  # controls and space pass through in every mode
            buf.append(b)
            i += 1
            continue
        if shifted or mode == "kana":
            if b > 0x5F:
                raise UnicodeDecodeError("iso2022_jp", data, i, i + 1, "not a JIS X 0201 kana")
            buf.append(b + 0x80)
            i += 1
        elif mode == "ascii":
            buf.append(b)
            i += 1
        else:
            if i + 1 >= n or not 0x21 <= data[i + 1] <= 0x7E:
                raise UnicodeDecodeError("iso2022_jp", data, i, i + 1, "truncated double-byte character")
            if mode == "jis0208":
                buf.extend(_jis_to_sjis(b, data[i + 1]))
            else:
                out.append(buf.decode("cp932", errors="replace"))
                buf.clear()
                out.append(bytes((0x8F, b | 0x80, data[i + 1] | 0x80)).decode("euc_jp", errors="replace"))
            i += 2
    out.append(buf.decode("cp932", errors="replace"))
    return "".join(out)


def decode_eucjp(data: bytes) -> str:
    """EUC-JP with the CP51932 / eucJP-ms extensions in JIS rows 13 and 89-92; strict on malformed input.

    >>> decode_eucjp(b"\\xad\\xa1\\xad\\xea\\xfc\\xe2\\x8e\\xb1")
    '①㈱髙ｱ'
    """
    out: list[str] = []
    buf = bytearray()
    i, n = 0, len(data)
    while i < n:
        b = data[i]
        if b < 0x80:
            buf.append(b)
            i += 1
        elif b == 0x8E:
            if i + 1 >= n or not 0xA1 <= data[i + 1] <= 0xDF:
                raise UnicodeDecodeError("euc_jp", data, i, i + 1, "bad half-width kana")
            buf.append(data[i + 1])
            i += 2
        elif b == 0x8F:
            triple = data[i : i + 3]
            if len(triple) < 3 or triple[1] < 0xA1 or triple[2] < 0xA1:
                raise UnicodeDecodeError("euc_jp", data, i, i + 1, "bad JIS X 0212 sequence")
            out.append(buf.decode("cp932", errors="replace"))
            buf.clear()
            out.append(triple.decode("euc_jp", errors="replace"))
            i += 3
        elif 0xA1 <= b <= 0xFE:
            if i + 1 >= n or not 0xA1 <= data[i + 1] <= 0xFE:
                raise UnicodeDecodeError("euc_jp", data, i, i + 1, "bad double-byte character")
            buf.extend(_jis_to_sjis(b & 0x7F, data[i + 1] & 0x7F))
            i += 2
        else:
            raise UnicodeDecodeError("euc_jp", data, i, i + 1, "byte not valid in EUC-JP")
    out.append(buf.decode("cp932", errors="replace"))
    return "".join(out)


def decode_as(data: bytes, charset: str) -> str:
    """Decode strictly with one (canonical) charset; raises UnicodeDecodeError or LookupError."""
    if charset in _ISO2022_NAMES:
        return decode_iso2022jp(data)
    if charset in _SJIS_NAMES:
        return data.decode("cp932")
    if charset in _EUC_NAMES:
        return decode_eucjp(data)
    if charset in ("ascii", "us_ascii"):
        return data.decode("ascii")
    return data.decode(charset)


def is_mojibake(text: str) -> bool:
    """Whether a decoded text looks like the wrong charset was used."""
    if not text or text.isascii():
        return False
    if "\ufffd" in text[:4096] and text[:4096].count("\ufffd") * 50 > len(text[:4096]):
        return True
    return mess_ratio(text[:DETECT_BYTES], MOJIBAKE_RATIO) >= MOJIBAKE_RATIO


def _strict(data: bytes, charset: str) -> str | None:
    try:
        return decode_as(data, charset)
    except (UnicodeDecodeError, LookupError):
        return None


def detect(data: bytes) -> str:
    """The most likely charset of undeclared bytes (canonical name), Japanese encodings first."""
    sample = data[:DETECT_BYTES]
    if sample.startswith(codecs.BOM_UTF8):
        return "utf_8_sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf_16"
    if sample.isascii():
        return "iso2022_jp" if b"\x1b$" in sample or b"\x1b(I" in sample else "ascii"
    if _valid_utf8(sample):
        return "utf_8"
    decoded = {cs: text for cs in ("cp932", "euc_jp") if (text := _strict(sample, cs)) is not None}
    if len(decoded) == 1:
        return next(iter(decoded))
    if decoded:
        messes = {cs: mess_ratio(text, 1.0) for cs, text in decoded.items()}
        if messes["cp932"] != messes["euc_jp"]:
            return min(messes, key=messes.__getitem__)
    japanese = list(decoded)
    best = from_bytes(sample, cp_isolation=japanese or None).best()
    name = canonical(best.encoding) if best is not None else ""
    if name in _EUC_NAMES:
        return "euc_jp"
    if name in _SJIS_NAMES:
        return "cp932"
    return name or "cp932"


def _valid_utf8(sample: bytes) -> bool:
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(sample) - 3 and exc.reason == "unexpected end of data"
    return True


_MULTIBYTE = _ISO2022_NAMES | _SJIS_NAMES | _EUC_NAMES | {"utf_8", "utf_8_sig", "utf_16", "utf_32"}


def decode_text(data: bytes, declared: str | None = None) -> Decoded:
    """Decode bytes with the declared charset if it works, else with the detected one.

    A strict decode with a Japanese multi-byte declaration is trusted (unless the bytes are
    valid UTF-8, the commonest lie); a single-byte declaration must also not yield mojibake.
    Never raises: whatever cannot be decoded becomes U+FFFD.

    >>> decode_text("請求書".encode("utf-8"), "iso-8859-1").charset
    'utf_8'
    """
    wanted = canonical(declared)
    if wanted:
        text = _strict(data, wanted)
        if text is not None:
            if (
                wanted not in ("utf_8", "utf_8_sig")
                and not data.isascii()
                and _valid_utf8(data[:DETECT_BYTES])
            ):
                return Decoded(data.decode("utf-8", errors="replace"), "utf_8", False)
            if wanted in _MULTIBYTE or not is_mojibake(text):
                return Decoded(text, wanted, True)
    found = detect(data)
    text = _strict(data, found)
    if text is None:
        text = data.decode("utf-8" if found.startswith("utf") else "cp932", errors="replace")
    return Decoded(text, found, not declared or found == wanted)
