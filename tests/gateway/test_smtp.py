"""The SMTP server over a raw socket: hostile input gets a clear permanent reply, internal
failures a transient one, and an unfinished DATA leaves nothing behind."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from types import SimpleNamespace

import pytest
from aiosmtpd.smtp import SMTP
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway import replies
from gateway.config import load_config
from gateway.relay import Relay
from gateway.smtp import (
    RelayHandler,
    address_problem,
    check_password,
    has_bare_line_ending,
    hash_password,
    plain_path,
)
from gateway.store import State
from tests.gateway.conftest import Gateway, Sink, make_mail, send, start_gateway, write_config


class Client:
    """A line-level SMTP client that can send what real clients never would."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Client:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        c = cls(reader, writer)
        assert (await c.reply()).startswith("220")
        return c

    async def reply(self) -> str:
        lines = []
        while True:
            line = (await asyncio.wait_for(self.reader.readline(), 20)).decode()
            lines.append(line.rstrip("\r\n"))
            if len(line) < 4 or line[3] != "-":
                return "\n".join(lines)

    async def cmd(self, text: bytes) -> str:
        self.writer.write(text)
        await self.writer.drain()
        return await self.reply()

    async def envelope(self, rcpt: str = "hanako@example.co.jp") -> None:
        assert (await self.cmd(b"EHLO probe\r\n")).startswith("250")
        assert (await self.cmd(b"MAIL FROM:<taro@example.co.jp>\r\n")).startswith("250")
        assert (await self.cmd(f"RCPT TO:<{rcpt}>\r\n".encode())).startswith("250")
        assert (await self.cmd(b"DATA\r\n")).startswith("354")

    async def aclose(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


async def count_messages(gw: Gateway) -> int:
    return len(await gw.store.list_messages(limit=10_000))


async def test_ehlo_advertises_extensions(gateway: Gateway) -> None:
    c = await Client.open(gateway.port)
    ehlo = await c.cmd(b"EHLO probe\r\n")
    for ext in ("SIZE 204800", "8BITMIME", "SMTPUTF8", "PIPELINING", "ENHANCEDSTATUSCODES"):
        assert ext in ehlo
    assert "AUTH" not in ehlo, "AUTH is only offered over TLS with users configured"
    await c.aclose()


@pytest.mark.parametrize(
    "payload",
    [
        b"Subject: a\r\n\r\nhello\n.\r\nMAIL FROM:<evil@x>\r\n",  # \n.\r\n
        b"Subject: a\r\n\r\nhello\r\n.\nMAIL FROM:<evil@x>\r\n",  # \r\n.\n
        b"Subject: a\r\n\r\nhello\r.\r\nMAIL FROM:<evil@x>\r\n",  # \r.\r\n
        b"Subject: a\r\n\r\nbare\nlf\r\n",
        b"Subject: a\r\n\r\nbare\rcr\r\n",
    ],
)
async def test_smuggling_probes_are_refused(gateway: Gateway, sink: Sink, payload: bytes) -> None:
    c = await Client.open(gateway.port)
    await c.envelope()
    answer = await c.cmd(payload + b".\r\n")
    assert answer == str(replies.BARE_LINE_ENDING)
    assert (await c.cmd(b"QUIT\r\n")).startswith("221")
    await c.aclose()
    assert await count_messages(gateway) == 0
    assert sink.messages == []


async def test_oversized_mail_is_552(gateway: Gateway) -> None:
    big = make_mail(to=["hanako@example.co.jp"], body=("あ" * 60 + "\n") * 2000)
    code, reply = await send(gateway.port, "taro@example.co.jp", ["hanako@example.co.jp"], big)
    assert code == 552 and reply.startswith("5.3.4")
    # Announced with SIZE, it is refused before DATA.
    c = await Client.open(gateway.port)
    await c.cmd(b"EHLO probe\r\n")
    assert (await c.cmd(b"MAIL FROM:<taro@example.co.jp> SIZE=999999999\r\n")).startswith("552 5.3.4")
    await c.aclose()
    assert await count_messages(gateway) == 0


async def test_long_line_is_refused_permanently(gateway: Gateway) -> None:
    c = await Client.open(gateway.port)
    await c.envelope()
    answer = await c.cmd(b"Subject: x\r\n\r\n" + b"a" * 1200 + b"\r\n.\r\n")
    assert answer == str(replies.LINE_TOO_LONG)
    await c.aclose()


async def test_disconnect_mid_data_leaves_nothing(gateway: Gateway, sink: Sink) -> None:
    c = await Client.open(gateway.port)
    await c.envelope()
    c.writer.write(b"Subject: half\r\n\r\nsome of the body\r\n")
    await c.writer.drain()
    await c.aclose()
    await asyncio.sleep(0.5)
    assert await count_messages(gateway) == 0
    spool = gateway.config.store.path / "spool"
    assert [p for p in spool.iterdir() if p.is_file()] == []
    assert sink.messages == []


async def test_too_many_recipients_is_transient(gateway: Gateway) -> None:
    c = await Client.open(gateway.port)
    await c.cmd(b"EHLO probe\r\n")
    await c.cmd(b"MAIL FROM:<taro@example.co.jp>\r\n")
    answers = [await c.cmd(f"RCPT TO:<u{i}@example.co.jp>\r\n".encode()) for i in range(21)]
    assert all(a.startswith("250") for a in answers[:20])
    assert answers[20] == str(replies.TOO_MANY_RECIPIENTS)
    await c.aclose()


async def test_stock_replies_come_from_the_table(gateway: Gateway) -> None:
    c = await Client.open(gateway.port)
    assert await c.cmd(b"MAIL FROM:<a@b>\r\n") == str(replies.BAD_SEQUENCE.with_text("Send HELO/EHLO first"))
    await c.cmd(b"EHLO probe\r\n")
    assert await c.cmd(b"DATA\r\n") == str(replies.BAD_SEQUENCE.with_text("Need RCPT command first"))
    assert (await c.cmd(b"BOGUS\r\n")).startswith("500 5.5.2")
    await c.aclose()


async def test_internal_failure_answers_451(gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(self: Relay, *args: object, **kwargs: object) -> object:
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(Relay, "process", broken)
    code, reply = await send(
        gateway.port, "taro@example.co.jp", ["hanako@example.co.jp"], make_mail(to=["hanako@example.co.jp"])
    )
    assert code == 451 and reply.startswith("4.3.0")
    # The spooled copy is dropped: the client retries, so keeping it would duplicate the mail.
    recs = await gateway.store.list_messages()
    assert [r.state for r in recs] == [State.REFUSED]


async def test_clients_outside_networks_must_authenticate(tmp_path: Path, sink: Sink) -> None:
    cfg = load_config(write_config(tmp_path, upstream_port=sink.port, extra=""))
    cfg = cfg.model_copy(update={"smtp": cfg.smtp.model_copy(update={"networks": ["10.9.9.0/24"]})})
    gw = await start_gateway(cfg)
    try:
        code, reply = await send(
            gw.port, "taro@example.co.jp", ["h@example.co.jp"], make_mail(to=["h@example.co.jp"])
        )
        assert code == 554 and reply.startswith("5.7.1")
    finally:
        await gw.stop()


async def test_session_time_limit(tmp_path: Path, sink: Sink) -> None:
    cfg = load_config(write_config(tmp_path, upstream_port=sink.port))
    limits = cfg.smtp.limits.model_copy(update={"session_time": 0.5})
    cfg = cfg.model_copy(update={"smtp": cfg.smtp.model_copy(update={"limits": limits})})
    gw = await start_gateway(cfg)
    try:
        c = await Client.open(gw.port)
        await c.cmd(b"EHLO probe\r\n")
        assert await c.reply() == str(replies.SESSION_TOO_LONG)
        assert await c.reader.read() == b""
        await c.aclose()
    finally:
        await gw.stop()


def test_password_hashes() -> None:
    h = hash_password("correct horse")
    assert check_password(b"correct horse", h)
    assert not check_password(b"wrong", h)
    assert not check_password(b"x", "scrypt$garbage")


def test_bare_line_endings() -> None:
    assert not has_bare_line_ending(b"a\r\nb\r\n")
    assert has_bare_line_ending(b"a\nb\r\n")
    assert has_bare_line_ending(b"a\rb\r\n")


@given(st.binary(max_size=40).map(lambda b: b.translate(bytes.maketrans(b"abc", b"\r\n."))))
def test_bare_line_endings_are_what_counting_the_crlfs_finds(data: bytes) -> None:
    crlf = data.count(b"\r\n")
    assert has_bare_line_ending(data) == (data.count(b"\n") != crlf or data.count(b"\r") != crlf)


async def test_exception_in_a_hook_answers_451_not_500(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: object) -> str:
        raise RuntimeError("simulated bug in a hook")

    monkeypatch.setattr(RelayHandler, "handle_RCPT", broken)
    c = await Client.open(gateway.port)
    await c.cmd(b"EHLO probe\r\n")
    await c.cmd(b"MAIL FROM:<taro@example.co.jp>\r\n")
    assert await c.cmd(b"RCPT TO:<hanako@example.co.jp>\r\n") == str(replies.INTERNAL_ERROR)
    await c.aclose()


@settings(max_examples=3000, deadline=None)
@given(
    st.text(alphabet=" \t<>@.\"()[]\\:;,=+-_'aZ09\u3042\x0b", max_size=24)
    | st.builds(
        lambda lead, local, domain, rest: f"{lead}<{local}@{domain}>{rest}",
        st.sampled_from(["", " ", "\t "]),
        st.lists(st.text(alphabet="ab+-_'\"", min_size=1, max_size=3), min_size=1, max_size=3).map(".".join),
        st.lists(st.text(alphabet="ab-1[]", min_size=1, max_size=3), min_size=1, max_size=3).map(".".join),
        st.sampled_from(["", " SIZE=1", "  BODY=8BITMIME", " (c) SIZE=1", "x", " ", "\tSIZE=1 ", " =1"]),
    )
)
def test_plain_path_agrees_with_aiosmtpd(arg: str) -> None:
    """Where the fast path answers, aiosmtpd's own parser gives the same address and rest."""
    plain = plain_path(arg)
    if plain is not None:
        assert SMTP._getaddr(SimpleNamespace(local_part_limit=0), arg) == plain  # type: ignore[arg-type]


def test_plain_path_is_taken_for_ordinary_commands() -> None:
    assert plain_path("<hanako.suzuki@example.co.jp>") == ("hanako.suzuki@example.co.jp", "")
    assert plain_path(" <a+b@x-y.jp>  SIZE=10") == ("a+b@x-y.jp", "SIZE=10")
    assert plain_path("<>") is None
    assert plain_path("<a@[192.0.2.1]>") is None
    assert plain_path("<a@b>\n") is None


@pytest.mark.parametrize(
    ("command", "reply"),
    [
        (b"MAIL FROM:<taro\xff@example.co.jp>\r\n", "553 5.1.7"),  # not UTF-8
        (b"MAIL FROM:<taro\xff@example.co.jp> SMTPUTF8\r\n", "553 5.1.7"),
        (b"MAIL FROM:<ta\x00ro@example.co.jp>\r\n", "553 5.1.7"),  # a NUL
        (b"MAIL FROM:<ta\x1bro@example.co.jp>\r\n", "553 5.1.7"),  # ESC
        ("MAIL FROM:<太郎@example.co.jp>\r\n".encode(), "553 5.6.7"),  # UTF-8 without SMTPUTF8
    ],
)
async def test_a_sender_that_can_never_be_delivered_is_refused_at_mail(
    gateway: Gateway, command: bytes, reply: str
) -> None:
    """Issue 10: such a sender was taken with 250, then DATA answered 451 for ever (the client
    retried for days) or the message sat in delivering for good."""
    c = await Client.open(gateway.port)
    try:
        assert (await c.cmd(b"EHLO probe\r\n")).startswith("250")
        assert (await c.cmd(command)).startswith(reply)
        assert (await c.cmd("MAIL FROM:<太郎@example.co.jp> SMTPUTF8\r\n".encode())).startswith("250")
    finally:
        await c.aclose()
    assert await count_messages(gateway) == 0


@pytest.mark.parametrize(
    ("command", "reply"),
    [
        (b"RCPT TO:<hanako\xfe@example.co.jp>\r\n", "553 5.1.3"),
        (b"RCPT TO:<hana\x00ko@example.co.jp>\r\n", "553 5.1.3"),
        (b"RCPT TO:<hana\x7fko@example.co.jp>\r\n", "553 5.1.3"),
        ("RCPT TO:<花子@example.co.jp>\r\n".encode(), "553 5.6.7"),
    ],
)
async def test_a_recipient_that_can_never_be_delivered_is_refused_at_rcpt(
    gateway: Gateway, command: bytes, reply: str
) -> None:
    c = await Client.open(gateway.port)
    try:
        assert (await c.cmd(b"EHLO probe\r\n")).startswith("250")
        assert (await c.cmd(b"MAIL FROM:<taro@example.co.jp>\r\n")).startswith("250")
        assert (await c.cmd(command)).startswith(reply)
        assert (await c.cmd(b"RCPT TO:<hanako@example.co.jp>\r\n")).startswith("250")
    finally:
        await c.aclose()


def test_every_character_of_the_basic_plane_is_judged_as_the_rule_says() -> None:
    # Lone surrogates (bytes that were not UTF-8) and the C0/C1 controls with DEL; nothing else.
    for code in range(0x10000):
        want = (
            "utf8" if 0xDC80 <= code <= 0xDCFF else "control" if code < 0x20 or 0x7F <= code < 0xA0 else None
        )
        assert address_problem(f"a{chr(code)}@x.jp") == want, hex(code)
    assert address_problem("𠮷野家@例え.jp") is None
