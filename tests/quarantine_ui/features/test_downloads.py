"""Download links in the UI, pages and API: the sender sees and takes back the links of their
own mail (also after delivery), the security team every open link; nobody else sees them."""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any

from gateway.store import State
from tests.quarantine_ui.features.people import HANAKO, SEC, TARO, api_headers, client_for, csrf
from tests.quarantine_ui.features.people import people as people
from tests.quarantine_ui.mailfix import MailEnv, delivered_with_link
from tests.quarantine_ui.mailfix import mail as mail

OUT = "kyaku@partner.example"  # delivered_with_link's recipient


def test_the_sender_sees_the_links_of_their_mail(mail: MailEnv, people: Any) -> None:
    rec, link = delivered_with_link(mail, TARO)
    delivered_with_link(mail, sender=HANAKO, to="z@other.example")
    client = client_for(mail, people, TARO)
    page = client.get("/links").text
    assert f'id="link-{link.id}"' in page
    for shown in (OUT, "図面.pdf", "1.2 MB", "1 / 5 回", "有効", "リンクを取り消す", "期限を変更"):
        assert shown in page, shown
    assert "z@other.example" not in page
    message = client.get(f"/messages/{rec.id}").text
    assert 'id="links"' in message and f'id="link-{link.id}"' in message
    api = client.get("/api/links").json()["links"]
    assert [(a["id"], a["recipient"], a["downloads"], a["max_downloads"]) for a in api] == [
        (link.id, OUT, 1, 5)
    ]
    assert api[0]["actions"] == ["extend", "shorten", "revoke"]
    assert "Revoke link" in client.get("/links?lang=en").text
    # A link is not someone's mail: it is not listed with the messages.
    assert link.id not in client.get("/messages").text


def test_the_sender_revokes_after_delivery_audited_with_the_sender(mail: MailEnv, people: Any) -> None:
    _, link = delivered_with_link(mail, TARO)
    client = client_for(mail, people, TARO)
    token = csrf(client, "/links")
    r = client.post(
        f"/links/{link.id}/revoke", data={"csrf_token": token, "back": "/links"}, follow_redirects=False
    )
    assert r.status_code == 303 and "/links?done=link_revoked" in r.headers["location"]
    assert "リンクを取り消しました" in client.get(r.headers["location"]).text
    after = mail.run(mail.store.get(link.id))
    assert after.state is State.REVOKED
    [event] = [e for e in mail.run(mail.store.audit_events(msg_id=link.id)) if e.to_state == "revoked"]
    assert (event.actor, event.extra["via"]) == (f"sender:{TARO}", "web")
    again = client.post(f"/links/{link.id}/revoke", data={"csrf_token": token})
    assert again.status_code == 409
    assert "リンクを取り消す" not in client.get("/links").text, "a revoked link offers nothing"


def test_the_expiry_moves_to_the_end_of_the_chosen_day(mail: MailEnv, people: Any) -> None:
    _, link = delivered_with_link(mail, TARO)
    client = client_for(mail, people, TARO)
    token = csrf(client, "/links")
    assert link.expires_at is not None
    later = (link.expires_at + timedelta(days=10)).astimezone(UTC).date().isoformat()
    r = client.post(
        f"/links/{link.id}/expiry", data={"csrf_token": token, "until": later}, follow_redirects=False
    )
    assert r.status_code == 303 and "done=link_extended" in r.headers["location"]
    extended = mail.run(mail.store.get(link.id))
    assert extended.expires_at > link.expires_at + timedelta(days=9)
    sooner = (link.expires_at - timedelta(days=3)).astimezone(UTC).date().isoformat()
    r = client.post(
        f"/links/{link.id}/expiry", data={"csrf_token": token, "until": sooner}, follow_redirects=False
    )
    assert "done=link_shortened" in r.headers["location"]
    assert mail.run(mail.store.get(link.id)).expires_at < link.expires_at
    beyond = (link.received_at + timedelta(days=120)).date().isoformat()
    refused = client.post(f"/links/{link.id}/expiry", data={"csrf_token": token, "until": beyond})
    assert refused.status_code == 400
    assert 'type="date" name="until"' in client.get("/links").text
    past = client.post(f"/links/{link.id}/expiry", data={"csrf_token": token, "until": "2001-01-01"})
    assert past.status_code == 400 and "その日には変更できません" in past.text
    actions = [e.action for e in mail.run(mail.store.audit_events(msg_id=link.id))]
    assert actions.count("extend") == 1 and actions.count("shorten") == 1


