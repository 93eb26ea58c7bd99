"""Real parts for the relay tests: an aiosmtpd sink as the upstream, the gateway in-process on
loopback with its own store and a test policy, and helpers to send with a real SMTP client."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from gateway.config import Config, load_config
from gateway.pipeline import Inspector
from gateway.relay import Relay
from gateway.scheduler import Scheduler
from gateway.smtp import start_server
from gateway.store import Store, open_store
from policies import PolicyHolder
from tests.gateway.redis_server import RedisServer

SECRET = "test-secret-0123456789abcdef-0123456789"

#: Each action is triggered by a recipient domain, so tests choose the path by the address;
#: My Number in the content blocks, which proves that classification runs.
TEST_POLICY = """\
version: 1
organisation:
  internal_domains: [example.co.jp]
rules:
  - id: t-block-my-number
    title: {ja: マイナンバー送信禁止, en: My Number must not leave}
    description: {ja: マイナンバーが含まれています, en: Contains a My Number}
    when:
      all:
        - recipients: external
        - entity: {type: my_number, min_score: 0.5}
    action: {type: block, notify_security: true}
  - id: t-block-domain
    title: {ja: 送信禁止ドメイン, en: Forbidden domain}
    description: {ja: 送信禁止の宛先です, en: Forbidden recipient}
    when: {recipient_domain: {in: [block.test]}}
    action: block
  - id: t-hold
    title: {ja: 送信保留, en: Grace period}
    description: {ja: 保留します, en: Held}
    when: {recipient_domain: {in: [hold.test]}}
    action: {type: hold, grace: 2s}
  - id: t-quarantine
    title: {ja: 隔離, en: Quarantine}
    description: {ja: 隔離します, en: Quarantined}
    when: {recipient_domain: {in: [quarantine.test]}}
    action: quarantine
  - id: t-approval
    title: {ja: 承認, en: Approval}
    description: {ja: 承認が必要です, en: Needs approval}
    when: {recipient_domain: {in: [approval.test]}}
    action:
      type: approval
      approvers: [boss@example.co.jp]
      timeout: 1h
      on_timeout: reject
  - id: t-tag
    title: {ja: タグ付け, en: Tag}
    description: {ja: ヘッダーを付けます, en: Adds headers}
    when: {recipient_domain: {in: [tag.test]}}
    action:
      type: tag
      headers: {X-Classification: 社外秘}
  - id: t-bcc
    title: {ja: BCC変換, en: Bcc conversion}
    description: {ja: 社外宛先をBCCに, en: External to Bcc}
    when: {external_domains: {at_least: 3}}
    action: bcc
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_ports(count: int) -> list[int]:
    """``count`` different free ports: all are bound at once, so the kernel cannot hand out one
    twice (separate ``free_port()`` calls can, and a config then puts two listeners on one port)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    mail_options: list[str] = field(default_factory=list)

    @property
    def message(self) -> email.message.EmailMessage:
        msg = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(msg, email.message.EmailMessage)
        return msg

    @property
    def text(self) -> str:
        """The plain-text body (of a notice: its text/plain alternative)."""
        part = self.message.get_body(("plain",))
        assert part is not None, "no text/plain part"
        return str(part.get_content()).replace("\r\n", "\n")

    @property
    def html(self) -> str:
        part = self.message.get_body(("html",))
        assert part is not None, "no text/html part"
        return str(part.get_content()).replace("\r\n", "\n")


@dataclass
class Sink:
    """An upstream MTA: records what it gets; ``fail_with`` answers DATA with that reply."""

    port: int
    messages: list[Received] = field(default_factory=list)
    fail_with: str | None = None
    fail_only_to: str | None = None
    #: RCPT TO address -> the reply refusing it
    refuse_rcpt: dict[str, str] = field(default_factory=dict)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    server: asyncio.Server | None = None

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.refuse_rcpt:
            return self.refuse_rcpt[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.fail_with and (self.fail_only_to is None or self.fail_only_to in envelope.rcpt_tos):
            return self.fail_with
        data = envelope.original_content
        assert isinstance(data, bytes)
        self.messages.append(
            Received(str(envelope.mail_from), list(envelope.rcpt_tos), data, list(envelope.mail_options))
        )
        self.arrived.set()
        return "250 2.0.0 OK sink"

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(
            lambda: SMTP(self, hostname="sink", enable_SMTPUTF8=True, loop=loop),
            host="127.0.0.1",
            port=self.port,
        )

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None

    def to(self, address: str) -> list[Received]:
        return [m for m in self.messages if address in m.rcpt_tos]

    def notifications(self, address: str) -> list[Received]:
        return [m for m in self.to(address) if m.message["Auto-Submitted"]]

    def user_mail(self, address: str) -> list[Received]:
        return [m for m in self.to(address) if not m.message["Auto-Submitted"]]

    async def wait_for(self, predicate: Callable[[], bool], within: float = 20.0) -> None:
        async def _loop() -> None:
            while not predicate():
                self.arrived.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.arrived.wait(), timeout=0.2)

        await asyncio.wait_for(_loop(), timeout=within)


def write_config(tmp_path: Path, *, upstream_port: int, extra: str = "") -> Path:
    # The download listener on a port of its own (`sekimori run` starts it), unless extra says where.
    # Ports the caller already chose (the upstream, listeners named in extra) were free_port()s
    # released before this call: the kernel may hand one out again, so none of ours may be one.
    taken = {upstream_port, *(int(n) for n in re.findall(r"(?<![\d.])\d{4,5}(?![\d.])", extra))}
    port, smtp_port, ui_port = free_ports(3)
    while taken & {port, smtp_port, ui_port}:
        port, smtp_port, ui_port = free_ports(3)
    links = "" if "links:" in extra else f"links: {{port: {port}, base_url: 'http://127.0.0.1:{port}'}}\n"
    policy = tmp_path / "policy.yaml"
    policy.write_text(TEST_POLICY, encoding="utf-8")
    cfg = tmp_path / "sekimori.yaml"
    cfg.write_text(
        f"""\
