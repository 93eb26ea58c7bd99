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

import dataclasses
import json
import os
import secrets
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable


class ItemKind(StrEnum):
    """What an item in the store is: a message through the relay, or an upload through the proxy."""

    MAIL = "mail"
    UPLOAD = "upload"


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

#: The life cycle of each kind of item.
LIFECYCLE: Mapping[ItemKind, Mapping[State, frozenset[State]]] = {
    ItemKind.MAIL: ALLOWED,
    ItemKind.UPLOAD: UPLOAD_ALLOWED,
}

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

    def to_meta(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any]) -> UploadFacts | None:
        found = meta.get("upload")
        if not isinstance(found, Mapping):
            return None
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in found.items() if k in names})


@dataclass(frozen=True)
class MessageRecord:
    """One item in the store: a queued message, or an upload (``kind``). Times are
    timezone-aware UTC ``datetime``\\ s.

    ``decision`` is the policy's ``Decision.to_dict()``, ``scan`` a JSON summary of the scan
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

    @property
    def upload(self) -> UploadFacts | None:
        """The upload's facts (``None`` for a message)."""
        return UploadFacts.from_meta(self.meta) if self.kind is ItemKind.UPLOAD else None


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


@runtime_checkable
class Store(Protocol):
    """Queue + spool + audit. All methods are coroutines and never block the event loop.

    ``actor`` strings name who acted: ``smtp``, ``policy``, ``delivery``, ``scheduler``,
    ``sender:<addr>``, ``approver:<addr>``, ``operator:<os user>``, ``admin:<user>``.
    """

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
    ) -> MessageRecord:
        """Spool ``raw`` (bytes, or the path of a file to copy, read in a thread) and create the
        record of ``kind`` in state ``received``, audited (action ``accept``, by ``actor``).
        Durable before returning: spool file written, flushed, fsynced, renamed, directory
        fsynced, row committed. Only then may the SMTP layer answer 250. A file given by path
        stays where it is (the caller removes it)."""

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
        cycle (:data:`LIFECYCLE`). Raises :class:`NotFound`, :class:`InvalidTransition`. The lease is set to ``owner`` (``None`` leaves the message
        unowned). Entering a state of :data:`DISCARDS_RAW` removes the spool file; entering
        ``delivered`` records the recipients' domains for :meth:`has_written_to`."""

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
        owner renews the lease."""

    async def get(self, msg_id: str) -> MessageRecord | None: ...

    async def load_raw(self, msg_id: str) -> bytes:
        """The spooled message; :class:`NotFound` if there is none, :class:`SpoolCorrupt` if
        its SHA-256 no longer matches."""

    async def replace_raw(self, msg_id: str, raw: bytes, *, actor: str, reason: str) -> MessageRecord:
        """Durably replace the spooled message (e.g. after Bcc conversion), audited."""

    async def delete_raw(self, msg_id: str, *, actor: str, reason: str) -> MessageRecord:
        """Remove the spooled body of a message in a terminal state (retention), audited."""

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

    async def due(self, now: datetime, *, limit: int = 1000) -> list[MessageRecord]:
        """Work whose time has come, of every kind: an item in a state of :data:`TIMER_FIELD`
        whose time field is ``<= now`` (``held``/``release_at``, ``deferred``/``next_attempt_at``,
        ``pending_approval`` and ``approved``/``expires_at``), and ``received``/``delivering``
        items without a live lease. Oldest first."""

    async def recover(self, owner: str, *, lease: float = DEFAULT_LEASE) -> list[MessageRecord]:
        """At start: take over (lease to ``owner``) every ``received``/``delivering`` message
        owned by ``owner``, by nobody, or with an expired lease, and return them so the caller
        resumes each (classify a ``received`` one again, deliver a ``delivering`` one). Also
        removes spool files that no committed record refers to (a crash mid-accept)."""

    async def note(
        self,
        msg_id: str,
        *,
        action: str,
        actor: str,
        reason: str,
        extra: Mapping[str, Any] | None = None,
    ) -> AuditEvent:
        """Append an audit event that changes no state (a notification sent, a refusal ...)."""

    async def has_written_to(self, sender: str, domain: str) -> bool:
        """Whether a message from ``sender`` was ever delivered to a recipient at ``domain``."""

    async def known_domains(self, sender: str) -> frozenset[str]:
        """Snapshot of the domains ``sender`` has had mail delivered to (lower-case), for the
        pure policy evaluator."""

    async def audit_events(
        self, *, msg_id: str | None = None, after_seq: int = 0, limit: int = 1000
    ) -> list[AuditEvent]:
        """Events in chain order (ascending ``seq``) after ``after_seq``."""

    async def close(self) -> None: ...


# Helpers shared by the backends (no I/O).

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


def canonical_json(value: Any) -> str:
    """The stored JSON form (sorted keys, no spaces, UTF-8 text) of decisions, scans, metadata."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def as_states(value: State | Collection[State]) -> frozenset[State]:
    if isinstance(value, State):
        return frozenset({value})
    return frozenset(State(v) for v in value)


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
