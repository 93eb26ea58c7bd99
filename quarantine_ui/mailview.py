"""What the UI shows of a queued message: facts from the store record, and (for security review)
the message text, read from the spool with hard limits and made inert.

Mail is hostile. Nothing here returns markup except :func:`sanitize_html` output; headers, file
names and plain text are returned as text and escaped by the templates. Remote content is never
fetched: the sanitiser drops image sources and the CSP forbids them as well.
"""

from __future__ import annotations

import email.policy
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from gateway.store import ItemKind, MessageRecord, State, pass_uses
from quarantine_ui.sanitize import sanitize_html

#: Shown text is cut here (characters); the full message stays in the spool.
MAX_TEXT = 200_000
MAX_HEADER = 2_000
MAX_PARTS = 200
SHOWN_HEADERS = ("From", "To", "Cc", "Subject", "Date", "Message-ID")


@dataclass(frozen=True)
class Finding:
    type: str
    value: str
    location: str
    score: float
    #: "person" or "organisation" for personal types (whose data it is), else "".
    holder: str = ""
    holder_reason: str = ""


@dataclass(frozen=True)
class RuleHit:
    rule_id: str
    action: str
    title: str
    explanation: str
    #: (entity type, count, redacted values, locations, detail) per piece of evidence.
    evidence: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class Recipient:
    address: str
    external: bool


@dataclass(frozen=True)
class UploadView:
    """Where an upload went and what its approval allows (no URL, no token, no content)."""

    filename: str
    service: str
    host: str
    tenant: str
    destination: str
    sharing_scope: str
    content_type: str
    #: An approved upload's pass: uses granted and made, who granted it, until when.
    uses: int = 0
    used: int = 0
    granted_by: str = ""
    valid_until: datetime | None = None

    @property
    def uses_left(self) -> int:
        return max(0, self.uses - self.used)

    def to_dict(self) -> dict[str, Any]:
        return {
            "filename": self.filename,
            "service": self.service,
            "host": self.host,
            "tenant": self.tenant or None,
            "destination": self.destination,
            "sharing_scope": self.sharing_scope or None,
            "content_type": self.content_type,
            "pass": None
            if not self.uses
            else {
                "uses": self.uses,
                "used": self.used,
                "granted_by": self.granted_by,
                "valid_until": self.valid_until.isoformat() if self.valid_until else None,
            },
        }


def upload_view(rec: MessageRecord) -> UploadView | None:
    facts = rec.upload
    if facts is None:
        return None
    granted = rec.meta.get("pass")
    by = granted.get("by") if isinstance(granted, dict) else ""
    approved = rec.state is State.APPROVED
    return UploadView(
        filename=facts.filename,
        service=facts.service,
        host=facts.host,
        tenant=facts.tenant or "",
        destination=facts.destination,
        sharing_scope=facts.sharing_scope or "",
        content_type=facts.content_type,
        uses=pass_uses(rec),
        used=rec.attempts if pass_uses(rec) else 0,
        granted_by=_str(by),
        valid_until=rec.expires_at if approved else None,
    )


