"""The spool: a session's file put together from its chunks (a range sent again replaces the
earlier copy; missing bytes and bytes in another instance's spool are reported), the tee that
copies a passing body, and what the sweep removes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from gateway.proxy.spool import Spool, Tee
from gateway.store import SQLiteStore
from gateway.store.upload_sessions import Chunk, SQLiteUploadSessions, UploadSession

T0 = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


def session(*chunks: Chunk, total: int | None = None, adopted: bool = False) -> UploadSession:
    return UploadSession(
        key="k", service="box", user="", host="h", filename="f", created_at=T0,
        expires_at=T0 + timedelta(hours=1), total=total, chunks=chunks, adopted=adopted,
    )  # fmt: skip


def chunk(spool: Spool, offset: int, data: bytes, instance: str | None = None) -> Chunk:
    path, name = spool.chunk_path("k")
    path.write_bytes(data)
    return Chunk(offset, len(data), instance or spool.instance, name)


def test_assembled_in_order_with_resent_ranges_replacing_earlier_copies(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.create()
    s = session(chunk(spool, 0, b"AAAA"), chunk(spool, 4, b"xxxx"), chunk(spool, 4, b"BBBB"), total=10)
    built = spool.assemble(s, final=(8, b"CC"), limit=100)
    assert built.path is not None and built.path.read_bytes() == b"AAAABBBBCC" and built.problems == []


def test_missing_bytes_and_other_instances_are_reported(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.create()
    elsewhere = Chunk(4, 4, "other-host:1234", "sessions/k/not-here")
    s = session(chunk(spool, 0, b"AAAA"), elsewhere, total=12, adopted=True)
    built = spool.assemble(s, final=None, limit=100)
    assert built.size == 12
    assert built.problems == [
        "bytes 4-11 of the file did not pass this gateway",
        "bytes 4-7 are in another instance's spool",
        "the upload began before the gateway saw it",
    ]


def test_over_the_limit_nothing_is_assembled(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.create()
    built = spool.assemble(session(chunk(spool, 0, b"AAAA"), total=1000), final=None, limit=10)
    assert built.path is None and "over the inspection limit" in built.problems[0]


def test_a_multipart_chunk_gives_its_file_part(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.create()
    body = (
        b'--b\r\nContent-Disposition: form-data; name="filename"; filename="a.txt"\r\n\r\nHELLO\r\n--b--\r\n'
    )
    path, name = spool.chunk_path("k")
    path.write_bytes(body)
    built = spool.assemble(
        session(Chunk(0, len(body), spool.instance, name, boundary="b")), final=None, limit=100
    )
    assert built.path is not None and built.path.read_bytes() == b"HELLO"


def test_tee_passes_every_piece_and_copies_up_to_its_limit(tmp_path: Path) -> None:
    tee = Tee(tmp_path / "copy", limit=6)
    assert [tee(b"abcd"), tee(b"efgh"), tee(b"")] == [b"abcd", b"efgh", b""]
    assert (tmp_path / "copy").read_bytes() == b"abcdef" and tee.cut and tee.size == 8 and tee.done


async def test_sweep_removes_what_no_live_session_needs(tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path / "var")
    now = [T0]
    sessions = await SQLiteUploadSessions.open(store.db_path, clock=lambda: now[0])
    spool = Spool(tmp_path / "spool")
    spool.create()
    live = chunk(spool, 0, b"kept")
    await sessions.put(session(total=4))
    await sessions.add_chunk("k", live)
    stray = spool.root / "sessions" / "k" / "never-recorded"
    stray.write_bytes(b"x")
    gone = spool.sessions / "finished-session"
    gone.mkdir()
    (gone / "c").write_bytes(b"x")
    (spool.bodies / "half").write_bytes(b"x")
    assert await spool.sweep(sessions) == 1  # running: only the gone session's folder
    assert stray.exists() and (spool.bodies / "half").exists()
    assert await spool.sweep(sessions, at_start=True) == 2  # at start: the stray chunk and the body
    assert sorted(p.name for p in spool.root.rglob("*") if p.is_file()) == [Path(live.path).name]
    now[0] = T0 + timedelta(hours=2)  # the session expired
    await spool.sweep(sessions)
    assert [p for p in spool.root.rglob("*") if p.is_file()] == []
    await sessions.close()
    await store.close()
