"""Each policy action end to end over real sockets: SMTP client → gateway → aiosmtpd sink."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway import actions
from gateway.actions import Actor, Role
from gateway.config import load_config
from gateway.store import State
from gateway.tokens import LOOP_HEADER, VERDICT_HEADER
from tests.fuzz import shapes
from tests.gateway.conftest import Gateway, Sink, make_mail, queue_id, send, start_gateway, write_config

SENDER = "taro@example.co.jp"


async def wait_state(gw: Gateway, msg_id: str, state: State, within: float = 20.0) -> None:
    async def _loop() -> None:
        while True:
            rec = await gw.store.get(msg_id)
            if rec is not None and rec.state is state:
                return
            await asyncio.sleep(0.05)

    await asyncio.wait_for(_loop(), within)


async def test_deliver_keeps_content_and_adds_headers(gateway: Gateway, sink: Sink) -> None:
    data = make_mail(to=["hanako@example.co.jp"], body="社内連絡です。\n")
    code, reply = await send(gateway.port, SENDER, ["hanako@example.co.jp"], data)
    assert code == 250 and "queued as" in reply
    await sink.wait_for(lambda: bool(sink.to("hanako@example.co.jp")))
    got = sink.to("hanako@example.co.jp")[0]
    assert got.mail_from == SENDER
    assert got.data.endswith(data), "the original message follows the added headers unchanged"
    added = got.data[: len(got.data) - len(data)]
    names = [line.split(b":")[0] for line in added.split(b"\r\n") if line and line[:1] not in b" \t"]
    assert names == [b"Received", VERDICT_HEADER.encode(), LOOP_HEADER.encode()]
    assert b"deliver" in added
    await wait_state(gateway, queue_id(reply), State.DELIVERED)


async def test_bcc_rewrites_headers_but_every_recipient_receives(gateway: Gateway, sink: Sink) -> None:
    rcpts = ["hanako@example.co.jp", "a@one.test", "b@two.test", "c@three.test"]
    data = make_mail(to=rcpts[:3], cc=rcpts[3:])
    code, _ = await send(gateway.port, SENDER, rcpts, data)
    assert code == 250
    await sink.wait_for(lambda: bool(sink.user_mail("a@one.test")))
    got = sink.user_mail("a@one.test")[0]
    assert sorted(got.rcpt_tos) == sorted(rcpts)
    msg = got.message
    assert msg["To"] == "hanako@example.co.jp"
    assert msg["Cc"] is None
    assert "bcc" in msg[VERDICT_HEADER]
    await sink.wait_for(lambda: bool(sink.notifications(SENDER)))
    notice = sink.notifications(SENDER)[0].text
    assert "BCC" in notice and "c@three.test" in notice


async def test_hold_is_released_at_its_time(gateway: Gateway, sink: Sink) -> None:
    data = make_mail(to=["x@hold.test"])
    code, reply = await send(gateway.port, SENDER, ["x@hold.test"], data)
    assert code == 250
    msg_id = queue_id(reply)
    rec = await gateway.store.get(msg_id)
    assert rec is not None and rec.state is State.HELD and rec.release_at is not None
    await sink.wait_for(lambda: bool(sink.notifications(SENDER)))
    notice = sink.notifications(SENDER)[0].text
    assert "x@hold.test" in notice and "【社外】" in notice and "[external]" in notice
    assert f"{gateway.config.ui.base_url}/a/" in notice
    assert not sink.user_mail("x@hold.test")
    await sink.wait_for(lambda: bool(sink.user_mail("x@hold.test")))
    delivered = await gateway.store.get(msg_id)
    assert delivered is not None
    await wait_state(gateway, msg_id, State.DELIVERED)
    assert sink.user_mail("x@hold.test")[0].data.endswith(data)


async def test_cancelled_hold_is_never_delivered(gateway: Gateway, sink: Sink) -> None:
    code, reply = await send(gateway.port, SENDER, ["y@hold.test"], make_mail(to=["y@hold.test"]))
    assert code == 250
    msg_id = queue_id(reply)
    await gateway.store.transition(msg_id, State.CANCELLED, actor=f"sender:{SENDER}", reason="test cancel")
    # However late the scheduler looks (an hour past the 2 s grace), the message is not due and
    # nothing hands it to delivery: no sleeping until "surely it would have gone by now".
    later = datetime.now(UTC) + timedelta(hours=1)
    assert msg_id not in {r.id for r in await gateway.store.due(later)}
    gateway.scheduler.clock = lambda: later
    await gateway.scheduler.tick()
    assert not gateway.relay.delivery.busy(msg_id)
    rec = await gateway.store.get(msg_id)
    assert rec is not None and rec.state is State.CANCELLED
    moves = [e.to_state for e in await gateway.store.audit_events(msg_id=msg_id)]
    assert State.DELIVERING.value not in moves
    assert not sink.user_mail("y@hold.test")


async def test_block_answers_550_and_notifies_sender(gateway: Gateway, sink: Sink) -> None:
    body = "お客様のマイナンバー: 1234 5678 9018 です。\n"
    code, reply = await send(
        gateway.port, SENDER, ["z@partner.test"], make_mail(to=["z@partner.test"], body=body)
    )
    assert code == 550
    assert reply.startswith("5.7.1") and "ref " in reply and reply.isascii()
    await sink.wait_for(
        lambda: bool(sink.notifications(SENDER)) and bool(sink.notifications("security@example.co.jp"))
    )
    notice = sink.notifications(SENDER)[0].message
    text = sink.notifications(SENDER)[0].text
    assert "送信を停止しました" in notice["Subject"] and "blocked" in notice["Subject"]
    assert "1234 5678 9018" not in text, "values in notifications are redacted"
    assert not sink.user_mail("z@partner.test")
    rec = (await gateway.store.list_messages(states=[State.REFUSED]))[0]
    assert rec.has_raw is False


async def test_quarantine_and_approval_wait(gateway: Gateway, sink: Sink) -> None:
    code, reply = await send(gateway.port, SENDER, ["q@quarantine.test"], make_mail(to=["q@quarantine.test"]))
    assert code == 250
    q = await gateway.store.get(queue_id(reply))
    assert q is not None and q.state is State.QUARANTINED
    code, reply = await send(gateway.port, SENDER, ["a@approval.test"], make_mail(to=["a@approval.test"]))
    assert code == 250
    a = await gateway.store.get(queue_id(reply))
    assert a is not None and a.state is State.PENDING_APPROVAL
    assert a.approvers == ("boss@example.co.jp",)
    await sink.wait_for(lambda: bool(sink.notifications("boss@example.co.jp")))
    request = sink.notifications("boss@example.co.jp")[0].text
    assert "/a/" in request and "承認" in request
    assert not sink.user_mail("q@quarantine.test") and not sink.user_mail("a@approval.test")


async def test_already_inspected_mail_is_not_inspected_again(gateway: Gateway, sink: Sink) -> None:
    code, _ = await send(
        gateway.port, SENDER, ["hanako@example.co.jp"], make_mail(to=["hanako@example.co.jp"])
    )
    assert code == 250
    await sink.wait_for(lambda: bool(sink.to("hanako@example.co.jp")))
    passed = sink.to("hanako@example.co.jp")[0].data
    # The same mail comes back (e.g. a forwarding loop) to a blocked domain: it is not re-inspected.
    code, reply = await send(gateway.port, SENDER, ["w@block.test"], passed)
    assert code == 250
    rec = await gateway.store.get(queue_id(reply))
    assert rec is not None and rec.decision.get("skipped") == "loop"
    # A forged copy of the header on other content does not pass.
    forged = passed.replace(b"\r\n\r\n", b"\r\n\r\nchanged ", 1)
    code, _ = await send(gateway.port, SENDER, ["w@block.test"], forged)
    assert code == 550


async def test_malformed_mime_is_relayed_unchanged(gateway: Gateway, sink: Sink) -> None:
    data = (
        b"From: taro@example.co.jp\r\nTo: hanako@example.co.jp\r\nSubject: broken\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="never-closed"\r\n\r\n--never-closed\r\n'
        b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        b"!!!not base64!!!\r\n--wrong-boundary\r\n\xff\xfe garbage\r\n"
    )
    code, reply = await send(gateway.port, SENDER, ["hanako@example.co.jp"], data)
    assert code == 250
    await sink.wait_for(lambda: bool(sink.to("hanako@example.co.jp")))
    assert sink.to("hanako@example.co.jp")[0].data.endswith(data)
    await wait_state(gateway, queue_id(reply), State.DELIVERED)


async def test_tag_adds_policy_headers(gateway: Gateway, sink: Sink) -> None:
    data = make_mail(to=["t@tag.test"])
    code, _ = await send(gateway.port, SENDER, ["t@tag.test"], data)
    assert code == 250
    await sink.wait_for(lambda: bool(sink.to("t@tag.test")))
    got = sink.to("t@tag.test")[0]
    assert got.data.endswith(data)
    assert got.message["X-Classification"] == "社外秘"
    assert got.message[VERDICT_HEADER].startswith("tag")


async def test_stopping_lets_a_message_being_received_get_its_decision(gateway: Gateway) -> None:
    """A hand-off still being decided when the relay stops finishes first: it is spooled and
    decided (here: queued for delivery), not left half-way."""
    data = make_mail(to=["hanako@example.co.jp"], body="停止中に受け付けたメールです。\n")
    task = asyncio.create_task(
        gateway.relay.receive(data, SENDER, ["hanako@example.co.jp"], {"client_ip": "127.0.0.1"})
    )
    await asyncio.sleep(0)  # the hand-off starts and waits on the store's thread
    assert not task.done()
    await gateway.relay.stop()
    assert task.done()
    reply = task.result()
    assert reply.code == 250
    rec = await gateway.store.get(queue_id(str(reply)))
    assert rec is not None and rec.state is State.DELIVERING


async def test_a_message_arriving_while_stopping_is_deferred_not_spooled(
    gateway: Gateway, sink: Sink
) -> None:
    """Once the relay stops, sessions still open get 421 4.3.2: the client keeps the message
    and sends it again later; nothing half-handled is left in the store."""
    await gateway.relay.stop()
    data = make_mail(to=["hanako@example.co.jp"], body="停止中です。\n")
    code, reply = await send(gateway.port, SENDER, ["hanako@example.co.jp"], data)
    assert code == 421 and reply.startswith("4.3.2")
    assert await gateway.store.list_messages(limit=10) == []
    assert sink.messages == []


async def _told(gateway: Gateway, msg_id: str) -> list[str]:
    """The reasons of the ``notify`` notes on a message: who was told of what."""
    return [e.reason for e in await gateway.store.audit_events(msg_id=msg_id) if e.action == "notify"]


async def test_bcc_on_a_held_message_is_told_in_the_hold_notice_and_never_as_sent(
    gateway: Gateway, sink: Sink
) -> None:
    rcpts = ["x@hold.test", "a@one.test", "b@two.test"]
    code, reply = await send(gateway.port, SENDER, rcpts, make_mail(to=rcpts))
    assert code == 250
    msg_id = queue_id(reply)
    rec = await gateway.store.get(msg_id)
    assert rec is not None and rec.state is State.HELD
    await sink.wait_for(lambda: bool(sink.notifications(SENDER)))
    (notice,) = sink.notifications(SENDER)
    text = notice.text
    assert "送信時には" in text and "BCC に移します" in text and "a@one.test" in text
    assert "When it is sent" in text
    for claim in ("届いています", "送信しました", "receives the message", "was sent"):
        assert claim not in text
    await actions.perform(
        gateway.store, rec, "cancel", Actor(Role.SENDER, SENDER), now=rec.received_at, via="web",
        notices=gateway.relay.notifier,
    )  # fmt: skip
    await wait_state(gateway, msg_id, State.CANCELLED)
    await asyncio.sleep(0.5)  # the scheduler passes over the queue; nothing more is sent
    assert len(sink.notifications(SENDER)) == 1, "the sender cancelled: no notice, and none says sent"
    assert not any(sink.user_mail(r) for r in rcpts)
    assert await _told(gateway, msg_id) == ["sender told of hold"]


async def test_bcc_on_mail_that_leaves_at_once_says_it_is_being_sent(gateway: Gateway, sink: Sink) -> None:
    rcpts = ["a@one.test", "b@two.test", "c@three.test"]
    code, reply = await send(gateway.port, SENDER, rcpts, make_mail(to=rcpts))
    assert code == 250
    await sink.wait_for(lambda: bool(sink.notifications(SENDER)))
    text = sink.notifications(SENDER)[0].text
    assert "BCC に移して送信します" in text and "届いています" not in text
    assert await _told(gateway, queue_id(reply)) == ["sender told of Bcc conversion"]


async def test_every_decision_that_ends_a_wait_tells_the_sender(gateway: Gateway, sink: Sink) -> None:
    boss, sec = Actor(Role.APPROVER, "boss@example.co.jp"), Actor(Role.ADMIN, "sec@example.co.jp")
    cases = [
        ("a@approval.test", "approve", boss, "承認されました", "sender told of approval"),
        ("b@approval.test", "reject", boss, "送信されませんでした（却下）", "sender told of rejection"),
        ("c@quarantine.test", "release", sec, "送信が許可されました", "sender told of release"),
        ("d@quarantine.test", "delete", sec, "送信されませんでした（削除）", "sender told of deletion"),
    ]
    for to, action, actor, subject, audit in cases:
        code, reply = await send(gateway.port, SENDER, [to], make_mail(to=[to], subject=f"件名 {action}"))
        assert code == 250
        msg_id = queue_id(reply)
        rec = await gateway.store.get(msg_id)
        assert rec is not None
        await actions.perform(
            gateway.store, rec, action, actor, now=rec.received_at, via="web", text="確認しました",
            notices=gateway.relay.notifier,
        )  # fmt: skip

        def told(subject: str = subject, action: str = action) -> list[str]:
            return [
                m.text for m in sink.notifications(SENDER) if subject in m.message["Subject"]
                and f"件名 {action}" in m.message["Subject"]
            ]  # fmt: skip

        await sink.wait_for(lambda told=told: bool(told()))  # type: ignore[misc]
        assert "確認しました" in told()[0]
        assert audit in await _told(gateway, msg_id)
    await sink.wait_for(
        lambda: bool(sink.user_mail("a@approval.test")) and bool(sink.user_mail("c@quarantine.test"))
    )
    assert not sink.user_mail("b@approval.test") and not sink.user_mail("d@quarantine.test")


async def test_the_quarantine_notice_links_to_the_page_for_a_justification(
    gateway: Gateway, sink: Sink
) -> None:
    code, reply = await send(gateway.port, SENDER, ["q@quarantine.test"], make_mail(to=["q@quarantine.test"]))
    assert code == 250
    await sink.wait_for(lambda: bool(sink.notifications(SENDER)))
    notice = sink.notifications(SENDER)[0]
    page = f"{gateway.config.ui.base_url}/messages/{queue_id(reply)}"
    assert f"【送信が必要な理由を入力する】\n{page}" in notice.text
    assert f'href="{page}"' in notice.html


@pytest.mark.parametrize("shape", ["text_digits", "text_emails", "text_numbers"])
async def test_16_mib_of_dense_text_to_outside_is_refused_on_the_my_number_before_it(
    tmp_path: Path, sink: Sink, shape: str
) -> None:
    """Issue 10: with 16 MiB of digits after it the My Number was lost with a MemoryError and the
    mail quarantined as not fully inspected (internally: delivered). Now the worker, limited in
    memory, keeps what it found before the limit: 550, the finding recorded, no memory limit hit."""
    cfg = write_config(tmp_path, upstream_port=sink.port)
    text = cfg.read_text(encoding="utf-8")
    text = text.replace("max_message_size: 200KiB", "max_message_size: 40MiB")
    text = text.replace("scan: {workers: 0, time: 5s}", "scan: {workers: 1, time: 5s, memory: 1GiB}")
    cfg.write_text(text, encoding="utf-8")
    config = load_config(cfg)
    assert config.scan.memory_bytes == 1 << 30 and config.scan.worker_count == 1
    gw = await start_gateway(config)
    try:
        code, reply = await send(gw.port, SENDER, ["tanaka@partner.example"], shapes.message(shape, 16))
        assert code == 550, reply
        refused = await gw.store.list_messages(states=[State.REFUSED])
        assert len(refused) == 1
        parts = refused[0].scan["parts"]
        assert any(f["type"] == "my_number" for p in parts for f in p["findings"])
        stopped = {reason for p in parts for reason in p["truncated"]}
        assert stopped and "memory" not in stopped, stopped  # stopped early, on its budget
        assert refused[0].scan["fully_inspected"] is False
        assert not sink.user_mail("tanaka@partner.example")
    finally:
        await gw.stop()
