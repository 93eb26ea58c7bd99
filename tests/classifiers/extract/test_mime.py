from __future__ import annotations

import base64
import email
import email.message
import quopri
from email.message import EmailMessage

import pytest

from classifiers import scan_message
from classifiers.extract import extract_message
from classifiers.extract.mime import decode_header_value, part_filename
from classifiers.limits import Deadline, Limits
from tests.classifiers.extract.builders import (
    EXTENSIONS,
    SAMPLE,
    message,
    raw_message,
    to_cp50221,
    to_cp51932,
)

LIMITS = Limits(max_seconds=5)


def extract(raw: bytes, limits: Limits = LIMITS):
    return extract_message(raw, limits, Deadline(limits.max_seconds))


def by_location(raw: bytes, limits: Limits = LIMITS):
    return {p.location: p for p in extract(raw, limits).parts}


def b64word(charset: str, data: bytes) -> str:
    return f"=?{charset}?B?{base64.b64encode(data).decode()}?="


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (b64word("ISO-2022-JP", to_cp50221(EXTENSIONS)), EXTENSIONS),
        (b64word("Shift_JIS", SAMPLE.encode("cp932")), SAMPLE),
        (b64word("EUC-JP", to_cp51932(SAMPLE)), SAMPLE),
        (b64word("UTF-8", SAMPLE.encode()), SAMPLE),
        ("=?UTF-8?Q?=E8=B3=87=E6=96=99_abc?=", "資料 abc"),
        # one character's escape sequences split over two encoded words
        (b64word("ISO-2022-JP", to_cp50221("社外秘")[:5]) + "\n " + b64word("ISO-2022-JP", to_cp50221("社外秘")[5:]),
         "社外秘"),
        ("plain ascii", "plain ascii"),
        ("=?ISO-2022-JP?B?!!!not-base64?=", "=?ISO-2022-JP?B?!!!not-base64?="),
        ("=?x-unknown?B?44GC?=", "あ"),
    ],
)  # fmt: skip
def test_rfc2047_subject(header, expected):
    raw = raw_message(f"From: a@example.jp\nTo: b@example.com\nSubject: {header}\n", b"body\r\n")
    parts = by_location(raw)
    assert parts["subject"].text == expected
    assert parts["subject"].kind == "subject"


def test_raw_8bit_subject_is_detected():
    raw = b"From: a@example.jp\r\nSubject: " + SAMPLE.encode("cp932") + b"\r\n\r\nbody\r\n"
    assert by_location(raw)["subject"].text == SAMPLE


def test_decode_header_value_never_raises_on_junk():
    assert isinstance(decode_header_value("=?utf-8?q?=ZZ?= =?bad"), str)
    assert decode_header_value(None) == ""


NAME = "顧客名簿①.csv"


def _pct(data: bytes) -> str:
    return "".join(f"%{b:02X}" for b in data)


