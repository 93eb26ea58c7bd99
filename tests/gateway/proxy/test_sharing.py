"""Sharing changes through the real gate, under the shipped ``policies/default.yaml``: a real
embedded mitmproxy, a real HTTPS client (httpx) and the fake providers. For every service, a
request that makes a link public is sent for the manager's approval (the origin never sees it);
an organisation-only link passes; a public link to a folder is refused; an invitation to a
first-time domain is coached; an approved change passes again, and only that change."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import httpx
import pytest

from gateway import actions
from gateway.store import ItemKind, MessageRecord, State
from tests.gateway.proxy import clients
from tests.gateway.proxy.conftest import Gateway, GatewayFactory, default_policy_text

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
