"""The download links end to end in headless Chromium (Debian's, driven by Playwright): real SMTP
into the real gateway, a real sink upstream, the download listener and the quarantine UI served by
uvicorn on the gateway's event loop (as ``sekimori run`` does). The recipient opens the link from
the copy the sink received, asks for a code, reads it from the code mail at the sink, and saves the
files; the sender takes a link back in the UI. Pages passed through are saved as screenshots
(``SEKIMORI_SCREENSHOTS``, as in ``tests/quarantine_ui/test_browser.py``)."""

from __future__ import annotations

import asyncio
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvloop
from playwright.sync_api import Browser, Page, expect, sync_playwright

from gateway.store import MessageRecord, State
from quarantine_ui.app import build_server as build_ui
from quarantine_ui.config import UIConfig
from tests.gateway.conftest import Sink, free_port, send
from tests.gateway.links.conftest import (
    CSV,
    INSIDE,
    PDF,
    SENDER,
    A,
    B,
    Clock,
    Stack,
    links_config,
    links_in,
    mail_with_files,
    start_stack,
    stop_stack,
)
from tests.quarantine_ui.test_browser import CHROMIUM, CHROMIUM_ARGS, PASSWORD

WITHIN = 30.0


@dataclass
class World:
    loop: asyncio.AbstractEventLoop
    stack: Stack
    ui_url: str

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(WITHIN)

    def wait(self, check: Callable[[], bool], what: str) -> None:
        """Poll until ``check`` holds; fail after WITHIN seconds (a bound, not a timing test)."""
        deadline = time.monotonic() + WITHIN
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"not reached within {WITHIN}s: {what}")
            time.sleep(0.1)

    def send(self, rcpts: list[str], subject: str) -> str:
        code, reply = self.call(send(self.stack.port, SENDER, rcpts, mail_with_files(rcpts, subject)))
        assert code == 250, reply
        msg_id = str(reply).rsplit(" ", 1)[-1]
        self.wait(lambda: self.record(msg_id).state is State.DELIVERED, "delivery")
        return msg_id

    def record(self, msg_id: str) -> MessageRecord:
        rec: MessageRecord | None = self.call(self.stack.store.get(msg_id))
        assert rec is not None
        return rec

    def link_url(self, who: str, subject: str) -> str:
        [copy] = [m for m in self.stack.copies_to(who) if m.message["Subject"] == subject]
        [url] = links_in(copy)
        return url

    def code_for(self, who: str, before: int) -> str:
        self.wait(lambda: len(self.stack.codes_to(who)) > before, f"code mail to {who}")
        return self.stack.codes_to(who)[-1]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("links-browser")
    loop = uvloop.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="gateway-loop", daemon=True)
    thread.start()

    def call(coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(WITHIN)

    sink = Sink(free_port())
    call(sink.start())
    config = links_config(tmp, sink)
    stack: Stack = call(start_stack(config, sink, Clock()))
    port = free_port()
    ui = build_ui(
        UIConfig(var_dir=config.store.path, secret=config.secret_bytes, secure_cookies=False),
        "127.0.0.1",
        port,
        stack.store,
        policy_path=config.policy.path,
        notifier=stack.relay.notifier,
    )
    app: Any = ui.config.app
    accounts = app.state.ui.accounts
    accounts.add_user(SENDER, "山田 太郎", ["sender"])
    accounts.set_password(SENDER, PASSWORD)
    served = asyncio.run_coroutine_threadsafe(ui.serve(), loop)
    deadline = time.monotonic() + WITHIN
    while not ui.started:
        assert time.monotonic() < deadline and not served.done(), "the UI did not start"
        time.sleep(0.05)
    try:
        yield World(loop, stack, f"http://127.0.0.1:{port}")
    finally:
        ui.should_exit = True
        served.result(WITHIN)
        call(stop_stack(stack))
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


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    wanted = os.environ.get("SEKIMORI_SCREENSHOTS")
    folder = Path(wanted) if wanted else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def recipient_page(browser: Browser, url: str, locale: str = "ja-JP") -> Page:
    ctx = browser.new_context(locale=locale, accept_downloads=True, viewport={"width": 1000, "height": 800})
    page = ctx.new_page()
    page.goto(url)
    return page


def save(page: Page, index: int) -> bytes:
    with page.expect_download() as info:
        page.locator(f"#file-{index} button.download").click()
    path = info.value.path()
    return Path(path).read_bytes()


def test_outside_recipient_proves_the_address_and_saves_both_files(
    world: World, browser: Browser, screenshots: Path
) -> None:
    subject = "見積書の送付"
    world.send([INSIDE, A, B], subject)
    a_url, b_url = world.link_url(A, subject), world.link_url(B, subject)
    page = recipient_page(browser, a_url)
    try:
        expect(page.locator("#sender")).to_have_text(SENDER)
        expect(page.locator("#files")).to_contain_text("数量表.csv")
        expect(page.locator("#files")).to_contain_text("見積書.pdf")
        expect(page.locator("#left")).to_have_text("5 回")
        assert page.context.cookies() == [], "the download pages set no cookie"
        page.screenshot(path=str(screenshots / "download.png"), full_page=True)
        before = len(world.stack.codes_to(A))
        page.click("#request button")
        expect(page.locator("#sent")).to_contain_text("t*****@partner.example")
        code_a = world.code_for(A, before)
        assert world.stack.codes_to(B) == []
        # B asks for a code on B's link; B's code does not open A's link.
        other = recipient_page(browser, b_url)
        other.click("#request button")
        code_b = world.code_for(B, 0)
        other.context.close()
        page.fill("#code", code_b)
        page.click("#verify button")
        expect(page.locator("p.error").first).to_contain_text("確認コードが違います")
        page.fill("#code", code_a)
        page.click("#verify button")
        expect(page.locator("#granted")).to_contain_text("確認できました")
        page.screenshot(path=str(screenshots / "download-granted.png"), full_page=True)
        assert save(page, 0) == CSV
        assert save(page, 1) == PDF
        page.goto(a_url)
        expect(page.locator("#left")).to_have_text("3 回")
    finally:
        page.context.close()


def test_the_sender_revokes_in_the_ui_and_the_recipient_is_refused(
    world: World, browser: Browser, screenshots: Path
) -> None:
    subject = "誤送信した資料"
    world.send([A], subject)
    url = world.link_url(A, subject)
    recipient = recipient_page(browser, url)
    sender_ctx = browser.new_context(
        base_url=world.ui_url, locale="ja-JP", viewport={"width": 1300, "height": 900}
    )
    try:
        before = len(world.stack.codes_to(A))
        recipient.click("#request button")
        recipient.fill("#code", world.code_for(A, before))
        recipient.click("#verify button")
        expect(recipient.locator("#granted")).to_be_visible()

        sender = sender_ctx.new_page()
        sender.goto("/login")
        sender.fill("input[name=address]", SENDER)
        sender.fill("input[name=password]", PASSWORD)
        sender.click("button[type=submit].primary")
        sender.click("#nav-links")
        row = sender.locator("tr.link", has_text=subject)
        expect(row).to_contain_text(A)
        expect(row).to_contain_text("有効")
        sender.screenshot(path=str(screenshots / "sender-links.png"), full_page=True)
        row.locator("form.revoke button").click()
        expect(sender.locator("#flash")).to_contain_text("リンクを取り消しました")
        expect(sender.locator("tr.link", has_text=subject)).to_contain_text("取り消し済み")

        # The page the recipient still has open: the next download is refused, in both languages.
        recipient.locator("#file-0 button.download").click()
        expect(recipient.locator("#message")).to_contain_text("送信者により取り消されました")
        recipient.goto(url + "?lang=en")
        expect(recipient.locator("#message")).to_contain_text("The sender has withdrawn this link")
    finally:
        recipient.context.close()
        sender_ctx.close()


def test_a_used_up_link_says_so_in_both_languages(world: World, browser: Browser) -> None:
    subject = "回数の上限"
    world.send([A], subject)
    url = world.link_url(A, subject)
    page = recipient_page(browser, url)
    try:
        before = len(world.stack.codes_to(A))
        page.click("#request button")
        page.fill("#code", world.code_for(A, before))
        page.click("#verify button")
        for _ in range(5):
            save(page, 1)
        page.goto(url)
        expect(page.locator("#message")).to_contain_text("ダウンロード回数の上限に達しました")
        page.click("#switch")
        expect(page.locator("#message")).to_contain_text("All the downloads of this link have been used")
        assert re.search(r"lang=en", page.url)
    finally:
        page.context.close()
