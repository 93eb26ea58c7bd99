"""Upload sessions: what several proxy instances must agree on about uploads in progress.

A big file reaches a cloud service as many requests (Drive resumable chunks, Graph upload
ranges, Box parts, Dropbox appends, Slack's upload URL) and one final request makes it exist.
The proxy passes the chunks on and keeps a copy of each in its spool; the session record says
whose upload it is, what the file is called, and where each chunk's copy lies (the instance and
the file under its spool folder), so that whichever instance receives the final request can
assemble the file and judge it. Sessions expire (``expires_at``); the proxy removes the spool
of sessions that are gone.

Keys are opaque strings the proxy derives from the provider's session id or upload URL (a hash:
those are capabilities and are never stored). A session may also be found by an ``alias``
(Slack: the file id names the session, the upload URL is its alias).

Also here: :meth:`UploadSessions.hit`, a sliding-window counter shared by the instances
(throttles such as failed proxy logins per client address).

Two implementations, as for :class:`~gateway.store.base.Store`: :class:`SQLiteUploadSessions`
(tables in the embedded store's database) and :class:`RedisUploadSessions` (keys under the
Redis store's prefix); :func:`open_upload_sessions` picks the one that matches the store.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sqlite3
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gateway.audit import from_micros, to_micros
from gateway.store.base import Store, StoreError

T = TypeVar("T")


@dataclass(frozen=True)
class Chunk:
    """One request's bytes of a session's file, copied to an instance's spool."""

    offset: int
    length: int
    #: The instance whose spool holds the copy, and the file's name relative to that spool.
    instance: str
    path: str
    #: The multipart boundary when the chunk's body is multipart/form-data around the bytes.
    boundary: str = ""


