"""Sharing changes through the real gate, under the shipped ``policies/default.yaml``: a real
embedded mitmproxy, a real HTTPS client (httpx) and the fake providers. For every service, a
request that makes a link public is sent for the manager's approval (the origin never sees it);
an organisation-only link passes; a public link to a folder is refused; an invitation to a
first-time domain is coached; an approved change passes again, and only that change, on every
instance of a Redis-backed gateway; a file completed into a Slack channel shared with another
organisation is judged as a sharing change."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from gateway import actions
from gateway.store import ItemKind, MessageRecord, State
from tests.gateway.proxy import clients
from tests.gateway.proxy.conftest import CLEAN, UPLOAD_POLICY, Gateway, GatewayFactory, default_policy_text
from tests.gateway.proxy.test_gate import second_instance
from tests.gateway.redis_server import RedisServer

USER, MANAGER = "taro.yamada@example.co.jp", "hanako.sato@example.co.jp"
IDENTITY = f"  identity:\n    networks: {{127.0.0.0/8: {USER}}}\n"
Call = Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]


@pytest.fixture
async def gateway(gateway_factory: GatewayFactory) -> Gateway:
    return await gateway_factory(proxy_extra=IDENTITY, policy_text=default_policy_text())


async def item(gateway: Gateway, r: httpx.Response) -> MessageRecord:
    rec = await gateway.store.get(r.headers["x-sekimori-reference"])
    assert rec is not None and rec.kind is ItemKind.UPLOAD
    return rec


PUBLIC: dict[str, tuple[str, Call]] = {
    "drive anyone": (
        "google_drive",
        lambda c: clients.drive_share(c, "F1", {"type": "anyone", "role": "reader"}),
    ),
    "drive web client": (
        "google_drive",
        lambda c: clients.drive_share(
            c,
            "F1",
            {"role": "reader", "type": "anyone", "withLink": True},
            host="clients6.google.com",
            version="v2internal",
        ),
    ),
    "box open": ("box", lambda c: clients.box_share(c, "files", "11", {"shared_link": {"access": "open"}})),
    "box enterprise default": ("box", lambda c: clients.box_share(c, "files", "11", {"shared_link": {}})),
    "graph anonymous": (
        "microsoft_graph",
        lambda c: clients.graph_link(c, "I1", {"type": "view", "scope": "anonymous"}),
    ),
    "graph organisation default": (
        "microsoft_graph",
        lambda c: clients.graph_link(c, "I1", {"type": "edit"}),
    ),
    "dropbox without settings": (
        "dropbox",
        lambda c: clients.dropbox_sharing(
            c, "create_shared_link_with_settings", {"path": "/見積/顧客一覧.csv"}
        ),
    ),
    "dropbox public audience": (
        "dropbox",
        lambda c: clients.dropbox_sharing(
            c,
            "create_shared_link_with_settings",
            {"path": "/a.pdf", "settings": {"audience": {".tag": "public"}}},
        ),
    ),
    "slack public link": ("slack", lambda c: clients.slack_public_url(c, "F0SLACK1")),
    "dropbox widened": (
        "dropbox",
        lambda c: clients.dropbox_sharing(
            c,
            "modify_shared_link_settings",
            {"url": "https://www.dropbox.com/scl/fi/x/y", "settings": {"audience": "public"}},
        ),
    ),
}


@pytest.mark.parametrize("case", sorted(PUBLIC))
async def test_a_public_link_is_sent_for_the_managers_approval(gateway: Gateway, case: str) -> None:
    service, call = PUBLIC[case]
    async with gateway.client() as c:
        r = await call(c)
    assert r.status_code == 403 and r.headers["x-sekimori-verdict"] == "refused"
    [refused] = r.json()["items"]
    assert refused["state"] == "pending_approval"
    assert refused["approval"]["requested_from"] == [MANAGER]
    assert f"{MANAGER} に承認を依頼しました" in refused["next"]["ja"]
    assert "同じ共有設定をもう一度行う" in refused["next"]["ja"]
    assert [x["id"] for x in refused["rules"]] == ["approval-public-sharing"]
    assert gateway.origin.providers.shares == [], "the provider never saw the request"
    rec = await item(gateway, r)
    assert (rec.state, rec.sender, rec.approvers) == (State.PENDING_APPROVAL, USER, (MANAGER,))
    assert rec.upload is not None and (rec.upload.service, rec.upload.sharing_scope) == (service, "anyone")
    # The browser's answer says the same, in Japanese first.
    async with gateway.client(headers={"Accept": "text/html"}) as browser:
        page = await call(browser)
    assert page.status_code == 403 and "承認を依頼しました" in page.text and MANAGER in page.text


ORGANISATION: dict[str, Call] = {
    "drive own domain": lambda c: clients.drive_share(
        c, "F1", {"type": "domain", "role": "reader", "domain": "example.co.jp"}
    ),
    "drive colleague": lambda c: clients.drive_share(
        c, "F1", {"type": "user", "role": "writer", "emailAddress": "jiro@example.co.jp"}
    ),
    "box company": lambda c: clients.box_share(c, "folders", "12", {"shared_link": {"access": "company"}}),
    "box rename": lambda c: clients.box_share(c, "files", "11", {"name": "見積書_最終.xlsx"}),
    "box link removed": lambda c: clients.box_share(c, "files", "11", {"shared_link": None}),
    "graph organisation": lambda c: clients.graph_link(c, "I1", {"type": "view", "scope": "organization"}),
    "dropbox team": lambda c: clients.dropbox_sharing(
        c, "create_shared_link_with_settings", {"path": "/a.pdf", "settings": {"audience": "team"}}
    ),
}


@pytest.mark.parametrize("case", sorted(ORGANISATION))
async def test_sharing_inside_the_organisation_passes(gateway: Gateway, case: str) -> None:
    async with gateway.client() as c:
        r = await ORGANISATION[case](c)
    assert r.status_code in (200, 201), r.text
    assert len(gateway.origin.providers.shares) == 1


async def test_a_public_link_to_a_folder_is_refused(gateway: Gateway) -> None:
    async with gateway.client() as c:
        r = await clients.box_share(c, "folders", "12", {"shared_link": {"access": "open"}})
    assert r.status_code == 403
    [refused] = r.json()["items"]
    assert refused["state"] == "refused" and [x["id"] for x in refused["rules"]] == [
        "block-public-folder-link"
    ]
    assert gateway.origin.providers.shares == []
    rec = await item(gateway, r)
    assert rec.upload is not None and (rec.upload.sharing_target, rec.upload.destination) == (
        "folder",
        "folder 12",
    )


async def test_an_invitation_to_a_first_time_domain_is_coached(gateway: Gateway) -> None:
    invite = {
        "recipients": [{"email": "tanaka@new-partner.example"}],
        "roles": ["read"],
        "expirationDateTime": "2026-12-31T00:00:00Z",
    }
    async with gateway.client() as c:
        r = await clients.graph_invite(c, "I1", invite)
    assert r.status_code == 403
    [warned] = r.json()["items"]
    assert warned["state"] == "held" and [x["id"] for x in warned["rules"]] == ["warn-invite-new-domain"]
    assert warned["proceed_url"].startswith("http://127.0.0.1:8025/a/")
    rec = await item(gateway, r)
    assert rec.recipients == ("tanaka@new-partner.example",)
    # A browser's 403 page offers the same signed link to go on with a reason.
    async with gateway.client(headers={"Accept": "text/html"}) as browser:
        page = await clients.graph_invite(browser, "I1", invite)
    assert page.status_code == 403
    assert '<a class=go href="http://127.0.0.1:8025/a/' in page.text and "理由を入力して続ける" in page.text
    # Once the user gave a reason, the same invitation passes (and another one does not).
    await actions.perform(
        gateway.store,
        rec,
        "proceed",
        actions.Actor(actions.Role.SENDER, USER),
        now=datetime.now(UTC),
        via="link",
        text="新しい委託先の担当者です",
    )
    other = {**invite, "recipients": [{"email": "sato@new-partner.example"}]}
    async with gateway.client() as c:
        again = await clients.graph_invite(c, "I1", invite)
        another = await clients.graph_invite(c, "I1", other)
    assert again.status_code == 200 and another.status_code == 403
    assert [s.body["recipients"] for s in gateway.origin.providers.shares] == [invite["recipients"]]


async def test_a_known_domain_passes_and_an_outside_link_needs_an_expiry(gateway: Gateway) -> None:
    mail = await gateway.store.accept(
        b"Subject: x\r\n\r\nx\r\n", sender=USER, recipients=["a@partner.example"]
    )
    for step in (State.DELIVERING, State.DELIVERED):
        mail = await gateway.store.transition(mail.id, step, actor="test", reason="earlier mail")
    link: dict[str, object] = {
        "type": "view",
        "scope": "users",
        "recipients": [{"email": "b@partner.example"}],
    }
    async with gateway.client() as c:
        invited = await clients.box_invite(c, "folder", "12", "b@partner.example")
        forever = await clients.graph_link(c, "I1", link)
        until = await clients.graph_link(c, "I1", {**link, "expirationDateTime": "2026-12-31T00:00:00Z"})
    assert invited.status_code == 201 and until.status_code == 200
    # A link for outside people without an expiry date is coached.
    assert forever.status_code == 403
    assert [x["id"] for x in forever.json()["items"][0]["rules"]] == ["warn-external-link-without-expiry"]
    assert len(gateway.origin.providers.shares) == 2


async def test_an_approved_change_passes_again_and_no_other(gateway: Gateway) -> None:
    body: dict[str, object] = {"type": "anyone", "role": "reader"}
    async with gateway.client() as c:
        first = await clients.drive_share(c, "F1", body)
    pending = await item(gateway, first)
    approver = actions.Actor(actions.Role.APPROVER, MANAGER)
    await actions.perform(gateway.store, pending, "approve", approver, now=datetime.now(UTC), via="web")
    async with gateway.client() as c:
        other_file = await clients.drive_share(c, "F2", body)
        wider = await clients.drive_share(c, "F1", {"type": "anyone", "role": "writer"})
        again = await clients.drive_share(c, "F1", body)
        once_more = await clients.drive_share(c, "F1", body)
    assert (other_file.status_code, wider.status_code, again.status_code, once_more.status_code) == (
        403,
        403,
        200,
        403,
    )
    passed = await item(gateway, again)
    assert passed.state is State.PASSED and passed.meta["passed_by"] == pending.id
    assert [s.path for s in gateway.origin.providers.shares] == ["/drive/v3/files/F1/permissions"]
    used = [e for e in await gateway.store.audit_events(msg_id=pending.id) if e.action == "pass_used"]
    assert [(e.to_state, e.extra["for"]) for e in used] == [("expired", passed.id)]


async def test_a_sharing_request_that_cannot_be_read_is_not_passed_as_inspected(gateway: Gateway) -> None:
    async with gateway.client() as c:
        r = await c.post(
            "https://www.googleapis.com/drive/v3/files/F1/permissions",
            content=b"type=anyone",
            headers={"Content-Type": "application/json"},
        )
    assert r.status_code == 403
    [refused] = r.json()["items"]
    assert refused["state"] == "quarantined" and refused["fully_inspected"] is False
    assert gateway.origin.providers.shares == []


async def test_an_approval_is_one_pass_for_every_instance(
    gateway_factory: GatewayFactory, redis_server: RedisServer, tmp_path: Path
) -> None:
    """Two gateway processes on one real Redis store: the change asked on B is approved, then
    tried on A and B at once; exactly one of them passes (the pass is spent atomically). A Slack
    channel seen through A is known on B."""
    prefix = f"sharing-{secrets.token_hex(4)}:"
    a = await gateway_factory(
        proxy_extra=IDENTITY, policy_text=default_policy_text(), store_url=redis_server.url, prefix=prefix
    )
    body: dict[str, object] = {"type": "anyone", "role": "reader"}
    async with second_instance(a, prefix, tmp_path) as b_url, a.client() as ca, a.client(proxy=b_url) as cb:
        first = await clients.drive_share(cb, "F1", body)
        pending = await item(a, first)  # B's item, in the one store
        assert pending.state is State.PENDING_APPROVAL and pending.approvers == (MANAGER,)
        approver = actions.Actor(actions.Role.APPROVER, MANAGER)
        await actions.perform(a.store, pending, "approve", approver, now=datetime.now(UTC), via="web")
        both = await asyncio.gather(clients.drive_share(ca, "F1", body), clients.drive_share(cb, "F1", body))
        # What one instance learned of a Slack channel, the other knows too.
        await clients.slack_channel(ca, "CEXT1")
        *_, posted = await clients.slack_upload(cb, "議事録.txt", CLEAN, channel="CEXT1")
    assert sorted(r.status_code for r in both) == [200, 403]
    assert [s.path for s in a.origin.providers.shares] == ["/drive/v3/files/F1/permissions"]
    used = [e for e in await a.store.audit_events(msg_id=pending.id) if e.action == "pass_used"]
    assert [e.to_state for e in used] == ["expired"]
    assert (await a.store.get(pending.id)).state is State.EXPIRED  # type: ignore[union-attr]
    shared = await item(a, posted)
    assert shared.upload is not None and shared.upload.sharing_scope == "specific"


SHARED_CHANNEL_POLICY = (
    UPLOAD_POLICY
    + """\
  - id: warn-shared-channel
    title: {ja: 社外と共有のチャンネル, en: Channel shared with another organisation}
    description: {ja: 他の組織と共有しているチャンネルです, en: The channel is shared with another organisation}
    when: {direction: upload, sharing_scope: [specific]}
    action: warn
