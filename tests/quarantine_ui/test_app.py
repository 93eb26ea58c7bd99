"""The web pages over the real app and a real SQLite file: login, MFA, CSRF, redirects, cookies, headers."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from quarantine_ui.security import CONTENT_SECURITY_POLICY
from tests.quarantine_ui.conftest import PASSWORD, Env, csrf_of, login, make_env, password_step, secret_of

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


# -- sessions, cookies, headers ---------------------------------------------------------------------


def test_idle_and_absolute_session_expiry(env: Env) -> None:
    env.user("taro@example.jp", ["sender"])
    client = env.client()
    login(env, client, "taro@example.jp")
    env.clock.advance(29 * 60)
    assert client.get("/").status_code == 200
    env.clock.advance(30 * 60 + 1)
    r = client.get("/")
    assert (r.status_code, r.headers["location"]) == (303, "/login?msg=expired")
    assert "セッションの有効期限が切れました" in client.get(r.headers["location"]).text
    login(env, client, "taro@example.jp")
    for _ in range(25):
        env.clock.advance(29 * 60)
        if client.get("/").status_code != 200:
            break
    assert client.get("/").status_code == 303
    assert env.clock.now - 1_800_000_000.0 > 12 * 3600


def test_cookie_flags_with_secure_cookies(tmp_path: Path) -> None:
    env = make_env(tmp_path, secure_cookies=True)
    env.user("taro@example.jp", ["sender"])
    client = env.client(base_url="https://ui.example.jp")
    page = client.get("/login?lang=en")
    cookies = page.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith("__Host-sekimori_session="))
    for flag in ("Secure", "HttpOnly", "Path=/", "SameSite=Lax"):
        assert flag in session
    assert "Domain" not in session and "Max-Age" not in session and "expires" not in session.lower()
    lang = next(c for c in cookies if c.startswith("sekimori_lang="))
    assert "Secure" in lang and "HttpOnly" in lang
    assert page.headers["strict-transport-security"] == "max-age=31536000"
    data = {"csrf_token": csrf_of(page.text), "address": "taro@example.jp", "password": PASSWORD}
    r = client.post("/login", data=data)
    assert r.status_code == 303 and "__Host-sekimori_session=" in r.headers["set-cookie"]
    assert client.get("/").status_code == 200
    env.ui.db.close()


def test_samesite_strict(tmp_path: Path) -> None:
    env = make_env(tmp_path, samesite="strict")
    assert "SameSite=Strict" in env.client().get("/login").headers["set-cookie"]
    env.ui.db.close()


@pytest.mark.parametrize(
    "path", ["/login", "/", "/no/such/page", "/static/style.css", "/api/me", "/api/openapi.json"]
)
def test_security_headers_everywhere(env: Env, path: str) -> None:
    r = env.client().get(path)
    assert r.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["x-frame-options"] == "DENY"


def test_csp_is_strict() -> None:
    for directive in (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ):
        assert directive in CONTENT_SECURITY_POLICY
    # Scripts only from our own static files (the countdown), never inline or eval'd.
    assert "unsafe" not in CONTENT_SECURITY_POLICY and "script-src 'self';" in CONTENT_SECURITY_POLICY


def test_pages_have_no_inline_script_or_style(env: Env) -> None:
    env.user("boss@example.jp", ["approver", "sender"])
    client = env.client()
    pages = [client.get("/login").text]
    password_step(client, "boss@example.jp")
    pages.append(client.get("/mfa/enrol").text)
    for html in pages:
        scripts = re.findall(r"<script[^>]*>.*?</script>", html, re.S)
        assert scripts == ['<script src="/static/countdown.js" defer></script>']
        assert html.count("<script") == 1 and "<style" not in html and "style=" not in html


def test_dynamic_pages_are_not_cached(env: Env) -> None:
    client = env.client()
    assert client.get("/login").headers["cache-control"] == "no-store"
    assert "cache-control" not in client.get("/static/style.css").headers


def test_not_found_and_method_not_allowed_pages(env: Env) -> None:
    client = env.client()
    r = client.get("/no/such/page")
    assert r.status_code == 404 and "ページが見つかりません。" in r.text
    r = client.get("/logout")
    assert r.status_code == 405 and "この方法ではアクセスできません。" in r.text


# -- language ---------------------------------------------------------------------------------------


def test_language_switch(env: Env) -> None:
    env.user("taro@example.jp", ["sender", "auditor"])
    client = env.client()
    ja = client.get("/login")
    assert '<html lang="ja">' in ja.text and "ログイン" in ja.text
    assert 'href="/login?lang=en"' in ja.text and ">English<" in ja.text
    en = client.get("/login?lang=en")
    assert '<html lang="en">' in en.text and "Log in" in en.text and "ログイン" not in en.text
    assert "sekimori_lang=en" in en.headers["set-cookie"]
    login(env, client, "taro@example.jp")
    home = client.get("/")
    assert "Welcome, Taro." in home.text and "Auditor" in home.text and "Sender" in home.text
    assert 'href="/?lang=ja"' in home.text
    back = client.get("/?lang=ja")
    assert "Taro さん、ようこそ。" in back.text and "監査担当者" in back.text


def test_language_switch_keeps_other_parameters(env: Env) -> None:
    page = env.client().get("/login?next=%2Fqueue")
    link = page.text.split('class="lang" href="')[1].split('"')[0].replace("&amp;", "&")
    query = parse_qs(urlsplit(link).query)
    assert query == {"next": ["/queue"], "lang": ["en"]}


def test_language_link_never_points_off_site(env: Env) -> None:
    for path in ("//evil.example", "/%2F%2Fevil.example", "/\\evil.example"):
        r = env.client().get(f"http://localhost{path}")
        assert r.status_code == 404, path
        link = r.text.split('class="lang" href="')[1].split('"')[0]
        assert link == "/?lang=en", path


def test_oversized_form_is_refused(env: Env) -> None:
    client = env.client()
    token = csrf_of(client.get("/login").text)
    r = client.post("/login", data={"csrf_token": token, "address": "a@example.jp", "password": "x" * 10_000})
    assert r.status_code == 400 and "リクエストの形式が正しくありません。" in r.text
    r = client.post("/login", data={f"f{i}": "x" for i in range(50)})
    assert r.status_code == 400


def test_bogus_language_is_ignored(env: Env) -> None:
    r = env.client().get("/login?lang=<script>")
    assert '<html lang="ja">' in r.text and "sekimori_lang" not in r.headers.get("set-cookie", "")


# -- single sign-on ---------------------------------------------------------------------------------


def sso_env(tmp_path: Path) -> Env:
    from quarantine_ui.config import parse_networks

    return make_env(tmp_path, sso_header="X-Remote-User", trusted_proxies=parse_networks(["10.0.0.5"]))


def test_sso_header_from_trusted_proxy_logs_in(tmp_path: Path) -> None:
    env = sso_env(tmp_path)
    env.user("boss@example.jp", ["approver"])
    client = env.client(host="10.0.0.5")
    r = client.get("/", headers={"X-Remote-User": "Boss@Example.jp", "X-Forwarded-For": "203.0.113.7"})
    assert r.status_code == 200 and "シングルサインオン" in r.text
    events = env.ui.accounts.events()
    assert (events[0].event, events[0].ip) == ("sso_login", "203.0.113.7")
    env.ui.db.close()


def test_sso_header_from_anyone_else_is_ignored(tmp_path: Path) -> None:
    env = sso_env(tmp_path)
    env.user("boss@example.jp", ["approver"])
    r = env.client(host="192.0.2.66").get("/", headers={"X-Remote-User": "boss@example.jp"})
    assert r.status_code == 303
    assert [e.event for e in env.ui.accounts.events()] == ["password_set", "user_added"]
    env.ui.db.close()


def test_sso_for_unknown_user_is_refused(tmp_path: Path) -> None:
    env = sso_env(tmp_path)
    r = env.client(host="10.0.0.5").get("/", headers={"X-Remote-User": "ghost@example.jp"})
    assert r.status_code == 303
    assert env.ui.accounts.events()[0].event == "sso_refused"
    env.ui.db.close()


def test_sso_user_change_replaces_the_session(tmp_path: Path) -> None:
    env = sso_env(tmp_path)
    env.user("a@example.jp", ["sender"])
    env.user("b@example.jp", ["sender"])
    client = env.client(host="10.0.0.5")
    assert "a@example.jp" in client.get("/", headers={"X-Remote-User": "a@example.jp"}).text
    first = session_cookie(client)
    assert "b@example.jp" in client.get("/", headers={"X-Remote-User": "b@example.jp"}).text
    assert session_cookie(client) != first
    env.ui.db.close()


def test_sso_needs_trusted_proxies(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="trusted_proxies"):
        make_env(tmp_path, sso_header="X-Remote-User")
