"""The JSON API over the real app, and the OpenAPI document checked against what the API does."""

from __future__ import annotations

from typing import Any

from starlette.routing import Route

from quarantine_ui.openapi import document
from tests.quarantine_ui.conftest import PASSWORD, Env, password_step

OPENAPI = document()


def call(client, method: str, path: str, **kwargs: Any):
    """Make an API call and check that its status (and error shape) is documented."""
    r = client.request(method, path, **kwargs)
    operation = OPENAPI["paths"][path][method.lower()]
    assert str(r.status_code) in operation["responses"], (method, path, r.status_code, r.text)
    if r.status_code >= 400:
        body = r.json()
        assert set(body) <= {"error", "message", "retry_after"} and body["error"] and body["message"]
    return r


def test_login_me_logout(env: Env) -> None:
    env.user("taro@example.jp", ["sender"])
    client = env.client()
    assert call(client, "GET", "/api/me").json()["error"] == "not_logged_in"
    r = call(client, "POST", "/api/login", json={"address": "taro@example.jp", "password": PASSWORD})
    body = r.json()
    assert r.status_code == 200 and body["status"] == "ok"
    assert body["user"] == {
        "address": "taro@example.jp",
        "name": "Taro",
        "roles": ["sender"],
        "mfa_enrolled": False,
        "via": "password",
    }
    me = call(client, "GET", "/api/me").json()
    assert (
        me["csrf_token"] == body["csrf_token"] and me["lang"] == "ja" and me["address"] == "taro@example.jp"
    )
    # The API session is the web session.
    assert client.get("/").status_code == 200
    assert call(client, "POST", "/api/logout").json()["error"] == "csrf"
    assert call(client, "POST", "/api/logout", headers={"X-CSRF-Token": "nope"}).status_code == 403
    r = call(client, "POST", "/api/logout", headers={"X-CSRF-Token": body["csrf_token"]})
    assert r.json() == {"status": "logged_out"}
    assert call(client, "GET", "/api/me").status_code == 401
    assert (
        call(client, "POST", "/api/logout", headers={"X-CSRF-Token": body["csrf_token"]}).status_code == 401
    )