"""
)


async def test_a_file_into_a_channel_shared_with_another_organisation_is_a_sharing_change(
    gateway_factory: GatewayFactory,
) -> None:
    gateway = await gateway_factory(proxy_extra=IDENTITY, policy_text=SHARED_CHANNEL_POLICY)
    async with gateway.client() as c:
        # Slack's client reads the channels it shows; the gateway learns which are Slack Connect.
        shown = await clients.slack_channel(c, "CEXT1")
        assert shown.json()["channel"]["is_ext_shared"] is True
        await clients.slack_channel(c, "C0123")
        inside = await clients.slack_upload(c, "議事録.txt", CLEAN, channel="C0123")
        outside = await clients.slack_upload(c, "議事録.txt", CLEAN, channel="CEXT1")
    # Each file was judged as an upload at its upload URL; putting it into the internal channel
    # is no sharing change, into the Slack Connect channel it is one.
    assert [r.status_code for r in inside] == [200, 200, 200]
    for uploaded in (inside[1], outside[1]):
        plain = await item(gateway, uploaded)
        assert plain.upload is not None and plain.upload.sharing_scope is None
    assert "x-sekimori-reference" not in inside[-1].headers
    assert outside[-1].status_code == 403
    [warned] = outside[-1].json()["items"]
    assert warned["state"] == "held" and [x["id"] for x in warned["rules"]] == ["warn-shared-channel"]
    rec = await item(gateway, outside[-1])
    assert rec.upload is not None and (rec.upload.filename, rec.upload.sharing_scope) == (
        "議事録.txt",
        "specific",
    )
    assert rec.upload.destination == "CEXT1 (shared with T0PARTNER)"
    assert [channel for _, channel in gateway.origin.providers.slack_posted] == ["C0123"]


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
async def test_an_approved_change_passes_only_within_its_validity(
    gateway_factory: GatewayFactory, request: pytest.FixtureRequest, backend: str
) -> None:
    """The shipped rule grants 24 hours: a day and an hour after the approval the same change is
    sent for approval again; 23 hours after the next approval it passes. The store keeps the
    test's clock (SQLite, and the real redis-server)."""
    url = request.getfixturevalue("redis_server").url if backend == "redis" else None
    gateway = await gateway_factory(
        proxy_extra=IDENTITY, policy_text=default_policy_text(), store_url=url, clocked_store=True
    )
    body: dict[str, object] = {"type": "anyone", "role": "reader"}
    approver = actions.Actor(actions.Role.APPROVER, MANAGER)
    async with gateway.client() as c:
        first = await item(gateway, await clients.drive_share(c, "F1", body))
        await actions.perform(gateway.store, first, "approve", approver, now=gateway.clock.now, via="web")
        gateway.clock.advance(timedelta(hours=25).total_seconds())
        late = await clients.drive_share(c, "F1", body)
        assert late.status_code == 403 and late.json()["items"][0]["state"] == "pending_approval"
        second = await item(gateway, late)
        await actions.perform(gateway.store, second, "approve", approver, now=gateway.clock.now, via="web")
        gateway.clock.advance(timedelta(hours=23).total_seconds())
        within = await clients.drive_share(c, "F1", body)
    assert within.status_code == 200
    assert (await item(gateway, within)).meta["passed_by"] == second.id
    assert len(gateway.origin.providers.shares) == 1
