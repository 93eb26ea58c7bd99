"""The reply table: codes, classes and the mapping of aiosmtpd's own replies."""

from __future__ import annotations

import pytest

from gateway import replies
from gateway.replies import Reply


def _all() -> list[tuple[str, Reply]]:
    return [(n, v) for n, v in vars(replies).items() if isinstance(v, Reply)]


@pytest.mark.parametrize(("name", "reply"), _all())
def test_every_reply_is_well_formed(name: str, reply: Reply) -> None:
    text = str(reply)
    assert text.isascii()
    assert text[:3] == str(reply.code)
    assert reply.enhanced.startswith(str(reply.code)[0])
    assert reply.transient != reply.permanent or reply.code < 400, name


def test_internal_failures_are_transient() -> None:
    for reply in (
        replies.INTERNAL_ERROR,
        replies.SPOOL_FAILED,
        replies.SHUTTING_DOWN,
        replies.TOO_MANY_RECIPIENTS,
    ):
        assert reply.transient


def test_policy_and_protocol_refusals_are_permanent() -> None:
    assert str(replies.BLOCKED).startswith("550 5.7.1")
    assert str(replies.MESSAGE_TOO_BIG).startswith("552 5.3.4")
    assert replies.BARE_LINE_ENDING.permanent


def test_blocked_reason_is_short_ascii_with_reference() -> None:
    r = replies.blocked("マイナンバー My Number found\r\nX", "R-42")
    text = str(r)
    assert text.startswith("550 5.7.1 ")
    assert text.isascii() and "\n" not in text
    assert text.endswith("(ref R-42)")
    assert "My Number found" in text


def test_reply_rejects_bad_text() -> None:
    with pytest.raises(ValueError):
        Reply(550, "5.7.1", "a\r\nb")
    with pytest.raises(ValueError):
        Reply(550, "4.7.1", "class mismatch")


@pytest.mark.parametrize(
    ("stock", "expected"),
    [
        ("552 Error: Too much mail data", replies.MESSAGE_TOO_BIG),
        ("500 Line too long (see RFC5321 4.5.3.1.6)", replies.LINE_TOO_LONG),
        ("503 Error: need RCPT command", None),
        ("500 Error: bad syntax", replies.SYNTAX_ERROR),
    ],
)
def test_translate_maps_aiosmtpd_replies(stock: str, expected: Reply | None) -> None:
    out = replies.translate(stock)
    if expected is not None:
        assert out == str(expected)
    assert out[:3] == stock[:3]
    assert out[4:9].count(".") == 2


@pytest.mark.parametrize(
    "passthrough", ["250-SIZE 100", "220 host ESMTP", "334 VXNlcm5hbWU6", "250 HELP", "354 End data"]
)
def test_translate_leaves_other_lines(passthrough: str) -> None:
    assert replies.translate(passthrough) == passthrough


def test_translate_adds_enhanced_code() -> None:
    assert replies.translate("501 Syntax: RSET") == "501 5.5.4 Syntax: RSET"
    assert replies.translate("550 5.7.1 already") == "550 5.7.1 already"