def test_api_extends_and_refuses_a_date_out_of_range(mail: MailEnv, people: Any) -> None:
    _, link = delivered_with_link(mail, TARO)
    client = client_for(mail, people, TARO)
    h = api_headers(client)
    assert link.expires_at is not None
    until = (link.expires_at + timedelta(days=1)).isoformat()
    r = client.post(f"/api/links/{link.id}/extend", json={"until": until}, headers=h)
    assert r.status_code == 200 and r.json()["link"]["expires_at"] == until
    wrong_way = client.post(f"/api/links/{link.id}/shorten", json={"until": until}, headers=h)
    assert wrong_way.status_code == 400 and wrong_way.json()["error"] == "bad_expiry"
    naive = client.post(f"/api/links/{link.id}/extend", json={"until": "2030-01-01T00:00:00"}, headers=h)
    assert naive.status_code == 400
    too_far = (link.received_at + timedelta(days=94)).isoformat()
    assert client.post(f"/api/links/{link.id}/extend", json={"until": too_far}, headers=h).status_code == 400


def test_only_the_sender_and_the_security_team_see_or_take_back_a_link(mail: MailEnv, people: Any) -> None:
    _, link = delivered_with_link(mail, TARO)
    other = client_for(mail, people, HANAKO)
    h = api_headers(other)
    assert link.id not in other.get("/links").text
    assert other.post(f"/api/links/{link.id}/revoke", json={}, headers=h).status_code == 404
    assert other.get("/admin/links").status_code == 403
    sec = client_for(mail, people, SEC)
    page = sec.get("/admin/links").text
    assert f'id="link-{link.id}"' in page and TARO in page
    r = sec.post(f"/api/links/{link.id}/revoke", json={}, headers=api_headers(sec))
    assert r.status_code == 200 and r.json()["link"]["state"] == "revoked"
    [event] = [e for e in mail.run(mail.store.audit_events(msg_id=link.id)) if e.to_state == "revoked"]
    assert (event.actor, event.extra["via"]) == (f"admin:{SEC}", "api")
    assert f'id="link-{link.id}"' not in sec.get("/admin/links").text, "the admin page lists open links"


def test_the_security_team_extends_and_shortens_any_link_after_delivery(mail: MailEnv, people: Any) -> None:
    rec, link = delivered_with_link(mail, TARO)
    assert mail.run(mail.store.get(rec.id)).state is State.DELIVERED
    assert link.expires_at is not None
    sec = client_for(mail, people, SEC)
    token = csrf(sec, "/admin/links")
    later = (link.expires_at + timedelta(days=5)).astimezone(UTC).date().isoformat()
    r = sec.post(
        f"/links/{link.id}/expiry",
        data={"csrf_token": token, "until": later, "back": "/admin/links"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and "done=link_extended" in r.headers["location"]
    assert mail.run(mail.store.get(link.id)).expires_at > link.expires_at + timedelta(days=4)
    sooner = (link.expires_at - timedelta(days=2)).isoformat()
    r = sec.post(f"/api/links/{link.id}/shorten", json={"until": sooner}, headers=api_headers(sec))
    assert r.status_code == 200 and r.json()["link"]["expires_at"] == sooner
    events = [
        e for e in mail.run(mail.store.audit_events(msg_id=link.id)) if e.action in ("extend", "shorten")
    ]
    assert [(e.action, e.actor, e.extra["via"]) for e in events] == [
        ("extend", f"admin:{SEC}", "web"),
        ("shorten", f"admin:{SEC}", "api"),
    ]
