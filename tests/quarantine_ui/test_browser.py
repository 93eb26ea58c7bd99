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
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize, expect, sync_playwright

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
NEWBOSS = "newboss@example.co.jp"
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
  - id: review-partner
    title: {ja: 審査中の取引先宛ては確認, en: Mail to a partner under review is checked}
    description:
      ja: 審査中の取引先への送信は情報セキュリティ担当が確認します。
      en: The security team checks mail to a partner under review.
    when: {recipient_domain: {in: [review.test]}}
    action: quarantine
  - id: mark-personal-data
    title: {ja: 個人情報を含む社外宛てメールに印を付ける, en: Mark external mail with personal data}
    description:
      ja: 社外宛てで個人情報を含むメールにヘッダーを付けます。
      en: External mail with personal data gets a header.
    when:
      all:
        - recipients: external
        - any:
            - entity: {type: [phone_number, address, person_name], min_score: 0.5}
            - records: {at_least: 1}
            - new_domain: true
    action: {type: tag, headers: {X-Personal-Data: "yes"}}
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
    versions: Path

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
        policy_versions=config.policy.versions,
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
        (NEWBOSS, "鈴木 課長", ["approver"]),
    ):
        user = accounts.add_user(address, name, roles)
        accounts.set_password(address, PASSWORD)
        if "sender" not in roles and address != NEWBOSS:  # NEWBOSS enrols in a test
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
        assert config.policy.versions is not None
        yield Stack(
            loop,
            sink,
            gateway,
            f"http://127.0.0.1:{port}",
            secrets,
            config.policy.path,
            config.policy.versions,
        )
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
    held = page.locator(f"#msg-{gone}")
    expect(held).to_contain_text("誤送信しそうなメール")
    expect(held.locator(".state")).to_have_text("送信保留中")
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
    # The list tells a cancelled message from a sent one, and filters by state.
    page.goto("/messages")
    expect(page.locator(f"#msg-{gone} .state")).to_have_text("取り消し済み")
    page.click("#filter-cancelled")
    expect(page.locator(f"#msg-{gone}")).to_be_visible()
    expect(page.locator(f"#msg-{keep}")).to_have_count(0)
    page.click("#filter-held")
    expect(page.locator(f"#msg-{keep} .state")).to_have_text("送信保留中")
    expect(page.locator(f"#msg-{gone}")).to_have_count(0)
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
    expect(simulation).to_contain_text("隔離")
    expect(simulation).to_contain_text("新規取引先宛ては隔離")
    shot(page, "admin-policy.png", screenshots)
    page.fill("#policy-comment", "新規取引先の確認")
    page.click("#activate")
    expect(page.locator("#flash")).to_contain_text("新しいポリシーを有効にしました")
    expect(page.locator("#active-version")).to_be_visible()
    # The version in force is kept apart; the configured policy file is never rewritten.
    assert "partner-quarantine" not in stack.policy_path.read_text(encoding="utf-8")
    assert "partner-quarantine" in (stack.versions / "active.yaml").read_text(encoding="utf-8")
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


# -- What people see: notices' buttons, decision first, a phone, the QR code, all in Japanese --------

PHONE: ViewportSize = {"width": 390, "height": 844}
DESKTOP: ViewportSize = {"width": 1280, "height": 800}


