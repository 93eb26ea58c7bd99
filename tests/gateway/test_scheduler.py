"""The scheduler: approval deadlines (reject or escalate), work released by others, and a walk
over every state that shows each has a way out, on both store backends."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis

from gateway import actions
from gateway.actions import Role
from gateway.config import load_config
from gateway.store import LIFECYCLE, ItemKind, MessageRecord, State, Store
from gateway.store.base import TERMINAL
from tests.gateway.conftest import (
    Gateway,
    Sink,
    eventually,
    make_mail,
    queue_id,
    send,
    start_gateway,
    write_config,
)
from tests.gateway.redis_server import RedisServer

SENDER = "taro@example.co.jp"


async def test_approval_timeout_rejects_and_tells_sender(gateway: Gateway, sink: Sink) -> None:
    code, reply = await send(gateway.port, SENDER, ["a@approval.test"], make_mail(to=["a@approval.test"]))
    assert code == 250
    msg_id = queue_id(reply)
    gateway.scheduler.clock = lambda: datetime.now(UTC) + timedelta(hours=2)
    await gateway.scheduler.tick()
    rec = await gateway.store.get(msg_id)
    assert rec is not None and rec.state is State.REJECTED

    def told() -> bool:
        return any("送信されませんでした" in str(m.message["Subject"]) for m in sink.notifications(SENDER))

    await sink.wait_for(told)
    assert not sink.user_mail("a@approval.test")


async def test_escalation_quarantines_and_tells_escalation_contacts(gateway: Gateway, sink: Sink) -> None:
    code, reply = await send(gateway.port, SENDER, ["c@approval.test"], make_mail(to=["c@approval.test"]))
    assert code == 250
    rec = await gateway.store.get(queue_id(reply))
    assert rec is not None and rec.state is State.PENDING_APPROVAL
    # The policy's choice on timeout is read from the recorded decision.
    decision = {**rec.decision, "on_timeout": "escalate", "escalate_to": ["sec2@example.co.jp"]}
    await gateway.relay.approval_timeout(replace(rec, decision=decision))
    final = await gateway.store.get(rec.id)
    assert final is not None and final.state is State.QUARANTINED
    await sink.wait_for(lambda: bool(sink.notifications("sec2@example.co.jp")))
    assert not sink.user_mail("c@approval.test")


async def test_release_by_someone_else_is_delivered(gateway: Gateway, sink: Sink) -> None:
    code, reply = await send(gateway.port, SENDER, ["q@quarantine.test"], make_mail(to=["q@quarantine.test"]))
    assert code == 250
    msg_id = queue_id(reply)
    # What the UI or `sekimori queue release` does: into delivering without an owner.
    await gateway.store.transition(msg_id, State.DELIVERING, actor="admin:sec", reason="reviewed, fine")

    async def delivered() -> bool:
        rec = await gateway.store.get(msg_id)
        return rec is not None and rec.state is State.DELIVERED

    await eventually(delivered)
    assert sink.user_mail("q@quarantine.test")


async def test_upload_timers_end_uploads_and_deliver_nothing(gateway: Gateway, sink: Sink) -> None:
    store = gateway.store
    now = datetime.now(UTC)

    async def upload(*path: State, **changes: Any) -> str:
        rec = await store.accept(
            b"a,b\r\n", kind=ItemKind.UPLOAD, sender=SENDER, recipients=(), subject="a.csv", actor="proxy"
        )
        for i, step in enumerate(path):
            last = i == len(path) - 1
            await store.transition(rec.id, step, actor="policy", reason="test", **(changes if last else {}))
        return rec.id

    orphan = await upload()  # the proxy that held the request is gone (no lease)
    approved = await upload(State.PENDING_APPROVAL, State.APPROVED, expires_at=now)
    waiting = await upload(State.PENDING_APPROVAL, expires_at=now, decision={"on_timeout": "escalate"})
    coached = await upload(State.HELD, release_at=now)
    later = await upload(State.PENDING_APPROVAL, State.APPROVED, expires_at=now + timedelta(days=1))
    gateway.scheduler.clock = lambda: now + timedelta(seconds=1)
    await gateway.scheduler.tick()

    async def state(msg_id: str) -> State:
        rec = await store.get(msg_id)
        assert rec is not None
        return rec.state

    assert await state(orphan) is State.REFUSED
    assert await state(approved) is State.EXPIRED
    assert await state(waiting) is State.QUARANTINED
    assert await state(coached) is State.EXPIRED
    assert await state(later) is State.APPROVED
    assert await gateway.scheduler.tick() == 0, "each timer fires once"
    assert not sink.messages


async def test_retention_removes_finished_bodies_on_schedule_and_audits_it(
    gateway: Gateway, sink: Sink
) -> None:
    code, reply = await send(
        gateway.port, SENDER, ["hanako@example.co.jp"], make_mail(to=["hanako@example.co.jp"])
    )
    assert code == 250
    msg_id = queue_id(reply)

    async def delivered() -> bool:
        rec = await gateway.store.get(msg_id)
        return rec is not None and rec.state is State.DELIVERED

    await eventually(delivered)
    code, reply = await send(gateway.port, SENDER, ["q@quarantine.test"], make_mail(to=["q@quarantine.test"]))
    waiting = queue_id(reply)
    assert gateway.scheduler.retention == 30 * 86400  # the default store.retention
    # Within the retention period nothing goes.
    gateway.scheduler.clock = lambda: datetime.now(UTC) + timedelta(days=29)
    gateway.scheduler._next_purge = None
    await gateway.scheduler.tick()
    rec = await gateway.store.get(msg_id)
    assert rec is not None and rec.has_raw
    # After it, the finished message's body goes (the record and its trail stay); a message
    # still waiting keeps its body.
    later = datetime.now(UTC) + timedelta(days=31)
    gateway.scheduler.clock = lambda: later
    gateway.scheduler._next_purge = None
    await gateway.scheduler.tick()
    rec = await gateway.store.get(msg_id)
    assert rec is not None and not rec.has_raw and rec.state is State.DELIVERED
    events = await gateway.store.audit_events(msg_id=msg_id)
    assert (events[-1].action, events[-1].actor, events[-1].reason) == (
        "purge",
        "operator:retention",
        "retention: finished more than 30d ago",
    )
    kept = await gateway.store.get(waiting)
    assert kept is not None and kept.has_raw


# -- every state has a way out: the walk over real items on both backends -------------------------

INTERNAL = "hanako@example.co.jp"


@dataclass
class Clock:
    """One clock for the store, the relay and the scheduler, moved by the test."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Walk:
    gateway: Gateway
    clock: Clock


