"""Signed links and the loop-protection header."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gateway.tokens import InvalidToken, link_url, loop_header, sign_link, verify_link, verify_loop

KEY = b"k" * 32
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
RAW = b"Subject: x\r\n\r\nbody\r\n"


def test_link_round_trip() -> None:
    tok = sign_link(KEY, "Q1", "send_now", "sender:a@example.co.jp", NOW + timedelta(hours=1))
    got = verify_link(KEY, tok, NOW)
    assert (got.msg_id, got.action, got.actor) == ("Q1", "send_now", "sender:a@example.co.jp")
    assert link_url("http://ui:8025/", tok) == f"http://ui:8025/a/{tok}"


@pytest.mark.parametrize(
    "mutate",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),
        lambda t: "x" + t,
        lambda t: t.split(".")[0],
        lambda t: "",
    ],
)
def test_tampered_links_fail(mutate) -> None:
    tok = sign_link(KEY, "Q1", "cancel", "sender:a@example.co.jp", NOW + timedelta(hours=1))
    with pytest.raises(InvalidToken):
        verify_link(KEY, mutate(tok), NOW)


def test_expired_and_foreign_key_links_fail() -> None:
    tok = sign_link(KEY, "Q1", "approve", "approver:b@example.co.jp", NOW + timedelta(minutes=1))
    with pytest.raises(InvalidToken, match="expired"):
        verify_link(KEY, tok, NOW + timedelta(minutes=2))
    with pytest.raises(InvalidToken):
        verify_link(b"z" * 32, tok, NOW)
    with pytest.raises(ValueError):
        sign_link(KEY, "Q1", "delete_everything", "x", NOW)


def test_loop_header_binds_body_and_time() -> None:
    value = loop_header(KEY, "Q9", RAW, NOW)
    assert verify_loop(KEY, value, b"Received: by x\r\n" + RAW, NOW + timedelta(hours=1)) == "Q9"
    assert verify_loop(KEY, value, RAW.replace(b"body", b"b0dy"), NOW) is None
    assert verify_loop(KEY, value, RAW, NOW + timedelta(days=8)) is None
    assert verify_loop(b"z" * 32, value, RAW, NOW) is None
    assert verify_loop(KEY, "v1; id=Q9; t=nope; sig=x", RAW, NOW) is None
    assert verify_loop(KEY, "garbage", RAW, NOW) is None
