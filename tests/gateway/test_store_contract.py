"""Contract tests every :class:`gateway.store.Store` backend must pass.

Backends are listed in ``BACKENDS``; each entry opens a *new* store instance on the same
underlying storage every time it is called, so durability and multi-instance races are tested
through the public interface only. The Redis backend runs on the session's real
``redis-server``, each test under its own key prefix.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import itertools
import secrets
import threading
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import pytest

from gateway.audit import verify_store
from gateway.store import (
    DISCARDS_RAW,
    ENTRY,
    LIFECYCLE,
    TERMINAL,
    Amendment,
    EncodedJson,
    InvalidTransition,
    ItemKind,
    MessageRecord,
    NotFound,
    Rule,
    SQLiteStore,
    State,
    Store,
    StoreError,
    UploadFacts,
)
from gateway.store.base import AuditEvent, Decided, canonical_json, new_id, record_facts
from gateway.store.redis import RedisStore

T0 = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


@dataclass
class Clock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


Opener = Callable[[], Awaitable[Store]]


@dataclass
class Harness:
    open: Opener
    clock: Clock
    opened: list[Store] = field(default_factory=list)

    async def new(self) -> Store:
        store = await self.open()
        self.opened.append(store)
        return store


def _sqlite(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock) -> Opener:
    async def opener() -> Store:
        return await SQLiteStore.open(tmp_path / "var", clock=clock)

    return opener


def _redis(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock) -> Opener:
    url = request.getfixturevalue("redis_server").url
    prefix = f"contract-{secrets.token_hex(6)}:"

    async def opener() -> Store:
        return await RedisStore.open(url, prefix=prefix, clock=clock)

    return opener


#: name -> factory(request, tmp_path, clock) returning an opener for that backend.
BACKENDS: dict[str, Callable[[pytest.FixtureRequest, Path, Clock], Opener]] = {
    "redis": _redis,
    "sqlite": _sqlite,
}


@pytest.fixture(params=sorted(BACKENDS))
async def harness(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    clock = Clock()
    h = Harness(BACKENDS[request.param](request, tmp_path, clock), clock)
    yield h
    for store in h.opened:
        await store.close()


@pytest.fixture
async def store(harness: Harness) -> Store:
    return await harness.new()


RAW = "Subject: 見積書\r\nFrom: a@example.co.jp\r\n\r\n本文です。\r\n".encode()


async def _accept(store: Store, raw: bytes = RAW, **kw: object) -> MessageRecord:
    args: dict[str, object] = {"sender": "taro@example.co.jp", "recipients": ["x@partner.example"]}
    args.update(kw)
    return await store.accept(raw, **args)  # type: ignore[arg-type]


def _path_to(target: State, kind: ItemKind = ItemKind.MAIL) -> list[State]:
    """Shortest list of states after the kind's first state that reaches ``target`` (BFS over
    the kind's life cycle)."""
    cycle = LIFECYCLE[kind]
    first = ENTRY[kind]
    prev: dict[State, State | None] = {first: None}
    queue = deque([first])
    while queue:
        s = queue.popleft()
        for nxt in sorted(cycle[s]):
            if nxt not in prev:
                prev[nxt] = s
                queue.append(nxt)
    assert target in prev, f"{target} is unreachable from {first}"
    path: list[State] = []
    cur: State | None = target
    while cur is not None and cur is not first:
        path.append(cur)
        cur = prev[cur]
    return path[::-1]


async def _create(store: Store, kind: ItemKind, body: bytes | None = RAW, **kw: Any) -> MessageRecord:
    args: dict[str, Any] = {
        "sender": "taro@example.co.jp",
        "recipients": ["x@partner.example"] if kind is ItemKind.LINK else [],
        "subject": "見積書.pdf",
        "meta": {},
        "expires_at": T0 + timedelta(days=7),
        "actor": "delivery",
        "reason": "created",
    }
    args.update(kw)
    return await store.create(kind, body, **args)


async def _message_in(store: Store, state: State, kind: ItemKind = ItemKind.MAIL) -> MessageRecord:
    if kind in (ItemKind.MAIL, ItemKind.UPLOAD):
        rec = await _accept(store, kind=kind)
    else:
        rec = await _create(store, kind)
    for step in _path_to(state, kind):
        rec = await store.transition(rec.id, step, actor="test", reason=f"to {step.value}")
    assert rec.state is state
    return rec


# -- accept and durability ---------------------------------------------------------------------


async def test_accept_spools_and_records(harness: Harness, store: Store) -> None:
    rec = await _accept(store, subject="見積書", meta={"client": "192.0.2.1"})
    assert rec.state is State.RECEIVED
    assert rec.size == len(RAW)
    assert rec.recipients == ("x@partner.example",)
    assert rec.subject == "見積書"
    assert rec.meta == {"client": "192.0.2.1"}
    assert rec.received_at == harness.clock.now
    assert await store.load_raw(rec.id) == RAW
    events = await store.audit_events(msg_id=rec.id)
    assert [(e.action, e.from_state, e.to_state) for e in events] == [("accept", "", "received")]


async def test_accepted_message_survives_a_new_instance(harness: Harness, store: Store) -> None:
    big = RAW + b"x" * 300_000 + b"\r\n"
    recs = [await _accept(store, raw=big + str(i).encode()) for i in range(3)]
    await store.close()
    again = await harness.new()
    for i, rec in enumerate(recs):
        got = await again.get(rec.id)
        assert got == rec
        assert await again.load_raw(rec.id) == big + str(i).encode()