smtp:
  port: {smtp_port}
  limits:
    max_message_size: 200KiB
    max_recipients: 20
upstream:
  port: {upstream_port}
  concurrency: 4
  timeout: 5s
  retry: {{first: 0.3s, max_interval: 1s}}
scan: {{workers: 0, time: 5s}}
scheduler: {{interval: 0.2s}}
store: {{path: {tmp_path / "var"}}}
policy: {{path: {policy}}}
notify: {{sender: postmaster@example.co.jp, security: security@example.co.jp}}
ui: {{port: {ui_port}, secure_cookies: false}}
secret: "{SECRET}"
{links}{extra}""",
        encoding="utf-8",
    )
    return cfg


@dataclass
class Gateway:
    config: Config
    store: Store
    relay: Relay
    scheduler: Scheduler
    server: asyncio.Server
    inspector: Inspector

    @property
    def port(self) -> int:
        return int(self.server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        self.server.close()
        await self.server.wait_closed()
        await self.scheduler.stop()
        await self.relay.stop()
        self.inspector.close()
        await self.store.close()


async def start_gateway(
    config: Config,
    *,
    clock: Callable[[], datetime] | None = None,
    store_clock: Callable[[], datetime] | None = None,
) -> Gateway:
    """The relay, its scheduler and the SMTP listener on a store of ``config``; ``store_clock``
    gives the store and the scheduler a test's time (an approval's validity, a lease), ``clock``
    gives it to the relay (delivery, retries, links) as well."""
    timed = clock or store_clock
    store = await open_store(config.store, clock=timed)
    inspector = Inspector(
        PolicyHolder(config.policy.path, override=config.policy.active_file),
        scan_time=config.scan.time,
        workers=config.scan.worker_count,
        memory=config.scan.memory_bytes,
        slow_slots=config.scan.slow_slot_count,
    )
    relay = Relay(config, store, inspector) if clock is None else Relay(config, store, inspector, clock=clock)
    timers: dict[str, Any] = {} if timed is None else {"clock": timed}
    scheduler = Scheduler(relay, interval=config.scheduler.interval, **timers)
    await relay.start()
    scheduler.start()
    server = await start_server(config, relay.receive)
    return Gateway(config, store, relay, scheduler, server, inspector)


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    s = Sink(free_port())
    await s.start()
    yield s
    await s.stop()


@pytest.fixture
def config(tmp_path: Path, sink: Sink) -> Config:
    return load_config(write_config(tmp_path, upstream_port=sink.port))


@pytest.fixture
async def gateway(config: Config) -> AsyncIterator[Gateway]:
    gw = await start_gateway(config)
    yield gw
    await gw.stop()


def make_mail(
    *,
    sender: str = "taro@example.co.jp",
    to: list[str],
    cc: list[str] | None = None,
    subject: str = "テスト",
    body: str = "こんにちは。\n",
) -> bytes:
    msg = email.message.EmailMessage(policy=email.policy.SMTP)
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    if cc:
        msg["Cc"] = ", ".join(cc)
    msg["Subject"] = subject
    msg["Message-ID"] = email.utils.make_msgid(domain="example.co.jp")
    msg.set_content(body)
    return msg.as_bytes()


async def send(port: int, sender: str, rcpts: list[str], data: bytes) -> tuple[int, str]:
    """Send with a real client; returns the final reply (250 ... or the refusal)."""
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30, start_tls=False)
    await client.connect()
    try:
        _, reply = await client.sendmail(sender, rcpts, data)
        return 250, reply
    except aiosmtplib.SMTPResponseException as exc:
        return exc.code, exc.message
    finally:
        client.close()


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 20.0) -> None:
    """Poll ``check`` until it holds; fail after ``within`` seconds (a bound, not a timing test)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        if await check():
            return
        if loop.time() > deadline:
            raise AssertionError(f"condition not reached within {within}s")
        await asyncio.sleep(0.05)


def queue_id(reply: str) -> str:
    return reply.rsplit(" ", 1)[-1]


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One real ``redis-server`` for the whole session; tests keep apart by key prefix."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()
