"""Every documented status of the mail API happens, and every answer's status is documented."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.quarantine_ui.conftest import login, make_env
from tests.quarantine_ui.mailfix import MailEnv
from tests.quarantine_ui.mailfix import mail as mail
from tests.quarantine_ui.test_api import AUTH_PATHS, OPENAPI

Seen = set[tuple[str, str, int]]


def _call(client: Any, seen: Seen, method: str, template: str, path: str, **kwargs: Any) -> Any:
    r = client.request(method, path, **kwargs)
    operation = OPENAPI["paths"][template][method.lower()]
    assert str(r.status_code) in operation["responses"], (method, path, r.status_code, r.text)
    if r.status_code >= 400 and r.status_code != 422:
        body = r.json()
        assert set(body) == {"error", "message"} and body["error"] and body["message"]
    seen.add((method.lower(), template, r.status_code))
    return r


def _headers(client: Any) -> dict[str, str]:
    return {"X-CSRF-Token": client.get("/api/me").json()["csrf_token"]}


def test_every_documented_mail_api_status_is_real(mail: MailEnv, tmp_path: Path) -> None:
    e = mail.env
    users = {
        "taro@example.jp": e.user("taro@example.jp", ["sender"]),
        "boss@example.jp": e.user("boss@example.jp", ["approver"], mfa=True),
        "sec@example.jp": e.user("sec@example.jp", ["security_admin"], mfa=True),
        "audit@example.jp": e.user("audit@example.jp", ["auditor"]),
    }
    held = mail.put("taro@example.jp", ["x@partner.example"])
    done = mail.put("taro@example.jp", ["y@partner.example"], "quarantine")
    pending = mail.put("taro@example.jp", ["z@partner.example"], "approval", approvers=("boss@example.jp",))

    def client(address: str) -> Any:
        c = e.client()
        login(e, c, address, users[address])
        return c

    seen: Seen = set()
    taro, boss, sec, auditor, anon = (
        client("taro@example.jp"),
        client("boss@example.jp"),
        client("sec@example.jp"),
        client("audit@example.jp"),
        e.client(),
    )
    th, bh, sh, ah = _headers(taro), _headers(boss), _headers(sec), _headers(auditor)
    ops: list[tuple[str, str, str]] = []
    for template, methods in OPENAPI["paths"].items():
        if template in AUTH_PATHS:
            continue
        for method in methods:
            path = (
                template.replace("{msg_id}", held.id)
                .replace("{action}", "cancel")
                .replace("{ident}", "1")
                .replace("{op}", "validate")
            )
            ops.append((method.upper(), template, path))
    for method, template, path in ops:
        _call(anon, seen, method, template, path, json={})  # 401
        _call(auditor, seen, method, template, path, json={}, headers=ah)  # 403 (or allowed for audit)
        _call(taro, seen, method, template, path, json={}, headers={"X-CSRF-Token": "x"})  # 403 csrf
    # Without a store or policy file: 503.
    bare = make_env(tmp_path / "bare")
    bare_users = {
        "sec@example.jp": bare.user(
            "sec@example.jp", ["sender", "approver", "security_admin", "auditor"], mfa=True
        )
    }
    bc = bare.client()
    login(bare, bc, "sec@example.jp", bare_users["sec@example.jp"])
    for method, template, path in ops:
        _call(
            bc,
            seen,
            method,
            template,
            path,
            json={"text": "x", "ids": [], "action": "release", "to": "d@example.jp", "until": "2030-01-01"},
            headers=_headers(bc),
        )
    bare.ui.db.close()

    big = b"[" + b" " * 20000 + b"]"
    json_ct = {"content-type": "application/json"}
    for c, h, template, path in (
        (boss, bh, "/api/delegations", "/api/delegations"),
        (sec, sh, "/api/policy/{op}", "/api/policy/simulate"),
        (sec, sh, "/api/queue/bulk", "/api/queue/bulk"),
    ):
        _call(c, seen, "POST", template, path, data={"a": "b"}, headers=h)  # 415
        _call(c, seen, "POST", template, path, content=big, headers={**h, **json_ct})  # 413
        _call(c, seen, "POST", template, path, content=b"[]", headers={**h, **json_ct})  # 400

    msg, act = "/api/messages/{msg_id}", "/api/messages/{msg_id}/{action}"
    _call(taro, seen, "GET", "/api/messages", "/api/messages")
    _call(taro, seen, "GET", msg, f"/api/messages/{held.id}")
    _call(taro, seen, "GET", msg, "/api/messages/nope")
    _call(taro, seen, "POST", act, f"/api/messages/{held.id}/cancel", json={}, headers=th)
    _call(taro, seen, "POST", act, f"/api/messages/{held.id}/cancel", json={}, headers=th)  # 409
    _call(taro, seen, "POST", act, f"/api/messages/{held.id}/justify", json={"justification": ""}, headers=th)
    _call(
        taro,
        seen,
        "POST",
        act,
        f"/api/messages/{held.id}/cancel",
        content=b"{" * 20000,
        headers={**th, "content-type": "application/json"},
    )
    _call(taro, seen, "POST", act, f"/api/messages/{held.id}/cancel", data={"a": "b"}, headers=th)
    _call(taro, seen, "POST", act, f"/api/messages/{pending.id}/approve", json={}, headers=th)  # 403
    _call(boss, seen, "GET", "/api/approvals", "/api/approvals")
    _call(boss, seen, "GET", "/api/delegations", "/api/delegations")
    r = _call(
        boss,
        seen,
        "POST",
        "/api/delegations",
        "/api/delegations",
        json={"to": "d@example.jp", "until": "2030-01-01"},
        headers=bh,
    )
    ident = r.json()["id"]
    _call(boss, seen, "DELETE", "/api/delegations/{ident}", f"/api/delegations/{ident}", headers=bh)
    _call(boss, seen, "DELETE", "/api/delegations/{ident}", f"/api/delegations/{ident}", headers=bh)  # 404
    _call(sec, seen, "GET", "/api/queue", "/api/queue?state=quarantined")
    _call(sec, seen, "GET", "/api/queue", "/api/queue?state=nope")
    _call(
        sec,
        seen,
        "POST",
        "/api/queue/bulk",
        "/api/queue/bulk",
        json={"action": "delete", "ids": [done.id]},
        headers=sh,
    )
    _call(sec, seen, "GET", "/api/policy", "/api/policy")
    pol = "/api/policy/{op}"
    _call(
        sec,
        seen,
        "POST",
        pol,
        "/api/policy/validate",
        json={"text": mail.policy_path.read_text()},
        headers=sh,
    )
    _call(sec, seen, "POST", pol, "/api/policy/validate", json={"text": "version: 2\n"}, headers=sh)
    _call(sec, seen, "POST", pol, "/api/policy/nope", json={"text": mail.policy_path.read_text()}, headers=sh)
    _call(sec, seen, "GET", "/api/dashboard", "/api/dashboard")
    for path in ("/api/audit", "/api/audit/export", "/api/audit/verify"):
        _call(auditor, seen, "GET", path, path)

    documented = {
        (method, path, int(status))
        for path, ops_ in OPENAPI["paths"].items()
        if path not in AUTH_PATHS
        for method, op in ops_.items()
        for status in op["responses"]
    }
    missing = sorted(documented - seen)
    assert missing == [], "\n".join(map(str, missing))