async def test_an_item_accepted_decided_is_as_if_accepted_then_moved(harness: Harness, store: Store) -> None:
    """``accept_decided`` (an upload judged before anything of it was written) leaves the
    record and the trail that ``accept`` then ``transition`` leave; under the id given."""
    facts = UploadFacts(service="box", host="upload.box.com", filename="写真.png")
    meta = {"upload": facts.to_meta(), "client": "10.0.0.5"}
    changes: dict[str, Any] = {"decision": {"action": "deliver"}, "meta": {**meta, "content_size": 3}}
    accepted: dict[str, Any] = {
        "sender": "u@corp.example",
        "recipients": (),
        "subject": "写真.png",
        "meta": meta,
        "kind": ItemKind.UPLOAD,
        "actor": "proxy",
        "owner": "proxy-1",
        "lease": 120.0,
    }
    two = await store.accept(b"", **accepted)
    two = await store.transition(
        two.id, State.PASSED, actor="policy", reason="ok", expect=State.RECEIVED, **changes
    )
    given = new_id(harness.clock())
    one = await store.accept_decided(
        Decided(**accepted, to=State.PASSED, decided_by="policy", reason="ok", changes=changes), msg_id=given
    )
    again = await harness.new()
    assert one.id == given and await again.get(given) == one
    assert dataclasses.replace(one, id=two.id) == two

    def trail(events: list[AuditEvent]) -> list[tuple[Any, ...]]:
        return [
            (e.action, e.actor, e.from_state, e.to_state, e.reason, sorted((e.extra or {}).get("facts", {})))
            for e in events
        ]

    assert trail(await again.audit_events(msg_id=given)) == trail(await again.audit_events(msg_id=two.id))
    assert (await verify_store(again)).ok


async def test_meta_computed_later_is_recorded_as_if_given(harness: Harness, store: Store) -> None:
    """``meta_later`` (an upload's digest, computed off the event loop) gives the record and
    the trail that the same values given in ``changes`` give (the facts digested;
    ``verify_store`` checks their values against the record); it is called once, and never on
    the event loop's thread."""
    body = "顧客名簿".encode() * 1000
    digest = hashlib.sha256(body).hexdigest()
    meta = {"upload": UploadFacts(service="box", host="upload.box.com", filename="名簿.csv").to_meta()}
    accepted: dict[str, Any] = {
        "sender": "u@corp.example",
        "recipients": (),
        "meta": meta,
        "kind": ItemKind.UPLOAD,
        "actor": "proxy",
    }
    loop_thread = threading.get_ident()
    calls: list[int] = []

    def later() -> dict[str, Any]:
        calls.append(threading.get_ident())
        return {"content_sha256": hashlib.sha256(body).hexdigest()}

    changes: dict[str, Any] = {"decision": {"action": "deliver"}, "meta": {**meta, "content_size": len(body)}}
    late = await store.accept_decided(
        Decided(
            **accepted, to=State.PASSED, decided_by="policy", reason="ok", changes=changes, meta_later=later
        )
    )
    given = await store.accept_decided(
        Decided(
            **accepted,
            to=State.PASSED,
            decided_by="policy",
            reason="ok",
            changes={**changes, "meta": {**changes["meta"], "content_sha256": digest}},
        )
    )
    assert len(calls) == 1 and calls[0] != loop_thread
    assert late.meta["content_sha256"] == digest and late.meta["content_size"] == len(body)
    again = await harness.new()
    assert await again.get(late.id) == late
    assert (
        dataclasses.replace(late, id=given.id, received_at=given.received_at, updated_at=given.updated_at)
        == given
    )

    def facts(msg_id: str) -> list[Any]:
        return [(e.action, sorted((e.extra or {}).get("facts", {}))) for e in events if e.msg_id == msg_id]

    events = await again.audit_events()
    assert facts(late.id) == facts(given.id)
    assert (await verify_store(again)).ok


def _cannot_compute() -> dict[str, Any]:
    raise OSError("the content went away")


@pytest.mark.parametrize(
    ("to", "meta_later", "error"),
    [
        (State.DELIVERED, None, InvalidTransition),  # not an upload's state
        (State.PASSED, _cannot_compute, OSError),  # its late meta cannot be computed
    ],
    ids=["unreachable-state", "meta-later-fails"],
)
async def test_an_item_accepted_decided_that_cannot_be_is_not_written(
    store: Store, to: State, meta_later: Callable[[], dict[str, Any]] | None, error: type[Exception]
) -> None:
    with pytest.raises(error):
        await store.accept_decided(
            Decided(
                sender="u@corp.example",
                recipients=(),
                kind=ItemKind.UPLOAD,
                actor="proxy",
                to=to,
                decided_by="policy",
                reason="decided",
                meta_later=meta_later,
            )
        )
    assert await store.list_messages() == []
    assert await store.audit_events() == []


async def test_ids_are_unique_and_sort_by_arrival(harness: Harness, store: Store) -> None:
    ids = []
    for _ in range(5):
        ids.append((await _accept(store)).id)
        harness.clock.advance(0.002)
    assert len(set(ids)) == 5
    assert ids == sorted(ids)


