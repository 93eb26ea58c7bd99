"""The outside recipients' copy: which attachments are taken out, what stays byte for byte, and
what the scan says of each attachment (encrypted, not fully inspected) reaching the right one."""

from __future__ import annotations

import email
import email.policy
import io
from email.message import EmailMessage
from email.mime.text import MIMEText

import pyzipper

from classifiers import scan_message
from gateway.links.rewrite import Findings, attachments, choose, parse, replaced
from gateway.pipeline import scan_summary
from policies.model import AttachmentSelect, LinkPlan

EVERY = LinkPlan(("a@partner.example",), (AttachmentSelect(),))


def message(*files: tuple[str | None, bytes, str]) -> bytes:
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"], msg["To"], msg["Subject"] = "taro@example.co.jp", "a@partner.example", "資料"
    msg.set_content("資料をお送りします。\n")
    for name, data, ctype in files:
        maintype, subtype = ctype.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes()


def notice(text: str) -> MIMEText:
    return MIMEText(text, "plain", "utf-8")


def locked_zip() -> bytes:
    buf = io.BytesIO()
    with pyzipper.AESZipFile(buf, "w", encryption=pyzipper.WZ_AES) as z:
        z.setpassword(b"pw")
        z.writestr("名簿.xlsx", b"x" * 300)
    return buf.getvalue()


def test_attachments_are_named_as_the_scan_names_them() -> None:
    raw = message(
        ("a.csv", b"1,2\n", "text/csv"),
        ("a.csv", b"3,4\n", "text/csv"),
        (None, b"\x00\x01", "application/octet-stream"),
    )
    found = attachments(parse(raw))
    assert [(a.name, a.filename, a.data) for a in found] == [
        ("a.csv", "a.csv", b"1,2\n"),
        ("a.csv[2]", "a.csv", b"3,4\n"),
        ("attachment[3]", "attachment[3]", b"\x00\x01"),
    ]
    scanned = {p.location for p in scan_message(raw).parts if p.kind == "attachment"}
    assert {a.name for a in found} <= scanned | {"attachment[3]"}


def test_only_the_chosen_attachments_leave_the_rest_stays_byte_for_byte() -> None:
    big = b"\x89PNG\r\n\x1a\n" + b"\x07" * 2_000_000
    raw = message(("小さい.txt", b"memo", "text/plain"), ("図面.png", big, "image/png"))
    msg = parse(raw)
    plan = LinkPlan(("a@partner.example",), (AttachmentSelect(min_size=1_000_000),))
    chosen = choose(attachments(msg), plan, Findings.of({}))
    assert [a.filename for a in chosen] == ["図面.png"]
    copy = replaced(msg, chosen, [notice("図面.png: https://dl.example/l/X")])
    got = email.message_from_bytes(copy, policy=email.policy.default)
    names = [p.get_filename() for p in got.walk() if p.get_filename()]
    assert names == ["小さい.txt"]
    texts = [p.get_content() for p in got.walk() if p.get_content_type() == "text/plain"]
    assert "図面.png: https://dl.example/l/X" in texts and "資料をお送りします。\r\n" in texts
    assert len(copy) < 10_000
    assert b"\r\n" in copy and copy.count(b"\n") == copy.count(b"\r\n"), "wire form: CRLF throughout"
    # The parse is restored: nothing chosen gives back the message exactly.
    assert replaced(msg, [], []) == raw


def test_encrypted_attachments_are_known_by_the_scan() -> None:
    raw = message(("資料.zip", locked_zip(), "application/zip"), ("memo.txt", b"hello", "text/plain"))
    findings = Findings.of(scan_summary(scan_message(raw)))
    assert findings.encrypted == {"資料.zip"}
    assert findings.not_inspected["資料.zip"] == "encrypted"
    assert findings.members["資料.zip"] == (("名簿.xlsx", 300),)
    plan = LinkPlan(("a@partner.example",), (AttachmentSelect(encrypted=True),))
    assert [a.filename for a in choose(attachments(parse(raw)), plan, findings)] == ["資料.zip"]


def test_an_encrypted_part_no_attachment_matches_makes_every_attachment_count_as_encrypted() -> None:
    raw = message(("memo.txt", b"hello", "text/plain"))
    plan = LinkPlan(("a@partner.example",), (AttachmentSelect(encrypted=True),))
    findings = Findings.of(
        {"parts": [{"kind": "attachment", "location": "elsewhere.zip/x", "encrypted": True}]}
    )
    assert [a.filename for a in choose(attachments(parse(raw)), plan, findings)] == ["memo.txt"]


def test_a_message_that_is_one_attachment_becomes_the_notice() -> None:
    raw = (
        b"From: taro@example.co.jp\r\nTo: a@partner.example\r\nSubject: only a file\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: application/pdf\r\nContent-Disposition: attachment; filename="a.pdf"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n"
    )
    msg = parse(raw)
    [only] = attachments(msg)
    assert (only.filename, only.data) == ("a.pdf", b"%PDF-1.4\n")
    copy = replaced(msg, [only], [notice("a.pdf: link")])
    got = email.message_from_bytes(copy, policy=email.policy.default)
    assert got["Subject"] == "only a file" and got.get_content_type() == "text/plain"
    assert got.get_content() == "a.pdf: link" and got.get_filename() is None


def test_an_attached_message_is_one_file() -> None:
    inner = message(("inner.csv", b"1\n", "text/csv"))
    outer = EmailMessage(policy=email.policy.SMTP)
    outer["From"], outer["To"], outer["Subject"] = "taro@example.co.jp", "a@partner.example", "Fwd"
    outer.set_content("転送します\n")
    outer.add_attachment(email.message_from_bytes(inner, policy=email.policy.SMTP), filename="元のメール.eml")
    found = attachments(parse(outer.as_bytes()))
    assert [(a.filename, a.content_type) for a in found] == [("元のメール.eml", "message/rfc822")]
    assert b"inner.csv" in found[0].data
    assert choose(found, EVERY, Findings.of({})) == found
