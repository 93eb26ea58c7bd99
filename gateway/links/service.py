"""Download links at work: made when a message leaves, opened by their recipients, kept and
removed by the scheduler. Everything a link does goes through :meth:`gateway.store.Store.amend`
with a rule of :mod:`gateway.links.rules`, so any instance on a shared store serves any link.

A link's address is ``<links.base_url>/l/<id>.<mac>``: the link item's id and an HMAC of it with
``secret``, so only the gateway can make one. After the right code, the page gets a *grant*
(the link id and a time, signed the same way) that lets it fetch the files for a while; the
grant is in the page's forms, never in a cookie.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import Message
from email.mime.text import MIMEText
from typing import Any, Protocol

from gateway.config import Config
from gateway.links import rules
from gateway.links.facts import FileFacts, LinkFacts
from gateway.links.rewrite import Attachment, Findings, attachments, choose, parse, replaced
from gateway.links.seal import seal, unseal
from gateway.store import (
    Amendment,
    InvalidTransition,
    ItemKind,
    MessageRecord,
    NotFound,
    State,
    Store,
    StoreError,
)
from policies.model import LinkPlan, domain_of, is_in_domains

log = logging.getLogger(__name__)

#: How long the page may fetch files after the right code (or, without a code, after opening).
GRANT_TIME = timedelta(minutes=15)


class LinkNotices(Protocol):
    """The mail a link sends (``gateway.notify.Notifier`` fits)."""

    async def link_code(self, link: MessageRecord, facts: LinkFacts, code: str) -> None: ...

    async def first_download(self, link: MessageRecord, facts: LinkFacts, file: FileFacts) -> None: ...

    def link_notice(self, facts: LinkFacts, file: FileFacts, url: str, expires_at: datetime) -> Message: ...


def human_size(n: int) -> str:
    """A size as people read it.

    >>> human_size(532), human_size(2_048), human_size(1_234_567)
    ('532 B', '2.0 KB', '1.2 MB')
    """
    if n < 1000:
        return f"{n} B"
    if n < 1000**2:
        return f"{n / 1000:.1f} KB"
    return f"{n / 1000**2:.1f} MB"


def _mac(secret: bytes, purpose: bytes, text: str) -> str:
    digest = hmac.new(secret, purpose + b"\0" + text.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode()


@dataclass(frozen=True)
class Download:
    """A file ready to send, and what the store said about the download."""

    file: FileFacts
    data: bytes
    link: MessageRecord


class Links:
    """Makes, opens and retires download links over one store."""

    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        notices: LinkNotices | None = None,
    ) -> None:
        self.config = config
        self.links = config.links
        self.store = store
        self.clock = clock
        self.notices = notices
        self._secret = config.secret_bytes

    # --- addresses and grants ----------------------------------------------------------------
    def token(self, link_id: str) -> str:
        return f"{link_id}.{_mac(self._secret, b'link', link_id)}"

    def url(self, link_id: str) -> str:
        return f"{self.links.base_url}/l/{self.token(link_id)}"

    def link_id(self, token: str) -> str | None:
        """The link a token names, if the gateway made it."""
        link_id, _, mac = token.partition(".")
        if not (0 < len(link_id) <= 40 and link_id.isalnum()) or not mac:
            return None
        return link_id if hmac.compare_digest(mac, _mac(self._secret, b"link", link_id)) else None

    def code_mac(self, link_id: str, code: str) -> str:
        return _mac(self._secret, b"code", f"{link_id}:{code.strip()}")

    def grant(self, link_id: str) -> str:
        until = str(int((self.clock() + GRANT_TIME).timestamp()))
        return f"{until}.{_mac(self._secret, b'grant', f'{link_id}:{until}')}"

    def grant_ok(self, link_id: str, grant: str) -> bool:
        until, _, mac = grant.partition(".")
        if not until.isdigit() or int(until) < self.clock().timestamp():
            return False
        return hmac.compare_digest(mac, _mac(self._secret, b"grant", f"{link_id}:{until}"))

    # --- made when a message leaves ----------------------------------------------------------
    async def prepare(
        self, rec: MessageRecord, raw: bytes, pending: Sequence[str]
    ) -> tuple[MessageRecord, dict[str, bytes]]:
        """The copies for the outside recipients among ``pending`` of a message leaving now,
        each with its own links in place of the attachments the policy chose, and the record
        after (the links are made once, recorded in the message's ``meta["links"]``, and reused
        by a retry). No copy (everyone gets the message as it is) when the decision has no link
        plan or no attachment is chosen."""
        plan_data = rec.decision.get("link")
        if not plan_data:
            return rec, {}
        plan = LinkPlan.from_dict(plan_data)
        outside = [r for r in plan.recipients if r in rec.recipients]
        wanted = [r for r in outside if r in pending]
        if not wanted:
            return rec, {}
        msg = parse(raw)
        chosen = choose(attachments(msg), plan, Findings.of(rec.scan))
        if not chosen:
            return rec, {}
        made = rec.meta.get("links")
        if not isinstance(made, dict):
            rec, made = await self._make(rec, plan, outside, chosen)
        copies: dict[str, bytes] = {}
        for rcpt in wanted:
            link_id = made["to"].get(rcpt)
            link = await self.store.get(link_id) if link_id else None
            if link is None or link.expires_at is None:
                raise StoreError(f"{rec.id}: the download link for {rcpt} is missing")
            facts = LinkFacts.of(link)
            url = self.url(link.id)
            notices = [self._notice(facts, f, url, link.expires_at) for f in facts.files]
            copies[rcpt] = replaced(msg, chosen, notices)
        return rec, copies

    def _notice(self, facts: LinkFacts, file: FileFacts, url: str, expires_at: datetime) -> Message:
        if self.notices is not None:
            return self.notices.link_notice(facts, file, url, expires_at)
        return MIMEText(f"{file.name}: {url}\n", "plain", "utf-8")

    async def _make(
        self, rec: MessageRecord, plan: LinkPlan, outside: Sequence[str], chosen: Sequence[Attachment]
    ) -> tuple[MessageRecord, dict[str, Any]]:
        now = self.clock()
        expires_at = now + (plan.expiry or timedelta(seconds=self.links.expiry))
        limit = plan.max_downloads or self.links.max_downloads
        findings = Findings.of(rec.scan)
        files: list[FileFacts] = []
        for a in chosen:
            blob, key = await asyncio.to_thread(seal, a.data)
            note = findings.not_inspected.get(a.name, "")
            facts = FileFacts(
                id="",
                mail=rec.id,
                name=a.filename,
                content_type=a.content_type,
                size=len(a.data),
                sha256=hashlib.sha256(a.data).hexdigest(),
                inspected=not note,
                note=note,
                members=findings.members.get(a.name, ()),
            )
            item = await self.store.create(
                ItemKind.FILE,
                blob,
                sender=rec.sender,
                recipients=(),
                subject=a.filename,
                meta={"file": facts.to_dict()},
                expires_at=expires_at,
                actor="delivery",
                reason=f"attachment of {rec.id} kept for download links",
                file_key=key,
            )
            files.append(FileFacts.from_dict({**facts.to_dict(), "id": item.id}))
        open_domains = frozenset(self.links.open_domains)
        to: dict[str, str] = {}
        for rcpt in outside:
            link_facts = LinkFacts(
                mail=rec.id,
                recipient=rcpt,
                files=tuple(files),
                max_downloads=limit,
                needs_code=not is_in_domains(domain_of(rcpt), open_domains),
            )
            link = await self.store.create(
                ItemKind.LINK,
                None,
                sender=rec.sender,
                recipients=(rcpt,),
                subject=rec.subject,
                meta={"link": link_facts.to_dict()},
                expires_at=expires_at,
                actor="delivery",
                reason=f"download link for {rcpt}",
            )
            to[rcpt] = link.id
        made = {"files": [f.id for f in files], "to": to}
        names = [f.name for f in files]

        def record(current: MessageRecord, at: datetime) -> Amendment:
            return Amendment(
                "links",
                f"attachments as download links for {len(to)} outside recipient(s)",
                {"meta": {**current.meta, "links": made}},
                extra={"files": names, "links": to},
            )

        rec, _ = await self.store.amend(rec.id, record, actor="delivery")
        return rec, made

    # --- opened by the recipient -------------------------------------------------------------
    async def find(self, token: str) -> MessageRecord | None:
        """The link a token names (``None``: not one the gateway made, or gone from the store)."""
        link_id = self.link_id(token)
        if link_id is None:
            return None
        rec = await self.store.get(link_id)
        return rec if rec is not None and rec.kind is ItemKind.LINK else None

    async def _amend(self, rec: MessageRecord, rule: Any, actor: str) -> tuple[MessageRecord, str]:
        after, change = await self.store.amend(rec.id, rule, actor=actor)
        return after, "" if change is None else change.outcome

    async def request_code(self, rec: MessageRecord, *, ip: str) -> tuple[MessageRecord, str]:
        """Make a one-time code and mail it to the link's recipient (and no one else). Returns
        the record and ``sent``/``expired``; raises :class:`rules.LinkRefused`."""
        code = f"{secrets.randbelow(10**6):06d}"
        rule = rules.request_code(self.code_mac(rec.id, code), ip=ip, validity=self.links.code_validity)
        after, outcome = await self._amend(rec, rule, "recipient:" + rec.recipients[0])
        if outcome == "sent" and self.notices is not None:
            await self.notices.link_code(after, LinkFacts.of(after), code)
        return after, outcome

    async def check_code(self, rec: MessageRecord, code: str, *, ip: str) -> tuple[MessageRecord, str]:
        """``ok``, ``wrong_code``, ``locked`` or ``expired``; raises :class:`rules.LinkRefused`."""
        code = "".join(code.split())[:12]
        rule = rules.check_code(self.code_mac(rec.id, code), ip=ip, lock_time=self.links.lock_time)
        return await self._amend(rec, rule, "recipient:" + rec.recipients[0])

    async def download(self, rec: MessageRecord, index: int, *, ip: str) -> Download | str:
        """Count a download and return the file; or why not (``expired``, ``exhausted``, a
        refusal raised as :class:`rules.LinkRefused`). The file is opened before it is counted,
        so a damaged one never uses up a download."""
        facts = LinkFacts.of(rec)
        if not 0 <= index < len(facts.files):
            raise rules.LinkRefused("not_found")
        wanted = facts.files[index]
        item = await self.store.get(wanted.id)
        if rec.state is not State.OPEN:
            raise rules.LinkRefused("gone")
        if item is None or not item.has_raw:
            raise rules.LinkRefused("gone")
        blob = await self.store.load_raw(item.id, check=False)
        data = await asyncio.to_thread(unseal, blob, item.file_key)
        after, outcome = await self._amend(rec, rules.download(index, ip=ip), "recipient:" + facts.recipient)
        if after.state is not State.OPEN:  # closed by this download, or found past its time
            await follow_links(self.store, after, actor="recipient:" + facts.recipient)
        if outcome in ("expired", "exhausted"):
            return outcome
        if outcome == "first" and self.links.notify_first_download and self.notices is not None:
            try:
                await self.notices.first_download(after, LinkFacts.of(after), wanted)
            except Exception:
                log.exception("%s: cannot tell the sender of the first download", rec.id)
        return Download(wanted, data, after)

    # --- kept and removed by the scheduler ---------------------------------------------------
    async def on_due(self, rec: MessageRecord) -> bool:
        """A link past its time expires; a kept file whose time has come is removed when no link
        of its message is open, else kept until the last open link's expiry."""
        try:
            if rec.kind is ItemKind.LINK:
                _, change = await self.store.amend(rec.id, rules.expire(), actor="scheduler")
                return change is not None
            if rec.kind is ItemKind.FILE:
                return await self._retire(rec)
        except (InvalidTransition, NotFound):
            log.info("%s: already moved on", rec.id)
        return False

    async def _retire(self, rec: MessageRecord) -> bool:
        open_until = await _open_until(self.store, str(rec.meta.get("file", {}).get("mail", "")))

        def rule(current: MessageRecord, now: datetime) -> Amendment | None:
            if current.state is not State.STORED or current.expires_at is None or current.expires_at > now:
                return None
            live = [t for t in open_until if t > now]  # an open link past its time is closing
            if live:
                return Amendment("keep", "a link to it is still open", {"expires_at": max(live)})
            return Amendment("transition", "no open link needs it", to=State.DELETED)

        _, change = await self.store.amend(rec.id, rule, actor="scheduler")
        return change is not None and change.to is State.DELETED


