"""The download listener over real sockets: a real SMTP client sends, a real sink receives the
copies and the code mails, a real HTTP client opens the links."""

from __future__ import annotations

import asyncio
import io
import re
from pathlib import Path

import httpx
import pyzipper
import redis

from gateway import actions
from gateway.audit import verify_store
from gateway.links.facts import LinkFacts
from gateway.links.rules import LOCK_AFTER
from gateway.store import ItemKind, MessageRecord, State
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
    assert msg_id


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
        assert (await verify_store(one.store)).ok
    finally:
        await stop_stack(two)
        await stop_stack(one)