@dataclass(frozen=True)
class MessageView:
    id: str
    state: str
    sender: str
    subject: str
    recipients: tuple[Recipient, ...]
    received_at: datetime
    release_at: datetime | None
    expires_at: datetime | None
    attachments: tuple[str, ...]
    findings: tuple[Finding, ...]
    rules: tuple[RuleHit, ...]
    records: int
    types: tuple[str, ...]
    approvers: tuple[str, ...]
    on_timeout: str
    escalate_to: tuple[str, ...]
    fully_inspected: bool
    #: (at, who, text) for justifications and approver comments, oldest first.
    notes: tuple[tuple[datetime, str, str], ...] = ()
    has_raw: bool = True
    #: Organisations whose contact data appear (a supplier list, a press contact): not people.
    organisations: int = 0
    #: ``mail`` or ``upload``; an upload's destination and pass in ``upload``.
    kind: str = ItemKind.MAIL.value
    upload: UploadView | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "upload": None if self.upload is None else self.upload.to_dict(),
            "state": self.state,
            "sender": self.sender,
            "subject": self.subject,
            "recipients": [{"address": r.address, "external": r.external} for r in self.recipients],
            "received_at": self.received_at.isoformat(),
            "release_at": self.release_at.isoformat() if self.release_at else None,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "attachments": list(self.attachments),
            "findings": [
                {"type": f.type, "value": f.value, "location": f.location, "score": f.score}
                | ({"holder": f.holder, "holder_reason": f.holder_reason} if f.holder else {})
                for f in self.findings
            ],
            "rules": [
                {
                    "rule_id": r.rule_id,
                    "action": r.action,
                    "title": r.title,
                    "explanation": r.explanation,
                    "evidence": list(r.evidence),
                }
                for r in self.rules
            ],
            "records": self.records,
            "organisations": self.organisations,
            "types": list(self.types),
            "approvers": list(self.approvers),
            "on_timeout": self.on_timeout,
            "escalate_to": list(self.escalate_to),
            "fully_inspected": self.fully_inspected,
            "notes": [{"at": at.isoformat(), "by": by, "text": text} for at, by, text in self.notes],
        }


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def build_view(
    rec: MessageRecord,
    *,
    lang: str,
    is_internal: Any,
    notes: tuple[tuple[datetime, str, str], ...] = (),
) -> MessageView:
    """The view of ``rec`` from its stored decision and redacted scan summary (never raw PII)."""
    scan = rec.scan if isinstance(rec.scan, dict) else dict(rec.scan)
    decision = dict(rec.decision)
    findings: list[Finding] = []
    attachments: list[str] = []
    for part in _list(scan.get("parts")):
        if not isinstance(part, dict):
            continue
        name = _str(part.get("filename"))
        if name and name not in attachments:
            attachments.append(name)
        for f in _list(part.get("findings")):
            if isinstance(f, dict):
                score = f.get("score")
                findings.append(
                    Finding(
                        _str(f.get("type")),
                        _str(f.get("value")),
                        _str(f.get("location")),
                        float(score) if isinstance(score, int | float) else 0.0,
                        _str(f.get("holder")),
                        _str(f.get("holder_reason")),
                    )
                )
    rules: list[RuleHit] = []
    for m in _list(decision.get("matches")):
        if not isinstance(m, dict):
            continue
        suffix = "ja" if lang == "ja" else "en"
        rules.append(
            RuleHit(
                rule_id=_str(m.get("rule_id")),
                action=_str(m.get("action")),
                title=_str(m.get(f"title_{suffix}")) or _str(m.get("title_en")),
                explanation=_str(m.get(f"description_{suffix}")) or _str(m.get("description_en")),
                evidence=tuple(e for e in _list(m.get("evidence")) if isinstance(e, dict)),
            )
        )
    records = scan.get("records")
    organisations = scan.get("organisations")
    return MessageView(
        id=rec.id,
        state=rec.state.value,
        sender=rec.sender,
        subject=rec.subject,
        recipients=tuple(Recipient(r, not is_internal(r)) for r in rec.recipients),
        received_at=rec.received_at,
        release_at=rec.release_at if rec.state is State.HELD else None,
        expires_at=rec.expires_at if rec.state is State.PENDING_APPROVAL else None,
        attachments=tuple(attachments),
        findings=tuple(findings),
        rules=tuple(rules),
        records=records if isinstance(records, int) else 0,
        organisations=organisations if isinstance(organisations, int) else 0,
        types=tuple(sorted({f.type for f in findings if f.type})),
        approvers=rec.approvers,
        on_timeout=_str(decision.get("on_timeout")),
        escalate_to=tuple(str(a) for a in _list(decision.get("escalate_to"))),
        fully_inspected=bool(scan.get("fully_inspected", True)),
        notes=notes,
        has_raw=rec.has_raw,
        kind=rec.kind.value,
        upload=upload_view(rec),
    )


@dataclass
class Content:
    """The readable parts of a raw message, for the security review page."""

    headers: list[tuple[str, str]] = field(default_factory=list)
    text: str = ""
    #: Sanitised HTML (safe to insert as markup); empty when the message has a text body.
    html: str = ""
    attachments: list[tuple[str, str, int]] = field(default_factory=list)
    truncated: bool = False


def _cut(text: str, limit: int) -> tuple[str, bool]:
    return (text[:limit], True) if len(text) > limit else (text, False)


def _payload_text(part: EmailMessage) -> str:
    try:
        content = part.get_content()
    except (LookupError, ValueError, UnicodeError, AssertionError):
        raw = part.get_payload(decode=True)
        content = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else ""
    return content if isinstance(content, str) else ""


def read_content(raw: bytes) -> Content:
    """Headers, body text (plain preferred, else sanitised HTML) and attachment names of ``raw``."""
    out = Content()
    msg = BytesParser(policy=email.policy.default).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    for name in SHOWN_HEADERS:
        try:
            value = msg.get(name)
        except (ValueError, LookupError, IndexError):
            value = None
        if value is not None:
            out.headers.append((name, _cut(str(value), MAX_HEADER)[0]))
    plain: EmailMessage | None = None
    html: EmailMessage | None = None
    for i, part in enumerate(msg.walk()):
        if i >= MAX_PARTS:
            out.truncated = True
            break
        if part.is_multipart():
            continue
        try:
            filename = part.get_filename()
        except (ValueError, LookupError, IndexError):
            filename = "?"
        ctype = part.get_content_type()
        if filename or part.get_content_disposition() == "attachment":
            payload = part.get_payload(decode=True)
            size = len(payload) if isinstance(payload, bytes) else 0
            out.attachments.append((_cut(str(filename or ""), 500)[0], ctype, size))
        elif ctype == "text/plain" and plain is None:
            plain = part
        elif ctype == "text/html" and html is None:
            html = part
    if plain is not None:
        out.text, cut = _cut(_payload_text(plain), MAX_TEXT)
        out.truncated = out.truncated or cut
    elif html is not None:
        source, cut = _cut(_payload_text(html), MAX_TEXT)
        out.html = sanitize_html(source)
        out.truncated = out.truncated or cut
    return out
