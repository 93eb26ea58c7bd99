"""Approval and coaching of uploads end to end, as ``sekimori run`` puts them together: the real
gateway (relay, scheduler, notifier, store) with the upload gate (embedded mitmproxy) and the
quarantine UI on one event loop, a real SMTP sink for the notices, the fake providers on
loopback, httpx through the proxy as the user's client, and headless Debian Chromium driven by
Playwright as the manager, under the shipped ``policies/default.yaml``.

On both store backends (SQLite, and a real redis-server), a bulk CSV upload is refused and sent
for approval; the manager approves it in the browser;
the same upload then passes, once; a changed file or another destination does not; after the
approval's validity it does not either. A warned user goes on with a reason through the signed
link of the 403 answer, and the retry passes with the reason in the audit trail.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pyotp
import pytest
import uvloop
from playwright.sync_api import Browser, Page, expect, sync_playwright

from gateway.config import load_config
from gateway.proxy.server import ProxyServer
from gateway.store import MessageRecord, State
from quarantine_ui.app import build_server
from quarantine_ui.config import UIConfig
from tests.gateway.conftest import Gateway, Sink, free_port, start_gateway, write_config
from tests.gateway.proxy import clients
from tests.gateway.proxy.conftest import Clock, default_policy_text, make_ca
from tests.gateway.proxy.fakes import FakeOrigin, MapHosts, OriginCerts
from tests.quarantine_ui.test_browser import CHROMIUM, CHROMIUM_ARGS

USER, MANAGER, SEC = "taro.yamada@example.co.jp", "hanako.sato@example.co.jp", "sec@example.co.jp"
PASSWORD = "correct horse battery staple"
WITHIN = 30.0


def customers(n: int = 60, extra: str = "") -> bytes:
    """A customer list: ``n`` people with an e-mail address and a phone number each."""
    rows = ["氏名,メールアドレス,電話番号"]
    rows += [f"顧客{i:03d},kokyaku{i:03d}@example.com,090-1234-{5000 + i:04d}" for i in range(n)]
    return ("\n".join(rows) + "\n" + extra).encode()


@dataclass
class Stack:
    loop: asyncio.AbstractEventLoop
    sink: Sink
    gateway: Gateway
    proxy: ProxyServer
    origin: FakeOrigin
    clock: Clock
    base_url: str
    secrets: dict[str, str]

    def call(self, coro: Any, within: float = WITHIN) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(within)

    def client(self) -> httpx.AsyncClient:
        import ssl

        from gateway.proxy import ca

        assert self.gateway.config.proxy is not None and self.gateway.config.proxy.ca is not None
        trust = ssl.create_default_context(cafile=str(self.gateway.config.proxy.ca / ca.CERT_ONLY))
        host, port = self.proxy.address
        return httpx.AsyncClient(proxy=f"http://{host}:{port}", verify=trust, timeout=WITHIN)

    def through_proxy(self, request: Callable[[httpx.AsyncClient], Any]) -> httpx.Response:
        async def go() -> httpx.Response:
            async with self.client() as c:
                response: httpx.Response = await request(c)
                return response

        found: httpx.Response = self.call(go())
        return found

    def record(self, ref: str) -> MessageRecord:
        rec: MessageRecord | None = self.call(self.gateway.store.get(ref))
        assert rec is not None
        return rec

    def wait(self, check: Callable[[], bool], what: str) -> None:
        """Poll until ``check`` holds; fail after WITHIN seconds (a bound, not a timing test)."""
        deadline = time.monotonic() + WITHIN
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"not reached within {WITHIN}s: {what}")
            time.sleep(0.1)

    def notices_to(self, address: str, about: str) -> list[str]:
        """The plain-text part of each notice to ``address`` about the item ``about``."""
        out = []
        for m in list(self.sink.messages):
            msg = m.message
            if address in m.rcpt_tos and msg["X-Sekimori-About"] == about:
                part = msg.get_body(("plain",))
                assert part is not None
                out.append(str(part.get_content()))
        return out


@pytest.fixture(scope="module", params=["sqlite", "redis"])
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The whole stack on the embedded store, then on the real redis-server (a database of its
    own, as a deployment of several instances would have)."""
    tmp = tmp_path_factory.mktemp(f"approvals-{request.param}")
    loop = uvloop.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="gateway-loop", daemon=True)
    thread.start()

    def call(coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(WITHIN)

    certs = OriginCerts.make(tmp / "origin")
    origin = FakeOrigin(certs)
    call(origin.start())
    sink = Sink(free_port())
    call(sink.start())
    proxy_section = f"""\
proxy:
  port: {free_port()}
  upstream_trust: {certs.ca_pem}
  limits: {{memory_body: 64KiB, inspect_max: 4MiB, session_ttl: 1h}}
  identity:
    networks: {{127.0.0.0/8: {USER}}}
"""
    written = write_config(tmp, upstream_port=sink.port, extra=proxy_section)
    if request.param == "redis":
        url = request.getfixturevalue("redis_server").url.rsplit("/", 1)[0] + "/11"
        text = written.read_text(encoding="utf-8")
        store_line = f"store: {{path: {tmp / 'var'}}}"
        assert store_line in text
        written.write_text(text.replace(store_line, f"store: {{path: {tmp / 'var'}, url: '{url}'}}"), "utf-8")
    config = load_config(written)
    config.policy.path.write_text(default_policy_text(), encoding="utf-8")
    make_ca(config)
    clock = Clock()
    gateway: Gateway = call(start_gateway(config, store_clock=clock))
    proxy = ProxyServer(
        config,
        store=gateway.store,
        inspector=gateway.inspector,
        clock=clock,
        extra_addons=[MapHosts(origin.port)],
        notices=gateway.relay.notifier,
    )
    call(proxy.start())
    port = free_port()
    ui_config = UIConfig(var_dir=config.store.path, secret=config.secret_bytes, secure_cookies=False)
    server = build_server(ui_config, "127.0.0.1", port, gateway.store, notifier=gateway.relay.notifier)
    app: Any = server.config.app
    accounts = app.state.ui.accounts
    # Serving first: the account events below (new users, enrolments) are then written to the
    # store on the loop it is used on, whichever thread makes the accounts.
    served: Future[None] = asyncio.run_coroutine_threadsafe(server.serve(), loop)
    deadline = time.monotonic() + WITHIN
    while not server.started:
        assert time.monotonic() < deadline and not served.done(), "the UI did not start"
        time.sleep(0.05)
    secrets: dict[str, str] = {}
    for address, name, roles in (
        (USER, "山田 太郎", ["sender"]),
        (MANAGER, "佐藤 花子", ["sender", "approver"]),
        (SEC, "情報セキュリティ担当", ["security_admin"]),
    ):
        user = accounts.add_user(address, name, roles)
        accounts.set_password(address, PASSWORD)
        if "sender" not in roles or "approver" in roles:
            enrolment = accounts.begin_enrolment(user.id)
            code = pyotp.TOTP(enrolment.secret).at(time.time() - 30)
            assert accounts.confirm_enrolment(user.id, code, "setup").ok
            secrets[address] = enrolment.secret
    try:
        yield Stack(loop, sink, gateway, proxy, origin, clock, f"http://127.0.0.1:{port}", secrets)
    finally:
        server.should_exit = True
        served.result(WITHIN)
        call(proxy.stop())
        call(gateway.stop())
        call(sink.stop())
        call(origin.stop())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(WITHIN)
        loop.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


class Users:
    """One logged-in browser context per person, kept for the module (a second factor code is
    accepted once, so each person logs in once)."""

    def __init__(self, browser: Browser, stack: Stack) -> None:
        self.browser = browser
        self.stack = stack
        self.pages: dict[str, Page] = {}

    def page(self, address: str) -> Page:
        if address in self.pages:
            return self.pages[address]
        ctx = self.browser.new_context(
            base_url=self.stack.base_url, locale="ja-JP", viewport={"width": 1200, "height": 900}
        )
        page = ctx.new_page()
        page.goto("/login")
        page.fill("input[name=address]", address)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit].primary")
        if address in self.stack.secrets:
            page.wait_for_url(re.compile(r"/login/mfa"))
            page.fill("input[name=code]", pyotp.TOTP(self.stack.secrets[address]).now())
            page.click("button[type=submit].primary")
        expect(page.locator("#me-address")).to_have_text(address)
        self.pages[address] = page
        return page

    def close(self) -> None:
        for page in self.pages.values():
            page.context.close()