@dataclass(frozen=True)
class UploadSession:
    key: str
    service: str
    user: str
    host: str
    filename: str
    created_at: datetime
    expires_at: datetime
    client: str = ""
    content_type: str = ""
    tenant: str | None = None
    destination: str = ""
    #: The file's size when the request that created the session said it.
    total: int | None = None
    alias: str | None = None
    #: First seen mid-way (the session began before this gateway saw it): bytes may be missing.
    adopted: bool = False
    chunks: tuple[Chunk, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        data = asdict(self)
        data.pop("chunks")
        data["created_at"] = to_micros(self.created_at)
        data["expires_at"] = to_micros(self.expires_at)
        return json.dumps(data, sort_keys=True, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | bytes, chunks: tuple[Chunk, ...] = ()) -> UploadSession:
        data = json.loads(text)
        data["created_at"] = from_micros(int(data["created_at"]))
        data["expires_at"] = from_micros(int(data["expires_at"]))
        data["chunks"] = chunks
        return cls(**data)


def _chunk_json(chunk: Chunk) -> str:
    return json.dumps(asdict(chunk), sort_keys=True)


def _chunk(text: str | bytes) -> Chunk:
    return Chunk(**json.loads(text))


class UploadSessions(Protocol):
    """Sessions of uploads in progress, shared by the proxy instances. All methods are
    coroutines; none blocks the event loop."""

    async def put(self, session: UploadSession) -> None:
        """Create the session, or update its facts (its chunks are kept)."""

    async def get(self, key: str) -> UploadSession | None:
        """The session with this key or alias, with its chunks in the order they were added;
        ``None`` if there is none or it has expired."""

    async def add_chunk(self, key: str, chunk: Chunk) -> UploadSession | None:
        """Record a chunk of the session with this key or alias; ``None`` (nothing recorded) if
        the session is gone."""

    async def remove(self, key: str) -> UploadSession | None:
        """Forget the session (finished or refused); returns it so its spool can be removed."""

    async def purge_expired(self) -> int:
        """Drop the records of expired sessions; returns how many (their spool is the proxy's)."""

    async def hit(self, name: str, *, window: float) -> int:
        """Count one event under ``name`` and return the events within the last ``window``
        seconds, this one included."""

    async def hits(self, name: str, *, window: float) -> int:
        """The events under ``name`` within the last ``window`` seconds (counting none)."""

    async def close(self) -> None: ...


# -- SQLite ------------------------------------------------------------------------------------

_SCHEMA = """
CREATE TABLE IF NOT EXISTS upload_sessions (
    key TEXT PRIMARY KEY,
    alias TEXT,
    data TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS upload_sessions_alias ON upload_sessions (alias);
CREATE INDEX IF NOT EXISTS upload_sessions_expiry ON upload_sessions (expires_at);
CREATE TABLE IF NOT EXISTS upload_chunks (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS upload_chunks_key ON upload_chunks (key, seq);
CREATE TABLE IF NOT EXISTS throttle (
    name TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS throttle_name ON throttle (name, at);
"""


class SQLiteUploadSessions:
    """Upload sessions in the embedded store's database (its own connection and thread)."""

    def __init__(self, db_path: Path, *, clock: Callable[[], datetime] | None = None) -> None:
        self.db_path = db_path
        self._clock = clock or (lambda: datetime.now(UTC))
        self._executor: ThreadPoolExecutor | None = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="sekimori-sessions"
        )
        self._conn: sqlite3.Connection | None = None

    @classmethod
    async def open(
        cls, db_path: Path, *, clock: Callable[[], datetime] | None = None
    ) -> SQLiteUploadSessions:
        sessions = cls(db_path, clock=clock)
        await sessions._run(sessions._connect)
        return sessions

    def _connect(self) -> None:
        conn = sqlite3.connect(self.db_path, timeout=30.0, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("BEGIN IMMEDIATE")
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute("COMMIT")
        self._conn = conn

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        executor = self._executor
        if executor is None:
            raise StoreError("the upload sessions are closed")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(executor, fn, *args)
        except sqlite3.Error as exc:
            raise StoreError(f"{self.db_path}: {exc}") from exc

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError("the upload sessions are not open")
        return self._conn

    def _tx(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._db()
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    def _now_us(self) -> int:
        return to_micros(self._clock())

    @staticmethod
    def _find(conn: sqlite3.Connection, key: str, now: int) -> tuple[str, str] | None:
        row = conn.execute(
            "SELECT key, data FROM upload_sessions WHERE (key = ? OR alias = ?) AND expires_at > ? LIMIT 1",
            (key, key, now),
        ).fetchone()
        return None if row is None else (row[0], row[1])

    @staticmethod
    def _load(conn: sqlite3.Connection, key: str, data: str) -> UploadSession:
        rows = conn.execute("SELECT data FROM upload_chunks WHERE key = ? ORDER BY seq", (key,)).fetchall()
        return UploadSession.from_json(data, tuple(_chunk(r[0]) for r in rows))

    async def put(self, session: UploadSession) -> None:
        def do(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO upload_sessions (key, alias, data, expires_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET alias = excluded.alias, data = excluded.data, "
                "expires_at = excluded.expires_at",
                (session.key, session.alias, session.to_json(), to_micros(session.expires_at)),
            )

        await self._run(self._tx, do)

    async def get(self, key: str) -> UploadSession | None:
        def do() -> UploadSession | None:
            conn = self._db()
            found = self._find(conn, key, self._now_us())
            return None if found is None else self._load(conn, *found)

        return await self._run(do)

    async def add_chunk(self, key: str, chunk: Chunk) -> UploadSession | None:
        def do(conn: sqlite3.Connection) -> UploadSession | None:
            found = self._find(conn, key, self._now_us())
            if found is None:
                return None
            conn.execute(
                "INSERT INTO upload_chunks (key, data) VALUES (?, ?)", (found[0], _chunk_json(chunk))
            )
            return self._load(conn, *found)

        return await self._run(self._tx, do)

    async def remove(self, key: str) -> UploadSession | None:
        def do(conn: sqlite3.Connection) -> UploadSession | None:
            row = conn.execute(
                "SELECT key, data FROM upload_sessions WHERE key = ? OR alias = ? LIMIT 1", (key, key)
            ).fetchone()
            if row is None:
                return None
            session = self._load(conn, row[0], row[1])
            conn.execute("DELETE FROM upload_chunks WHERE key = ?", (row[0],))
            conn.execute("DELETE FROM upload_sessions WHERE key = ?", (row[0],))
            return session

        return await self._run(self._tx, do)

    async def purge_expired(self) -> int:
        def do(conn: sqlite3.Connection) -> int:
            now = self._now_us()
            conn.execute(
                "DELETE FROM upload_chunks WHERE key IN (SELECT key FROM upload_sessions WHERE expires_at <= ?)",
                (now,),
            )
            return conn.execute("DELETE FROM upload_sessions WHERE expires_at <= ?", (now,)).rowcount

        return await self._run(self._tx, do)

    async def hit(self, name: str, *, window: float) -> int:
        def do(conn: sqlite3.Connection) -> int:
            now = self._now_us()
            since = now - int(window * 1_000_000)
            conn.execute("DELETE FROM throttle WHERE name = ? AND at <= ?", (name, since))
            conn.execute("INSERT INTO throttle (name, at) VALUES (?, ?)", (name, now))
            count: int = conn.execute("SELECT COUNT(*) FROM throttle WHERE name = ?", (name,)).fetchone()[0]
            return count

        return await self._run(self._tx, do)

    async def hits(self, name: str, *, window: float) -> int:
        def do() -> int:
            since = self._now_us() - int(window * 1_000_000)
            count: int = (
                self._db()
                .execute("SELECT COUNT(*) FROM throttle WHERE name = ? AND at > ?", (name, since))
                .fetchone()[0]
            )
            return count

        return await self._run(do)

    async def close(self) -> None:
        executor, self._executor = self._executor, None
        if executor is None:
            return

        def shut() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        try:
            await asyncio.get_running_loop().run_in_executor(executor, shut)
        finally:
            executor.shutdown(wait=True)


# -- Redis -------------------------------------------------------------------------------------

# KEYS[1] session hash; ARGV[1] now (us). The session's JSON, or nil when absent or expired.
_GET = """
local data = redis.call('HGET', KEYS[1], 'data')
if not data then return false end
if tonumber(redis.call('HGET', KEYS[1], 'expires_at')) <= tonumber(ARGV[1]) then return false end
return data
"""


# KEYS[1] session hash, KEYS[2] its chunk list; ARGV[1] now (us), ARGV[2] the chunk's JSON.
_ADD_CHUNK = """
local exp = redis.call('HGET', KEYS[1], 'expires_at')
if not exp or tonumber(exp) <= tonumber(ARGV[1]) then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[2])
redis.call('PEXPIRE', KEYS[2], math.max(1, redis.call('PTTL', KEYS[1])))
return 1
"""


#: Seconds Redis keeps a session's keys after it expired by the gateway's clock.
TTL_GRACE = 3600.0


class RedisUploadSessions:
    """Upload sessions on the Redis server of the shared store. Keys::

    upsess:<key>          hash: data (JSON), expires_at (us); expires with the session
    upsess:<key>:chunks   list of chunk JSON, in the order added; expires with the session
    upsess:alias:<alias>  string: the session's key; expires with the session
    throttle:<name>       sorted set of event times (us)
    """

    def __init__(
        self, url: str, *, prefix: str = "sekimori:", clock: Callable[[], datetime] | None = None
    ) -> None:
        self.url = url
        self.prefix = prefix
        self._clock = clock or (lambda: datetime.now(UTC))
        self._client: aioredis.Redis = aioredis.Redis.from_url(url, decode_responses=False)

    def _k(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def _where(self) -> str:
        return f"redis {self.url.rpartition('@')[2]}"

    async def _exec(self, *args: Any) -> Any:
        try:
            return await self._client.execute_command(*args)  # type: ignore[no-untyped-call]
        except RedisError as exc:
            raise StoreError(f"{self._where()}: {exc}") from exc

    async def _resolve(self, key: str) -> str:
        real = await self._exec("GET", self._k("upsess", "alias", key))
        return key if real is None else real.decode()

    def _ttl_ms(self, session: UploadSession) -> int:
        """How long Redis keeps the keys: the session's remaining time by our clock (which
        decides expiry) plus a grace period, so that Redis drops what nobody removed."""
        left = (session.expires_at - self._clock()).total_seconds()
        return int((max(left, 0.0) + TTL_GRACE) * 1000)

    async def put(self, session: UploadSession) -> None:
        main = self._k("upsess", session.key)
        ttl = self._ttl_ms(session)
        try:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.execute_command(
                    "HSET", main, "data", session.to_json(), "expires_at", to_micros(session.expires_at)
                )
                pipe.execute_command("PEXPIRE", main, ttl)
                pipe.execute_command("PEXPIRE", self._k("upsess", session.key, "chunks"), ttl)
                if session.alias:
                    pipe.execute_command(
                        "SET", self._k("upsess", "alias", session.alias), session.key, "PX", ttl
                    )
                await pipe.execute()
        except RedisError as exc:
            raise StoreError(f"{self._where()}: {exc}") from exc

    async def _read(self, real: str) -> UploadSession | None:
        now = to_micros(self._clock())
        try:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.eval(_GET, 1, self._k("upsess", real), now)
                pipe.execute_command("LRANGE", self._k("upsess", real, "chunks"), 0, -1)
                data, chunks = await pipe.execute()
        except RedisError as exc:
            raise StoreError(f"{self._where()}: {exc}") from exc
        if not data:
            return None
        return UploadSession.from_json(data, tuple(_chunk(c) for c in chunks))

    async def get(self, key: str) -> UploadSession | None:
        return await self._read(await self._resolve(key))

    async def add_chunk(self, key: str, chunk: Chunk) -> UploadSession | None:
        real = await self._resolve(key)
        added = await self._exec(
            "EVAL",
            _ADD_CHUNK,
            2,
            self._k("upsess", real),
            self._k("upsess", real, "chunks"),
            to_micros(self._clock()),
            _chunk_json(chunk),
        )
        return await self._read(real) if added == 1 else None

    async def remove(self, key: str) -> UploadSession | None:
        real = await self._resolve(key)
        session = await self._read(real)
        keys = [self._k("upsess", real), self._k("upsess", real, "chunks")]
        if session is not None and session.alias:
            keys.append(self._k("upsess", "alias", session.alias))
        await self._exec("DEL", *keys)
        return session

    async def purge_expired(self) -> int:
        return 0  # every key expires by itself (PEXPIRE)

    async def hit(self, name: str, *, window: float) -> int:
        key = self._k("throttle", name)
        now = to_micros(self._clock())
        since = now - int(window * 1_000_000)
        try:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.execute_command("ZREMRANGEBYSCORE", key, "-inf", since)
                pipe.execute_command("ZADD", key, now, f"{now}:{secrets.token_hex(4)}")
                pipe.execute_command("ZCARD", key)
                pipe.execute_command("PEXPIRE", key, max(1, int(window * 1000)))
                _, _, count, _ = await pipe.execute()
        except RedisError as exc:
            raise StoreError(f"{self._where()}: {exc}") from exc
        return int(count)

    async def hits(self, name: str, *, window: float) -> int:
        since = to_micros(self._clock()) - int(window * 1_000_000)
        return int(await self._exec("ZCOUNT", self._k("throttle", name), f"({since}", "+inf"))

    async def close(self) -> None:
        await self._client.aclose()


async def open_upload_sessions(
    store: Store, *, clock: Callable[[], datetime] | None = None
) -> UploadSessions:
    """The upload sessions that live beside ``store`` (same database or same Redis server)."""
    from gateway.store.redis import RedisStore
    from gateway.store.sqlite import SQLiteStore

    if isinstance(store, RedisStore):
        return RedisUploadSessions(store.url, prefix=store.prefix, clock=clock)
    if isinstance(store, SQLiteStore):
        return await SQLiteUploadSessions.open(store.db_path, clock=clock)
    raise TypeError(f"no upload sessions for a {type(store).__name__}")


__all__ = [
    "Chunk",
    "RedisUploadSessions",
    "SQLiteUploadSessions",
    "UploadSession",
    "UploadSessions",
    "open_upload_sessions",
]
