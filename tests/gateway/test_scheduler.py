"""The scheduler: approval deadlines (reject or escalate) and work released by others."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.store import ItemKind, State
from tests.gateway.conftest import Gateway, Sink, eventually, make_mail, queue_id, send

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
