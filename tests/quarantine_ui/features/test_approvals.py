"""Approvers: the requests routed to them, approve and reject, delegation."""

from __future__ import annotations

from typing import Any

from gateway.store import State
from tests.quarantine_ui.features.people import (
    BOSS,
    DEPUTY,
    TARO,
    api_headers,
    client_for,
    csrf,
    ui_events,
)
from tests.quarantine_ui.features.people import people as people
from tests.quarantine_ui.mailfix import MailEnv
from tests.quarantine_ui.mailfix import mail as mail


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