@pytest.fixture(params=["sqlite", "redis"])
async def walk(
    request: pytest.FixtureRequest, tmp_path: Path, sink: Sink, redis_server: RedisServer
) -> AsyncIterator[Walk]:
    cfg = write_config(tmp_path, upstream_port=sink.port)
    url = redis_server.url.rsplit("/", 1)[0] + "/5"
    if request.param == "redis":
        with redis.Redis.from_url(url) as client:
            client.flushdb()
        text = cfg.read_text(encoding="utf-8")
        cfg.write_text(text.replace("store: {path:", f"store: {{url: '{url}', path:"), encoding="utf-8")
    clock = Clock(datetime.now(UTC))
    gw = await start_gateway(load_config(cfg), clock=clock)
    # Ticks are taken by the test, with the clock it moves; the running scheduler would race it.
    await gw.scheduler.stop()
    try:
        yield Walk(gw, clock)
    finally:
        await gw.stop()
        if request.param == "redis":
            with redis.Redis.from_url(url) as client:
                client.flushdb()


#: How an item is put into each state that has a way out, the way the gateway puts it there: a
#: step along the life cycle from the item's first state, with the fields that step writes.
Seed = Callable[[Store, datetime], Awaitable[MessageRecord]]


async def _mail(store: Store, *, owner: str | None = None) -> MessageRecord:
    raw = make_mail(to=[INTERNAL], subject="walk")
    return await store.accept(raw, sender=SENDER, recipients=[INTERNAL], subject="walk", meta={}, owner=owner)


