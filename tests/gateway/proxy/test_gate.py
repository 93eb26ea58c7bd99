"""The upload gate end to end: a real embedded mitmproxy, a real HTTPS client (httpx) through it,
and fake providers on loopback that speak each service's documented shapes. For every service:
a clean upload passes byte for byte; one carrying a My Number is refused and the origin never
sees it; a session whose personal data sits in a later chunk is refused at the request that
would make the file exist, and the provider holds no finished file."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import os
import sys
import urllib.parse
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.audit import verify_store
from gateway.config import load_config
from gateway.store import ItemKind, MessageRecord, State, Store
from tests.gateway.conftest import free_port
from tests.gateway.proxy import clients
from tests.gateway.proxy.conftest import (
    CLEAN,
    MY_NUMBER,
    UPLOAD_POLICY,
    Gateway,
    GatewayFactory,
    start_gateway,
    write_config,
)
from tests.gateway.proxy.fakes import GRAPH_UPLOAD, FakeOrigin, OriginCerts, Stored
from tests.gateway.redis_server import RedisServer
from tests.quarantine_ui.features.people import SEC, TARO, client_for
from tests.quarantine_ui.features.people import people as people
from tests.quarantine_ui.mailfix import MailEnv
from tests.quarantine_ui.mailfix import mail as mail

KIB = 1024
ROOT = Path(__file__).resolve().parents[3]


def text(size: int, *, pii_at: int | None = None) -> bytes:
    """About ``size`` bytes of an ordinary Japanese text file; with ``pii_at``, a My Number
    with its context word sits at that offset."""
    body = bytearray()
    n = 0
    while len(body) < size:
        n += 1
        body += f"{n:06d} 打ち合わせの議事録です。来期の計画と担当を確認しました。\n".encode()
    body = body[:size]
    if pii_at is not None:
        body[pii_at:pii_at] = b"\n" + MY_NUMBER + b"\n"
    return bytes(body)


def split(data: bytes, *sizes: int) -> list[bytes]:
    out, at = [], 0
    for s in sizes:
        out.append(data[at : at + s])
        at += s
    out.append(data[at:])
    return out


async def uploads(store: Store) -> list[MessageRecord]:
    return await store.list_messages(kinds={ItemKind.UPLOAD})


def refused_json(r: httpx.Response) -> dict[str, object]:
    assert r.status_code == 403, r.text
    assert r.headers["x-sekimori-verdict"] == "refused"
    found: dict[str, object] = r.json()
    assert found["reference"] == r.headers["x-sekimori-reference"]
    return found


def never_saw(gateway: Gateway, host: str) -> None:
    """The origin received no byte of the personal data."""
    assert not [s for s in gateway.origin.received if s.host == host and MY_NUMBER in s.body]


# -- Google Drive ------------------------------------------------------------------------------


async def test_drive_media_and_multipart_pass_byte_for_byte(gateway: Gateway) -> None:
    data = text(3 * KIB)
    async with gateway.client() as c:
        r1 = await clients.drive_media(c, data)
        r2 = await clients.drive_multipart(c, "議事録.txt", data)
    assert (r1.status_code, r2.status_code) == (200, 200)
    assert r2.headers["x-sekimori-verdict"] == "passed" and r2.headers["x-sekimori-inspection"] == "complete"
    stored = gateway.origin.providers.files["google_drive"]
    assert [(f.name, f.data) for f in stored] == [("Untitled", data), ("議事録.txt", data)]
    recs = await uploads(gateway.store)
    assert {r.state for r in recs} == {State.PASSED} and {r.subject for r in recs} == {"", "議事録.txt"}


async def test_drive_multipart_with_my_number_is_refused_before_the_origin(gateway: Gateway) -> None:
    async with gateway.client() as c:
        r = await clients.drive_multipart(c, "顧客一覧.csv", text(2 * KIB, pii_at=500))
        web = await clients.drive_multipart(
            c, "顧客.csv", text(KIB, pii_at=10), host="clients6.google.com", version="v2internal"
        )
    body = refused_json(r)
    items = body["items"]
    assert isinstance(items, list) and items[0]["file"] == "顧客一覧.csv"
    assert items[0]["rules"][0]["id"] == "u-block-my-number"
    refused_json(web)  # the Drive web client's endpoint is covered too
    never_saw(gateway, "www.googleapis.com")
    never_saw(gateway, "clients6.google.com")
    assert gateway.origin.providers.files["google_drive"] == []
    recs = {r.id: r for r in await uploads(gateway.store)}
    rec = recs[str(body["reference"])]
    assert rec.state is State.REFUSED and rec.sender == "" and rec.upload is not None
    assert rec.upload.service == "google_drive" and rec.upload.filename == "顧客一覧.csv"
    assert rec.meta["content_kept"] is False and not rec.has_raw


async def test_drive_resumable_clean_passes_and_pii_in_a_middle_chunk_stops_the_last(
    gateway: Gateway,
) -> None:
    clean = text(600 * KIB)
    async with gateway.client() as c:
        ok = await clients.drive_resumable(
            c, "計画.csv", split(clean, 256 * KIB, 256 * KIB), unknown_total=True
        )
        dirty = text(600 * KIB, pii_at=300 * KIB)
        bad = await clients.drive_resumable(c, "名簿.csv", split(dirty, 256 * KIB, 256 * KIB))
    assert [a.status_code for a in ok] == [200, 308, 308, 200]
    assert gateway.origin.providers.files["google_drive"][0].data == clean
    assert [a.status_code for a in bad[:3]] == [200, 308, 308]  # chunks pass on at once
    refused_json(bad[3])
    assert len(gateway.origin.providers.files["google_drive"]) == 1  # no finished file for 名簿.csv
    assert gateway.origin.providers.drive_sessions  # the provider still waits for the last chunk
    rec = next(r for r in await uploads(gateway.store) if r.state is State.REFUSED)
    assert rec.subject == "名簿.csv" and rec.meta["content_size"] == len(dirty)
    assert gateway.spooled() == []  # session spool gone once judged


# -- Box ---------------------------------------------------------------------------------------


async def test_box_direct_upload_and_the_attributes_order(gateway: Gateway) -> None:
    data = text(90 * KIB)  # larger than memory_body: held in the spool, then sent on
    async with gateway.client() as c:
        ok = await clients.box_direct(c, "議事録.txt", data)
        wrong = await clients.box_direct(c, "x.txt", b"abc", file_first=True)
        bad = await clients.box_direct(c, "顧客.csv", text(90 * KIB, pii_at=80 * KIB))
    assert ok.status_code == 201 and ok.json()["entries"][0]["name"] == "議事録.txt"
    assert gateway.origin.providers.files["box"][0].data == data  # the body reached Box unchanged
    assert wrong.status_code == 400 and wrong.json()["code"] == "metadata_after_file_contents"
    refused_json(bad)
    never_saw(gateway, "upload.box.com")
    assert gateway.spooled() == []


async def test_box_chunked_session_keeps_digests_and_is_judged_at_commit(gateway: Gateway) -> None:
    clean = text(300 * KIB)
    async with gateway.client() as c:
        ok = await clients.box_chunked(c, "計画.xlsx", split(clean, 128 * KIB, 128 * KIB))
        dirty = text(300 * KIB, pii_at=150 * KIB)
        bad = await clients.box_chunked(c, "名簿.xlsx", split(dirty, 128 * KIB, 128 * KIB))
    assert [a.status_code for a in ok] == [201, 200, 200, 200, 201]  # every part's SHA-1 matched
    assert gateway.origin.providers.files["box"][0].data == clean
    assert [a.status_code for a in bad[:4]] == [201, 200, 200, 200]
    refused_json(bad[4])
    assert len(gateway.origin.providers.files["box"]) == 1 and gateway.origin.providers.box_sessions
    commits = [s for s in gateway.origin.received if s.path.endswith("/commit")]
    assert len(commits) == 1  # the refused session's commit never reached Box


# -- Microsoft Graph ---------------------------------------------------------------------------


async def test_graph_put_content_and_upload_session(gateway: Gateway) -> None:
    clean = text(200 * KIB)
    async with gateway.client() as c:
        put = await clients.graph_put(c, "議事録.txt", text(2 * KIB))
        refused = await clients.graph_put(c, "顧客.txt", text(2 * KIB, pii_at=5))
        session = await clients.graph_session(c, "計画.txt", split(clean, 64 * KIB, 64 * KIB))
        dirty = text(200 * KIB, pii_at=70 * KIB)
        bad = await clients.graph_session(c, "名簿.txt", split(dirty, 64 * KIB, 64 * KIB))
    assert put.status_code == 201
    refused_json(refused)
    assert gateway.origin.providers.files["microsoft_graph"][0].data == text(2 * KIB)  # byte for byte
    never_saw(gateway, "graph.microsoft.com")
    assert [a.status_code for a in session] == [200, 202, 202, 201]
    stored = {f.name: f.data for f in gateway.origin.providers.files["microsoft_graph"]}
    assert stored["計画.txt"] == clean and "名簿.txt" not in stored
    assert [a.status_code for a in bad[:3]] == [200, 202, 202]
    refused_json(bad[3])
    recs = [r for r in await uploads(gateway.store) if r.subject == "名簿.txt"]
    assert recs and recs[0].state is State.REFUSED


async def test_graph_deferred_commit_is_the_request_that_is_held(gateway: Gateway) -> None:
    async with gateway.client() as c:
        dirty = text(100 * KIB, pii_at=10)
        answers = await clients.graph_session(c, "名簿.txt", split(dirty, 50 * KIB), defer=True)
    assert [a.status_code for a in answers[:3]] == [200, 202, 202]  # all bytes passed, no file yet
    refused_json(answers[3])
    assert gateway.origin.providers.files["microsoft_graph"] == []
    assert not [s for s in gateway.origin.received if s.host == GRAPH_UPLOAD and s.method == "POST"]


# -- Dropbox -----------------------------------------------------------------------------------


async def test_dropbox_upload_decodes_the_escaped_japanese_name(gateway: Gateway) -> None:
    async with gateway.client() as c:
        ok = await clients.dropbox_upload(c, "/共有/議事録.txt", CLEAN)
        bad = await clients.dropbox_upload(c, "/共有/顧客一覧.csv", MY_NUMBER)
    assert ok.status_code == 200
    assert gateway.origin.providers.files["dropbox"][0].data == CLEAN
    assert "\\u" in gateway.origin.received[0].headers["dropbox-api-arg"]  # sent escaped, as SDKs do
    body = refused_json(bad)
    assert body["items"][0]["file"] == "顧客一覧.csv"  # type: ignore[index]
    rec = next(r for r in await uploads(gateway.store) if r.state is State.REFUSED)
    assert rec.upload is not None and rec.upload.destination == "/共有"
    never_saw(gateway, "content.dropboxapi.com")


async def test_dropbox_session_start_append_finish(gateway: Gateway) -> None:
    clean = text(300 * KIB)
    async with gateway.client() as c:
        ok = await clients.dropbox_session(c, "/計画.csv", split(clean, 100 * KIB, 100 * KIB))
        dirty = text(300 * KIB, pii_at=20 * KIB)  # in the first chunk, carried by the start
        bad = await clients.dropbox_session(c, "/名簿.csv", split(dirty, 100 * KIB, 100 * KIB))
    assert [a.status_code for a in ok] == [200, 200, 200]
    assert gateway.origin.providers.files["dropbox"][0].data == clean
    assert [a.status_code for a in bad[:2]] == [200, 200]
    refused_json(bad[2])
    assert len(gateway.origin.providers.files["dropbox"]) == 1
    assert gateway.spooled() == []


async def test_dropbox_session_with_pii_in_an_appended_chunk_is_refused_at_finish(gateway: Gateway) -> None:
    dirty = text(300 * KIB, pii_at=150 * KIB)  # in the second chunk, sent by append_v2
    async with gateway.client() as c:
        bad = await clients.dropbox_session(c, "/名簿.csv", split(dirty, 100 * KIB, 100 * KIB))
    assert [a.status_code for a in bad[:2]] == [200, 200]  # start and append passed on at once
    assert gateway.origin.saw("content.dropboxapi.com", MY_NUMBER)  # the chunk did reach Dropbox...
    item = refused_json(bad[2])["items"][0]  # type: ignore[index]
    assert item["file"] == "名簿.csv" and item["rules"][0]["id"] == "u-block-my-number"
    assert gateway.origin.providers.files["dropbox"] == []  # ...but no file was ever made of it
    assert gateway.origin.providers.dropbox_sessions  # Dropbox still waits for a finish
    assert not [s for s in gateway.origin.received if s.path.endswith("/finish")]
    assert gateway.spooled() == []


# -- Slack -------------------------------------------------------------------------------------


@pytest.mark.parametrize("multipart", [False, True])
async def test_slack_external_upload_is_judged_whole_at_its_upload_url(
    gateway_factory: GatewayFactory, multipart: bool
) -> None:
    """The file goes to the upload URL in one request: judged there, under the name the session
    was minted with, so a refused file never reaches Slack; the complete that would share it is
    refused too (no file the gateway let through)."""
    gateway = await gateway_factory(
        proxy_extra="  identity:\n    networks: {127.0.0.0/8: taro@example.co.jp}\n"
    )
    async with gateway.client() as c:
        ok = await clients.slack_upload(c, "議事録.txt", text(20 * KIB), multipart=multipart)
        bad = await clients.slack_upload(c, "顧客.csv", text(20 * KIB, pii_at=15 * KIB), multipart=multipart)
    assert [a.status_code for a in ok] == [200, 200, 200] and ok[2].json()["ok"] is True
    assert gateway.origin.providers.files["slack"][0].data == text(20 * KIB)
    assert bad[0].status_code == 200
    item = refused_json(bad[1])["items"][0]  # type: ignore[index]
    assert item["file"] == "顧客.csv" and item["rules"][0]["id"] == "u-block-my-number"
    never_saw(gateway, "files.slack.com")
    refused_json(bad[2])  # its file was never judged as passed: not shared either
    assert len(gateway.origin.providers.slack_shared) == 1
    recs = {r.subject: r for r in await uploads(gateway.store)}
    assert recs["顧客.csv"].state is State.REFUSED and recs["顧客.csv"].sender == "taro@example.co.jp"
    assert recs["議事録.txt"].state is State.PASSED  # one item for the clean file, not two
    assert len([r for r in recs.values() if r.subject == "議事録.txt"]) == 1
    assert len(await uploads(gateway.store)) == 3  # clean, refused, the refused complete
    assert gateway.spooled() == []


async def test_a_big_slack_file_is_held_in_the_spool_and_judged_before_slack_sees_it(
    gateway: Gateway,
) -> None:
    async with gateway.client() as c:
        bad = await clients.slack_upload(c, "名簿.csv", text(300 * KIB, pii_at=250 * KIB))
        ok = await clients.slack_upload(c, "計画.csv", text(300 * KIB))
    assert refused_json(bad[1])["items"][0]["file"] == "名簿.csv"  # type: ignore[index]
    never_saw(gateway, "files.slack.com")
    assert [a.status_code for a in ok] == [200, 200, 200]
    assert gateway.origin.providers.files["slack"] == [Stored("計画.csv", text(300 * KIB))]
    assert gateway.spooled() == []


async def test_slack_one_request_files_upload_is_judged_before_slack_sees_it(gateway: Gateway) -> None:
    """The retired ``files.upload`` carries the whole file in one form: judged whole, so a
    refused file never reaches Slack at all."""
    clean = text(20 * KIB)
    async with gateway.client() as c:
        ok = await c.post(
            "https://slack.com/api/files.upload",
            data={"filename": "議事録.txt", "channels": "C0123"},
            files={"file": ("議事録.txt", clean, "text/plain")},
        )
        bad = await c.post(
            "https://slack.com/api/files.upload",
            data={"filename": "顧客.csv", "channels": "C0123"},
            files={"file": ("顧客.csv", text(20 * KIB, pii_at=15 * KIB), "text/csv")},
        )
    assert ok.status_code == 200 and ok.json()["ok"] is True
    assert [(f.name, f.data) for f in gateway.origin.providers.files["slack"]] == [("議事録.txt", clean)]
    item = refused_json(bad)["items"][0]  # type: ignore[index]
    assert item["file"] == "顧客.csv" and item["service"] == "slack"
    never_saw(gateway, "slack.com")
    assert len(gateway.origin.saw("slack.com")) == 1


# -- generic rules and generative AI -----------------------------------------------------------


async def test_chat_json_with_a_my_number_is_refused_as_text(gateway: Gateway) -> None:
    message = {
        "action": "next",
        "messages": [{"content": {"parts": ["この顧客の " + MY_NUMBER.decode() + " を整理して"]}}],
    }
    async with gateway.client() as c:
        ok = await c.post(
            "https://chat.example/backend-api/conversation", json={"messages": [{"content": "おはよう"}]}
        )
        bad = await c.post(
            "https://chat.example/backend-api/conversation",
            json=message,
            headers={"Accept": "text/event-stream"},
        )
        other_path = await c.post("https://chat.example/static/log", json=message)
    assert ok.status_code == 200
    refused_json(bad)
    assert other_path.status_code == 200  # outside the rule's paths: not inspected
    assert len([s for s in gateway.origin.received if s.path == "/backend-api/conversation"]) == 1


async def test_a_browser_gets_the_refusal_page_in_japanese_then_english(gateway: Gateway) -> None:
    async with gateway.client() as c:
        r = await clients.dropbox_upload(c, "/a.txt", MY_NUMBER)
        page = await c.post(
            "https://chat.example/backend-api/x",
            json={"q": MY_NUMBER.decode()},
            headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"},
        )
    assert r.headers["content-type"].startswith("application/json")
    assert page.status_code == 403 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert html.index("アップロードを止めました") < html.index("Upload stopped")
    assert "マイナンバーのアップロード禁止" in html and "No My Number in uploads" in html
    assert page.headers["x-sekimori-reference"] in html and "security@example.co.jp" in html


async def test_an_approval_rule_records_a_pending_item_with_its_content(gateway: Gateway) -> None:
    async with gateway.client() as c:
        r = await clients.dropbox_upload(c, "/給与一覧.xlsx", CLEAN)
    body = refused_json(r)
    assert body["items"][0]["state"] == "pending_approval"  # type: ignore[index]
    rec = (await uploads(gateway.store))[0]
    assert rec.state is State.PENDING_APPROVAL and rec.approvers == ("boss@example.co.jp",)
    assert await gateway.store.load_raw(rec.id) == CLEAN  # kept for the approver


def example_rules() -> str:
    """The commented generic rules of ``sekimori.example.yaml`` (ChatGPT, Claude, Gemini,
    Copilot, a partner's upload form), uncommented and indented for the test configuration."""
    lines = (ROOT / "sekimori.example.yaml").read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("  rules: []"))
    block = []
    for line in lines[start + 1 :]:
        if not line.startswith("  # "):
            break
        block.append("    " + line.removeprefix("  # "))
    return "\n".join(block) + "\n"


