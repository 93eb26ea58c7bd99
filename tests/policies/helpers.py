"""Builders shared by the policy tests: findings, scan results, envelopes and policy files.

The detectors are built in parallel with the policies, so rule tests construct ``ScanResult``
objects directly; the end-to-end tests go through ``classifiers.scan_message``.
"""

from __future__ import annotations

import struct
import textwrap
import zlib
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

from classifiers.model import Explanation, Finding, PartResult, ScanResult
from policies import Envelope, Policy, load_policy

NOW = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
SENDER = "taro.yamada@example.co.jp"  # in the example directory; manager hanako.sato@

DIRECTORY_CSV = """\
address,name,department,manager,roles,groups
taro.yamada@example.co.jp,山田 太郎,営業部,hanako.sato@example.co.jp,,sales
hanako.sato@example.co.jp,佐藤 花子,営業部,ichiro.suzuki@example.co.jp,manager,sales
ichiro.suzuki@example.co.jp,鈴木 一郎,経営企画部,,executive,executives
ken.takahashi@example.co.jp,高橋 健,情報セキュリティ室,ichiro.suzuki@example.co.jp,security_admin,security
yui.watanabe@example.co.jp,渡辺 結衣,情報セキュリティ室,ken.takahashi@example.co.jp,security_admin,security
"""

HEADER = """\
version: 1
organisation:
  internal_domains: [example.co.jp]
  directory: people.csv
rules:
"""


def finding(
    etype: str, value: str, *, score: float = 1.0, location: str = "body", normalized: str | None = None
) -> Finding:
    return Finding(
        type=etype,
        value=value,
        score=score,
        location=location,
        span=(0, len(value)),
        normalized=normalized if normalized is not None else value,
        explanation=Explanation("test", "format", score),
    )


def part(
    *findings: Finding,
    kind: str = "body",
    location: str | None = None,
    filename: str | None = None,
    content_type: str = "text/plain",
    encrypted: bool = False,
    truncated: tuple[str, ...] = (),
    records: int = 0,
    type_mismatch: tuple[str, ...] = (),
) -> PartResult:
    return PartResult(
        location=location or (filename if filename else kind),
        kind=kind,  # type: ignore[arg-type]
        content_type=content_type,
        filename=filename,
        size=100,
        truncated=truncated,
        encrypted=encrypted,
        findings=findings,
        records=records,
        type_mismatch=type_mismatch,
    )


def scan(*parts: PartResult, records: int = 0, size: int = 0, errors: tuple[str, ...] = ()) -> ScanResult:
    return ScanResult(parts=parts, records=records, size=size, errors=errors)


EMPTY = scan(part())


def mail(
    *recipients: str,
    sender: str = SENDER,
    to: tuple[str, ...] | None = None,
    cc: tuple[str, ...] = (),
    **kw: object,
) -> Envelope:
    return Envelope(
        direction="mail",
        sender=sender,
        recipients=tuple(recipients),
        to=tuple(recipients) if to is None else to,
        cc=cc,
        **kw,  # type: ignore[arg-type]
    )


def upload(**kw: object) -> Envelope:
    fields: dict[str, object] = {"direction": "upload", "sender": SENDER, "recipients": ()}
    fields.update(kw)
    return Envelope(**fields)  # type: ignore[arg-type]


def write_policy(tmp: Path, rules_yaml: str, *, header: str = HEADER, name: str = "policy.yaml") -> Path:
    """A policy file with the test directory next to it; ``rules_yaml`` is the rules list body."""
    (tmp / "people.csv").write_text(DIRECTORY_CSV, encoding="utf-8")
    path = tmp / name
    path.write_text(
        header + textwrap.indent(textwrap.dedent(rules_yaml).strip("\n"), "  ") + "\n", encoding="utf-8"
    )
    return path


def rule_yaml(rule_id: str, when: str, action: str = "block") -> str:
    """One rule with the given (flow-style or block) condition and action."""
    when_block = textwrap.indent(textwrap.dedent(when).strip("\n"), "    ")
    action_block = textwrap.indent(textwrap.dedent(action).strip("\n"), "    ")
    return (
        f"- id: {rule_id}\n"
        f"  title: {{ja: テスト {rule_id}, en: test {rule_id}}}\n"
        f"  description: {{ja: テスト, en: test}}\n"
        f"  when:\n{when_block}\n"
        f"  action:\n{action_block}\n"
    )


def policy_with(tmp: Path, *rules: str) -> Policy:
    return load_policy(write_policy(tmp, "".join(rules)))


def eml(
    *,
    sender: str = "山田 太郎 <taro.yamada@example.co.jp>",
    to: str,
    cc: str | None = None,
    subject: str,
    body: str,
    attachments: tuple[tuple[str, bytes, str], ...] = (),
) -> bytes:
    """A real RFC 5322 message (UTF-8, MIME-encoded headers) built with the standard library."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    if cc:
        msg["Cc"] = cc
    msg["Subject"] = subject
    msg.set_content(body)
    for name, data, ctype in attachments:
        maintype, subtype = ctype.split("/", 1)
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes()


def picture(size: int) -> bytes:
    """A valid PNG of about ``size`` bytes (a 1x1 image with a private chunk): the classifiers
    list a picture but do not read it, so it passes inspection whatever its size."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"zzZZ", bytes(max(0, size - 64)))
        + chunk(b"IDAT", zlib.compress(b"\0\0"))
        + chunk(b"IEND", b"")
    )
