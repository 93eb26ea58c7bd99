"""The OpenAPI document checked against what the API does: every route listed, every reference
resolved, every documented status real and every answer's status documented."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from starlette.routing import Route

from quarantine_ui.openapi import document
from tests.quarantine_ui.conftest import PASSWORD, Env, login, make_env
from tests.quarantine_ui.mailfix import MailEnv, delivered_with_link
from tests.quarantine_ui.mailfix import mail as mail

OPENAPI = document()


AUTH_PATHS = ("/api/login", "/api/login/mfa", "/api/logout", "/api/me", "/api/openapi.json")


def call(client, method: str, path: str, **kwargs: Any):
    """Make an API call and check that its status (and error shape) is documented."""
    r = client.request(method, path, **kwargs)
    operation = OPENAPI["paths"][path][method.lower()]
    assert str(r.status_code) in operation["responses"], (method, path, r.status_code, r.text)
    if r.status_code >= 400:
        body = r.json()
        assert set(body) <= {"error", "message", "retry_after"} and body["error"] and body["message"]
    return r


def test_api_errors_for_unknown_paths_are_json(env: Env) -> None:
    r = env.client().get("/api/no-such-thing")
    assert r.status_code == 404 and r.json()["error"] == "http_404"


def test_openapi_document_lists_exactly_the_api_routes(env: Env) -> None:
    served = env.client().get("/api/openapi.json").json()
    assert served == OPENAPI
    assert served["openapi"].startswith("3.1")
    routes: set[tuple[str, str]] = set()
    for route in env.app.routes:  # type: ignore[attr-defined]
        if isinstance(route, Route) and route.path.startswith("/api/"):
            routes.update((m.lower(), route.path) for m in route.methods or () if m != "HEAD")
    documented = {(m, p) for p, ops in served["paths"].items() for m in ops}
    assert routes == documented


def test_openapi_references_resolve() -> None:
    def refs(node: Any) -> list[str]:
        if isinstance(node, dict):
            return [v for k, v in node.items() if k == "$ref"] + [r for v in node.values() for r in refs(v)]
        if isinstance(node, list):
            return [r for v in node for r in refs(v)]
        return []

    for ref in refs(OPENAPI):
        assert ref.startswith("#/components/schemas/")
        assert ref.rsplit("/", 1)[1] in OPENAPI["components"]["schemas"]


def test_every_documented_status_is_real(env: Env) -> None:
    """Produce each documented (method, path, status) of the session API once; nothing documented
    is unreachable. (The mail API's statuses are produced by the test below.)"""
    secret = env.user("boss@example.jp", ["approver"], mfa=True)
    assert secret is not None
    env.user("taro@example.jp", ["sender"])
    seen: set[tuple[str, str, int]] = set()

    def note(r, method: str, path: str) -> None:
        seen.add((method, path, r.status_code))

    json_ct = {"content-type": "application/json"}
    big = b'{"code": "' + b"1" * 20_000 + b'"}'
    anon = env.client()
    note(call(anon, "GET", "/api/openapi.json"), "get", "/api/openapi.json")
    note(call(anon, "GET", "/api/me"), "get", "/api/me")
    note(call(anon, "POST", "/api/logout"), "post", "/api/logout")
    note(call(anon, "POST", "/api/login/mfa", json={"code": "1"}), "post", "/api/login/mfa")
    note(call(anon, "POST", "/api/login", content=b"[]", headers=json_ct), "post", "/api/login")
    note(call(anon, "POST", "/api/login", content=big, headers=json_ct), "post", "/api/login")
    note(call(anon, "POST", "/api/login", data={"a": "b"}), "post", "/api/login")
    note(
        call(anon, "POST", "/api/login", json={"address": "x@example.jp", "password": "p"}),
        "post",
        "/api/login",
    )

    mfa = env.client()
    step = call(mfa, "POST", "/api/login", json={"address": "boss@example.jp", "password": PASSWORD})
    note(step, "post", "/api/login")
    h = {"X-CSRF-Token": step.json()["csrf_token"]}
    note(call(mfa, "POST", "/api/login/mfa", json={"code": "1"}), "post", "/api/login/mfa")
    note(
        call(mfa, "POST", "/api/login/mfa", content=b"[]", headers={**h, **json_ct}), "post", "/api/login/mfa"
    )
    note(call(mfa, "POST", "/api/login/mfa", content=big, headers={**h, **json_ct}), "post", "/api/login/mfa")
    note(call(mfa, "POST", "/api/login/mfa", data={"code": "1"}, headers=h), "post", "/api/login/mfa")
    done = call(mfa, "POST", "/api/login/mfa", json={"code": env.code(secret)}, headers=h)
    note(done, "post", "/api/login/mfa")
    note(call(mfa, "GET", "/api/me"), "get", "/api/me")
    note(call(mfa, "POST", "/api/logout"), "post", "/api/logout")
    note(
        call(mfa, "POST", "/api/logout", headers={"X-CSRF-Token": done.json()["csrf_token"]}),
        "post",
        "/api/logout",
    )

    locker = env.client()
    for _ in range(5):
        r = call(locker, "POST", "/api/login", json={"address": "taro@example.jp", "password": "wrong"})
    note(r, "post", "/api/login")
    env.clock.advance(60)
    step = call(
        locker, "POST", "/api/login", json={"address": "boss@example.jp", "password": PASSWORD}
    ).json()
    wrong = f"{(int(env.code(secret)) + 1) % 1_000_000:06d}"
    for _ in range(5):
        r = call(
            locker,
            "POST",
            "/api/login/mfa",
            json={"code": wrong},
            headers={"X-CSRF-Token": step["csrf_token"]},
        )
    note(r, "post", "/api/login/mfa")

    documented = {
        (method, path, int(status))
        for path, ops in OPENAPI["paths"].items()
        if path in AUTH_PATHS
        for method, op in ops.items()
        for status in op["responses"]
    }
    assert seen == documented


# -- the mail API -----------------------------------------------------------------------------------

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

    _, link = delivered_with_link(mail, "taro@example.jp")
    link_act = "/api/links/{msg_id}/{action}"
    _call(taro, seen, "GET", "/api/links", "/api/links")
    _call(sec, seen, "GET", "/api/admin/links", "/api/admin/links")
    assert link.expires_at is not None
    later = {"until": (link.expires_at + timedelta(days=1)).isoformat()}
    _call(taro, seen, "POST", link_act, f"/api/links/{link.id}/extend", json=later, headers=th)
    _call(taro, seen, "POST", link_act, f"/api/links/{link.id}/shorten", json=later, headers=th)  # 400
    _call(taro, seen, "POST", link_act, f"/api/links/{link.id}/revoke", data={"a": "b"}, headers=th)  # 415
    _call(
        taro, seen, "POST", link_act, f"/api/links/{link.id}/revoke", content=big, headers={**th, **json_ct}
    )
    _call(taro, seen, "POST", link_act, f"/api/links/{link.id}/revoke", json={}, headers=th)
    _call(taro, seen, "POST", link_act, f"/api/links/{link.id}/revoke", json={}, headers=th)  # 409
    _call(taro, seen, "POST", link_act, "/api/links/nope/revoke", json={}, headers=th)  # 404

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
    _call(sec, seen, "GET", "/api/search", "/api/search?q=taro&kind=upload")
    _call(sec, seen, "GET", "/api/search", "/api/search?kind=fax")
    upload = mail.put_upload("taro@example.jp", "quarantine")
    _call(sec, seen, "GET", "/api/messages/{msg_id}/file", f"/api/messages/{upload.id}/file")
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
