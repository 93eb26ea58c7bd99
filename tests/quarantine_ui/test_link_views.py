"""The signed-link pages over the real app, with a small in-memory stand-in for the message store."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from quarantine_ui.actions import ActionResult, HeldMessage
from quarantine_ui.links import action_url
from tests.quarantine_ui.conftest import START, Env, make_env


@dataclass
class HeldMail:
    """Implements quarantine_ui.actions.MessageActions over a dict."""

    held: dict[str, HeldMessage] = field(default_factory=dict)
    done: list[tuple[str, str, str]] = field(default_factory=list)

    def held_message(self, message_id: str) -> HeldMessage | None:
        return self.held.get(message_id)

    def _act(self, name: str, message_id: str, actor: str) -> ActionResult:
        if message_id not in self.held:
            return (
                ActionResult.NOT_HELD
                if any(m == message_id for _, m, _ in self.done)
                else ActionResult.UNKNOWN
            )
        del self.held[message_id]
        self.done.append((name, message_id, actor))
        return ActionResult.DONE

    def cancel(self, message_id: str, actor: str) -> ActionResult:
        return self._act("cancel", message_id, actor)

    def send_now(self, message_id: str, actor: str) -> ActionResult:
        return self._act("send_now", message_id, actor)


@pytest.fixture
def store() -> HeldMail:
    return HeldMail(
        held={
            "m1": HeldMessage(
                "m1",
                "taro@example.jp",
                '<b>見積書</b> & "資料"',
                ("x@partner.example", "<script>y</script>@e.jp"),
                START + 900,
            )
        }
    )


@pytest.fixture
def link_env(tmp_path: Path, store: HeldMail):
    env = make_env(tmp_path, actions=store)
    yield env
    env.ui.db.close()


def path_of(url: str) -> str:
    return url.removeprefix("https://dlp.example.jp")


def test_action_url() -> None:
    assert action_url("https://dlp.example.jp/", "abc.def") == "https://dlp.example.jp/a/abc.def"


def test_cancel_in_two_clicks(link_env: Env, store: HeldMail) -> None:
    token = link_env.ui.links.signer.create("m1", "cancel", 900)
    client = link_env.client()
    url = path_of(action_url("https://dlp.example.jp", token))
    page = client.get(url)
    assert page.status_code == 200
    assert "保留中のメールを取り消す" in page.text
    # Hostile subject and recipient are shown as text.
    assert "&lt;b&gt;見積書&lt;/b&gt; &amp; &#34;資料&#34;" in page.text
    assert "&lt;script&gt;y&lt;/script&gt;@e.jp" in page.text and "<script>" not in page.text
    assert '<dd id="release-at">2027-01-15 17:15</dd>' in page.text
    # Opening the link (a mail scanner does) changes nothing.
    assert store.done == [] and client.get(url).status_code == 200
    done = client.post(url)
    assert done.status_code == 200 and "メールを取り消しました" in done.text
    assert store.done == [("cancel", "m1", "taro@example.jp (action link)")]
    again = client.post(url)
    assert again.status_code == 410 and "すでに使用されています" in again.text
    assert client.get(url).status_code == 410


def test_send_now_in_english(link_env: Env, store: HeldMail) -> None:
    token = link_env.ui.links.signer.create("m1", "send_now", 900)
    client = link_env.client()
    page = client.get(f"/a/{token}?lang=en")
    assert "Send a held message now" in page.text and "Send now" in page.text
    assert "The message is being sent." in client.post(f"/a/{token}").text
    assert store.done[0][0] == "send_now"


def test_expired_link(link_env: Env, store: HeldMail) -> None:
    token = link_env.ui.links.signer.create("m1", "cancel", 900)
    link_env.clock.advance(900)
    client = link_env.client()
    for r in (client.get(f"/a/{token}"), client.post(f"/a/{token}")):
        assert r.status_code == 410 and "有効期限が切れています" in r.text
    assert store.done == []


@pytest.mark.parametrize("token", ["garbage", "e30.e30", "x" * 3000])
def test_invalid_links(link_env: Env, store: HeldMail, token: str) -> None:
    client = link_env.client()
    for r in (client.get(f"/a/{token}"), client.post(f"/a/{token}")):
        assert r.status_code == 400 and "このリンクは無効です" in r.text
    assert store.done == []


def test_tampered_link_for_another_message(link_env: Env, store: HeldMail) -> None:
    token = link_env.ui.links.signer.create("m2", "cancel", 900)
    sig = token.split(".")[1]
    other = link_env.ui.links.signer.create("m1", "cancel", 900)
    forged = f"{other.split('.')[0]}.{sig}"
    assert link_env.client().post(f"/a/{forged}").status_code == 400
    assert store.done == []


def test_message_no_longer_held(link_env: Env, store: HeldMail) -> None:
    first = link_env.ui.links.signer.create("m1", "send_now", 900)
    second = link_env.ui.links.signer.create("m1", "cancel", 900)
    client = link_env.client()
    client.post(f"/a/{first}")
    page = client.get(f"/a/{second}")
    assert page.status_code == 409 and "もう保留中ではありません" in page.text
    r = client.post(f"/a/{second}")
    assert r.status_code == 409
    assert [d[0] for d in store.done] == ["send_now"]


def test_link_pages_carry_security_headers(link_env: Env) -> None:
    token = link_env.ui.links.signer.create("m1", "cancel", 900)
    r = link_env.client().get(f"/a/{token}")
    assert r.headers["referrer-policy"] == "no-referrer"
    assert "form-action 'self'" in r.headers["content-security-policy"]


def test_links_are_off_without_a_store(env: Env) -> None:
    token = env.ui.links.signer.create("m1", "cancel", 900)
    assert env.client().get(f"/a/{token}").status_code == 404


class BrokenStore(HeldMail):
    def held_message(self, message_id: str) -> HeldMessage | None:
        raise RuntimeError("store is down")


def test_store_failure_gives_an_error_page_with_headers(tmp_path: Path) -> None:
    env = make_env(tmp_path, actions=BrokenStore())
    token = env.ui.links.signer.create("m1", "cancel", 900)
    client = env.client(raise_errors=False)
    r = client.get(f"/a/{token}")
    assert r.status_code == 500 and "サーバーでエラーが発生しました。" in r.text
    assert r.headers["content-security-policy"].startswith("default-src 'none'")
    assert r.headers["cache-control"] == "no-store"
    assert "store is down" not in r.text
    # The token was only looked at, not used up.
    env.ui.links.check(token)
    env.ui.db.close()