async def _upload(store: Store, *, owner: str | None = None) -> MessageRecord:
    return await store.accept(
        b"a,b\r\n",
        kind=ItemKind.UPLOAD,
        sender=SENDER,
        recipients=(),
        subject="a.csv",
        owner=owner,
        actor="proxy",
    )


async def _step(store: Store, rec: MessageRecord, to: State, **changes: Any) -> MessageRecord:
    return await store.transition(rec.id, to, actor="policy", reason="walk", expect=rec.state, **changes)


def _seeds() -> dict[tuple[ItemKind, State], list[tuple[str, Seed]]]:
    mail, upload = ItemKind.MAIL, ItemKind.UPLOAD
    dead = "dead-instance"

    async def mail_received(store: Store, now: datetime) -> MessageRecord:
        # Accepted by an instance that died before it decided (its lease lapses).
        return await _mail(store, owner=dead)

    async def mail_delivering_released(store: Store, now: datetime) -> MessageRecord:
        # Released by a person (UI, queue CLI): delivering, no owner, 0 attempts.
        rec = await _step(store, await _mail(store), State.QUARANTINED)
        return await store.transition(rec.id, State.DELIVERING, actor="admin:sec", reason="reviewed")

    async def mail_delivering_orphaned(store: Store, now: datetime) -> MessageRecord:
        # Handed to a delivery worker of an instance that died before its first attempt.
        rec = await _mail(store, owner=dead)
        return await store.transition(
            rec.id, State.DELIVERING, actor="policy", reason="deliver", owner=dead, expect=State.RECEIVED
        )

    async def mail_deferred(store: Store, now: datetime) -> MessageRecord:
        rec = await mail_delivering_orphaned(store, now)
        return await store.transition(
            rec.id,
            State.DEFERRED,
            actor="delivery",
            reason="upstream: 451",
            expect=State.DELIVERING,
            attempts=1,
            next_attempt_at=now + timedelta(minutes=1),
            last_error="451 try later",
        )

    async def mail_held(store: Store, now: datetime) -> MessageRecord:
        return await _step(store, await _mail(store), State.HELD, release_at=now + timedelta(minutes=10))

    async def mail_pending(store: Store, now: datetime) -> MessageRecord:
        return await _step(
            store,
            await _mail(store),
            State.PENDING_APPROVAL,
            approvers=("boss@example.co.jp",),
            expires_at=now + timedelta(hours=1),
            decision={"action": "approval", "on_timeout": "reject"},
        )

    async def mail_quarantined(store: Store, now: datetime) -> MessageRecord:
        return await _step(store, await _mail(store), State.QUARANTINED)

    async def upload_received(store: Store, now: datetime) -> MessageRecord:
        # The proxy holding the request stopped before it decided.
        return await _upload(store, owner=dead)

    async def upload_held(store: Store, now: datetime) -> MessageRecord:
        return await _step(store, await _upload(store), State.HELD, release_at=now + timedelta(hours=1))

    async def upload_pending(store: Store, now: datetime) -> MessageRecord:
        return await _step(
            store,
            await _upload(store),
            State.PENDING_APPROVAL,
            approvers=("boss@example.co.jp",),
            expires_at=now + timedelta(hours=1),
            decision={"action": "approval", "on_timeout": "escalate"},
        )

    async def upload_quarantined(store: Store, now: datetime) -> MessageRecord:
        return await _step(store, await _upload(store), State.QUARANTINED)

    async def upload_approved(store: Store, now: datetime) -> MessageRecord:
        rec = await _step(store, await _upload(store), State.QUARANTINED)
        return await store.transition(
            rec.id,
            State.APPROVED,
            actor="admin:sec",
            reason="released",
            meta={"pass": {"uses": 1}},
            expires_at=now + timedelta(hours=24),
        )

    async def file_stored(store: Store, now: datetime) -> MessageRecord:
        return await store.create(
            ItemKind.FILE,
            b"kept attachment",
            sender=SENDER,
            recipients=(),
            subject="a.pdf",
            meta={"file": {"mail": "gone"}},
            expires_at=now + timedelta(days=7),
            actor="delivery",
            reason="kept for links",
        )

    async def link_open(store: Store, now: datetime) -> MessageRecord:
        return await store.create(
            ItemKind.LINK,
            None,
            sender=SENDER,
            recipients=["a@partner.example"],
            subject="walk",
            meta={
                "link": {"mail": "gone", "recipient": "a@partner.example", "max_downloads": 3, "downloads": 0}
            },
            expires_at=now + timedelta(days=7),
            actor="delivery",
            reason="created",
        )

    return {
        (mail, State.RECEIVED): [("undecided, its instance gone", mail_received)],
        (mail, State.DELIVERING): [
            ("released by a person, 0 attempts", mail_delivering_released),
            ("its worker gone before the first attempt", mail_delivering_orphaned),
        ],
        (mail, State.DEFERRED): [("after a 451", mail_deferred)],
        (mail, State.HELD): [("grace period", mail_held)],
        (mail, State.PENDING_APPROVAL): [("waiting for the approver", mail_pending)],
        (mail, State.QUARANTINED): [("waiting for review", mail_quarantined)],
        (upload, State.RECEIVED): [("undecided, its proxy gone", upload_received)],
        (upload, State.HELD): [("coaching offer", upload_held)],
        (upload, State.PENDING_APPROVAL): [("waiting for the approver", upload_pending)],
        (upload, State.QUARANTINED): [("waiting for review", upload_quarantined)],
        (upload, State.APPROVED): [("a pass", upload_approved)],
        (ItemKind.FILE, State.STORED): [("kept for download links", file_stored)],
        (ItemKind.LINK, State.OPEN): [("a download link", link_open)],
    }


