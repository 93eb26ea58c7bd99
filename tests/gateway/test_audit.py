"""The audit chain: verification of hand-built chains, tampering with the SQLite rows, and the
``sekimori audit`` command."""

from __future__ import annotations

import asyncio
import dataclasses
import doctest
import hashlib
import json
import secrets
import sqlite3
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis

import gateway.audit
from gateway.audit import GENESIS, canonical, event_hash, recompute, stored_event, verify, verify_store
from gateway.cli import main
from gateway.store import (
    Amendment,
    AuditEvent,
    ItemKind,
    MessageRecord,
    SQLiteStore,
    State,
    Store,
    UploadFacts,
    base,
)
from gateway.store.base import FACT_FIELDS, FIELDS
from gateway.store.redis import RedisStore
from gateway.store.sqlite import DB_NAME
from tests.gateway.redis_server import RedisServer

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


@pytest.mark.parametrize(
    ("texts", "extra"),
    [
        (("smtp", "accept", "M", "", "received", "message spooled"), {"size": 3, "facts": {"a": "b"}}),
        (("approver:桜@例.jp", "transition", "M", "held", "delivering", '"q"\\\n\x00\u2028'), {}),
        (("p", "note", "M", "", "", "r"), {"t": (1, 2.5, None, True, float("inf"))}),
        (("p", "note", "M", "", "", "r"), {9: "x", 10: {"b": 1, "a": [2]}}),
    ],
)
def test_a_stored_event_hashes_and_stores_what_canonical_json_gives(
    texts: tuple[str, ...], extra: dict[Any, Any]
) -> None:
    actor, action, msg_id, from_state, to_state, reason = texts
    at = T0 + timedelta(microseconds=7)
    event, text = stored_event(
        41, "ab" * 32, at=at, actor=actor, action=action, msg_id=msg_id,
        from_state=from_state, to_state=to_state, reason=reason, extra=extra,
    )  # fmt: skip
    read_back = json.loads(json.dumps(extra))
    assert event.extra == read_back and event.seq == 42
    assert text == json.dumps(read_back, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    fields = dataclasses.asdict(event)
    del fields["hash"]
    assert event.hash == hashlib.sha256(canonical(**fields)).hexdigest() == recompute(event)


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


# -- the record's facts: the audit covers the whole record, on both backends ----------------------


@dataclass
class Backend:
    """A store and a way to write one stored field of a record behind its back."""

    store: Store
    poke: Callable[[str, str, object], None]
    peek: Callable[[str, str], object]


@pytest.fixture(params=["redis", "sqlite"])
async def backend(
    request: pytest.FixtureRequest, tmp_path: Path, redis_server: RedisServer
) -> AsyncIterator[Backend]:
    if request.param == "sqlite":
        store: Store = await SQLiteStore.open(tmp_path, clock=lambda: T0)

        def poke(msg_id: str, column: str, value: object) -> None:
            assert column in FIELDS
            _sql(tmp_path, f"UPDATE messages SET {column} = ? WHERE id = ?", value, msg_id)

        def peek(msg_id: str, column: str) -> object:
            conn = sqlite3.connect(tmp_path / DB_NAME)
            try:
                return conn.execute(f"SELECT {column} FROM messages WHERE id = ?", (msg_id,)).fetchone()[0]
            finally:
                conn.close()

    else:
        prefix = f"audit-{secrets.token_hex(6)}:"
        store = await RedisStore.open(redis_server.url, prefix=prefix, clock=lambda: T0)
        client = redis.Redis.from_url(redis_server.url, decode_responses=True)

        def poke(msg_id: str, column: str, value: object) -> None:
            client.hset(f"{prefix}msg:{msg_id}", column, "" if value is None else str(value))

        def peek(msg_id: str, column: str) -> object:
            return client.hget(f"{prefix}msg:{msg_id}", column)

    yield Backend(store, poke, peek)
    await store.close()


UPLOAD = UploadFacts(
    service="box", host="upload.box.com", filename="顧客.csv", content_type="text/csv", tenant="4711"
)


async def _items(store: Store) -> dict[str, str]:
    """A held message (decision, scan, approvers, a Bcc rewrite), an upload waiting for approval
    and a download link, each with its facts; ids by kind."""
    mail = await store.accept(
        b"Subject: x\r\n\r\nbody\r\n",
        sender="taro@example.co.jp",
        recipients=["a@partner.example", "b@partner.example"],
        subject="見積書",
        meta={"client": "192.0.2.1"},
    )
    await store.transition(
        mail.id,
        State.HELD,
        actor="policy",
        reason="policy: hold",
        release_at=T0 + timedelta(minutes=5),
        decision={"action": "hold", "rules": ["external-personal"]},
        scan={"findings": {"my_number": 2}, "fully_inspected": True},
        approvers=("boss@example.co.jp",),
    )
    await store.replace_raw(
        mail.id, b"Subject: x\r\nBcc: hidden\r\n\r\nbody\r\n", actor="policy", reason="Bcc conversion"
    )
    upload = await store.accept(
        b"name,my_number\r\n",
        kind=ItemKind.UPLOAD,
        sender="taro@example.co.jp",
        recipients=(),
        subject=UPLOAD.filename,
        meta={"upload": UPLOAD.to_meta(), "client": "192.0.2.9"},
        actor="proxy",
    )
    await store.transition(
        upload.id,
        State.PENDING_APPROVAL,
        actor="policy",
        reason="policy: approval",
        expires_at=T0 + timedelta(hours=24),
        approvers=("boss@example.co.jp",),
        decision={"action": "approval"},
        scan={"findings": {"my_number": 1}},
    )
    link = await store.create(
        ItemKind.LINK,
        None,
        sender="taro@example.co.jp",
        recipients=["a@partner.example"],
        subject="見積書",
        meta={
            "link": {"mail": mail.id, "recipient": "a@partner.example", "max_downloads": 3, "downloads": 3}
        },
        expires_at=T0 + timedelta(days=7),
        actor="delivery",
        reason="created",
    )
    return {"mail": mail.id, "upload": upload.id, "link": link.id}


def _json_with(key: str, value: object) -> Callable[[object], object]:
    def change(stored: object) -> object:
        doc = json.loads(str(stored))
        if isinstance(doc, dict) and isinstance(doc.get(key), dict) and isinstance(value, dict):
            doc[key] = {**doc[key], **value}
        else:
            doc[key] = value
        return json.dumps(doc, ensure_ascii=False)

    return change


#: (item, stored column, how to change its stored value, the fact verify must name)
TAMPERING: list[tuple[str, str, Callable[[object], object], str]] = [
    ("mail", "sender", lambda _: "ceo@example.co.jp", "sender"),
    (
        "mail",
        "recipients",
        lambda _: '["a@partner.example","b@partner.example","x@leak.example"]',
        "recipients",
    ),
    ("mail", "subject", lambda _: "お知らせ", "subject"),
    ("mail", "decision", lambda _: '{"action":"deliver","rules":[]}', "decision"),
    ("mail", "scan", lambda _: '{"findings":{},"fully_inspected":true}', "scan"),
    ("mail", "approvers", lambda _: '["mallory@example.co.jp"]', "approvers"),
    ("mail", "release_at", lambda v: int(str(v)) - 300_000_000, "release_at"),
    ("mail", "attempts", lambda _: 4, "attempts"),
    ("mail", "last_error", lambda _: "upstream said so", "last_error"),
    ("mail", "received_at", lambda v: int(str(v)) - 86_400_000_000, "received_at"),
    ("mail", "size", lambda v: int(str(v)) + 1, "size"),
    ("mail", "kind", lambda _: "upload", "kind"),
    ("mail", "meta", _json_with("client", "203.0.113.7"), "meta.client"),
    ("mail", "meta", _json_with("inspected_as", "forged"), "meta.inspected_as"),
    ("upload", "meta", _json_with("upload", {"service": "generic"}), "meta.upload"),
    ("upload", "sender", lambda _: "", "sender"),
    ("upload", "expires_at", lambda v: int(str(v)) + 86_400_000_000, "expires_at"),
    ("link", "meta", _json_with("link", {"downloads": 0}), "meta.link"),
    ("link", "expires_at", lambda v: int(str(v)) + 86_400_000_000, "expires_at"),
    ("link", "recipients", lambda _: '["c@other.example"]', "recipients"),
]


def test_every_recorded_fact_is_covered() -> None:
    """Each field of the digest set is tampered with below (and meta keys of every kind)."""
    assert {f for _, _, _, f in TAMPERING if not f.startswith("meta.")} | {"next_attempt_at"} == set(
        FACT_FIELDS
    )


@pytest.mark.parametrize(
    ("item", "column", "change", "named"), TAMPERING, ids=[f"{i}-{n}" for i, _, _, n in TAMPERING]
)
async def test_a_fact_changed_behind_the_store_is_named(
    backend: Backend, item: str, column: str, change: Callable[[object], object], named: str
) -> None:
    ids = await _items(backend.store)
    before = await verify_store(backend.store)
    assert before.ok, before.mismatches
    assert before.partial == ()
    victim = ids[item]
    original = backend.peek(victim, column)
    backend.poke(victim, column, change(original))
    result = await verify_store(backend.store)
    assert not result.ok
    assert result.broken_seq is None, "the chain itself holds"
    assert result.mismatches == (f"message {victim}: its {named} differs from the audited one",)
    backend.poke(victim, column, original)
    assert (await verify_store(backend.store)).ok


async def test_changes_through_the_store_keep_verify_ok(backend: Backend) -> None:
    store = backend.store
    ids = await _items(store)
    mail = ids["mail"]
    await store.claim(
        mail, owner="w1", from_states=State.HELD, to=State.DELIVERING, actor="scheduler", reason="due"
    )
    await store.transition(
        mail,
        State.DEFERRED,
        actor="delivery",
        reason="upstream: 451",
        expect=State.DELIVERING,
        attempts=1,
        next_attempt_at=T0 + timedelta(minutes=1),
        last_error="a@partner.example: 451 try later",
        meta={"client": "192.0.2.1", "failed": []},
    )
    await store.transition(
        ids["upload"],
        State.APPROVED,
        actor="approver:boss@example.co.jp",
        reason="ok",
        meta={"upload": UPLOAD.to_meta(), "pass": {"uses": 1}},
        expires_at=T0 + timedelta(hours=1),
    )
    await store.use_pass(
        ids["upload"],
        actor="proxy",
        user="taro@example.co.jp",
        sha256=(await store.get(ids["upload"])).sha256,  # type: ignore[union-attr]
        service="box",
        tenant="4711",
    )

    def revoke(rec: MessageRecord, now: datetime) -> Amendment:
        return Amendment("transition", "revoked", {"meta": {}}, to=State.REVOKED)

    await store.amend(ids["link"], revoke, actor="sender:taro@example.co.jp")
    await store.note(mail, action="notify", actor="notify", reason="sender told")
    await store.recover("w2")
    result = await verify_store(store)
    assert result.ok, result.mismatches
    assert result.partial == ()
    # The meta key the link's revocation removed is recorded as gone: putting it back shows.
    backend.poke(ids["link"], "meta", '{"link":{"downloads":0}}')
    assert (await verify_store(store)).mismatches == (
        f"message {ids['link']}: its meta.link differs from the audited one",
    )


async def test_items_from_before_digests_verify_and_can_be_sealed(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = backend.store
    with monkeypatch.context() as m:  # the store as it wrote before events carried digests
        m.setattr(base, "_with_facts", lambda before, after, draft, *written: draft)
        ids = await _items(store)
    old = await verify_store(store)
    assert old.ok
    assert sorted(old.partial) == sorted(ids.values())
    # Unsealed, an old item is checked in the facts changed since it was accepted.
    await store.transition(
        ids["mail"], State.DELIVERING, actor="operator:root", reason="release", decision={"action": "deliver"}
    )
    backend.poke(ids["mail"], "decision", '{"action":"hold"}')
    assert (await verify_store(store)).mismatches == (
        f"message {ids['mail']}: its decision differs from the audited one",
    )
    backend.poke(ids["mail"], "decision", '{"action":"deliver"}')
    for msg_id in ids.values():
        await store.seal(msg_id, actor="operator:root", reason="record digests")
    sealed = await verify_store(store)
    assert sealed.ok and sealed.partial == ()
    backend.poke(ids["upload"], "subject", "other.csv")
    assert (await verify_store(store)).mismatches == (
        f"message {ids['upload']}: its subject differs from the audited one",
    )


def test_verify_command_names_message_and_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ids = _populate(tmp_path)
    _sql(
        tmp_path,
        'UPDATE messages SET recipients = \'["r@x.example","leak@evil.example"]\' WHERE id = ?',
        ids[1],
    )
    assert main(["audit", "verify", "--var", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("改ざんを検出しました / tampering detected: the audit chain holds (7 event(s))")
    assert f"message {ids[1]}: its recipients differs from the audited one" in out


def test_seal_command_covers_old_items(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as m:
        m.setattr(base, "_with_facts", lambda before, after, draft, *written: draft)
        ids = _populate(tmp_path)
    assert main(["audit", "verify", "--var", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "3 item(s) were accepted before audit events carried record digests" in out
    assert main(["audit", "seal", "--var", str(tmp_path)]) == 0
    assert capsys.readouterr().out == "OK: sealed 3 item(s)\n"
    assert main(["audit", "verify", "--var", str(tmp_path)]) == 0
    assert capsys.readouterr().out.startswith("OK: 10 event(s), head ")
    _sql(tmp_path, "UPDATE messages SET sender = 'ceo@example.jp' WHERE id = ?", ids[0])
    assert main(["audit", "verify", "--var", str(tmp_path)]) == 1
    assert f"message {ids[0]}: its sender differs" in capsys.readouterr().out


def test_verify_command_on_redis(
    redis_server: RedisServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = redis_server.url.rsplit("/", 1)[0] + "/3"
    client = redis.Redis.from_url(url, decode_responses=True)
    client.flushdb()

    async def populate() -> str:
        store = await RedisStore.open(url)
        try:
            rec = await store.accept(b"x", sender="u@example.jp", recipients=["r@x.example"], subject="件名")
            return rec.id
        finally:
            await store.close()

    msg_id = asyncio.run(populate())
    config = tmp_path / "sekimori.yaml"
    config.write_text(f"secret: '{'s' * 40}'\nstore: {{url: '{url}'}}\n", encoding="utf-8")
    assert main(["audit", "verify", "--config", str(config)]) == 0
    capsys.readouterr()
    client.hset(f"sekimori:msg:{msg_id}", "subject", "別件")
    assert main(["audit", "verify", "--config", str(config)]) == 1
    assert f"message {msg_id}: its subject differs from the audited one" in capsys.readouterr().out
    client.flushdb()
