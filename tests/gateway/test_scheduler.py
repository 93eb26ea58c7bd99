"""The scheduler: approval deadlines (reject or escalate) and work released by others."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from gateway.store import State
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
