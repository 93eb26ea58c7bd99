"""Zip archives, nested to ``Limits.max_depth``, with zip-bomb guards on every member read.

Members are located ``<archive>/<member path>``. A member is never read past
``Limits.max_member_bytes``, nor when its declared (or, while reading, its actual) expansion
ratio exceeds ``Limits.max_ratio``. Encrypted members (ZipCrypto or AES) become parts with
``encrypted=True``.
"""

from __future__ import annotations

import io
import zipfile
import zlib

from classifiers.extract.charset import decode_text
from classifiers.extract.context import Context, Where
from classifiers.limits import Limits
from classifiers.model import Part

CHUNK = 64 * 1024
_UTF8_FLAG = 0x800
_ENCRYPTED_FLAG = 0x1
_AES_METHOD = 99  # WinZip AES (APPNOTE.TXT appendix E)


class MemberError(Exception):
    """A member could not be read; ``reason`` is one of TRUNCATION_REASONS."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def is_folder(info: zipfile.ZipInfo) -> bool:
    """Whether a member is a folder entry. ``ZipInfo.is_dir`` raises IndexError on a member with
    an empty name, which a crafted archive may hold."""
    return info.filename.endswith("/")


def member_name(info: zipfile.ZipInfo) -> str:
    """The member's path, decoding legacy (non-UTF-8) names as Japanese Windows writes them."""
    if info.flag_bits & _UTF8_FLAG:
        return info.filename
    try:
        raw = info.filename.encode("cp437")
    except UnicodeEncodeError:
        return info.filename
    if raw.isascii():
        return info.filename
    return decode_text(raw).text


def is_encrypted(info: zipfile.ZipInfo) -> bool:
    return bool(info.flag_bits & _ENCRYPTED_FLAG) or info.compress_type == _AES_METHOD


def read_member(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, limits: Limits, ctx: Context | None = None
) -> tuple[bytes, tuple[str, ...]]:
    """The member's bytes, bounded, and the truncation reasons that apply to them.

    A member larger than ``max_member_bytes`` yields its first ``max_member_bytes`` bytes with
    ``("member_bytes",)``; a member that cannot be read at all raises MemberError.
    """
    if is_encrypted(info):
        raise MemberError("encrypted", "encrypted member")
    compressed = max(info.compress_size, 1)
    if info.file_size >= limits.ratio_min_bytes and info.file_size / compressed > limits.max_ratio:
        raise MemberError("ratio", f"declared expansion {info.file_size // compressed}x")
    cap = limits.max_member_bytes
    out = bytearray()
    try:
        with zf.open(info) as fh:
            while True:
                chunk = fh.read(CHUNK)
                if not chunk:
                    break
                out += chunk
                if len(out) >= limits.ratio_min_bytes and len(out) / compressed > limits.max_ratio:
                    raise MemberError("ratio", f"expansion beyond {limits.max_ratio:g}x")
                if len(out) > cap:
                    return bytes(out[:cap]), ("member_bytes",)
                if ctx is not None and ctx.out_of_time():
                    raise MemberError("time", "time limit reached")
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
        raise MemberError("corrupt", f"{type(exc).__name__}: {exc}") from exc
    except NotImplementedError as exc:
        raise MemberError("unsupported", str(exc)) from exc
    except RuntimeError as exc:  # zipfile asks for a password
        raise MemberError("encrypted", str(exc)) from exc
    return bytes(out), ()


def extract_zip(ctx: Context, data: bytes, where: Where, truncated: tuple[str, ...] = ()) -> None:
    """Every member of a zip, dispatched by its sniffed content."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError) as exc:
        ctx.error(where.location, f"corrupt zip ({exc})")
        ctx.add(_marker(where, data, (*truncated, "corrupt")))
        return
    if truncated:
        ctx.add(_marker(where, data, truncated))
    with zf:
        for info in infos:
            if is_folder(info):
                continue
            name = member_name(info)
            child = where.child(f"{where.location}/{name}", name.rsplit("/", 1)[-1])
            if ctx.stopped:
                ctx.stop_marker(child)
                return
            if child.depth > ctx.limits.max_depth:
                ctx.add(_marker(child, b"", ("depth",), size=info.file_size))
                continue
            try:
                content, reasons = read_member(zf, info, ctx.limits, ctx)
            except MemberError as exc:
                if exc.reason == "encrypted":
                    ctx.add(_marker(child, b"", (), size=info.file_size, encrypted=True))
                    continue
                ctx.error(child.location, str(exc))
                ctx.add(_marker(child, b"", (exc.reason,), size=info.file_size))
                if exc.reason == "time":
                    return
                continue
            if reasons:
                ctx.error(
                    child.location,
                    f"larger than {ctx.limits.max_member_bytes} bytes; only the start was read",
                )
            ctx.dispatch(ctx, content, child, reasons)


def _marker(
    where: Where, data: bytes, reasons: tuple[str, ...], *, size: int | None = None, encrypted: bool = False
) -> Part:
    return Part(
        location=where.location,
        text="",
        kind=where.kind,
        content_type="application/zip"
        if where.location.lower().endswith(".zip")
        else "application/octet-stream",
        filename=where.filename,
        size=len(data) if size is None else size,
        truncated=reasons,
        encrypted=encrypted,
    )