def with_example_rules(gateway_factory: GatewayFactory) -> Awaitable[Gateway]:
    rules = example_rules()
    assert [n for n in ("chatgpt", "claude", "gemini", "copilot") if f"name: {n}" not in rules] == []
    return gateway_factory(rules=rules)


async def test_the_example_configurations_ai_chats_refuse_a_pasted_my_number(
    gateway_factory: GatewayFactory,
) -> None:
    gateway = await with_example_rules(gateway_factory)
    pasted = "この顧客の " + MY_NUMBER.decode() + " を表にして"
    gemini_req = json.dumps([None, json.dumps([["{}", 0, None], ["ja"]])])  # JSON in a form field
    requests: list[tuple[str, str, dict[str, Any]]] = [
        (
            "chatgpt",
            "https://chatgpt.com/backend-api/conversation",
            {
                "json": {
                    "action": "next",
                    "messages": [
                        {"author": {"role": "user"}, "content": {"content_type": "text", "parts": ["{}"]}}
                    ],
                }
            },
        ),
        (
            "claude",
            "https://claude.ai/api/organizations/0f1e/chat_conversations/9a8b/completion",
            {"json": {"prompt": "{}", "timezone": "Asia/Tokyo", "attachments": []}},
        ),
        (
            "gemini",
            "https://gemini.google.com/_/BardChatUi/data/assistant.lamda.BardFrontendService/StreamGenerate",
            {"data": {"f.req": gemini_req, "at": "token"}},
        ),
        (
            "copilot",
            "https://copilot.microsoft.com/c/api/conversations/abc/messages",
            {"json": {"content": [{"type": "text", "text": "{}"}]}},
        ),
    ]
    async with gateway.client() as c:
        for service, url, kw in requests:
            clean = {k: json.loads(json.dumps(v).replace("{}", "今日の天気は")) for k, v in kw.items()}
            dirty = {
                k: json.loads(json.dumps(v, ensure_ascii=False).replace("{}", pasted)) for k, v in kw.items()
            }
            ok = await c.post(url, **clean)
            bad = await c.post(url, **dirty)
            assert ok.status_code == 200, (service, ok.json()["items"])
            item = refused_json(bad)["items"][0]  # type: ignore[index]
            assert item["service"] == service and item["rules"][0]["id"] == "u-block-my-number", service
    for host in ("chatgpt.com", "claude.ai", "gemini.google.com", "copilot.microsoft.com"):
        assert len(gateway.origin.saw(host)) == 1  # the clean message only
        never_saw(gateway, host)
        assert not gateway.origin.saw(host, b"1234")
    recs = await uploads(gateway.store)
    assert sorted(r.upload.service for r in recs if r.state is State.REFUSED and r.upload) == [
        "chatgpt",
        "claude",
        "copilot",
        "gemini",
    ]


