"""The web pages over the real app and a real SQLite file: login, MFA, CSRF, redirects, cookies, headers."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from quarantine_ui.security import CONTENT_SECURITY_POLICY
from tests.quarantine_ui.conftest import PASSWORD, Env, csrf_of, login, make_env, password_step

ERROR = re.compile(r'<p class="error" role="alert">(.*?)</p>')


def session_cookie(client) -> str | None:
    value: str | None = client.cookies.get("sekimori_session")
    return value


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
