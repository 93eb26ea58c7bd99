"""Notifications and DSNs: mail from Sekimori itself, Japanese first, then English.

Each is rendered from a Jinja2 template in ``gateway/templates/`` (the first line is the
``Subject:``), put into the store like any message (``meta["kind"]`` = ``notification`` or
``dsn``), so it survives a crash and retries like any delivery, and goes straight to the
upstream without inspection. Envelope sender is the null path ``<>`` (RFC 3834 s3.3, RFC 3464),
so a notification that cannot be delivered never bounces back.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage, Message
from email.mime.text import MIMEText
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, make_msgid
from typing import Any
from zoneinfo import ZoneInfo

import jinja2

from gateway.config import Config
from gateway.delivery import Delivery, Failure
from gateway.links.facts import FileFacts, LinkFacts
from gateway.links.service import human_size
from gateway.store import MessageRecord, State, Store
from gateway.tokens import link_url, sign_link

log = logging.getLogger(__name__)

JST = ZoneInfo("Asia/Tokyo")

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("gateway", "templates"),
    autoescape=False,  # plain-text mail  # noqa: S701
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _jst(value: datetime | str | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(JST).strftime("%Y-%m-%d %H:%M JST")


_ENV.filters["jst"] = _jst


def render(template: str, **context: Any) -> tuple[str, str]:
    """``(subject, body)`` of a template."""
    text = _ENV.get_template(template).render(**context)
    first, _, body = text.partition("\n")
    if not first.startswith("Subject: "):
        raise ValueError(f"template {template} must start with a Subject: line")
    return first.removeprefix("Subject: ").strip(), body.lstrip("\n")


class Notifier:
    """Builds notifications and queues them for delivery. Without a ``delivery`` of its own (the
    command line) a notification is queued unowned, for the running gateway's scheduler."""

    def __init__(
        self,
        config: Config,
        store: Store,
        delivery: Delivery | None,
        *,
        owner: str,
        is_internal: Callable[[str], bool],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.config = config
        self.store = store
        self.delivery = delivery
        self.owner = owner
        self.is_internal = is_internal
        self.clock = clock

    # --- plumbing ----------------------------------------------------------------------------
    def _message(self, to: Sequence[str], subject: str, body: str, *, about: str) -> EmailMessage:
        msg = EmailMessage(policy=SMTP_POLICY)
        msg["From"] = f"Sekimori <{self.config.notify.sender}>"
        msg["To"] = ", ".join(to)
        msg["Subject"] = subject
        msg["Date"] = format_datetime(self.clock())
        msg["Message-ID"] = make_msgid(domain=self.config.smtp.hostname)
        msg["Auto-Submitted"] = "auto-generated"  # RFC 3834
        msg["X-Sekimori-About"] = about
        msg.set_content(body, charset="utf-8")
        return msg

    async def _queue(
        self, raw: bytes, to: Sequence[str], *, kind: str, about: str, subject: str, why: str
    ) -> str:
        # Leased to us while received; handed on unowned when we have no delivery of our own.
        owner = self.owner if self.delivery is not None else None
        rec = await self.store.accept(
            raw,
            sender="",
            recipients=list(to),
            subject=subject,
            meta={"kind": kind, "about": about},
            owner=self.owner,
            actor="notify",
        )
        await self.store.transition(
            rec.id,
            State.DELIVERING,
            actor="notify",
            reason=f"{kind}: {why}",
            expect=State.RECEIVED,
            owner=owner,
        )
        if self.delivery is not None:
            self.delivery.enqueue(rec.id)
        if about:
            await self.store.note(
                about,
                action="notify",
                actor="notify",
                reason=why,
                extra={"notification": rec.id, "to": list(to)},
            )
        return rec.id

    async def send(
        self, template: str, to: Iterable[str], *, about: str, why: str, **context: Any
    ) -> str | None:
        rcpts = [a for a in dict.fromkeys(to) if a]
        if not rcpts:
            return None
        subject, body = render(template, **context)
        msg = self._message(rcpts, subject, body, about=about)
        return await self._queue(
            msg.as_bytes(), rcpts, kind="notification", about=about, subject=subject, why=why
        )

    def _links(
        self, rec: MessageRecord, actor: str, actions: Iterable[str], until: datetime | None
    ) -> dict[str, str]:
        expires = (until or self.clock()) + timedelta(seconds=self.config.ui.link_validity)
        secret = self.config.secret_bytes
        return {
            a: link_url(self.config.ui.base_url, sign_link(secret, rec.id, a, actor, expires))
            for a in actions
        }

    def _context(self, rec: MessageRecord, decision: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": rec.id,
            "sender": rec.sender,
            "subject": rec.subject,
            "received_at": rec.received_at,
            "recipients": [{"address": r, "external": not self.is_internal(r)} for r in rec.recipients],
            "rules": decision.get("matches", []),
            "decision": decision,
            "ui": self.config.ui.base_url,
            "security": self.config.notify.security or "",
        }

    # --- one per event -----------------------------------------------------------------------
    async def blocked(self, rec: MessageRecord, decision: dict[str, Any]) -> None:
        await self.send(
            "blocked.txt",
            [rec.sender],
            about=rec.id,
            why="sender told of refusal",
            **self._context(rec, decision),
        )

    async def held(self, rec: MessageRecord, decision: dict[str, Any], release_at: datetime | None) -> None:
        links = self._links(rec, f"sender:{rec.sender}", ("cancel", "send_now"), release_at)
        await self.send(
            "held.txt",
            [rec.sender],
            about=rec.id,
            why="sender told of hold",
            release_at=release_at,
            links=links,
            **self._context(rec, decision),
        )

    async def bcc_converted(self, rec: MessageRecord, decision: dict[str, Any], moved: Sequence[str]) -> None:
        if not self.config.notify.bcc_notice:
            return
        await self.send(
            "bcc.txt",
            [rec.sender],
            about=rec.id,
            why="sender told of Bcc conversion",
            moved=list(moved),
            **self._context(rec, decision),
        )

    async def approval(self, rec: MessageRecord, decision: dict[str, Any], approvers: Sequence[str]) -> None:
        ctx = self._context(rec, decision)
        deadline = rec.expires_at
        for approver in approvers:
            links = self._links(rec, f"approver:{approver}", ("approve", "reject"), deadline)
            await self.send(
                "approval_request.txt",
                [approver],
                about=rec.id,
                why=f"approver {approver} asked",
                links=links,
                deadline=deadline,
                **ctx,
            )
        await self.send(
            "approval_pending.txt",
            [rec.sender],
            about=rec.id,
            why="sender told approval is needed",
            approvers=list(approvers),
            deadline=deadline,
            **ctx,
        )

    async def quarantined(
        self, rec: MessageRecord, decision: dict[str, Any], *, escalated: bool = False
    ) -> None:
        ctx = self._context(rec, decision)
        await self.send(
            "quarantined.txt",
            [rec.sender],
            about=rec.id,
            why="sender told of quarantine",
            escalated=escalated,
            **ctx,
        )
        targets = [*decision.get("escalate_to", [])] if escalated else []
        if self.config.notify.security:
            targets.append(self.config.notify.security)
        await self.send(
            "security.txt", targets, about=rec.id, why="security team told", event="quarantine", **ctx
        )

    async def security(self, rec: MessageRecord, decision: dict[str, Any]) -> None:
        if self.config.notify.security:
            await self.send(
                "security.txt",
                [self.config.notify.security],
                about=rec.id,
                why="security team told",
                event=str(decision.get("action", "")),
                **self._context(rec, decision),
            )

    async def rejected(self, rec: MessageRecord, decision: dict[str, Any], reason: str) -> None:
        await self.send(
            "rejected.txt",
            [rec.sender],
            about=rec.id,
            why="sender told of rejection",
            reason=reason,
            **self._context(rec, decision),
        )

    # --- download links ----------------------------------------------------------------------
    async def link_code(self, link: MessageRecord, facts: LinkFacts, code: str) -> None:
        """The one-time code, to the link's own recipient and no one else."""
        await self.send(
            "link_code.txt",
            [facts.recipient],
            about=link.id,
            why=f"one-time code sent to {facts.recipient}",
            recipient=facts.recipient,
            sender=link.sender,
            code=code,
            until=facts.code_until,
        )

    async def first_download(self, link: MessageRecord, facts: LinkFacts, file: FileFacts) -> None:
        await self.send(
            "link_downloaded.txt",
            [link.sender],
            about=link.id,
            why="sender told of the first download",
            sender=link.sender,
            recipient=facts.recipient,
            file=file.name,
            at=facts.first_download,
            subject=link.subject,
            ui=self.config.ui.base_url,
        )

    def link_notice(self, facts: LinkFacts, file: FileFacts, url: str, expires_at: datetime) -> Message:
        """What stands in an outside recipient's copy where the attachment was."""
        _, body = render(
            "link_notice.txt",
            name=file.name,
            size=human_size(file.size),
            url=url,
            expires=expires_at,
            downloads=facts.max_downloads,
            needs_code=facts.needs_code,
            recipient=facts.recipient,
            inspected=file.inspected,
            note=file.note,
        )
        return MIMEText(body, "plain", "utf-8")

    async def dsn(
        self, rec: MessageRecord, failures: Sequence[Failure], original_headers: bytes
    ) -> str | None:
        """A delivery status notification (RFC 3464) for the recipients that failed."""
        if not rec.sender:
            return None
        subject, human = render(
            "dsn.txt",
            id=rec.id,
            subject=rec.subject,
            failures=[f.to_dict() for f in failures],
            sender=rec.sender,
        )
        raw = build_dsn(
            reporting_mta=self.config.smtp.hostname,
            from_addr=self.config.notify.sender,
            to=rec.sender,
            subject=subject,
            human=human,
            arrival=rec.received_at,
            failures=failures,
            original_headers=original_headers,
            now=self.clock(),
            envelope_id=rec.id,
        )
        return await self._queue(
            raw, [rec.sender], kind="dsn", about=rec.id, subject=subject, why="DSN to sender"
        )


def build_dsn(
    *,
    reporting_mta: str,
    from_addr: str,
    to: str,
    subject: str,
    human: str,
    arrival: datetime,
    failures: Sequence[Failure],
    original_headers: bytes,
    now: datetime,
    envelope_id: str,
) -> bytes:
    """``multipart/report; report-type=delivery-status`` (RFC 3462/3464): the human text, the
    machine-readable status per recipient, and the headers of the original message."""
    msg = EmailMessage(policy=SMTP_POLICY)
    msg["From"] = f"Mail Delivery System <{from_addr}>"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = make_msgid(domain=reporting_mta)
    msg["Auto-Submitted"] = "auto-replied"
    boundary = f"=_sekimori_{uuid.uuid4().hex}"
    msg["MIME-Version"] = "1.0"
    msg["Content-Type"] = f'multipart/report; report-type=delivery-status; boundary="{boundary}"'
    per_message = (
        f"Original-Envelope-Id: {envelope_id}\r\nReporting-MTA: dns; {reporting_mta}\r\n"
        f"Arrival-Date: {format_datetime(arrival)}\r\n"
    )
    per_rcpt = []
    for f in failures:
        status = f.enhanced or ("5.0.0" if f.code >= 500 else "4.0.0")
        if status.startswith("4"):
            status = "5" + status[1:]
        diag = " ".join(f"{f.code} {f.text}".split())
        per_rcpt.append(
            f"Final-Recipient: rfc822; {f.recipient}\r\nAction: failed\r\nStatus: {status}\r\n"
            f"Diagnostic-Code: smtp; {diag}\r\nLast-Attempt-Date: {format_datetime(now)}\r\n"
        )
    status_body = per_message + "\r\n" + "\r\n".join(per_rcpt)
    head = msg.as_bytes(policy=SMTP_POLICY).split(b"\r\n\r\n", 1)[0]
    human_part = EmailMessage(policy=SMTP_POLICY)
    human_part.set_content(human, charset="utf-8")
    human_bytes = human_part.as_bytes(policy=SMTP_POLICY)
    human_bytes = human_bytes[human_bytes.index(b"Content-Type") :]
    b = boundary.encode()
    return b"".join(
        [
            head,
            b"\r\n\r\nThis is a delivery status notification (RFC 3464).\r\n\r\n--",
            b,
            b"\r\n",
            human_bytes.rstrip(b"\r\n"),
            b"\r\n\r\n--",
            b,
            b"\r\nContent-Type: message/delivery-status\r\n\r\n",
            status_body.encode("ascii", "replace"),
            b"\r\n--",
            b,
            b"\r\nContent-Type: text/rfc822-headers\r\n\r\n",
            original_headers.rstrip(b"\r\n"),
            b"\r\n\r\n--",
            b,
            b"--\r\n",
        ]
    )