async def test_a_compressed_request_body_is_opened_or_reported_not_inspected(
    gateway_factory: GatewayFactory,
) -> None:
    """A body sent with ``Content-Encoding: gzip`` or ``deflate`` is inspected as the service
    reads it, decompressed; one in an encoding the gateway cannot open (or that does not
    decompress) is not fully inspected. Either way the origin gets the bytes as sent."""
    gateway = await with_example_rules(gateway_factory)
    pasted = "この顧客の " + MY_NUMBER.decode() + " を表にして"
    gemini = "https://gemini.google.com/_/BardChatUi/data/assistant.lamda.BardFrontendService/StreamGenerate"
    chatgpt = "https://chatgpt.com/backend-api/conversation"

    def form(prompt: str) -> bytes:
        return urllib.parse.urlencode(
            {"f.req": json.dumps([None, json.dumps([[prompt]])]), "at": "t"}
        ).encode()

    def chat(prompt: str) -> bytes:
        return json.dumps({"messages": [{"content": {"parts": [prompt]}}]}, ensure_ascii=False).encode()

    form_type = {"Content-Type": "application/x-www-form-urlencoded"}
    json_type = {"Content-Type": "application/json"}
    packers: dict[str, Callable[[bytes], bytes]] = {
        "gzip": gzip.compress,
        "x-gzip": gzip.compress,
        "deflate": zlib.compress,
    }
    async with gateway.client() as c:
        for encoding, pack in packers.items():
            sent = {"Content-Encoding": encoding}
            for url, body, head in ((gemini, form(pasted), form_type), (chatgpt, chat(pasted), json_type)):
                bad = await c.post(url, content=pack(body), headers=head | sent)
                item = refused_json(bad)["items"][0]  # type: ignore[index]
                assert item["rules"][0]["id"] == "u-block-my-number", (encoding, url, item)
        clean = gzip.compress(form("今日の天気は"))
        ok = await c.post(gemini, content=clean, headers=form_type | {"Content-Encoding": "gzip"})
        assert ok.status_code == 200, ok.text
        assert ok.headers["x-sekimori-inspection"] == "complete"
        unopened = {
            "br": zlib.compress(form(pasted)),  # opaque to the gateway under this name
            "gzip": form("今日の天気は"),  # says gzip, is not
            "compress": form("今日の天気は"),
        }
        for encoding, body in unopened.items():
            r = await c.post(gemini, content=body, headers=form_type | {"Content-Encoding": encoding})
            item = refused_json(r)["items"][0]  # type: ignore[index]
            assert (item["state"], item["rules"][0]["id"]) == ("quarantined", "u-review-not-inspected"), (
                encoding
            )
    assert [s.body for s in gateway.origin.saw("gemini.google.com")] == [clean]
    assert not gateway.origin.saw("chatgpt.com")


