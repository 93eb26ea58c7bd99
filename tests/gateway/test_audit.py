"""The audit chain: verification of hand-built chains, tampering with the SQLite rows, and the
``sekimori audit`` command."""

from __future__ import annotations

import asyncio
import dataclasses
import doctest
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import gateway.audit
from gateway.audit import GENESIS, event_hash, recompute, verify
from gateway.cli import main
from gateway.store import AuditEvent, SQLiteStore, State
from gateway.store.sqlite import DB_NAME

T0 = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


def test_doctests() -> None:
    result = doctest.testmod(gateway.audit)
    assert result.attempted >= 3
    assert result.failed == 0


def _chain(n: int) -> list[AuditEvent]:
    events: list[AuditEvent] = []
    prev = GENESIS
    for seq in range(1, n + 1):
        fields = {
            "seq": seq,
            "at": T0 + timedelta(seconds=seq),
            "actor": "policy",
            "action": "transition",
            "msg_id": f"M{seq % 3}",
            "from_state": "received",
            "to_state": "held",
            "reason": f"理由 {seq}",
            "extra": {"n": seq, "nested": {"k": [1, 2]}},
            "prev_hash": prev,
        }
        h = event_hash(**fields)
        events.append(AuditEvent(hash=h, **fields))  # type: ignore[arg-type]
        prev = h
    return events


def test_intact_chain_verifies() -> None:
    chain = _chain(6)
    result = verify(chain)
    assert result.ok
    assert (result.checked, result.head) == (6, chain[-1].hash)
    empty = verify([])
    assert (empty.ok, empty.checked, empty.head) == (True, 0, GENESIS)


@pytest.mark.parametrize(
    "change",
    [
        {"actor": "operator:mallory"},
        {"reason": "nothing to see"},
        {"to_state": "delivered"},
        {"from_state": "held"},
        {"msg_id": "OTHER"},
        {"action": "note"},
        {"at": T0},
        {"extra": {"n": 0}},
    ],
    ids=lambda c: next(iter(c)),
)
def test_any_changed_field_is_detected_at_that_event(change: dict[str, object]) -> None:
    chain = _chain(6)
    chain[3] = dataclasses.replace(chain[3], **change)  # type: ignore[arg-type]
    result = verify(chain)
    assert (result.broken_seq, result.checked) == (4, 3)
    assert "changed" in result.problem


def test_rehashed_change_is_detected_at_the_next_event() -> None:
    chain = _chain(6)
    forged = dataclasses.replace(chain[2], reason="forged")
    chain[2] = dataclasses.replace(forged, hash=recompute(forged))
    result = verify(chain)
    assert result.broken_seq == 4
    assert "prev_hash" in result.problem


def test_removed_and_reordered_events_are_detected() -> None:
    chain = _chain(6)
    assert verify(chain[:2] + chain[3:]).broken_seq == 4
    assert verify([chain[1], *chain[2:]]).broken_seq == 2
    swapped = [*chain[:2], chain[3], chain[2], *chain[4:]]
    assert verify(swapped).broken_seq == 4


# -- the SQLite rows and the command -----------------------------------------------------------


def _populate(var: Path) -> list[str]:
    async def go() -> list[str]:
        store = await SQLiteStore.open(var)
        ids = []
        try:
            for i in range(3):
                rec = await store.accept(
                    b"Subject: x\r\n\r\nbody\r\n", sender=f"u{i}@example.jp", recipients=["r@x.example"]
                )
                await store.transition(rec.id, State.HELD, actor="policy", reason="grace period")
                ids.append(rec.id)
            await store.transition(ids[0], State.CANCELLED, actor="sender:u0@example.jp", reason="cancel")
        finally:
            await store.close()
        return ids

    return asyncio.run(go())


def _sql(var: Path, statement: str, *params: object) -> None:
    conn = sqlite3.connect(var / DB_NAME)
    with conn:
        conn.execute(statement, params)
    conn.close()


def test_verify_command_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _populate(tmp_path)
    assert main(["audit", "verify", "--var", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("OK: 7 event(s), head ")
    assert main(["audit", "head", "--var", str(tmp_path)]) == 0
    head = capsys.readouterr().out.strip()
    assert out.split()[-1] == head
    assert len(head) == 64


def test_verify_command_names_the_tampered_event(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _populate(tmp_path)
    _sql(tmp_path, "UPDATE audit SET reason = 'approved by boss' WHERE seq = 5")
    assert main(["audit", "verify", "--var", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "tampering detected at event #5" in out
    assert out.startswith("改ざんを検出しました")


def test_verify_command_detects_a_deleted_event(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _populate(tmp_path)
    _sql(tmp_path, "DELETE FROM audit WHERE seq = 3")
    assert main(["audit", "verify", "--var", str(tmp_path)]) == 1
    assert "tampering detected at event #4" in capsys.readouterr().out


def test_verify_command_detects_a_rehashed_forgery(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _populate(tmp_path)

    async def events() -> list[AuditEvent]:
        store = await SQLiteStore.open(tmp_path)
        try:
            return await store.audit_events()
        finally:
            await store.close()

    target = asyncio.run(events())[1]
    forged = dataclasses.replace(target, actor="operator:mallory")
    _sql(
        tmp_path,
        "UPDATE audit SET actor = ?, hash = ? WHERE seq = ?",
        forged.actor,
        recompute(forged),
        target.seq,
    )
    assert main(["audit", "verify", "--var", str(tmp_path)]) == 1
    assert "tampering detected at event #3" in capsys.readouterr().out


def test_events_keep_appending_after_verification(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ids = _populate(tmp_path)
    assert main(["queue", "release", "--var", str(tmp_path), ids[1]]) == 0
    assert main(["audit", "verify", "--var", str(tmp_path)]) == 0
    # The release (1) and the notice that tells the sender (accepted, queued, noted on the message: 3).
    assert "OK: 11 event(s)" in capsys.readouterr().out


def test_list_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ids = _populate(tmp_path)
    assert main(["audit", "list", "--var", str(tmp_path), "--format", "jsonl", "--msg", ids[0]]) == 0
    docs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(d["action"], d["from_state"], d["to_state"], d["actor"]) for d in docs] == [
        ("accept", "", "received", "smtp"),
        ("transition", "received", "held", "policy"),
        ("transition", "held", "cancelled", "sender:u0@example.jp"),
    ]
    assert all(len(d["hash"]) == 64 for d in docs)
    assert main(["audit", "list", "--var", str(tmp_path), "--after", "5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["#6", "#7"]


@pytest.mark.parametrize(
    ("statement", "says"),
    [
        (
            "UPDATE messages SET state = 'delivering' WHERE id = :id",
            "is delivering but its audit trail says held",
        ),
        ("UPDATE messages SET sha256 = 'ff' || substr(sha256, 3) WHERE id = :id", "body hash differs"),
        ("DELETE FROM messages WHERE id = :id", "is in the audit trail but not in the queue"),
        ("UPDATE messages SET id = 'FORGED' WHERE id = :id", "message FORGED has no audit trail"),
    ],
    ids=["state", "body", "deleted-row", "untracked-row"],
)
def test_verify_command_detects_queue_changes_behind_the_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], statement: str, says: str
) -> None:
    ids = _populate(tmp_path)
    victim = ids[2]
    conn = sqlite3.connect(tmp_path / DB_NAME)
    with conn:
        conn.execute(statement, {"id": victim})
    conn.close()
    assert main(["audit", "verify", "--var", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("改ざんを検出しました / tampering detected: the audit chain holds (7 event(s))")
    assert says in out
