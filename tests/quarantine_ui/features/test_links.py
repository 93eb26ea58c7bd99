"""The signed-link pages over the real app and a real gateway store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyotp
import pytest

from gateway.actions import LinkAuth
from gateway.store import State
from quarantine_ui.config import parse_networks
from quarantine_ui.links import action_url
from tests.quarantine_ui.conftest import Env, csrf_of, login, password_step, secret_of
from tests.quarantine_ui.features.people import BOSS, DEPUTY, TARO, client_for
from tests.quarantine_ui.features.people import people as people
from tests.quarantine_ui.mailfix import MailEnv, Told, make_raw, open_mail_env
from tests.quarantine_ui.mailfix import mail as mail

#: A manager the policy names as approver, whose own account is a sender's (no second factor).
KACHO = "kacho@example.jp"


@pytest.fixture
def held(mail: MailEnv) -> str:
    raw = make_raw(TARO, ["x@partner.example", "<script>y</script>@e.jp"], '<b>見積書</b> & "資料"')
    rec = mail.put(
        TARO, ["x@partner.example", "<script>y</script>@e.jp"], raw=raw, subject='<b>見積書</b> & "資料"'
    )
    return rec.id


def path_of(url: str) -> str:
    return url.removeprefix("https://dlp.example.jp")


def link(mail: MailEnv, msg_id: str, action: str, ttl: float = 900, actor: str = f"sender:{TARO}") -> str:
    return mail.env.ui.links.signer.create(msg_id, action, ttl, actor)


def transitions(mail: MailEnv, msg_id: str) -> list[tuple[str, str, str]]:
    return [
        (e.actor, e.to_state, e.extra.get("via", "")) for e in mail.events(msg_id) if e.action == "transition"
    ][1:]


def test_action_url() -> None:
    assert action_url("https://dlp.example.jp/", "abc.def") == "https://dlp.example.jp/a/abc.def"


def test_cancel_in_two_clicks(mail: MailEnv, held: str) -> None:
    token = link(mail, held, "cancel")
    client = mail.env.client()
    url = path_of(action_url("https://dlp.example.jp", token))
    page = client.get(url)
    assert page.status_code == 200
    assert "保留中のメールの送信を取り消す" in page.text
    # Hostile subject and recipient are shown as text.
    assert "&lt;b&gt;見積書&lt;/b&gt; &amp; &#34;資料&#34;" in page.text
    assert "&lt;script&gt;y&lt;/script&gt;@e.jp" in page.text and "<script>y" not in page.text
    assert '<dd id="release-at">2027-01-15 17:15</dd>' in page.text
    # Opening the link (a mail scanner does) changes nothing.
    assert client.get(url).status_code == 200 and mail.get(held).state is State.HELD
    done = client.post(url)
    assert done.status_code == 200 and "送信を取り消しました" in done.text
    assert mail.get(held).state is State.CANCELLED
    assert transitions(mail, held) == [(f"sender:{TARO}", "cancelled", "link")]
    again = client.post(url)
    assert again.status_code == 410 and "すでに使用されています" in again.text
    assert client.get(url).status_code == 410


def test_send_now_in_english(mail: MailEnv, held: str) -> None:
    token = link(mail, held, "send_now")
    client = mail.env.client()
    page = client.get(f"/a/{token}?lang=en")
    assert "Send a held message now" in page.text and "Send now" in page.text
    assert "The message is being sent." in client.post(f"/a/{token}").text
    rec = mail.get(held)
    # Left unowned in 'delivering': the relay's scheduler picks it up and delivers it.
    assert rec.state is State.DELIVERING and rec.owner is None


def test_a_link_for_someone_else_does_nothing(mail: MailEnv, held: str) -> None:
    # Signed correctly, but issued to another sender (or to an approver who is not named).
    for action, actor in (("cancel", "sender:hanako@example.jp"), ("approve", "approver:boss@example.jp")):
        token = link(mail, held, action, actor=actor)
        assert mail.env.client().post(f"/a/{token}").status_code == 409
    assert mail.get(held).state is State.HELD


def test_expired_link(mail: MailEnv, held: str) -> None:
    token = link(mail, held, "cancel")
    mail.env.clock.advance(900)
    client = mail.env.client()
    for r in (client.get(f"/a/{token}"), client.post(f"/a/{token}")):
        assert r.status_code == 410 and "有効期限が切れています" in r.text
    assert mail.get(held).state is State.HELD


@pytest.mark.parametrize("token", ["garbage", "e30.e30", "x" * 3000])
def test_invalid_links(mail: MailEnv, held: str, token: str) -> None:
    client = mail.env.client()
    for r in (client.get(f"/a/{token}"), client.post(f"/a/{token}")):
        assert r.status_code == 400 and "このリンクは無効です" in r.text
    assert mail.get(held).state is State.HELD


def test_tampered_link_for_another_message(mail: MailEnv, held: str) -> None:
    token = link(mail, "m2", "cancel")
    sig = token.split(".")[1]
    other = link(mail, held, "cancel")
    forged = f"{other.split('.')[0]}.{sig}"
    assert mail.env.client().post(f"/a/{forged}").status_code == 400
    assert mail.get(held).state is State.HELD


def test_message_no_longer_held(mail: MailEnv, held: str) -> None:
    first = link(mail, held, "send_now")
    second = link(mail, held, "cancel")
    client = mail.env.client()
    client.post(f"/a/{first}")
    page = client.get(f"/a/{second}")
    assert page.status_code == 409 and "もう保留中ではありません" in page.text
    assert client.post(f"/a/{second}").status_code == 409
    assert [t[1] for t in transitions(mail, held)] == ["delivering"]


def test_link_pages_carry_security_headers(mail: MailEnv, held: str) -> None:
    r = mail.env.client().get(f"/a/{link(mail, held, 'cancel')}")
    assert r.headers["referrer-policy"] == "no-referrer"
    assert "form-action 'self'" in r.headers["content-security-policy"]


def test_links_are_off_without_a_store(env: Env) -> None:
    token = env.ui.links.signer.create("m1", "cancel", 900)
    assert env.client().get(f"/a/{token}").status_code == 404


def test_store_failure_gives_an_error_page_with_headers(tmp_path: Path, mail: MailEnv, held: str) -> None:
    token = link(mail, held, "cancel")
    mail.run(mail.store.close())
    client = mail.env.client(raise_errors=False)
    r = client.get(f"/a/{token}")
    assert r.status_code == 500 and "サーバーでエラーが発生しました。" in r.text
    assert r.headers["content-security-policy"].startswith("default-src 'none'")
    assert r.headers["cache-control"] == "no-store"
    assert "closed" not in r.text
    # The token was only looked at, not used up.
    mail.env.ui.links.check(token)


# -- an approver's link needs a login that passed the second factor (ui.approval_links) -----------


def _approval(mail: MailEnv, approvers: tuple[str, ...] = (BOSS,)) -> str:
    rec = mail.put(TARO, ["all@partner.example"], "approval", approvers=approvers, subject="顧客名簿")
    return rec.id


def _confirm(client: Any, token: str, comment: str = "") -> Any:
    """Open the link's confirmation page and press its button (with the session's CSRF token)."""
    page = client.get(f"/a/{token}")
    assert page.status_code == 200, page.text
    return client.post(f"/a/{token}", data={"csrf_token": csrf_of(page.text), "comment": comment})


def test_an_approve_link_without_a_login_leads_to_the_login_and_back(mail: MailEnv, people: Any) -> None:
    msg_id = _approval(mail)
    token = link(mail, msg_id, "approve", actor=f"approver:{BOSS}")
    client = mail.env.client()
    for r in (client.get(f"/a/{token}"), client.post(f"/a/{token}", data={"comment": "ok"})):
        assert r.status_code == 303
        assert r.headers["location"] == f"/login?next=%2Fa%2F{token}"
    assert mail.get(msg_id).state is State.PENDING_APPROVAL
    mail.env.ui.links.check(token)  # not used up
    # The password, then the code, then back at the link.
    r = password_step(client, BOSS, next_url=f"/a/{token}")
    assert r.status_code == 303 and r.headers["location"] == f"/login/mfa?next=%2Fa%2F{token}"
    page = client.get(r.headers["location"])
    r = client.post(
        "/login/mfa",
        data={"csrf_token": csrf_of(page.text), "code": mail.env.code(people[BOSS]), "next": f"/a/{token}"},
    )
    assert r.status_code == 303 and r.headers["location"] == f"/a/{token}"
    page = client.get(f"/a/{token}")
    assert page.status_code == 200 and "送信を承認する" in page.text
    assert f"ログイン中: {BOSS}" in page.text
    # Without the session's CSRF token the button does nothing.
    assert client.post(f"/a/{token}", data={"comment": "x"}).status_code == 403
    done = client.post(f"/a/{token}", data={"csrf_token": csrf_of(page.text), "comment": "確認しました"})
    assert done.status_code == 200 and "承認しました" in done.text
    assert mail.get(msg_id).state is State.DELIVERING
    assert transitions(mail, msg_id) == [(f"approver:{BOSS}", "delivering", "link")]
    assert client.post(f"/a/{token}").status_code == 410


def test_a_login_without_the_second_factor_steps_up_to_it(mail: MailEnv, people: Any) -> None:
    # A manager the policy names as approver whose own account needs no second factor: the
    # password alone is a complete login to the UI, but not enough to approve by link.
    mail.env.user(KACHO, ["sender"])
    msg_id = _approval(mail, (KACHO,))
    token = link(mail, msg_id, "approve", actor=f"approver:{KACHO}")
    client = mail.env.client()
    login(mail.env, client, KACHO)
    assert client.get("/api/me").json()["via"] == "password"
    r = client.get(f"/a/{token}")
    assert r.status_code == 303 and r.headers["location"] == f"/mfa/enrol?next=%2Fa%2F{token}"
    assert client.post(f"/a/{token}", data={"csrf_token": csrf_of(client.get("/").text)}).status_code == 303
    mail.env.ui.links.check(token)
    page = client.get(r.headers["location"])
    secret = secret_of(page.text)
    r = client.post(
        "/mfa/enrol",
        data={
            "csrf_token": csrf_of(page.text),
            "code": pyotp.TOTP(secret).at(mail.env.clock()),
            "next": f"/a/{token}",
        },
    )
    assert r.status_code == 303 and r.headers["location"] == f"/a/{token}"
    assert client.get("/api/me").json()["via"] == "totp"
    assert _confirm(client, token, "OK").status_code == 200
    assert transitions(mail, msg_id) == [(f"approver:{KACHO}", "delivering", "link")]


def test_single_sign_on_steps_up_to_the_second_factor(tmp_path: Path) -> None:
    proxy = "10.0.0.5"
    for env in open_mail_env(
        tmp_path, notifier=Told([]), sso_header="X-Remote-User", trusted_proxies=parse_networks([proxy])
    ):
        secret = env.env.user(BOSS, ["approver"], mfa=True)
        assert secret is not None
        msg_id = _approval(env)
        token = link(env, msg_id, "approve", actor=f"approver:{BOSS}")
        client = env.env.client(host=proxy)
        client.headers["X-Remote-User"] = BOSS
        r = client.get(f"/a/{token}")
        assert r.status_code == 303 and r.headers["location"] == f"/login/mfa?next=%2Fa%2F{token}"
        page = client.get(r.headers["location"])
        assert page.status_code == 200, "the proxy's header does not skip the step up"
        r = client.post(
            "/login/mfa",
            data={"csrf_token": csrf_of(page.text), "code": env.env.code(secret), "next": f"/a/{token}"},
        )
        assert r.status_code == 303 and r.headers["location"] == f"/a/{token}"
        assert _confirm(client, token).status_code == 200
        assert transitions(env, msg_id) == [(f"approver:{BOSS}", "delivering", "link")]


def test_the_reject_link_works_the_same_and_the_sender_is_told(mail: MailEnv, people: Any) -> None:
    msg_id = _approval(mail)
    token = link(mail, msg_id, "reject", actor=f"approver:{BOSS}")
    client = client_for(mail, people, BOSS)
    page = client.get(f"/a/{token}")
    assert page.status_code == 200 and 'name="comment"' in page.text
    assert _confirm(client, token, "顧客名簿は送れません").status_code == 200
    assert mail.get(msg_id).state is State.REJECTED
    assert mail.env.ui.mailroom.notifier.rejected_ids == [(msg_id, "顧客名簿は送れません")]  # type: ignore[union-attr]


def test_someone_else_logged_in_gets_403_and_the_link_stays_usable(mail: MailEnv, people: Any) -> None:
    msg_id = _approval(mail)
    token = link(mail, msg_id, "approve", actor=f"approver:{BOSS}")
    deputy = client_for(mail, people, DEPUTY)  # an approver, with TOTP, but not named
    page = deputy.get(f"/a/{token}")
    assert page.status_code == 403 and "指名された承認者" in page.text
    r = deputy.post(f"/a/{token}", data={"csrf_token": csrf_of(deputy.get("/").text), "comment": "x"})
    assert r.status_code == 403
    assert mail.get(msg_id).state is State.PENDING_APPROVAL
    mail.env.ui.links.check(token)  # not used up: the named approver can still use it
    mail.env.clock.advance(60)
    boss = client_for(mail, people, BOSS)
    assert _confirm(boss, token).status_code == 200
    assert transitions(mail, msg_id) == [(f"approver:{BOSS}", "delivering", "link")]


def test_the_sender_s_own_links_stay_one_click(mail: MailEnv, people: Any) -> None:
    msg_id = mail.put(TARO, ["x@partner.example"]).id
    client = mail.env.client()  # nobody logged in
    assert client.post(f"/a/{link(mail, msg_id, 'send_now')}").status_code == 200
    assert transitions(mail, msg_id) == [(f"sender:{TARO}", "delivering", "link")]


def test_one_click_configuration_restores_the_link_alone(tmp_path: Path) -> None:
    for env in open_mail_env(tmp_path, notifier=Told([]), approval_links=LinkAuth.ONE_CLICK):
        msg_id = _approval(env)
        token = link(env, msg_id, "approve", actor=f"approver:{BOSS}")
        client = env.env.client()
        page = client.get(f"/a/{token}")
        assert page.status_code == 200 and 'id="signed-in"' not in page.text
        assert client.post(f"/a/{token}", data={"comment": "OK"}).status_code == 200
        assert transitions(env, msg_id) == [(f"approver:{BOSS}", "delivering", "link")]


def test_login_configuration_takes_any_complete_login(tmp_path: Path) -> None:
    proxy = "10.0.0.5"
    for env in open_mail_env(
        tmp_path,
        notifier=Told([]),
        approval_links=LinkAuth.LOGIN,
        sso_header="X-Remote-User",
        trusted_proxies=parse_networks([proxy]),
    ):
        env.env.user(BOSS, ["approver"], mfa=True)
        msg_id = _approval(env)
        token = link(env, msg_id, "approve", actor=f"approver:{BOSS}")
        assert env.env.client().get(f"/a/{token}").status_code == 303
        client = env.env.client(host=proxy)
        client.headers["X-Remote-User"] = BOSS
        assert _confirm(client, token).status_code == 200
        assert transitions(env, msg_id) == [(f"approver:{BOSS}", "delivering", "link")]