async def test_get_and_load_raw_of_unknown_id(store: Store) -> None:
    assert await store.get("NOPE") is None
    with pytest.raises(NotFound):
        await store.load_raw("NOPE")
    with pytest.raises(NotFound):
        await store.transition("NOPE", State.DELIVERING, actor="t", reason="r")


# -- the life cycle ----------------------------------------------------------------------------

ALLOWED_PAIRS = sorted(
    (kind, src, dst) for kind, cycle in LIFECYCLE.items() for src, dsts in cycle.items() for dst in dsts
)
KIND_STATES = sorted((kind, s) for kind, cycle in LIFECYCLE.items() for s in cycle)


@pytest.mark.parametrize(
    ("kind", "src", "dst"),
    ALLOWED_PAIRS,
    ids=[f"{k.value}:{a.value}->{b.value}" for k, a, b in ALLOWED_PAIRS],
)
async def test_every_allowed_transition(
    harness: Harness, store: Store, kind: ItemKind, src: State, dst: State
) -> None:
    rec = await _message_in(store, src, kind)
    assert rec.kind is kind
    harness.clock.advance(5)
    after = await store.transition(rec.id, dst, actor="operator:test", reason="because", expect=src)
    assert after.state is dst
    assert after.updated_at == harness.clock.now
    assert (await store.get(rec.id)) == after
    last = (await store.audit_events(msg_id=rec.id))[-1]
    assert (last.action, last.from_state, last.to_state) == ("transition", src.value, dst.value)
    assert (last.actor, last.reason, last.at) == ("operator:test", "because", harness.clock.now)
    if dst in DISCARDS_RAW:
        assert not after.has_raw
        with pytest.raises(NotFound):
            await store.load_raw(rec.id)
    else:
        assert await store.load_raw(rec.id) == RAW


@pytest.mark.parametrize(("kind", "src"), KIND_STATES, ids=[f"{k.value}:{s.value}" for k, s in KIND_STATES])
async def test_every_forbidden_transition(store: Store, kind: ItemKind, src: State) -> None:
    rec = await _message_in(store, src, kind)
    before = await store.audit_events(msg_id=rec.id)
    forbidden = [s for s in State if s not in LIFECYCLE[kind][src]]
    assert forbidden
    for dst in forbidden:
        with pytest.raises(InvalidTransition):
            await store.transition(rec.id, dst, actor="t", reason="not allowed")
    assert await store.get(rec.id) == rec
    assert await store.audit_events(msg_id=rec.id) == before


def test_terminal_states_are_the_ends_of_the_design() -> None:
    assert {s.value for s in TERMINAL} == {
        "delivered",
        "bounced",
        "cancelled",
        "rejected",
        "deleted",
        "refused",
        "passed",
        "expired",
        "revoked",
        "exhausted",
    }
    assert {s for s, nxt in LIFECYCLE[ItemKind.MAIL].items() if not nxt} == {
        State.DELIVERED,
        State.BOUNCED,
        State.CANCELLED,
        State.REJECTED,
        State.DELETED,
        State.REFUSED,
    }


def test_an_upload_is_never_delivered() -> None:
    cycle = LIFECYCLE[ItemKind.UPLOAD]
    assert not any(State.DELIVERING in nxt for nxt in cycle.values())
    assert State.DELIVERING not in cycle
    assert State.PASSED not in LIFECYCLE[ItemKind.MAIL]


async def test_expect_is_compare_and_set(store: Store) -> None:
    rec = await _message_in(store, State.HELD)
    with pytest.raises(InvalidTransition, match="expected"):
        await store.transition(rec.id, State.DELIVERING, actor="t", reason="r", expect=State.QUARANTINED)
    assert (await store.get(rec.id)) == rec
    ok = await store.transition(
        rec.id, State.DELIVERING, actor="t", reason="r", expect={State.HELD, State.QUARANTINED}
    )
    assert ok.state is State.DELIVERING


async def test_transition_applies_changes_and_rejects_unknown_fields(harness: Harness, store: Store) -> None:
    rec = await _accept(store)
    release = harness.clock.now + timedelta(minutes=10)
    held = await store.transition(
        rec.id,
        State.HELD,
        actor="policy",
        reason="grace period",
        release_at=release,
        decision={"action": "hold", "rule": "external-personal"},
        scan={"my_number": 1},
        approvers=("boss@example.co.jp",),
        extra={"rule": "external-personal"},
    )
    assert held.release_at == release
    assert held.decision == {"action": "hold", "rule": "external-personal"}
    assert held.scan == {"my_number": 1}
    assert held.approvers == ("boss@example.co.jp",)
    extra = (await store.audit_events(msg_id=rec.id))[-1].extra
    # The event carries the digests of the facts it changed (the audit covers the record).
    assert {k: v for k, v in extra.items() if k != "facts"} == {"rule": "external-personal"}
    assert sorted(extra["facts"]) == ["approvers", "decision", "release_at", "scan"]
    with pytest.raises(TypeError, match="sender"):
        await store.transition(rec.id, State.DELIVERING, actor="t", reason="r", sender="evil@example.com")
    assert (await store.get(rec.id)) == held


