"""The audit chain: every state change is an event that carries the hash of the one before.

An event's hash is the SHA-256 of its canonical JSON (sorted keys, no whitespace, UTF-8, times
as integer microseconds since the epoch) *including* ``prev_hash``, so changing, inserting or
removing any event breaks every later link. The store appends events in the same transaction
as the change they record. :func:`verify` walks the chain and names the first broken link.

Events that set an item's recorded facts (its envelope, subject, decision, scan, metadata ...)
carry their digests (``extra["facts"]``, decided once by ``gateway.store.base.record_facts``), so
:func:`verify_store` also finds a record changed behind the store's back and names the field.

The newest event can be rewritten consistently by someone who can write the database; anchor
the head (``sekimori audit head``) somewhere else — a ticket, a mail to the auditors — to close
that gap.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from json.encoder import encode_basestring
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gateway.store.base import AuditEvent, MessageRecord, Store

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

#: ``prev_hash`` of the first event.
GENESIS = "0" * 64


def to_micros(at: datetime) -> int:
    """Integer microseconds since the epoch (exact, unlike a float timestamp).

    >>> to_micros(datetime(1970, 1, 1, 0, 0, 1, 5, tzinfo=UTC))
    1000005
    """
    delta = at - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(us: int) -> datetime:
    """Inverse of :func:`to_micros`.

    >>> from_micros(1000005).isoformat()
    '1970-01-01T00:00:01.000005+00:00'
    """
    return _EPOCH + timedelta(microseconds=us)


#: Built once: ``json.dumps`` with options builds a new encoder per call, and every write chains.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode
#: A string as :data:`_CANONICAL` writes it (quoted, escaped, UTF-8 text left as it is).
_text = encode_basestring


def canonical(
    *,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    msg_id: str,
    from_state: str,
    to_state: str,
    reason: str,
    extra: Mapping[str, Any],
    prev_hash: str,
) -> bytes:
    """The bytes an event's hash is computed over.

    >>> canonical(seq=1, at=from_micros(0), actor="smtp", action="accept", msg_id="M",
    ...           from_state="", to_state="received", reason="", extra={}, prev_hash="0")
    b'{"action":"accept","actor":"smtp","at":0,"extra":{},"from":"","msg_id":"M","prev":"0","reason":"","seq":1,"to":"received"}'
    """
    doc = {
        "seq": seq,
        "at": to_micros(at),
        "actor": actor,
        "action": action,
        "msg_id": msg_id,
        "from": from_state,
        "to": to_state,
        "reason": reason,
        "extra": extra,
        "prev": prev_hash,
    }
    return _CANONICAL(doc).encode("utf-8")


def event_hash(**fields: Any) -> str:
    """SHA-256 (hex) of :func:`canonical` of the given event fields."""
    return hashlib.sha256(canonical(**fields)).hexdigest()


def next_event(
    last_seq: int,
    prev_hash: str,
    *,
    at: datetime,
    actor: str,
    action: str,
    msg_id: str,
    from_state: str,
    to_state: str,
    reason: str,
    extra: Mapping[str, Any] | None,
) -> AuditEvent:
    """The event that follows ``(last_seq, prev_hash)`` in the chain (``0, GENESIS`` for the first),
    with ``extra`` as it will read back from storage (its canonical JSON form) and its hash."""
    return stored_event(
        last_seq,
        prev_hash,
        at=at,
        actor=actor,
        action=action,
        msg_id=msg_id,
        from_state=from_state,
        to_state=to_state,
        reason=reason,
        extra=extra,
    )[0]


def stored_event(
    last_seq: int,
    prev_hash: str,
    *,
    at: datetime,
    actor: str,
    action: str,
    msg_id: str,
    from_state: str,
    to_state: str,
    reason: str,
    extra: Mapping[str, Any] | None,
) -> tuple[AuditEvent, str]:
    """:func:`next_event`, and the canonical JSON text of its ``extra`` for the store to write:
    the extra is encoded once, and the hashed text is put together around it (the same bytes as
    :func:`canonical`, which the tests hold it to) rather than encoded again.

    >>> event, text = stored_event(0, GENESIS, at=from_micros(1), actor="smtp", action="accept",
    ...     msg_id="M", from_state="", to_state="received", reason='"x"', extra={"b": ("é",), "a": 1})
    >>> text, event.extra, event.hash == recompute(event)
    ('{"a":1,"b":["é"]}', {'a': 1, 'b': ['é']}, True)
    """
    # At run time only: the store package imports us.
    from gateway.store.base import AuditEvent, reads_back_as_itself

    written = dict(extra or {})
    text = _CANONICAL(written)
    if reads_back_as_itself(written, text):  # the common case, checked for a fifth of a decode
        stored = written
    else:
        stored = json.loads(text)
        if stored != written:  # a tuple read back as a list, a key that was no string ...
            text = _CANONICAL(stored)
    seq = last_seq + 1
    strings = (actor, action, msg_id, from_state, to_state, reason, prev_hash)
    if all(type(v) is str for v in strings) and type(seq) is int:
        doc = (
            f'{{"action":{_text(action)},"actor":{_text(actor)},"at":{to_micros(at)},"extra":{text},'
            f'"from":{_text(from_state)},"msg_id":{_text(msg_id)},"prev":{_text(prev_hash)},'
            f'"reason":{_text(reason)},"seq":{seq},"to":{_text(to_state)}}}'
        ).encode()
    else:
        doc = canonical(
            seq=seq,
            at=at,
            actor=actor,
            action=action,
            msg_id=msg_id,
            from_state=from_state,
            to_state=to_state,
            reason=reason,
            extra=stored,
            prev_hash=prev_hash,
        )
    event = AuditEvent(
        seq=seq,
        at=at,
        actor=actor,
        action=action,
        msg_id=msg_id,
        from_state=from_state,
        to_state=to_state,
        reason=reason,
        extra=stored,
        prev_hash=prev_hash,
        hash=hashlib.sha256(doc).hexdigest(),
    )
    return event, text


def recompute(event: AuditEvent) -> str:
    """The hash ``event`` should carry, from its content."""
    return event_hash(
        seq=event.seq,
        at=event.at,
        actor=event.actor,
        action=event.action,
        msg_id=event.msg_id,
        from_state=event.from_state,
        to_state=event.to_state,
        reason=event.reason,
        extra=event.extra,
        prev_hash=event.prev_hash,
    )


@dataclass(frozen=True)
class Verification:
    """Outcome of :func:`verify`: ``broken_seq`` is the first event that fails, ``None`` if all
    ``checked`` events hold; ``head`` is the hash of the last good event. ``mismatches`` (from
    :func:`verify_store`) lists queue records that disagree with their audit trail."""

    checked: int
    head: str
    broken_seq: int | None = None
    problem: str = ""
    mismatches: tuple[str, ...] = ()
    #: Items whose facts the trail recorded only in part (accepted before digests; not sealed).
    partial: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.broken_seq is None and not self.mismatches


class _Walker:
    def __init__(self) -> None:
        self.prev = GENESIS
        self.checked = 0
        self.last_seq = 0

    def step(self, event: AuditEvent) -> Verification | None:
        fail = self._problem(event)
        if fail:
            return Verification(self.checked, self.prev, event.seq, fail)
        self.prev = event.hash
        self.last_seq = event.seq
        self.checked += 1
        return None

    def _problem(self, event: AuditEvent) -> str:
        if event.seq <= self.last_seq:
            return f"sequence goes back from {self.last_seq} to {event.seq}"
        if event.prev_hash != self.prev:
            return "prev_hash does not match the previous event (an event was changed, inserted or removed)"
        if recompute(event) != event.hash:
            return "content does not match its hash (the event was changed)"
        return ""

    def done(self) -> Verification:
        return Verification(self.checked, self.prev)


def verify(events: Iterable[AuditEvent]) -> Verification:
    """Walk ``events`` (in chain order) and report the first broken link."""
    walker = _Walker()
    for event in events:
        bad = walker.step(event)
        if bad is not None:
            return bad
    return walker.done()


async def iter_events(store: Store, *, page: int = 1000) -> AsyncIterator[AuditEvent]:
    """Every event of ``store`` in chain order, fetched a page at a time."""
    after = 0
    while True:
        batch = await store.audit_events(after_seq=after, limit=page)
        for event in batch:
            yield event
        if len(batch) < page:
            return
        after = batch[-1].seq


@dataclass
class _Expected:
    state: str
    sha256: str
    has_raw: bool = True
    #: The digests of the item's facts as its events recorded them (``gateway.store.base.record_facts``).
    facts: dict[str, str] = field(default_factory=dict)
    #: Whether ``facts`` holds every fact (an ``accept``/``create``/``seal`` recorded them all),
    #: or only those changed since an item accepted before events carried digests.
    complete: bool = False


#: Events that record the digests of all of an item's facts.
_ALL_FACTS = ("accept", "create", "seal")


def _track(expected: dict[str, _Expected], event: AuditEvent, discards: frozenset[str], key: str) -> None:
    """What the queue record of ``event.msg_id`` must look like after ``event``."""
    facts = event.extra.get(key)
    if event.action in ("accept", "create"):
        body = event.action == "accept" or bool(event.extra.get("body", True))
        expected[event.msg_id] = _Expected(event.to_state, str(event.extra.get("sha256", "")), body)
    exp = expected.get(event.msg_id)
    if exp is None:
        return
    if isinstance(facts, dict):
        if event.action in _ALL_FACTS:
            exp.facts, exp.complete = {}, True
        for name, digest in facts.items():
            if digest:
                exp.facts[str(name)] = str(digest)
            else:
                exp.facts.pop(str(name), None)
    if event.action in ("accept", "create", "seal"):
        return
    if event.action == "transition" or event.to_state != event.from_state:
        # A transition, or a change of state recorded under its own name (a link used up).
        exp.state = event.to_state
        if event.to_state in discards:
            exp.has_raw = False
    elif event.action == "replace_raw":
        exp.sha256 = str(event.extra.get("sha256", ""))
    elif event.action == "purge":
        exp.has_raw = False


def _differences(rec: MessageRecord, exp: _Expected) -> list[str]:
    from gateway.store.base import record_facts

    problems: list[str] = []
    if rec.state.value != exp.state:
        problems.append(f"message {rec.id} is {rec.state.value} but its audit trail says {exp.state}")
    if rec.sha256 != exp.sha256:
        problems.append(f"message {rec.id}: its body hash differs from the audited one")
    if rec.has_raw and not exp.has_raw:
        problems.append(f"message {rec.id} has a body although its audit trail removed it")
    now = record_facts(rec)
    names = sorted({*exp.facts, *now}) if exp.complete else sorted(exp.facts)
    problems.extend(
        f"message {rec.id}: its {name} differs from the audited one"
        for name in names
        if now.get(name) != exp.facts.get(name)
    )
    return problems


async def _compare(store: Store, expected: dict[str, _Expected]) -> tuple[list[str], list[str]]:
    """The problems found, and the items whose facts were recorded only in part (accepted
    before events carried digests, never sealed)."""
    problems: list[str] = []
    partial: list[str] = []
    cursor: str | None = None
    while True:
        page = await store.list_messages(before=cursor, limit=1000)
        for rec in page:
            exp = expected.pop(rec.id, None)
            if exp is None:
                problems.append(f"message {rec.id} has no audit trail")
                continue
            problems.extend(_differences(rec, exp))
            if not exp.complete:
                partial.append(rec.id)
        if len(page) < 1000:
            break
        cursor = page[-1].id
    problems.extend(
        f"message {msg_id} is in the audit trail but not in the queue" for msg_id in sorted(expected)
    )
    return problems, partial


async def verify_store(store: Store) -> Verification:
    """:func:`verify` over the whole chain of ``store``, then check every queue record against
    its audit trail: its state, body hash and body presence, and the digest of each recorded
    fact (envelope, subject, decision, scan, meta ...; see
    :func:`gateway.store.base.record_facts`) against the digest its newest event that set it
    carried; and that no record is missing or lacks a trail. A change made to the queue behind
    the store's back shows up, naming the item and the field, although the queue itself is not
    chained. An item accepted before events carried digests is checked in the facts changed
    since (``partial`` lists it) until ``sekimori audit seal`` records them all."""
    # Imported here: the store package imports this module for the chain primitives.
    from gateway.store.base import DISCARDS_RAW, FACTS_KEY

    discards = frozenset(s.value for s in DISCARDS_RAW)
    walker = _Walker()
    expected: dict[str, _Expected] = {}
    async for event in iter_events(store):
        bad = walker.step(event)
        if bad is not None:
            return bad
        _track(expected, event, discards, FACTS_KEY)
    result = walker.done()
    mismatches, partial = await _compare(store, expected)
    return Verification(result.checked, result.head, mismatches=tuple(mismatches), partial=tuple(partial))