async def test_a_form_posted_in_shift_jis_is_read_in_shift_jis(gateway_factory: GatewayFactory) -> None:
    """An older Japanese site's page in Shift_JIS makes the browser post its form in Shift_JIS
    (percent-encoded, or as multipart fields), with no charset named: the pasted My Number is
    still found."""
    gateway = await gateway_factory(
        rules="    - {name: legacy-form, hosts: [files.partner.example], paths: ['/cgi-bin/*'], body: form}\n"
        "    - {name: legacy-upload, hosts: [files.partner.example], paths: ['/upload'], body: multipart}\n",
        # as the shipped policy: twelve digits alone are no My Number, the word beside them makes one
        policy_text=UPLOAD_POLICY.replace(
            "{type: my_number, min_score: 0.5}", "{type: my_number, min_score: 0.8}"
        ),
    )
    said = "ご依頼の" + MY_NUMBER.decode() + "です"
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    async with gateway.client() as c:
        for charset in ("cp932", "euc_jp"):
            body = urllib.parse.urlencode({"name": "山田", "comment": said}, encoding=charset).encode()
            r = await c.post("https://files.partner.example/cgi-bin/post.cgi", content=body, headers=form)
            assert refused_json(r)["items"][0]["rules"][0]["id"] == "u-block-my-number", charset  # type: ignore[index]
            fields: list[tuple[str, tuple[str | None, bytes, str | None]]] = [
                ("comment", (None, said.encode(charset), None)),
                ("file", ("a.txt", b"hello", "text/plain")),
            ]
            r = await c.post("https://files.partner.example/upload", files=fields)
            assert refused_json(r)["items"][0]["rules"][0]["id"] == "u-block-my-number", charset  # type: ignore[index]
        ok = urllib.parse.urlencode({"comment": "よろしくお願いします"}, encoding="cp932").encode()
        assert (
            await c.post("https://files.partner.example/cgi-bin/post.cgi", content=ok, headers=form)
        ).is_success
    assert len(gateway.origin.saw("files.partner.example")) == 1


