"""The proxy's spool: request bodies too big to hold in memory, copies of session chunks, and
files assembled from them. One folder per gateway instance (``proxy.spool``)::

    bodies/<token>              a spilled request body, while its request is in flight
    sessions/<key>/<name>       copies of an upload session's chunks (the store says where each
                                lies: instance and name, see gateway.store.upload_sessions)
    work/<name>                 parts cut out of a body and assembled files, while judged

Nothing here outlives its reason: a body goes when its request ends (answered, refused or the
client gone), a session's folder when the session finishes, is refused or expires, and at start
everything that no live session refers to is removed (a restart mid-session leaves no orphan).
File writes are small and go to the page cache; anything that reads or copies whole files runs
in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import secrets
import shutil
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from gateway.proxy import bodies
from gateway.store.upload_sessions import Chunk, UploadSession, UploadSessions

log = logging.getLogger("sekimori.proxy")

COPY_SIZE = 1 << 20


def instance_name(spool: Path) -> str:
    """A name for this gateway instance that survives restarts: the host and its spool folder.

    >>> instance_name(Path("/var/lib/sekimori/uploads")) == instance_name(Path("/var/lib/sekimori/uploads"))
    True
    """
    digest = hashlib.sha256(str(spool.resolve()).encode()).hexdigest()[:8]
    return f"{socket.gethostname()}:{digest}"


class Tee:
    """A mitmproxy stream callable that passes every piece of a body on unchanged and writes a
    copy to ``path`` (up to ``limit`` bytes; past it the copy stops and :attr:`cut` says so).
    Called synchronously by the proxy core for each piece and once with ``b""`` at the end."""

    def __init__(self, path: Path, limit: int) -> None:
        self.path = path
        self.limit = limit
        self.size = 0
        self.written = 0
        self.cut = False
        self.done = False
        self._fh: BinaryIO | None = path.open("wb")

    def __call__(self, data: bytes) -> bytes:
        if data:
            self.size += len(data)
            if self._fh is not None:
                room = self.limit - self.written
                if room >= len(data):
                    self._fh.write(data)
                    self.written += len(data)
                else:
                    self._fh.write(data[: max(room, 0)])
                    self.written += max(room, 0)
                    self.cut = True
                    self._fh.close()
                    self._fh = None
        else:
            self.done = True
            self.close()
        return data

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


@dataclass
class Assembled:
    path: Path | None
    size: int
    problems: list[str] = field(default_factory=list)


def _coverage(spans: Sequence[tuple[int, int]], size: int) -> list[tuple[int, int]]:
    """The ranges of ``[0, size)`` not covered by ``spans`` (``(offset, length)``).

    >>> _coverage([(0, 10), (20, 5)], 30)
    [(10, 20), (25, 30)]
    """
    gaps: list[tuple[int, int]] = []
    at = 0
    for start, length in sorted(spans):
        if start > at:
            gaps.append((at, min(start, size)))
        at = max(at, start + length)
        if at >= size:
            break
    if at < size:
        gaps.append((at, size))
    return [g for g in gaps if g[0] < g[1]]


class Spool:
    """The spool folder of this instance."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.bodies = root / "bodies"
        self.sessions = root / "sessions"
        self.work = root / "work"
        self.instance = instance_name(root)

    def create(self) -> None:
        for d in (self.root, self.bodies, self.sessions, self.work):
            d.mkdir(mode=0o700, parents=True, exist_ok=True)

    def body_path(self) -> Path:
        return self.bodies / secrets.token_hex(12)

    def work_path(self, hint: str = "") -> Path:
        return self.work / f"{hint}{secrets.token_hex(10)}"

    def chunk_path(self, key: str) -> tuple[Path, str]:
        """A new file for a chunk of session ``key``: its path and its name relative to the spool."""
        folder = self.sessions / key
        folder.mkdir(mode=0o700, exist_ok=True)
        name = f"sessions/{key}/{secrets.token_hex(8)}"
        return self.root / name, name

    def resolve(self, chunk: Chunk) -> Path | None:
        """Where a chunk's copy is, if this instance can read it (its own, or a shared spool)."""
        path = self.root / chunk.path
        if chunk.instance == self.instance or path.is_file():
            return path
        return None

    def remove_session(self, key: str) -> None:
        shutil.rmtree(self.sessions / key, ignore_errors=True)

    # -- assembly -----------------------------------------------------------------------------

    def assemble(
        self,
        session: UploadSession,
        *,
        final: tuple[int, bodies.Body] | None,
        limit: int,
    ) -> Assembled:
        """Put a session's file together from its chunks (in the order they were recorded, so a
        range sent again replaces the earlier copy) and ``final``, the finishing request's own
        bytes at their offset. Bytes that never passed this gateway, or lie in another
        instance's spool, are reported. Blocking: run it in a thread."""
        pieces: list[tuple[int, int, bodies.Body | None, str]] = []
        for chunk in session.chunks:
            pieces.append((chunk.offset, chunk.length, self.resolve(chunk), chunk.boundary))
        if final is not None:
            offset, body = final
            length = bodies.size_of(body)
            if length:
                pieces.append((offset, length, body, ""))
        end = max((o + n for o, n, _, _ in pieces), default=0)
        size = session.total if session.total is not None else end
        problems: list[str] = []
        if size > limit or end > limit:
            problems.append(
                f"the file ({max(size, end)} bytes) is over the inspection limit of {limit} bytes"
            )
            return Assembled(None, max(size, end), problems)
        out = self.work_path("file-")
        spans: list[tuple[int, int]] = []
        elsewhere: list[str] = []
        with out.open("wb") as dst:
            for offset, length, src, boundary in pieces:
                if src is None:
                    elsewhere.append(f"{offset}-{offset + length - 1}")
                    continue
                got = self._copy_into(dst, offset, src, boundary)
                spans.append((offset, got))
            if session.total is None:  # the file ends where its bytes end (a wrapper is longer)
                size = max((o + n for o, n in spans), default=0)
            dst.truncate(size)
        for a, b in _coverage(spans, size):
            problems.append(f"bytes {a}-{b - 1} of the file did not pass this gateway")
        if elsewhere:
            problems.append(f"bytes {', '.join(elsewhere)} are in another instance's spool")
        if session.adopted:
            problems.append("the upload began before the gateway saw it")
        return Assembled(out, size, problems)

    def _copy_into(self, dst: BinaryIO, offset: int, src: bodies.Body, boundary: str) -> int:
        if boundary:  # the chunk's body wraps the bytes in multipart/form-data (Slack)
            found = bodies.extract(
                src, "form-data", f"multipart/form-data; boundary={boundary}", out_dir=self.work
            )
            try:
                files = [p for p in found.pieces if not p.is_text]
                if not files:
                    return 0
                part = files[0]
                return self._copy_into(
                    dst, offset, part.data if part.data is not None else part.path or b"", ""
                )
            finally:
                bodies.remove(found.written)
        dst.seek(offset)
        if isinstance(src, bytes):
            dst.write(src)
            return len(src)
        copied = 0
        try:
            with src.open("rb") as fh:
                while piece := fh.read(COPY_SIZE):
                    dst.write(piece)
                    copied += len(piece)
        except FileNotFoundError:
            return 0
        return copied

    # -- housekeeping -------------------------------------------------------------------------

    async def sweep(self, sessions: UploadSessions, *, at_start: bool = False) -> int:
        """Remove what nobody needs any more: session folders whose session is gone (finished,
        refused, expired) and chunk files no session refers to; at start also every body and
        work file (no request is in flight). Returns how many entries went."""
        removed = 0
        if at_start:
            for folder in (self.bodies, self.work):
                for entry in await asyncio.to_thread(_entries, folder):
                    await asyncio.to_thread(_remove, entry)
                    removed += 1
        await sessions.purge_expired()
        folders = await asyncio.to_thread(_entries, self.sessions)
        for folder in folders:
            session = await sessions.get(folder.name)
            if session is None:
                await asyncio.to_thread(_remove, folder)
                removed += 1
                continue
            if at_start:
                known = {c.path for c in session.chunks if c.instance == self.instance}
                for f in await asyncio.to_thread(_entries, folder):
                    if f"sessions/{folder.name}/{f.name}" not in known:
                        await asyncio.to_thread(_remove, f)
                        removed += 1
        if removed:
            log.info("spool: removed %d entr%s nobody needs", removed, "y" if removed == 1 else "ies")
        return removed


def _entries(folder: Path) -> list[Path]:
    return list(folder.iterdir()) if folder.is_dir() else []


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


__all__ = ["Assembled", "Spool", "Tee", "instance_name"]
