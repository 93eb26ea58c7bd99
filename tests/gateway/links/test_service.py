"""Links are made when a message leaves, over real SMTP: outside recipients' copies carry links
instead of the attachments, inside recipients and the stored message keep the attachments."""

from __future__ import annotations

import asyncio

from gateway import actions
from gateway.links.facts import FileFacts, LinkFacts
from gateway.store import ItemKind, State
from tests.gateway.conftest import queue_id, send
from tests.gateway.links.conftest import (
    CSV,
    INSIDE,
    PDF,
    SENDER,
    A,
    B,
    Stack,
    links_in,
    mail_with_files,
    text_of,
    wait_state,
)


def attachments_of(raw: bytes) -> dict[str, bytes]:
    import email
    import email.policy

    msg = email.message_from_bytes(raw, policy=email.policy.default)
    out = {}
    for part in msg.walk():
        name = part.get_filename()
        if name:
            data = part.get_payload(decode=True)
            assert isinstance(data, bytes)
            out[name] = data
    return out


async def wait_delivered(stack: Stack, msg_id: str) -> None:
    await wait_state(stack.store, msg_id, State.DELIVERED)


async def test_outside_copies_carry_one_link_each_inside_keeps_the_files(stack: Stack) -> None:
    data = mail_with_files([INSIDE, A, B])
    code, reply = await send(stack.port, SENDER, [INSIDE, A, B], data)
    assert code == 250
    msg_id = queue_id(reply)
    await wait_delivered(stack, msg_id)

    [inside] = stack.copies_to(INSIDE)
    assert inside.rcpt_tos == [INSIDE]
    assert inside.data.endswith(data), "inside recipients get the message as it was"
    assert attachments_of(inside.data) == {"数量表.csv": CSV, "見積書.pdf": PDF}

    urls = {}
    for who in (A, B):
        [copy] = stack.copies_to(who)
        assert copy.rcpt_tos == [who], "each outside recipient gets a copy of their own"
        assert attachments_of(copy.data) == {}
        [url] = links_in(copy)
        urls[who] = url
        text = text_of(copy.message)
        assert "「数量表.csv」" in text and "「見積書.pdf」" in text
        assert "見積書と数量表をお送りします" in text, "the body stays"
        assert copy.message["Subject"] == "見積書の送付"
    assert urls[A] != urls[B]

    rec = await stack.store.get(msg_id)
    assert rec is not None
    assert await stack.store.load_raw(msg_id) == data, "the stored message keeps its attachments"
    made = rec.meta["links"]
    assert sorted(made["to"]) == sorted([A, B])
    for who, link_id in made["to"].items():
        link = await stack.store.get(link_id)
        assert link is not None
        assert (link.kind, link.state, link.recipients, link.sender) == (
            ItemKind.LINK,
            State.OPEN,
            (who,),
            SENDER,
        )
        facts = LinkFacts.of(link)
        assert (facts.mail, facts.max_downloads, facts.needs_code) == (msg_id, 5, True)
        assert [f.name for f in facts.files] == ["数量表.csv", "見積書.pdf"]
        assert link.expires_at is not None
        assert round((link.expires_at - link.received_at).total_seconds()) == 7 * 86400
        assert urls[who].endswith(stack.relay.links.token(link_id))
    for file_id in made["files"]:
        kept = await stack.store.get(file_id)
        assert kept is not None and kept.state is State.STORED
        assert kept.file_key and kept.file_key not in repr(kept)
        sealed = await stack.store.load_raw(file_id)
        assert CSV not in sealed and PDF not in sealed, "files are encrypted at rest"
        assert FileFacts.of(kept).mail == msg_id
    events = [e.action for e in await stack.store.audit_events(msg_id=msg_id)]
    assert "links" in events and events.index("links") < events.index("transition", events.index("links"))


async def test_a_held_then_cancelled_mail_never_makes_a_link(stack: Stack) -> None:
    data = mail_with_files(["x@hold.test"])
    code, reply = await send(stack.port, SENDER, ["x@hold.test"], data)
    assert code == 250
    rec = await stack.store.get(queue_id(reply))
    assert rec is not None and rec.state is State.HELD
    assert rec.decision["link"]["recipients"] == ["x@hold.test"]
    await actions.perform(
        stack.store, rec, "cancel", actions.Actor(actions.Role.SENDER, SENDER), now=stack.clock(), via="web"
    )
    stack.clock.skip(hours=2)
    await stack.scheduler.tick()
    await asyncio.sleep(0.3)
    assert await stack.store.list_messages(kinds={ItemKind.LINK, ItemKind.FILE}) == []
    assert stack.copies_to("x@hold.test") == []


async def test_a_held_mail_makes_its_links_when_it_leaves(stack: Stack) -> None:
    code, reply = await send(stack.port, SENDER, ["y@hold.test"], mail_with_files(["y@hold.test"]))
    assert code == 250
    assert await stack.store.list_messages(kinds={ItemKind.LINK}) == []
    stack.clock.skip(hours=2)
    await stack.scheduler.tick()
    await wait_delivered(stack, queue_id(reply))
    [copy] = stack.copies_to("y@hold.test")
    assert len(links_in(copy)) == 1 and attachments_of(copy.data) == {}


async def test_a_retry_reuses_the_links(stack: Stack) -> None:
    stack.sink.fail_with, stack.sink.fail_only_to = "451 4.3.0 try later", A
    code, reply = await send(stack.port, SENDER, [INSIDE, A], mail_with_files([INSIDE, A]))
    assert code == 250
    msg_id = queue_id(reply)

    await wait_state(stack.store, msg_id, State.DEFERRED)
    assert len(stack.copies_to(INSIDE)) == 1
    stack.sink.fail_with = None
    stack.clock.skip(minutes=5)
    await stack.scheduler.tick()
    await wait_delivered(stack, msg_id)
    [copy] = stack.copies_to(A)
    assert len(stack.copies_to(INSIDE)) == 1, "the inside recipient is not sent twice"
    [link] = await stack.store.list_messages(kinds={ItemKind.LINK})
    assert links_in(copy) == [stack.relay.links.url(link.id)]
    assert len(await stack.store.list_messages(kinds={ItemKind.FILE})) == 2