def many_people_csv(rows: int) -> bytes:
    lines = ["氏名,電話番号"]
    lines += [f"山田 太郎{i},090-{1000 + i:04d}-{5678:04d}" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode("utf-8")


def mail_with(to: str, subject: str, csv: bytes, name: str = "顧客リスト.csv") -> bytes:
    import email.message
    import email.policy

    msg = email.message.EmailMessage(policy=email.policy.SMTP)
    msg["From"], msg["To"], msg["Subject"] = TARO, to, subject
    msg.set_content("名簿を送ります。\n")
    msg.add_attachment(csv, maintype="text", subtype="csv", filename=name)
    return msg.as_bytes()


def no_horizontal_overflow(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.evaluate("window.innerWidth")
    assert width <= viewport, f"{page.url}: {width}px wide in a {viewport}px window"


def notice(stack: Stack, to: str, msg_id: str, marker: str) -> Any:
    found: list[Any] = []

    def check() -> bool:
        found[:] = [m for m in stack.notices_to(to) if msg_id in m.text and marker in m.text]
        return bool(found)

    stack.wait(check, f"notice {marker} for {msg_id}")
    return found[0]


def test_the_buttons_of_notices_open_the_pages_they_name(
    stack: Stack, browser: Browser, users: Users
) -> None:
    # The approval request's HTML button is the signed link; approving by it needs the
    # approver's login with the second factor, and comes back to the link afterwards.
    users.page(BOSS)  # Boss's usual session took its code: the link's login uses a later one
    msg_id = stack.send("p@approval.test", mail_with_csv("p@approval.test", "名簿（ボタンで承認）"))
    request = notice(stack, BOSS, msg_id, "【承認する】")
    button = re.search(r'<a href="([^"]+)"[^>]*>承認する</a>', request.html)
    assert button is not None and f"【承認する】\n{button.group(1)}" in request.text
    path = urlsplit(button.group(1)).path
    ctx = browser.new_context(base_url=stack.base_url, locale="ja-JP", viewport=PHONE)
    try:
        page = ctx.new_page()
        page.goto(path)
        # Whoever reads the manager's mail is sent to the login, not to the button.
        page.wait_for_url(re.compile(r"/login\?next="))
        assert stack.record(msg_id).state is State.PENDING_APPROVAL
        page.fill("input[name=address]", BOSS)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit].primary")
        page.wait_for_url(re.compile(r"/login/mfa"))
        page.fill("input[name=code]", pyotp.TOTP(stack.secrets[BOSS]).at(time.time() + 30))
        page.click("button[type=submit].primary")
        page.wait_for_url(re.compile(re.escape(path) + "$"))
        expect(page.locator("h1")).to_have_text("送信を承認する")
        expect(page.locator("#signed-in")).to_contain_text(BOSS)
        no_horizontal_overflow(page)
        page.fill("#comment", "確認しました")
        page.click("button[type=submit].primary")
        expect(page.locator("h1")).to_have_text("承認しました")
    finally:
        ctx.close()
    stack.wait(lambda: len(stack.delivered_to("p@approval.test")) == 1, "approved delivery")
    told = notice(stack, TARO, msg_id, "承認しました")
    assert "確認しました" in told.text
    events = stack.call(stack.gateway.store.audit_events(msg_id=msg_id))
    assert [
        (e.actor, e.to_state, e.extra.get("via"))
        for e in events
        if e.action == "transition" and e.from_state == "pending_approval"
    ] == [(f"approver:{BOSS}", "delivering", "link")]
    assert "sender told of approval" in [e.reason for e in events if e.action == "notify"]
    # The quarantine notice's button leads the sender to the page where they say why.
    held = stack.send(
        "q@review.test", make_mail(sender=TARO, to=["q@review.test"], subject="審査中の取引先へ")
    )
    quarantined = notice(stack, TARO, held, "【送信が必要な理由を入力する】")
    link = re.search(r'<a href="([^"]+)"[^>]*>送信が必要な理由を入力する</a>', quarantined.html)
    assert link is not None and urlsplit(link.group(1)).path == f"/messages/{held}"
    page = users.page(TARO)
    page.goto(urlsplit(link.group(1)).path)
    page.fill("#justification", "契約締結済みです。")
    page.click("#justify")
    expect(page.locator("#flash")).to_contain_text("申請理由を送りました")


def test_the_approver_decides_above_the_fold_with_the_evidence_collapsed(
    stack: Stack, users: Users, screenshots: Path
) -> None:
    msg_id = stack.send(
        "big@approval.test", mail_with("big@approval.test", "顧客名簿 150 件", many_people_csv(150))
    )
    page = users.page(BOSS)
    for size, name in ((DESKTOP, "approver-message.png"), (PHONE, "approver-message-phone.png")):
        page.set_viewport_size(size)
        page.goto(f"/messages/{msg_id}")
        approve = page.locator("#approve")
        box = approve.bounding_box()
        assert box is not None and box["y"] + box["height"] <= size["height"], (
            f"approve below the fold: {box}"
        )
        expect(page.locator("#reject")).to_be_visible()
        expect(page.locator("#records")).to_contain_text("人分")
        # The evidence table is collapsed, and paginated when opened.
        expect(page.locator("#findings table")).not_to_be_visible()
        page.click("#findings summary")
        rows = page.locator("#findings tbody tr")
        expect(rows).to_have_count(50)
        expect(page.locator("#findings .pager")).to_contain_text("1 / ")
        no_horizontal_overflow(page)
        shot(page, name, screenshots)
    page.click("#findings .pager a.next")
    expect(page.locator("#findings")).to_have_attribute("open", "")
    expect(page.locator("#findings .pager")).to_contain_text("2 / ")
    page.set_viewport_size(DESKTOP)


PAGES = {
    TARO: ["/", "/messages", "/messages?status=waiting", "/messages?status=sent"],
    BOSS: ["/approvals"],
    SEC: ["/admin", "/policy", "/dashboard", "/audit"],
}


def test_every_page_fits_a_phone_and_the_audit_table_its_card(
    stack: Stack, users: Users, screenshots: Path
) -> None:
    one = stack.send("w@hold.test", mail_with("w@hold.test", "幅の確認", many_people_csv(3)))
    for who, paths in {**PAGES, TARO: [*PAGES[TARO], f"/messages/{one}"]}.items():
        page = users.page(who)
        for size in (PHONE, DESKTOP):
            page.set_viewport_size(size)
            for path in paths:
                page.goto(path)
                no_horizontal_overflow(page)
                if size is PHONE:
                    # The header wraps by words: no link or button is broken over lines.
                    for item in page.locator("header.bar nav > a, header.bar nav button").all():
                        box = item.bounding_box()
                        assert box is not None and box["height"] < 40, f"{path}: a header item wraps"
                    if path in ("/messages", "/approvals"):
                        shot(page, f"phone-{path.strip('/')}.png", screenshots)
        page.set_viewport_size(DESKTOP)
    page = users.page(SEC)
    page.goto("/audit")
    table, card = page.locator("table.audit"), page.locator("table.audit").locator("xpath=..")
    assert table.evaluate("t => t.scrollWidth") <= card.evaluate("c => c.clientWidth")
    page.screenshot(path=str(screenshots / "audit.png"))  # the first screen: the table is long


def test_totp_enrolment_shows_a_qr_code_of_the_key(stack: Stack, browser: Browser, screenshots: Path) -> None:
    import segno

    ctx = browser.new_context(base_url=stack.base_url, locale="ja-JP", viewport=PHONE)
    blocked: list[str] = []
    try:
        page = ctx.new_page()
        page.on("console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None)
        page.goto("/login")
        page.fill("input[name=address]", NEWBOSS)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit].primary")
        page.wait_for_url(re.compile(r"/mfa/enrol"))
        qr = page.locator("svg#qr")
        expect(qr).to_be_visible()
        uri = page.locator("#uri").text_content() or ""
        assert uri.startswith("otpauth://totp/")
        # The code drawn is the key shown: the same modules segno draws for that URI.
        drawn = qr.locator("path").get_attribute("d")
        expected = segno.make(uri, error="m").svg_inline(lineclass=None, omitsize=True)
        assert drawn is not None and f'd="{drawn}"' in expected
        no_horizontal_overflow(page)
        shot(page, "enrol-qr.png", screenshots)
        secret = (page.locator("#secret").text_content() or "").replace(" ", "")
        page.fill("input[name=code]", pyotp.TOTP(secret).now())
        page.click("button[type=submit].primary")
        expect(page.locator("#me-address")).to_have_text(NEWBOSS)
    finally:
        ctx.close()
    assert blocked == [], "the QR code needs nothing the CSP forbids"
    events = stack.call(stack.gateway.store.audit_events(msg_id="accounts"))
    assert ("mfa_enrolled", NEWBOSS) in [(e.action, e.extra.get("address")) for e in events]


#: A message id of the catalogue shown as such (an untranslated key).
MESSAGE_ID = re.compile(
    r"\b(?:app|nav|login|mfa|enrol|home|role|link|error|messages|mail|notice|approvals|delegation|admin"
    r"|policy|dashboard|audit|state|action|entity|pager|header)\.[a-z_]+"
)
#: Words of the data that a Japanese page must show translated.
ENGLISH_WORDS = re.compile(
    r"\b(?:body|subject|row \d+|cell [A-Z]+\d+|page \d+|deliver|delivered|quarantine|quarantined|block"
    r"|hold|held|approval|pending_approval|transition|notify|accept|cancelled|rejected|refused|external"
    r"|recipients?|records?|sender told|policy|notification|upstream|scheduler|operator|admin)\b",
    re.IGNORECASE,
)


def english_evidence() -> list[str]:
    """The fixed words of every evidence sentence in English (before its first placeholder)."""
    from policies.explain import DETAILS

    return [en.split("{")[0].strip(" :(") for _, en in DETAILS.values() if len(en.split("{")[0].strip()) >= 6]


def test_every_page_reads_in_japanese(stack: Stack, users: Users) -> None:
    """Every page, as each role, on messages of every kind: no catalogue key shown as such, no
    evidence sentence, location, action, state or audit word in English."""
    ids = [
        stack.send("j1@hold.test", mail_with("j1@hold.test", "日本語の確認（保留）", many_people_csv(3))),
        stack.send(
            "j2@approval.test", mail_with("j2@approval.test", "日本語の確認（承認）", many_people_csv(4))
        ),
        stack.send(
            "j3@review.test", mail_with("j3@review.test", "日本語の確認（確認待ち）", many_people_csv(2))
        ),
    ]
    rule_ids = re.findall(r"- id: ([\w-]+)", POLICY + NEW_RULE)
    visits = {
        TARO: ["/", "/messages", *[f"/messages/{i}" for i in ids]],
        BOSS: ["/", "/approvals", f"/messages/{ids[1]}?page=1"],
        SEC: ["/", "/admin", "/policy", "/dashboard", "/audit", *[f"/messages/{i}?page=1" for i in ids]],
    }
    evidence = english_evidence()
    problems: list[str] = []
    for who, paths in visits.items():
        page = users.page(who)
        for path in paths:
            page.goto(path)
            expect(page.locator("html")).to_have_attribute("lang", "ja")
            for opened in page.locator("details").all():
                opened.evaluate("d => d.open = true")
            text = page.evaluate(
                "() => { const m = document.querySelector('main').cloneNode(true);"
                " m.querySelectorAll('.mail-content, textarea, pre').forEach(e => e.remove());"
                " return m.innerText; }"
            )
            for rid in rule_ids:
                text = text.replace(rid, "")
            # Data, not words: addresses, domains and file names, paths.
            text = re.sub(r"[\w.+-]+@[\w.-]+|\S*/\S*|\b[\w-]+(?:\.[\w-]+)+\b", " ", text)
            problems += [f"{who} {path}: key {k}" for k in MESSAGE_ID.findall(text)]
            problems += [f"{who} {path}: evidence {e!r}" for e in evidence if e.lower() in text.lower()]
            problems += [f"{who} {path}: word {w!r}" for w in ENGLISH_WORDS.findall(text)]
    assert not problems, "\n".join(sorted(set(problems)))