@pytest.mark.parametrize(
    "scan",
    [
        {"findings": [{"type": "my_number", "values": ["****-****-9018"], "score": 0.9}], "size": 3},
        {"parts": ("a tuple reads back as a list",), "names": ["顧客.csv"]},
    ],
    ids=["plain", "tuple"],
)
async def test_a_scan_encoded_beforehand_is_kept_and_audited_as_the_value(
    harness: Harness, store: Store, scan: dict[str, Any]
) -> None:
    # A classification worker hands the scan over with its stored form made: the record, its
    # stored form and the audit's fact digests are those of the value given as it is.
    given, encoded = await _accept(store), await _accept(store)
    decision = {"action": "quarantine", "rules": ["r1"]}
    a = await store.transition(
        given.id, State.QUARANTINED, actor="policy", reason="r", scan=scan, decision=decision
    )
    b = await store.transition(
        encoded.id,
        State.QUARANTINED,
        actor="policy",
        reason="r",
        scan=EncodedJson.of(scan),
        decision=EncodedJson.of(decision),
    )
    assert b.scan == a.scan and b.decision == a.decision
    assert canonical_json(b.scan) == canonical_json(scan)
    again = await (await harness.new()).get(encoded.id)
    assert again is not None and again.scan == b.scan and again.decision == b.decision
    facts = (await store.audit_events(msg_id=encoded.id))[-1].extra["facts"]
    assert sorted(facts) == ["decision", "scan"]
    assert facts == {k: v for k, v in record_facts(again).items() if k in facts}
    assert (await verify_store(store)).ok
    with pytest.raises(TypeError, match="encoded"):
        await store.transition(encoded.id, State.DELIVERING, actor="t", reason="r", meta=EncodedJson.of({}))


async def test_deferred_retry_fields(harness: Harness, store: Store) -> None:
    rec = await _message_in(store, State.DELIVERING)
    nxt = harness.clock.now + timedelta(seconds=60)
    d = await store.transition(
        rec.id,
        State.DEFERRED,
        actor="delivery",
        reason="451",
        attempts=1,
        next_attempt_at=nxt,
        last_error="451 4.4.1",
    )
    assert (d.attempts, d.next_attempt_at, d.last_error, d.owner) == (1, nxt, "451 4.4.1", None)


# -- claims: exactly one worker ----------------------------------------------------------------


async def test_concurrent_claims_have_exactly_one_winner(harness: Harness, store: Store) -> None:
    other = await harness.new()
    rec = await _accept(store)
    held = await store.transition(
        rec.id, State.HELD, actor="policy", reason="hold", release_at=harness.clock.now
    )
    claims = [
        (store if i % 2 else other).claim(
            held.id,
            owner=f"worker-{i}",
            from_states=State.HELD,
            to=State.DELIVERING,
            actor="scheduler",
            reason="release time",
        )
        for i in range(24)
    ]
    results = await asyncio.gather(*claims)
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    assert winners[0].state is State.DELIVERING
    assert (await store.get(rec.id)) == winners[0]
    moves = [e for e in await store.audit_events(msg_id=rec.id) if e.to_state == "delivering"]
    assert len(moves) == 1
    assert moves[0].extra == {"owner": winners[0].owner}


async def test_claim_respects_live_lease_and_takes_expired_one(harness: Harness, store: Store) -> None:
    rec = await _message_in(store, State.DELIVERING)
    a = await store.claim(rec.id, owner="a", from_states=State.DELIVERING, actor="d", reason="r", lease=30)
    assert a is not None
    assert a.owner == "a"
    assert a.lease_until == harness.clock.now + timedelta(seconds=30)
    assert await store.claim(rec.id, owner="b", from_states=State.DELIVERING, actor="d", reason="r") is None
    renewed = await store.claim(
        rec.id, owner="a", from_states=State.DELIVERING, actor="d", reason="r", lease=60
    )
    assert renewed is not None
    assert renewed.lease_until == harness.clock.now + timedelta(seconds=60)
    harness.clock.advance(61)
    b = await store.claim(rec.id, owner="b", from_states=State.DELIVERING, actor="d", reason="r")
    assert b is not None
    assert b.owner == "b"
    assert b.state is State.DELIVERING
    assert [e.to_state for e in await store.audit_events(msg_id=rec.id)].count("delivering") == 1


async def test_claim_from_wrong_state_returns_none(store: Store) -> None:
    rec = await _message_in(store, State.CANCELLED)
    got = await store.claim(
        rec.id, owner="w", from_states={State.HELD}, to=State.DELIVERING, actor="s", reason="r"
    )
    assert got is None
    assert (await store.get(rec.id)) == rec


async def test_transition_sets_or_clears_the_owner(harness: Harness, store: Store) -> None:
    rec = await _accept(store, owner="smtp-1")
    assert rec.owner == "smtp-1"
    mine = await store.transition(rec.id, State.DELIVERING, actor="policy", reason="deliver", owner="smtp-1")
    assert mine.owner == "smtp-1"
    assert mine.lease_until is not None
    rec2 = await _message_in(store, State.HELD)
    released = await store.transition(rec2.id, State.DELIVERING, actor="operator:root", reason="release")
    assert (released.owner, released.lease_until) == (None, None)


# -- timers and recovery -----------------------------------------------------------------------