async def test_a_file_name_is_inspected_as_a_mail_attachments_name_is(gateway: Gateway) -> None:
    """Everyone who can open the folder reads a file's name: a My Number in it is found, as in
    the name of a mail's attachment."""
    name = "マイナンバー 1234 5678 9018.txt"
    async with gateway.client() as c:
        dropbox = await c.post(
            "https://content.dropboxapi.com/2/files/upload",
            content=CLEAN,
            headers={
                "Dropbox-API-Arg": json.dumps({"path": "/" + name}),
                "Content-Type": "application/octet-stream",
            },
        )
        box = await c.post(
            "https://upload.box.com/api/2.0/files/content",
            files={
                "attributes": (None, json.dumps({"name": name, "parent": {"id": "0"}})),
                "file": (name, CLEAN),
            },
        )
        plain = await c.post(
            "https://content.dropboxapi.com/2/files/upload",
            content=CLEAN,
            headers={
                "Dropbox-API-Arg": json.dumps({"path": "/議事録 2026-12-08.txt"}),
                "Content-Type": "application/octet-stream",
            },
        )
    for r in (dropbox, box):
        item = refused_json(r)["items"][0]  # type: ignore[index]
        assert item["rules"][0]["id"] == "u-block-my-number", item
    assert plain.is_success, plain.text


async def test_a_path_written_another_way_is_the_same_path(gateway_factory: GatewayFactory) -> None:
    """Servers read ``//a``, ``/x/../a``, ``/%2e%2e/a`` and ``/a/`` as ``/a`` (RFC 3986 s6.2.2,
    merged slashes, a trailing slash), and some (Microsoft's) ``/A`` too: a rule's path, or a
    service's, is not escaped by them."""
    gateway = await with_example_rules(gateway_factory)
    pasted = {"messages": [{"content": {"parts": ["この顧客の " + MY_NUMBER.decode() + " を表にして"]}}]}
    paths = [
        "//backend-api/conversation",
        "/backend-api//conversation",
        "/backend-api/./conversation",
        "/backend-api/%2e%2e/backend-api/conversation",
        "/x/%2E%2E/backend-api/conversation",
        "/backend-api/conversation/",
        "/Backend-API/Conversation",
    ]
    async with gateway.client() as c:
        for path in paths:
            r = await c.post(f"https://chatgpt.com{path}", json=pasted)
            item = refused_json(r)["items"][0]  # type: ignore[index]
            assert item["rules"][0]["id"] == "u-block-my-number", path
        drive = await c.post(
            "https://www.googleapis.com//upload/drive/v3/files/?uploadType=media",
            content=MY_NUMBER,
            headers={"Content-Type": "text/plain"},
        )
        assert refused_json(drive)["items"][0]["rules"][0]["id"] == "u-block-my-number"  # type: ignore[index]
    assert not gateway.origin.saw("chatgpt.com") and not gateway.origin.saw("www.googleapis.com")


