"""Delivery to the upstream: deferral with backoff while it is down, DSN on permanent failure
or when the queue lifetime runs out; nothing is lost."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiosmtplib
from aiosmtplib.protocol import normalize_message_line_endings
from hypothesis import given
from hypothesis import strategies as st

from gateway.config import load_config
from gateway.delivery import backoff, strip_own_headers, transaction, wire_size
from gateway.store import State
from tests.gateway.conftest import (
    Gateway,
    Received,
    Sink,
    eventually,
    make_mail,
    queue_id,
    send,
    start_gateway,
    write_config,
)

SENDER = "taro@example.co.jp"


async def states(gw: Gateway, ids: list[str]) -> list[State]:
    out = []
    for i in ids:
        rec = await gw.store.get(i)
        assert rec is not None
        out.append(rec.state)
    return out


async def test_upstream_down_then_back_loses_nothing(gateway: Gateway, sink: Sink) -> None:
    await sink.stop()
    ids = []
    for n in range(10):
        rcpt = f"user{n}@example.co.jp"
        code, reply = await send(gateway.port, SENDER, [rcpt], make_mail(to=[rcpt], subject=f"m{n}"))
        assert code == 250
        ids.append(queue_id(reply))

    async def all_deferred_once() -> None:
        while True:
            recs = [await gateway.store.get(i) for i in ids]
            if all(r is not None and r.attempts >= 1 for r in recs):
                return
            await asyncio.sleep(0.05)

    await asyncio.wait_for(all_deferred_once(), 20)
    assert not sink.messages
    await sink.start()
    await sink.wait_for(lambda: len(sink.messages) >= 10)

    async def all_delivered() -> bool:
        return set(await states(gateway, ids)) == {State.DELIVERED}

    await eventually(all_delivered)
    subjects = sorted(str(m.message["Subject"]) for m in sink.messages)
    assert subjects == sorted(f"m{n}" for n in range(10)), "each message exactly once"


async def accepted(gw: Gateway, rcpts: list[str], data: bytes) -> str:
    """Send a message that must be accepted; its queue id."""
    code, reply = await send(gw.port, SENDER, rcpts, data)
    assert code == 250
    return queue_id(reply)


async def ends_in(gw: Gateway, msg_id: str, state: State) -> None:
    async def there() -> bool:
        return (await states(gw, [msg_id])) == [state]

    await eventually(there)


async def dsn_to_sender(sink: Sink) -> Received:
    await sink.wait_for(lambda: bool(sink.to(SENDER)))
    return sink.to(SENDER)[0]


async def test_permanent_failure_sends_rfc3464_dsn(gateway: Gateway, sink: Sink) -> None:
    sink.fail_with, sink.fail_only_to = "550 5.1.1 No such user", "nobody@example.co.jp"
    data = make_mail(to=["nobody@example.co.jp"], subject="宛先不明テスト")
    msg_id = await accepted(gateway, ["nobody@example.co.jp"], data)
    await ends_in(gateway, msg_id, State.BOUNCED)
    got = await dsn_to_sender(sink)
    assert got.mail_from == "<>", "DSNs use the null reverse path"
    dsn = got.message
    assert dsn.get_content_type() == "multipart/report"
    assert dsn.get_param("report-type") == "delivery-status"
    parts = list(dsn.iter_parts())
    assert [p.get_content_type() for p in parts] == [
        "text/plain",
        "message/delivery-status",
        "text/rfc822-headers",
    ]
    status = parts[1].as_string()
    assert "Final-Recipient: rfc822; nobody@example.co.jp" in status
    assert "Action: failed" in status and "Status: 5.1.1" in status
    assert "配送できません" in parts[0].get_content()
    assert msg_id in str(dsn["Subject"]) or msg_id in parts[0].get_content()


async def test_a_recipient_refused_at_rcpt_bounces_alone(gateway: Gateway, sink: Sink) -> None:
    sink.refuse_rcpt["gone@example.co.jp"] = "550 5.1.1 No such user"
    rcpts = ["kept@example.co.jp", "gone@example.co.jp"]
    msg_id = await accepted(gateway, rcpts, make_mail(to=rcpts, subject="一部不達"))
    await ends_in(gateway, msg_id, State.DELIVERED)
    assert [m.rcpt_tos for m in sink.user_mail("kept@example.co.jp")] == [["kept@example.co.jp"]]
    status = (await dsn_to_sender(sink)).message.as_string()
    assert "Final-Recipient: rfc822; gone@example.co.jp" in status and "Status: 5.1.1" in status
    assert "kept@example.co.jp" not in status.split("message/delivery-status", 1)[1].split("text/rfc822")[0]
    rec = await gateway.store.get(msg_id)
    assert rec is not None and rec.meta["delivered_to"] == ["kept@example.co.jp"]


async def test_every_recipient_refused_at_rcpt_bounces_the_message(gateway: Gateway, sink: Sink) -> None:
    sink.refuse_rcpt["gone@example.co.jp"] = "550 5.1.1 No such user"
    sink.refuse_rcpt["left@example.co.jp"] = "553 5.1.3 Bad address"
    rcpts = ["gone@example.co.jp", "left@example.co.jp"]
    msg_id = await accepted(gateway, rcpts, make_mail(to=rcpts))
    await ends_in(gateway, msg_id, State.BOUNCED)
    status = (await dsn_to_sender(sink)).message.as_string()
    assert "Status: 5.1.1" in status and "Status: 5.1.3" in status
    assert not sink.user_mail("gone@example.co.jp") and not sink.user_mail("left@example.co.jp")


async def test_declared_size_is_what_arrives(gateway: Gateway, sink: Sink) -> None:
    rcpt = "size@example.co.jp"
    code, _ = await send(gateway.port, SENDER, [rcpt], make_mail(to=[rcpt], body="本文です。\n" * 200))
    assert code == 250
    await sink.wait_for(lambda: bool(sink.to(rcpt)))
    got = sink.to(rcpt)[0]
    assert f"SIZE={len(got.data)}" in [o.upper() for o in got.mail_options]


async def test_lines_starting_with_a_dot_arrive_intact(gateway: Gateway, sink: Sink) -> None:
    rcpt = "dots@example.co.jp"
    body = ".\n..\n.hidden\n本文\n. \n...\n"
    data = make_mail(to=[rcpt], body=body)
    code, _ = await send(gateway.port, SENDER, [rcpt], data)
    assert code == 250
    await sink.wait_for(lambda: bool(sink.to(rcpt)))
    got = sink.to(rcpt)[0].data
    sent_body = data.split(b"\r\n\r\n", 1)[1]
    assert sent_body.startswith(b".\r\n..\r\n.hidden\r\n"), "the lines go out as they are (8bit)"
    assert got.split(b"\r\n\r\n", 1)[1] == sent_body


async def test_transaction_sends_wire_form_as_is_and_rewrites_anything_else(sink: Sink) -> None:
    """Both DATA paths over a real connection: CRLF mail as it is, bare line ends rewritten."""
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=sink.port, start_tls=False)
    await client.connect()
    try:
        wire = b"Subject: a\r\n\r\n.one\r\ntwo\r\n"
        bare = b"Subject: b\n\n.one\rtwo"
        for data in (wire, bare):
            assert await transaction(client, SENDER, ["x@example.co.jp"], data) == {}
    finally:
        await client.quit()
    assert [m.data for m in sink.messages] == [wire, b"Subject: b\r\n\r\n.one\r\ntwo\r\n"]
    assert [m.mail_options for m in sink.messages] == [["SIZE=25"], ["SIZE=25"]]


async def test_transaction_declares_8bit_bodies_and_international_addresses(sink: Sink) -> None:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=sink.port, start_tls=False)
    await client.connect()
    eight_bit = "Subject: a\r\n\r\n本文\r\n".encode()
    plain = b"Subject: b\r\n\r\nx\r\n"
    try:
        await transaction(client, SENDER, ["x@example.co.jp"], eight_bit)
        await transaction(client, "山田@example.co.jp", ["x@example.co.jp"], plain)
    finally:
        await client.quit()
    assert [m.mail_options for m in sink.messages] == [
        [f"SIZE={len(eight_bit)}", "BODY=8BITMIME"],
        [f"SIZE={len(plain)}", "SMTPUTF8"],
    ]
    assert sink.messages[1].mail_from == "山田@example.co.jp"


@given(st.binary(max_size=40).map(lambda b: b.translate(bytes.maketrans(b"abc", b"\r\n."))))
def test_wire_size_is_the_length_aiosmtplib_sends(data: bytes) -> None:
    assert wire_size(data) == len(normalize_message_line_endings(data))


_ENDINGS = st.binary(max_size=40).map(lambda b: b.translate(bytes.maketrans(b"abc", b"\r\n.")))


@given(_ENDINGS, _ENDINGS)
def test_wire_size_after_a_part_known_to_be_crlf_only_is_the_same(head: bytes, body: bytes) -> None:
    # The SMTP session checked the body: only the trace headers in front of it are searched.
    body = normalize_message_line_endings(body)[:-2] if body else body  # CRLF only, any end
    assert wire_size(head + body, crlf_after=len(head)) == wire_size(head + body)


async def test_queue_lifetime_runs_out_into_dsn(tmp_path: Path, sink: Sink) -> None:
    cfg = load_config(write_config(tmp_path, upstream_port=sink.port))
    retry = cfg.upstream.retry.model_copy(update={"lifetime": 1.0})
    cfg = cfg.model_copy(update={"upstream": cfg.upstream.model_copy(update={"retry": retry})})
    gw = await start_gateway(cfg)
    try:
        sink.fail_with, sink.fail_only_to = "451 4.3.0 try later", "late@example.co.jp"
        msg_id = await accepted(gw, ["late@example.co.jp"], make_mail(to=["late@example.co.jp"]))
        await ends_in(gw, msg_id, State.BOUNCED)
        rec = await gw.store.get(msg_id)
        assert rec is not None and rec.attempts >= 2
        assert "Status: 5.4.7" in (await dsn_to_sender(sink)).message.as_string()
    finally:
        await gw.stop()


def test_backoff_doubles_up_to_cap() -> None:
    waits = [backoff(n, 1.0, 10.0) for n in range(1, 8)]
    assert waits == sorted(waits) and waits[0] == 1.0 and waits[-1] == 10.0


def test_client_supplied_verdict_and_loop_headers_are_removed() -> None:
    raw = b"X-Sekimori-Verdict: deliver\r\nSubject: s\r\nX-Sekimori-Loop: v1;\r\n\tid=forged\r\n\r\nbody\r\n"
    assert strip_own_headers(raw) == b"Subject: s\r\n\r\nbody\r\n"


async def test_a_message_that_can_never_be_sent_bounces_with_a_dsn(gateway: Gateway, sink: Sink) -> None:
    """A recipient with a NUL (taken before the SMTP side refused them) makes the upstream client
    raise: the message bounces with a DSN instead of staying in delivering for good."""
    raw = make_mail(to=["hanako@example.co.jp"], subject="poison")
    rec = await gateway.store.accept(
        raw, sender=SENDER, recipients=["hana\x00ko@example.co.jp"], subject="poison", meta={},
        owner=gateway.relay.owner,
    )  # fmt: skip
    await gateway.relay.process(rec, raw, in_session=False)
    await ends_in(gateway, rec.id, State.BOUNCED)
    dsn = (await dsn_to_sender(sink)).message
    assert "Status: 5.6.0" in list(dsn.iter_parts())[1].as_string()


def test_no_state_keeps_a_message_without_a_way_out() -> None:
    """Walk every state of a message: each is terminal, or owned by a worker under a lease that
    lapses into :meth:`Store.due`, or has a due time :meth:`Store.due` returns it at, or waits for
    a person (quarantine review), who has an action that ends it."""
    from gateway.store.base import ACTIVE, ALLOWED, TERMINAL, TIMER_FIELD

    people = {State.QUARANTINED: {State.DELIVERING, State.DELETED}}
    for state, nxt in ALLOWED.items():
        if state in TERMINAL:
            assert not nxt
            continue
        ways = [state in ACTIVE, state in TIMER_FIELD, state in people]
        assert any(ways), f"{state} has no worker, no due time and no decision by a person"
        if state in people:
            assert people[state] <= nxt
        # and from there a terminal state is reachable
        seen, todo = set(), [state]
        while todo:
            s = todo.pop()
            seen.add(s)
            todo.extend(n for n in ALLOWED[s] if n not in seen)
        assert seen & TERMINAL, state