async def test_due_lists_work_whose_time_has_come(harness: Harness, store: Store) -> None:
    now = harness.clock.now
    past, future = now - timedelta(seconds=1), now + timedelta(hours=1)

    async def make(state: State, **changes: Any) -> str:
        rec = await _accept(store)
        for step in _path_to(state):
            extra = changes if step is state else {}
            rec = await store.transition(rec.id, step, actor="t", reason="r", **extra)
        return rec.id

    due_ids = {
        await make(State.HELD, release_at=past),
        await make(State.HELD, release_at=now),
        await make(State.DEFERRED, next_attempt_at=past),
        await make(State.PENDING_APPROVAL, expires_at=past),
        await make(State.DELIVERING),
        (await _accept(store)).id,
    }
    not_due = {
        await make(State.HELD, release_at=future),
        await make(State.HELD),
        await make(State.DEFERRED, next_attempt_at=future),
        await make(State.PENDING_APPROVAL, expires_at=future),
        await make(State.PENDING_APPROVAL),
        await make(State.QUARANTINED),
        await make(State.DELIVERED),
        (await _accept(store, owner="live")).id,
    }
    owned = await make(State.DELIVERING)
    await store.claim(owned, owner="w", from_states=State.DELIVERING, actor="d", reason="r", lease=10)
    not_due.add(owned)
    got = [r.id for r in await store.due(now)]
    assert set(got) == due_ids
    assert got == sorted(got)
    assert not (set(got) & not_due)
    harness.clock.advance(3600)
    later = {r.id for r in await store.due(harness.clock.now)}
    assert owned in later


async def test_recover_takes_over_unfinished_work(harness: Harness, store: Store) -> None:
    mine = await _accept(store, owner="gw-1")
    unowned = await _message_in(store, State.DELIVERING)
    others = await _accept(store, owner="gw-2", lease=30)
    expired = await _accept(store, owner="gw-3", lease=1)
    waiting = await _message_in(store, State.HELD)
    done = await _message_in(store, State.DELIVERED)
    harness.clock.advance(2)
    await store.close()
    again = await harness.new()
    got = await again.recover("gw-1", lease=120)
    assert [r.id for r in got] == sorted([mine.id, unowned.id, expired.id])
    for r in got:
        assert r.owner == "gw-1"
        assert r.lease_until == harness.clock.now + timedelta(seconds=120)
        assert await again.load_raw(r.id) == RAW
    assert (await again.get(others.id)).owner == "gw-2"  # type: ignore[union-attr]
    assert (await again.get(waiting.id)) == waiting
    assert (await again.get(done.id)) == done


# -- bodies --------------------------------------------------------------------------------------


async def test_replace_raw(store: Store) -> None:
    rec = await _accept(store)
    new = RAW.replace(b"\r\n\r\n", b"\r\nX-Sekimori-Bcc: converted\r\n\r\n")
    after = await store.replace_raw(rec.id, new, actor="policy", reason="bcc conversion")
    assert after.size == len(new)
    assert after.sha256 != rec.sha256
    assert await store.load_raw(rec.id) == new
    ev = (await store.audit_events(msg_id=rec.id))[-1]
    assert (ev.action, ev.extra["old_sha256"], ev.extra["sha256"]) == (
        "replace_raw",
        rec.sha256,
        after.sha256,
    )
    done = await _message_in(store, State.DELIVERED)
    with pytest.raises(InvalidTransition):
        await store.replace_raw(done.id, new, actor="t", reason="r")
    assert await store.load_raw(done.id) == RAW


async def test_delete_raw_only_when_finished(store: Store) -> None:
    held = await _message_in(store, State.HELD)
    with pytest.raises(InvalidTransition):
        await store.delete_raw(held.id, actor="operator:root", reason="retention")
    assert await store.load_raw(held.id) == RAW
    done = await _message_in(store, State.DELIVERED)
    purged = await store.delete_raw(done.id, actor="operator:root", reason="retention")
    assert not purged.has_raw
    assert purged.state is State.DELIVERED
    with pytest.raises(NotFound):
        await store.load_raw(done.id)
    assert (await store.audit_events(msg_id=done.id))[-1].action == "purge"


# -- queries -----------------------------------------------------------------------------------


async def test_list_messages_filters_newest_first(harness: Harness, store: Store) -> None:
    a = await _message_in(store, State.HELD)
    harness.clock.advance(1)
    b = await _accept(store, sender="hanako@example.co.jp")
    harness.clock.advance(1)
    c = await _message_in(store, State.QUARANTINED)
    assert [r.id for r in await store.list_messages()] == [c.id, b.id, a.id]
    assert [r.id for r in await store.list_messages(states={State.HELD, State.QUARANTINED})] == [c.id, a.id]
    assert [r.id for r in await store.list_messages(sender="hanako@example.co.jp")] == [b.id]
    assert [r.id for r in await store.list_messages(limit=1)] == [c.id]
    assert [r.id for r in await store.list_messages(before=c.id)] == [b.id, a.id]
    assert [r.id for r in await store.list_messages(before=b.id, limit=5)] == [a.id]
    assert await store.list_messages(before=a.id) == []
    assert await store.list_messages(states=()) == []


# -- uploads -------------------------------------------------------------------------------------

FACTS = UploadFacts(
    service="box", host="upload.box.com", filename="顧客一覧.csv", content_type="text/csv", tenant="4711"
)