def test_login_errors(env: Env) -> None:
    env.user("taro@example.jp", ["sender"])
    client = env.client()
    r = call(client, "POST", "/api/login", json={"address": "taro@example.jp", "password": "wrong"})
    assert (r.status_code, r.json()["error"]) == (401, "bad_credentials")
    assert r.json()["message"] == "メールアドレスまたはパスワードが違います。"
    r = call(
        client,
        "POST",
        "/api/login",
        params={"lang": "en"},
        json={"address": "taro@example.jp", "password": "wrong"},
    )
    assert r.json()["message"] == "Wrong mail address or password."
    form = call(client, "POST", "/api/login", data={"address": "taro@example.jp", "password": PASSWORD})
    assert (form.status_code, form.json()["error"]) == (415, "unsupported_media_type")
    plain = call(client, "POST", "/api/login", content=b"{}", headers={"content-type": "text/plain"})
    assert plain.status_code == 415
    for body in (b"not json", b"[]", b'{"address": 1, "password": "x"}', b'{"address": "a@b.c"}', b"\xff"):
        r = call(client, "POST", "/api/login", content=body, headers={"content-type": "application/json"})
        assert (r.status_code, r.json()["error"]) == (400, "bad_request"), body
    big = b'{"address": "' + b"a" * 20_000 + b'", "password": "x"}'
    r = call(client, "POST", "/api/login", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_lockout_through_the_api(env: Env) -> None:
    env.user("taro@example.jp", ["sender"])
    client = env.client()
    for _ in range(4):
        call(client, "POST", "/api/login", json={"address": "taro@example.jp", "password": "wrong"})
    r = call(client, "POST", "/api/login", json={"address": "taro@example.jp", "password": "wrong"})
    assert r.status_code == 429
    assert r.json()["error"] == "locked" and r.json()["retry_after"] == 900
    assert r.headers["retry-after"] == "900"
    assert "15 分後" in r.json()["message"]
    env.clock.advance(900)
    assert (
        call(
            client, "POST", "/api/login", json={"address": "taro@example.jp", "password": PASSWORD}
        ).status_code
        == 200
    )


def test_mfa_through_the_api_cannot_be_skipped(env: Env) -> None:
    secret = env.user("boss@example.jp", ["approver"], mfa=True)
    assert secret is not None
    client = env.client()
    r = call(client, "POST", "/api/login", json={"address": "boss@example.jp", "password": PASSWORD})
    step = r.json()
    assert step["status"] == "mfa_required" and "user" not in step
    assert call(client, "GET", "/api/me").json()["error"] == "mfa_required"
    assert client.get("/").headers["location"] == "/login/mfa"
    no_csrf = call(client, "POST", "/api/login/mfa", json={"code": env.code(secret)})
    assert no_csrf.json()["error"] == "csrf"
    headers = {"X-CSRF-Token": step["csrf_token"]}
    wrong = f"{(int(env.code(secret)) + 1) % 1_000_000:06d}"
    assert (
        call(client, "POST", "/api/login/mfa", json={"code": wrong}, headers=headers).json()["error"]
        == "wrong_code"
    )
    assert call(client, "POST", "/api/login/mfa", json={"code": 123456}, headers=headers).status_code == 400
    done = call(client, "POST", "/api/login/mfa", json={"code": env.code(secret)}, headers=headers).json()
    assert done["status"] == "ok" and done["csrf_token"] != step["csrf_token"]
    assert done["user"]["roles"] == ["approver"]
    assert call(client, "GET", "/api/me").json()["address"] == "boss@example.jp"
    # The TOTP step is over: a second call has no session waiting for it.
    again = call(client, "POST", "/api/login/mfa", json={"code": env.code(secret)}, headers=headers)
    assert (again.status_code, again.json()["error"]) == (401, "not_logged_in")


def test_mfa_lockout_through_the_api(env: Env) -> None:
    secret = env.user("boss@example.jp", ["approver"], mfa=True)
    assert secret is not None
    client = env.client()
    wrong = f"{(int(env.code(secret)) + 1) % 1_000_000:06d}"
    statuses = []
    for _ in range(3):
        step = call(
            client, "POST", "/api/login", json={"address": "boss@example.jp", "password": PASSWORD}
        ).json()
        if "csrf_token" not in step:
            statuses.append(step["error"])
            continue
        for _ in range(2):
            r = call(
                client,
                "POST",
                "/api/login/mfa",
                json={"code": wrong},
                headers={"X-CSRF-Token": step["csrf_token"]},
            )
            statuses.append(r.json()["error"])
            if r.status_code == 429:
                break
    assert statuses == ["wrong_code"] * 4 + ["locked"]
    again = call(client, "POST", "/api/login", json={"address": "boss@example.jp", "password": PASSWORD})
    assert again.json()["error"] == "locked"


def test_enrolment_required_through_the_api(env: Env) -> None:
    env.user("admin@example.jp", ["security_admin"])
    client = env.client()
    step = call(
        client, "POST", "/api/login", json={"address": "admin@example.jp", "password": PASSWORD}
    ).json()
    assert step["status"] == "mfa_enrolment_required"
    assert call(client, "GET", "/api/me").json()["error"] == "mfa_enrolment_required"
    r = call(
        client,
        "POST",
        "/api/login/mfa",
        json={"code": "000000"},
        headers={"X-CSRF-Token": step["csrf_token"]},
    )
    assert r.status_code == 401


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


AUTH_PATHS = ("/api/login", "/api/login/mfa", "/api/logout", "/api/me", "/api/openapi.json")


def test_every_documented_status_is_real(env: Env) -> None:
    """Produce each documented (method, path, status) of the session API once; nothing documented
    is unreachable. (The mail API's statuses are produced in test_api_mail.py.)"""
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


def test_password_form_and_api_share_lockout(env: Env) -> None:
    env.user("taro@example.jp", ["sender"])
    client = env.client()
    for _ in range(3):
        password_step(client, "taro@example.jp", "wrong")
    for _ in range(2):
        r = call(client, "POST", "/api/login", json={"address": "taro@example.jp", "password": "wrong"})
    assert r.status_code == 429
