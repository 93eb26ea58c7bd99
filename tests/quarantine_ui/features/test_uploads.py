"""Uploads in the UI, through pages and API: the user's own uploads beside their mail, upload
approvals beside mail approvals, coaching ("go on with a reason"), the security team's search,
dashboard and file download (attachment only, audited), and IDOR: nobody reaches another
person's upload by URL or API."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from typing import Any

from gateway.store import State
from tests.quarantine_ui.conftest import csrf_of
from tests.quarantine_ui.features.people import (
    AUDITOR,
    BOSS,
    DEPUTY,
    HANAKO,
    SEC,
    TARO,
    api_headers,
    client_for,
    csrf,
    ui_events,
)
from tests.quarantine_ui.features.people import people as people
from tests.quarantine_ui.mailfix import UPLOAD_FACTS, MailEnv
from tests.quarantine_ui.mailfix import mail as mail

MY_NUMBER_CSV = "氏名,個人番号\n山田太郎,6214 9832 0257\n".encode()
SHARED = dataclasses.replace(
    UPLOAD_FACTS, service="google_drive", host="www.googleapis.com", sharing_scope="anyone"
)


def test_users_see_their_own_uploads_beside_their_mail(mail: MailEnv, people: Any) -> None:
    held_mail = mail.put(TARO, ["x@partner.example"], subject="見積書")
    pending = mail.put_upload(TARO, "approval", approvers=(BOSS,))
    warned = mail.put_upload(TARO, "warn")
    refused = mail.put_upload(TARO, "block", data=MY_NUMBER_CSV)
    theirs = mail.put_upload(
        HANAKO, "approval", approvers=(BOSS,), facts=dataclasses.replace(UPLOAD_FACTS, filename="花子.csv")
    )
    client = client_for(mail, people, TARO)
    page = client.get("/messages").text
    assert "見積書" in page and "花子.csv" not in page
    for rec, status in ((pending, "pending_approval"), (warned, "held"), (refused, "not_sent")):
        shown = client.get("/messages", params={"status": status}).text
        assert f'id="msg-{rec.id}"' in shown, status
        assert (f'id="msg-{held_mail.id}"' in shown) is (status == "held")
    assert "顧客一覧.csv" in page and "Box" in page and "テナント 4711" in page and "営業部/共有" in page
    assert "警告で停止中" in page and "アップロード拒否" in page, "an upload's state in its own words"
    listed = {m["id"]: m for m in client.get("/api/messages").json()["messages"]}
    assert set(listed) == {held_mail.id, pending.id, warned.id, refused.id}
    assert listed[pending.id]["kind"] == "upload" and listed[held_mail.id]["kind"] == "mail"
    assert (
        listed[pending.id]["upload"]["service"] == "box" and listed[pending.id]["upload"]["tenant"] == "4711"
    )
    detail = client.get(f"/messages/{refused.id}").text
    assert "規則により拒否されました" in detail
    # Findings are redacted; the file itself is never in a page, and a user may not download it.
    assert "6214 9832 0257" not in detail and "621498320257" not in detail and "マイナンバー" in detail
    assert 'id="download-file"' not in detail
    assert client.get(f"/messages/{refused.id}/file").status_code == 404
    assert theirs.id not in client.get("/messages?lang=en").text


def test_an_approver_approves_an_upload_in_the_same_list_as_mail(mail: MailEnv, people: Any) -> None:
    mail_req = mail.put(TARO, ["y@partner.example"], "approval", approvers=(BOSS,), subject="名簿の送付")
    upload = mail.put_upload(TARO, "approval", data=MY_NUMBER_CSV, approvers=(BOSS,))
    taro = client_for(mail, people, TARO)
    r = taro.post(
        f"/messages/{upload.id}/justify",
        data={"csrf_token": csrf(taro), "justification": "監査法人への提出のため"},
    )
    assert r.status_code == 303
    boss = client_for(mail, people, BOSS)
    page = boss.get("/approvals").text
    assert f'id="approval-{mail_req.id}"' in page and f'id="approval-{upload.id}"' in page
    card = page.split(f'id="approval-{upload.id}"')[1].split("</section>")[0]
    for shown in (
        "顧客一覧.csv",
        "Box",
        "テナント 4711",
        "営業部/共有",
        "監査法人への提出のため",
        "マイナンバー",
    ):
        assert shown in card, shown
    assert "6214 9832 0257" not in card and "同じファイルを同じアップロード先に" in card
    api = {m["id"]: m for m in boss.get("/api/approvals").json()["approvals"]}
    assert api[upload.id]["upload"]["filename"] == "顧客一覧.csv"
    r = boss.post(
        f"/messages/{upload.id}/approve", data={"csrf_token": csrf(boss, "/approvals"), "comment": "了解"}
    )
    assert r.status_code == 303 and r.headers["location"] == "/approvals?done=approved_upload"
    assert "利用者は同じファイルをもう一度アップロードできます" in boss.get(r.headers["location"]).text
    approved = mail.get(upload.id)
    assert approved.state is State.APPROVED and approved.meta["pass"]["by"] == f"approver:{BOSS}"
    # The user sees that they may upload again, until when and how often.
    mine = taro.get("/messages", params={"status": "approved"}).text
    assert f'id="msg-{upload.id}"' in mine and "あと 1 回" in mine and mail_req.id not in mine
    detail = taro.get(f"/messages/{upload.id}").text
    assert "承認されました" in detail and "1 回中 0 回使用" in detail
    assert ui_events(mail, upload.id)[-1] == ("transition", f"approver:{BOSS}", "approved", "web")


def test_a_delegate_sees_upload_approvals_too(mail: MailEnv, people: Any) -> None:
    upload = mail.put_upload(TARO, "approval", approvers=(BOSS,))
    boss = client_for(mail, people, BOSS)
    deputy = client_for(mail, people, DEPUTY)
    assert f"approval-{upload.id}" not in deputy.get("/approvals").text
    h = api_headers(boss)
    assert (
        boss.post("/api/delegations", json={"to": DEPUTY, "until": "2030-01-01"}, headers=h).status_code
        == 201
    )
    assert f"approval-{upload.id}" in deputy.get("/approvals").text
    r = deputy.post(f"/api/messages/{upload.id}/approve", json={}, headers=api_headers(deputy))
    assert r.status_code == 200 and r.json()["message"]["state"] == "approved"


def test_coaching_go_on_with_a_reason_for_the_security_team_to_read(mail: MailEnv, people: Any) -> None:
    warned = mail.put_upload(TARO, "warn")
    taro = client_for(mail, people, TARO)
    detail = taro.get(f"/messages/{warned.id}").text
    assert 'id="proceed-form"' in detail and "理由を記録して続ける" in detail
    h = api_headers(taro)
    r = taro.post(f"/api/messages/{warned.id}/proceed", json={"justification": "  "}, headers=h)
    assert r.status_code == 400 and r.json()["error"] in ("bad_request", "justification_required")
    r = taro.post(
        f"/messages/{warned.id}/proceed",
        data={"csrf_token": csrf(taro), "justification": "取引先の指定フォルダへの納品です"},
    )
    assert r.status_code == 303 and r.headers["location"] == f"/messages/{warned.id}?done=proceeded"
    assert mail.get(warned.id).state is State.APPROVED
    [event] = [e for e in mail.events(warned.id) if e.to_state == "approved"]
    assert (event.actor, event.extra["justification"]) == (
        f"sender:{TARO}",
        "取引先の指定フォルダへの納品です",
    )
    sec = client_for(mail, people, SEC)
    assert "取引先の指定フォルダへの納品です" in sec.get(f"/messages/{warned.id}").text
    found = sec.get("/api/search", params={"q": "顧客一覧", "kind": "upload"}).json()["messages"]
    assert [m["notes"][0]["text"] for m in found] == ["取引先の指定フォルダへの納品です"]


def test_the_file_is_a_download_for_a_security_admin_only_and_audited(mail: MailEnv, people: Any) -> None:
    upload = mail.put_upload(TARO, "quarantine", data=MY_NUMBER_CSV)
    sec = client_for(mail, people, SEC)
    page = sec.get(f"/messages/{upload.id}").text
    assert 'id="download-file"' in page and "6214 9832 0257" not in page, "never shown in the page"
    r = sec.get(f"/messages/{upload.id}/file")
    assert r.status_code == 200 and r.content == MY_NUMBER_CSV
    assert r.headers["content-type"] == "application/octet-stream"
    assert r.headers["content-disposition"].startswith("attachment; ")
    assert "filename*=UTF-8''%E9%A1%A7%E5%AE%A2%E4%B8%80%E8%A6%A7.csv" in r.headers["content-disposition"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert sec.get(f"/api/messages/{upload.id}/file").status_code == 200
    downloads = [e for e in mail.events(upload.id) if e.action == "raw_download"]
    assert [(e.actor, e.extra["via"]) for e in downloads] == [
        (f"admin:{SEC}", "web"),
        (f"admin:{SEC}", "api"),
    ]
    for who in (TARO, BOSS, AUDITOR):
        c = client_for(mail, people, who)
        assert c.get(f"/messages/{upload.id}/file").status_code in (403, 404), who
        assert c.get(f"/api/messages/{upload.id}/file").status_code in (403, 404), who
    # A message has no file download (its text is shown safely to the security team instead).
    msg = mail.put(TARO, ["x@partner.example"], "quarantine")
    assert sec.get(f"/messages/{msg.id}/file").status_code == 404


def test_idor_nobody_reaches_anothers_upload(mail: MailEnv, people: Any) -> None:
    pending = mail.put_upload(HANAKO, "approval", approvers=(BOSS,))
    warned = mail.put_upload(HANAKO, "warn")
    approved = mail.put_upload(HANAKO, "quarantine")
    sec = client_for(mail, people, SEC)
    assert (
        sec.post(f"/api/messages/{approved.id}/release", json={}, headers=api_headers(sec)).status_code == 200
    )
    taro = client_for(mail, people, TARO)
    deputy = client_for(mail, people, DEPUTY)  # an approver, but not named and no delegation
    for client in (taro, deputy):
        token, h = csrf(client), api_headers(client)
        for rec in (pending, warned, approved):
            for path in (f"/messages/{rec.id}", f"/api/messages/{rec.id}", f"/messages/{rec.id}/file"):
                r = client.get(path)
                assert r.status_code == 404 and "顧客一覧" not in r.text, path
            for action in ("proceed", "justify", "approve", "reject", "release", "delete"):
                body = {"csrf_token": token, "justification": "x", "comment": "x"}
                assert client.post(f"/messages/{rec.id}/{action}", data=body).status_code in (403, 404)
                r = client.post(f"/api/messages/{rec.id}/{action}", json={"justification": "x"}, headers=h)
                assert r.status_code in (403, 404), action
        for path in ("/admin/search?q=顧客一覧", "/api/search?q=顧客一覧"):
            assert client.get(path).status_code == 403
    mine = taro.get("/api/messages").json()["messages"]
    assert all(m["id"] not in {pending.id, warned.id, approved.id} for m in mine)
    assert f"approval-{pending.id}" not in deputy.get("/approvals").text
    # A coaching link issued to Taro for Hanako's upload does nothing either.
    link = mail.env.ui.links.signer.create(warned.id, "proceed", 600, f"sender:{TARO}")
    assert taro.post(f"/a/{link}", data={"justification": "x"}).status_code == 409
    assert [mail.get(r.id).state for r in (pending, warned, approved)] == [
        State.PENDING_APPROVAL,
        State.HELD,
        State.APPROVED,
    ]
    assert ui_events(mail, pending.id) == [] and ui_events(mail, warned.id) == []


def test_the_coaching_link_needs_a_reason_and_is_used_once(mail: MailEnv, people: Any) -> None:
    warned = mail.put_upload(TARO, "warn")
    link = mail.env.ui.links.signer.create(warned.id, "proceed", 600, f"sender:{TARO}")
    anon = mail.env.client()
    page = anon.get(f"/a/{link}").text
    assert "顧客一覧.csv" in page and "Box" in page and 'name="justification"' in page
    r = anon.post(f"/a/{link}", data={"justification": ""})
    assert r.status_code == 400 and "理由を入力してください" in r.text
    assert mail.get(warned.id).state is State.HELD, "not used up by a form without a reason"
    r = anon.post(f"/a/{link}", data={"justification": "顧客からの依頼で共有します"})
    assert r.status_code == 200 and "同じファイルをもう一度アップロードしてください" in r.text
    assert mail.get(warned.id).state is State.APPROVED
    [event] = [e for e in mail.events(warned.id) if e.to_state == "approved"]
    assert (event.extra["via"], event.extra["justification"]) == ("link", "顧客からの依頼で共有します")
    assert anon.post(f"/a/{link}", data={"justification": "again"}).status_code == 410


def test_an_approval_link_for_an_upload_says_what_approving_does(mail: MailEnv, people: Any) -> None:
    upload = mail.put_upload(TARO, "approval", approvers=(BOSS,))
    link = mail.env.ui.links.signer.create(upload.id, "approve", 600, f"approver:{BOSS}")
    # An approver's link needs their login with the second factor (ui.approval_links: mfa).
    assert mail.env.client().get(f"/a/{link}").status_code == 303
    boss = client_for(mail, people, BOSS)
    page = boss.get(f"/a/{link}").text
    assert "顧客一覧.csv" in page and "同じファイルを同じアップロード先に" in page
    r = boss.post(f"/a/{link}", data={"csrf_token": csrf_of(page), "comment": ""})
    assert r.status_code == 200 and "利用者は同じファイルをもう一度アップロードできます" in r.text
    assert mail.get(upload.id).state is State.APPROVED


def test_search_and_dashboard_include_uploads_and_sharing(mail: MailEnv, people: Any) -> None:
    mail.put(TARO, ["x@partner.example"], subject="見積書")
    box = mail.put_upload(TARO, "approval", approvers=(BOSS,))
    shared = mail.put_upload(HANAKO, "approval", approvers=(BOSS,), facts=SHARED)
    mail.put_upload(HANAKO, "deliver", facts=dataclasses.replace(SHARED, sharing_scope="organization"))
    # Organisation-only sharing passed: counted as an upload, not as a stopped sharing change.
    sec = client_for(mail, people, SEC)
    page = sec.get("/admin/search", params={"q": "顧客一覧 box"}).text
    assert f'id="r-{box.id}"' in page and f'id="r-{shared.id}"' not in page
    ids = [
        m["id"]
        for m in sec.get("/api/search", params={"kind": "upload", "state": "pending_approval"}).json()[
            "messages"
        ]
    ]
    assert sorted(ids) == sorted([shared.id, box.id])
    assert sec.get("/api/search", params={"state": "nope"}).status_code == 400
    hanako = sec.get("/api/search", params={"q": HANAKO, "kind": "upload"}).json()["messages"]
    assert shared.id in {m["id"] for m in hanako} and {m["sender"] for m in hanako} == {HANAKO}
    stats = sec.get("/api/dashboard").json()
    assert (
        sum(stats["uploads_per_service"]["box"]) == 1
        and sum(stats["uploads_per_service"]["google_drive"]) == 2
    )
    assert stats["sharing_stopped"] == [{"service_scope": "google_drive anyone", "count": 1}]
    assert stats["sharing_stopped_total"] == 1
    assert sum(sum(v) for v in stats["per_day"].values()) == 1, "messages per day count mail only"
    assert {"rule_id": "u-approval", "count": 2} in stats["top_rules"]
    html = sec.get("/dashboard").text
    assert 'id="uploads"' in html and "Google ドライブ: リンクを知っている全員" in html
    queue = sec.get("/admin").text.split('id="queue-pending_approval"')[1].split("</section>")[0]
    assert box.id in queue and "アップロード" in queue


def test_top_users_and_the_audit_export_include_uploads_and_sharing_changes(
    mail: MailEnv, people: Any
) -> None:
    shared = mail.put_upload(HANAKO, "approval", approvers=(BOSS,), facts=SHARED)
    boss = client_for(mail, people, BOSS)
    r = boss.post(
        f"/api/messages/{shared.id}/reject", json={"comment": "公開は不要"}, headers=api_headers(boss)
    )
    assert r.status_code == 200
    sec = client_for(mail, people, SEC)
    stats = sec.get("/api/dashboard").json()
    assert {"sender": HANAKO, "count": 1} in stats["top_senders"], "an upload held back counts for its user"
    auditor = client_for(mail, people, AUDITOR)
    lines = auditor.get(f"/audit/export?format=jsonl&msg_id={shared.id}").text.splitlines()
    events = [json.loads(line) for line in lines]
    assert [(e["action"], e["to_state"]) for e in events if e["action"] in ("accept", "transition")] == [
        ("accept", "received"),
        ("transition", "pending_approval"),
        ("transition", "rejected"),
    ]
    [rejected] = [e for e in events if e["to_state"] == "rejected"]
    assert (rejected["actor"], rejected["extra"]["comment"]) == (f"approver:{BOSS}", "公開は不要")
    rows = list(
        csv.reader(io.StringIO(auditor.get("/api/audit/export?format=csv").content.decode("utf-8-sig")))
    )
    assert [r[6] for r in rows[1:] if r[4] == shared.id and r[3] == "transition"] == [
        "pending_approval",
        "rejected",
    ]
