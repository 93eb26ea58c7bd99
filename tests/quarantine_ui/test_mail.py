"""The mail pages and API over a real store: who sees what, every action audited, and the
security properties (IDOR, CSRF, hostile mail, MFA)."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from gateway.auditexport import EXPORT_FIELDS
from gateway.cli import main
from gateway.store import State
from tests.quarantine_ui.conftest import login, password_step
from tests.quarantine_ui.mailfix import MailEnv, make_raw
from tests.quarantine_ui.mailfix import mail as mail

TARO, HANAKO = "taro@example.jp", "hanako@example.jp"
BOSS, DEPUTY, SEC, AUDITOR = "boss@example.jp", "deputy@example.jp", "sec@example.jp", "audit@example.jp"
_CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')
MY_NUMBER_CSV = "氏名,個人番号\n山田太郎,6214 9832 0257\n".encode()


@pytest.fixture
def people(mail: MailEnv) -> dict[str, str | None]:
    e = mail.env
    return {
        TARO: e.user(TARO, ["sender"]),
        HANAKO: e.user(HANAKO, ["sender"]),
        BOSS: e.user(BOSS, ["approver", "sender"], mfa=True),
        DEPUTY: e.user(DEPUTY, ["approver"], mfa=True),
        SEC: e.user(SEC, ["security_admin"], mfa=True),
        AUDITOR: e.user(AUDITOR, ["auditor"]),
    }


def client_for(mail: MailEnv, people: dict[str, str | None], address: str) -> Any:
    client = mail.env.client()
    login(mail.env, client, address, people[address])
    return client


def csrf(client: Any, path: str = "/") -> str:
    match = _CSRF.search(client.get(path).text)
    assert match
    return match.group(1)


def api_headers(client: Any) -> dict[str, str]:
    return {"X-CSRF-Token": client.get("/api/me").json()["csrf_token"]}


def ui_events(mail: MailEnv, msg_id: str) -> list[tuple[str, str, str, str]]:
    return [
        (e.action, e.actor, e.to_state, str(e.extra.get("via", "")))
        for e in mail.events(msg_id)
        if e.actor != "policy" and e.action != "accept"
    ]


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


def test_an_approver_sees_only_requests_routed_to_them(mail: MailEnv, people: Any) -> None:
    for_boss = mail.put(TARO, ["a@partner.example"], "approval", approvers=(BOSS,), subject="部長宛")
    for_other = mail.put(
        TARO, ["b@partner.example"], "approval", approvers=("kacho@example.jp",), subject="課長宛"
    )
    deputy = client_for(mail, people, DEPUTY)
    assert "部長宛" not in deputy.get("/approvals").text
    assert deputy.get(f"/messages/{for_boss.id}").status_code == 404
    boss = client_for(mail, people, BOSS)
    page = boss.get("/approvals").text
    assert "部長宛" in page and "課長宛" not in page
    assert boss.get(f"/api/messages/{for_other.id}").status_code == 404


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


def test_approve_reject_and_delegation(mail: MailEnv, people: Any) -> None:
    one = mail.put(TARO, ["a@partner.example"], "approval", approvers=(BOSS,), subject="名簿の送付")
    two = mail.put(TARO, ["b@partner.example"], "approval", approvers=(BOSS,), on_timeout="escalate")
    boss = client_for(mail, people, BOSS)
    page = boss.get("/approvals").text
    assert "名簿の送付" in page and "ciso@example.jp にエスカレーション" in page
    r = boss.post(f"/messages/{one.id}/approve", data={"csrf_token": csrf(boss), "comment": "OK"})
    assert r.status_code == 303 and mail.get(one.id).state is State.DELIVERING
    # Delegation with an end date: the deputy handles Boss's requests until then.
    r = boss.post("/delegations", data={"csrf_token": csrf(boss), "to": DEPUTY, "until": "2027-01-16"})
    assert r.status_code == 303
    deputy = client_for(mail, people, DEPUTY)
    assert two.id in deputy.get("/approvals").text
    r = deputy.post(
        f"/api/messages/{two.id}/reject", json={"comment": "宛先が不明"}, headers=api_headers(deputy)
    )
    assert r.status_code == 200 and mail.get(two.id).state is State.REJECTED
    assert mail.env.ui.mailroom.notifier.rejected_ids == [(two.id, "宛先が不明")]  # type: ignore[union-attr]
    assert ui_events(mail, one.id) == [("transition", f"approver:{BOSS}", "delivering", "web")]
    assert ui_events(mail, two.id) == [("transition", f"approver:{DEPUTY}", "rejected", "api")]
    comments = [e.extra.get("comment") for e in mail.events(two.id) if e.action == "transition"]
    assert comments[-1] == "宛先が不明"
    # The sender sees the approver's comment.
    taro = client_for(mail, people, TARO)
    assert "宛先が不明" in taro.get(f"/messages/{two.id}").text
    # After the end date the deputy no longer sees Boss's requests.
    three = mail.put(TARO, ["c@partner.example"], "approval", approvers=(BOSS,))
    mail.env.clock.advance(3 * 86400)
    deputy = client_for(mail, people, DEPUTY)
    assert three.id not in deputy.get("/approvals").text
    assert deputy.get(f"/api/messages/{three.id}").status_code == 404


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


def test_security_admin_release_delete_and_bulk(mail: MailEnv, people: Any) -> None:
    q = [mail.put(TARO, [f"q{i}@partner.example"], "quarantine", subject=f"隔離{i}") for i in range(4)]
    sec = client_for(mail, people, SEC)
    page = sec.get("/admin").text
    assert all(f"隔離{i}" in page for i in range(4))
    token = csrf(sec, "/admin")
    assert sec.post(f"/messages/{q[0].id}/release", data={"csrf_token": token}).status_code == 303
    assert sec.post(f"/messages/{q[1].id}/delete", data={"csrf_token": token}).status_code == 303
    r = sec.post("/admin/bulk", data={"csrf_token": token, "action": "delete", "ids": [q[2].id, q[3].id]})
    assert r.status_code == 303
    states = [mail.get(m.id).state for m in q]
    assert states == [State.DELIVERING, State.DELETED, State.DELETED, State.DELETED]
    assert not mail.get(q[2].id).has_raw
    r = sec.post(
        "/api/queue/bulk", json={"action": "release", "ids": [q[0].id, "nope"]}, headers=api_headers(sec)
    )
    assert r.json()["results"] == {q[0].id: "state_changed", "nope": "not_found"}
    assert ui_events(mail, q[2].id) == [("transition", f"admin:{SEC}", "deleted", "web")]


def test_mfa_cannot_be_skipped_for_mail_pages(mail: MailEnv, people: Any) -> None:
    mail.put(TARO, ["a@partner.example"], "approval", approvers=(BOSS,))
    client = mail.env.client()
    r = password_step(client, BOSS)
    assert r.headers["location"].startswith("/login/mfa")
    for path in ("/approvals", "/messages", "/admin"):
        r = client.get(path)
        assert r.status_code == 303 and r.headers["location"].startswith("/login/mfa"), path
    assert client.get("/api/approvals").json()["error"] == "mfa_required"


POLICY_BROKEN = """\
version: 1
organisation:
  internal_domains: [example.jp]
