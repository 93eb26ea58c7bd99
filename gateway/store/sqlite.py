"""The embedded store: SQLite (WAL, ``synchronous=FULL``) plus one spool file per message.

Layout under the base folder (default ``var/``)::

    sekimori.db                 messages, audit chain, correspondents
    spool/<id>-<sha16>.eml      the raw message; the name carries the id and the start of its
                                SHA-256, so a replaced body never overwrites the committed one
    spool/tmp/                  bodies being written; never read as messages

Durability (Postfix's ``mail_stream.c`` rule): the body is written to ``spool/tmp``, flushed,
fsynced and closed (``close()`` checked), renamed into ``spool/``, and the directory is fsynced;
only then is the row committed. A crash between the rename and the commit leaves an orphan file
that no row refers to, which :meth:`SQLiteStore.recover` removes. An empty body (the record an
upload opens before its content is judged) has no file at all: there is nothing to make durable,
so it costs no write, fsync or unlink, and it reads back as ``b""``.

All SQLite calls run on one dedicated thread that owns the one connection, so the event loop
never blocks and writes are serialised; transactions are ``BEGIN IMMEDIATE``, so the read of the
current state and the write that depends on it (compare-and-set, the audit chain's previous
hash) happen under the write lock, also across processes (the operator CLI opens the same
database while the gateway runs). Writes queued while a transaction commits are group-committed
in the next one (see :meth:`SQLiteStore._write`).

One gateway process owns an embedded store (several instances need the Redis backend); the
operator CLI may open it at the same time. :meth:`SQLiteStore.recover` sweeps unreferenced spool
files, so the gateway calls it at start, before it accepts mail.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import queue
import secrets
import sqlite3
import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from hashlib import sha256
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from gateway.audit import GENESIS, from_micros, to_micros
from gateway.store.base import (
    ACTIVE,
    DEFAULT_LEASE,
    NO_BODY,
    TIMER_FIELD,
    AuditEvent,
    Body,
    Decided,
    EventDraft,
    ItemKind,
    MessageRecord,
    NotFound,
    Plan,
    Staged,
    State,
    Store,
    StoreError,
    StoreStats,
    ThenPlan,
    chain_stored,
    decode_record,
    is_due,
    new_id,
    note_event,
    plan_decided,
    plan_recover,
)
from policies.model import normalize_domain

log = logging.getLogger(__name__)

T = TypeVar("T")

DB_NAME = "sekimori.db"
SCHEMA_VERSION = 3

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    sender TEXT NOT NULL,
    recipients TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    subject TEXT NOT NULL DEFAULT '',
    release_at INTEGER,
    next_attempt_at INTEGER,
    expires_at INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    decision TEXT NOT NULL DEFAULT '{}',
    scan TEXT NOT NULL DEFAULT '{}',
    last_error TEXT NOT NULL DEFAULT '',
    approvers TEXT NOT NULL DEFAULT '[]',
    meta TEXT NOT NULL DEFAULT '{}',
    owner TEXT,
    lease_until INTEGER,
    has_raw INTEGER NOT NULL DEFAULT 1,
    kind TEXT NOT NULL DEFAULT 'mail',
    file_key TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS messages_state ON messages (state, id);
CREATE INDEX IF NOT EXISTS messages_sender ON messages (sender, id);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    msg_id TEXT NOT NULL,
    from_state TEXT NOT NULL,
    to_state TEXT NOT NULL,
    reason TEXT NOT NULL,
    extra TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_msg ON audit (msg_id, seq);
CREATE TABLE IF NOT EXISTS correspondents (
    sender TEXT NOT NULL,
    domain TEXT NOT NULL,
    first_at INTEGER NOT NULL,
    PRIMARY KEY (sender, domain)
) WITHOUT ROWID;
"""