async def test_generic_rules_inspect_a_multipart_form_and_a_raw_put(gateway_factory: GatewayFactory) -> None:
    gateway = await gateway_factory(
        rules="    - {name: partner-raw, hosts: [files.partner.example], paths: ['/raw/*'], methods: [PUT], body: raw}\n"
        + example_rules()
    )
    clean = text(8 * KIB)
    async with gateway.client() as c:
        form_ok = await c.post(
            "https://files.partner.example/upload", files={"file": ("議事録.txt", clean, "text/plain")}
        )
        form_bad = await c.post(
            "https://files.partner.example/upload",
            files={"file": ("顧客.csv", text(8 * KIB, pii_at=4 * KIB), "text/csv")},
        )
        raw_ok = await c.put("https://files.partner.example/raw/計画.txt", content=clean)
        raw_bad = await c.put(
            "https://files.partner.example/raw/data.bin",
            content=text(100 * KIB, pii_at=90 * KIB),  # over memory_body: held in the spool
            headers={"Content-Disposition": "attachment; filename*=UTF-8''%E5%90%8D%E7%B0%BF.csv"},
        )
    assert (form_ok.status_code, raw_ok.status_code) == (201, 201)
    stored = [(f.name, f.data) for f in gateway.origin.providers.files["partner"]]
    assert stored == [("議事録.txt", clean), ("計画.txt", clean)]  # byte for byte
    assert refused_json(form_bad)["items"][0]["file"] == "顧客.csv"  # type: ignore[index]
    assert refused_json(raw_bad)["items"][0]["file"] == "名簿.csv"  # type: ignore[index]
    never_saw(gateway, "files.partner.example")
    assert gateway.spooled() == []


# -- limits ------------------------------------------------------------------------------------


async def test_over_the_limit_the_policy_decides_and_the_answer_says_not_inspected(
    gateway_factory: GatewayFactory,
) -> None:
    gateway = await gateway_factory(proxy_extra="  keep_passed: false\n")
    big = text(5 * 1024 * KIB)  # inspect_max is 4 MiB
    async with gateway.client() as c:
        r = await clients.dropbox_upload(c, "/大きい.csv", big)
    body = refused_json(r)  # the test policy quarantines what could not be inspected
    item = body["items"][0]  # type: ignore[index]
    assert item["fully_inspected"] is False and "inspection limit" in item["not_inspected"][0]
    assert item["rules"][0]["id"] == "u-review-not-inspected"
    assert gateway.origin.providers.files["dropbox"] == []


async def test_over_the_limit_allowed_by_policy_passes_marked_incomplete(
    gateway_factory: GatewayFactory, tmp_path: Path
) -> None:
    gateway = await gateway_factory()
    policy = gateway.config.policy.path
    policy.write_text(
        policy.read_text().replace("truncated: true", "truncated: true\n        - size: {at_least: 1GB}")
    )
    gateway.inspector.reload_soon()
    big = text(5 * 1024 * KIB)
    async with gateway.client() as c:
        r = await clients.dropbox_upload(c, "/大きい.csv", big)
    assert r.status_code == 200
    assert r.headers["x-sekimori-verdict"] == "passed" and r.headers["x-sekimori-inspection"] == "incomplete"
    assert gateway.origin.providers.files["dropbox"][0].data == big
    rec = (await uploads(gateway.store))[0]
    assert rec.state is State.PASSED and rec.meta["fully_inspected"] is False


# -- the spool after disconnects and restarts --------------------------------------------------


async def test_a_client_that_disconnects_mid_upload_leaves_no_spool(gateway: Gateway) -> None:
    host, port = gateway.proxy.address
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"CONNECT content.dropboxapi.com:443 HTTP/1.1\r\nHost: content.dropboxapi.com:443\r\n\r\n")
    await writer.drain()
    assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
    await writer.start_tls(gateway.trust(), server_hostname="content.dropboxapi.com")
    head = (
        "POST /2/files/upload HTTP/1.1\r\nHost: content.dropboxapi.com\r\n"
        f"Dropbox-API-Arg: {clients.dropbox_arg({'path': '/a.csv'})}\r\nContent-Length: 1000000\r\n\r\n"
    )
    writer.write(head.encode() + b"x" * 300_000)  # a third of the body, into the spool
    await writer.drain()
    for _ in range(200):
        if gateway.spooled():
            break
        await asyncio.sleep(0.02)
    assert gateway.spooled(), "the body should be in the spool while it arrives"
    writer.transport.abort()
    for _ in range(200):
        if not gateway.spooled():
            break
        await asyncio.sleep(0.02)
    assert gateway.spooled() == []
    assert gateway.origin.saw("content.dropboxapi.com") == []


class _HeadSeen:
    """An addon after the gate: set once a request's head has been through every hook."""

    def __init__(self) -> None:
        self.seen = asyncio.Event()

    def requestheaders(self, flow: Any) -> None:
        self.seen.set()


async def test_a_small_upload_cut_off_midway_is_recorded_as_never_judged(
    gateway_factory: GatewayFactory,
) -> None:
    """A raw body small enough to buffer is recorded once, with its verdict; a client that goes
    away before leaves a record refused with the reason, nothing in the spool and nothing sent."""
    head_seen = _HeadSeen()
    gateway = await gateway_factory(extra_addons=[head_seen])
    host, port = gateway.proxy.address
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"CONNECT content.dropboxapi.com:443 HTTP/1.1\r\nHost: content.dropboxapi.com:443\r\n\r\n")
    await writer.drain()
    assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
    await writer.start_tls(gateway.trust(), server_hostname="content.dropboxapi.com")
    head = (
        "POST /2/files/upload HTTP/1.1\r\nHost: content.dropboxapi.com\r\n"
        f"Dropbox-API-Arg: {clients.dropbox_arg({'path': '/名簿.csv'})}\r\nContent-Length: 50000\r\n\r\n"
    )
    writer.write(head.encode() + MY_NUMBER + b"x" * 20_000)
    await writer.drain()
    await asyncio.wait_for(head_seen.seen.wait(), 10)
    assert await uploads(gateway.store) == []  # nothing is written before the verdict
    writer.transport.abort()
    for _ in range(200):
        recs = await uploads(gateway.store)
        if recs and recs[0].state is not State.RECEIVED:
            break
        await asyncio.sleep(0.02)
    (rec,) = await uploads(gateway.store)
    assert rec.state is State.REFUSED and rec.subject == "名簿.csv"
    events = await gateway.store.audit_events(msg_id=rec.id)
    assert "went away" in events[-1].reason
    assert gateway.spooled() == [] and gateway.origin.received == []


