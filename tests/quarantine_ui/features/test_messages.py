"""A sender's mail and the actions on a message, through pages and API: who sees what, CSRF, audit, hostile mail."""

from __future__ import annotations

from typing import Any

from gateway.store import State
from tests.quarantine_ui.conftest import password_step
from tests.quarantine_ui.features.people import (
    BOSS,
    HANAKO,
    MY_NUMBER_CSV,
    SEC,
    TARO,
    api_headers,
    client_for,
    csrf,
    ui_events,
)
from tests.quarantine_ui.features.people import people as people
from tests.quarantine_ui.mailfix import MailEnv, make_raw
from tests.quarantine_ui.mailfix import mail as mail


def test_sender_sees_own_held_mail_with_findings_and_countdown(mail: MailEnv, people: Any) -> None:
    raw = make_raw(
        TARO, ["kyaku@partner.example", "jimu@example.jp"], attachments=(("顧客一覧.csv", MY_NUMBER_CSV),)
    )
    mine = mail.put(TARO, ["kyaku@partner.example", "jimu@example.jp"], raw=raw, subject="顧客一覧")
    theirs = mail.put(HANAKO, ["x@partner.example"], subject="花子のメール")
    client = client_for(mail, people, TARO)
    page = client.get("/messages").text
    assert "顧客一覧" in page and "花子のメール" not in page
    assert 'class="countdown" data-release="' in page and "あと 15 分で送信" in page
    detail = client.get(f"/messages/{mine.id}").text
    assert 'kyaku@partner.example <span class="tag external">社外</span>' in detail
    assert "jimu@example.jp</li>" in detail  # internal: not marked
    assert "顧客一覧.csv" in detail
    # Findings: type, redacted value (never the number itself), location and the rule's explanation.
    assert "マイナンバー" in detail and "6214 9832 0257" not in detail and "621498320257" not in detail
    assert "顧客一覧.csv" in detail and "hold の説明" in detail
    assert 'id="cancel"' in detail and 'id="send-now"' in detail
    api = client.get(f"/api/messages/{mine.id}").json()
    assert api["recipients"] == [
        {"address": "kyaku@partner.example", "external": True},
        {"address": "jimu@example.jp", "external": False},
    ]
    assert "my_number" in api["types"] and all("6214" not in f["value"] for f in api["findings"])
    assert [m["id"] for m in client.get("/api/messages").json()["messages"]] == [mine.id]
    assert theirs.id not in client.get("/messages?lang=en").text


def test_idor_sender_cannot_see_or_act_on_anothers_mail(mail: MailEnv, people: Any) -> None:
    other = mail.put(HANAKO, ["x@partner.example"], subject="花子の秘密")
    pending = mail.put(HANAKO, ["y@partner.example"], "approval", approvers=(BOSS,))
    client = client_for(mail, people, TARO)
    token = csrf(client)
    h = api_headers(client)
    for msg in (other, pending):
        assert client.get(f"/messages/{msg.id}").status_code == 404
        assert client.get(f"/api/messages/{msg.id}").status_code == 404
        for action in ("cancel", "send-now", "justify", "approve", "reject", "release", "delete"):
            r = client.post(f"/messages/{msg.id}/{action}", data={"csrf_token": token, "justification": "x"})
            assert r.status_code in (403, 404), action
            r = client.post(f"/api/messages/{msg.id}/{action}", json={"justification": "x"}, headers=h)
            assert r.status_code in (403, 404), action
            assert "花子の秘密" not in r.text
    # Unknown and existing-but-foreign ids answer alike.
    assert client.get("/api/messages/no-such-id").json() == client.get(f"/api/messages/{other.id}").json()
    for path in ("/admin", "/policy", "/dashboard", "/audit", "/approvals"):
        assert client.get(path).status_code == 403, path
    for path in ("/api/queue", "/api/policy", "/api/dashboard", "/api/audit", "/api/approvals"):
        assert client.get(path).status_code == 403, path
    r = client.post("/api/queue/bulk", json={"action": "release", "ids": [other.id]}, headers=h)
    assert r.status_code == 403
    # A signed link issued to Taro for Hanako's message does nothing either.
    link = mail.env.ui.links.signer.create(other.id, "cancel", 600, f"sender:{TARO}")
    assert client.post(f"/a/{link}").status_code == 409
    assert mail.get(other.id).state is State.HELD and mail.get(pending.id).state is State.PENDING_APPROVAL
    assert ui_events(mail, other.id) == [] and ui_events(mail, pending.id) == []


def test_csrf_is_refused_on_pages_and_api(mail: MailEnv, people: Any) -> None:
    held = mail.put(TARO, ["x@partner.example"])
    client = client_for(mail, people, TARO)
    assert client.post(f"/messages/{held.id}/cancel").status_code == 403
    assert client.post(f"/messages/{held.id}/cancel", data={"csrf_token": "forged"}).status_code == 403
    assert client.post(f"/api/messages/{held.id}/cancel", json={}).status_code == 403
    r = client.post(f"/api/messages/{held.id}/cancel", json={}, headers={"X-CSRF-Token": "forged"})
    assert r.status_code == 403 and r.json()["error"] == "csrf"
    assert mail.get(held.id).state is State.HELD
    # A cross-site form can only send a form body, which the API refuses before acting.
    h = api_headers(client)
    assert client.post(f"/api/messages/{held.id}/cancel", data={"a": "b"}, headers=h).status_code == 415
    assert mail.get(held.id).state is State.HELD