def _copy(source: os.PathLike[str], out: BinaryIO) -> tuple[str, int]:
    """Copy a file into ``out`` in chunks; its SHA-256 and size."""
    h = sha256()
    size = 0
    with open(source, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
            out.write(chunk)
            size += len(chunk)
    return h.hexdigest(), size


#: The SHA-256 of an empty body (which has no spool file).
EMPTY_SHA256 = sha256(b"").hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _StoreThread:
    """The one thread that uses the store's connection: it runs the functions put to it, in
    order. Lighter than a one-worker ``ThreadPoolExecutor``, whose every call makes a
    ``concurrent.futures.Future`` (with a ``Condition``) and takes its idle semaphore on both
    sides, work done with the GIL at each hand-over between the event loop and this thread."""

    def __init__(self, name: str) -> None:
        self._queue: queue.SimpleQueue[Callable[[], object] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)

    def _main(self) -> None:
        get = self._queue.get
        while (fn := get()) is not None:
            try:
                fn()
            except BaseException:  # each function settles its own outcome; never stop serving
                log.exception("store thread: a job failed")

    def put(self, fn: Callable[[], object]) -> None:
        if self._thread.ident is None:  # started on first use, as an executor's worker is
            self._thread.start()
        self._queue.put(fn)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in this thread; its result or exception."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()

        def settle(ok: bool, value: Any) -> None:
            if fut.done():
                return
            if ok:
                fut.set_result(value)
            elif isinstance(value, StopIteration):  # a future cannot carry one
                fut.set_exception(RuntimeError(f"store thread: {value!r}"))
            else:
                fut.set_exception(value)

        def job() -> None:
            try:
                result = fn(*args)
            except BaseException as exc:
                loop.call_soon_threadsafe(settle, False, exc)
            else:
                loop.call_soon_threadsafe(settle, True, result)

        self.put(job)
        return await fut

    def stop(self) -> None:
        """Let the functions already put run, then end the thread."""
        if self._thread.ident is not None:
            self._queue.put(None)
            self._thread.join()


class SQLiteStore(Store):
    """The embedded :class:`~gateway.store.base.Store`. Open with :meth:`open`."""

    def __init__(
        self,
        base: str | os.PathLike[str] = "var",
        *,
        clock: Callable[[], datetime] | None = None,
        busy_timeout: float = 30.0,
    ) -> None:
        self.base = Path(base)
        self.db_path = self.base / DB_NAME
        self.spool = self.base / "spool"
        self.tmp = self.spool / "tmp"
        self._clock = clock or (lambda: datetime.now(UTC))
        self._busy_timeout = busy_timeout
        self._thread = _StoreThread("sekimori-store")
        self._conn: sqlite3.Connection | None = None
        self._closed = False
        self._lock = threading.Lock()
        self._pending: list[tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any]]] = []
        self._flush_scheduled = False

    @classmethod
    async def open(
        cls,
        base: str | os.PathLike[str] = "var",
        *,
        clock: Callable[[], datetime] | None = None,
        busy_timeout: float = 30.0,
    ) -> SQLiteStore:
        store = cls(base, clock=clock, busy_timeout=busy_timeout)
        try:
            await store._run(store._connect)
        except BaseException:
            await store.close()
            raise
        return store

    # -- plumbing -------------------------------------------------------------------------

    def _connect(self) -> None:
        for d in (self.base, self.spool, self.tmp):
            d.mkdir(mode=0o700, parents=True, exist_ok=True)
        conn = sqlite3.connect(self.db_path, timeout=self._busy_timeout, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(f"{self.db_path}: cannot switch SQLite to WAL mode (got {mode})")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute(f"PRAGMA busy_timeout={int(self._busy_timeout * 1000)}")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.db_path}: schema version {version} is newer than this Sekimori ({SCHEMA_VERSION})"
                )
            with self._tx(conn):
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                columns = {r["name"] for r in conn.execute("PRAGMA table_info(messages)")}
                if "kind" not in columns:  # version 1: every item was a message
                    conn.execute("ALTER TABLE messages ADD COLUMN kind TEXT NOT NULL DEFAULT 'mail'")
                if "file_key" not in columns:  # version 2: no attachments kept for links
                    conn.execute("ALTER TABLE messages ADD COLUMN file_key TEXT NOT NULL DEFAULT ''")
                conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            for d in (self.base, self.spool):
                _fsync_dir(d)
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    @staticmethod
    @contextlib.contextmanager
    def _tx(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    async def _write(self, job: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``job`` inside a write transaction, group-committed with the jobs queued meanwhile.

        Each job runs in its own savepoint, so one job's error undoes only that job; the batch
        shares one ``COMMIT`` (one WAL fsync), which is what keeps many concurrent SMTP sessions
        from queueing behind one fsync each. A job's result is delivered only after the commit.
        """
        result: T = await self._submit(job)
        return result

    def _submit(self, job: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]:
        """Queue ``job`` for :meth:`_write` now; the future settles after its commit."""
        if self._closed:
            raise StoreError("the store is closed")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        with self._lock:
            self._pending.append((job, fut))
            start = not self._flush_scheduled
            self._flush_scheduled = True
        if start:
            self._thread.put(functools.partial(self._flush, loop))
        return fut

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
            self._flush_scheduled = False
        outcomes: list[tuple[bool, Any]] = []
        try:
            conn = self._db()
            conn.execute("BEGIN IMMEDIATE")
            try:
                if len(batch) == 1:
                    # Alone in its transaction, a job needs no savepoint: if it fails, nothing
                    # else is committed with it (two statements, and two waits for the GIL, less).
                    job = batch[0][0]
                    try:
                        outcomes.append((True, job(conn)))
                    except Exception as exc:
                        conn.execute("ROLLBACK")
                        outcomes.append((False, exc))
                    else:
                        conn.execute("COMMIT")
                else:
                    for job, _ in batch:
                        conn.execute("SAVEPOINT job")
                        try:
                            outcomes.append((True, job(conn)))
                        except Exception as exc:
                            conn.execute("ROLLBACK TO job")
                            outcomes.append((False, exc))
                        conn.execute("RELEASE job")
                    conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except Exception as exc:
            failure = exc if isinstance(exc, StoreError) else StoreError(f"{self.db_path}: {exc}")
            failure.__cause__ = exc if failure is not exc else None
            outcomes = [(False, failure)] * len(batch)
        # One wake-up of the loop for the batch (each call is a handle and a write to its pipe).
        settled = [(fut, outcome) for (_, fut), outcome in zip(batch, outcomes, strict=True)]
        loop.call_soon_threadsafe(self._settle_all, settled)

    def _settle_all(self, settled: list[tuple[asyncio.Future[Any], tuple[bool, Any]]]) -> None:
        for fut, outcome in settled:
            try:
                self._settle(fut, outcome)
            except Exception as exc:  # (StopIteration cannot be set): the others still settle
                if not fut.done():
                    fut.set_exception(StoreError(f"{self.db_path}: {exc}"))

    def _settle(self, fut: asyncio.Future[Any], outcome: tuple[bool, Any]) -> None:
        if fut.done():
            return
        ok, value = outcome
        if ok:
            fut.set_result(value)
        elif isinstance(value, sqlite3.Error):
            err = StoreError(f"{self.db_path}: {value}")
            err.__cause__ = value
            fut.set_exception(err)
        else:
            fut.set_exception(value)

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._closed:
            raise StoreError("the store is closed")
        try:
            return await self._thread.run(fn, *args)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"{self.db_path}: {exc}") from exc

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError("the store is not open")
        return self._conn

    def _spool_path(self, msg_id: str, digest: str) -> Path:
        return self.spool / f"{msg_id}-{digest[:16]}.eml"

    def _write_spool(self, msg_id: str, raw: Body) -> tuple[Path, str, int]:
        """Durably place ``raw`` (bytes, or a file copied in chunks) in the spool; returns its
        path, SHA-256 and size."""
        tmp = self.tmp / f"{msg_id}.{secrets.token_hex(6)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                if isinstance(raw, bytes):
                    fh.write(raw)
                    digest, size = sha256(raw).hexdigest(), len(raw)
                else:
                    digest, size = _copy(raw, fh)
                fh.flush()
                os.fsync(fh.fileno())
            final = self._spool_path(msg_id, digest)
            os.replace(tmp, final)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        _fsync_dir(self.spool)
        return final, digest, size

    async def _spool_write(self, msg_id: str, raw: Body) -> tuple[Path, str, int]:
        try:
            return await asyncio.to_thread(self._write_spool, msg_id, raw)
        except OSError as exc:
            raise StoreError(f"cannot write the spool file for {msg_id}: {exc}") from exc

    def _append_audit(self, conn: sqlite3.Connection, draft: EventDraft) -> AuditEvent:
        return self._append_audits(conn, (draft,))[0]

    def _append_audits(self, conn: sqlite3.Connection, drafts: Sequence[EventDraft]) -> list[AuditEvent]:
        """Chain ``drafts`` in turn after the newest event, in one statement."""
        last = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        seq, head = (0, GENESIS) if last is None else (int(last["seq"]), str(last["hash"]))
        events: list[AuditEvent] = []
        rows = []
        for draft in drafts:
            event, extra = chain_stored(draft, seq, head)
            seq, head = event.seq, event.hash
            events.append(event)
            rows.append(
                (
                    event.seq,
                    to_micros(event.at),
                    event.actor,
                    event.action,
                    event.msg_id,
                    event.from_state,
                    event.to_state,
                    event.reason,
                    extra,
                    event.prev_hash,
                    event.hash,
                )
            )
        conn.executemany(
            "INSERT INTO audit (seq, at, actor, action, msg_id, from_state, to_state, reason, extra,"
            " prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
        return events

    @staticmethod
    def _record(row: sqlite3.Row) -> MessageRecord:
        return decode_record(dict(row))

    @staticmethod
    def _row(conn: sqlite3.Connection, msg_id: str) -> sqlite3.Row | None:
        row: sqlite3.Row | None = conn.execute("SELECT * FROM messages WHERE id = ?", (msg_id,)).fetchone()
        return row

    def _current(self, conn: sqlite3.Connection, msg_id: str) -> MessageRecord:
        row = self._row(conn, msg_id)
        if row is None:
            raise NotFound(msg_id)
        return self._record(row)

    def _persist(self, conn: sqlite3.Connection, plan: Plan) -> MessageRecord:
        """Write what a plan decided, inside the caller's transaction."""
        if plan.sets:
            cols = ", ".join(f"{k} = ?" for k in plan.sets)
            conn.execute(
                f"UPDATE messages SET {cols} WHERE id = ?",  # noqa: S608 - names from base.FIELDS
                (*plan.sets.values(), plan.record.id),
            )
        self._correspond(conn, plan)
        if plan.event is not None:
            self._append_audit(conn, plan.event)
        return plan.record

    @staticmethod
    def _correspond(conn: sqlite3.Connection, plan: Plan) -> None:
        if plan.correspondents:
            conn.executemany(
                "INSERT OR IGNORE INTO correspondents (sender, domain, first_at) VALUES (?,?,?)",
                [
                    (sender, domain, to_micros(plan.record.updated_at))
                    for sender, domain in plan.correspondents
                ],
            )

    def _body_of(self, plan: Plan | None) -> Path | None:
        return (
            None
            if plan is None or plan.drop_body is None or plan.drop_body == EMPTY_SHA256
            else self._spool_path(plan.record.id, plan.drop_body)
        )

    def _unlink(self, path: Path) -> None:
        try:
            path.unlink()
        except FileNotFoundError:
            return
        except OSError as exc:
            log.warning("cannot remove spool file %s: %s (recover() will retry)", path, exc)
            return
        with contextlib.suppress(OSError):
            _fsync_dir(self.spool)

    # -- the Store protocol ---------------------------------------------------------------

    async def _stage(self, msg_id: str, raw: Body) -> Staged:
        if isinstance(raw, bytes) and not raw:
            return Staged(self._spool_path(msg_id, EMPTY_SHA256), EMPTY_SHA256, 0, created=False)
        path, digest, size = await self._spool_write(msg_id, raw)
        return Staged(path, digest, size)

    async def _unstage(self, msg_id: str, staged: Staged, error: BaseException) -> None:
        if await self._sha_of(msg_id) != staged.sha256:
            await asyncio.to_thread(self._unlink, staged.ref)

    async def _sha_of(self, msg_id: str) -> str | None:
        with contextlib.suppress(StoreError):
            record = await self.get(msg_id)
            return None if record is None else record.sha256
        return None

    async def _insert(self, plan: Plan, staged: Staged) -> None:
        def insert(conn: sqlite3.Connection) -> None:
            cols = ", ".join(plan.sets)
            conn.execute(
                f"INSERT INTO messages ({cols}) VALUES ({','.join('?' * len(plan.sets))})",  # noqa: S608
                tuple(plan.sets.values()),
            )
            assert plan.event is not None
            self._append_audit(conn, plan.event)

        await self._write(insert)

    def _insert_moved(
        self,
        conn: sqlite3.Connection,
        plan: Plan,
        then: ThenPlan,
        later: Callable[[], Mapping[str, Any]] | None,
    ) -> Plan:
        """In one job, so one transaction and one trip to the store's thread: the row as it is
        after the change (the accept's fields, the change's over them) and both events, chained
        in turn; the state ``accept`` then ``transition`` leave, in three statements, not six.
        ``later`` runs here too, on this thread: its cost (a digest) leaves the event loop
        without a trip of its own."""
        moved = then(plan.record, self._now(), None if later is None else later())
        row = {**plan.sets, **moved.sets}
        conn.execute(
            f"INSERT INTO messages ({', '.join(row)}) VALUES ({','.join('?' * len(row))})",  # noqa: S608
            tuple(row.values()),
        )
        self._correspond(conn, moved)
        self._append_audits(conn, [e for e in (plan.event, moved.event) if e is not None])
        return moved

    def accept_decided_soon(
        self, decided: Decided, *, msg_id: str | None = None
    ) -> asyncio.Future[MessageRecord]:
        # Planned, as well as written, on the store's thread: the caller's loop only queues it.
        # Without a body there is nothing to stage or to remove after.
        msg_id = msg_id or new_id(self._now())

        def insert(conn: sqlite3.Connection) -> MessageRecord:
            plan, then = plan_decided(
                decided, msg_id, size=NO_BODY.size, sha256=NO_BODY.sha256, now=self._now()
            )
            return self._insert_moved(conn, plan, then, decided.meta_later).record

        return self._submit(insert)

    async def _change(
        self,
        msg_id: str,
        decide: Callable[[MessageRecord, datetime], Plan | None],
        *,
        staged: Staged | None = None,
    ) -> Plan | None:
        # A staged body is already in its final place; the committed row makes it the body.
        def do(conn: sqlite3.Connection) -> Plan | None:
            plan = decide(self._current(conn, msg_id), self._now())
            if plan is not None:
                self._persist(conn, plan)
            return plan

        plan = await self._write(do)
        body = self._body_of(plan)
        if body is not None:
            await asyncio.to_thread(self._unlink, body)
        return plan

    async def get(self, msg_id: str) -> MessageRecord | None:
        def do() -> MessageRecord | None:
            row = self._row(self._db(), msg_id)
            return None if row is None else self._record(row)

        return await self._run(do)

    async def _read_body(self, rec: MessageRecord) -> tuple[bytes | None, str]:
        path = self._spool_path(rec.id, rec.sha256)
        if rec.size == 0 and rec.sha256 == EMPTY_SHA256:
            return b"", str(path)  # an empty body has no file
        try:
            return await asyncio.to_thread(path.read_bytes), str(path)
        except FileNotFoundError:
            return None, str(path)
        except OSError as exc:
            raise StoreError(f"{rec.id}: cannot read {path}: {exc}") from exc

    async def list_messages(
        self,
        *,
        states: Collection[State] | None = None,
        sender: str | None = None,
        before: str | None = None,
        limit: int = 100,
        kinds: Collection[ItemKind] | None = None,
    ) -> list[MessageRecord]:
        where: list[str] = []
        params: list[Any] = []
        if kinds is not None:
            wanted_kinds = sorted(ItemKind(k).value for k in kinds)
            if not wanted_kinds:
                return []
            where.append(f"kind IN ({','.join('?' * len(wanted_kinds))})")
            params.extend(wanted_kinds)
        if states is not None:
            wanted = sorted(State(s).value for s in states)
            if not wanted:
                return []
            where.append(f"state IN ({','.join('?' * len(wanted))})")
            params.extend(wanted)
        if sender is not None:
            where.append("sender = ?")
            params.append(sender)
        if before is not None:
            where.append("id < ?")
            params.append(before)
        sql = "SELECT * FROM messages"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT ?"
        params.append(int(limit))

        def do() -> list[MessageRecord]:
            return [self._record(r) for r in self._db().execute(sql, params)]

        return await self._run(do)

    async def due(self, now: datetime, *, limit: int = 1000) -> list[MessageRecord]:
        # Candidates through the indexes (a timer's column, or an active state); is_due decides.
        t = to_micros(now)
        timers = " OR ".join(
            f"(state = '{state.value}' AND {column} <= :t)" for state, column in sorted(TIMER_FIELD.items())
        )
        active = ", ".join(f"'{s.value}'" for s in sorted(ACTIVE))

        def do() -> list[MessageRecord]:
            rows = self._db().execute(
                f"SELECT * FROM messages WHERE {timers}"  # noqa: S608 - names from base
                f" OR (state IN ({active}) AND (owner IS NULL OR lease_until IS NULL OR lease_until <= :t))"
                " ORDER BY id LIMIT :n",
                {"t": t, "n": int(limit)},
            )
            return [rec for r in rows if is_due(rec := self._record(r), now)]

        return await self._run(do)

    async def recover(self, owner: str, *, lease: float = DEFAULT_LEASE) -> list[MessageRecord]:
        def do(conn: sqlite3.Connection) -> list[MessageRecord]:
            now = self._now()
            active = [s.value for s in sorted(ACTIVE)]
            rows = conn.execute(
                f"SELECT * FROM messages WHERE state IN ({','.join('?' * len(active))}) ORDER BY id",  # noqa: S608
                active,
            ).fetchall()
            plans = [plan_recover(self._record(r), owner=owner, lease=lease, now=now) for r in rows]
            return [self._persist(conn, p) for p in plans if p is not None]

        out = await self._write(do)
        await self._run(self._sweep_spool)
        return out

    def _sweep_spool(self) -> None:
        keep = {
            self._spool_path(r["id"], r["sha256"]).name
            for r in self._db().execute("SELECT id, sha256 FROM messages WHERE has_raw = 1")
        }
        removed = 0
        for entry in os.scandir(self.tmp):
            if entry.is_file():
                Path(entry.path).unlink(missing_ok=True)
                removed += 1
        for entry in os.scandir(self.spool):
            if entry.is_file() and entry.name not in keep:
                Path(entry.path).unlink(missing_ok=True)
                removed += 1
        if removed:
            _fsync_dir(self.spool)
            log.info("recover: removed %d spool file(s) no committed message refers to", removed)

    async def note(
        self,
        msg_id: str,
        *,
        action: str,
        actor: str,
        reason: str,
        extra: Mapping[str, Any] | None = None,
    ) -> AuditEvent:
        def do(conn: sqlite3.Connection) -> AuditEvent:
            row = self._row(conn, msg_id)
            rec = None if row is None else self._record(row)
            draft = note_event(
                msg_id, rec, action=action, actor=actor, reason=reason, extra=extra, now=self._now()
            )
            return self._append_audit(conn, draft)

        return await self._write(do)

    async def has_written_to(self, sender: str, domain: str) -> bool:
        def do() -> bool:
            row = (
                self._db()
                .execute(
                    "SELECT 1 FROM correspondents WHERE sender = ? AND domain = ?",
                    (sender.lower(), normalize_domain(domain)),
                )
                .fetchone()
            )
            return row is not None

        return await self._run(do)

    async def known_domains(self, sender: str) -> frozenset[str]:
        def do() -> frozenset[str]:
            rows = self._db().execute("SELECT domain FROM correspondents WHERE sender = ?", (sender.lower(),))
            return frozenset(str(r["domain"]) for r in rows)

        return await self._run(do)

    async def stats(self) -> StoreStats:
        def do() -> StoreStats:
            db = self._db()
            states = {
                State(r[0]): int(r[1])
                for r in db.execute("SELECT state, COUNT(*) FROM messages GROUP BY state")
            }
            row = db.execute("SELECT MAX(seq) FROM audit").fetchone()
            return StoreStats(states, int(row[0] or 0))

        return await self._run(do)

    async def audit_events(
        self, *, msg_id: str | None = None, after_seq: int = 0, limit: int = 1000
    ) -> list[AuditEvent]:
        def do() -> list[AuditEvent]:
            if msg_id is None:
                rows = self._db().execute(
                    "SELECT * FROM audit WHERE seq > ? ORDER BY seq LIMIT ?", (after_seq, int(limit))
                )
            else:
                rows = self._db().execute(
                    "SELECT * FROM audit WHERE msg_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                    (msg_id, after_seq, int(limit)),
                )
            return [
                AuditEvent(
                    seq=r["seq"],
                    at=from_micros(r["at"]),
                    actor=r["actor"],
                    action=r["action"],
                    msg_id=r["msg_id"],
                    from_state=r["from_state"],
                    to_state=r["to_state"],
                    reason=r["reason"],
                    extra=json.loads(r["extra"]),
                    prev_hash=r["prev_hash"],
                    hash=r["hash"],
                )
                for r in rows
            ]

        return await self._run(do)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True

        def shut() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        try:
            await self._thread.run(shut)
        finally:
            await asyncio.to_thread(self._thread.stop)