async def test_an_upload_is_spooled_from_a_file(harness: Harness, store: Store, tmp_path: Path) -> None:
    body = b"\xef\xbb\xbf" + "氏名,個人番号\r\n".encode() * 50_000
    spooled = tmp_path / "upload.part"
    spooled.write_bytes(body)
    rec = await store.accept(
        spooled,
        kind=ItemKind.UPLOAD,
        sender="taro@example.co.jp",
        recipients=(),
        subject=FACTS.filename,
        meta={"upload": FACTS.to_meta()},
        owner="proxy-1",
        actor="proxy",
    )
    assert spooled.read_bytes() == body, "the caller's file stays where it is"
    assert (rec.kind, rec.state, rec.size, rec.owner) == (
        ItemKind.UPLOAD,
        State.RECEIVED,
        len(body),
        "proxy-1",
    )
    assert rec.upload == FACTS
    await store.close()
    again = await harness.new()
    assert await again.get(rec.id) == rec
    assert await again.load_raw(rec.id) == body
    [event] = await again.audit_events(msg_id=rec.id)
    assert (event.action, event.actor, event.extra["size"]) == ("accept", "proxy", len(body))
    assert {k: event.extra[k] for k in ("kind", "service", "host", "tenant")} == {
        "kind": "upload",
        "service": "box",
        "host": "upload.box.com",
        "tenant": "4711",
    }
    assert "filename" not in event.extra


async def test_a_message_has_no_upload_facts(store: Store) -> None:
    rec = await _accept(store)
    assert (rec.kind, rec.upload) == (ItemKind.MAIL, None)


async def test_list_messages_by_kind(harness: Harness, store: Store) -> None:
    mail = await _message_in(store, State.QUARANTINED)
    harness.clock.advance(1)
    upload = await _message_in(store, State.QUARANTINED, ItemKind.UPLOAD)
    assert [r.id for r in await store.list_messages()] == [upload.id, mail.id]
    assert [r.id for r in await store.list_messages(kinds={ItemKind.MAIL})] == [mail.id]
    both = await store.list_messages(states={State.QUARANTINED}, kinds={ItemKind.UPLOAD, ItemKind.MAIL})
    assert [r.id for r in both] == [upload.id, mail.id]
    only = await store.list_messages(states={State.QUARANTINED}, kinds={ItemKind.UPLOAD})
    assert [r.id for r in only] == [upload.id]
    assert await store.list_messages(kinds=()) == []


async def test_due_lists_upload_timers(harness: Harness, store: Store) -> None:
    now = harness.clock.now
    past, future = now - timedelta(seconds=1), now + timedelta(hours=1)

    async def make(state: State, **changes: Any) -> str:
        rec = await _accept(store, kind=ItemKind.UPLOAD, recipients=())
        for step in _path_to(state, ItemKind.UPLOAD):
            extra = changes if step is state else {}
            rec = await store.transition(rec.id, step, actor="t", reason="r", **extra)
        return rec.id

    due_ids = {
        await make(State.APPROVED, expires_at=past),
        await make(State.HELD, release_at=past),
        await make(State.PENDING_APPROVAL, expires_at=now),
        (await _accept(store, kind=ItemKind.UPLOAD, recipients=())).id,
    }
    not_due = {
        await make(State.APPROVED, expires_at=future),
        await make(State.APPROVED),
        await make(State.HELD, release_at=future),
        await make(State.PASSED),
        await make(State.QUARANTINED),
        (await _accept(store, kind=ItemKind.UPLOAD, recipients=(), owner="proxy")).id,
    }
    got = {r.id for r in await store.due(now)}
    assert got == due_ids
    assert not (got & not_due)


async def test_correspondents_come_from_deliveries_only(store: Store) -> None:
    assert not await store.has_written_to("taro@example.co.jp", "partner.example")
    await _message_in(store, State.BOUNCED)
    assert not await store.has_written_to("taro@example.co.jp", "partner.example")
    rec = await _accept(store, recipients=["a@Partner.Example", "b@other.example", "c@partner.example"])
    for step in (State.DELIVERING, State.DELIVERED):
        await store.transition(rec.id, step, actor="d", reason="r")
    assert await store.has_written_to("Taro@Example.co.jp", "PARTNER.example")
    assert await store.known_domains("taro@example.co.jp") == {"partner.example", "other.example"}
    assert await store.known_domains("someone@else.example") == frozenset()


# -- files and links -----------------------------------------------------------------------------


async def test_a_file_is_created_stored_with_its_key(harness: Harness, store: Store) -> None:
    rec = await _create(store, ItemKind.FILE, b"\x00sealed\xff" * 1000, file_key="k" * 43, meta={"n": 1})
    assert (rec.kind, rec.state, rec.has_raw, rec.size) == (ItemKind.FILE, State.STORED, True, 8_000)
    assert rec.expires_at == T0 + timedelta(days=7)
    assert "k" * 43 not in repr(rec), "the key never shows in a log line"
    await store.close()
    again = await harness.new()
    assert await again.get(rec.id) == rec
    assert (await again.get(rec.id)).file_key == "k" * 43  # type: ignore[union-attr]
    assert await again.load_raw(rec.id) == b"\x00sealed\xff" * 1000
    [event] = await again.audit_events(msg_id=rec.id)
    assert (event.action, event.actor, event.to_state, event.reason) == (
        "create",
        "delivery",
        "stored",
        "created",
    )
    assert "k" * 43 not in str(event)