async def test_a_restart_mid_session_leaves_no_orphaned_spool(gateway_factory: GatewayFactory) -> None:
    gateway = await gateway_factory()
    data = text(200 * KIB)
    async with gateway.client() as c:
        start = await c.post(
            clients.DRIVE_UPLOAD,
            params={"uploadType": "resumable"},
            json={"name": "計画.csv"},
            headers={"X-Upload-Content-Length": str(len(data))},
        )
        location = start.headers["location"]
        r = await c.put(
            location,
            content=data[: 100 * KIB],
            headers={"Content-Range": f"bytes 0-{100 * KIB - 1}/{len(data)}"},
        )
    assert r.status_code == 308
    chunk = gateway.spooled()
    assert len(chunk) == 1
    orphan = gateway.spool / "bodies" / "left-by-a-crash"
    orphan.write_bytes(b"half a body")
    stray = chunk[0].parent / "never-recorded"
    stray.write_bytes(b"a chunk whose record was never written")
    await gateway.proxy.stop()
    await gateway.proxy.start()  # the same store and spool: a restart
    assert gateway.spooled() == chunk  # the session's recorded chunk stays, the rest went
    async with gateway.client() as c:
        last = await c.put(
            location,
            content=data[100 * KIB :],
            headers={"Content-Range": f"bytes {100 * KIB}-{len(data) - 1}/{len(data)}"},
        )
    assert last.status_code == 200  # the session resumed across the restart
    assert gateway.origin.providers.files["google_drive"][0].data == data
    assert gateway.spooled() == []


async def test_expired_sessions_lose_their_spool(gateway: Gateway) -> None:
    data = text(100 * KIB)
    async with gateway.client() as c:
        created = await c.post(clients.GRAPH_ITEM.format(name="計画.txt") + "createUploadSession", json={})
        url = created.json()["uploadUrl"]
        r = await c.put(
            url, content=data[: 60 * KIB], headers={"Content-Range": f"bytes 0-{60 * KIB - 1}/{len(data)}"}
        )
    assert r.status_code == 202 and len(gateway.spooled()) == 1
    await gateway.proxy.sweep()
    assert len(gateway.spooled()) == 1  # still a live session
    gateway.clock.advance(3601)  # session_ttl is 1h
    await gateway.proxy.sweep()
    assert gateway.spooled() == []


# -- several instances on one Redis store ------------------------------------------------------


@contextlib.asynccontextmanager
async def second_instance(
    first: Gateway, prefix: str, tmp_path: Path, spool: Path | None = None
) -> AsyncIterator[str]:
    """Another gateway process on the same Redis store (and, unless ``spool`` says otherwise,
    the same spool folder); yields its proxy URL."""
    assert first.config.proxy is not None
    port = free_port()
    config = tmp_path / "instance-b.yaml"
    source = (tmp_path / "sekimori.yaml").read_text(encoding="utf-8")
    source = source.replace(f"port: {first.proxy.address[1]}", f"port: {port}")
    if spool is not None:
        source += f"  spool: {spool}\n"
    config.write_text(source, encoding="utf-8")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.gateway.proxy.instance",
        str(config),
        str(first.origin.port),
        prefix,
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout is not None and proc.stdin is not None
    try:
        assert (await asyncio.wait_for(proc.stdout.readline(), 60)).strip() == b"ready"
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.stdin.close()
        await asyncio.wait_for(proc.wait(), 30)


async def test_a_session_begun_on_one_instance_finishes_on_another(
    gateway_factory: GatewayFactory, redis_server: RedisServer, tmp_path: Path
) -> None:
    prefix = "two-instances:"
    a = await gateway_factory(store_url=redis_server.url, prefix=prefix)
    data = text(300 * KIB, pii_at=100 * KIB)
    parts = split(data, 128 * KIB, 128 * KIB)
    async with second_instance(a, prefix, tmp_path) as b_url, a.client() as ca, a.client(proxy=b_url) as cb:
        created = await ca.post(clients.GRAPH_ITEM.format(name="名簿.txt") + "createUploadSession", json={})
        url = created.json()["uploadUrl"]
        first = await ca.put(
            url, content=parts[0], headers={"Content-Range": f"bytes 0-{128 * KIB - 1}/{len(data)}"}
        )
        second = await cb.put(
            url, content=parts[1], headers={"Content-Range": f"bytes {128 * KIB}-{256 * KIB - 1}/{len(data)}"}
        )
        last = await cb.put(
            url, content=parts[2], headers={"Content-Range": f"bytes {256 * KIB}-{len(data) - 1}/{len(data)}"}
        )
    assert (first.status_code, second.status_code) == (202, 202)
    body = refused_json(last)  # B found A's session and chunk, assembled the file, found the My Number
    item = body["items"][0]  # type: ignore[index]
    assert item["fully_inspected"] is True and item["rules"][0]["id"] == "u-block-my-number"
    assert a.origin.providers.files["microsoft_graph"] == []
    recs = await a.store.list_messages(kinds={ItemKind.UPLOAD})
    assert [r.subject for r in recs] == ["名簿.txt"]  # one store, both instances


