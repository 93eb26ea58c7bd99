"""End to end in headless Chromium: real SMTP into the real gateway (relay, store, scheduler,
notifier, delivery) and a real aiosmtpd sink upstream, the UI served by uvicorn on the same event
loop (as ``sekimori run`` does), driven through Playwright. Debian's chromium is used; Playwright
downloads no browser. The pages the tests pass through are saved as PNG files: into the folder
named by ``SEKIMORI_SCREENSHOTS`` (``make screenshots`` uses docs/screenshots/, which the README
shows), otherwise into the test's temporary folder.
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyotp
import pytest
import uvloop
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from gateway.config import load_config
from gateway.store import MessageRecord, State
from quarantine_ui.app import build_server
from quarantine_ui.config import UIConfig
from tests.gateway.conftest import Gateway, Sink, free_port, make_mail, send, start_gateway, write_config

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "correct horse battery staple"
TARO, BOSS, SEC = "taro@example.co.jp", "boss@example.co.jp", "sec@example.co.jp"
WITHIN = 30.0

POLICY = """\
version: 1
organisation:
  internal_domains: [example.co.jp]
rules:
  - id: hold-external
    title: {ja: 社外宛て送信保留, en: Grace period for external mail}
    description:
      ja: 社外宛てのメールは 10 分間保留されます。その間は取り消しや即時送信ができます。
      en: External mail is held for 10 minutes; until then it can be cancelled or sent at once.
    when: {recipient_domain: {in: [hold.test, newrule.test]}}
    action: {type: hold, grace: 10m}
  - id: bulk-export-approval
    title: {ja: 個人情報の一括送信は上長承認, en: Bulk personal data needs the manager's approval}
    description:
      ja: 顧客名簿などの一括送信は上長の承認が必要です。
      en: Sending customer lists and similar bulk data needs the manager's approval.
    when: {recipient_domain: {in: [approval.test]}}
    action:
      type: approval
      approvers: [boss@example.co.jp]
      timeout: 1h
      on_timeout: reject
"""
NEW_RULE = """\
  - id: partner-quarantine
    title: {ja: 新規取引先宛ては隔離, en: Quarantine mail to the new partner}
    description:
      ja: 契約締結前の取引先への送信はセキュリティ担当が確認します。
      en: Mail to a partner without a contract yet is reviewed by the security team.
    when: {recipient_domain: {in: [newrule.test]}}
    action: quarantine
"""
CUSTOMERS = (
    "氏名,電話番号,住所\n"
    "山田 太郎,090-1234-5678,東京都千代田区丸の内1-1-1\n"
    "佐藤 花子,080-2345-6789,大阪府大阪市北区梅田2-2-2\n"
    "鈴木 一郎,070-3456-7890,愛知県名古屋市中村区名駅3-3-3\n"
)


def mail_with_csv(to: str, subject: str) -> bytes:
    import email.message
    import email.policy

    msg = email.message.EmailMessage(policy=email.policy.SMTP)
    msg["From"] = TARO
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content("顧客リストを送ります。ご確認ください。\n")
    msg.add_attachment(CUSTOMERS.encode("utf-8"), maintype="text", subtype="csv", filename="顧客リスト.csv")
    return msg.as_bytes()


@dataclass
class Stack:
    loop: asyncio.AbstractEventLoop
    sink: Sink
    gateway: Gateway
    base_url: str
    secrets: dict[str, str]
    policy_path: Path

    def call(self, coro: Any, within: float = WITHIN) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(within)

    def send(self, to: str, data: bytes) -> str:
        code, reply = self.call(send(self.gateway.port, TARO, [to], data))
        assert code == 250, reply
        return str(reply).rsplit(" ", 1)[-1]

    def record(self, msg_id: str) -> MessageRecord:
        rec: MessageRecord | None = self.call(self.gateway.store.get(msg_id))
        assert rec is not None
        return rec

    def wait(self, check: Callable[[], bool], what: str) -> None:
        """Poll until ``check`` holds; fail after WITHIN seconds (a bound, not a timing test)."""
        deadline = time.monotonic() + WITHIN
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"not reached within {WITHIN}s: {what}")
            time.sleep(0.1)

    def delivered_to(self, address: str) -> list[Any]:
        return [
            m for m in list(self.sink.messages) if address in m.rcpt_tos and not m.message["Auto-Submitted"]
        ]

    def notices_to(self, address: str) -> list[Any]:
        return [m for m in list(self.sink.messages) if address in m.rcpt_tos and m.message["Auto-Submitted"]]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("browser")
    loop = uvloop.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="gateway-loop", daemon=True)
    thread.start()

    def call(coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(WITHIN)

    sink = Sink(free_port())
    call(sink.start())
    config = load_config(write_config(tmp, upstream_port=sink.port))
    config.policy.path.write_text(POLICY, encoding="utf-8")
    gateway: Gateway = call(start_gateway(config))
    port = free_port()
    ui_config = UIConfig(var_dir=config.store.path, secret=config.secret_bytes, secure_cookies=False)
    server = build_server(
        ui_config,
        "127.0.0.1",
        port,
        gateway.store,
        policy_path=config.policy.path,
        notifier=gateway.relay.notifier,
        on_policy_change=gateway.inspector.reload_soon,
    )
    app: Any = server.config.app
    accounts = app.state.ui.accounts
    secrets: dict[str, str] = {}
    for address, name, roles in (
        (TARO, "山田 太郎", ["sender"]),
        (BOSS, "佐藤 部長", ["approver"]),
        (SEC, "情報セキュリティ担当", ["security_admin"]),
    ):
        user = accounts.add_user(address, name, roles)
        accounts.set_password(address, PASSWORD)
        if "sender" not in roles:
            enrolment = accounts.begin_enrolment(user.id)
            # Enrol with the previous time step, so that the browser's login may use the current one.
            code = pyotp.TOTP(enrolment.secret).at(time.time() - 30)
            assert accounts.confirm_enrolment(user.id, code, "setup").ok
            secrets[address] = enrolment.secret
    served: Future[None] = asyncio.run_coroutine_threadsafe(server.serve(), loop)
    deadline = time.monotonic() + WITHIN
    while not server.started:
        assert time.monotonic() < deadline and not served.done(), "the UI did not start"
        time.sleep(0.05)
    try:
        yield Stack(loop, sink, gateway, f"http://127.0.0.1:{port}", secrets, config.policy.path)
    finally:
        server.should_exit = True
        served.result(WITHIN)
        call(gateway.stop())
        call(sink.stop())
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
    """One logged-in browser context per person, kept for the module (each logs in once)."""

    def __init__(self, browser: Browser, stack: Stack) -> None:
        self.browser = browser
        self.stack = stack
        self.contexts: dict[str, BrowserContext] = {}

    def page(self, address: str) -> Page:
        if address not in self.contexts:
            ctx = self.browser.new_context(
                base_url=self.stack.base_url, locale="ja-JP", viewport={"width": 1200, "height": 900}
            )
            self.contexts[address] = ctx
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
            return page
        return self.contexts[address].pages[0]

    def close(self) -> None:
        for ctx in self.contexts.values():
            ctx.close()


@pytest.fixture(scope="module")
def users(browser: Browser, stack: Stack) -> Iterator[Users]:
    u = Users(browser, stack)
    yield u
    u.close()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    wanted = os.environ.get("SEKIMORI_SCREENSHOTS")
    folder = Path(wanted) if wanted else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def shot(page: Page, name: str, folder: Path) -> None:
    path = folder / name
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 0


def test_sender_cancels_a_held_message_and_it_is_never_delivered(
    stack: Stack, users: Users, screenshots: Path
) -> None:
    keep = stack.send("kyaku@hold.test", mail_with_csv("kyaku@hold.test", "御見積書の送付"))
    gone = stack.send(
        "wrong@hold.test", make_mail(sender=TARO, to=["wrong@hold.test"], subject="誤送信しそうなメール")
    )
    assert stack.record(gone).state is State.HELD
    page = users.page(TARO)
    page.goto("/messages")
    held = page.locator("#group-held")
    expect(held).to_contain_text("誤送信しそうなメール")
    # The countdown script (a static file, allowed by the CSP) ticks the time left.
    expect(held.locator(".countdown").first).to_have_text(re.compile(r"^送信まで残り \d+:\d\d$"))
    page.click(f"#msg-{keep} a")
    expect(page.locator("#attachments")).to_contain_text("顧客リスト.csv")
    expect(page.locator(".tag.external").first).to_have_text("社外")
    shot(page, "sender-message.png", screenshots)
    page.goto("/messages")
    shot(page, "sender.png", screenshots)
    page.click(f"#msg-{gone} a")
    page.click("#cancel")
    expect(page.locator("#flash")).to_contain_text("送信を取り消しました")
    expect(page.locator("#state")).to_have_text("取り消し済み")
    assert stack.record(gone).state is State.CANCELLED
    # The scheduler runs every 0.2 s; let it pass over the queue a few times. The message is in a
    # terminal state and its cancellation is audited with the sender as actor.
    stack.call(asyncio.sleep(1))
    assert stack.delivered_to("wrong@hold.test") == []
    events = stack.call(stack.gateway.store.audit_events(msg_id=gone))
    assert [(e.actor, e.to_state) for e in events if e.to_state == "cancelled"] == [
        (f"sender:{TARO}", "cancelled")
    ]


def test_the_link_in_the_hold_notification_cancels_in_two_clicks(stack: Stack, browser: Browser) -> None:
    msg_id = stack.send(
        "typo@hold.test", make_mail(sender=TARO, to=["typo@hold.test"], subject="宛先を間違えた")
    )

    def notice() -> Any:
        for m in stack.notices_to(TARO):
            if msg_id in m.text and "【送信を取り消す】" in m.text:
                return m
        return None

    stack.wait(lambda: notice() is not None, "hold notification")
    url = re.search(r"【送信を取り消す】\n(\S+)", notice().text)
    assert url is not None
    # The HTML part carries the same signed link as a button.
    assert f'href="{url.group(1)}"' in notice().html
    path = urlsplit(url.group(1)).path
    # No login: the signed link is the credential. Click 1 opens it, click 2 confirms.
    ctx = browser.new_context(base_url=stack.base_url, locale="ja-JP")
    try:
        page = ctx.new_page()
        page.goto(path)
        expect(page.locator("#subject")).to_have_text("宛先を間違えた")
        assert stack.record(msg_id).state is State.HELD
        page.click("button[type=submit].primary")
        expect(page.locator("h1")).to_have_text("送信を取り消しました")
        expect(page.locator("p.notice")).to_contain_text("送信を取り消しました")
        assert stack.record(msg_id).state is State.CANCELLED
        page.goto(path)
        expect(page.locator("p.error")).to_contain_text("すでに使用されています")
    finally:
        ctx.close()


def test_sender_sends_now_and_the_sink_receives_it(stack: Stack, users: Users) -> None:
    msg_id = stack.send("now@hold.test", make_mail(sender=TARO, to=["now@hold.test"], subject="急ぎの連絡"))
    page = users.page(TARO)
    page.goto(f"/messages/{msg_id}")
    page.click("#send-now")
    expect(page.locator("#flash")).to_contain_text("送信を開始しました")
    stack.wait(lambda: len(stack.delivered_to("now@hold.test")) == 1, "send-now delivery")
    assert stack.delivered_to("now@hold.test")[0].message["Subject"] == "急ぎの連絡"
    stack.wait(lambda: stack.record(msg_id).state is State.DELIVERED, "delivered state")


def test_manager_approves_one_bulk_export_and_rejects_another(
    stack: Stack, users: Users, screenshots: Path
) -> None:
    first = stack.send(
        "partner@approval.test", mail_with_csv("partner@approval.test", "顧客名簿 (承認してください)")
    )
    second = stack.send("other@approval.test", mail_with_csv("other@approval.test", "顧客名簿 (別の宛先)"))
    taro = users.page(TARO)
    taro.goto(f"/messages/{first}")
    taro.fill("#justification", "契約に基づく名簿の共有です。")
    taro.click("#justify")
    expect(taro.locator("#flash")).to_contain_text("申請理由を送りました")
    page = users.page(BOSS)
    page.goto("/approvals")
    card = page.locator(f"#approval-{first}")
    expect(card).to_contain_text("契約に基づく名簿の共有です。")
    expect(card).to_contain_text(TARO)
    expect(card).to_contain_text("電話番号")
    shot(page, "approver.png", screenshots)
    card.locator("textarea").fill("確認しました")
    card.locator("button.approve").click()
    expect(page.locator("#flash")).to_contain_text("承認しました")
    stack.wait(lambda: len(stack.delivered_to("partner@approval.test")) == 1, "approved delivery")
    other = page.locator(f"#approval-{second}")
    other.locator("textarea").fill("宛先に名簿を送る理由がありません")
    other.locator("button.reject").click()
    expect(page.locator("#flash")).to_contain_text("却下しました")
    assert stack.record(second).state is State.REJECTED
    # The sender is told, by a notification through the same relay.
    stack.wait(
        lambda: any("宛先に名簿を送る理由がありません" in m.text for m in stack.notices_to(TARO)),
        "rejection notice to the sender",
    )
    assert stack.delivered_to("other@approval.test") == []


def test_admin_edits_policy_simulates_activates_and_the_next_message_follows(
    stack: Stack, users: Users, screenshots: Path
) -> None:
    before = stack.send(
        "a@newrule.test", make_mail(sender=TARO, to=["a@newrule.test"], subject="新規取引先へ")
    )
    assert stack.record(before).state is State.HELD
    page = users.page(SEC)
    page.goto("/policy")
    editor = page.locator("#policy-text")
    expect(editor).to_have_value(POLICY)
    editor.fill(POLICY + "  - id: broken\n    title: x\n")
    page.click("#validate")
    expect(page.locator("#policy-errors")).to_contain_text("行目")
    editor = page.locator("#policy-text")
    editor.fill(POLICY + NEW_RULE)
    page.click("#simulate")
    simulation = page.locator("#simulation")
    expect(simulation).to_contain_text("新規取引先へ")
    expect(simulation).to_contain_text("quarantine")
    expect(simulation).to_contain_text("新規取引先宛ては隔離")
    shot(page, "admin-policy.png", screenshots)
    page.fill("#policy-comment", "新規取引先の確認")
    page.click("#activate")
    expect(page.locator("#flash")).to_contain_text("新しいポリシーを有効にしました")
    expect(page.locator("#active-version")).to_be_visible()
    assert "partner-quarantine" in stack.policy_path.read_text(encoding="utf-8")
    after = stack.send(
        "b@newrule.test", make_mail(sender=TARO, to=["b@newrule.test"], subject="ルール変更後")
    )
    assert stack.record(after).state is State.QUARANTINED
    page.goto("/admin")
    expect(page.locator("#queue-quarantined")).to_contain_text("ルール変更後")
    shot(page, "admin.png", screenshots)
    page.goto(f"/messages/{after}")
    expect(page.locator("#mail-body")).to_be_visible()
    shot(page, "admin-review.png", screenshots)
    page.goto("/dashboard")
    expect(page.locator("svg.chart").first).to_be_visible()
    shot(page, "dashboard.png", screenshots)


def test_language_switch(stack: Stack, users: Users) -> None:
    page = users.page(TARO)
    page.goto("/messages")
    expect(page.locator("h1")).to_have_text("自分のメール")
    page.click("a.lang")
    expect(page.locator("h1")).to_have_text("My mail")
    assert page.locator("html").get_attribute("lang") == "en"
    page.goto("/")  # the choice is remembered
    expect(page.locator("nav a[href='/messages']")).to_have_text("My mail")
    page.click("a.lang")
    expect(page.locator("nav a[href='/messages']")).to_have_text("自分のメール")
