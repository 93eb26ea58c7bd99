"""The signed-link pages over the real app and a real gateway store."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.store import State
from quarantine_ui.links import action_url
from tests.quarantine_ui.conftest import Env
from tests.quarantine_ui.mailfix import MailEnv, make_raw
from tests.quarantine_ui.mailfix import mail as mail

TARO = "taro@example.jp"


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


def test_approver_link_rejects_with_a_comment_and_the_sender_is_told(mail: MailEnv) -> None:
    rec = mail.put(TARO, ["all@partner.example"], "approval", approvers=("boss@example.jp",))
    token = link(mail, rec.id, "reject", actor="approver:boss@example.jp")
    client = mail.env.client()
    page = client.get(f"/a/{token}")
    assert page.status_code == 200 and 'name="comment"' in page.text
    assert client.post(f"/a/{token}", data={"comment": "顧客名簿は送れません"}).status_code == 200
    assert mail.get(rec.id).state is State.REJECTED
    assert mail.env.ui.mailroom.notifier.rejected_ids == [(rec.id, "顧客名簿は送れません")]  # type: ignore[union-attr]


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
