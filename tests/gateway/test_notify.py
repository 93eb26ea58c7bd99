"""Notification templates (Japanese first, then English) and the DSN format (RFC 3464)."""

from __future__ import annotations

import email
import email.message
import email.policy
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from gateway.delivery import Failure
from gateway.notify import DECISIONS, build_dsn, notice_message, render
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
            "code": "entity",
            "params": {"type": "my_number", "n": 2},
        }
    ],
}
BASE: dict[str, Any] = {
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
LINKS = {k: f"http://127.0.0.1:8025/a/{k}.tok" for k in ("cancel", "send_now", "approve", "reject")}
PAGE = "http://127.0.0.1:8025/messages/Q1"
DECIDED: dict[str, Any] = {"by_ja": "承認者（boss@example.co.jp）", "by_en": "the approver (boss@example.co.jp)",
           "comment": "確認しました", "expired": False, "going_out": True, "moved": []}  # fmt: skip

CASES: dict[str, dict[str, Any]] = {
    "blocked": {"moved": []},
    "held": {"release_at": WHEN, "links": LINKS, "moved": []},
    "bcc": {"moved": ["a@out.test"]},
    "approval_request": {
        "links": LINKS,
        "deadline": WHEN,
        "approver": "boss@example.co.jp",
        "moved": [],
        "link_login": "mfa",
    },
    "approval_pending": {"approvers": ["boss@example.co.jp"], "deadline": WHEN, "moved": []},
    "quarantined": {"escalated": False, "moved": []},
    "security": {"event_ja": "隔離", "event_en": "quarantined", "moved": []},
    "approved": DECIDED,
    "released": DECIDED,
    "rejected": DECIDED,
    "deleted": DECIDED,
    "cancelled": DECIDED,
}

UPLOAD: dict[str, Any] = {
    "upload_facts_ja": [
        ("利用者", "taro@example.co.jp"),
        ("ファイル名", "顧客一覧.csv"),
        ("アップロード先", "Box（テナント 4711）"),
    ],
    "upload_facts_en": [
        ("User", "taro@example.co.jp"),
        ("File name", "顧客一覧.csv"),
        ("Destination", "Box (tenant 4711)"),
    ],
    "sharing_ja": False,
    "sharing_en": False,
    "same_ja": "同じファイルを同じアップロード先にもう一度アップロードする",
    "same_en": "upload the same file to the same destination again",
    "valid_ja": "24 時間",
    "valid_en": "24 hours",
    "uses": 1,
    "invitees": [],
    "moved": [],
}
CASES.update(
    {
        "upload_approval_request": {
            **UPLOAD,
            "links": LINKS,
            "deadline": WHEN,
            "approver": "boss@example.co.jp",
        },
        "upload_approval_pending": {**UPLOAD, "approvers": ["boss@example.co.jp"], "deadline": WHEN},
        "upload_held": {**UPLOAD, "links": {"proceed": "http://127.0.0.1:8025/a/proceed.tok"}, "until": WHEN},
        "upload_approved": {**UPLOAD, **DECIDED, "outcome": "approved", "valid_until": WHEN},
        "upload_rejected": {**UPLOAD, **DECIDED, "outcome": "rejected"},
    }
)


def test_every_template_is_covered() -> None:
    folder = Path(__file__).resolve().parents[2] / "gateway" / "templates"
    names = {p.stem for p in folder.iterdir() if not p.name.startswith("_")}
    assert names == {*CASES, *LINK_CASES, "dsn"}
    assert set(DECISIONS) <= names


LINK_CASES: dict[str, dict[str, Any]] = {
    "link_code": {
        "recipient": "a@out.test",
        "sender": "taro@example.co.jp",
        "code": "042917",
        "until": WHEN,
    },
    "link_downloaded": {
        "sender": "taro@example.co.jp",
        "recipient": "a@out.test",
        "file": "見積書.pdf",
        "at": WHEN,
        "subject": "件名",
        "ui": "http://127.0.0.1:8025",
    },
    "link_notice": {
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
def test_link_templates_are_japanese_then_english(template: str, context: dict[str, Any]) -> None:
    r = render(template, **context)
    ja, _, en = r.text.partition("Attachment download:" if template == "link_notice" else "-" * 70)
    assert en and any("\u3040" <= ch <= "\u30ff" for ch in ja)
    assert "2026-11-22 12:00 JST" in ja and "2026-11-22 12:00 JST" in en
    assert r.html is not None
    assert set(re.findall(r"https?://\S+", r.text)) == set(re.findall(r'href="([^"]+)"', r.html))


@pytest.mark.parametrize(("name", "extra"), CASES.items())
def test_each_notice_is_html_and_text_japanese_first_from_one_template(
    name: str, extra: dict[str, Any]
) -> None:
    r = render(name, **{**BASE, "page": PAGE}, **extra)
    assert "/" in r.subject and "件名" in r.subject and "\n" not in r.subject
    ja, _, en = r.text.partition("-" * 70)
    assert en, "an English half follows the Japanese"
    assert any("\u3040" <= ch <= "\u30ff" or "\u4e00" <= ch <= "\u9fff" for ch in ja)
    assert "Q1" in ja and "Q1" in en
    assert r.html is not None and r.html.startswith("<!DOCTYPE html>")
    assert '<div lang="ja">' in r.html and '<div lang="en">' in r.html
    # The same links in both parts: every address of the text is a button or link of the HTML.
    urls = set(re.findall(r"https?://\S+", r.text))
    assert urls == set(re.findall(r'href="([^"]+)"', r.html))
    assert "\n\n\n" not in r.text and not any(line != line.rstrip() for line in r.text.splitlines())


def test_html_is_escaped_and_text_is_not() -> None:
    hostile = {**BASE, "subject": "<img src=x onerror=alert(1)>", "page": PAGE}
    r = render("quarantined", **hostile, escalated=False, moved=[])
    assert r.html is not None and "<img src=x" not in r.html and "&lt;img src=x" in r.html
    assert "<img src=x onerror=alert(1)>" in r.text and "<img src=x onerror=alert(1)>" in r.subject


def test_hold_notice_lists_recipients_findings_time_and_links() -> None:
    r = render("held", **BASE, release_at=WHEN, links=LINKS, moved=[])
    body = r.text
    assert "a@out.test　【社外】" in body and "a@out.test  [external]" in body
    assert "b@example.co.jp　【社外】" not in body
    assert (
        "マイナンバー 2 件：********9018（場所：本文）" in body
        and "2 × My Number: ********9018 (in body)" in body
    )
    assert "2026-11-22 12:00 JST" in body
    assert f"【送信を取り消す】\n{LINKS['cancel']}" in body and f"[Send now]\n{LINKS['send_now']}" in body
    assert r.html is not None and f'<a href="{LINKS["cancel"]}"' in r.html
    assert "BCC" not in body


def test_bcc_is_told_as_what_will_happen_while_held_and_as_being_sent_otherwise() -> None:
    held = render("held", **BASE, release_at=WHEN, links=LINKS, moved=["a@out.test"]).text
    assert "送信時には" in held and "BCC に移します" in held and "When it is sent" in held
    sent = render("bcc", **BASE, moved=["a@out.test"]).text
    assert "BCC に移して送信します" in sent and "is being sent" in sent
    for text in (held, sent):
        assert "届いています" not in text and "receives the message" not in text


@pytest.mark.parametrize(
    ("name", "ja", "en"),
    [
        (
            "approved",
            "承認者（boss@example.co.jp）が承認しました。これから宛先へ送信します。",
            "It is now being sent.",
        ),
        ("released", "が確認のうえ送信を許可しました", "reviewed and released"),
        ("rejected", "が却下したため、送信されませんでした", "rejected it"),
        ("deleted", "削除されました。宛先には送信されません。", "It will not be sent."),
        ("cancelled", "送信を取り消しました。宛先には送信されません。", "It will not be sent."),
    ],
)
def test_decisions_say_who_decided_what_and_the_comment(name: str, ja: str, en: str) -> None:
    text = render(name, **BASE, **DECIDED).text
    assert ja in text and en in text and "確認しました" in text


def test_an_expired_approval_says_so_and_names_nobody() -> None:
    r = render("rejected", **BASE, **{**DECIDED, "expired": True, "comment": ""})
    assert "承認期限切れ" in r.subject and "承認期限までに承認されなかったため" in r.text
    assert "boss@example.co.jp）が却下" not in r.text


def test_notice_message_is_multipart_alternative_text_first() -> None:
    r = render("held", **BASE, release_at=WHEN, links=LINKS, moved=[])
    msg = notice_message(r, sender="postmaster@example.co.jp", to=["taro@example.co.jp"], about="Q1",
                         hostname="gw.example.co.jp", now=WHEN)  # fmt: skip
    parsed = email.message_from_bytes(msg.as_bytes(), policy=email.policy.default)
    assert isinstance(parsed, email.message.EmailMessage)
    assert parsed.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]
    assert parsed["Auto-Submitted"] == "auto-generated" and parsed["Subject"] == r.subject
    text, html = (p.get_content() for p in parsed.iter_parts())
    assert LINKS["cancel"] in text and LINKS["cancel"] in html


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


def test_upload_notices_say_what_an_approval_allows_and_how_to_go_on() -> None:
    ask = render("upload_approval_request", **{**BASE, "page": PAGE}, **CASES["upload_approval_request"]).text
    assert (
        "承認すると、taro@example.co.jp さんは同じファイルを同じアップロード先にもう一度アップロードすることが、24 時間以内に 1 回までできるようになります"
        in ask
    )
    assert "別のファイルや別のアップロード先には使えません" in ask and LINKS["approve"] in ask
    assert "Box（テナント 4711）" in ask and "No other file or destination gets through" in ask
    held = render("upload_held", **{**BASE, "page": PAGE}, **CASES["upload_held"]).text
    assert "理由を記録して続ける" in held and "http://127.0.0.1:8025/a/proceed.tok" in held
    assert "2026-11-22 12:00 JST までに" in held
    approved = render("upload_approved", **{**BASE, "page": PAGE}, **CASES["upload_approved"]).text
    assert "承認者（boss@example.co.jp）が承認しました" in approved
    assert (
        "2026-11-22 12:00 JST までに、同じファイルを同じアップロード先にもう一度アップロードすると通ります（1 回まで）"
        in approved
    )
    sharing = {**CASES["upload_rejected"], "sharing_ja": True, "sharing_en": True}
    rejected = render("upload_rejected", **{**BASE, "page": PAGE}, **sharing).text
    assert "承認待ちだった共有設定の変更は、承認者（boss@example.co.jp）が却下しました" in rejected


@pytest.mark.parametrize(
    ("link_login", "ja", "en"),
    [
        ("mfa", "ログイン（パスワードと確認コード）のあとに", "log in (password and one-time code), then"),
        ("login", "ログインのあとに", "asks you to log in, then"),
        ("one_click", "ボタンを押すと確認画面が開きます", "Each button opens a confirmation page"),
    ],
)
def test_the_approval_request_says_what_its_buttons_need(link_login: str, ja: str, en: str) -> None:
    r = render(
        "approval_request",
        **{**BASE, "page": PAGE},
        **{**CASES["approval_request"], "link_login": link_login},
    )
    text_ja, _, text_en = r.text.partition("-" * 70)
    assert ja in text_ja and en in text_en
    assert r.html is not None and ja in r.html