rules:
  - id: hold-external
    title: {ja: 保留, en: Hold}
    description: {ja: 保留します, en: Held}
    when: {recipients: external}
    action: {type: hold, grace: 15m}
  - id: oops
    title: {ja: 誤り, en: Typo}
    description: {ja: 誤り, en: Typo}
    when: {recipients: external}
    action: {type: blok}
"""

POLICY_STRICT = """\
version: 1
organisation:
  internal_domains: [example.jp]
rules:
  - id: hold-external
    title: {ja: 社外宛て送信保留, en: Grace period for external mail}
    description: {ja: 保留します, en: Held}
    when: {recipients: external}
    action: {type: hold, grace: 15m}
  - id: quarantine-partner
    title: {ja: 取引先宛て隔離, en: Quarantine mail to the partner}
    description: {ja: 隔離します, en: Quarantined}
    when: {recipient_domain: {in: [partner.example]}}
    action: quarantine
"""


def test_policy_editor_validation_simulation_activation_and_rollback(mail: MailEnv, people: Any) -> None:
    mail.put(TARO, ["x@partner.example"], subject="取引先宛")
    mail.put(TARO, ["y@other.example"], subject="他社宛")
    sec = client_for(mail, people, SEC)
    assert "hold-external" in sec.get("/policy").text
    token = csrf(sec, "/policy")
    r = sec.post("/policy", data={"csrf_token": token, "text": POLICY_BROKEN, "op": "validate"})
    assert r.status_code == 422
    assert 'class="bad-line" id="line-14"' in r.text and "14 行目" in r.text and "blok" in r.text
    r = sec.post("/policy", data={"csrf_token": token, "text": POLICY_STRICT, "op": "simulate"})
    assert r.status_code == 200 and 'id="simulation"' in r.text
    assert "最近のメール 2 通のうち 1 通で判定が変わります" in r.text
    assert "取引先宛" in r.text and "quarantine" in r.text and "取引先宛て隔離" in r.text
    r = sec.post(
        "/policy", data={"csrf_token": token, "text": POLICY_STRICT, "op": "activate", "comment": "取引先"}
    )
    assert r.status_code == 303
    assert mail.policy_path.read_text(encoding="utf-8") == POLICY_STRICT
    versions = sec.get("/api/policy").json()["versions"]
    assert [(v["version"], v["active"], v["by"]) for v in versions] == [(2, True, SEC), (1, False, "")]
    r = sec.post("/api/policy/rollback", json={"version": 1}, headers=api_headers(sec))
    assert r.json() == {"status": "activated", "version": 3}
    assert "quarantine-partner" not in mail.policy_path.read_text(encoding="utf-8")
    policy_events = [(e.action, e.actor, e.extra["version"]) for e in mail.events("policy")]
    assert policy_events == [("policy_activate", f"admin:{SEC}", 2), ("policy_rollback", f"admin:{SEC}", 3)]
    bad = sec.post("/api/policy/validate", json={"text": POLICY_BROKEN}, headers=api_headers(sec))
    assert bad.status_code == 422 and bad.json()["errors"][0]["line"] == 14


def test_dashboard_shows_charts(mail: MailEnv, people: Any) -> None:
    cancelled = mail.put(TARO, ["x@partner.example"])
    mail.put(HANAKO, ["y@partner.example"], "quarantine")
    taro = client_for(mail, people, TARO)
    taro.post(f"/messages/{cancelled.id}/cancel", data={"csrf_token": csrf(taro)})
    sec = client_for(mail, people, SEC)
    page = sec.get("/dashboard").text
    assert page.count("<svg") == 3 and 'class="a-hold"' in page and 'class="a-quarantine"' in page
    assert '<span class="big" id="cancelled">1</span>' in page
    stats = sec.get("/api/dashboard").json()
    assert stats["cancelled_by_sender"] == 1 and stats["totals"] == {"hold": 1, "quarantine": 1}
    assert {r["rule_id"] for r in stats["top_rules"]} == {"t-hold", "t-quarantine"}


def test_auditor_reads_filters_exports_and_verifies(mail: MailEnv, people: Any) -> None:
    held = mail.put(TARO, ["x@partner.example"])
    taro = client_for(mail, people, TARO)
    taro.post(f"/messages/{held.id}/cancel", data={"csrf_token": csrf(taro)})
    auditor = client_for(mail, people, AUDITOR)
    page = auditor.get(f"/audit?actor=sender:{TARO}").text
    assert "cancelled by the sender" in page and "policy: hold" not in page
    lines = auditor.get(f"/audit/export?format=jsonl&msg_id={held.id}").text.splitlines()
    assert [json.loads(line)["action"] for line in lines] == ["accept", "transition", "transition"]
    rows = list(csv.reader(io.StringIO(auditor.get("/api/audit/export?format=csv").text)))
    assert rows[0][:4] == ["seq", "at", "actor", "action"] and len(rows) == 4
    assert auditor.get("/api/audit/verify").json()["ok"] is True
    assert (
        "改ざん検証" in auditor.get("/audit?verify=1").text
        and 'id="verify-result"' in auditor.get("/audit?verify=1").text
    )
    # Read-only: the auditor cannot act on mail.
    r = auditor.post(f"/api/messages/{held.id}/release", json={}, headers=api_headers(auditor))
    assert r.status_code in (403, 404)


def test_every_audit_export_names_the_fields_alike(
    mail: MailEnv, people: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Regression: ``sekimori audit list --format jsonl`` wrote ``from``/``to`` where the UI's
    export wrote ``from_state``/``to_state``. One documented schema for CLI, UI and API."""
    held = mail.put(TARO, ["x@partner.example"])
    auditor = client_for(mail, people, AUDITOR)
    ui_jsonl = [json.loads(line) for line in auditor.get("/audit/export?format=jsonl").text.splitlines()]
    api_jsonl = [json.loads(line) for line in auditor.get("/api/audit/export").text.splitlines()]
    header = next(csv.reader(io.StringIO(auditor.get("/audit/export?format=csv").text)))
    api_list = auditor.get("/api/audit").json()["events"]
    assert main(["audit", "list", "--var", str(tmp_path / "gw"), "--format", "jsonl", "--msg", held.id]) == 0
    cli_jsonl = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    names = ["seq", "at", "actor", "action", "msg_id", "from_state", "to_state", "reason", "extra"]
    names += ["prev_hash", "hash"]
    assert names == list(EXPORT_FIELDS)
    assert header == names
    for doc in (*ui_jsonl, *api_jsonl, *api_list, *cli_jsonl):
        assert list(doc) == names
    assert ui_jsonl[-1] == cli_jsonl[-1] == api_list[0]