@pytest.mark.parametrize(
    "disposition",
    [
        f"attachment; filename*=UTF-8''{_pct(NAME.encode())}",
        f"attachment; filename*=ISO-2022-JP''{_pct(to_cp50221(NAME))}",
        f"attachment; filename*=Shift_JIS'ja'{_pct(NAME.encode('cp932'))}",
        # RFC 2231 continuations
        f"attachment; filename*0*=UTF-8''{_pct(NAME.encode()[:9])}; filename*1*={_pct(NAME.encode()[9:])}",
        # RFC 2047 inside a quoted string (Outlook, many webmails)
        f'attachment; filename="{b64word("ISO-2022-JP", to_cp50221(NAME))}"',
        f'attachment; filename="{b64word("UTF-8", NAME.encode())}"',
        # raw 8-bit in the header
        'attachment; filename="' + NAME.encode("cp932").decode("ascii", errors="surrogateescape") + '"',
        'attachment; filename="' + NAME.encode().decode("ascii", errors="surrogateescape") + '"',
        # path components are dropped
        'attachment; filename="C:\\\\Users\\\\x\\\\'
        + NAME.encode().decode("ascii", errors="surrogateescape")
        + '"',
    ],
)
def test_attachment_names(disposition):
    raw = raw_message(
        "From: a@example.jp\nSubject: s\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=XX\n",
        (
            f"--XX\r\nContent-Type: text/plain\r\n\r\nbody\r\n--XX\r\nContent-Type: text/csv\r\n"
            f"Content-Disposition: {disposition}\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        ).encode("ascii", errors="surrogateescape")
        + base64.b64encode("名前,番号\r\n山田,123456789018\r\n".encode("cp932"))
        + b"\r\n--XX--\r\n",
    )
    parts = by_location(raw)
    assert NAME in parts, list(parts)
    att = parts[NAME]
    assert att.kind == "attachment" and att.filename == NAME
    assert "山田" in att.text
    assert att.location_at(att.text.index("山田")) == f"{NAME}!R2"


def test_name_from_content_type_and_unnamed_and_duplicates():
    m = EmailMessage()
    m["Subject"] = "s"
    m.set_content("body")
    m.add_attachment(b"\x89PNG\r\n\x1a\n" + b"\0" * 64, maintype="image", subtype="png")
    m.add_attachment(b"a", maintype="text", subtype="plain", filename="x.txt")
    m.add_attachment(b"b", maintype="text", subtype="plain", filename="x.txt")
    m2 = email.message_from_bytes(m.as_bytes())
    third = m2.get_payload(2)
    assert isinstance(third, email.message.Message)
    third.replace_header("Content-Disposition", "attachment")
    third.set_param("name", "ctype-name.txt")
    parts = by_location(m2.as_bytes())
    assert {"attachment[1]", "ctype-name.txt", "x.txt"} <= set(parts), list(parts)
    assert parts["attachment[1]"].truncated == ("unsupported",)


def test_part_filename_prefers_disposition():
    m = email.message_from_string(
        'Content-Type: text/plain; name="a.txt"\nContent-Disposition: attachment; filename="b.txt"\n\nx'
    )
    assert part_filename(m) == "b.txt"


@pytest.mark.parametrize(
    ("charset", "cte", "encode"),
    [
        ("ISO-2022-JP", "7bit", to_cp50221),
        ("CP50221", "7bit", to_cp50221),
        ("Shift_JIS", "8bit", lambda t: t.encode("cp932")),
        ("Shift_JIS", "base64", lambda t: base64.encodebytes(t.encode("cp932"))),
        ("EUC-JP", "8bit", to_cp51932),
        ("UTF-8", "base64", lambda t: base64.encodebytes(t.encode())),
        ("UTF-8", "quoted-printable", lambda t: __import__("quopri").encodestring(t.encode())),
        ("iso-8859-1", "8bit", lambda t: t.encode("cp932")),  # lying declaration
        ("us-ascii", "8bit", lambda t: t.encode()),  # lying declaration
        (None, "8bit", lambda t: t.encode("cp932")),  # missing declaration
        (None, "8bit", to_cp51932),
    ],
)
def test_body_charsets(charset, cte, encode):
    ctype = "text/plain" + (f"; charset={charset}" if charset else "")
    raw = raw_message(
        f"From: a@example.jp\nSubject: s\nContent-Type: {ctype}\nContent-Transfer-Encoding: {cte}\n",
        encode(SAMPLE),
    )
    body = by_location(raw)["body"]
    assert body.text.strip() == SAMPLE
    assert body.kind == "body"


def test_bodies_are_numbered_and_alternatives_grouped():
    m = EmailMessage()
    m["Subject"] = "s"
    m.set_content("個人番号 123456789018")
    m.add_alternative(
        "<p>個人番号 123456789018 <a href='https://share.example/s/abc'>共有</a></p>", subtype="html"
    )
    extra = EmailMessage()
    extra.set_content("second body")
    m.make_mixed()
    m.attach(extra)
    parts = by_location(m.as_bytes())
    assert [loc for loc in parts if loc.startswith("body")] == ["body", "body[2]", "body[3]"]
    assert parts["body"].alternative is not None
    assert parts["body"].alternative == parts["body[2]"].alternative
    assert parts["body[3]"].alternative is None
    assert "https://share.example/s/abc" in parts["body[2]"].text
    assert parts["body[2]"].content_type == "text/html"
    # the engine counts a value once across the bodies of one alternative
    result = scan_message(m.as_bytes())
    assert result.count("my_number") == 1


def test_nested_message_rfc822():
    inner = EmailMessage()
    inner["Subject"] = "転送: " + EXTENSIONS
    inner.set_content("内側の本文")
    inner.add_attachment(b"a,b\r\n1,2\r\n", maintype="text", subtype="csv", filename="list.csv")
    innermost = EmailMessage()
    innermost["Subject"] = "deep"
    innermost.set_content("最も内側")
    inner.add_attachment(innermost, filename="inner.eml")
    outer = EmailMessage()
    outer["Subject"] = "outer"
    outer.set_content("外側")
    outer.add_attachment(inner, filename="fwd.eml")
    outer.add_attachment(inner)  # unnamed
    parts = by_location(outer.as_bytes())
    assert parts["attachment:fwd.eml/subject"].text == "転送: " + EXTENSIONS
    assert parts["attachment:fwd.eml/body"].text.strip() == "内側の本文"
    assert parts["attachment:fwd.eml/list.csv"].segments[1][1] == "attachment:fwd.eml/list.csv!R2"
    assert parts["attachment:fwd.eml/inner.eml/body"].text.strip() == "最も内側"
    assert "attachment:attachment[2].eml/body" in parts
    assert all(
        p.kind == ("header" if loc.endswith("/headers") else "attachment")
        for loc, p in parts.items()
        if loc.startswith("attachment:")
    )
    assert parts["body"].kind == "body" and parts["subject"].kind == "subject"


@pytest.mark.parametrize(
    ("cte", "encode"), [("base64", base64.encodebytes), ("quoted-printable", quopri.encodestring)]
)
def test_transfer_encoded_message_rfc822(cte, encode):
    inner = message("内側", "内側の本文")
    raw = raw_message(
        "From: a@example.jp\nSubject: s\nContent-Type: multipart/mixed; boundary=B\n",
        b"--B\r\nContent-Type: text/plain\r\n\r\nbody\r\n--B\r\nContent-Type: message/rfc822\r\n"
        + f"Content-Transfer-Encoding: {cte}\r\nContent-Disposition: attachment; filename=fwd.eml\r\n\r\n".encode()
        + encode(inner)
        + b"\r\n--B--\r\n",
    )
    parts = by_location(raw)
    assert parts["attachment:fwd.eml/subject"].text == "内側"
    assert parts["attachment:fwd.eml/body"].text.strip() == "内側の本文"


def test_eml_attached_as_octet_stream_is_read_as_a_message():
    raw = message(attachments=(("forward.eml", message("内側", "内側の本文")),))
    parts = by_location(raw)
    assert parts["attachment:forward.eml/subject"].text == "内側"


def test_nested_messages_stop_at_max_depth():
    raw = message("level 0", "x")
    for level in range(1, 8):
        m = EmailMessage()
        m["Subject"] = f"level {level}"
        m.set_content("x")
        m.add_attachment(email.message_from_bytes(raw, policy=email.policy.default), filename="m.eml")
        raw = m.as_bytes()
    ex = extract(raw, Limits(max_seconds=5, max_depth=3))
    deep = [p for p in ex.parts if "depth" in p.truncated]
    assert len(deep) == 1
    assert deep[0].location == "attachment:m.eml/m.eml/m.eml/m.eml"


def test_truncated_base64_is_corrupt_but_read():
    payload = base64.b64encode(("個人番号 123456789018 " * 20).encode())[:-7]
    raw = raw_message(
        "From: a@example.jp\nSubject: s\nContent-Type: multipart/mixed; boundary=B\n",
        b"--B\r\nContent-Type: text/plain\r\n\r\nhello\r\n--B\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b'Content-Disposition: attachment; filename="a.txt"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        + payload
        + b"\r\n--B--\r\n",
    )
    ex = extract(raw)
    att = next(p for p in ex.parts if p.location == "a.txt")
    assert att.truncated == ("corrupt",)
    assert "123456789018" in att.text
    assert any("a.txt" in e for e in ex.errors)


@pytest.mark.parametrize(
    "ctype",
    ["multipart/mixed", "multipart/mixed; boundary=NOT-THERE"],
)
def test_missing_mime_boundary(ctype):
    raw = raw_message(
        f"From: a@example.jp\nSubject: s\nContent-Type: {ctype}\n",
        b"--other\r\nContent-Type: text/plain\r\n\r\n\xe5\x80\x8b\xe4\xba\xba\xe7\x95\xaa\xe5\x8f\xb7 123456789018\r\n",
    )
    ex = extract(raw)
    body = next(p for p in ex.parts if p.location == "body")
    assert "corrupt" in body.truncated
    assert "123456789018" in body.text
    assert ex.errors


def test_thousand_parts_trip_the_parts_limit():
    chunks = [f"--B\r\nContent-Type: text/plain\r\n\r\npart {i}\r\n".encode() for i in range(1000)]
    raw = raw_message("From: a@example.jp\nSubject: s\nContent-Type: multipart/mixed; boundary=B\n",
                      b"".join(chunks) + b"--B--\r\n")  # fmt: skip
    limits = Limits(max_seconds=5, max_parts=100)
    ex = extract(raw, limits)
    assert len(ex.parts) == limits.max_parts + 1
    assert ex.parts[-1].truncated == ("parts",)
    assert not any("time" in p.truncated for p in ex.parts)
    assert scan_message(raw, limits).truncated[-1][1] == "parts"


def test_deeply_nested_multiparts_are_bounded():
    depth = 200
    head = "".join(
        f"--B{i}\r\nContent-Type: multipart/mixed; boundary=B{i + 1}\r\n\r\n" for i in range(depth)
    )
    raw = raw_message("From: a@example.jp\nSubject: s\nContent-Type: multipart/mixed; boundary=B0\n",
                      head.encode() + b"--B200\r\nContent-Type: text/plain\r\n\r\nleaf\r\n")  # fmt: skip
    ex = extract(raw, Limits(max_seconds=5, max_mime_nesting=20))
    assert any("depth" in p.truncated for p in ex.parts)


def test_html_body_reads_script_strings_but_not_style_rules_and_keeps_links():
    raw = raw_message(
        "From: a@example.jp\nSubject: s\nContent-Type: text/html\n",
        '<html><head><meta charset="shift_jis"><style>p{}</style></head><body><script>var x="秘密";</script>'
        '<p>資料は<a href="https://drive.example.com/file/d/abc">こちら</a></p></body></html>'.encode(
            "cp932"
        ),
    )
    body = by_location(raw)["body"]
    assert "秘密" in body.text and "p{}" not in body.text  # a browser shows what a script writes
    assert "資料はこちら <https://drive.example.com/file/d/abc>" in body.text