async def _open_until(store: Store, mail_id: str) -> list[datetime]:
    """When each link of the message ``mail_id`` that is still open closes."""
    mail = await store.get(mail_id) if mail_id else None
    made = mail.meta.get("links") if mail is not None else None
    open_until: list[datetime] = []
    for link_id in (made or {}).get("to", {}).values():
        link = await store.get(link_id)
        if link is not None and link.state is State.OPEN and link.expires_at is not None:
            open_until.append(link.expires_at)
    return open_until


def _kept_for(open_until: Sequence[datetime], current: MessageRecord, now: datetime) -> Amendment | None:
    """A kept file with no open link left is removed now; one whose open links all close
    before the time it is kept until is kept only until the last of them closes."""
    if current.state is not State.STORED or current.expires_at is None:
        return None
    live = [t for t in open_until if t > now]
    if not live:
        return Amendment("transition", "no open link needs it", to=State.DELETED)
    if max(live) >= current.expires_at:
        return None
    return Amendment("shorten", "kept until its last open link closes", {"expires_at": max(live)})


async def follow_links(store: Store, link: MessageRecord, *, actor: str) -> None:
    """After ``link`` closed before its time (revoked, its downloads used up) or was shortened,
    the files of its message are not kept longer than a link can still open them: removed at
    once when none is open any more (a mis-sent mail's attachment should not wait a week at
    rest for nobody), else kept until the last open link closes. The link's own change stands
    whatever happens here: a file another change got to first, or a store that fails, leaves
    the files to the scheduler (at the time they were kept until)."""
    facts = LinkFacts.of(link)
    try:
        open_until = await _open_until(store, facts.mail)
        for file in facts.files:
            with contextlib.suppress(InvalidTransition, NotFound):
                await store.amend(file.id, functools.partial(_kept_for, open_until), actor=actor)
    except StoreError:
        log.exception("%s: its files are removed by the scheduler instead", link.id)


__all__ = ["GRANT_TIME", "Download", "LinkNotices", "Links", "follow_links", "human_size"]
