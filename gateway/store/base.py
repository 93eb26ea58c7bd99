"""The store seam: one Protocol for the queue, the spool and the audit trail.

Every backend (the embedded SQLite + spool files default in :mod:`gateway.store.sqlite`, the Redis
backend for several gateway instances in :mod:`gateway.store.redis`) implements :class:`Store` and
passes the same contract tests (``tests/gateway/test_store_contract.py``).

Items are of two kinds (:class:`ItemKind`), each with its life cycle (``/work/shared/design.md``).
A message (``mail``)::

    received ─decide─> delivering ──> delivered
        │                  └─> deferred (retry, backoff) ──> delivering | bounced
        ├──> held (release_at) ──> delivering | cancelled
        ├──> pending_approval ──> delivering | rejected | quarantined (timeout escalation)
        ├──> quarantined ──> delivering | deleted
        └──> refused (550 in the SMTP session; the raw message is removed)

An upload (``upload``) is kept, approved, quarantined and audited like a message but never
delivered: the proxy passes the request on or refuses it, and the spooled content stays for the
reviewers. An approval lets the same content from the same user to the same destination pass
until it expires::

    received ─decide─> passed                      (the proxy let the request through)
        ├──> refused                               (403; the content is removed)
        ├──> held (release_at) ──> approved | expired      (coaching: the user may go on)
        ├──> pending_approval ──> approved | rejected | quarantined (timeout escalation)
        ├──> quarantined ──> approved | deleted
        └──  approved (expires_at) ──> expired     (validity over or uses spent)

An ``approved`` upload is a *pass*: its ``meta["pass"]`` holds the uses granted, ``attempts``
counts the uses made. :meth:`Store.passes` finds the live passes for a new upload (the same
content by SHA-256, user, service and tenant) and :meth:`Store.use_pass` spends one use in one
compare-and-set write (see :func:`plan_use_pass`), so of several instances only as many uploads
pass as were granted.

An attachment taken out of a message for download links (``file``) is stored encrypted (its key
in the record's ``file_key``) until no link needs it; a download link (``link``) is one outside
recipient's access to the files of one message. Both are created by the delivery of the message
(never while it is held) in their first state, and change through :meth:`Store.amend`::

    stored (expires_at) ──> deleted                (the scheduler: no open link needs it)
    open (expires_at) ──> expired | revoked | exhausted   (time, the sender or security, limit)

``delivering`` means *to be delivered now*. A message in ``delivering`` (or ``received``) is
owned by a worker through a lease (``owner``, ``lease_until``). The process that moves a message
to ``delivering`` and delivers it itself passes ``owner=`` to :meth:`Store.transition`; anyone
else (the operator CLI's ``queue release``, the UI's "send now") leaves ``owner`` unset, and the
message shows up in :meth:`Store.due` until a delivery worker takes it with
:meth:`Store.claim` (``from_states=DELIVERING, to=None``). Timers work the same way: the scheduler
reads :meth:`Store.due` and claims ``held``/``deferred`` messages into ``delivering``; the claim
is a compare-and-set, so exactly one worker wins even with several instances.

Errors (a small tree, rooted in builtins)::

    StoreError(Exception)            .transient: True when retrying later may succeed (SMTP 451)
     ├── NotFound(StoreError, KeyError)       no message with that id
     ├── InvalidTransition(StoreError)        not allowed by ALLOWED, or the state moved on
     └── SpoolCorrupt(StoreError)             the raw message is missing or its hash differs
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import dataclasses
import hashlib
import json
import os
import secrets
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from json.encoder import encode_basestring as _json_text
from typing import Any

from gateway.audit import from_micros, stored_event, to_micros
from policies.model import domain_of


class ItemKind(StrEnum):
    """What an item in the store is: a message through the relay, or an upload through the proxy."""

    MAIL = "mail"
    UPLOAD = "upload"
    #: An attachment kept for download links (encrypted; no recipients).
    FILE = "file"
    #: One outside recipient's download link to the files of one message (no body).
    LINK = "link"


class State(StrEnum):
    RECEIVED = "received"
    DELIVERING = "delivering"
    DEFERRED = "deferred"
    DELIVERED = "delivered"
    BOUNCED = "bounced"
    HELD = "held"
    CANCELLED = "cancelled"
    PENDING_APPROVAL = "pending_approval"
    REJECTED = "rejected"
    QUARANTINED = "quarantined"
    DELETED = "deleted"
    REFUSED = "refused"
    PASSED = "passed"
    APPROVED = "approved"
    EXPIRED = "expired"
    STORED = "stored"
    OPEN = "open"
    REVOKED = "revoked"
    EXHAUSTED = "exhausted"


_S = State

#: Every allowed transition of a message; anything else raises :class:`InvalidTransition`.
ALLOWED: Mapping[State, frozenset[State]] = {
    _S.RECEIVED: frozenset(
        {_S.DELIVERING, _S.HELD, _S.PENDING_APPROVAL, _S.QUARANTINED, _S.REFUSED},
    ),
    _S.DELIVERING: frozenset({_S.DELIVERED, _S.DEFERRED, _S.BOUNCED}),
    _S.DEFERRED: frozenset({_S.DELIVERING, _S.BOUNCED}),
    _S.HELD: frozenset({_S.DELIVERING, _S.CANCELLED}),
    _S.PENDING_APPROVAL: frozenset({_S.DELIVERING, _S.REJECTED, _S.QUARANTINED}),
    _S.QUARANTINED: frozenset({_S.DELIVERING, _S.DELETED}),
    _S.DELIVERED: frozenset(),
    _S.BOUNCED: frozenset(),
    _S.CANCELLED: frozenset(),
    _S.REJECTED: frozenset(),
    _S.DELETED: frozenset(),
    _S.REFUSED: frozenset(),
}

#: Every allowed transition of an upload. No state leads to ``delivering``: an upload is never
#: delivered by the gateway.
UPLOAD_ALLOWED: Mapping[State, frozenset[State]] = {
    _S.RECEIVED: frozenset({_S.PASSED, _S.REFUSED, _S.HELD, _S.PENDING_APPROVAL, _S.QUARANTINED}),
    _S.HELD: frozenset({_S.APPROVED, _S.EXPIRED}),
    _S.PENDING_APPROVAL: frozenset({_S.APPROVED, _S.REJECTED, _S.QUARANTINED}),
    _S.QUARANTINED: frozenset({_S.APPROVED, _S.DELETED}),
    _S.APPROVED: frozenset({_S.EXPIRED}),
    _S.PASSED: frozenset(),
    _S.REFUSED: frozenset(),
    _S.REJECTED: frozenset(),
    _S.DELETED: frozenset(),
    _S.EXPIRED: frozenset(),
}

#: An attachment kept for download links: deleted when no link needs it any more.
FILE_ALLOWED: Mapping[State, frozenset[State]] = {
    _S.STORED: frozenset({_S.DELETED}),
    _S.DELETED: frozenset(),
}

#: A download link: open until it expires, is revoked or its downloads are used up.
LINK_ALLOWED: Mapping[State, frozenset[State]] = {
    _S.OPEN: frozenset({_S.EXPIRED, _S.REVOKED, _S.EXHAUSTED}),
    _S.EXPIRED: frozenset(),
    _S.REVOKED: frozenset(),
    _S.EXHAUSTED: frozenset(),
}

#: The life cycle of each kind of item.
LIFECYCLE: Mapping[ItemKind, Mapping[State, frozenset[State]]] = {
    ItemKind.MAIL: ALLOWED,
    ItemKind.UPLOAD: UPLOAD_ALLOWED,
    ItemKind.FILE: FILE_ALLOWED,
    ItemKind.LINK: LINK_ALLOWED,
}

#: The state each kind of item starts in.
ENTRY: Mapping[ItemKind, State] = {
    ItemKind.MAIL: State.RECEIVED,
    ItemKind.UPLOAD: State.RECEIVED,
    ItemKind.FILE: State.STORED,
    ItemKind.LINK: State.OPEN,
}
assert all(ENTRY[k] in LIFECYCLE[k] for k in ItemKind)

#: States with no way out (for every kind that has them).
TERMINAL: frozenset[State] = frozenset(
    s for cycle in LIFECYCLE.values() for s, nxt in cycle.items() if not nxt
)
assert not any(s in TERMINAL for cycle in LIFECYCLE.values() for s, nxt in cycle.items() if nxt), (
    "a state must be terminal for every kind or for none"
)

#: Entering these removes the raw message from the spool (no body kept).
DISCARDS_RAW: frozenset[State] = frozenset({State.REFUSED, State.DELETED})

#: States that need a live worker; :meth:`Store.recover` takes them over after a crash.
ACTIVE: frozenset[State] = frozenset({State.RECEIVED, State.DELIVERING})

#: The time field that makes an item in a state due (:meth:`Store.due`), for every kind.
TIMER_FIELD: Mapping[State, str] = {
    State.HELD: "release_at",
    State.DEFERRED: "next_attempt_at",
    State.PENDING_APPROVAL: "expires_at",
    State.APPROVED: "expires_at",
    State.STORED: "expires_at",
    State.OPEN: "expires_at",
}

#: States an operator may release into ``delivering``.
RELEASABLE: frozenset[State] = frozenset({State.HELD, State.QUARANTINED, State.PENDING_APPROVAL})

#: Fields that :meth:`Store.transition` may change along with the state.
UPDATABLE: frozenset[str] = frozenset(
    {
        "release_at",
        "next_attempt_at",
        "expires_at",
        "attempts",
        "decision",
        "scan",
        "subject",
        "last_error",
        "approvers",
        "meta",
    }
)

#: A body to spool: the bytes, or the path of a file holding them.
Body = bytes | os.PathLike[str]

#: Default lease of a worker on a message it owns, in seconds; renew by claiming again.
DEFAULT_LEASE = 600.0


class StoreError(Exception):
    """A store operation failed. ``transient`` tells the SMTP layer to answer 451 (retry)."""

    transient = True


class NotFound(StoreError, KeyError):
    transient = False

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "not found"


class InvalidTransition(StoreError):
    transient = False


class SpoolCorrupt(StoreError):
    transient = False


def check_transition(current: State, to: State, kind: ItemKind = ItemKind.MAIL) -> None:
    """Raise :class:`InvalidTransition` unless ``current -> to`` is in the kind's life cycle.

    >>> check_transition(State.RECEIVED, State.PASSED, ItemKind.UPLOAD)
    >>> check_transition(State.RECEIVED, State.PASSED)
    Traceback (most recent call last):
    ...
    gateway.store.base.InvalidTransition: received -> passed is not an allowed transition (mail)
    """
    if to not in LIFECYCLE[kind].get(current, frozenset()):
        raise InvalidTransition(f"{current.value} -> {to.value} is not an allowed transition ({kind.value})")


@dataclass(frozen=True)
class UploadFacts:
    """What the proxy knows about an upload, kept in the item's ``meta["upload"]``.

    ``service`` names the service module (``google_drive``, ``box``, ``microsoft_graph``,
    ``dropbox``, ``slack``, ``generic``); ``destination`` is what the request shows of where the
    file goes (folder, channel), for reviewers; never a URL with tokens in it.

    >>> f = UploadFacts(service="box", host="upload.box.com", filename="顧客.csv", tenant="12345")
    >>> UploadFacts.from_meta({"upload": f.to_meta()}) == f
    True
    """

    service: str
    host: str
    filename: str
    content_type: str = ""
    tenant: str | None = None
    sharing_scope: str | None = None
    destination: str = ""
    #: A sharing change: ``file`` or ``folder`` (when the request says), and whether its link
    #: ends on a date.
    sharing_target: str | None = None
    link_expires: bool | None = None

    def to_meta(self) -> dict[str, Any]:
        # Every field is a string, a bool or None: no deep copy (``dataclasses.asdict``) needed.
        return {k: v for k in _UPLOAD_FACT_NAMES if (v := getattr(self, k)) is not None}

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any]) -> UploadFacts | None:
        found = meta.get("upload")
        if not isinstance(found, Mapping):
            return None
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in found.items() if k in names})


_UPLOAD_FACT_NAMES = tuple(f.name for f in dataclasses.fields(UploadFacts))


@dataclass(frozen=True)
class MessageRecord:
    """One item in the store: a queued message, or an upload (``kind``). Times are
    timezone-aware UTC ``datetime``\\ s.

    ``attempts`` counts delivery attempts of a message, and the uses made of an approved
    upload's pass. ``decision`` is the policy's ``Decision.to_dict()``, ``scan`` a JSON summary of the scan
    (redacted: never raw PII values), ``meta`` the session facts (client address, HELO, auth user,
    notification ids, ...; an upload's :class:`UploadFacts` under ``"upload"``). ``sha256`` is
    the hash of the spooled content. An upload has the user as ``sender``, no ``recipients``
    and the file name as ``subject``.
    """

    id: str
    state: State
    sender: str
    recipients: tuple[str, ...]
    size: int
    sha256: str
    received_at: datetime
    updated_at: datetime
    subject: str = ""
    release_at: datetime | None = None
    next_attempt_at: datetime | None = None
    expires_at: datetime | None = None
    attempts: int = 0
    decision: Mapping[str, Any] = field(default_factory=dict)
    scan: Mapping[str, Any] = field(default_factory=dict)
    last_error: str = ""
    approvers: tuple[str, ...] = ()
    meta: Mapping[str, Any] = field(default_factory=dict)
    owner: str | None = None
    lease_until: datetime | None = None
    has_raw: bool = True
    kind: ItemKind = ItemKind.MAIL
    #: The key a ``file`` item's body is encrypted with (base64url); never shown or logged.
    file_key: str = field(default="", repr=False)

    @property
    def upload(self) -> UploadFacts | None:
        """The upload's facts (``None`` for a message)."""
        return UploadFacts.from_meta(self.meta) if self.kind is ItemKind.UPLOAD else None


@dataclass(frozen=True)
class StoreStats:
    """Counts read by :meth:`Store.stats`: items per state (states with none are left out) and
    the sequence number of the newest audit event."""

    states: Mapping[State, int]
    audit_length: int


@dataclass(frozen=True)
class AuditEvent:
    """One link of the audit chain. ``hash`` = SHA-256 of :func:`gateway.audit.canonical` of the
    event without ``hash``; ``prev_hash`` is the previous event's ``hash``."""

    seq: int
    at: datetime
    actor: str
    action: str
    msg_id: str
    from_state: str
    to_state: str
    reason: str
    extra: Mapping[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class Staged:
    """A body written ahead of the record that will refer to it: the backend's handle (a spool
    path, a Redis key), its SHA-256 and size, and whether this write created it."""

    ref: Any
    sha256: str
    size: int
    created: bool = True


class Store(abc.ABC):
    """Queue + spool + audit. All methods are coroutines and never block the event loop.

    ``actor`` strings name who acted: ``smtp``, ``policy``, ``delivery``, ``scheduler``,
    ``sender:<addr>``, ``approver:<addr>``, ``operator:<os user>``, ``admin:<user>``.

    The writes are decided here, once, by the pure ``plan_*`` functions below; a backend only
    reads and persists (as httpx keeps all I/O behind ``BaseTransport``). It implements the
    queries and four primitives: :meth:`_stage` a body ahead of its record, :meth:`_unstage` it
    after a failed write, :meth:`_insert` a new record, and :meth:`_change`: read a record,
    let a decision plan the write and persist the plan with its audit event atomically.
    """

    _clock: Callable[[], datetime]

    def _now(self) -> datetime:
        return checked_now(self._clock)

    async def accept(
        self,
        raw: Body,
        *,
        sender: str,
        recipients: Sequence[str],
        subject: str = "",
        meta: Mapping[str, Any] | None = None,
        owner: str | None = None,
        lease: float = DEFAULT_LEASE,
        actor: str = "smtp",
        kind: ItemKind = ItemKind.MAIL,
        msg_id: str | None = None,
    ) -> MessageRecord:
        """Spool ``raw`` (bytes, or the path of a file to copy, read in a thread) and create the
        record of ``kind`` in state ``received``, audited (action ``accept``, by ``actor``).
        Durable before returning: spool file written, flushed, fsynced, renamed, directory
        fsynced, row committed. Only then may the SMTP layer answer 250. A file given by path
        stays where it is (the caller removes it).

        ``msg_id`` is the id to give the record (from :func:`new_id`) when the caller had to
        name it before it was written; by default a new one."""
        now = self._now()
        msg_id = msg_id or new_id(now)
        staged = await self._stage(msg_id, raw)
        plan = plan_accept(
            msg_id,
            kind=kind,
            sender=sender,
            recipients=recipients,
            subject=subject,
            meta=meta,
            owner=owner,
            lease=lease,
            actor=actor,
            size=staged.size,
            sha256=staged.sha256,
            now=now,
        )
        return await self._add(plan, staged)

    async def accept_decided(self, decided: Decided, *, msg_id: str | None = None) -> MessageRecord:
        """:meth:`accept` an item without a body and :meth:`transition` it from ``received`` to
        ``decided.to`` (see :class:`Decided`): the record and the trail are the ones the two
        calls would have left, and a move the life cycle refuses writes nothing. For an item
        decided before anything of it was recorded (an upload whose body the proxy held in
        memory). The SQLite store commits it as one write (one transaction, one trip to its
        thread, durable before this returns); the Redis store as the two writes, in turn.
        ``msg_id`` as for :meth:`accept`.

        ``decided.meta_later`` is for meta values that are costly to compute and that nothing
        decided waits for (an upload's SHA-256: about 0.6 ms a MiB): it is called once, off the
        event loop, and what it returns is set over ``changes["meta"]`` before the move is
        planned. The SQLite store calls it on its own thread, inside the write (no more turns
        of the event loop than the write takes anyway); the Redis store in a worker thread,
        first. If it raises, nothing is written and this raises it."""
        return await self.accept_decided_soon(decided, msg_id=msg_id)

    def accept_decided_soon(
        self, decided: Decided, *, msg_id: str | None = None
    ) -> asyncio.Future[MessageRecord]:
        """:meth:`accept_decided` (its arguments in ``decided``), begun before this returns where
        the backend can, for a caller that goes on meanwhile: the SQLite store has queued the
        write to its thread, where it is also planned, so it waits for no turn of a busy event
        loop (a task's first step waits behind every other connection's work). This default
        starts a task. The future gives the record, or the error."""
        return asyncio.ensure_future(self._accept_decided(decided, msg_id))

    async def _accept_decided(self, decided: Decided, msg_id: str | None) -> MessageRecord:
        now = self._now()
        msg_id = msg_id or new_id(now)
        staged = await self._stage(msg_id, b"")
        plan, then = plan_decided(decided, msg_id, size=staged.size, sha256=staged.sha256, now=now)
        try:
            moved = await self._insert_then(plan, staged, then, decided.meta_later)
        except BaseException as exc:
            await self._unstage(msg_id, staged, exc)
            raise
        return moved.record

    async def create(
        self,
        kind: ItemKind,
        body: Body | None,
        *,
        sender: str,
        recipients: Sequence[str],
        subject: str,
        meta: Mapping[str, Any],
        expires_at: datetime,
        actor: str,
        reason: str,
        file_key: str = "",
    ) -> MessageRecord:
        """Create an item that starts in its own first state (:data:`ENTRY`: a ``file`` is
        ``stored``, a ``link`` ``open``) with its timer ``expires_at``, audited (action
        ``create``). ``body`` is stored durably as :meth:`accept` stores a message; ``None``
        makes an item without a body."""
        now = self._now()
        msg_id = new_id(now)
        staged = await self._stage(msg_id, body) if body is not None else NO_BODY
        plan = plan_create(
            msg_id,
            kind=kind,
            sender=sender,
            recipients=recipients,
            subject=subject,
            meta=meta,
            expires_at=expires_at,
            actor=actor,
            reason=reason,
            staged=staged,
            file_key=file_key,
            now=now,
        )
        return await self._add(plan, staged)

    async def _add(self, plan: Plan, staged: Staged) -> MessageRecord:
        try:
            await self._insert(plan, staged)
        except BaseException as exc:
            if staged is not NO_BODY:
                await self._unstage(plan.record.id, staged, exc)
            raise
        return plan.record

    async def amend(self, msg_id: str, rule: Rule, *, actor: str) -> tuple[MessageRecord, Amendment | None]:
        """Let ``rule`` (a pure function of the current record and the time) decide a change of
        the item and persist it with its audit event, as one compare-and-set write (see
        :func:`plan_amend`): the rule sees the record as it is inside the write, so counters
        and limits hold with several instances. Returns the record after and what the rule
        decided (``None``: nothing written). Raises :class:`NotFound`, :class:`InvalidTransition`
        and whatever the rule raises."""
        decided: list[Amendment | None] = [None]

        def decide(rec: MessageRecord, now: datetime) -> Plan | None:
            decided[0] = change = rule(rec, now)
            return None if change is None else plan_amend(rec, change, actor=actor, now=now)

        plan = await self._change(msg_id, decide)
        if plan is None:
            rec = await self.get(msg_id)
            if rec is None:
                raise NotFound(msg_id)
            return rec, None
        return plan.record, decided[0]

    async def transition(
        self,
        msg_id: str,
        to: State,
        *,
        actor: str,
        reason: str,
        expect: State | Collection[State] | None = None,
        owner: str | None = None,
        lease: float = DEFAULT_LEASE,
        extra: Mapping[str, Any] | None = None,
        **changes: Any,
    ) -> MessageRecord:
        """Move a message to ``to`` and apply ``changes`` (keys from :data:`UPDATABLE`) in one
        transaction with its audit event (action ``transition``; ``extra`` goes into the event).

        Compare-and-set: the current state is read inside the transaction; if ``expect`` is
        given the current state must be (one of) it, and the move must be in the item's life
        cycle (:data:`LIFECYCLE`). Raises :class:`NotFound`, :class:`InvalidTransition`. The
        lease is set to ``owner`` (``None`` leaves the message unowned). Entering a state of
        :data:`DISCARDS_RAW` removes the spool file; entering ``delivered`` records the
        recipients' domains for :meth:`has_written_to` (see :func:`plan_transition`). A
        ``scan`` or ``decision`` may come as an :class:`EncodedJson` (its stored form made
        beforehand); the record after carries its value."""
        check_changes(changes)

        def decide(rec: MessageRecord, now: datetime) -> Plan:
            return plan_transition(
                rec,
                to,
                actor=actor,
                reason=reason,
                expect=expect,
                owner=owner,
                lease=lease,
                extra=extra,
                changes=changes,
                now=now,
            )

        plan = await self._change(msg_id, decide)
        assert plan is not None
        return plan.record

    async def claim(
        self,
        msg_id: str,
        *,
        owner: str,
        from_states: State | Collection[State],
        to: State | None = None,
        actor: str,
        reason: str,
        lease: float = DEFAULT_LEASE,
        now: datetime | None = None,
    ) -> MessageRecord | None:
        """Atomically take a message: succeeds only if its state is in ``from_states`` and no
        *other* owner holds a live lease. Sets ``owner`` and a lease; moves to ``to`` (audited)
        when given and different. Returns ``None`` when someone else won or the state moved on;
        exactly one of many concurrent claimers gets the record. Claiming again with the same
        owner renews the lease (see :func:`plan_claim`)."""

        def decide(rec: MessageRecord, clock_now: datetime) -> Plan | None:
            return plan_claim(
                rec,
                owner=owner,
                from_states=from_states,
                to=to,
                actor=actor,
                reason=reason,
                lease=lease,
                now=now or clock_now,
            )

        plan = await self._change(msg_id, decide)
        return None if plan is None else plan.record

    @abc.abstractmethod
    async def get(self, msg_id: str) -> MessageRecord | None: ...

    async def load_raw(self, msg_id: str, *, check: bool = True) -> bytes:
        """The spooled message; :class:`NotFound` if there is none, :class:`SpoolCorrupt` if
        it is missing or its SHA-256 no longer matches. ``check=False`` skips the hash for a
        body that carries its own check (a sealed file's GCM tag)."""
        rec = await self.get(msg_id)
        if rec is None:
            raise NotFound(msg_id)
        if not rec.has_raw:
            raise NotFound(f"{msg_id} has no spooled body ({rec.state.value})")
        raw, where = await self._read_body(rec)
        if raw is None:
            raise SpoolCorrupt(f"{msg_id}: the body {where} is missing")
        if check and hashlib.sha256(raw).hexdigest() != rec.sha256:
            raise SpoolCorrupt(f"{msg_id}: the body {where} does not match its SHA-256")
        return raw

    async def replace_raw(self, msg_id: str, raw: Body, *, actor: str, reason: str) -> MessageRecord:
        """Durably replace the spooled message (e.g. after Bcc conversion), audited; ``raw`` is
        bytes or the path of a file to copy, as for :meth:`accept`."""
        staged = await self._stage(msg_id, raw)

        def decide(rec: MessageRecord, now: datetime) -> Plan:
            return plan_replace(
                rec, sha256=staged.sha256, size=staged.size, actor=actor, reason=reason, now=now
            )

        try:
            plan = await self._change(msg_id, decide, staged=staged)
        except BaseException as exc:
            await self._unstage(msg_id, staged, exc)
            raise
        assert plan is not None
        return plan.record

    async def delete_raw(self, msg_id: str, *, actor: str, reason: str) -> MessageRecord:
        """Remove the spooled body of a message in a terminal state (retention), audited."""

        def decide(rec: MessageRecord, now: datetime) -> Plan | None:
            return plan_purge(rec, actor=actor, reason=reason, now=now)

        plan = await self._change(msg_id, decide)
        if plan is not None:
            return plan.record
        rec = await self.get(msg_id)  # the body was gone already
        if rec is None:
            raise NotFound(msg_id)
        return rec

    async def seal(self, msg_id: str, *, actor: str, reason: str) -> MessageRecord:
        """Audit the digests of all the item's recorded facts as they are now (action ``seal``,
        see :func:`plan_seal`): for items accepted before events carried them
        (``sekimori audit seal``). Nothing else changes."""

        def decide(rec: MessageRecord, now: datetime) -> Plan:
            return plan_seal(rec, actor=actor, reason=reason, now=now)

        plan = await self._change(msg_id, decide)
        assert plan is not None
        return plan.record

    async def passes(
        self, *, user: str, sha256: str, service: str, tenant: str | None, limit: int = 100
    ) -> list[MessageRecord]:
        """The live passes (:func:`pass_fits`) for an upload of ``sha256`` by ``user`` to
        ``service`` and ``tenant``, the soonest to expire first."""
        now = self._now()
        found: list[MessageRecord] = []
        before: str | None = None
        while True:
            page = await self.list_messages(
                kinds={ItemKind.UPLOAD}, states={State.APPROVED}, before=before, limit=500
            )
            found += [
                r
                for r in page
                if pass_fits(r, user=user, sha256=sha256, service=service, tenant=tenant, now=now)
            ]
            if len(page) < 500:
                break
            before = page[-1].id
        found.sort(key=lambda r: (r.expires_at or now, r.id))
        return found[:limit]

    async def use_pass(
        self,
        msg_id: str,
        *,
        user: str,
        sha256: str,
        service: str,
        tenant: str | None,
        actor: str,
        for_item: str = "",
    ) -> MessageRecord | None:
        """Spend one use of the pass ``msg_id`` for an upload that fits it, audited (action
        ``pass_used``; the last use moves it to ``expired``) in one compare-and-set write.
        ``None`` when the pass does not fit (any more): expired, spent, or another upload."""

        def decide(rec: MessageRecord, now: datetime) -> Plan | None:
            return plan_use_pass(
                rec,
                user=user,
                sha256=sha256,
                service=service,
                tenant=tenant,
                actor=actor,
                for_item=for_item,
                now=now,
            )

        try:
            plan = await self._change(msg_id, decide)
        except NotFound:
            return None
        return None if plan is None else plan.record

    @abc.abstractmethod
    async def list_messages(
        self,
        *,
        states: Collection[State] | None = None,
        sender: str | None = None,
        before: str | None = None,
        limit: int = 100,
        kinds: Collection[ItemKind] | None = None,
    ) -> list[MessageRecord]:
        """Newest first; ``before`` (an id) pages on: only items older than it. ``kinds``
        narrows to messages or uploads (default: both)."""

    @abc.abstractmethod
    async def due(self, now: datetime, *, limit: int = 1000) -> list[MessageRecord]:
        """Work whose time has come (:func:`is_due`), of every kind: an item in a state of
        :data:`TIMER_FIELD` whose time field is ``<= now`` (``held``/``release_at``,
        ``deferred``/``next_attempt_at``, ``pending_approval`` and ``approved``/``expires_at``),
        and ``received``/``delivering`` items without a live lease. Oldest first."""

    @abc.abstractmethod
    async def recover(self, owner: str, *, lease: float = DEFAULT_LEASE) -> list[MessageRecord]:
        """At start: take over (:func:`plan_recover`) every ``received``/``delivering`` message
        owned by ``owner``, by nobody, or with an expired lease, and return them so the caller
        resumes each (classify a ``received`` one again, deliver a ``delivering`` one). Also
        removes spool files that no committed record refers to (a crash mid-accept)."""

    @abc.abstractmethod
    async def note(
        self,
        msg_id: str,
        *,
        action: str,
        actor: str,
        reason: str,
        extra: Mapping[str, Any] | None = None,
    ) -> AuditEvent:
        """Append an audit event that changes no state (a notification sent, a refusal ...;
        see :func:`note_event`)."""

    @abc.abstractmethod
    async def has_written_to(self, sender: str, domain: str) -> bool:
        """Whether a message from ``sender`` was ever delivered to a recipient at ``domain``."""

    @abc.abstractmethod
    async def known_domains(self, sender: str) -> frozenset[str]:
        """Snapshot of the domains ``sender`` has had mail delivered to (lower-case), for the
        pure policy evaluator."""

    @abc.abstractmethod
    async def audit_events(
        self, *, msg_id: str | None = None, after_seq: int = 0, limit: int = 1000
    ) -> list[AuditEvent]:
        """Events in chain order (ascending ``seq``) after ``after_seq``."""

    @abc.abstractmethod
    async def stats(self) -> StoreStats:
        """How many items are in each state, and how long the audit chain is (for metrics and
        readiness: cheap, one round trip or two)."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    # -- the I/O primitives a backend provides ------------------------------------------------

    @abc.abstractmethod
    async def _stage(self, msg_id: str, raw: Body) -> Staged:
        """Write a body durably ahead of the record that will refer to it."""

    @abc.abstractmethod
    async def _unstage(self, msg_id: str, staged: Staged, error: BaseException) -> None:
        """After the write that was to refer to ``staged`` failed with ``error``: remove the
        body unless that write may have committed."""

    @abc.abstractmethod
    async def _read_body(self, rec: MessageRecord) -> tuple[bytes | None, str]:
        """The committed body of ``rec`` (``None`` if it is missing) and where it was looked for."""

    @abc.abstractmethod
    async def _insert(self, plan: Plan, staged: Staged) -> None:
        """Persist a new record (:func:`plan_accept`) with its audit event, atomically and
        durably."""

    async def _insert_then(
        self,
        plan: Plan,
        staged: Staged,
        then: ThenPlan,
        later: Callable[[], Mapping[str, Any]] | None = None,
    ) -> Plan:
        """Persist a new record (:func:`plan_accept`) and the change ``then`` plans over
        it (as :meth:`_change` would); returns the change's plan. ``later``'s values (see
        :meth:`accept_decided`) are passed to ``then``. For :meth:`accept_decided` on a backend
        that cannot make both in one transaction (the SQLite store does, in
        :meth:`accept_decided_soon`): the values are computed in a worker thread, then the two
        writes are made in turn, after planning the change once over the new record, so that a
        change that cannot be made (:class:`InvalidTransition`) is refused before anything is
        written."""
        values = None if later is None else await asyncio.to_thread(later)
        then(plan.record, self._now(), values)
        await self._insert(plan, staged)
        moved = await self._change(plan.record.id, lambda rec, at: then(rec, at, values))
        assert moved is not None
        return moved

    @abc.abstractmethod
    async def _change(
        self,
        msg_id: str,
        decide: Callable[[MessageRecord, datetime], Plan | None],
        *,
        staged: Staged | None = None,
    ) -> Plan | None:
        """Read the record (:class:`NotFound` if none), call ``decide(record, now)`` and persist
        the plan it returns with its audit event, atomically (compare-and-set against a write
        that raced), making ``staged`` permanent; then remove the body the plan drops.
        ``None`` from ``decide``: nothing is written and ``None`` returned."""


# -- the rules, above the I/O seam ----------------------------------------------------------------
#
# Every decision a write depends on is a pure function here: both backends read the current
# record, ask a ``plan_*`` function what to write, and persist the :class:`Plan` (with the audit
# event chained to the head they read) in one atomic step. The backends only read and persist.

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def new_id(now: datetime | None = None) -> str:
    """A 26-character, time-sortable queue id (ULID layout: 48-bit milliseconds, 80 random bits).

    >>> a = new_id(datetime(2026, 1, 1, tzinfo=UTC)); b = new_id(datetime(2026, 1, 2, tzinfo=UTC))
    >>> len(a), a < b, a.isalnum()
    (26, True, True)
    """
    ms = ((now or datetime.now(UTC)) - _EPOCH) // timedelta(milliseconds=1)
    value = (ms << 80) | secrets.randbits(80)
    return "".join(_CROCKFORD[(value >> (5 * i)) & 31] for i in range(25, -1, -1))


#: One encoder for every write: ``json.dumps`` with options builds a new one per call.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


def canonical_json(value: Any) -> str:
    """The stored JSON form (sorted keys, no spaces, UTF-8 text) of decisions, scans, metadata."""
    return _CANONICAL(value)


def as_states(value: State | Collection[State]) -> frozenset[State]:
    if isinstance(value, State):
        return frozenset({value})
    return frozenset(State(v) for v in value)


def checked_now(clock: Callable[[], datetime]) -> datetime:
    """The store's clock reading; a naive datetime is a programming error."""
    now = clock()
    if now.tzinfo is None:
        raise TypeError("the store's clock must return timezone-aware datetimes")
    return now


# Stored form: both backends keep a record as these fields. Times are integer microseconds since
# the epoch (``None`` when unset; Redis writes ``""``), mappings and lists canonical JSON text,
# ``has_raw`` 0/1. ``Row`` is that form; :func:`encode_record` and :func:`decode_record` convert.

Row = dict[str, Any]
TIME_FIELDS = ("received_at", "updated_at", "release_at", "next_attempt_at", "expires_at", "lease_until")
_JSON_FIELDS = {"recipients": list, "decision": dict, "scan": dict, "approvers": list, "meta": dict}
#: Fields stored as integers (besides the times).
INT_FIELDS = ("size", "attempts", "has_raw")
#: Every stored field, in the order of the SQLite table.
FIELDS = (
    "id",
    "state",
    "sender",
    "recipients",
    "size",
    "sha256",
    "received_at",
    "updated_at",
    "subject",
    "release_at",
    "next_attempt_at",
    "expires_at",
    "attempts",
    "decision",
    "scan",
    "last_error",
    "approvers",
    "meta",
    "owner",
    "lease_until",
    "has_raw",
    "kind",
    "file_key",
)


def _micros(at: datetime | None) -> int | None:
    return None if at is None else to_micros(at)


def encode_value(key: str, value: Any) -> Any:
    """One field in stored form.

    >>> encode_value("release_at", datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)), encode_value("approvers", ("a",))
    (1000000, '["a"]')
    """
    if key in TIME_FIELDS:
        if value is not None and not (isinstance(value, datetime) and value.tzinfo is not None):
            raise TypeError(f"{key} must be a timezone-aware datetime or None")
        return _micros(value)
    if key in _JSON_FIELDS:
        return canonical_json(_JSON_FIELDS[key](value))
    if key in INT_FIELDS:
        return int(value)
    if key == "owner":
        return value or None
    return str(value)


def encode_record(rec: MessageRecord) -> Row:
    """Every field of ``rec`` in stored form (:func:`encode_value` of each, written out, an empty
    scan, decision or list without the encoder: a new record is encoded whole at every accept).

    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> rec = MessageRecord("M", State.HELD, "a", ("b",), 3, "ab", t, t, release_at=t, meta={"x": 1})
    >>> full = dataclasses.replace(rec, decision={"a": 1}, scan={"b": [2]}, approvers=("c",), owner="o")
    >>> all(encode_record(r) == {k: encode_value(k, getattr(r, k)) for k in FIELDS} for r in (rec, full))
    True
    """
    times = {k: getattr(rec, k) for k in TIME_FIELDS}
    for key, value in times.items():
        if value is not None and not (isinstance(value, datetime) and value.tzinfo is not None):
            raise TypeError(f"{key} must be a timezone-aware datetime or None")
    return {
        "id": str(rec.id),
        "state": str(rec.state),
        "sender": str(rec.sender),
        "recipients": canonical_json(list(rec.recipients)),
        "size": int(rec.size),
        "sha256": str(rec.sha256),
        "received_at": _micros(times["received_at"]),
        "updated_at": _micros(times["updated_at"]),
        "subject": str(rec.subject),
        "release_at": _micros(times["release_at"]),
        "next_attempt_at": _micros(times["next_attempt_at"]),
        "expires_at": _micros(times["expires_at"]),
        "attempts": int(rec.attempts),
        "decision": canonical_json(dict(rec.decision)) if rec.decision else "{}",
        "scan": canonical_json(dict(rec.scan)) if rec.scan else "{}",
        "last_error": str(rec.last_error),
        "approvers": canonical_json(list(rec.approvers)) if rec.approvers else "[]",
        "meta": canonical_json(dict(rec.meta)),
        "owner": rec.owner or None,
        "lease_until": _micros(times["lease_until"]),
        "has_raw": int(rec.has_raw),
        "kind": str(rec.kind),
        "file_key": str(rec.file_key),
    }


#: JSON texts of scans and decisions decoded lately, and what they decode to: an item's scan is
#: written once and read back by each later write (its delivery), and decoding twenty findings
#: costs about as much as the rest of the write. The values are shared by the records that
#: carry them, as the records themselves are: nothing changes a record's scan or decision in
#: place. Small texts are not kept (decoding them costs less than keeping them).
_SHARED_JSON: dict[str, Any] = {}
_SHARED_JSON_MIN = 512
_SHARED_JSON_MAX = 256 * 1024
_SHARED_JSON_ENTRIES = 32


def _loads_shared(text: str) -> Any:
    """``json.loads(text)``, by way of :data:`_SHARED_JSON` for a text long enough to keep."""
    if not _SHARED_JSON_MIN <= len(text) <= _SHARED_JSON_MAX:
        return json.loads(text)
    value = _SHARED_JSON.get(text)
    if value is None:
        value = json.loads(text)
        _share_json(text, value)
    return value


def _share_json(text: str, value: Any) -> None:
    """Keep ``value`` as what ``text`` decodes to (the oldest entry leaves when full)."""
    if not _SHARED_JSON_MIN <= len(text) <= _SHARED_JSON_MAX:
        return
    if text not in _SHARED_JSON and len(_SHARED_JSON) >= _SHARED_JSON_ENTRIES:
        with contextlib.suppress(StopIteration, KeyError, RuntimeError):  # another thread's turn
            del _SHARED_JSON[next(iter(_SHARED_JSON))]
    _SHARED_JSON[text] = value


#: What reads back from JSON as itself (a float unless it is NaN or infinite, which
#: :func:`reads_back_as_itself` finds in the text).
_SCALARS = frozenset({str, int, float, bool, type(None)})


def reads_back_as_itself(value: Any, text: str) -> bool:
    """Whether ``text``, the canonical JSON of ``value``, decodes to a value equal to it:
    ``value`` is plain JSON data (dicts with string keys, lists, strings, numbers, booleans,
    None; no tuple, no subclass) and no float in it is NaN or infinite (the text would say
    ``NaN`` or ``Infinity``; a string saying so only makes this answer no). The writer's value
    can then stand for the decoded one; checking costs a fraction of decoding.

    >>> v = {"a": [1, 2.5, "x", None, True, {"b": []}]}
    >>> reads_back_as_itself(v, canonical_json(v))
    True
    >>> [reads_back_as_itself(v, canonical_json(v)) for v in ({1: "a"}, {"a": (1,)}, [float("nan")], [-float("inf")])]
    [False, False, False, False]
    """
    if "NaN" in text or "Infinity" in text:
        return False
    stack = [value]
    pop, push = stack.pop, stack.append
    scalars = _SCALARS
    checked: set[int] = set()  # a container held more than once is checked once
    while stack:
        v = pop()
        t = type(v)
        if t is dict:
            for k, item in v.items():
                if type(k) is not str:
                    return False
                if type(item) not in scalars and id(item) not in checked:
                    checked.add(id(item))
                    push(item)
        elif t is list:
            for item in v:
                if type(item) not in scalars and id(item) not in checked:
                    checked.add(id(item))
                    push(item)
        elif t not in scalars:
            return False
    return True


@dataclass(frozen=True, slots=True)
class EncodedJson:
    """A scan or decision with its stored form made beforehand, where the time is free (a
    classification worker makes the scan's, off the relay's event loop): :meth:`Store.transition`
    takes one wherever it takes the value, and stores ``text`` rather than encoding ``value``
    again. Made only by :meth:`of`, so that ``text`` is ``canonical_json(value)``, ``plain``
    whether it reads back as ``value`` (:func:`reads_back_as_itself`) and ``quoted`` the UTF-8
    of ``text`` as a JSON string (what the fact digest of the field hashes, see
    :func:`_fact_digest`). The three survive pickling with the value (plain JSON data comes
    back as the same types).

    >>> e = EncodedJson.of({"b": [1, "é"], "a": None})
    >>> e.text, e.plain, e.quoted == json.dumps(e.text, ensure_ascii=False).encode()
    ('{"a":null,"b":[1,"é"]}', True, True)
    """

    value: Mapping[str, Any]
    text: str
    plain: bool
    quoted: bytes

    @classmethod
    def of(cls, value: Mapping[str, Any]) -> EncodedJson:
        value = dict(value)
        text = canonical_json(value)
        return cls(value, text, reads_back_as_itself(value, text), _json_text(text).encode())


def decode_record(row: Mapping[str, Any]) -> MessageRecord:
    """A record from its stored form (a ``Row``, or a Redis hash of strings). Every write reads
    the record it changes, so this is written out: the record is made from its fields without
    a call of ``__init__`` with all 23 (as :func:`_replaced`), an empty list without decoding."""
    received_at = _stored_time(row.get("received_at"))
    updated_at = _stored_time(row.get("updated_at"))
    assert received_at is not None and updated_at is not None, "received_at and updated_at are always set"
    state = row["state"]
    kind = row.get("kind") or ItemKind.MAIL
    recipients = row["recipients"]
    approvers = row["approvers"]
    rec = object.__new__(MessageRecord)
    rec.__dict__.update(
        id=str(row["id"]),
        state=_STATES.get(state) or State(state),
        sender=str(row["sender"]),
        recipients=() if recipients == "[]" else tuple(json.loads(recipients)),
        size=int(row["size"]),
        sha256=str(row["sha256"]),
        received_at=received_at,
        updated_at=updated_at,
        subject=str(row["subject"]),
        release_at=_stored_time(row.get("release_at")),
        next_attempt_at=_stored_time(row.get("next_attempt_at")),
        expires_at=_stored_time(row.get("expires_at")),
        attempts=int(row["attempts"]),
        decision=_loads_shared(row["decision"]),
        scan=_loads_shared(row["scan"]),
        last_error=str(row["last_error"]),
        approvers=() if approvers == "[]" else tuple(json.loads(approvers)),
        meta=json.loads(row["meta"]),
        owner=row["owner"] or None,
        lease_until=_stored_time(row.get("lease_until")),
        has_raw=int(row["has_raw"]) == 1,
        kind=_KINDS.get(kind) or ItemKind(kind),
        file_key=str(row.get("file_key") or ""),
    )
    return rec


#: The states and kinds by stored value (an enum's call costs more than the lookup).
_STATES: dict[Any, State] = {s.value: s for s in State}
_KINDS: dict[Any, ItemKind] = {k.value: k for k in ItemKind}


#: The recorded facts of an item that its audit trail vouches for, besides the state, the body's
#: SHA-256 and its presence (which :func:`gateway.audit.verify_store` follows from the events
#: themselves): the envelope (kind, sender, recipients, the subject header kept, size, arrival),
#: the timers, counters, decision, scan findings, approvers and last error, and each top-level
#: key of ``meta`` as ``meta.<key>`` (session facts, an upload's :class:`UploadFacts` as
#: ``meta.upload``, a link's facts as ``meta.link``, a pass as ``meta.pass`` ...). Left out: the
#: worker's lease (``owner``, ``lease_until``; taken over at start without an event),
#: ``updated_at`` (every write) and a file's ``file_key`` (a secret; a changed key fails the
#: body's GCM tag, so the file cannot be read: it fails closed).
FACT_FIELDS: tuple[str, ...] = (
    "kind",
    "sender",
    "recipients",
    "subject",
    "size",
    "received_at",
    "release_at",
    "next_attempt_at",
    "expires_at",
    "attempts",
    "decision",
    "scan",
    "approvers",
    "last_error",
)

#: Key of an event's ``extra`` that carries fact digests (:func:`record_facts`).
FACTS_KEY = "facts"


def _fact_digest(msg_id: str, name: str, stored: Any) -> str:
    """128 bits of SHA-256 over the stored form, bound to the item and the field, so a digest
    cannot be moved to another item or field: over ``canonical_json([msg_id, name, stored])``,
    written out here for the stored forms (text, integer, null) because every write digests
    some twenty facts twice.

    >>> for v in ("", "é\\"\x01\u2028", 0, -7, 10**20, None, {"b": [1], "a": "x"}):
    ...     s = hashlib.sha256(canonical_json(["M", "n", v]).encode("utf-8")).hexdigest()[:32]
    ...     assert _fact_digest("M", "n", v) == s, v
    """
    return _digest_after(f"[{_json_text(msg_id)},", name, stored)


#: ``"<name>",`` of each fact name digested so far (the names are few: fields and meta keys).
_NAME_TEXTS: dict[str, str] = {}
_NAME_TEXTS_MAX = 4096


def _name_text(name: str) -> str:
    name_text = _NAME_TEXTS.get(name)
    if name_text is None:
        name_text = f"{_json_text(name)},"
        if len(_NAME_TEXTS) < _NAME_TEXTS_MAX:
            _NAME_TEXTS[name] = name_text
    return name_text


def _digest_quoted(head: str, name: str, quoted: bytes) -> str:
    """:func:`_digest_after` of a stored text whose JSON string form (UTF-8) is ``quoted``
    (:attr:`EncodedJson.quoted`): the same bytes hashed, the text not escaped again."""
    digest = hashlib.sha256(f"{head}{_name_text(name)}".encode())
    digest.update(quoted)
    digest.update(b"]")
    return digest.hexdigest()[:32]


def _digest_after(head: str, name: str, stored: Any) -> str:
    """:func:`_fact_digest` with ``head`` the item's part of the text, ``[<msg_id as JSON>,``,
    which a write digesting several facts of one item puts together once."""
    name_text = _name_text(name)
    if type(stored) is str:
        value = _json_text(stored)
    elif stored is None:
        value = "null"
    elif type(stored) is int:
        value = int.__repr__(stored)
    elif isinstance(stored, str):
        value = _json_text(stored)
    else:
        value = canonical_json(stored)
    return hashlib.sha256(f"{head}{name_text}{value}]".encode()).hexdigest()[:32]


def record_facts(rec: MessageRecord) -> dict[str, str]:
    """The digest of each recorded fact of ``rec`` (:data:`FACT_FIELDS`, and ``meta.<key>``),
    computed over the stored form, so both backends give the same digests for the same record.

    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> rec = MessageRecord("M", State.HELD, "a@x.jp", ("b@y.jp",), 3, "ab", t, t, meta={"client": "1"})
    >>> facts = record_facts(rec)
    >>> sorted(facts) == sorted([*FACT_FIELDS, "meta.client"]), len(facts["sender"])
    (True, 32)
    >>> record_facts(dataclasses.replace(rec, sender="c@x.jp"))["sender"] != facts["sender"]
    True
    """
    return _facts_of(rec, encode_record(rec))


def _facts_of(rec: MessageRecord, stored: Row) -> dict[str, str]:
    """:func:`record_facts` of ``rec`` whose stored form ``stored`` (``encode_record(rec)``)
    the caller has already."""
    head = f"[{_json_text(rec.id)},"
    out = {name: _digest_after(head, name, stored[name]) for name in FACT_FIELDS}
    out.update(_meta_facts(rec))
    return out


def _meta_facts(rec: MessageRecord) -> dict[str, str]:
    """The ``meta.<key>`` part of :func:`record_facts`."""
    head = f"[{_json_text(rec.id)},"
    return {
        f"meta.{key}": _digest_after(head, f"meta.{key}", canonical_json(value))
        for key, value in rec.meta.items()
    }


def _changed_meta_facts(before: MessageRecord, after: MessageRecord) -> dict[str, str]:
    """``changed_facts(_meta_facts(before), _meta_facts(after))`` of one item, digesting only the
    keys whose stored form changed (a digest is a function of the item, the key and that form)."""
    out: dict[str, str] = {}
    old, new = before.meta, after.meta
    head = f"[{_json_text(after.id)},"
    for key in {*old, *new}:
        if key not in new:
            out[f"meta.{key}"] = ""
            continue
        text = canonical_json(new[key])
        if key not in old or canonical_json(old[key]) != text:
            out[f"meta.{key}"] = _digest_after(head, f"meta.{key}", text)
    return out


def changed_facts(before: Mapping[str, str], after: Mapping[str, str]) -> dict[str, str]:
    """The digests that differ between two :func:`record_facts`; a fact that is gone (a meta
    key removed) maps to ``""``.

    >>> changed_facts({"a": "1", "b": "2", "meta.x": "3"}, {"a": "1", "b": "4"})
    {'b': '4', 'meta.x': ''}
    """
    return {k: after.get(k, "") for k in sorted({*before, *after}) if before.get(k) != after.get(k)}


def _reads_back(value: Any, written: Any) -> bool:
    """Whether ``value``, read back from the canonical JSON of ``written``, is equal to it, so
    that its canonical JSON is that same text. Only a dict key that is no string reads back as
    another (``{9: .., 10: ..}`` as ``{"10": .., "9": ..}``, sorted otherwise), and such a key
    is never equal to the string it becomes."""
    return type(value) is type(written) and bool(value == written)


def _changed_facts(
    before: MessageRecord,
    after: MessageRecord,
    sets: Row,
    written: Mapping[str, Any],
    encoded: Mapping[str, EncodedJson] | None = None,
) -> dict[str, str]:
    """``changed_facts(record_facts(before), record_facts(after))`` for ``after``, which is
    ``before`` with the stored fields ``sets`` written (encoded from the values ``written``),
    digesting only the facts ``sets`` writes and whose stored form changed: every other one
    keeps its stored form, so its digest (three writes a message, each of which would otherwise
    digest every fact twice)."""
    if "id" in sets:
        return changed_facts(record_facts(before), record_facts(after))
    out: dict[str, str] = {}
    head = f"[{_json_text(after.id)},"
    for name in FACT_FIELDS:
        if name not in sets:
            continue
        # A text, number or time is stored as written; JSON is digested as it reads back,
        # which is the text written unless a dict key was no string.
        stored = sets[name]
        if name in _JSON_FIELDS and not (
            name in written and _reads_back(getattr(after, name), written[name])
        ):
            stored = encode_value(name, getattr(after, name))
        old = encode_value(name, getattr(before, name))
        if type(old) is not type(stored) or old != stored:
            pre = encoded.get(name) if encoded else None
            if pre is not None and stored is pre.text:
                out[name] = _digest_quoted(head, name, pre.quoted)
            else:
                out[name] = _digest_after(head, name, stored)
    if "meta" in sets:
        out.update(_changed_meta_facts(before, after))
    return dict(sorted(out.items()))


def _with_facts(
    before: MessageRecord | None,
    after: MessageRecord,
    draft: EventDraft | None,
    sets: Row,
    written: Mapping[str, Any],
    encoded: Mapping[str, EncodedJson] | None = None,
) -> EventDraft | None:
    """``draft`` carrying the digests of the facts this write (``sets``) sets: all of them for
    a new item, the changed ones otherwise (none: the event is left as it is). A write that
    changes a fact without an event is a programming error."""
    changed = (
        _facts_of(after, sets) if before is None else _changed_facts(before, after, sets, written, encoded)
    )
    if not changed:
        return draft
    if draft is None:
        raise AssertionError(f"{after.id}: a write changes {sorted(changed)} without an audit event")
    extra = dict(draft.extra or {})
    if FACTS_KEY in extra:
        raise ValueError(f"the event's extra may not carry {FACTS_KEY!r}: the store sets it")
    extra[FACTS_KEY] = changed
    return dataclasses.replace(draft, extra=extra)


@dataclass(frozen=True)
class EventDraft:
    """An audit event before it is chained (the backend adds ``seq`` and the hashes)."""

    at: datetime
    actor: str
    action: str
    msg_id: str
    from_state: str
    to_state: str
    reason: str
    extra: Mapping[str, Any] | None = None


def chain(draft: EventDraft, last_seq: int, prev_hash: str) -> AuditEvent:
    """The event a draft becomes after the chain's newest event ``(last_seq, prev_hash)``."""
    return chain_stored(draft, last_seq, prev_hash)[0]


def chain_stored(draft: EventDraft, last_seq: int, prev_hash: str) -> tuple[AuditEvent, str]:
    """:func:`chain`, and the canonical JSON text of the event's ``extra`` to store."""
    return stored_event(
        last_seq,
        prev_hash,
        at=draft.at,
        actor=draft.actor,
        action=draft.action,
        msg_id=draft.msg_id,
        from_state=draft.from_state,
        to_state=draft.to_state,
        reason=draft.reason,
        extra=draft.extra,
    )


@dataclass(frozen=True)
class Plan:
    """One write, decided: the fields to set (stored form), the audit event, the body to drop
    after the commit (by its SHA-256), the correspondents to record, and the record after."""

    record: MessageRecord
    sets: Row
    event: EventDraft | None = None
    drop_body: str | None = None
    #: ``(sender, domain)`` pairs for :meth:`Store.has_written_to`.
    correspondents: tuple[tuple[str, str], ...] = ()


#: How :meth:`Store._insert_then` plans the change over the new record: from the record, the
#: time, and the meta values computed later (:meth:`Store.accept_decided`'s ``meta_later``).
ThenPlan = Callable[[MessageRecord, datetime, Mapping[str, Any] | None], Plan]


@dataclass(frozen=True)
class Decided:
    """An item decided before anything of it was recorded (:meth:`Store.accept_decided`'s
    arguments): accepted without a body for ``sender`` and ``recipients`` (``subject``,
    ``meta``, ``owner`` for ``lease`` seconds, by ``actor``), then moved to ``to`` by
    ``decided_by`` for ``reason`` with ``changes``, and ``meta_later``'s values."""

    sender: str
    recipients: tuple[str, ...]
    actor: str
    kind: ItemKind
    to: State
    decided_by: str
    reason: str
    subject: str = ""
    meta: Mapping[str, Any] | None = None
    owner: str | None = None
    lease: float = DEFAULT_LEASE
    changes: Mapping[str, Any] | None = None
    meta_later: Callable[[], Mapping[str, Any]] | None = None


def plan_decided(
    decided: Decided, msg_id: str, *, size: int, sha256: str, now: datetime
) -> tuple[Plan, ThenPlan]:
    """The accept of a :class:`Decided` item (its body of ``size`` bytes and ``sha256``), and
    how its move is planned over the new record (with the values computed later)."""
    d = decided
    changes = dict(d.changes or {})
    check_changes(changes)
    plan = plan_accept(
        msg_id,
        kind=d.kind,
        sender=d.sender,
        recipients=d.recipients,
        subject=d.subject,
        meta=d.meta,
        owner=d.owner,
        lease=d.lease,
        actor=d.actor,
        size=size,
        sha256=sha256,
        now=now,
    )

    def then(rec: MessageRecord, at: datetime, later: Mapping[str, Any] | None = None) -> Plan:
        return plan_transition(
            rec,
            d.to,
            actor=d.decided_by,
            reason=d.reason,
            expect=State.RECEIVED,
            owner=None,
            lease=DEFAULT_LEASE,
            extra=None,
            changes=changes if later is None else {**changes, "meta": {**changes.get("meta", {}), **later}},
            now=at,
        )

    return plan, then


def _stored_time(value: Any) -> datetime | None:
    return None if value is None or value == "" else from_micros(int(value))


#: How :func:`decode_record` reads each stored field, one field at a time (for :func:`_apply`).
_DECODE: Mapping[str, Callable[[Any], Any]] = {
    "id": str,
    "state": State,
    "sender": str,
    "recipients": lambda v: tuple(json.loads(v)),
    "size": int,
    "sha256": str,
    "received_at": _stored_time,
    "updated_at": _stored_time,
    "subject": str,
    "release_at": _stored_time,
    "next_attempt_at": _stored_time,
    "expires_at": _stored_time,
    "attempts": int,
    "decision": _loads_shared,
    "scan": _loads_shared,
    "last_error": str,
    "approvers": lambda v: tuple(json.loads(v)),
    "meta": json.loads,
    "owner": lambda v: v or None,
    "lease_until": _stored_time,
    "has_raw": lambda v: int(v) == 1,
    "kind": lambda v: ItemKind(v or ItemKind.MAIL),
    "file_key": lambda v: str(v or ""),
}
assert set(_DECODE) == set(FIELDS)


def _apply(
    rec: MessageRecord,
    sets: Row,
    written: Mapping[str, Any] | None = None,
    encoded: Mapping[str, EncodedJson] | None = None,
) -> MessageRecord:
    """``rec`` with the stored fields ``sets`` written: ``decode_record({**encode_record(rec),
    **sets})`` for a record as read from the store, decoding only the fields that change (the
    others round-trip to themselves; re-encoding and decoding the whole record, its scan and
    decision included, cost every write about as much as the write itself). A scan or decision
    in ``written`` (the values ``sets`` were encoded from) that is plain JSON data is taken as
    it is rather than decoded from its text (:func:`reads_back_as_itself`, or
    :attr:`EncodedJson.plain` for a value ``encoded`` beforehand)."""
    changes = {}
    for k, v in sets.items():
        if k in _SHARED_FIELDS and written and k in written and _reads_back_as(written[k], v, encoded, k):
            changes[k] = written[k]
            _share_json(v, written[k])
        else:
            changes[k] = _DECODE[k](v)
    return _replaced(rec, changes)


def _reads_back_as(value: Any, text: str, encoded: Mapping[str, EncodedJson] | None, key: str) -> bool:
    """:func:`reads_back_as_itself`, answered beforehand for a text :class:`EncodedJson` made."""
    pre = encoded.get(key) if encoded else None
    if pre is not None and text is pre.text:
        return pre.plain
    return reads_back_as_itself(value, text)


_FIELD_SET = frozenset(FIELDS)


def _replaced(rec: MessageRecord, changes: Mapping[str, Any]) -> MessageRecord:
    """``dataclasses.replace(rec, **changes)`` for the stored fields ``changes`` (every one an
    init field without a default factory or post-init work), without calling ``__init__`` with
    all 23 of them again: a fifth of the cost, twice or more a message.

    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> rec = MessageRecord("M", State.RECEIVED, "a@x.jp", ("b@y.jp",), 3, "ab", t, t)
    >>> _replaced(rec, {"state": State.HELD, "attempts": 2}) == dataclasses.replace(rec, state=State.HELD, attempts=2)
    True
    """
    if not _FIELD_SET.issuperset(changes):
        raise TypeError(f"not fields of a record: {sorted(set(changes) - _FIELD_SET)}")
    new = object.__new__(type(rec))
    state = new.__dict__
    state.update(rec.__dict__)
    state.update(changes)
    return new


#: The stored fields whose decoded values :func:`_apply` and :func:`decode_record` share.
_SHARED_FIELDS = frozenset({"decision", "scan"})


def _plan(
    rec: MessageRecord | None,
    sets: Row,
    event: EventDraft | None = None,
    drop_body: str | None = None,
    correspondents: tuple[tuple[str, str], ...] = (),
    *,
    new: MessageRecord | None = None,
    written: Mapping[str, Any] | None = None,
    encoded: Mapping[str, EncodedJson] | None = None,
) -> Plan:
    """The :class:`Plan` that writes ``sets`` over ``rec`` (or the new record ``new``), its
    event carrying the digests of the facts it sets (:func:`_with_facts`); ``written`` has the
    values some of ``sets`` were encoded from, ``encoded`` those encoded beforehand
    (:class:`EncodedJson`). Every plan is made here, so no write can change a recorded fact
    unaudited."""
    after = new if new is not None else _apply(_known(rec), sets, written, encoded)
    facts = _with_facts(rec, after, event, sets, written or {}, encoded)
    return Plan(after, sets, facts, drop_body, correspondents)


def _known(rec: MessageRecord | None) -> MessageRecord:
    assert rec is not None, "a change needs the record it changes"
    return rec


def _lease(owner: str | None, now: datetime, lease: float) -> int | None:
    return to_micros(now + timedelta(seconds=lease)) if owner else None


#: The upload facts an ``accept`` event carries (no file name: it may name a person).
_AUDITED_FACTS = ("service", "host", "tenant", "sharing_scope", "sharing_target")


def plan_accept(
    msg_id: str,
    *,
    kind: ItemKind,
    sender: str,
    recipients: Sequence[str],
    subject: str,
    meta: Mapping[str, Any] | None,
    owner: str | None,
    lease: float,
    actor: str,
    size: int,
    sha256: str,
    now: datetime,
) -> Plan:
    """A new record in ``received``, owned by ``owner`` for ``lease`` seconds."""
    rec = MessageRecord(
        id=msg_id,
        state=State.RECEIVED,
        sender=sender,
        recipients=tuple(recipients),
        size=size,
        sha256=sha256,
        received_at=now,
        updated_at=now,
        subject=subject,
        meta=dict(meta or {}),
        owner=owner or None,
        lease_until=None if not owner else now + timedelta(seconds=lease),
        kind=ItemKind(kind),
    )
    extra: dict[str, Any] = {"size": size, "sha256": sha256, "recipients": len(recipients)}
    facts = rec.upload
    if facts is not None:
        # Exports tell an upload from a message, and where it went, from the trail alone.
        extra["kind"] = rec.kind.value
        extra.update({k: v for k, v in facts.to_meta().items() if k in _AUDITED_FACTS})
    event = EventDraft(now, actor, "accept", msg_id, "", State.RECEIVED.value, "message spooled", extra)
    return _plan(None, encode_record(rec), event, new=rec)


#: What :meth:`Store.create` stages for an item without a body.
NO_BODY = Staged(None, hashlib.sha256(b"").hexdigest(), 0, created=False)


def plan_create(
    msg_id: str,
    *,
    kind: ItemKind,
    sender: str,
    recipients: Sequence[str],
    subject: str,
    meta: Mapping[str, Any],
    expires_at: datetime,
    actor: str,
    reason: str,
    staged: Staged,
    file_key: str,
    now: datetime,
) -> Plan:
    """A new item in its kind's first state (:data:`ENTRY`), due at ``expires_at``, with or
    without a body (:data:`NO_BODY`)."""
    kind = ItemKind(kind)
    if kind in (ItemKind.MAIL, ItemKind.UPLOAD):
        raise ValueError(f"a {kind.value} item is accepted, not created")
    if expires_at.tzinfo is None:
        raise TypeError("expires_at must be timezone-aware")
    state = ENTRY[kind]
    rec = MessageRecord(
        id=msg_id,
        state=state,
        sender=sender,
        recipients=tuple(recipients),
        size=staged.size,
        sha256=staged.sha256,
        received_at=now,
        updated_at=now,
        subject=subject,
        expires_at=expires_at,
        meta=dict(meta),
        has_raw=staged is not NO_BODY,
        kind=kind,
        file_key=file_key,
    )
    extra = {
        "size": staged.size,
        "sha256": staged.sha256,
        "recipients": len(recipients),
        "body": rec.has_raw,
    }
    event = EventDraft(now, actor, "create", msg_id, "", state.value, reason, extra)
    return _plan(None, encode_record(rec), event, new=rec)


@dataclass(frozen=True)
class Amendment:
    """What a rule of :meth:`Store.amend` decided: the fields to change (keys of
    :data:`UPDATABLE`), a move to ``to`` if any, and the audit event's action, reason and extra.
    ``outcome`` is for the caller (``"wrong_code"``, ``"downloaded"``, ...); it is not stored."""

    action: str
    reason: str
    changes: Mapping[str, Any] = field(default_factory=dict)
    to: State | None = None
    extra: Mapping[str, Any] | None = None
    outcome: str = ""


#: A rule of :meth:`Store.amend`: the current record and the time in, a change (or none) out.
Rule = Callable[[MessageRecord, datetime], Amendment | None]


def plan_amend(rec: MessageRecord, change: Amendment, *, actor: str, now: datetime) -> Plan:
    """What :meth:`Store.amend` writes: the changes, the move (in the kind's life cycle; a state
    of :data:`DISCARDS_RAW` drops the body) and one audit event with the rule's action. The
    lease is left as it is."""
    check_changes(change.changes)
    sets = {k: encode_value(k, v) for k, v in change.changes.items()}
    to = rec.state if change.to is None else State(change.to)
    if to is not rec.state:
        check_transition(rec.state, to, rec.kind)
        sets["state"] = to.value
    sets["updated_at"] = to_micros(now)
    drop = None
    if to in DISCARDS_RAW and rec.has_raw:
        sets["has_raw"] = 0
        drop = rec.sha256
    event = EventDraft(
        now, actor, change.action, rec.id, rec.state.value, to.value, change.reason, change.extra
    )
    return _plan(rec, sets, event, drop, written=change.changes)


def check_changes(changes: Mapping[str, Any]) -> None:
    """Refuse fields ``transition`` may not change (a programming error, not a state conflict)."""
    unknown = set(changes) - UPDATABLE
    if unknown:
        raise TypeError(f"transition() cannot change {sorted(unknown)}; allowed: {sorted(UPDATABLE)}")


def check_move(
    msg_id: str, kind: ItemKind, current: State, to: State, expected: frozenset[State] | None
) -> None:
    """The compare-and-set of a transition: the expected current state, then the life cycle."""
    if expected is not None and current not in expected:
        names = ", ".join(sorted(s.value for s in expected))
        raise InvalidTransition(f"{msg_id} is {current.value}, expected {names}")
    check_transition(current, to, kind)


def plan_transition(
    rec: MessageRecord,
    to: State,
    *,
    actor: str,
    reason: str,
    expect: State | Collection[State] | None,
    owner: str | None,
    lease: float,
    extra: Mapping[str, Any] | None,
    changes: Mapping[str, Any],
    now: datetime,
) -> Plan:
    """What :meth:`Store.transition` writes: the move (compare-and-set on ``expect`` and the
    life cycle), the changes, the lease, the body dropped on entering :data:`DISCARDS_RAW`, and
    the recipients' domains recorded on entering ``delivered``. Raises :class:`InvalidTransition`."""
    to = State(to)
    check_changes(changes)
    encoded = {k: v for k, v in changes.items() if type(v) is EncodedJson}
    if encoded:
        if not _SHARED_FIELDS.issuperset(encoded):
            raise TypeError(f"only {sorted(_SHARED_FIELDS)} may be given encoded, not {sorted(encoded)}")
        changes = {**changes, **{k: v.value for k, v in encoded.items()}}
    sets = {k: encoded[k].text if k in encoded else encode_value(k, v) for k, v in changes.items()}
    check_move(rec.id, rec.kind, rec.state, to, None if expect is None else as_states(expect))
    sets.update(
        state=to.value, updated_at=to_micros(now), owner=owner or None, lease_until=_lease(owner, now, lease)
    )
    drop = None
    if to in DISCARDS_RAW and rec.has_raw:
        sets["has_raw"] = 0
        drop = rec.sha256
    corr: tuple[tuple[str, str], ...] = ()
    if to is State.DELIVERED:
        sender = rec.sender.lower()
        corr = tuple((sender, d) for d in sorted({domain_of(r) for r in rec.recipients}) if d)
    event = EventDraft(now, actor, "transition", rec.id, rec.state.value, to.value, reason, extra)
    return _plan(rec, sets, event, drop, corr, written=changes, encoded=encoded)


def lease_is_live(rec: MessageRecord, now: datetime) -> bool:
    return rec.owner is not None and rec.lease_until is not None and rec.lease_until > now


def plan_claim(
    rec: MessageRecord,
    *,
    owner: str,
    from_states: State | Collection[State],
    to: State | None,
    actor: str,
    reason: str,
    lease: float,
    now: datetime,
) -> Plan | None:
    """What :meth:`Store.claim` writes, or ``None`` when the state moved on or another owner
    holds a live lease. The same owner renews its lease; a move to ``to`` is audited."""
    if rec.state not in as_states(from_states):
        return None
    if lease_is_live(rec, now) and rec.owner != owner:
        return None
    new_state = rec.state if to is None else State(to)
    if new_state is not rec.state:
        check_transition(rec.state, new_state, rec.kind)
    sets: Row = {
        "state": new_state.value,
        "owner": owner,
        "lease_until": _lease(owner, now, lease),
        "updated_at": to_micros(now),
    }
    event = None
    if new_state is not rec.state:
        event = EventDraft(
            now, actor, "transition", rec.id, rec.state.value, new_state.value, reason, {"owner": owner}
        )
    return _plan(rec, sets, event)


def plan_recover(rec: MessageRecord, *, owner: str, lease: float, now: datetime) -> Plan | None:
    """At start, take over an active item owned by ``owner``, by nobody, or with an expired
    lease (not audited: the state does not change)."""
    if rec.state not in ACTIVE:
        return None
    if lease_is_live(rec, now) and rec.owner != owner:
        return None
    sets: Row = {"owner": owner, "lease_until": _lease(owner, now, lease)}
    return _plan(rec, sets)


def plan_replace(
    rec: MessageRecord, *, sha256: str, size: int, actor: str, reason: str, now: datetime
) -> Plan:
    """What :meth:`Store.replace_raw` writes; only a body that is kept and may still change."""
    if not rec.has_raw or rec.state in TERMINAL:
        raise InvalidTransition(f"{rec.id} is {rec.state.value}; its body can no longer change")
    sets: Row = {"sha256": sha256, "size": size, "updated_at": to_micros(now)}
    state = rec.state.value
    extra = {"old_sha256": rec.sha256, "sha256": sha256, "size": size}
    event = EventDraft(now, actor, "replace_raw", rec.id, state, state, reason, extra)
    drop = rec.sha256 if rec.sha256 != sha256 else None
    return _plan(rec, sets, event, drop)


def plan_purge(rec: MessageRecord, *, actor: str, reason: str, now: datetime) -> Plan | None:
    """What :meth:`Store.delete_raw` writes: only a finished item's body goes; ``None`` when it
    is gone already."""
    if rec.state not in TERMINAL:
        raise InvalidTransition(f"{rec.id} is {rec.state.value}; only a finished message's body is purged")
    if not rec.has_raw:
        return None
    sets: Row = {"has_raw": 0, "updated_at": to_micros(now)}
    state = rec.state.value
    event = EventDraft(now, actor, "purge", rec.id, state, state, reason, {"sha256": rec.sha256})
    return _plan(rec, sets, event, rec.sha256)


def plan_seal(rec: MessageRecord, *, actor: str, reason: str, now: datetime) -> Plan:
    """What :meth:`Store.seal` writes: nothing but an event (action ``seal``) carrying the
    digests of all the item's facts as they are now, so that an item accepted before events
    carried them is covered from here on."""
    state = rec.state.value
    extra = {FACTS_KEY: record_facts(rec)}
    return Plan(rec, {}, EventDraft(now, actor, "seal", rec.id, state, state, reason, extra))


def pass_uses(rec: MessageRecord) -> int:
    """How many uses the pass ``rec`` was granted (``meta["pass"]["uses"]``; 0 if none)."""
    granted = rec.meta.get("pass")
    uses = granted.get("uses") if isinstance(granted, Mapping) else None
    return uses if isinstance(uses, int) and not isinstance(uses, bool) else 0


def pass_fits(
    rec: MessageRecord, *, user: str, sha256: str, service: str, tenant: str | None, now: datetime
) -> bool:
    """Whether the approved upload ``rec`` lets this upload pass now: the same content (its
    SHA-256), from the same user (case-insensitive), to the same service and the same tenant (an
    unknown tenant fits only an unknown tenant), before ``expires_at`` and with uses left.

    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> facts = UploadFacts(service="box", host="upload.box.com", filename="a.csv", tenant="77")
    >>> rec = MessageRecord("P", State.APPROVED, "taro@example.co.jp", (), 3, "ab", t, t,
    ...     expires_at=t + timedelta(hours=24), kind=ItemKind.UPLOAD,
    ...     meta={"upload": facts.to_meta(), "pass": {"uses": 1}})
    >>> pass_fits(rec, user="Taro@example.co.jp", sha256="ab", service="box", tenant="77", now=t)
    True
    >>> [pass_fits(rec, user="taro@example.co.jp", sha256=h, service=s, tenant=n, now=t)
    ...  for h, s, n in (("cd", "box", "77"), ("ab", "dropbox", "77"), ("ab", "box", "78"), ("ab", "box", None))]
    [False, False, False, False]
    >>> pass_fits(rec, user="taro@example.co.jp", sha256="ab", service="box", tenant="77", now=t + timedelta(days=1))
    False
    """
    facts = rec.upload
    return (
        facts is not None
        and rec.state is State.APPROVED
        and rec.has_raw
        and bool(user)
        and rec.sender.strip().lower() == user.strip().lower()
        and rec.sha256 == sha256
        and facts.service == service
        and facts.tenant == tenant
        and rec.expires_at is not None
        and now < rec.expires_at
        and rec.attempts < pass_uses(rec)
    )


def plan_use_pass(
    rec: MessageRecord,
    *,
    user: str,
    sha256: str,
    service: str,
    tenant: str | None,
    actor: str,
    for_item: str,
    now: datetime,
) -> Plan | None:
    """What :meth:`Store.use_pass` writes: one more use counted (``attempts``), and the move to
    ``expired`` with the last one; ``None`` when the pass does not fit (:func:`pass_fits`)."""
    if not pass_fits(rec, user=user, sha256=sha256, service=service, tenant=tenant, now=now):
        return None
    used, uses = rec.attempts + 1, pass_uses(rec)
    sets: Row = {"attempts": used, "updated_at": to_micros(now)}
    to = rec.state
    reason = f"approval used ({used} of {uses})"
    if used >= uses:
        to = State.EXPIRED
        check_transition(rec.state, to, rec.kind)
        sets["state"] = to.value
        reason += ": used up"
    extra = {"for": for_item, "use": used, "uses": uses}
    event = EventDraft(now, actor, "pass_used", rec.id, rec.state.value, to.value, reason, extra)
    return _plan(rec, sets, event)


def note_event(
    msg_id: str,
    rec: MessageRecord | None,
    *,
    action: str,
    actor: str,
    reason: str,
    extra: Mapping[str, Any] | None,
    now: datetime,
) -> EventDraft:
    """The event of :meth:`Store.note` (the item's state, unchanged, or none for an unknown id)."""
    if extra is not None and FACTS_KEY in extra:
        raise ValueError(f"a note may not carry {FACTS_KEY!r}: only a write of the facts does")
    state = "" if rec is None else rec.state.value
    return EventDraft(now, actor, action, msg_id, state, state, reason, extra)


def timer_of(rec: MessageRecord) -> datetime | None:
    """When the item becomes due by its state's timer (:data:`TIMER_FIELD`), if it has one."""
    field_name = TIMER_FIELD.get(rec.state)
    return None if field_name is None else getattr(rec, field_name)


def is_due(rec: MessageRecord, now: datetime) -> bool:
    """The rule of :meth:`Store.due`: a timer that has come, or active work without a live lease."""
    at = timer_of(rec)
    if at is not None:
        return at <= now
    return rec.state in ACTIVE and not lease_is_live(rec, now)
