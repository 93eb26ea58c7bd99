"""The security team's queues, bulk actions and dashboard."""

from __future__ import annotations

from typing import Any

from gateway.store import State
from tests.quarantine_ui.features.people import (
    HANAKO,
    SEC,
    TARO,
    api_headers,
    client_for,
    csrf,
    ui_events,
)
from tests.quarantine_ui.features.people import people as people
from tests.quarantine_ui.mailfix import MailEnv
from tests.quarantine_ui.mailfix import mail as mail


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