async def test_chunks_in_another_instances_spool_make_the_file_not_fully_inspected(
    gateway_factory: GatewayFactory, redis_server: RedisServer, tmp_path: Path
) -> None:
    prefix = "separate-spools:"
    a = await gateway_factory(store_url=redis_server.url, prefix=prefix)
    data = text(200 * KIB)
    async with (
        second_instance(a, prefix, tmp_path, spool=tmp_path / "spool-b") as b_url,
        a.client() as ca,
        a.client(proxy=b_url) as cb,
    ):
        created = await ca.post(clients.GRAPH_ITEM.format(name="計画.txt") + "createUploadSession", json={})
        url = created.json()["uploadUrl"]
        await ca.put(
            url, content=data[: 100 * KIB], headers={"Content-Range": f"bytes 0-{100 * KIB - 1}/{len(data)}"}
        )
        last = await cb.put(
            url,
            content=data[100 * KIB :],
            headers={"Content-Range": f"bytes {100 * KIB}-{len(data) - 1}/{len(data)}"},
        )
    item = refused_json(last)["items"][0]  # type: ignore[index]
    assert item["fully_inspected"] is False and "another instance's spool" in " ".join(item["not_inspected"])
    assert a.origin.providers.files["microsoft_graph"] == []


async def test_an_approved_upload_passes_again_as_often_as_granted(gateway_factory: GatewayFactory) -> None:
    from datetime import UTC, datetime

    from gateway import actions

    gateway = await gateway_factory(
        proxy_extra="  identity:\n    networks: {127.0.0.0/8: taro@example.co.jp}\n"
    )
    async with gateway.client() as c:
        first = await clients.dropbox_upload(c, "/給与一覧.xlsx", CLEAN)
        ref = refused_json(first)["reference"]
        pending = await gateway.store.get(str(ref))
        assert pending is not None and pending.state is State.PENDING_APPROVAL
        approver = actions.Actor(actions.Role.APPROVER, "boss@example.co.jp")
        await actions.perform(
            gateway.store, pending, "approve", approver, now=datetime.now(UTC), via="api", text="OK"
        )
        again = await clients.dropbox_upload(c, "/給与一覧.xlsx", CLEAN)
        other = await clients.dropbox_upload(c, "/給与一覧.xlsx", CLEAN + b"x")  # other content: no pass
        spent = await clients.dropbox_upload(c, "/給与一覧.xlsx", CLEAN)  # the one use is spent
    assert again.status_code == 200
    passed = await gateway.store.get(again.headers["x-sekimori-reference"])
    assert passed is not None and passed.state is State.PASSED and passed.meta["passed_by"] == ref
    assert (other.status_code, spent.status_code) == (403, 403)
    assert [f.data for f in gateway.origin.providers.files["dropbox"]] == [CLEAN]


async def test_a_finishing_request_that_names_no_file_is_not_waved_through(gateway: Gateway) -> None:
    async with gateway.client() as c:
        r = await c.post(
            "https://slack.com/api/files.completeUploadExternal",
            data={"files": "not json", "channel_id": "C1"},
        )
    item = refused_json(r)["items"][0]  # type: ignore[index]
    assert item["fully_inspected"] is False and "names no upload" in item["not_inspected"][0]
    assert gateway.origin.received == []


async def test_uploads_are_counted_by_service_and_verdict(gateway: Gateway) -> None:
    from gateway import metrics

    def count(service: str, verdict: str) -> float:
        value = metrics.REGISTRY.get_sample_value(
            "sekimori_uploads_total", {"service": service, "verdict": verdict}
        )
        return value or 0.0

    before = (count("google_drive", "deliver"), count("google_drive", "block"))
    async with gateway.client() as c:
        await clients.drive_multipart(c, "議事録.txt", text(KIB))
        await clients.drive_multipart(c, "顧客一覧.csv", text(2 * KIB, pii_at=500))
    assert (count("google_drive", "deliver") - before[0], count("google_drive", "block") - before[1]) == (
        1,
        1,
    )


# -- the security team's view: the same audit chain as mail, the UI's queues and dashboard ------


def test_verdicts_are_in_mails_audit_chain_and_the_security_teams_queue_and_dashboard(
    mail: MailEnv, people: Any, tmp_path: Path, origin_certs: OriginCerts
) -> None:
    """The UI over the store the proxy writes to: a mail held by the relay and two uploads judged
    by the real proxy (one refused, one quarantined as not fully inspected) share one hash chain,
    and the security team sees the uploads in its queue and on its dashboard."""
    held = mail.put(TARO, ["x@partner.example"], "quarantine", subject="見積書")

    async def upload() -> tuple[str, str]:
        origin = FakeOrigin(origin_certs)
        await origin.start()
        config = load_config(write_config(tmp_path / "proxy", origin))
        gateway = await start_gateway(config, origin, store=mail.store)
        try:
            async with gateway.client() as c:
                refused = await clients.dropbox_upload(c, "/顧客一覧.csv", MY_NUMBER)
                unread = await c.post(  # names no file the gateway saw: reviewed, never waved through
                    "https://slack.com/api/files.completeUploadExternal",
                    data={"files": "not json", "channel_id": "C1"},
                )
            assert origin.received == []
            return refused.headers["x-sekimori-reference"], unread.headers["x-sekimori-reference"]
        finally:
            await gateway.proxy.stop()
            gateway.inspector.close()
            await origin.stop()

    (tmp_path / "proxy").mkdir()
    refused_id, quarantined_id = mail.run(upload())
    assert mail.get(refused_id).state is State.REFUSED
    assert mail.get(quarantined_id).state is State.QUARANTINED
    events = mail.events()
    assert {e.msg_id for e in events} >= {held.id, refused_id, quarantined_id}
    assert [e.seq for e in events] == sorted(e.seq for e in events)  # one sequence for both kinds
    assert mail.run(verify_store(mail.store)).ok
    sec = client_for(mail, people, SEC)
    queue = sec.get("/admin").text
    assert "見積書" in queue and quarantined_id in queue  # the upload beside the mail
    stats = sec.get("/api/dashboard").json()
    assert stats["totals"] == {"quarantine": 1}  # the mail
    per_service = {k: sum(v) for k, v in stats["uploads_per_service"].items()}
    assert per_service == {"dropbox": 1, "slack": 1}  # uploads count, even of unknown users
    assert "u-block-my-number" in {r["rule_id"] for r in stats["top_rules"]}
