"""Notifications and DSNs: mail from Sekimori itself, Japanese first, then English.

A notice is one Jinja2 template in ``gateway/templates/`` (``<name>.j2``) that extends
``_layout.j2`` and fills three blocks: ``subject`` (one line), ``ja`` and ``en``, written with the
macros of ``_parts.j2`` (paragraphs, facts, lists, findings, buttons). :func:`render` renders the
same template twice, as HTML (autoescaped, buttons as links styled as buttons) and as plain text
(each button its label and the address), and :func:`notice_message` puts both into one
``multipart/alternative`` mail: the links in both parts are the same signed links. To add a
notice, add a template and a :class:`Notifier` method that calls :meth:`Notifier.send`.

Each notice is put into the store like any message (``meta["kind"]`` = ``notification`` or
``dsn``), so it survives a crash and retries like any delivery, and goes straight to the
upstream without inspection. Envelope sender is the null path ``<>`` (RFC 3834 s3.3, RFC 3464),
so a notification that cannot be delivered never bounces back. Queuing a notice about an item
writes the audit note ``notify`` on that item, whose reason says who was told of what
(``sender told of approval``).
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage, Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, make_msgid
from typing import Any
from zoneinfo import ZoneInfo

import jinja2

from gateway import uploads
from gateway.config import Config
from gateway.delivery import Delivery, Failure
from gateway.links.facts import FileFacts, LinkFacts
from gateway.links.service import human_size
from gateway.store import ItemKind, MessageRecord, State, Store, UploadFacts
from gateway.tokens import link_url, sign_link
from policies import explain

log = logging.getLogger(__name__)

JST = ZoneInfo("Asia/Tokyo")


def _jst(value: datetime | str | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(JST).strftime("%Y-%m-%d %H:%M JST")


def _or_none(subject: str, lang: str = "ja") -> str:
    return subject or ("（件名なし）" if lang == "ja" else "(no subject)")


def _environment(html: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("gateway", "templates"),
        autoescape=html,  # the text part is plain text  # noqa: S701
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["jst"] = _jst
    env.filters["or_none"] = _or_none
    env.filters["evidence"] = explain.line
    env.globals["html"] = html
    return env


_HTML = _environment(True)
_TEXT = _environment(False)
_BLANKS = re.compile(r"\n{3,}")


@dataclass(frozen=True)
class Rendered:
    """A notice: its subject, the plain-text part and the HTML part (``None`` if text only)."""

    subject: str
    text: str
    html: str | None


def _tidy(text: str) -> str:
    """Trailing spaces dropped, blank lines folded to one, none after a heading (marked \\ue000)."""
    lines = [line.rstrip() for line in text.splitlines()]
    text = _BLANKS.sub("\n\n", "\n".join(lines)).strip("\n")
    return re.sub("\ue000\n+", "\n", text).replace("\ue000", "") + "\n"


def render(notice: str, /, *, html: bool = True, **context: Any) -> Rendered:
    """The notice ``notice`` (``held`` for ``held.j2``) over ``context``."""
    text_tpl = _TEXT.get_template(f"{notice}.j2")
    subject = ""
    if "subject" in text_tpl.blocks:  # a notice inside another mail (link_notice) has none
        subject_ctx = text_tpl.new_context(dict(context))
        subject = " ".join("".join(text_tpl.blocks["subject"](subject_ctx)).split())
    text = _tidy(text_tpl.render(**context))
    markup = _HTML.get_template(f"{notice}.j2").render(**context) if html else None
    return Rendered(subject, text, markup)


def notice_message(
    rendered: Rendered,
    *,
    sender: str,
    to: Sequence[str],
    about: str,
    hostname: str,
    now: datetime,
) -> EmailMessage:
    """The mail of a notice: ``multipart/alternative`` with the text part first and the HTML part
    last (RFC 2046 s5.1.4: the richest last), or text only."""
    msg = EmailMessage(policy=SMTP_POLICY)
    msg["From"] = f"Sekimori <{sender}>"
    msg["To"] = ", ".join(to)
    msg["Subject"] = rendered.subject
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = make_msgid(domain=hostname)
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834
    msg["X-Sekimori-About"] = about
    msg.set_content(rendered.text, charset="utf-8")
    if rendered.html is not None:
        msg.add_alternative(rendered.html, subtype="html", charset="utf-8")
    return msg


#: What the policy did, as the security notice names it.
EVENTS: Mapping[str, tuple[str, str]] = {
    "quarantine": ("隔離", "quarantined"),
    "block": ("送信停止", "blocked"),
    "hold": ("送信保留", "held"),
    "approval": ("承認待ち", "waiting for approval"),
    "deliver": ("送信", "delivered"),
    "tag": ("タグを付けて送信", "tagged and sent"),
    "bcc": ("BCC に変更して送信", "sent with Bcc"),
}

#: Who took a decision, as a notice names them (by the role of the actor in the audit trail).
_DECIDERS: Mapping[str, tuple[str, str]] = {
    "approver": ("承認者（{who}）", "the approver ({who})"),
    "admin": ("情報セキュリティ担当", "the security team"),
    "operator": ("システム管理者", "the system administrator"),
    "scheduler": ("システム", "the system"),
    "sender": ("送信者ご本人", "you"),
}


#: The notices that end a wait, and what the audit note says the sender was told of.
DECISIONS: Mapping[str, str] = {
    "approved": "approval",
    "released": "release",
    "rejected": "rejection",
    "deleted": "deletion",
    "cancelled": "cancellation",
}


def _event(action: str) -> dict[str, str]:
    ja, en = EVENTS.get(action, (action, action))
    return {"event_ja": ja, "event_en": en}


def decider(actor: str, lang: str) -> str:
    """``approver:boss@x`` → ``承認者（boss@x）``.

    >>> decider("approver:boss@example.co.jp", "ja"), decider("admin:sec@example.co.jp", "en")
    ('承認者（boss@example.co.jp）', 'the security team')
    """
    role, _, who = actor.partition(":")
    pair = _DECIDERS.get(role, _DECIDERS["operator"])
    return (pair[0] if lang == "ja" else pair[1]).format(who=who)


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
        self, notice: str, to: Iterable[str], /, *, about: str, why: str, **context: Any
    ) -> str | None:
        """Render the notice ``notice`` and queue it to ``to``; ``why`` is the audit reason of the
        ``notify`` note on ``about`` (``sender told of …``). Returns the notification's id."""
        rcpts = [a for a in dict.fromkeys(to) if a]
        if not rcpts:
            return None
        rendered = render(notice, **context)
        msg = notice_message(
            rendered,
            sender=self.config.notify.sender,
            to=rcpts,
            about=about,
            hostname=self.config.smtp.hostname,
            now=self.clock(),
        )
        return await self._queue(
            msg.as_bytes(), rcpts, kind="notification", about=about, subject=rendered.subject, why=why
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

    def _context(self, rec: MessageRecord, decision: Mapping[str, Any]) -> dict[str, Any]:
        base = self.config.ui.base_url.rstrip("/")
        return {
            "id": rec.id,
            "sender": rec.sender,
            "subject": rec.subject,
            "received_at": rec.received_at,
            "recipients": [{"address": r, "external": not self.is_internal(r)} for r in rec.recipients],
            "rules": decision.get("matches", []),
            "decision": decision,
            "ui": base,
            # The sender's page of the message: why it waits, and where to write a justification.
            "page": f"{base}/messages/{rec.id}",
            "security": self.config.notify.security or "",
            "moved": [],
        }

    def _moved(self, moved: Sequence[str]) -> list[str]:
        return list(moved) if self.config.notify.bcc_notice else []

    # --- one per event -----------------------------------------------------------------------
    async def blocked(self, rec: MessageRecord, decision: dict[str, Any]) -> None:
        await self.send(
            "blocked",
            [rec.sender],
            about=rec.id,
            why="sender told of refusal",
            **self._context(rec, decision),
        )

    async def held(
        self,
        rec: MessageRecord,
        decision: dict[str, Any],
        release_at: datetime | None,
        moved: Sequence[str] = (),
    ) -> None:
        """The hold, with its cancel and send-now links; ``moved`` are the addresses that will go
        as Bcc when it is sent (told here, not as a separate notice, since nothing left yet)."""
        links = self._links(rec, f"sender:{rec.sender}", ("cancel", "send_now"), release_at)
        await self.send(
            "held",
            [rec.sender],
            about=rec.id,
            why="sender told of hold",
            **{
                **self._context(rec, decision),
                "release_at": release_at,
                "links": links,
                "moved": self._moved(moved),
            },
        )

    async def bcc_converted(self, rec: MessageRecord, decision: dict[str, Any], moved: Sequence[str]) -> None:
        """A message that goes out at once with external To/Cc moved to Bcc."""
        if not self.config.notify.bcc_notice or not moved:
            return
        await self.send(
            "bcc",
            [rec.sender],
            about=rec.id,
            why="sender told of Bcc conversion",
            **{**self._context(rec, decision), "moved": list(moved)},
        )

    async def approval(
        self,
        rec: MessageRecord,
        decision: dict[str, Any],
        approvers: Sequence[str],
        moved: Sequence[str] = (),
    ) -> None:
        ctx = {**self._context(rec, decision), "moved": self._moved(moved), "deadline": rec.expires_at}
        for approver in approvers:
            links = self._links(rec, f"approver:{approver}", ("approve", "reject"), rec.expires_at)
            await self.send(
                "approval_request",
                [approver],
                about=rec.id,
                why=f"approver {approver} asked",
                # What the links need besides themselves: the notice says so before the click.
                **{**ctx, "links": links, "approver": approver, "link_login": self.config.ui.approval_links},
            )
        await self.send(
            "approval_pending",
            [rec.sender],
            about=rec.id,
            why="sender told approval is needed",
            **{**ctx, "approvers": list(approvers)},
        )

    async def quarantined(
        self,
        rec: MessageRecord,
        decision: dict[str, Any],
        *,
        escalated: bool = False,
        moved: Sequence[str] = (),
    ) -> None:
        ctx = {**self._context(rec, decision), "moved": self._moved(moved)}
        await self.send(
            "quarantined",
            [rec.sender],
            about=rec.id,
            why="sender told of quarantine",
            **{**ctx, "escalated": escalated},
        )
        targets = [*decision.get("escalate_to", [])] if escalated else []
        if self.config.notify.security:
            targets.append(self.config.notify.security)
        await self.send(
            "security", targets, about=rec.id, why="security team told", **{**ctx, **_event("quarantine")}
        )

    async def security(self, rec: MessageRecord, decision: dict[str, Any]) -> None:
        if self.config.notify.security:
            await self.send(
                "security",
                [self.config.notify.security],
                about=rec.id,
                why="security team told",
                **{**self._context(rec, decision), **_event(str(decision.get("action", "")))},
            )

    async def decided(
        self, rec: MessageRecord, outcome: str, *, by: str, comment: str = "", expired: bool = False
    ) -> None:
        """Tell the sender how a wait ended: ``approved``, ``released``, ``rejected``, ``deleted``
        or ``cancelled`` (``rec`` as it is now), by whom (an audit actor such as
        ``approver:boss@…``) and with their comment; ``expired``: the approval deadline passed."""
        if outcome not in DECISIONS:
            raise ValueError(f"unknown outcome {outcome!r}")
        if not rec.sender:
            return
        if rec.kind is ItemKind.UPLOAD:
            allowed = outcome in ("approved", "released")
            await self.send(
                "upload_approved" if allowed else "upload_rejected",
                [rec.sender],
                about=rec.id,
                why=f"user told of {DECISIONS[outcome]}",
                **{
                    **self._upload_context(rec, dict(rec.decision)),
                    "by_ja": decider(by, "ja"),
                    "by_en": decider(by, "en"),
                    "comment": comment,
                    "expired": expired,
                    "outcome": outcome,
                    "valid_until": rec.expires_at,
                },
            )
            return
        await self.send(
            outcome,
            [rec.sender],
            about=rec.id,
            why=f"sender told of {DECISIONS[outcome]}",
            **{
                **self._context(rec, dict(rec.decision)),
                "by_ja": decider(by, "ja"),
                "by_en": decider(by, "en"),
                "comment": comment,
                "expired": expired,
                "going_out": rec.state in (State.DELIVERING, State.DEFERRED, State.DELIVERED),
            },
        )

    # --- uploads -----------------------------------------------------------------------------
    def _upload_context(self, rec: MessageRecord, decision: Mapping[str, Any]) -> dict[str, Any]:
        """What the upload notices say: the file (or the sharing change), where it went, who is
        let in, and what an approval allows (the same upload, for how long, how often)."""
        ctx = self._context(rec, decision)
        # An upload recorded without its facts (by hand, or by an older gateway) still gets a notice.
        facts = rec.upload or UploadFacts(service="", host="-", filename=rec.subject)
        service_ja, service_en = uploads.SERVICES.get(facts.service, (facts.host, facts.host))
        tenant_ja = f"（テナント {facts.tenant}）" if facts.tenant else ""
        tenant_en = f" (tenant {facts.tenant})" if facts.tenant else ""
        where = f" {facts.destination}" if facts.destination else ""
        sharing = facts.sharing_scope
        rows_ja = [("利用者", rec.sender), ("対象" if sharing else "ファイル名", facts.filename)]
        rows_en = [("User", rec.sender), ("Change" if sharing else "File name", facts.filename)]
        rows_ja.append(("アップロード先" if not sharing else "サービス", f"{service_ja}{tenant_ja}{where}"))
        rows_en.append(("Destination" if not sharing else "Service", f"{service_en}{tenant_en}{where}"))
        if sharing:
            scope_ja, scope_en = uploads.SHARING.get(sharing, (sharing, sharing))
            rows_ja.append(("共有範囲", scope_ja))
            rows_en.append(("Sharing", scope_en))
        valid, uses = uploads.pass_terms(rec)
        valid_ja, valid_en = uploads.duration_text(valid)
        ctx.update(
            upload_facts_ja=rows_ja,
            upload_facts_en=rows_en,
            sharing_ja=bool(sharing),
            sharing_en=bool(sharing),
            same_ja="同じ共有設定をもう一度行う"
            if sharing
            else "同じファイルを同じアップロード先にもう一度アップロードする",
            same_en="make the same sharing change again"
            if sharing
            else "upload the same file to the same destination again",
            valid_ja=valid_ja,
            valid_en=valid_en,
            uses=uses,
            invitees=ctx["recipients"],
        )
        return ctx

    async def upload_held_back(self, rec: MessageRecord, decision: dict[str, Any]) -> None:
        """An upload the gate held back for a person: the approvers are asked (with signed
        approve and reject links) and the user told whom; or the warned user is told how to go
        on with a reason (a signed link)."""
        ctx = self._upload_context(rec, decision)
        if rec.state is State.PENDING_APPROVAL:
            ctx["deadline"] = rec.expires_at
            for approver in rec.approvers:
                links = self._links(rec, f"approver:{approver}", ("approve", "reject"), rec.expires_at)
                await self.send(
                    "upload_approval_request",
                    [approver],
                    about=rec.id,
                    why=f"approver {approver} asked",
                    **{**ctx, "links": links, "approver": approver},
                )
            await self.send(
                "upload_approval_pending",
                [rec.sender],
                about=rec.id,
                why="user told approval is needed",
                **{**ctx, "approvers": list(rec.approvers)},
            )
        elif rec.state is State.HELD:
            links = self._links(rec, f"sender:{rec.sender}", ("proceed",), rec.release_at)
            await self.send(
                "upload_held",
                [rec.sender],
                about=rec.id,
                why="user told how to go on",
                **{**ctx, "links": links, "until": rec.release_at},
            )

    # --- download links ----------------------------------------------------------------------
    async def link_code(self, link: MessageRecord, facts: LinkFacts, code: str) -> None:
        """The one-time code, to the link's own recipient and no one else."""
        await self.send(
            "link_code",
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
            "link_downloaded",
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
        """What stands in an outside recipient's copy where the attachment was: text and HTML
        alternatives from the same template, with the same link."""
        notice = render(
            "link_notice",
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
        part = MIMEMultipart("alternative")
        part.attach(MIMEText(notice.text, "plain", "utf-8"))
        if notice.html is not None:
            part.attach(MIMEText(notice.html, "html", "utf-8"))
        return part

    async def dsn(
        self, rec: MessageRecord, failures: Sequence[Failure], original_headers: bytes
    ) -> str | None:
        """A delivery status notification (RFC 3464) for the recipients that failed."""
        if not rec.sender:
            return None
        rendered = render(
            "dsn",
            html=False,
            id=rec.id,
            subject=rec.subject,
            failures=[{**f.to_dict(), "line": f"{f.recipient}: {f.code} {f.text}"} for f in failures],
            sender=rec.sender,
        )
        subject, human = rendered.subject, rendered.text
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