async def test_a_link_has_no_body_and_is_due_at_its_expiry(harness: Harness, store: Store) -> None:
    link = await _create(store, ItemKind.LINK, None, expires_at=T0 + timedelta(hours=1))
    assert (link.state, link.has_raw, link.size) == (State.OPEN, False, 0)
    with pytest.raises(NotFound):
        await store.load_raw(link.id)
    assert await store.due(T0) == []
    harness.clock.advance(3600)
    assert [r.id for r in await store.due(harness.clock.now)] == [link.id]
    assert (await verify_store(store)).ok


async def test_create_refuses_mail_and_naive_times(store: Store) -> None:
    with pytest.raises(ValueError, match="accepted, not created"):
        await _create(store, ItemKind.MAIL)
    with pytest.raises(TypeError):
        await _create(store, ItemKind.LINK, None, expires_at=datetime(2026, 5, 1))


def _count(limit: int) -> Rule:
    def rule(rec: MessageRecord, now: datetime) -> Amendment | None:
        used = int(rec.meta.get("used", 0))
        if used >= limit:
            return None
        full = used + 1 >= limit
        return Amendment(
            "use",
            f"use {used + 1}",
            changes={"meta": {**rec.meta, "used": used + 1}},
            to=State.EXHAUSTED if full else None,
            extra={"n": used + 1},
            outcome="last" if full else "ok",
        )

    return rule


async def test_amend_counts_exactly_across_instances(harness: Harness, store: Store) -> None:
    other = await harness.new()
    link = await _create(store, ItemKind.LINK, None)
    results = await asyncio.gather(
        *[(store if i % 2 else other).amend(link.id, _count(5), actor="recipient") for i in range(12)]
    )
    done = [change for _, change in results if change is not None]
    assert sorted(c.outcome for c in done) == ["last", "ok", "ok", "ok", "ok"]
    after = await store.get(link.id)
    assert after is not None
    assert (after.state, after.meta["used"]) == (State.EXHAUSTED, 5)
    events = await store.audit_events(msg_id=link.id)
    assert [(e.action, e.from_state, e.to_state) for e in events][-2:] == [
        ("use", "open", "open"),
        ("use", "open", "exhausted"),
    ]
    assert sorted(e.extra["n"] for e in events if e.action == "use") == [1, 2, 3, 4, 5]
    assert (await verify_store(store)).ok


async def test_amend_that_decides_nothing_writes_nothing(store: Store) -> None:
    link = await _create(store, ItemKind.LINK, None)
    before = await store.audit_events(msg_id=link.id)
    rec, change = await store.amend(link.id, lambda rec, now: None, actor="x")
    assert (rec, change) == (link, None)
    assert await store.audit_events(msg_id=link.id) == before
    with pytest.raises(NotFound):
        await store.amend("NOPE", lambda rec, now: None, actor="x")


async def test_amend_keeps_to_the_life_cycle_and_can_drop_a_body(harness: Harness, store: Store) -> None:
    link = await _create(store, ItemKind.LINK, None)
    with pytest.raises(InvalidTransition):
        await store.amend(link.id, lambda rec, now: Amendment("x", "r", to=State.DELIVERED), actor="x")
    with pytest.raises(TypeError):
        await store.amend(link.id, lambda rec, now: Amendment("x", "r", changes={"state": "x"}), actor="x")
    sealed = await _create(store, ItemKind.FILE)
    harness.clock.advance(60)
    gone, _ = await store.amend(
        sealed.id, lambda rec, now: Amendment("delete", "no open link", to=State.DELETED), actor="scheduler"
    )
    assert (gone.state, gone.has_raw, gone.updated_at) == (State.DELETED, False, harness.clock.now)
    with pytest.raises(NotFound):
        await store.load_raw(sealed.id)
    assert (await verify_store(store)).ok


# -- audit ---------------------------------------------------------------------------------------


async def test_note_and_the_chain_verifies(store: Store) -> None:
    rec = await _message_in(store, State.HELD)
    ev = await store.note(rec.id, action="notify", actor="notify", reason="sender told", extra={"to": "taro"})
    assert (ev.from_state, ev.to_state, ev.action) == ("held", "held", "notify")
    await store.transition(rec.id, State.CANCELLED, actor="sender:taro@example.co.jp", reason="cancel")
    events = await store.audit_events()
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(events))
    result = await verify_store(store)
    assert result.ok
    assert result.checked == len(events)
    assert result.head == events[-1].hash


async def test_audit_chain_spans_instances(harness: Harness, store: Store) -> None:
    other = await harness.new()
    recs = await asyncio.gather(*[_accept(s) for s in (store, other) * 5])
    await asyncio.gather(
        *[
            (store if i % 2 else other).transition(r.id, State.HELD, actor="p", reason="r")
            for i, r in enumerate(recs)
        ]
    )
    result = await verify_store(store)
    assert result.ok
    assert result.checked == 20


async def test_closed_store_refuses_work(store: Store) -> None:
    await store.close()
    with pytest.raises(StoreError):
        await _accept(store)


