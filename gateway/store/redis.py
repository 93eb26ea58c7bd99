"""The shared store: Redis, for several gateway instances on one queue (``store.url: redis://...``).

Keys (all under a prefix, default ``sekimori:``)::

    msg:<id>               hash: the message record (times as integer microseconds, "" for none)
                           plus ``ver``, a counter bumped by every write (compare-and-set)
    raw:<id>:<sha16>       string: the raw message; the name carries the start of its SHA-256,
                           so a replaced body never overwrites the committed one
    ids                    sorted set (all scores 0, ordered by id): every message
    state:<state>          sorted set by id: messages in that state (listing, paging)
    sender:<address>       sorted set by id: messages from that sender
    timer                  sorted set, score = release_at / next_attempt_at / expires_at of
                           held / deferred / pending_approval messages: :meth:`RedisStore.due`
    active                 sorted set, score = lease_until (0 = unowned) of received/delivering
                           messages: :meth:`RedisStore.due` and :meth:`RedisStore.recover`
    corr:<sender>          set: domains the sender has had mail delivered to
    audit:head             "<seq> <hash>" of the newest audit event
    audit:events           hash: seq -> the event as canonical JSON (with its hash)
    audit:msg:<id>         list: the seqs of one message's events

Durability: the gateway answers 250 only after the message is durable, so :meth:`RedisStore.open`
requires the server to run with ``appendonly yes`` and ``appendfsync always`` (read with
``CONFIG GET``) and refuses to open otherwise. With ``appendfsync always`` Redis writes and
fsyncs the append-only file before it sends the reply of a write, so every write this store has
seen acknowledged is on disk. (``WAITAOF`` would allow a weaker server setting, but it exists
only from Redis 7.2 and must run on the connection that wrote; one rule that the operator sets
once is simpler to check and to reason about.) A server whose ``CONFIG`` command is disabled
cannot be checked and is refused too.

Writes: every change of a message is one Lua script that checks the message's ``ver`` and the
audit chain's head, then writes the record, its indexes and the audit event together (a script
runs atomically and reaches the append-only file as one unit). The event's hash is SHA-256 over
the canonical JSON of :mod:`gateway.audit`, which Lua cannot compute, so the store reads the
record and the head, builds the event in Python and lets the script commit it only if neither
moved meanwhile; otherwise it reads again and retries. Within one instance writes are
serialised by a lock, so retries happen only between instances. This is what makes
:meth:`RedisStore.claim` exactly-once across instances: of several claimers that read the same
``ver``, one script succeeds and the others see the new state on their retry.

One server (with replicas if wanted, but the durability rule is checked on the one the URL
names); Redis Cluster is not supported, since one commit touches keys of many hash slots.

A body is written first (``SET ... NX PX``, with a one-hour expiry) and made permanent by the
script that commits its record, so a crash between the two leaves nothing behind: the orphan
expires by itself, and :meth:`RedisStore.recover` has no spool to sweep.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime
from hashlib import sha256
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gateway.audit import GENESIS, from_micros, to_micros
from gateway.store.base import (
    ACTIVE,
    DEFAULT_LEASE,
    AuditEvent,
    Body,
    EventDraft,
    InvalidTransition,
    ItemKind,
    MessageRecord,
    NotFound,
    Plan,
    SpoolCorrupt,
    Staged,
    State,
    Store,
    StoreError,
    StoreStats,
    canonical_json,
    chain,
    decode_record,
    is_due,
    note_event,
    plan_recover,
    timer_of,
)
from policies.model import normalize_domain

#: How long a body written ahead of its record lives if the record never comes (milliseconds).
ORPHAN_TTL_MS = 3_600_000

#: Give up on a write that kept losing races for this many rounds (another instance is busy).
MAX_ROUNDS = 1000

_TIME_FIELDS = ("release_at", "next_attempt_at", "expires_at", "lease_until", "received_at", "updated_at")

# KEYS[1] message hash, KEYS[2] audit head, KEYS[3] audit events, KEYS[4] the message's event list,
# KEYS[5..] keys of the index operations.
# ARGV[1] expected ver ("" = the message must not exist), ARGV[2] expected audit head ("-" = no
# event), ARGV[3] new head, ARGV[4] event seq, ARGV[5] event JSON, ARGV[6] number of fields n,
# then n field/value pairs, then operations of four words: name, key index, score, member.
_COMMIT = """
local ver = redis.call('HGET', KEYS[1], 'ver')
if ARGV[1] == '' then
  if ver then return 0 end