@pytest.fixture(scope="module")
def users(browser: Browser, stack: Stack) -> Iterator[Users]:
    u = Users(browser, stack)
    yield u
    u.close()


def refused(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 403, r.text
    [item] = r.json()["items"]
    assert isinstance(item, dict)
    return item


def test_a_bulk_upload_passes_once_after_the_manager_approves_it_in_the_browser(
    stack: Stack, users: Users
) -> None:
    data = customers()
    first = refused(stack.through_proxy(lambda c: clients.box_direct(c, "顧客一覧.csv", data)))
    assert first["state"] == "pending_approval" and first["approval"]["requested_from"] == [MANAGER]
    assert (
        "承認されたら、同じファイルを同じアップロード先にもう一度アップロードすると通ります"
        in first["next"]["ja"]
    )
    assert stack.origin.providers.files["box"] == [], "the refused file never reached Box"
    ref = first["reference"]
    # The manager is asked by mail (with a signed link), the user told whom approval was asked of.
    stack.wait(lambda: bool(stack.notices_to(MANAGER, ref)), "the approval request")
    [asked] = stack.notices_to(MANAGER, ref)
    assert "顧客一覧.csv" in asked and "Box" in asked and "24 時間以内に 1 回まで" in asked
    assert re.search(r"http://127\.0\.0\.1:\d+/a/\S+", asked)
    stack.wait(lambda: bool(stack.notices_to(USER, ref)), "the user's notice")
    assert f"{MANAGER} に承認を依頼しました" in stack.notices_to(USER, ref)[0]

    # The manager approves in the browser, from the same list as mail approvals.
    page = users.page(MANAGER)
    page.goto("/approvals")
    card = page.locator(f"#approval-{ref}")
    expect(card).to_contain_text("顧客一覧.csv")
    expect(card).to_contain_text("Box")
    expect(card).to_contain_text("60")
    card.locator("textarea[name=comment]").fill("取引先への提出を確認しました")
    card.locator("button.approve").click()
    expect(page.locator("#flash")).to_contain_text("利用者は同じファイルをもう一度アップロードできます")
    approved = stack.record(ref)
    assert approved.state is State.APPROVED and approved.meta["pass"]["by"] == f"approver:{MANAGER}"
    stack.wait(lambda: len(stack.notices_to(USER, ref)) == 2, "the user told of the approval")
    told = stack.notices_to(USER, ref)[1]
    assert "が承認しました" in told and "もう一度アップロードすると通ります" in told
    # The user sees it on their page too.
    mine = users.page(USER)
    mine.goto("/messages?status=approved")
    expect(mine.locator(f"#msg-{ref}")).to_contain_text("顧客一覧.csv")

    changed = stack.through_proxy(
        lambda c: clients.box_direct(c, "顧客一覧.csv", customers(extra="追加,a@b.example,03-0000-0000\n"))
    )
    elsewhere = stack.through_proxy(lambda c: clients.dropbox_upload(c, "/顧客一覧.csv", data))
    again = stack.through_proxy(lambda c: clients.box_direct(c, "顧客一覧.csv", data))
    twice = stack.through_proxy(lambda c: clients.box_direct(c, "顧客一覧.csv", data))
    # Box answers 201 Created for the file that passed.
    assert (changed.status_code, elsewhere.status_code, again.status_code, twice.status_code) == (
        403,
        403,
        201,
        403,
    )
    assert [f.data for f in stack.origin.providers.files["box"]] == [data]
    assert stack.origin.providers.files["dropbox"] == []
    passed = stack.record(again.headers["x-sekimori-reference"])
    assert passed.state is State.PASSED and passed.meta["passed_by"] == ref
    assert stack.record(ref).state is State.EXPIRED, "used once, as granted"


def test_a_warned_user_goes_on_with_a_reason_and_the_retry_passes(stack: Stack, browser: Browser) -> None:
    invite = {"recipients": [{"email": "tanaka@new-partner.example"}], "roles": ["read"]}
    warned = refused(stack.through_proxy(lambda c: clients.graph_invite(c, "ITEM9", invite)))
    assert warned["state"] == "held" and [r["id"] for r in warned["rules"]] == ["warn-invite-new-domain"]
    link = urlsplit(warned["proceed_url"]).path
    ctx = browser.new_context(base_url=stack.base_url, locale="ja-JP")
    page = ctx.new_page()
    page.goto(link)
    expect(page.locator("#destination")).to_contain_text("OneDrive / SharePoint")
    page.fill("#justification", "新しい委託先の担当者に資料を共有します")
    page.click("button[type=submit].primary")
    expect(page.locator("p.notice")).to_contain_text("もう一度")
    ctx.close()
    again = stack.through_proxy(lambda c: clients.graph_invite(c, "ITEM9", invite))
    assert again.status_code == 200
    ref = warned["reference"]
    [went_on] = [
        e for e in stack.call(stack.gateway.store.audit_events(msg_id=ref)) if e.to_state == "approved"
    ]
    assert (went_on.actor, went_on.extra["justification"]) == (
        f"sender:{USER}",
        "新しい委託先の担当者に資料を共有します",
    )
    assert [s.path for s in stack.origin.providers.shares] == ["/v1.0/me/drive/items/ITEM9/invite"]


def test_an_approval_ends_with_its_validity(stack: Stack, users: Users) -> None:
    """Last in the module: it moves the gateway's clock a day on."""
    data = customers(55)
    ref = refused(stack.through_proxy(lambda c: clients.box_direct(c, "名簿.csv", data)))["reference"]
    page = users.page(MANAGER)
    page.goto(f"/messages/{ref}")
    page.click("#approve")
    expect(page.locator("#flash")).to_be_visible()
    assert stack.record(ref).state is State.APPROVED
    # The store and the scheduler keep the test's time: a day and an hour later (the UI approved in real time).
    stack.clock.advance(timedelta(hours=25).total_seconds())
    late = refused(stack.through_proxy(lambda c: clients.box_direct(c, "名簿.csv", data)))
    assert late["state"] == "pending_approval", "asked again: the approval no longer counts"
    stack.wait(lambda: stack.record(ref).state is State.EXPIRED, "the scheduler ending the approval")
    ended = [e for e in stack.call(stack.gateway.store.audit_events(msg_id=ref)) if e.to_state == "expired"]
    assert [(e.actor, e.reason) for e in ended] == [("scheduler", "approval validity ended")]
