"""Notification templates (Japanese first, then English) and the DSN format (RFC 3464)."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.delivery import Failure
from gateway.notify import build_dsn, render
from gateway.relay import convert_to_bcc

WHEN = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
RULE = {
    "rule_id": "r1",
    "title_ja": "マイナンバー",
    "title_en": "My Number",
    "description_ja": "説明",
    "description_en": "why",
    "action": "hold",
    "evidence": [
        {
            "entity_type": "my_number",
            "count": 2,
            "values": ["********9018"],
            "locations": ["body"],
            "detail": "",
        }
    ],
}
BASE = {
    "id": "Q1",
    "sender": "taro@example.co.jp",
    "subject": "件名",
    "received_at": WHEN,
    "recipients": [
        {"address": "a@out.test", "external": True},
        {"address": "b@example.co.jp", "external": False},
    ],
    "rules": [RULE],
    "decision": {},
    "ui": "http://127.0.0.1:8025",
    "security": "sec@example.co.jp",
}
LINKS = {k: f"http://127.0.0.1:8025/a/{k}" for k in ("cancel", "send_now", "approve", "reject")}

CASES = {
    "blocked.txt": {},
    "held.txt": {"release_at": WHEN, "links": LINKS},
    "bcc.txt": {"moved": ["a@out.test"]},
    "approval_request.txt": {"links": LINKS, "deadline": WHEN},
    "approval_pending.txt": {"approvers": ["boss@example.co.jp"], "deadline": WHEN},
    "quarantined.txt": {"escalated": False},
    "security.txt": {"event": "block"},
    "rejected.txt": {"reason": "期限切れ"},
}


def test_every_template_is_covered() -> None:
    folder = Path(__file__).resolve().parents[2] / "gateway" / "templates"
    names = {p.name for p in folder.iterdir() if not p.name.startswith("_")}
    assert names == {*CASES, *LINK_CASES, "dsn.txt"}


LINK_CASES: dict[str, dict[str, object]] = {
    "link_code.txt": {
        "recipient": "a@out.test",
        "sender": "taro@example.co.jp",
        "code": "042917",
        "until": WHEN,
    },
    "link_downloaded.txt": {
        "sender": "taro@example.co.jp",
        "recipient": "a@out.test",
        "file": "見積書.pdf",
        "at": WHEN,
        "subject": "件名",
        "ui": "http://127.0.0.1:8025",
    },
    "link_notice.txt": {
        "name": "見積書.pdf",
        "size": "1.2 MB",
        "url": "http://dl.test/l/X.y",
        "expires": WHEN,
        "downloads": 5,
        "needs_code": True,
        "recipient": "a@out.test",
        "inspected": False,
        "note": "encrypted",
    },
}


@pytest.mark.parametrize(("template", "context"), LINK_CASES.items())
def test_link_templates_are_japanese_then_english(template: str, context: dict[str, object]) -> None:
    _, body = render(template, **context)
    ja, _, en = body.partition("[Attachment download]" if template == "link_notice.txt" else "-" * 70)
    assert en and any("\u3040" <= ch <= "\u30ff" for ch in ja)
    assert "2026-11-22 12:00 JST" in ja and "2026-11-22 12:00 JST" in en


@pytest.mark.parametrize(("template", "extra"), CASES.items())
def test_templates_are_japanese_then_english(template: str, extra: dict[str, object]) -> None:
    subject, body = render(template, **BASE, **extra)
    assert "/" in subject and "件名" in subject
    ja, _, en = body.partition("-" * 70)
    assert en, "an English half follows the Japanese"
    assert any("\u3040" <= ch <= "\u30ff" or "\u4e00" <= ch <= "\u9fff" for ch in ja)
    assert "Q1" in ja and "Q1" in en


def test_hold_notice_lists_recipients_findings_time_and_links() -> None:
    _, body = render("held.txt", **BASE, release_at=WHEN, links=LINKS)
    assert "a@out.test　【社外】" in body and "a@out.test  [EXTERNAL]" in body
    assert "b@example.co.jp【社外】" not in body
    assert "********9018" in body
    assert "2026-11-22 12:00 JST" in body
    assert LINKS["cancel"] in body and LINKS["send_now"] in body


def test_dsn_structure() -> None:
    raw = build_dsn(
        reporting_mta="gw.example.co.jp",
        from_addr="postmaster@example.co.jp",
        to="taro@example.co.jp",
        subject="Undelivered",
        human="配送できませんでした\n",
        arrival=WHEN,
        failures=[
            Failure("x@out.test", 550, "5.1.1 no such user", "5.1.1"),
            Failure("y@out.test", 451, "busy", ""),
        ],
        original_headers=b"Subject: orig\r\nTo: x@out.test\r\n",
        now=WHEN,
        envelope_id="Q1",
    )
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg.get_content_type() == "multipart/report"
    human, status, headers = msg.iter_parts()
    assert human.get_content().replace("\r\n", "\n") == "配送できませんでした\n"
    text = status.as_string()
    assert "Reporting-MTA: dns; gw.example.co.jp" in text
    assert "Final-Recipient: rfc822; x@out.test" in text and "Status: 5.1.1" in text
    assert "Final-Recipient: rfc822; y@out.test" in text and "Status: 5.0.0" in text
    assert "Subject: orig" in headers.as_string()


def test_bcc_conversion_keeps_body_and_internal_addresses() -> None:
    raw = (
        b"From: t@example.co.jp\r\nTo: =?utf-8?b?5bGx55Sw?= <a@example.co.jp>,\r\n x@out.test\r\n"
        b"Cc: y@out.test\r\nSubject: s\r\n\r\nTo: not-a-header@out.test\r\n"
    )
    new, moved = convert_to_bcc(raw, lambda a: a.endswith("@example.co.jp"))
    assert moved == ["x@out.test", "y@out.test"]
    assert new.endswith(b"\r\n\r\nTo: not-a-header@out.test\r\n")
    msg = email.message_from_bytes(new, policy=email.policy.default)
    assert msg["To"].addresses[0].addr_spec == "a@example.co.jp"
    assert msg["Cc"] is None
    only_external = b"To: x@out.test\r\nSubject: s\r\n\r\nbody\r\n"
    new, moved = convert_to_bcc(only_external, lambda a: False)
    assert b"To: undisclosed-recipients:;" in new and moved == ["x@out.test"]
    unchanged = b"To: a@example.co.jp\r\n\r\nbody\r\n"
    assert convert_to_bcc(unchanged, lambda a: True) == (unchanged, [])
