"""Real parts for the download link tests: the gateway in-process (relay, store, scheduler,
delivery, notifier) with a clock that can be moved forward, a real aiosmtpd sink upstream, and the
download listener served by uvicorn on loopback; mail sent with a real SMTP client, pages fetched
with a real HTTP client."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest

from gateway.config import Config, load_config
from gateway.links.web import build_server
from gateway.pipeline import Inspector
from gateway.relay import Relay
from gateway.scheduler import Scheduler
from gateway.smtp import start_server
from gateway.store import State, Store, open_store
from policies import PolicyHolder
from tests.gateway.conftest import Received, Sink, eventually, free_port, write_config

SENDER = "taro@example.co.jp"
INSIDE = "hanako@example.co.jp"
A, B = "tanaka@partner.example", "kim@other.example"

POLICY = """\
version: 1
organisation:
  internal_domains: [example.co.jp]
rules:
  - id: link-outside
    title: {ja: 社外宛ての添付はリンクで, en: Attachments to outside recipients as links}
    description: {ja: 添付ファイルをダウンロードリンクにします, en: Attachments become download links}
    when: {direction: mail, recipients: external}
    action: {type: link_attachments}
  - id: hold-some
    title: {ja: 送信保留, en: Grace period}
    description: {ja: 保留します, en: Held}
    when: {recipient_domain: {in: [hold.test]}}
    action: {type: hold, grace: 1h}
"""

CSV = "品番,数量\nA-100,3\nB-200,12\n".encode()
#: A real PDF (no text to find), made once.
PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\n"
    b"xref\n0 4\n0000000000 65535 f \n0000000009 00000 n \n0000000052 00000 n \n0000000101 00000 n \n"
    b"trailer<</Size 4/Root 1 0 R>>\nstartxref\n165\n%%EOF\n"
)


def mail_with_files(
    to: list[str], subject: str = "見積書の送付", files: tuple[tuple[str, bytes, str], ...] = ()
) -> bytes:
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = SENDER
    msg["To"] = ", ".join(to)
    msg["Subject"] = subject
    msg.set_content("お世話になっております。見積書と数量表をお送りします。\n")
    for name, data, ctype in files or (
        ("数量表.csv", CSV, "text/csv"),
        ("見積書.pdf", PDF, "application/pdf"),
    ):
        maintype, subtype = ctype.split("/", 1)
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes()


@dataclass
class Clock:
    """Real time, plus whatever the test skips forward."""

    skipped: timedelta = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.skipped

    def skip(self, **kw: float) -> None:
        self.skipped += timedelta(**kw)


@dataclass
class Stack:
    config: Config
    clock: Clock
    sink: Sink
    store: Store
    relay: Relay
    scheduler: Scheduler
    smtp: asyncio.Server
    web: asyncio.Task[None]
    base_url: str
    inspector: Inspector
    stopped: list[object] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(self.smtp.sockets[0].getsockname()[1])

    def http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, follow_redirects=False, timeout=30)

    def copies_to(self, address: str) -> list[Received]:
        return [m for m in self.sink.user_mail(address)]

    def codes_to(self, address: str) -> list[str]:
        found = []
        for m in self.sink.notifications(address):
            text = text_of(m.message)
            if hit := re.search(r"確認コード: (\d{6})", text):
                found.append(hit.group(1))
        return found


def text_of(msg: email.message.Message) -> str:
    """Every text/plain part of a message, decoded, one after the other."""
    out = []
    for part in msg.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            out.append(
                payload.decode(part.get_content_charset() or "utf-8") if isinstance(payload, bytes) else ""
            )
    return "\n".join(out)


def links_in(received: Received) -> list[str]:
    return sorted(set(re.findall(r"http://127\.0\.0\.1:\d+/l/[A-Za-z0-9._-]+", text_of(received.message))))


async def start_stack(config: Config, sink: Sink, clock: Clock) -> Stack:
    store = await open_store(config.store, clock=clock)
    inspector = Inspector(PolicyHolder(config.policy.path), scan_time=config.scan.time, workers=0)
    relay = Relay(config, store, inspector, clock=clock)
    scheduler = Scheduler(relay, interval=config.scheduler.interval, clock=clock)
    await relay.start()
    server = build_server(relay.links, config.links.host, config.links.port)
    web = asyncio.create_task(server.serve())
    await serving(server, web)
    smtp = await start_server(config, relay.receive)
    stack = Stack(config, clock, sink, store, relay, scheduler, smtp, web, config.links.base_url, inspector)
    stack.stopped.append(server)
    return stack


async def stop_stack(stack: Stack) -> None:
    stack.smtp.close()
    await stack.smtp.wait_closed()
    for server in stack.stopped:
        server.should_exit = True  # type: ignore[attr-defined]
    await stack.web
    await stack.scheduler.stop()
    await stack.relay.stop()
    stack.inspector.close()
    await stack.store.close()


def links_config(tmp_path: Path, sink: Sink, *, store: str = "", extra: str = "") -> Config:
    tmp_path.mkdir(parents=True, exist_ok=True)
    port = free_port()
    links = f"links:\n  base_url: http://127.0.0.1:{port}\n  port: {port}\n  open_domains: [lists.example.org]\n{extra}"
    path = write_config(tmp_path, upstream_port=sink.port, extra=links)
    text = path.read_text(encoding="utf-8")
    if store:
        text = text.replace("store: {path:", f"store: {{url: '{store}', path:")
    path.write_text(
        text.replace("scheduler: {interval: 0.2s}", "scheduler: {interval: 3600s}"), encoding="utf-8"
    )
    config = load_config(path)
    config.policy.path.write_text(POLICY, encoding="utf-8")
    return config


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def stack(tmp_path: Path, sink: Sink, clock: Clock) -> AsyncIterator[Stack]:
    s = await start_stack(links_config(tmp_path, sink), sink, clock)
    yield s
    await stop_stack(s)


async def wait_state(store: Store, msg_id: str, state: State) -> None:
    async def there() -> bool:
        rec = await store.get(msg_id)
        return rec is not None and rec.state is state

    await eventually(there)


async def serving(server: object, task: asyncio.Task[None]) -> None:
    """Until a uvicorn server listens (or fails to start)."""

    async def up() -> bool:
        assert not task.done(), "the server did not start"
        return bool(server.started)  # type: ignore[attr-defined]

    await eventually(up)