elseif ver ~= ARGV[1] then
  return 0
end
if ARGV[2] ~= '-' then
  local head = redis.call('GET', KEYS[2]) or ''
  if head ~= ARGV[2] then return 0 end
end
local nf = tonumber(ARGV[6])
local first_op = 7 + 2 * nf
for i = first_op, #ARGV, 4 do
  if ARGV[i] == 'persist' and redis.call('EXISTS', KEYS[tonumber(ARGV[i + 1])]) == 0 then
    return -1
  end
end
if ARGV[2] ~= '-' then
  redis.call('HSET', KEYS[3], ARGV[4], ARGV[5])
  redis.call('RPUSH', KEYS[4], ARGV[4])
  redis.call('SET', KEYS[2], ARGV[3])
end
if nf > 0 then
  local fields = {}
  for i = 7, first_op - 1 do fields[#fields + 1] = ARGV[i] end
  redis.call('HSET', KEYS[1], unpack(fields))
  redis.call('HINCRBY', KEYS[1], 'ver', 1)
end
for i = first_op, #ARGV, 4 do
  local op, key, score, member = ARGV[i], KEYS[tonumber(ARGV[i + 1])], ARGV[i + 2], ARGV[i + 3]
  if op == 'zadd' then
    redis.call('ZADD', key, score, member)
  elseif op == 'zrem' then
    redis.call('ZREM', key, member)
  elseif op == 'sadd' then
    redis.call('SADD', key, member)
  elseif op == 'del' then
    redis.call('DEL', key)
  elseif op == 'persist' then
    redis.call('PERSIST', key)
  end
end
return 1
"""


def _text(value: bytes | str) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value


def _hash_value(value: Any) -> str:
    """A stored field (:data:`gateway.store.base.Row`) as a hash value: ``None`` is ``""``."""
    return "" if value is None else str(value)


def _event_json(event: AuditEvent) -> str:
    return canonical_json(
        {
            "seq": event.seq,
            "at": to_micros(event.at),
            "actor": event.actor,
            "action": event.action,
            "msg_id": event.msg_id,
            "from": event.from_state,
            "to": event.to_state,
            "reason": event.reason,
            "extra": event.extra,
            "prev": event.prev_hash,
            "hash": event.hash,
        }
    )


def _parse_event(seq: int, data: bytes | None) -> AuditEvent:
    """An event as stored; one that cannot be read becomes an event that breaks the chain at
    its place, so :func:`gateway.audit.verify` names it instead of failing."""
    try:
        if data is None:
            raise ValueError("missing")
        d = json.loads(data)
        return AuditEvent(
            seq=int(d["seq"]),
            at=from_micros(int(d["at"])),
            actor=str(d["actor"]),
            action=str(d["action"]),
            msg_id=str(d["msg_id"]),
            from_state=str(d["from"]),
            to_state=str(d["to"]),
            reason=str(d["reason"]),
            extra=dict(d["extra"]),
            prev_hash=str(d["prev"]),
            hash=str(d["hash"]),
        )
    except (ValueError, KeyError, TypeError):
        return AuditEvent(
            seq=seq,
            at=from_micros(0),
            actor="",
            action="unreadable",
            msg_id="",
            from_state="",
            to_state="",
            reason="the stored event cannot be read",
            extra={},
            prev_hash="",
            hash="",
        )


class _Write:
    """One commit: the record fields to set and the index operations, built before the script."""

    def __init__(self, store: RedisStore, msg_id: str) -> None:
        self.store = store
        self.msg_id = msg_id
        self.fields: dict[str, str] = {}
        self.keys: list[str] = [
            store._k("msg", msg_id),
            store._k("audit:head"),
            store._k("audit:events"),
            store._k("audit:msg", msg_id),
        ]
        self.ops: list[str] = []

    @classmethod
    def of(cls, store: RedisStore, plan: Plan, old: MessageRecord | None) -> _Write:
        """The commit that persists ``plan`` over ``old`` (``None``: a new record)."""
        w = cls(store, plan.record.id)
        w.fields = {k: _hash_value(v) for k, v in plan.sets.items()}
        if plan.drop_body is not None:
            w.op("del", store._raw_key(w.msg_id, plan.drop_body))
        for sender, domain in plan.correspondents:
            w.op("sadd", store._k("corr", sender), domain)
        w.index(old, plan.record)
        return w

    def op(self, name: str, key: str, member: str = "", score: str = "0") -> None:
        self.keys.append(key)
        self.ops.extend((name, str(len(self.keys)), score, member))

    def index(self, old: MessageRecord | None, new: MessageRecord) -> None:
        """Keep the state, timer and lease indexes in step with ``new``."""
        s = self.store
        if old is not None and old.state is not new.state:
            self.op("zrem", s._k("state", old.state.value), self.msg_id)
        self.op("zadd", s._k("state", new.state.value), self.msg_id)
        at = timer_of(new)
        if at is not None:
            self.op("zadd", s._k("timer"), self.msg_id, str(to_micros(at)))
        else:
            self.op("zrem", s._k("timer"), self.msg_id)
        if new.state in ACTIVE:
            lease = "0" if new.lease_until is None else str(to_micros(new.lease_until))
            self.op("zadd", s._k("active"), self.msg_id, lease)
        else:
            self.op("zrem", s._k("active"), self.msg_id)


class RedisStore(Store):
    """The shared :class:`~gateway.store.base.Store`. Open with :meth:`open`."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "sekimori:",
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.url = url
        self.prefix = prefix
        self._clock = clock or (lambda: datetime.now(UTC))
        self._client: aioredis.Redis = aioredis.Redis.from_url(url, decode_responses=False)
        self._commit = self._client.register_script(_COMMIT)
        self._lock = asyncio.Lock()
        self._closed = False

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        prefix: str = "sekimori:",
        clock: Callable[[], datetime] | None = None,
    ) -> RedisStore:
        """Connect and check that the server makes every acknowledged write durable."""
        store = cls(url, prefix=prefix, clock=clock)
        try:
            await store._check_durability()
        except BaseException:
            await store.close()
            raise
        return store

    async def _check_durability(self) -> None:
        try:
            raw = await self._exec("CONFIG", "GET", "append*")
        except RedisError as exc:
            raise StoreError(
                f"{self._where()}: Redis の永続化設定を確認できません / cannot check the server's"
                f" persistence settings (CONFIG GET): {exc}"
            ) from exc
        if isinstance(raw, dict):
            pairs = {_text(k): _text(v) for k, v in raw.items()}
        else:
            items = [_text(v) for v in raw]
            pairs = dict(zip(items[::2], items[1::2], strict=True))
        if pairs.get("appendonly") != "yes" or pairs.get("appendfsync") != "always":
            raise StoreError(
                f"{self._where()}: Redis は appendonly yes と appendfsync always で動かしてください"
                " / the Redis server must run with 'appendonly yes' and 'appendfsync always' so"
                " that an accepted message is on disk before the gateway answers 250 (it has"
                f" appendonly {pairs.get('appendonly')!r}, appendfsync {pairs.get('appendfsync')!r})"
            )

    # -- plumbing -------------------------------------------------------------------------

    def _where(self) -> str:
        host = self.url.rpartition("@")[2]  # never show a password
        return f"redis store {host}"

    def _k(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def _raw_key(self, msg_id: str, digest: str) -> str:
        return self._k("raw", msg_id, digest[:16])

    async def _exec(self, *args: Any) -> Any:
        # redis-py leaves the client's execute_command unannotated; every command goes through here.
        return await self._client.execute_command(*args)  # type: ignore[no-untyped-call]

    async def _call(self, *args: Any) -> Any:
        if self._closed:
            raise StoreError("the store is closed")
        try:
            return await self._exec(*args)
        except RedisError as exc:
            raise StoreError(f"{self._where()}: {exc}") from exc

    async def _read(self, msg_id: str) -> tuple[dict[str, str] | None, str]:
        """The message's hash (``None`` if absent) and the audit head, read together."""
        if self._closed:
            raise StoreError("the store is closed")
        try:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.execute_command("HGETALL", self._k("msg", msg_id))
                pipe.execute_command("GET", self._k("audit:head"))
                found, head = await pipe.execute()
        except RedisError as exc:
            raise StoreError(f"{self._where()}: {exc}") from exc
        return self._decode_hash(found), "" if head is None else _text(head)

    @staticmethod
    def _decode_hash(found: Any) -> dict[str, str] | None:
        if not found:
            return None
        return {_text(k): _text(v) for k, v in found.items()}

    async def _records(self, ids: Sequence[str]) -> list[MessageRecord]:
        if not ids:
            return []
        if self._closed:
            raise StoreError("the store is closed")
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for i in ids:
                    pipe.execute_command("HGETALL", self._k("msg", i))
                rows = await pipe.execute()
        except RedisError as exc:
            raise StoreError(f"{self._where()}: {exc}") from exc
        return [decode_record(h) for row in rows if (h := self._decode_hash(row)) is not None]

    @staticmethod
    def _event(head: str, draft: EventDraft | None) -> AuditEvent | None:
        """``draft`` chained after the head read with the record (``"<seq> <hash>"``)."""
        if draft is None:
            return None
        last_seq, _, prev = head.partition(" ") if head else ("0", "", GENESIS)
        return chain(draft, int(last_seq), prev)

    async def _apply(self, w: _Write, *, ver: str, head: str, event: AuditEvent | None) -> bool:
        """Run the commit script; ``False`` when the record or the chain moved (read again)."""
        args: list[str] = [ver]
        if event is None:
            args += ["-", "", "", ""]
        else:
            args += [head, f"{event.seq} {event.hash}", str(event.seq), _event_json(event)]
        args.append(str(len(w.fields)))
        for k, v in w.fields.items():
            args += [k, v]
        args += w.ops
        if self._closed:
            raise StoreError("the store is closed")
        try:
            result = await self._commit(keys=w.keys, args=args)
        except RedisError as exc:
            raise StoreError(f"{self._where()}: {exc}") from exc
        if result == -1:
            raise SpoolCorrupt(f"{w.msg_id}: the body written for this change has vanished")
        return bool(result == 1)

    async def _put_body(self, msg_id: str, raw: Body) -> tuple[str, str, int, bool]:
        """Write ``raw`` ahead of its record, expiring unless a commit makes it permanent.
        Returns the key, the SHA-256, the size and whether this call created the key."""
        if not isinstance(raw, bytes):
            try:
                raw = await asyncio.to_thread(Path(raw).read_bytes)
            except OSError as exc:
                raise StoreError(f"cannot read the body for {msg_id}: {exc}") from exc
        digest = sha256(raw).hexdigest()
        key = self._raw_key(msg_id, digest)
        created = await self._call("SET", key, raw, "NX", "PX", ORPHAN_TTL_MS)
        return key, digest, len(raw), created is not None

    async def _drop(self, key: str) -> None:
        try:
            await self._exec("DEL", key)
        except RedisError:
            return  # it expires by itself

    # -- the Store protocol ---------------------------------------------------------------

    async def _stage(self, msg_id: str, raw: Body) -> Staged:
        key, digest, size, created = await self._put_body(msg_id, raw)
        return Staged(key, digest, size, created)

    async def _unstage(self, msg_id: str, staged: Staged, error: BaseException) -> None:
        # Only a write refused before its commit surely left the body unused; after any other
        # failure the commit may have happened (a lost reply), and an unused body expires.
        if staged.created and isinstance(error, (NotFound, InvalidTransition)):
            await self._drop(staged.ref)

    async def _insert(self, plan: Plan, staged: Staged) -> None:
        # ``sync`` asks nothing of Redis: the server's appendfsync makes every write durable.
        msg_id = plan.record.id
        async with self._lock:
            for _ in range(MAX_ROUNDS):
                _, head = await self._read(msg_id)
                w = _Write.of(self, plan, None)
                if staged.ref is not None:
                    w.op("persist", staged.ref)
                w.op("zadd", self._k("ids"), msg_id)
                w.op("zadd", self._k("sender", plan.record.sender), msg_id)
                if await self._apply(w, ver="", head=head, event=self._event(head, plan.event)):
                    return
        raise StoreError(f"{self._where()}: too many concurrent writers; try again")

    async def _change(
        self,
        msg_id: str,
        decide: Callable[[MessageRecord, datetime], Plan | None],
        *,
        staged: Staged | None = None,
    ) -> Plan | None:
        # Read the record with the audit head; commit only if neither moved, else read again.
        async with self._lock:
            for _ in range(MAX_ROUNDS):
                h, head = await self._read(msg_id)
                if h is None:
                    raise NotFound(msg_id)
                rec = decode_record(h)
                plan = decide(rec, self._now())
                if plan is None:
                    return None
                w = _Write.of(self, plan, rec)
                if staged is not None:
                    w.op("persist", staged.ref)
                if await self._apply(w, ver=h["ver"], head=head, event=self._event(head, plan.event)):
                    return plan
        raise StoreError(f"{self._where()}: too many concurrent writers on {msg_id}; try again")

    async def get(self, msg_id: str) -> MessageRecord | None:
        h = self._decode_hash(await self._call("HGETALL", self._k("msg", msg_id)))
        return None if h is None else decode_record(h)

    async def _read_body(self, rec: MessageRecord) -> tuple[bytes | None, str]:
        key = self._raw_key(rec.id, rec.sha256)
        raw = await self._call("GET", key)
        return (None if raw is None else bytes(raw)), key

    async def _ids_before(self, key: str, before: str | None, count: int) -> list[str]:
        top = "+" if before is None else f"({before}"
        found = await self._call("ZREVRANGEBYLEX", key, top, "-", "LIMIT", 0, count)
        return [_text(v) for v in found]

    async def list_messages(
        self,
        *,
        states: Collection[State] | None = None,
        sender: str | None = None,
        before: str | None = None,
        limit: int = 100,
        kinds: Collection[ItemKind] | None = None,
    ) -> list[MessageRecord]:
        kind_set = None if kinds is None else frozenset(ItemKind(k) for k in kinds)
        if kind_set is not None and not kind_set:
            return []
        if states is not None:
            wanted = frozenset(State(s) for s in states)
            if not wanted:
                return []
            sources = [self._k("state", s.value) for s in sorted(wanted)]
        elif sender is not None:
            sources = [self._k("sender", sender)]
        else:
            sources = [self._k("ids")]
        out: list[MessageRecord] = []
        cursor = before
        batch = max(int(limit), 1)
        while len(out) < limit:
            merged: set[str] = set()
            for key in sources:
                merged.update(await self._ids_before(key, cursor, batch))
            ids = sorted(merged, reverse=True)[:batch]
            if not ids:
                break
            for rec in await self._records(ids):
                if (
                    (states is None or rec.state in wanted)
                    and (sender is None or rec.sender == sender)
                    and (kind_set is None or rec.kind in kind_set)
                ):
                    out.append(rec)
            if len(ids) < batch:
                break
            cursor = ids[-1]
        out.sort(key=lambda r: r.id, reverse=True)
        return out[: int(limit)]

    async def due(self, now: datetime, *, limit: int = 1000) -> list[MessageRecord]:
        # Candidates through the timer and lease indexes; is_due decides.
        t = to_micros(now)
        timers = await self._call("ZRANGEBYSCORE", self._k("timer"), "-inf", t)
        loose = await self._call("ZRANGEBYSCORE", self._k("active"), "-inf", t)
        ids = sorted({_text(v) for v in (*timers, *loose)})
        out: list[MessageRecord] = []
        step = max(int(limit), 1)
        for start in range(0, len(ids), step):
            out += [rec for rec in await self._records(ids[start : start + step]) if is_due(rec, now)]
            if len(out) >= limit:
                break
        return out[: int(limit)]

    async def recover(self, owner: str, *, lease: float = DEFAULT_LEASE) -> list[MessageRecord]:
        found = await self._call("ZRANGE", self._k("active"), 0, -1)
        out: list[MessageRecord] = []

        def decide(rec: MessageRecord, now: datetime) -> Plan | None:
            return plan_recover(rec, owner=owner, lease=lease, now=now)

        for msg_id in sorted(_text(v) for v in found):
            try:
                plan = await self._change(msg_id, decide)
            except NotFound:
                continue
            if plan is not None:
                out.append(plan.record)
        return out

    async def note(
        self,
        msg_id: str,
        *,
        action: str,
        actor: str,
        reason: str,
        extra: Mapping[str, Any] | None = None,
    ) -> AuditEvent:
        async with self._lock:
            for _ in range(MAX_ROUNDS):
                h, head = await self._read(msg_id)
                rec = None if h is None else decode_record(h)
                draft = note_event(
                    msg_id, rec, action=action, actor=actor, reason=reason, extra=extra, now=self._now()
                )
                event = self._event(head, draft)
                assert event is not None
                ver = "" if h is None else h["ver"]
                if await self._apply(_Write(self, msg_id), ver=ver, head=head, event=event):
                    return event
        raise StoreError(f"{self._where()}: too many concurrent writers; try again")

    async def has_written_to(self, sender: str, domain: str) -> bool:
        found = await self._call("SISMEMBER", self._k("corr", sender.lower()), normalize_domain(domain))
        return bool(found)

    async def known_domains(self, sender: str) -> frozenset[str]:
        found = await self._call("SMEMBERS", self._k("corr", sender.lower()))
        return frozenset(_text(v) for v in found)

    async def stats(self) -> StoreStats:
        counts: dict[State, int] = {}
        for state in State:
            n = int(await self._call("ZCARD", self._k("state", state.value)))
            if n:
                counts[state] = n
        head = await self._call("GET", self._k("audit:head"))
        return StoreStats(counts, 0 if head is None else int(_text(head).partition(" ")[0]))

    async def audit_events(
        self, *, msg_id: str | None = None, after_seq: int = 0, limit: int = 1000
    ) -> list[AuditEvent]:
        if msg_id is None:
            head = await self._call("GET", self._k("audit:head"))
            last = 0 if head is None else int(_text(head).partition(" ")[0])
            seqs = list(range(after_seq + 1, min(last, after_seq + int(limit)) + 1))
        else:
            listed = await self._call("LRANGE", self._k("audit:msg", msg_id), 0, -1)
            seqs = sorted(s for v in listed if (s := int(_text(v))) > after_seq)[: int(limit)]
        if not seqs:
            return []
        found = await self._call("HMGET", self._k("audit:events"), *seqs)
        return [_parse_event(seq, data) for seq, data in zip(seqs, found, strict=True)]

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._client.aclose()
