"""Who may see and do what with queued mail, over the gateway store.

Every action is a row of the one table in :mod:`gateway.actions` (the queue CLI acts through it
too): one compare-and-set store change, audited with the acting user (``sender:<addr>``,
``approver:<addr>``, ``admin:<addr>``) and ``extra.user``. This module says which of the table's
roles a user holds on a message.

Access is decided here, once, for pages, API and links alike: a sender reaches only messages whose
envelope sender is their address; an approver only messages that name them (or someone who
delegated to them, until the delegation ends) as approver; a security admin every message. A
message someone may not see is reported exactly like one that does not exist (404), so ids cannot
be probed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from gateway import actions
from gateway.actions import Role
from gateway.store import ItemKind, MessageRecord, State, Store, StoreError, UploadFacts
from policies import PolicyHolder
from quarantine_ui.accounts import User
from quarantine_ui.db import Database
from quarantine_ui.errors import UIError
from quarantine_ui.mailview import MessageView, build_view

#: Notifications and bounces the relay sends itself; never shown as anyone's mail.
OWN_KINDS = frozenset({"notification", "dsn"})
SENDER_STATES = (
    State.HELD,
    State.PENDING_APPROVAL,
    State.QUARANTINED,
    State.REFUSED,
    State.REJECTED,
    State.CANCELLED,
    State.DELIVERING,
    State.DEFERRED,
    State.DELIVERED,
    State.BOUNCED,
    State.DELETED,
    # Uploads: approved (the user may upload again) and approvals that ran out or were used.
    State.APPROVED,
    State.EXPIRED,
)
#: Items shown as someone's mail or upload (a download link and a kept file are shown as links).
QUEUE_KINDS = frozenset({ItemKind.MAIL, ItemKind.UPLOAD})
#: The queues a security admin works on.
ADMIN_QUEUES = (State.QUARANTINED, State.PENDING_APPROVAL, State.HELD, State.DEFERRED)
LIST_LIMIT = 500
#: What the queue page's bulk form may do.
BULK_ACTIONS = ("release", "delete")
#: Roles that do not depend on the message: an action needing only these is refused to
#: everyone else before the message is looked up.
_UNRELATED = frozenset({Role.ADMIN, Role.OPERATOR})


#: How many items a search reads at most (newest first).
SEARCH_SCAN = 20_000


@dataclass(frozen=True)
class Search:
    """What the security team looks for: words in the sender/user, subject or file name,
    destination or id (all must appear, case-insensitive), and optionally a kind, a state and
    an upload service."""

    text: str = ""
    kind: ItemKind | None = None
    state: State | None = None
    service: str = ""
    limit: int = 200

    def matches(self, rec: MessageRecord) -> bool:
        facts = rec.upload
        if self.service and (facts is None or facts.service != self.service):
            return False
        words = self.text.lower().split()
        if not words:
            return True
        hay = " ".join(
            [rec.id, rec.sender, rec.subject, *rec.recipients]
            + (
                [facts.filename, facts.service, facts.host, facts.tenant or "", facts.destination]
                if facts
                else []
            )
        ).lower()
        return all(w in hay for w in words)


@dataclass(frozen=True)
class HeldMessage:
    """What a signed link's page shows about its message."""

    message_id: str
    sender: str
    subject: str
    recipients: tuple[str, ...]
    #: When the hold ends and the message leaves (epoch seconds); None if no timer runs.
    release_at: float | None
    #: An upload's facts (file name, service, tenant); ``None`` for a message.
    upload: UploadFacts | None = None


class ActionResult(StrEnum):
    DONE = "done"
    #: The message exists but the action no longer applies (already sent, cancelled, decided …).
    NOT_HELD = "not_held"
    UNKNOWN = "unknown"


#: What the UI asks the relay's notifier to send (``gateway.notify.Notifier`` fits).
Notifications = actions.Notices


@dataclass(frozen=True)
class Delegation:
    id: int
    from_address: str
    to_address: str
    until: float


def _lower(address: str) -> str:
    return address.strip().lower()


