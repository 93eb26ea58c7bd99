"""Who is who in the mail feature tests, and how they log in and call the API."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.quarantine_ui.conftest import login
from tests.quarantine_ui.mailfix import MailEnv
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
