from __future__ import annotations

import base64
import json
import threading

import pytest

from quarantine_ui.links import ActionLinks, LinkError, LinkSigner
from tests.quarantine_ui.conftest import Env


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_round_trip_and_single_use(env: Env) -> None:
    links = env.ui.links
    token = links.signer.create("msg-0001@relay", "cancel", ttl=3600)
    claim = links.check(token, "cancel")
    assert (claim.message_id, claim.action) == ("msg-0001@relay", "cancel")
    assert claim.expires == int(env.clock() + 3600)
    assert links.check(token) == claim  # checking does not use it up
    assert links.consume(token, "cancel") == claim
    for use in (links.consume, links.check):
        with pytest.raises(LinkError) as err:
            use(token, "cancel")
        assert err.value.reason == "used"


def test_each_link_is_independent(env: Env) -> None:
    a = env.ui.links.signer.create("m1", "cancel", 60, "sender:a@example.jp")
    b = env.ui.links.signer.create("m1", "send_now", 60, "sender:a@example.jp")
    c = env.ui.links.signer.create("m1", "approve", 60, "approver:boss@example.jp")
    assert len({a, b, c}) == 3
    env.ui.links.consume(a)
    assert env.ui.links.consume(b).message_id == "m1"
    assert env.ui.links.consume(c).actor == "approver:boss@example.jp"


def test_tokens_minted_by_the_gateway_are_accepted(env: Env) -> None:
    from datetime import UTC, datetime

    from gateway.tokens import sign_link

    expires = datetime.fromtimestamp(env.clock() + 600, UTC)
    token = sign_link(env.config.secret, "Q1", "reject", "approver:boss@example.jp", expires)
    claim = env.ui.links.consume(token, "reject")
    assert (claim.message_id, claim.actor) == ("Q1", "approver:boss@example.jp")


def test_expired(env: Env) -> None:
    token = env.ui.links.signer.create("m1", "send_now", ttl=600)
    env.clock.advance(599)
    env.ui.links.check(token)
    env.clock.advance(1)
    with pytest.raises(LinkError) as err:
        env.ui.links.consume(token)
    assert err.value.reason == "expired"


def test_wrong_action(env: Env) -> None:
    token = env.ui.links.signer.create("m1", "cancel", 60)
    with pytest.raises(LinkError) as err:
        env.ui.links.consume(token, "send_now")
    assert err.value.reason == "wrong_action"
    # A refused use does not burn the token.
    env.ui.links.consume(token, "cancel")


def _tampered(token: str) -> list[tuple[str, str]]:
    body, sig = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=="))
    other = dict(payload, m="someone-elses-message")
    later = dict(payload, e=payload["e"] + 86400)
    flipped = ("A" if sig[0] != "A" else "B") + sig[1:]
    return [
        ("other message id", f"{b64(json.dumps(other, separators=(',', ':')).encode())}.{sig}"),
        ("extended expiry", f"{b64(json.dumps(later, separators=(',', ':')).encode())}.{sig}"),
        ("signature flipped", f"{body}.{flipped}"),
        ("signature cut", f"{body}.{sig[:-4]}"),
        ("no signature", f"{body}."),
    ]


def test_tampered_tokens_are_refused(env: Env) -> None:
    token = env.ui.links.signer.create("m1", "cancel", 60)
    for label, bad in _tampered(token):
        with pytest.raises(LinkError) as err:
            env.ui.links.consume(bad)
        assert err.value.reason == "bad_signature", label
    env.ui.links.consume(token)


def test_token_from_another_secret_is_refused(env: Env) -> None:
    other = LinkSigner(b"o" * 32, env.clock)
    with pytest.raises(LinkError) as err:
        env.ui.links.consume(other.create("m1", "cancel", 60))
    assert err.value.reason == "bad_signature"


@pytest.mark.parametrize("bad", ["", ".", "abc", "a.b.c", "!!!.???", "x" * 5000, "e30.e30", "é.é"])
def test_malformed_tokens(env: Env, bad: str) -> None:
    with pytest.raises(LinkError) as err:
        env.ui.links.consume(bad)
    assert err.value.reason in ("malformed", "bad_signature")


def test_signed_but_wrong_shape_is_malformed(env: Env) -> None:
    import hashlib
    import hmac

    for payload in (b"[]", b'{"m":"x"}', b'{"m":"x","a":"delete","u":"","e":1}', b"not json"):
        mac = hmac.new(b"s" * 32, b"link\0" + payload, hashlib.sha256).digest()
        token = f"{b64(payload)}.{b64(mac)}"
        with pytest.raises(LinkError) as err:
            env.ui.links.consume(token)
        assert err.value.reason == "malformed"


@pytest.mark.parametrize(
    ("mid", "action", "ttl"), [("", "cancel", 60), ("m", "delete", 60), ("m", "cancel", 0)]
)
def test_create_validates(env: Env, mid: str, action: str, ttl: float) -> None:
    with pytest.raises(ValueError):
        env.ui.links.signer.create(mid, action, ttl)


def test_concurrent_uses_one_wins(env: Env) -> None:
    token = env.ui.links.signer.create("m1", "send_now", 60)
    second = ActionLinks(env.ui.links.signer, type(env.ui.db)(env.config.db_path), env.clock)
    outcomes: list[str] = []

    def use(links: ActionLinks) -> None:
        try:
            links.consume(token)
            outcomes.append("ok")
        except LinkError as exc:
            outcomes.append(exc.reason)

    threads = [threading.Thread(target=use, args=(links,)) for links in (env.ui.links, second) * 4]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    second.db.close()
    assert sorted(outcomes) == ["ok"] + ["used"] * 7