def _decided_by_a_person(kind: ItemKind, state: State) -> bool:
    """A person (not the sender alone) has an action in the table that moves the item on."""
    return any(
        row.kind is kind and row.state is state and row.to is not None and set(row.roles) - {Role.SENDER}
        for row in actions.TABLE
    )


async def test_every_state_has_a_worker_a_due_time_or_an_end(walk: Walk, sink: Sink) -> None:
    """Walk every state of every kind of item that has a way out, with real items on the real
    store: each is claimed by the scheduler once its lease lapses or its time comes and ends in
    a terminal state, or waits for a person who has an action that ends it. A state added to a
    life cycle without a case here fails the test."""
    gw = walk.gateway
    store = gw.store
    now = walk.clock.now
    seeds = _seeds()
    open_states = {(k, s) for k, cycle in LIFECYCLE.items() for s, nxt in cycle.items() if nxt}
    assert set(seeds) == open_states, "a state with a way out has no case in this walk"
    items: dict[str, tuple[ItemKind, State, str]] = {}
    for (kind, state), cases in seeds.items():
        for what, seed in cases:
            rec = await seed(store, now)
            assert (rec.kind, rec.state) == (kind, state), what
            items[rec.id] = (kind, state, what)
    # A week and a day later every lease has lapsed and every timer has come.
    walk.clock.now = now + timedelta(days=8)
    waiting: dict[str, State] = {}

    async def settled() -> bool:
        await gw.scheduler.tick()
        waiting.clear()
        for msg_id, (kind, _, _) in items.items():
            rec = await store.get(msg_id)
            assert rec is not None
            if rec.state not in TERMINAL and not (
                rec.state is State.QUARANTINED and _decided_by_a_person(kind, rec.state)
            ):
                waiting[msg_id] = rec.state
        return not waiting

    try:
        await eventually(settled)
    except AssertionError:
        stuck = {items[i][2]: f"{items[i][0]}/{items[i][1]} now {s}" for i, s in waiting.items()}
        raise AssertionError(f"left without a way out: {stuck}") from None
    finals: dict[str, State] = {}
    for msg_id, (_, state, what) in items.items():
        found = await store.get(msg_id)
        assert found is not None
        finals[msg_id] = found.state
        if state is State.QUARANTINED:
            assert found.state is State.QUARANTINED, f"{what}: nothing decides for the reviewer"
    # The mail the walk let through was delivered, each exactly once; the rest ended as decided.
    mail = sorted(finals[i].value for i, (k, _, _) in items.items() if k is ItemKind.MAIL)
    assert mail == sorted(["delivered"] * 5 + ["rejected", "quarantined"]), mail
    assert len(sink.user_mail(INTERNAL)) == 5
