"""What only the embedded backend promises: its files, its pragmas, its crash clean-up, and that
a store call waiting on SQLite never blocks the event loop."""

from __future__ import annotations

import asyncio
import doctest
import os
import sqlite3
import stat
import sys
from pathlib import Path

import pytest

import gateway.store.base
import gateway.store.sqlite
from gateway.store import ItemKind, MessageRecord, NotFound, SpoolCorrupt, SQLiteStore, State, StoreError
from gateway.store.sqlite import DB_NAME, SCHEMA_VERSION

ROOT = Path(__file__).resolve().parents[2]
RAW = b"Subject: spool\r\n\r\nbody\r\n"


def test_doctests() -> None:
    result = doctest.testmod(gateway.store.base)  # the queue id layout (new_id)
    assert result.attempted >= 2
    assert result.failed == 0


async def _pragma(store: SQLiteStore, name: str) -> object:
    def read() -> object:
        conn = sqlite3.connect(store.db_path)
        try:
            return conn.execute(f"PRAGMA {name}").fetchone()[0]
        finally:
            conn.close()

    return await asyncio.to_thread(read)


async def test_database_is_wal_with_full_sync(tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path)
    try:
        assert await _pragma(store, "journal_mode") == "wal"
        sync = await store._run(lambda: store._db().execute("PRAGMA synchronous").fetchone()[0])
        assert sync == 2  # FULL
        assert await _pragma(store, "user_version") == SCHEMA_VERSION
    finally:
        await store.close()


async def test_every_write_of_a_batch_is_answered_with_its_own_outcome(tmp_path: Path) -> None:
    """Writes queued together share a commit and are settled together: one that fails is
    answered with its error, the others with their records."""
    store = await SQLiteStore.open(tmp_path)
    try:
        recs = [
            await store.accept(RAW, sender="a@example.jp", recipients=["b@example.com"]) for _ in range(3)
        ]
        moves = [
            store.transition(r.id, State.HELD, actor="policy", reason="hold", expect=State.RECEIVED)
            for r in recs
        ]
        missing = store.transition("NO-SUCH-ID", State.HELD, actor="policy", reason="hold")
        out = await asyncio.gather(moves[0], missing, *moves[1:], return_exceptions=True)
        assert isinstance(out[1], NotFound)
        assert [r.state for r in (out[0], *out[2:]) if isinstance(r, MessageRecord)] == [State.HELD] * 3
        assert [(await store.get(r.id)).state for r in recs] == [State.HELD] * 3  # type: ignore[union-attr]
    finally:
        await store.close()


async def test_spool_file_is_private_and_named_by_id_and_hash(tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path)
    try:
        rec = await store.accept(RAW, sender="a@example.jp", recipients=["b@example.com"])
    finally:
        await store.close()
    files = [p for p in (tmp_path / "spool").iterdir() if p.is_file()]
    assert [p.name for p in files] == [f"{rec.id}-{rec.sha256[:16]}.eml"]
    assert files[0].read_bytes() == RAW
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "spool").stat().st_mode) == 0o700
    assert list((tmp_path / "spool" / "tmp").iterdir()) == []


async def test_recover_sweeps_orphans_and_keeps_messages(tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path)
    try:
        kept = await store.accept(RAW, sender="a@example.jp", recipients=["b@example.com"])
        gone = await store.accept(RAW + b"2", sender="a@example.jp", recipients=["b@example.com"])
        await store.transition(gone.id, State.REFUSED, actor="policy", reason="block")
        spool = tmp_path / "spool"
        orphan = spool / "01ORPHAN00000000000000000-0123456789abcdef.eml"
        orphan.write_bytes(b"committed never")
        half = spool / "tmp" / "01HALF.abc.tmp"
        half.write_bytes(b"Subject: half")
        await store.recover("gw")
        assert not orphan.exists()
        assert not half.exists()
        assert [p.name for p in spool.iterdir() if p.is_file()] == [f"{kept.id}-{kept.sha256[:16]}.eml"]
        assert await store.load_raw(kept.id) == RAW
    finally:
        await store.close()


async def test_damaged_or_missing_spool_file_is_reported(tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path)
    try:
        rec = await store.accept(RAW, sender="a@example.jp", recipients=["b@example.com"])
        path = tmp_path / "spool" / f"{rec.id}-{rec.sha256[:16]}.eml"
        path.write_bytes(RAW.replace(b"body", b"BODY"))
        with pytest.raises(SpoolCorrupt, match="does not match"):
            await store.load_raw(rec.id)
        path.unlink()
        with pytest.raises(SpoolCorrupt, match="missing"):
            await store.load_raw(rec.id)
    finally:
        await store.close()


