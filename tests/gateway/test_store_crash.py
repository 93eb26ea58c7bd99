"""Crash safety of the embedded store: a process accepting messages is SIGKILLed at arbitrary
moments; every message whose ``accept()`` returned is intact afterwards, and nothing written
half-way shows up as a message."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from hashlib import sha256
from pathlib import Path

from gateway.audit import verify_store
from gateway.store import SQLiteStore, State

ROOT = Path(__file__).resolve().parents[2]

#: Accepts messages forever; prints "<index> <id>" only after accept() returned.
CHILD = r"""
import asyncio, sys
from gateway.store import SQLiteStore

LINE = "個人情報ではない本文。\r\n".encode() * 64

def body(i: int) -> bytes:
    head = f"Subject: crash {i}\r\nMessage-ID: <{i}@crash.test>\r\n\r\n".encode()
    return head + LINE * (4 + (i * 7919) % 200)

async def main() -> None:
    store = await SQLiteStore.open(sys.argv[1])
    start = int(sys.argv[2])
    i = start
    while True:
        rec = await store.accept(body(i), sender=f"s{i}@example.jp", recipients=["r@partner.example"], owner="crash")
        sys.stdout.write(f"{i} {rec.id}\n")
        sys.stdout.flush()
        i += 1

asyncio.run(main())
"""


_LINE = "個人情報ではない本文。\r\n".encode() * 64


def _body(i: int) -> bytes:
    head = f"Subject: crash {i}\r\nMessage-ID: <{i}@crash.test>\r\n\r\n".encode()
    return head + _LINE * (4 + (i * 7919) % 200)


def _run_and_kill(var: Path, start: int, kill_after: int, rng: random.Random) -> dict[int, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(var), str(start)],
        stdout=subprocess.PIPE,
        env=env,
        cwd=ROOT,
    )
    acked: dict[int, str] = {}
    assert proc.stdout is not None
    try:
        while len(acked) < kill_after:
            line = proc.stdout.readline()
            assert line, f"child exited early with {proc.wait()}"
            i, msg_id = line.decode().split()
            acked[int(i)] = msg_id
        # Let the child get somewhere inside a later accept() before it dies.
        time.sleep(rng.uniform(0, 0.05))
        proc.send_signal(signal.SIGKILL)
        rest = proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stdout.close()
    for text in rest.decode().splitlines():
        index, ident = text.split()
        acked[int(index)] = ident
    assert proc.returncode == -signal.SIGKILL
    return acked


def test_sigkill_loses_no_accepted_message(tmp_path: Path) -> None:
    var = tmp_path / "var"
    rng = random.Random(4)
    acked: dict[int, str] = {}
    start = 0
    for kill_after in (3, 11, 6):
        got = _run_and_kill(var, start, kill_after, rng)
        acked.update(got)
        start = max(acked) + 1000

    async def check() -> None:
        store = await SQLiteStore.open(var)
        try:
            recovered = await store.recover("crash")
            rows = await store.list_messages(limit=10_000)
            by_id = {r.id: r for r in rows}
            for i, msg_id in acked.items():
                rec = by_id.get(msg_id)
                assert rec is not None, f"message {i} ({msg_id}) was acknowledged but is gone"
                assert rec.state is State.RECEIVED
                assert await store.load_raw(msg_id) == _body(i)
            # Messages committed just before a kill (not yet printed) are whole too.
            for rec in rows:
                raw = await store.load_raw(rec.id)
                assert sha256(raw).hexdigest() == rec.sha256
                assert len(raw) == rec.size
            assert {r.id for r in recovered} == set(by_id)
            assert all(r.owner == "crash" for r in recovered)
            assert (await store.audit_events())[-1].seq == len(rows)
            assert (await verify_store(store)).ok
        finally:
            await store.close()

    asyncio.run(check())
    spool = var / "spool"
    assert list((spool / "tmp").iterdir()) == []
    files = sorted(p.name for p in spool.iterdir() if p.is_file())
    assert len(files) == len({p.split("-")[0] for p in files})
    assert len(files) >= len(acked)