def test_sender_actions_are_audited_with_the_user(mail: MailEnv, people: Any) -> None:
    a = mail.put(TARO, ["x@partner.example"])
    b = mail.put(TARO, ["y@partner.example"])
    c = mail.put(TARO, ["z@partner.example"], "approval", approvers=(BOSS,))
    client = client_for(mail, people, TARO)
    r = client.post(f"/messages/{a.id}/cancel", data={"csrf_token": csrf(client)})
    assert r.status_code == 303 and r.headers["location"] == f"/messages/{a.id}?done=cancelled"
    assert "送信を取り消しました" in client.get(r.headers["location"]).text
    h = api_headers(client)
    r = client.post(f"/api/messages/{b.id}/send-now", json={}, headers=h)
    assert r.status_code == 200 and r.json()["message"]["state"] == "delivering"
    r = client.post(f"/api/messages/{c.id}/justify", json={"justification": "契約に必要です"}, headers=h)
    assert r.status_code == 200
    assert client.post(f"/api/messages/{a.id}/send-now", json={}, headers=h).status_code == 409
    assert ui_events(mail, a.id) == [("transition", f"sender:{TARO}", "cancelled", "web")]
    assert ui_events(mail, b.id) == [("transition", f"sender:{TARO}", "delivering", "api")]
    assert ui_events(mail, c.id) == [("approval_requested", f"sender:{TARO}", "pending_approval", "api")]
    # The approver sees the justification.
    boss = client_for(mail, people, BOSS)
    assert "契約に必要です" in boss.get("/approvals").text


def test_send_now_only_within_the_window(mail: MailEnv, people: Any) -> None:
    held = mail.put(TARO, ["x@partner.example"], release_in=120)
    client = client_for(mail, people, TARO)
    mail.env.clock.advance(121)
    r = client.post(f"/api/messages/{held.id}/send-now", json={}, headers=api_headers(client))
    assert r.status_code == 409 and r.json()["error"] == "state_changed"


def test_hostile_mail_renders_inert(mail: MailEnv, people: Any) -> None:
    html = (
        "<p>Hello <script>alert('x')</script><a href=\"javascript:alert(1)\">click</a>"
        '<img src="https://tracker.example/p.gif" onerror="alert(2)">'
        '<a href="https://ok.example/" onclick="steal()">ok</a><style>body{display:none}</style></p>'
    )
    evil_name = '"><img src=x onerror=alert(3)>.pdf'
    raw = make_raw(
        TARO,
        ["x@partner.example"],
        subject="<script>alert(4)</script>",
        html=html,
        attachments=((evil_name, b"%PDF-1.4"),),
    )
    rec = mail.put(TARO, ["x@partner.example"], "quarantine", raw=raw, subject="<script>alert(4)</script>")
    sec = client_for(mail, people, SEC)
    for path in (f"/messages/{rec.id}", "/admin"):
        page = sec.get(path)
        assert page.status_code == 200
        body = page.text
        assert "<script>alert" not in body and "onerror" not in body.replace("onerror=alert(3)&gt;", "")
        assert "javascript:" not in body and "onclick" not in body and "tracker.example" not in body
        assert "<style>" not in body and "<img src=x" not in body
        assert "&lt;script&gt;alert(4)&lt;/script&gt;" in body
    detail = sec.get(f"/messages/{rec.id}").text
    assert "&#34;&gt;&lt;img src=x onerror=alert(3)&gt;.pdf" in detail
    assert '<a rel="noopener noreferrer nofollow">click</a>' in detail
    csp = sec.get(f"/messages/{rec.id}").headers["content-security-policy"]
    assert "default-src 'none'" in csp and "img-src 'self'" in csp


def test_mfa_cannot_be_skipped_for_mail_pages(mail: MailEnv, people: Any) -> None:
    mail.put(TARO, ["a@partner.example"], "approval", approvers=(BOSS,))
    client = mail.env.client()
    r = password_step(client, BOSS)
    assert r.headers["location"].startswith("/login/mfa")
    for path in ("/approvals", "/messages", "/admin"):
        r = client.get(path)
        assert r.status_code == 303 and r.headers["location"].startswith("/login/mfa"), path
    assert client.get("/api/approvals").json()["error"] == "mfa_required"


SUPPLIERS_CSV = (
    "取引先名,代表電話,本社所在地\r\n"
    "株式会社北山商事,03-3456-7801,東京都港区芝公園1-2-3\r\n"
    "株式会社南川工業,06-6345-1122,大阪府大阪市北区梅田2-4-9\r\n"
    "有限会社東西物流,052-231-4455,愛知県名古屋市中区栄3-5-1\r\n"
).encode()
CUSTOMER_CSV = "氏名,電話,住所\r\n山田 花子,090-1234-5678,東京都港区芝公園1-2-3\r\n".encode()


def test_people_and_companies_contact_data_are_shown_apart(mail: MailEnv, people: Any) -> None:
    to = ["kyaku@partner.example"]
    raw = make_raw(TARO, to, attachments=(("取引先.csv", SUPPLIERS_CSV), ("顧客.csv", CUSTOMER_CSV)))
    rec = mail.put(TARO, to, raw=raw, subject="取引先一覧")
    client = client_for(mail, people, TARO)
    detail = client.get(f"/messages/{rec.id}").text
    assert "1 人分の個人情報" in detail and "ほかに 3 社分の企業の連絡先（個人には数えていません）" in detail
    assert '<td class="holder" data-label="誰の情報か" title="列「代表電話」">企業・団体</td>' in detail
    api = client.get(f"/api/messages/{rec.id}").json()
    assert (api["records"], api["organisations"]) == (1, 3)
    holders = {(f["type"], f.get("holder")) for f in api["findings"]}
    assert ("phone_number", "organisation") in holders and ("phone_number", "person") in holders
    english = client.get(f"/messages/{rec.id}?lang=en").text
    assert "1 people" in english and "and 3 companies&#39; contact data" in english