async def test_an_empty_body_has_no_spool_file(tmp_path: Path) -> None:
    """The record an upload opens before its content is judged has an empty body: no file is
    written (nothing to make durable), it reads back empty, and its content kept later (or its
    verdict) goes on as for any body."""
    store = await SQLiteStore.open(tmp_path)
    try:
        rec = await store.accept(b"", kind=ItemKind.UPLOAD, sender="u@example.jp", recipients=[])
        assert [p for p in (tmp_path / "spool").iterdir() if p.is_file()] == []
        assert await store.load_raw(rec.id) == b""
        kept = await store.replace_raw(rec.id, RAW, actor="proxy", reason="content kept for review")
        assert await store.load_raw(rec.id) == RAW
        assert [p.name for p in (tmp_path / "spool").iterdir() if p.is_file()] == [
            f"{rec.id}-{kept.sha256[:16]}.eml"
        ]
        other = await store.accept(b"", kind=ItemKind.UPLOAD, sender="u@example.jp", recipients=[])
        done = await store.transition(other.id, State.PASSED, actor="policy", reason="deliver")
        assert done.state is State.PASSED
        assert await store.load_raw(other.id) == b""
        await store.recover("gw")
        assert await store.load_raw(rec.id) == RAW
    finally:
        await store.close()


async def test_newer_schema_is_refused(tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path)
    await store.close()
    conn = sqlite3.connect(tmp_path / DB_NAME)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer than this Sekimori"):
        await SQLiteStore.open(tmp_path)


async def test_failed_commit_answers_transient_and_leaves_no_spool_file(tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path, busy_timeout=0.2)
    blocker = sqlite3.connect(tmp_path / DB_NAME, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        with pytest.raises(StoreError, match="locked") as err:
            await store.accept(RAW, sender="a@example.jp", recipients=["b@example.com"])
        assert err.value.transient
        blocker.execute("ROLLBACK")
        assert [p for p in (tmp_path / "spool").iterdir() if p.is_file()] == []
        assert await store.list_messages() == []
        rec = await store.accept(RAW, sender="a@example.jp", recipients=["b@example.com"])
        assert await store.load_raw(rec.id) == RAW
    finally:
        blocker.close()
        await store.close()


async def test_waiting_on_sqlite_does_not_block_the_event_loop(tmp_path: Path) -> None:
    # Another process holds the write lock; the store's commit waits for it. The lock is
    # released from this event loop, so a store that blocked the loop would never finish.
    store = await SQLiteStore.open(tmp_path, busy_timeout=10)
    blocker = sqlite3.connect(tmp_path / DB_NAME, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        task = asyncio.create_task(store.accept(RAW, sender="a@example.jp", recipients=["b@example.com"]))
        ticks = 0
        while ticks < 20:
            await asyncio.sleep(0.005)
            ticks += 1
        assert not task.done()
        blocker.execute("COMMIT")
        rec = await task
        assert rec.state is State.RECEIVED
    finally:
        blocker.close()
        await store.close()


CLAIMER = r"""
import asyncio, sys
from gateway.store import SQLiteStore, State

async def main() -> None:
    store = await SQLiteStore.open(sys.argv[1])
    ids = sys.stdin.read().split()
    won = await asyncio.gather(*[
        store.claim(i, owner=sys.argv[2], from_states=State.HELD, to=State.DELIVERING,
                    actor="scheduler", reason="release time")
        for i in ids
    ])
    print(" ".join(r.id for r in won if r is not None))
    await store.close()

asyncio.run(main())
"""


async def test_claims_from_several_processes_win_each_message_once(tmp_path: Path) -> None:
    root = ROOT
    store = await SQLiteStore.open(tmp_path)
    try:
        ids = []
        for i in range(30):
            rec = await store.accept(
                RAW + str(i).encode(), sender="a@example.jp", recipients=["b@example.com"]
            )
            await store.transition(rec.id, State.HELD, actor="policy", reason="hold")
            ids.append(rec.id)
        procs = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                CLAIMER,
                str(tmp_path),
                f"gw-{n}",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                cwd=root,
                env={**os.environ, "PYTHONPATH": str(root)},
            )
            for n in range(3)
        ]
        outputs = await asyncio.gather(*[p.communicate(" ".join(ids).encode()) for p in procs])
        assert [p.returncode for p in procs] == [0, 0, 0]
        won = [i for out, _ in outputs for i in out.decode().split()]
        assert sorted(won) == sorted(ids)
        for n, (out, _) in enumerate(outputs):
            for msg_id in out.decode().split():
                got = await store.get(msg_id)
                assert got is not None
                assert (got.state, got.owner) == (State.DELIVERING, f"gw-{n}")
        moves = [e for e in await store.audit_events() if e.to_state == "delivering"]
        assert sorted(e.msg_id for e in moves) == sorted(ids)
    finally:
        await store.close()


async def test_a_version_1_database_gains_item_kinds(tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path)
    old = await store.accept(RAW, sender="a@example.co.jp", recipients=["b@example.co.jp"])
    await store.close()

    def downgrade() -> None:  # what a store written before item kinds looks like
        conn = sqlite3.connect(tmp_path / DB_NAME)
        try:
            conn.execute("ALTER TABLE messages DROP COLUMN kind")
            conn.execute("PRAGMA user_version=1")
            conn.commit()
        finally:
            conn.close()

    await asyncio.to_thread(downgrade)
    store = await SQLiteStore.open(tmp_path)
    try:
        assert await store.get(old.id) == old
        assert old.kind is ItemKind.MAIL
        new = await store.accept(RAW, sender="a@example.co.jp", recipients=(), kind=ItemKind.UPLOAD)
        assert (await store.get(new.id)) == new
        assert new.kind is ItemKind.UPLOAD
        assert await _pragma(store, "user_version") == SCHEMA_VERSION
    finally:
        await store.close()
