"""Logging in and out through the pages: password, lockout, MFA, enrolment, CSRF, redirects."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.quarantine_ui.conftest import PASSWORD, Env, csrf_of, login, make_env, password_step, secret_of
from tests.quarantine_ui.test_openapi import call

ERROR = re.compile(r'<p class="error" role="alert">(.*?)</p>')


def session_cookie(client) -> str | None:
    value: str | None = client.cookies.get("sekimori_session")
    return value


# -- login ------------------------------------------------------------------------------------------


def test_protected_page_redirects_to_login_with_next(env: Env) -> None:
    r = env.client().get("/?x=1")
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=%2F%3Fx%3D1"


def test_login_success_shows_home_in_japanese(env: Env) -> None:
    env.user("taro@example.jp", ["sender"])
    client = env.client()
    login(env, client, "taro@example.jp")
    page = client.get("/")
    assert page.status_code == 200
    assert '<html lang="ja">' in page.text
    assert "Taro さん、ようこそ。" in page.text
    assert "送信者" in page.text and "taro@example.jp" in page.text


def test_wrong_password_is_refused(env: Env) -> None:
    env.user("taro@example.jp", ["sender"])
    client = env.client()
    r = password_step(client, "taro@example.jp", "not the password")
    assert r.status_code == 401
    assert "メールアドレスまたはパスワードが違います。" in r.text
    assert 'value="taro@example.jp"' in r.text
    assert client.get("/").status_code == 303


def test_unknown_user_gets_the_same_answer(env: Env) -> None:
    env.user("taro@example.jp", ["sender"])
    known = password_step(env.client(), "taro@example.jp", "not the password")
    unknown = password_step(env.client(), "ghost@example.jp", "not the password")
    assert unknown.status_code == known.status_code == 401
    assert (
        ERROR.findall(unknown.text)
        == ERROR.findall(known.text)
        == ["メールアドレスまたはパスワードが違います。"]
    )


def test_lockout_after_five_failures_and_expiry(env: Env) -> None:
    env.user("taro@example.jp", ["sender"])
    client = env.client()
    statuses = [password_step(client, "taro@example.jp", "wrong password").status_code for _ in range(5)]
    assert statuses == [401, 401, 401, 401, 429]
    locked = password_step(client, "taro@example.jp")
    assert locked.status_code == 429
    assert "一時的にロックされています" in locked.text and "15 分後" in locked.text
    assert locked.headers["retry-after"] == "900"
    env.clock.advance(15 * 60)
    login(env, client, "taro@example.jp")
    events = [e.event for e in env.ui.accounts.events()]
    assert events.count("login_failure") == 5
    assert "lockout" in events and "login_locked" in events and events[0] == "login_success"


def test_per_ip_throttling_through_the_web(env: Env) -> None:
    env.user("taro@example.jp", ["sender"])
    client = env.client(host="198.51.100.9")
    for i in range(20):
        password_step(client, f"user{i}@example.jp", "wrong password")
    r = password_step(client, "taro@example.jp")
    assert r.status_code == 429 and "この端末からの試行が多すぎます" in r.text
    login(env, env.client(host="198.51.100.10"), "taro@example.jp")


def test_session_id_changes_at_login(env: Env) -> None:
    env.user("taro@example.jp", ["sender"])
    client = env.client()
    client.get("/login")
    anonymous = session_cookie(client)
    login(env, client, "taro@example.jp")
    assert session_cookie(client) not in (None, anonymous)
    # A fixed (pre-login) id is worthless afterwards.
    fixed = env.client()
    fixed.cookies.set("sekimori_session", anonymous)
    assert fixed.get("/").status_code == 303


def test_logged_in_user_visiting_login_goes_home(env: Env) -> None:
    env.user("taro@example.jp", ["sender"])
    client = env.client()
    login(env, client, "taro@example.jp")
    r = client.get("/login?next=/x")
    assert (r.status_code, r.headers["location"]) == (303, "/x")


def test_logout(env: Env) -> None:
    env.user("taro@example.jp", ["sender"])
    client = env.client()
    login(env, client, "taro@example.jp")
    old = session_cookie(client)
    home = client.get("/")
    r = client.post("/logout", data={"csrf_token": csrf_of(home.text)})
    assert (r.status_code, r.headers["location"]) == (303, "/login?msg=logged_out")
    assert "Max-Age=0" in r.headers["set-cookie"]
    assert "ログアウトしました。" in client.get("/login?msg=logged_out").text
    replay = env.client()
    replay.cookies.set("sekimori_session", old)
    assert replay.get("/").status_code == 303


def test_disabling_an_account_ends_its_sessions(env: Env) -> None:
    env.user("taro@example.jp", ["sender"])
    client = env.client()
    login(env, client, "taro@example.jp")
    env.ui.accounts.set_disabled("taro@example.jp", True)
    assert client.get("/").status_code == 303
    assert password_step(env.client(), "taro@example.jp").status_code == 401


# -- MFA --------------------------------------------------------------------------------------------


def test_mfa_login_and_rotation(env: Env) -> None:
    secret = env.user("boss@example.jp", ["approver"], mfa=True)
    assert secret is not None
    client = env.client()
    r = password_step(client, "boss@example.jp", next_url="/?tab=approvals")
    assert r.status_code == 303
    assert r.headers["location"] == "/login/mfa?next=%2F%3Ftab%3Dapprovals"
    partial = session_cookie(client)
    page = client.get(r.headers["location"])
    assert "確認コード" in page.text
    done = client.post(
        "/login/mfa",
        data={"csrf_token": csrf_of(page.text), "code": env.code(secret), "next": "/?tab=approvals"},
    )
    assert (done.status_code, done.headers["location"]) == (303, "/?tab=approvals")
    assert session_cookie(client) not in (None, partial)
    assert client.get("/").status_code == 200


def test_mfa_cannot_be_skipped(env: Env) -> None:
    secret = env.user("boss@example.jp", ["approver"], mfa=True)
    assert secret is not None
    client = env.client()
    password_step(client, "boss@example.jp")
    for path in ("/", "/?next=/", "/mfa/enrol"):
        r = client.get(path)
        assert r.status_code == 303, path
        assert r.headers["location"].startswith(("/login/mfa", "/login")), path
    assert client.get("/").headers["location"] == "/login/mfa"
    me = client.get("/api/me")
    assert (me.status_code, me.json()["error"]) == (401, "mfa_required")
    # Going back to the password form does not grant anything either.
    assert client.get("/login").headers["location"] == "/login/mfa"
    page = client.get("/login/mfa")
    wrong = f"{(int(env.code(secret)) + 1) % 1_000_000:06d}"
    r = client.post("/login/mfa", data={"csrf_token": csrf_of(page.text), "code": wrong})
    assert r.status_code == 401 and "確認コードが違います。" in r.text
    assert client.get("/").headers["location"] == "/login/mfa"


def test_user_can_leave_the_mfa_step(env: Env) -> None:
    env.user("boss@example.jp", ["approver"], mfa=True)
    client = env.client()
    password_step(client, "boss@example.jp")
    page = client.get("/login/mfa")
    r = client.post("/logout", data={"csrf_token": csrf_of(page.text)})
    assert r.headers["location"] == "/login?msg=logged_out"
    assert client.get("/login").status_code == 200
    assert client.get("/").headers["location"] == "/login"


def test_mfa_step_expires(env: Env) -> None:
    secret = env.user("boss@example.jp", ["approver"], mfa=True)
    assert secret is not None
    client = env.client()
    password_step(client, "boss@example.jp")
    page = client.get("/login/mfa")
    env.clock.advance(10 * 60 + 1)
    r = client.post("/login/mfa", data={"csrf_token": csrf_of(page.text), "code": env.code(secret)})
    assert (r.status_code, r.headers["location"]) == (303, "/login")


def test_totp_failures_lock_the_account(env: Env) -> None:
    secret = env.user("boss@example.jp", ["approver"], mfa=True)
    assert secret is not None
    client = env.client()
    password_step(client, "boss@example.jp")
    wrong = f"{(int(env.code(secret)) + 1) % 1_000_000:06d}"
    statuses = []
    for _ in range(5):
        page = client.get("/login/mfa")
        statuses.append(
            client.post("/login/mfa", data={"csrf_token": csrf_of(page.text), "code": wrong}).status_code
        )
    assert statuses == [401, 401, 401, 401, 429]
    assert client.get("/").status_code == 303
    assert password_step(client, "boss@example.jp").status_code == 429


def test_enrolment_is_forced_for_an_approver_without_mfa(env: Env) -> None:
    env.user("boss@example.jp", ["approver"])
    client = env.client()
    r = password_step(client, "boss@example.jp", next_url="/?q=1")
    assert r.headers["location"] == "/mfa/enrol?next=%2F%3Fq%3D1"
    assert client.get("/").headers["location"] == "/mfa/enrol"
    page = client.get("/mfa/enrol")
    assert "この役割では二要素認証が必須です" in page.text
    secret = secret_of(page.text)
    assert "otpauth://totp/Sekimori:boss%40example.jp?secret=" in page.text
    # Reloading issues a new secret; the first one is no longer accepted.
    page = client.get("/mfa/enrol")
    assert secret_of(page.text) != secret
    bad = client.post("/mfa/enrol", data={"csrf_token": csrf_of(page.text), "code": env.code(secret)})
    assert bad.status_code == 401 and secret_of(bad.text) == secret_of(page.text)
    partial = session_cookie(client)
    ok = client.post(
        "/mfa/enrol",
        data={"csrf_token": csrf_of(bad.text), "code": env.code(secret_of(page.text)), "next": "/?q=1"},
    )
    assert (ok.status_code, ok.headers["location"]) == (303, "/?q=1")
    assert session_cookie(client) != partial
    assert "設定済み" in client.get("/").text
    user = env.ui.accounts.get("boss@example.jp")
    assert user is not None and user.mfa_enrolled


def test_sender_may_enrol_voluntarily_and_then_needs_totp(env: Env) -> None:
    env.user("taro@example.jp", ["sender"])
    client = env.client()
    login(env, client, "taro@example.jp")
    home = client.get("/")
    assert 'href="/mfa/enrol"' in home.text
    page = client.get("/mfa/enrol")
    secret = secret_of(page.text)
    r = client.post("/mfa/enrol", data={"csrf_token": csrf_of(page.text), "code": env.code(secret)})
    assert r.status_code == 303
    assert "二要素認証は設定済みです" in client.get("/mfa/enrol").text
    env.clock.advance(60)
    other = env.client()
    assert password_step(other, "taro@example.jp").headers["location"] == "/login/mfa"


def test_mfa_for_everyone(tmp_path: Path) -> None:
    env = make_env(tmp_path, mfa_for_everyone=True)
    env.user("taro@example.jp", ["sender"])
    assert password_step(env.client(), "taro@example.jp").headers["location"] == "/mfa/enrol"
    env.ui.db.close()


# -- CSRF -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "", "wrong-token"])
def test_login_form_without_valid_csrf_is_refused(env: Env, token: str | None) -> None:
    env.user("taro@example.jp", ["sender"])
    client = env.client()
    client.get("/login")
    data = {"address": "taro@example.jp", "password": PASSWORD}
    if token is not None:
        data["csrf_token"] = token
    r = client.post("/login", data=data)
    assert r.status_code == 403
    assert "フォームの有効期限が切れました" in r.text
    assert client.get("/").status_code == 303
    # The refusal page carries a fresh token, so the user can simply try again.
    retry = client.post("/login", data={**data, "csrf_token": csrf_of(r.text)})
    assert retry.status_code == 303


def test_login_without_any_session_is_refused(env: Env) -> None:
    env.user("taro@example.jp", ["sender"])
    r = env.client().post(
        "/login", data={"address": "taro@example.jp", "password": PASSWORD, "csrf_token": "x"}
    )
    assert r.status_code == 403


def test_csrf_token_of_another_session_is_refused(env: Env) -> None:
    env.user("taro@example.jp", ["sender"])
    env.user("hana@example.jp", ["sender"])
    a, b = env.client(), env.client()
    login(env, a, "taro@example.jp")
    login(env, b, "hana@example.jp")
    token_b = csrf_of(b.get("/").text)
    r = a.post("/logout", data={"csrf_token": token_b})
    assert r.status_code == 403 and "不正な送信" in r.text
    assert a.get("/").status_code == 200
    assert a.post("/logout", data={}).status_code == 403


def test_mfa_and_enrol_posts_need_csrf(env: Env) -> None:
    secret = env.user("boss@example.jp", ["approver"], mfa=True)
    assert secret is not None
    client = env.client()
    password_step(client, "boss@example.jp")
    r = client.post("/login/mfa", data={"code": env.code(secret), "csrf_token": "forged"})
    assert r.status_code == 403
    assert client.get("/").headers["location"] == "/login/mfa"
    env.user("new@example.jp", ["security_admin"])
    other = env.client()
    password_step(other, "new@example.jp")
    page = other.get("/mfa/enrol")
    r = other.post("/mfa/enrol", data={"code": env.code(secret_of(page.text))})
    assert r.status_code == 403


# -- redirects --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "https://evil",
        "/\\evil",
        "%2F%2Fevil",
        "/%2F%2Fevil",
        "/\t/evil",
        "javascript:alert(1)",
    ],
)
def test_no_open_redirect_after_login(env: Env, target: str) -> None:
    env.user("taro@example.jp", ["sender"])
    r = password_step(env.client(), "taro@example.jp", next_url=target)
    assert (r.status_code, r.headers["location"]) == (303, "/")


@pytest.mark.parametrize("target", ["//evil.example", "https://evil", "/\\evil"])
def test_no_open_redirect_from_login_page_or_mfa(env: Env, target: str) -> None:
    secret = env.user("boss@example.jp", ["approver"], mfa=True)
    assert secret is not None
    client = env.client()
    page = client.get("/login", params={"next": target})
    assert 'name="next" value="/"' in page.text
    r = password_step(client, "boss@example.jp", next_url=target)
    assert r.headers["location"] == "/login/mfa"
    page = client.get("/login/mfa", params={"next": target})
    done = client.post(
        "/login/mfa", data={"csrf_token": csrf_of(page.text), "code": env.code(secret), "next": target}
    )
    assert done.headers["location"] == "/"


def test_relative_next_is_honoured(env: Env) -> None:
    env.user("taro@example.jp", ["sender"])
    r = password_step(env.client(), "taro@example.jp", next_url="/messages?id=42")
    assert r.headers["location"] == "/messages?id=42"


# -- the same through the JSON API ------------------------------------------------------------------


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


def test_password_form_and_api_share_lockout(env: Env) -> None:
    env.user("taro@example.jp", ["sender"])
    client = env.client()
    for _ in range(3):
        password_step(client, "taro@example.jp", "wrong")
    for _ in range(2):
        r = call(client, "POST", "/api/login", json={"address": "taro@example.jp", "password": "wrong"})
    assert r.status_code == 429