async def test_concurrent_writes_fail_alone(store: Store) -> None:
    """Writes issued together (one commit for the embedded backend) succeed or fail each alone."""
    held = [await _message_in(store, State.HELD) for _ in range(6)]
    moves = [
        store.transition(r.id, State.CANCELLED if i % 2 else State.DELIVERED, actor="t", reason=f"move {i}")
        for i, r in enumerate(held)
    ]
    results = await asyncio.gather(*moves, _accept(store, actor="notify"), return_exceptions=True)
    for i, result in enumerate(results[:6]):
        if i % 2:
            assert isinstance(result, MessageRecord)
            assert result.state is State.CANCELLED
        else:
            assert isinstance(result, InvalidTransition)
            assert (await store.get(held[i].id)) == held[i]
    fresh = results[6]
    assert isinstance(fresh, MessageRecord)
    assert (await store.audit_events(msg_id=fresh.id))[0].actor == "notify"
    v = await verify_store(store)
    assert v.ok, v


# -- passes: an approved upload lets the same upload through, as often as granted ------------


async def _pass(
    harness: Harness, store: Store, *, uses: int = 1, valid: float = 3600, body: bytes = b"a,b\r\n1,2\r\n"
) -> MessageRecord:
    rec = await store.accept(
        body,
        kind=ItemKind.UPLOAD,
        sender="taro@example.co.jp",
        recipients=(),
        subject=FACTS.filename,
        meta={"upload": FACTS.to_meta()},
        actor="proxy",
    )
    await store.transition(rec.id, State.PENDING_APPROVAL, actor="policy", reason="approval")
    return await store.transition(
        rec.id,
        State.APPROVED,
        actor="approver:boss@example.co.jp",
        reason="approved",
        expires_at=harness.clock.now + timedelta(seconds=valid),
        meta={**rec.meta, "pass": {"uses": uses}},
    )


def _key(rec: MessageRecord, **over: Any) -> dict[str, Any]:
    key: dict[str, Any] = {"user": rec.sender, "sha256": rec.sha256, "service": "box", "tenant": "4711"}
    key.update(over)
    return key


async def test_a_pass_is_found_for_the_same_upload_only(harness: Harness, store: Store) -> None:
    granted = await _pass(harness, store)
    await _message_in(store, State.QUARANTINED, ItemKind.UPLOAD)  # not approved: no pass
    assert [r.id for r in await store.passes(**_key(granted))] == [granted.id]
    assert [r.id for r in await store.passes(**_key(granted, user="TARO@example.co.jp"))] == [granted.id]
    for other in (
        {"user": "jiro@example.co.jp"},
        {"sha256": "0" * 64},
        {"service": "dropbox"},
        {"tenant": "4712"},
        {"tenant": None},
    ):
        assert await store.passes(**_key(granted, **other)) == [], other
    harness.clock.advance(3600)
    assert await store.passes(**_key(granted)) == [], "validity over"


async def test_using_a_pass_counts_and_expires_it(harness: Harness, store: Store) -> None:
    granted = await _pass(harness, store, uses=2)
    first = await store.use_pass(granted.id, actor="proxy", for_item="U1", **_key(granted))
    assert first is not None and (first.state, first.attempts) == (State.APPROVED, 1)
    assert await store.use_pass(granted.id, actor="proxy", **_key(granted, service="dropbox")) is None
    second = await store.use_pass(granted.id, actor="proxy", for_item="U2", **_key(granted))
    assert second is not None and (second.state, second.attempts) == (State.EXPIRED, 2)
    assert await store.use_pass(granted.id, actor="proxy", **_key(granted)) is None
    assert await store.use_pass("NO-SUCH-ID", actor="proxy", **_key(granted)) is None
    used = [e for e in await store.audit_events(msg_id=granted.id) if e.action == "pass_used"]
    assert [(e.from_state, e.to_state, e.extra) for e in used] == [
        ("approved", "approved", {"for": "U1", "use": 1, "uses": 2, "facts": {"attempts": ANY}}),
        ("approved", "expired", {"for": "U2", "use": 2, "uses": 2, "facts": {"attempts": ANY}}),
    ]
    assert await store.passes(**_key(granted)) == []


async def test_a_pass_past_its_time_is_not_used(harness: Harness, store: Store) -> None:
    granted = await _pass(harness, store, valid=60)
    harness.clock.advance(60)
    assert await store.use_pass(granted.id, actor="proxy", **_key(granted)) is None
    assert (await store.get(granted.id)) == granted


async def test_concurrent_uses_never_exceed_the_uses_granted(harness: Harness, store: Store) -> None:
    other = await harness.new()
    granted = await _pass(harness, store, uses=3)
    results = await asyncio.gather(
        *((store if i % 2 else other).use_pass(granted.id, actor="proxy", **_key(granted)) for i in range(20))
    )
    assert len([r for r in results if r is not None]) == 3
    final = await store.get(granted.id)
    assert final is not None and (final.state, final.attempts) == (State.EXPIRED, 3)
    v = await verify_store(store)
    assert v.ok, v


async def test_stats_count_items_per_state_and_the_audit_chain(store: Store) -> None:
    empty = await store.stats()
    assert dict(empty.states) == {} and empty.audit_length == 0
    held = await _accept(store)
    await store.transition(held.id, State.HELD, actor="policy", reason="hold")
    await _accept(store)
    other = await _accept(store)
    await store.transition(other.id, State.QUARANTINED, actor="policy", reason="review")
    stats = await store.stats()
    assert dict(stats.states) == {State.HELD: 1, State.RECEIVED: 1, State.QUARANTINED: 1}
    assert stats.audit_length == len(await store.audit_events()) == 5