class Mailroom:
    def __init__(
        self,
        store: Store,
        db: Database,
        *,
        clock: Callable[[], float],
        policy: PolicyHolder | None = None,
        notifier: Notifications | None = None,
    ) -> None:
        self.store = store
        self.db = db
        self.clock = clock
        self.policy = policy
        self.notifier = notifier

    # -- helpers -----------------------------------------------------------------------------

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def is_internal(self, address: str) -> bool:
        if self.policy is None:
            return False
        self.policy.reload_if_changed()
        return bool(self.policy.current.is_internal(address))

    @staticmethod
    def visible(rec: MessageRecord) -> bool:
        return rec.meta.get("kind") not in OWN_KINDS

    # -- delegation --------------------------------------------------------------------------

    def delegate(self, from_address: str, to_address: str, until: float) -> Delegation:
        if until <= self.clock():
            raise UIError(400, "bad_delegation")
        a, b = _lower(from_address), _lower(to_address)
        if a == b or "@" not in b:
            raise UIError(400, "bad_delegation")
        with self.db.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO delegations (from_address, to_address, until, created) VALUES (?, ?, ?, ?)",
                (a, b, until, self.clock()),
            )
            row_id = int(cur.lastrowid or 0)
        return Delegation(row_id, a, b, until)

    def end_delegation(self, from_address: str, delegation_id: int) -> bool:
        with self.db.transaction() as conn:
            cur = conn.execute(
                "DELETE FROM delegations WHERE id = ? AND from_address = ?",
                (delegation_id, _lower(from_address)),
            )
            return cur.rowcount > 0

    def delegations(self, address: str) -> tuple[list[Delegation], list[Delegation]]:
        """(given by ``address``, given to ``address``), both only while in force."""
        a = _lower(address)
        now = self.clock()
        with self.db.lock:
            rows = self.db.conn.execute(
                "SELECT * FROM delegations WHERE (from_address = ? OR to_address = ?) AND until > ?"
                " ORDER BY until",
                (a, a, now),
            ).fetchall()
        items = [Delegation(r["id"], r["from_address"], r["to_address"], r["until"]) for r in rows]
        return [d for d in items if d.from_address == a], [d for d in items if d.to_address == a]

    def approver_scope(self, address: str) -> frozenset[str]:
        """``address`` and everyone whose approvals it currently handles by delegation."""
        _, received = self.delegations(address)
        return frozenset({_lower(address), *(d.from_address for d in received)})

    # -- reading -----------------------------------------------------------------------------

    def may_see(self, user: User, rec: MessageRecord) -> bool:
        if not self.visible(rec):
            return "security_admin" in user.roles
        if "security_admin" in user.roles:
            return True
        if "sender" in user.roles and _lower(rec.sender) == user.address:
            return True
        if "approver" in user.roles:
            scope = self.approver_scope(user.address)
            return any(_lower(a) in scope for a in rec.approvers)
        return False

    async def record_for(self, user: User, msg_id: str) -> MessageRecord:
        rec = await self.store.get(msg_id) if 0 < len(msg_id) <= 200 else None
        if rec is None or not self.may_see(user, rec):
            raise UIError(404, "not_found")
        return rec

    async def notes(self, msg_id: str) -> tuple[tuple[datetime, str, str], ...]:
        out: list[tuple[datetime, str, str]] = []
        for ev in await self.store.audit_events(msg_id=msg_id, limit=1000):
            text = ev.extra.get("comment") or ev.extra.get("justification")
            if isinstance(text, str) and text:
                out.append((ev.at, str(ev.extra.get("user") or ev.actor), text))
        return tuple(out)

    async def view(self, rec: MessageRecord, lang: str) -> MessageView:
        return build_view(rec, lang=lang, is_internal=self.is_internal, notes=await self.notes(rec.id))

    async def sender_messages(self, user: User) -> list[MessageRecord]:
        recs = await self.store.list_messages(
            states=SENDER_STATES, sender=user.address, limit=LIST_LIMIT, kinds=QUEUE_KINDS
        )
        return [r for r in recs if self.visible(r)]

    async def approvals(self, user: User, *, decided: bool = False) -> list[MessageRecord]:
        scope = self.approver_scope(user.address)
        states = (
            (State.PENDING_APPROVAL,) if not decided else (State.REJECTED, State.DELIVERED, State.DELIVERING)
        )
        recs = await self.store.list_messages(states=states, limit=LIST_LIMIT, kinds=QUEUE_KINDS)
        return [r for r in recs if self.visible(r) and any(_lower(a) in scope for a in r.approvers)]

    async def queue(self, states: Iterable[State], limit: int = LIST_LIMIT) -> list[MessageRecord]:
        recs = await self.store.list_messages(states=list(states), limit=limit, kinds=QUEUE_KINDS)
        return [r for r in recs if self.visible(r)]

    async def search(self, user: User, query: Search) -> list[MessageRecord]:
        """Messages and uploads matching ``query``, newest first (security admins only)."""
        if "security_admin" not in user.roles:
            raise UIError(403, "forbidden")
        states = None if query.state is None else [query.state]
        kinds = QUEUE_KINDS if query.kind is None else {query.kind}
        found: list[MessageRecord] = []
        before: str | None = None
        scanned = 0
        while len(found) < query.limit and scanned < SEARCH_SCAN:
            page = await self.store.list_messages(states=states, kinds=kinds, before=before, limit=500)
            scanned += len(page)
            found += [r for r in page if self.visible(r) and query.matches(r)]
            if len(page) < 500:
                break
            before = page[-1].id
        return found[: query.limit]

    async def raw_upload(self, user: User, msg_id: str, via: str) -> tuple[bytes, UploadFacts]:
        """The spooled file of an upload, for a security admin only; each download is audited
        (``raw_download``). Anyone else gets 404, as for an item that does not exist."""
        if "security_admin" not in user.roles:
            raise UIError(404, "not_found")
        rec = await self.record_for(user, msg_id)
        facts = rec.upload
        if facts is None or not rec.has_raw:
            raise UIError(404, "not_found")
        try:
            data = await self.store.load_raw(rec.id)
        except StoreError:
            raise UIError(404, "not_found") from None
        await self.store.note(
            rec.id,
            action="raw_download",
            actor=f"admin:{user.address}",
            reason="security admin downloaded the uploaded file",
            extra={"user": user.address, "via": via, "sha256": rec.sha256, "size": rec.size},
        )
        return data, facts

    # -- download links ----------------------------------------------------------------------

    async def sender_links(self, user: User) -> list[MessageRecord]:
        """The download links of the user's own mail, newest first."""
        return await self.store.list_messages(sender=user.address, limit=LIST_LIMIT, kinds={ItemKind.LINK})

    async def open_links(self) -> list[MessageRecord]:
        """Every open download link (the security team's page)."""
        return await self.store.list_messages(states={State.OPEN}, limit=LIST_LIMIT, kinds={ItemKind.LINK})

    async def links_of(self, user: User, rec: MessageRecord) -> list[MessageRecord]:
        """The download links made for a message, those ``user`` may see."""
        made = rec.meta.get("links")
        found = []
        for link_id in (made or {}).get("to", {}).values() if isinstance(made, dict) else ():
            link = await self.store.get(str(link_id))
            if link is not None and self.may_see(user, link):
                found.append(link)
        return found

    # -- acting ------------------------------------------------------------------------------

    def roles_on(self, user: User, rec: MessageRecord) -> frozenset[Role]:
        """The roles of :mod:`gateway.actions` that ``user`` holds on ``rec``."""
        held: set[Role] = set()
        if _lower(rec.sender) == user.address:
            held.add(Role.SENDER)
        if "approver" in user.roles and any(
            _lower(a) in self.approver_scope(user.address) for a in rec.approvers
        ):
            held.add(Role.APPROVER)
        if "security_admin" in user.roles:
            held.add(Role.ADMIN)
        return frozenset(held)

    def offered(self, user: User, rec: MessageRecord) -> tuple[str, ...]:
        """The actions ``user`` may take on ``rec`` now (the buttons a page shows)."""
        return actions.offered(rec.kind, rec.state, self.roles_on(user, rec))

    async def act(
        self,
        user: User,
        msg_id: str,
        action: str,
        text: str = "",
        via: str = "web",
        *,
        until: datetime | None = None,
    ) -> MessageRecord:
        """Take ``action`` of the table on a message (or a download link: ``until`` is the new
        expiry of ``extend``/``shorten``), as ``user``. An action only the security team may take
        is refused before the message is looked up, so ids cannot be probed."""
        if action not in actions.ACTIONS:
            raise UIError(404, "not_found")
        anyone = frozenset(r for kind in ItemKind for r in actions.roles_of(action, kind))
        if anyone <= _UNRELATED and "security_admin" not in user.roles:
            raise UIError(403, "forbidden")
        rec = await self.record_for(user, msg_id)
        try:
            role = actions.acting_role(action, rec.kind, self.roles_on(user, rec))
            return await actions.perform(
                self.store,
                rec,
                action,
                actions.Actor(role, user.address),
                now=self.now(),
                via=via,
                text=text,
                notices=self.notifier,
                until=until,
            )
        except actions.Refused as exc:
            raise UIError(exc.status, exc.code) from None

    async def bulk(
        self, user: User, action: str, ids: list[str], comment: str = "", via: str = "web"
    ) -> dict[str, str]:
        """Release or delete many messages; the outcome per id (``done`` or an error code)."""
        if "security_admin" not in user.roles:
            raise UIError(403, "forbidden")
        if action not in BULK_ACTIONS:
            raise UIError(400, "bad_request")
        out: dict[str, str] = {}
        for msg_id in dict.fromkeys(ids):
            try:
                await self.act(user, msg_id, action, comment, via)
                out[msg_id] = "done"
            except UIError as exc:
                out[msg_id] = exc.code
        return out

    # -- signed links ------------------------------------------------------------------------

    def _link_role(self, rec: MessageRecord, action: str, holder: str) -> Role | None:
        """The role the holder of a link (``sender:<addr>`` or ``approver:<addr>``) takes
        ``action`` in, if the table lets them take it on ``rec`` now."""
        kind, _, address = holder.partition(":")
        held: set[Role] = set()
        if kind == "sender" and _lower(address) == _lower(rec.sender):
            held.add(Role.SENDER)
        if kind == "approver" and any(_lower(a) in self.approver_scope(address) for a in rec.approvers):
            held.add(Role.APPROVER)
        row = actions.row_for(action, rec.kind, rec.state)
        if row is None:
            return None
        return next((r for r in row.roles if r in held), None)

    async def link_row(self, message_id: str, action: str) -> actions.Row | None:
        """The row of the table a link's action takes on the message now (``None``: no such
        message, or the action no longer applies), which says what the link needs."""
        rec = await self.store.get(message_id)
        if rec is None or not self.visible(rec):
            return None
        return actions.row_for(action, rec.kind, rec.state)

    async def link_target(self, message_id: str, action: str, actor: str) -> HeldMessage | None:
        rec = await self.store.get(message_id)
        if rec is None or self._link_role(rec, action, actor) is None:
            return None
        release = rec.release_at.timestamp() if rec.release_at and rec.state is State.HELD else None
        return HeldMessage(rec.id, rec.sender, rec.subject, rec.recipients, release, rec.upload)

    async def link_act(self, message_id: str, action: str, actor: str, comment: str) -> ActionResult:
        rec = await self.store.get(message_id)
        if rec is None:
            return ActionResult.UNKNOWN
        role = self._link_role(rec, action, actor)
        if role is None:
            return ActionResult.NOT_HELD
        try:
            await actions.perform(
                self.store,
                rec,
                action,
                actions.Actor(role, actor.partition(":")[2]),
                now=self.now(),
                via="link",
                text=comment,
                notices=self.notifier,
            )
        except actions.Refused:
            return ActionResult.NOT_HELD
        return ActionResult.DONE
