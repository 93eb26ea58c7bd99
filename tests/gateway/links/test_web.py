"""The download listener over real sockets: a real SMTP client sends, a real sink receives the
copies and the code mails, a real HTTP client opens the links."""

from __future__ import annotations

import asyncio
import io
import logging
import re
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import pyzipper
import redis

from gateway import actions
from gateway.audit import verify_store
from gateway.config import Config
from gateway.links.facts import LinkFacts
from gateway.links.rules import LOCK_AFTER
from gateway.links.service import follow_links, human_size
from gateway.store import ItemKind, MessageRecord, SQLiteStore, State
from quarantine_ui.app import build_server as build_ui
from quarantine_ui.config import UIConfig
from tests.gateway.conftest import Sink, free_port, queue_id, send
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
    serving,
    start_stack,
    stop_stack,
    wait_state,
)
from tests.gateway.redis_server import RedisServer


async def deliver(stack: Stack, rcpts: list[str], **kw: object) -> str:
    code, reply = await send(stack.port, SENDER, rcpts, mail_with_files(rcpts, **kw))  # type: ignore[arg-type]
    assert code == 250, reply
    msg_id = queue_id(reply)
    await wait_state(stack.store, msg_id, State.DELIVERED)
    return msg_id


def path_of(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def link_path(stack: Stack, who: str) -> str:
    [copy] = stack.copies_to(who)
    [url] = links_in(copy)
    return path_of(url)


async def link_of(stack: Stack, path: str) -> MessageRecord:
    rec = await stack.relay.links.find(path.rsplit("/", 1)[1])
    assert rec is not None
    return rec


async def code_for(stack: Stack, client: httpx.AsyncClient, path: str, who: str) -> str:
    before = len(stack.codes_to(who))
    page = await client.post(f"{path}/code", data={"lang": "ja"})
    assert page.status_code == 200, page.text
    assert "確認コードをお送りしました" in page.text
    await stack.sink.wait_for(lambda: len(stack.codes_to(who)) > before)
    return stack.codes_to(who)[-1]


def grant_in(page: httpx.Response) -> str:
    found = re.search(r'name="grant" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


async def test_the_recipient_proves_the_address_and_downloads_both_files(stack: Stack) -> None:
    msg_id = await deliver(stack, [INSIDE, A, B])
    a_path, b_path = link_path(stack, A), link_path(stack, B)
    async with stack.http() as client:
        page = await client.get(a_path)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        for shown in (
            SENDER,
            "数量表.csv",
            "見積書.pdf",
            "残りのダウンロード回数",
            "5 回",
            "有効期限",
            "t*****@partner.example",
            human_size(len(CSV)),
            human_size(len(PDF)),
        ):
            assert shown in page.text, shown
        assert "ファイルのダウンロード" in page.text
        english = await client.get(a_path, params={"lang": "en"})
        assert "Downloads left" in english.text and "Email me a code" in english.text

        code_a = await code_for(stack, client, a_path, A)
        code_mails = [m for m in stack.sink.notifications(A)]
        assert [m.rcpt_tos for m in code_mails] == [[A]], "the code goes to A and no one else"
        assert code_a not in code_mails[0].message["Subject"]
        code_b = await code_for(stack, client, b_path, B)
        assert stack.codes_to(INSIDE) == [] and stack.codes_to(SENDER) == []

        wrong = await client.post(f"{a_path}/verify", data={"code": code_b, "lang": "ja"})
        assert wrong.status_code == 400 and "確認コードが違います" in wrong.text
        assert 'name="grant"' not in wrong.text

        granted = await client.post(f"{a_path}/verify", data={"code": code_a, "lang": "ja"})
        assert granted.status_code == 200 and "確認できました" in granted.text
        grant = grant_in(granted)
        got = {}
        for index, name in ((0, "数量表.csv"), (1, "見積書.pdf")):
            file = await client.post(f"{a_path}/files/{index}", data={"grant": grant})
            assert file.status_code == 200
            assert file.headers["content-type"] == "application/octet-stream"
            assert "attachment;" in file.headers["content-disposition"]
            assert httpx.QueryParams({"n": name}).get("n") == name
            got[name] = file.content
        assert got == {"数量表.csv": CSV, "見積書.pdf": PDF}, "byte for byte what was attached"
        again = await client.get(a_path)
        assert "3 回" in again.text

    link = await link_of(stack, a_path)
    events = await stack.store.audit_events(msg_id=link.id)
    steps = [e.action for e in events]
    assert steps == [
        "create",
        "link_code",
        "notify",
        "link_code_failed",
        "link_code_ok",
        "link_download",
        "notify",  # the sender told of the first download
        "link_download",
    ]
    downloads = [e for e in events if e.action == "link_download"]
    assert [(e.extra["recipient"], e.extra["ip"], e.extra["file"]) for e in downloads] == [
        (A, "127.0.0.1", "数量表.csv"),
        (A, "127.0.0.1", "見積書.pdf"),
    ]
    import hashlib

    assert downloads[1].extra["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert all(e.actor == f"recipient:{A}" for e in events[1:] if e.action.startswith("link_"))
    assert LinkFacts.of(link).downloads == 2
    assert code_a not in str([e.extra for e in events]), "never a code in the audit trail"
    first = [
        m for m in stack.sink.notifications(SENDER) if "ダウンロードされました" in str(m.message["Subject"])
    ]
    assert len(first) == 1, "the sender is told of the first download, once"
    made = [e for e in await stack.store.audit_events(msg_id=msg_id) if e.action == "links"]
    assert len(made) == 1 and made[0].extra["links"][A] == link.id, "the links' creation, on the mail"
    assert (await verify_store(stack.store)).ok, "every step is in the one hash chain"


async def test_used_up_and_expired_links_say_so_in_both_languages(stack: Stack) -> None:
    await deliver(stack, [A, B])
    a_path, b_path = link_path(stack, A), link_path(stack, B)
    async with stack.http() as client:
        granted = await client.post(
            f"{a_path}/verify", data={"code": await code_for(stack, client, a_path, A)}
        )
        grant = grant_in(granted)
        for _ in range(5):
            assert (await client.post(f"{a_path}/files/0", data={"grant": grant})).status_code == 200
        assert (await link_of(stack, a_path)).state is State.EXHAUSTED
        sixth = await client.post(f"{a_path}/files/1", data={"grant": grant})
        assert sixth.status_code == 410 and "ダウンロード回数の上限に達しました" in sixth.text
        en = await client.get(a_path, params={"lang": "en"})
        assert en.status_code == 410 and "All the downloads of this link have been used" in en.text

        stack.clock.skip(days=7, minutes=1)
        ja = await client.get(b_path)
        assert ja.status_code == 410 and "有効期限が切れています" in ja.text
        en = await client.get(b_path, params={"lang": "en"})
        assert en.status_code == 410 and "This link has expired" in en.text
        assert (await client.post(f"{b_path}/code")).status_code == 410
    assert stack.codes_to(B) == []
    # The scheduler closes the link and, with no link of the message open, removes the files.
    await stack.scheduler.tick()
    assert (await link_of(stack, b_path)).state is State.EXPIRED
    files = await stack.store.list_messages(kinds={ItemKind.FILE})
    assert {f.state for f in files} == {State.DELETED}
    assert not any(f.has_raw for f in files)


async def test_the_sender_revokes_and_the_next_download_is_refused(stack: Stack) -> None:
    await deliver(stack, [A])
    path = link_path(stack, A)
    async with stack.http() as client:
        grant = grant_in(
            await client.post(f"{path}/verify", data={"code": await code_for(stack, client, path, A)})
        )
        assert (await client.post(f"{path}/files/0", data={"grant": grant})).status_code == 200
        link = await link_of(stack, path)
        await actions.perform(
            stack.store,
            link,
            "revoke",
            actions.Actor(actions.Role.SENDER, SENDER),
            now=stack.clock(),
            via="web",
        )
        refused = await client.post(f"{path}/files/1", data={"grant": grant})
        assert refused.status_code == 410 and "送信者により取り消されました" in refused.text
        assert (await client.get(path, params={"lang": "en"})).status_code == 410
    revoked = [e for e in await stack.store.audit_events(msg_id=link.id) if e.to_state == "revoked"]
    assert [(e.actor, e.reason) for e in revoked] == [(f"sender:{SENDER}", "link revoked")]


async def take(stack: Stack, path: str, action: str, **kw: object) -> MessageRecord:
    """The sender takes ``action`` on the link at ``path``, as the UI does."""
    return await actions.perform(
        stack.store,
        await link_of(stack, path),
        action,
        actions.Actor(actions.Role.SENDER, SENDER),
        now=stack.clock(),
        via="web",
        **kw,  # type: ignore[arg-type]
    )


async def kept_files(stack: Stack) -> list[MessageRecord]:
    return await stack.store.list_messages(kinds={ItemKind.FILE})


async def test_revoking_every_link_removes_the_files_at_once(stack: Stack) -> None:
    """A mis-sent mail: once no link can open its attachments, they are not kept at rest for
    the week the links were made for."""
    await deliver(stack, [A, B])
    a_path, b_path = link_path(stack, A), link_path(stack, B)
    await take(stack, a_path, "revoke")
    files = await kept_files(stack)
    assert len(files) == 2 and {(f.state, f.has_raw) for f in files} == {(State.STORED, True)}, (
        "B's link still opens them"
    )
    await take(stack, b_path, "revoke")
    files = await kept_files(stack)
    assert {(f.state, f.has_raw) for f in files} == {(State.DELETED, False)}, "no scheduler tick needed"
    for f in files:
        gone = [e for e in await stack.store.audit_events(msg_id=f.id) if e.to_state == "deleted"]
        assert [(e.actor, e.reason) for e in gone] == [(f"sender:{SENDER}", "no open link needs it")]
    async with stack.http() as client:
        assert (await client.get(b_path)).status_code == 410
    await stack.scheduler.tick()  # and the scheduler finds nothing left to do with them
    assert {f.state for f in await kept_files(stack)} == {State.DELETED}
    assert (await verify_store(stack.store)).ok


async def test_a_store_that_fails_after_the_revocation_leaves_the_files_to_the_scheduler(
    tmp_path: Path, stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    """The link's change stands whatever happens to its files: a store that fails while they
    are followed up is logged, not raised to the sender who revoked."""
    await deliver(stack, [A])
    revoked = await take(stack, link_path(stack, A), "revoke")
    closed = await SQLiteStore.open(tmp_path / "closed")
    await closed.close()
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="gateway.links.service"):
        await follow_links(closed, revoked, actor=f"sender:{SENDER}")
    logged = [r for r in caplog.records if r.name == "gateway.links.service"]
    assert [r.getMessage() for r in logged] == [
        f"{revoked.id}: its files are removed by the scheduler instead"
    ]


async def test_the_last_download_of_the_last_open_link_removes_the_files(stack: Stack) -> None:
    await deliver(stack, [A, B])
    a_path, b_path = link_path(stack, A), link_path(stack, B)
    await take(stack, a_path, "revoke")
    async with stack.http() as client:
        granted = await client.post(
            f"{b_path}/verify", data={"code": await code_for(stack, client, b_path, B)}
        )
        grant = grant_in(granted)
        for n in range(5):
            got = await client.post(f"{b_path}/files/{n % 2}", data={"grant": grant})
            assert got.status_code == 200 and got.content == (CSV if n % 2 == 0 else PDF), n
            if n < 4:
                assert {f.state for f in await kept_files(stack)} == {State.STORED}
    assert (await link_of(stack, b_path)).state is State.EXHAUSTED
    files = await kept_files(stack)
    assert {(f.state, f.has_raw) for f in files} == {(State.DELETED, False)}
    for f in files:
        gone = [e for e in await stack.store.audit_events(msg_id=f.id) if e.to_state == "deleted"]
        assert [e.actor for e in gone] == [f"recipient:{B}"]
    assert (await verify_store(stack.store)).ok


async def test_shortening_the_only_open_link_keeps_the_files_until_it_closes(stack: Stack) -> None:
    await deliver(stack, [A, B])
    a_path, b_path = link_path(stack, A), link_path(stack, B)
    before = {f.id: f.expires_at for f in await kept_files(stack)}
    until = stack.clock() + timedelta(days=1)
    await take(stack, b_path, "shorten", until=until)
    assert {f.id: f.expires_at for f in await kept_files(stack)} == before, "A's link is open for 7 days"
    await take(stack, a_path, "revoke")
    files = await kept_files(stack)
    assert {(f.state, f.expires_at) for f in files} == {(State.STORED, until)}
    for f in files:
        events = await stack.store.audit_events(msg_id=f.id)
        assert [(e.actor, e.action) for e in events][-1] == (f"sender:{SENDER}", "shorten")
    stack.clock.skip(days=1, minutes=1)
    await stack.scheduler.tick()
    await stack.scheduler.tick()
    assert (await link_of(stack, b_path)).state is State.EXPIRED
    assert {(f.state, f.has_raw) for f in await kept_files(stack)} == {(State.DELETED, False)}
    assert (await verify_store(stack.store)).ok


async def test_five_wrong_codes_lock_the_link_for_a_while(stack: Stack) -> None:
    await deliver(stack, [A])
    path = link_path(stack, A)
    async with stack.http() as client:
        code = await code_for(stack, client, path, A)
        wrong = "000000" if code != "000000" else "111111"
        statuses = []
        for i in range(LOCK_AFTER):
            if i and i % 3 == 0:  # three wrong entries void a code: ask for another
                stack.clock.skip(minutes=2)
                code = await code_for(stack, client, path, A)
                wrong = "000000" if code != "000000" else "111111"
            statuses.append((await client.post(f"{path}/verify", data={"code": wrong})).status_code)
        assert statuses == [400, 400, 400, 400, 429]
        locked = await client.post(f"{path}/verify", data={"code": code})
        assert locked.status_code == 429 and "このリンクは" in locked.text and "まで使えません" in locked.text
        assert (await client.post(f"{path}/code")).status_code == 429
        stack.clock.skip(minutes=31)
        code = await code_for(stack, client, path, A)
        assert (await client.post(f"{path}/verify", data={"code": code})).status_code == 200
    events = [e.action for e in await stack.store.audit_events(msg_id=(await link_of(stack, path)).id)]
    assert events.count("link_code_failed") == LOCK_AFTER - 1 and events.count("link_locked") == 1


async def test_codes_are_rate_limited(stack: Stack) -> None:
    await deliver(stack, [A])
    path = link_path(stack, A)
    async with stack.http() as client:
        await code_for(stack, client, path, A)
        again = await client.post(f"{path}/code")
        assert again.status_code == 429 and "しばらくしてから" in again.text
    assert len(stack.codes_to(A)) == 1


async def test_a_list_address_opens_without_a_code(stack: Stack) -> None:
    await deliver(stack, ["all@lists.example.org"])
    path = link_path(stack, "all@lists.example.org")
    async with stack.http() as client:
        page = await client.get(path)
        assert "確認コード" not in page.text
        file = await client.post(f"{path}/files/0", data={"grant": grant_in(page)})
        assert file.content == CSV
        assert (await client.post(f"{path}/files/0", data={"grant": "1.x"})).status_code == 403


async def test_an_encrypted_archive_is_never_shown_as_inspected(stack: Stack) -> None:
    buf = io.BytesIO()
    with pyzipper.AESZipFile(buf, "w", encryption=pyzipper.WZ_AES) as z:
        z.setpassword(b"secret")
        z.writestr("顧客/名簿.xlsx", b"x" * 300)
    await deliver(stack, [A], files=(("資料.zip", buf.getvalue(), "application/zip"),))
    path = link_path(stack, A)
    async with stack.http() as client:
        page = await client.get(path)
        assert "暗号化されているため、内容は検査されていません" in page.text
        assert "顧客/名簿.xlsx" in page.text
        en = await client.get(path, params={"lang": "en"})
        assert "Encrypted: its content was not inspected" in en.text


async def test_the_listener_serves_nothing_of_the_ui_and_sets_no_cookie(stack: Stack, tmp_path: Path) -> None:
    await deliver(stack, [A])
    path = link_path(stack, A)
    ui_port = free_port()
    ui = build_ui(
        UIConfig(var_dir=tmp_path / "ui", secret=stack.config.secret_bytes, secure_cookies=False),
        "127.0.0.1",
        ui_port,
        stack.store,
    )
    served = asyncio.create_task(ui.serve())
    await serving(ui, served)
    try:
        async with (
            stack.http() as client,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{ui_port}") as ui_client,
        ):
            for route in (
                "/",
                "/login",
                "/messages",
                "/api/messages",
                "/static/style.css",
                "/a/anything",
                "/links",
            ):
                got = await client.get(route)
                assert got.status_code == 404, route
            responses = [
                await client.get(path),
                await client.post(f"{path}/code"),
                await client.post(f"{path}/verify", data={"code": "123456"}),
                await client.get("/_/download.css"),
                await client.get("/login"),
            ]
            for r in responses:
                assert "set-cookie" not in r.headers
                csp = r.headers["content-security-policy"]
                assert "default-src 'none'" in csp and "script" not in csp
                assert r.headers["referrer-policy"] == "no-referrer"
            assert (await ui_client.get("/login")).status_code == 200, "the UI itself is up"
            assert (await ui_client.get(path)).status_code == 404, "the UI knows nothing of the links"
            assert (await ui_client.post(f"{path}/code")).status_code in (404, 405)
            forged = await client.post(f"{path}/code", headers={"origin": "https://evil.example"})
            assert forged.status_code == 403
    finally:
        ui.should_exit = True
        await served


async def test_a_restarted_gateway_keeps_every_link_working(tmp_path: Path, sink: Sink, clock: Clock) -> None:
    config = links_config(tmp_path, sink)
    first = await start_stack(config, sink, clock)
    try:
        await deliver(first, [A])
        path = link_path(first, A)
        async with first.http() as client:
            code = await code_for(first, client, path, A)
    finally:
        await stop_stack(first)
    again = await start_stack(config, sink, clock)
    try:
        async with again.http() as client:
            granted = await client.post(f"{path}/verify", data={"code": code})
            assert granted.status_code == 200
            file = await client.post(f"{path}/files/1", data={"grant": grant_in(granted)})
            assert file.content == PDF
    finally:
        await stop_stack(again)


async def test_with_redis_any_instance_serves_any_link(
    tmp_path: Path, sink: Sink, clock: Clock, redis_server: RedisServer
) -> None:
    url = redis_server.url.rsplit("/", 1)[0] + "/3"
    with redis.Redis.from_url(url) as client:
        client.flushdb()
    one = await start_stack(links_config(tmp_path / "one", sink, store=url), sink, clock)
    two = await start_stack(links_config(tmp_path / "two", sink, store=url), sink, clock)
    try:
        await deliver(one, [INSIDE, A])
        path = link_path(one, A)
        async with one.http() as first, two.http() as second:
            assert (await second.get(path)).status_code == 200, "made by one, opened on two"
            code = await code_for(two, second, path, A)
            granted = await first.post(f"{path}/verify", data={"code": code})
            assert granted.status_code == 200, "the code asked for on two is checked on one"
            grant = grant_in(granted)
            assert (await second.post(f"{path}/files/0", data={"grant": grant})).content == CSV
            assert (await first.post(f"{path}/files/1", data={"grant": grant})).content == PDF
            assert "3 回" in (await second.get(path)).text, "both instances count in the one store"
        link = await link_of(two, path)
        await actions.perform(
            two.store, link, "revoke", actions.Actor(actions.Role.SENDER, SENDER), now=clock(), via="web"
        )
        async with one.http() as first:
            assert (await first.post(f"{path}/files/0", data={"grant": grant})).status_code == 410
        files = await one.store.list_messages(kinds={ItemKind.FILE})
        assert len(files) == 2 and {(f.state, f.has_raw) for f in files} == {(State.DELETED, False)}, (
            "its only link revoked on two, the files are gone for one too"
        )
        assert (await verify_store(one.store)).ok
    finally:
        await stop_stack(two)
        await stop_stack(one)


async def test_a_file_stays_while_any_link_to_it_is_open(stack: Stack) -> None:
    """The scheduler removes the kept files only when every link of the message has closed: a
    link the sender extended keeps them past the others' expiry."""
    await deliver(stack, [A, B])
    a_path, b_path = link_path(stack, A), link_path(stack, B)
    a_link = await link_of(stack, a_path)
    assert a_link.expires_at is not None
    await actions.perform(
        stack.store,
        a_link,
        "extend",
        actions.Actor(actions.Role.SENDER, SENDER),
        now=stack.clock(),
        via="web",
        until=a_link.expires_at + timedelta(days=3),
    )
    stack.clock.skip(days=7, minutes=1)
    await stack.scheduler.tick()
    assert (await link_of(stack, b_path)).state is State.EXPIRED
    files = await stack.store.list_messages(kinds={ItemKind.FILE})
    assert {(f.state, f.has_raw) for f in files} == {(State.STORED, True)}, "A's link still needs them"
    async with stack.http() as client:
        granted = await client.post(
            f"{a_path}/verify", data={"code": await code_for(stack, client, a_path, A)}
        )
        assert (await client.post(f"{a_path}/files/1", data={"grant": grant_in(granted)})).content == PDF
        assert (await client.get(b_path)).status_code == 410
    stack.clock.skip(days=3)
    await stack.scheduler.tick()
    await stack.scheduler.tick()
    assert (await link_of(stack, a_path)).state is State.EXPIRED
    files = await stack.store.list_messages(kinds={ItemKind.FILE})
    assert {(f.state, f.has_raw) for f in files} == {(State.DELETED, False)}
    kept = [e.action for f in files for e in await stack.store.audit_events(msg_id=f.id)]
    assert kept.count("keep") == 2 and kept.count("transition") == 2
    assert (await verify_store(stack.store)).ok


async def test_the_sender_is_not_told_of_the_first_download_when_the_setting_is_off(
    tmp_path: Path, sink: Sink, clock: Clock
) -> None:
    config = links_config(tmp_path, sink, extra="  notify_first_download: false\n")
    assert config.links.notify_first_download is False
    off = await start_stack(config, sink, clock)
    try:
        await deliver(off, [A])
        path = link_path(off, A)
        async with off.http() as client:
            granted = await client.post(f"{path}/verify", data={"code": await code_for(off, client, path, A)})
            assert (await client.post(f"{path}/files/0", data={"grant": grant_in(granted)})).content == CSV
        link = await link_of(off, path)
        steps = [e.action for e in await off.store.audit_events(msg_id=link.id)]
        assert steps == ["create", "link_code", "notify", "link_code_ok", "link_download"]
        queued = await off.store.list_messages(kinds={ItemKind.MAIL})
        assert [m for m in queued if SENDER in m.recipients] == [], "no notice to the sender"
    finally:
        await stop_stack(off)


async def test_no_password_or_code_is_mailed_with_or_after_the_message(stack: Stack) -> None:
    """Nothing but the recipient's own copy goes to them: no password, no code, until they ask
    for a code on the page themselves."""
    msg_id = await deliver(stack, [INSIDE, A, B])
    await stack.scheduler.tick()
    for who in (A, B):
        [copy] = stack.sink.to(who)
        text = copy.message.as_string()
        assert not copy.message["Auto-Submitted"]
        assert "パスワード" not in text and "password" not in text.lower()
        assert not re.search(r"確認コード: \d{6}", text)
    queued = await stack.store.list_messages(kinds={ItemKind.MAIL})
    assert [m.id for m in queued] == [msg_id], "no other mail is queued, to anyone"
    links = await stack.store.list_messages(kinds={ItemKind.LINK})
    events = [e for link in links for e in await stack.store.audit_events(msg_id=link.id)]
    assert [e.action for e in events] == ["create", "create"]


def shipped_policy(config: Config) -> Config:
    """``config`` with the shipped default policy (and the example directory it names)."""
    policies = Path(__file__).resolve().parents[3] / "policies"
    (config.policy.path.parent / "examples").mkdir(exist_ok=True)
    shutil.copy(policies / "examples" / "directory.csv", config.policy.path.parent / "examples")
    shutil.copy(policies / "default.yaml", config.policy.path)
    return config


async def test_an_encrypted_attachment_under_the_shipped_policy_is_held_then_leaves_as_a_link(
    tmp_path: Path, sink: Sink, clock: Clock
) -> None:
    """The shipped default policy: an encrypted archive to an outside recipient is held for the
    sender to confirm; when it leaves (here the sender sends it at once), the outside copy carries
    a link and the page says the file was not inspected."""
    stack = await start_stack(shipped_policy(links_config(tmp_path, sink)), sink, clock)
    try:
        buf = io.BytesIO()
        with pyzipper.AESZipFile(buf, "w", encryption=pyzipper.WZ_AES) as z:
            z.setpassword(b"secret")
            z.writestr("見積/明細.csv", b"A-100,3\n" * 20)
        data = mail_with_files([INSIDE, A], files=(("見積.zip", buf.getvalue(), "application/zip"),))
        code, reply = await send(stack.port, SENDER, [INSIDE, A], data)
        assert code == 250, reply
        rec = await stack.store.get(queue_id(reply))
        assert rec is not None and rec.state is State.HELD
        assert {"hold-share-link-or-encrypted", "link-encrypted-attachments"} <= set(rec.decision["rules"])
        assert await stack.store.list_messages(kinds={ItemKind.LINK}) == [], "no link while held"
        sender = actions.Actor(actions.Role.SENDER, SENDER)
        await actions.perform(stack.store, rec, "send_now", sender, now=clock(), via="web")
        await stack.scheduler.tick()
        await wait_state(stack.store, rec.id, State.DELIVERED)
        [inside] = stack.copies_to(INSIDE)
        assert inside.data.endswith(data), "the inside recipient keeps the archive"
        path = link_path(stack, A)
        async with stack.http() as client:
            page = await client.get(path)
            assert "暗号化されているため、内容は検査されていません" in page.text
            assert "見積/明細.csv" in page.text
            granted = await client.post(
                f"{path}/verify", data={"code": await code_for(stack, client, path, A)}
            )
            got = await client.post(f"{path}/files/0", data={"grant": grant_in(granted)})
            assert got.content == buf.getvalue()
    finally:
        await stop_stack(stack)


def test_the_listener_loads_nothing_of_the_ui() -> None:
    """The download listener shares code with the UI only through neutral pure modules
    (gateway.bilingual): importing it loads no module of quarantine_ui."""
    probe = "import sys, gateway.links.web; print([m for m in sys.modules if m.startswith('quarantine_ui')])"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
