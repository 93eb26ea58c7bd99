"""Upload sessions, the same suite over both real backends (SQLite and a real redis-server):
what one proxy instance records, another sees; sessions expire by the injected clock."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import pytest

from gateway.store import SQLiteStore
from gateway.store.redis import RedisStore
from gateway.store.upload_sessions import (
    Chunk,
    RedisUploadSessions,
    SQLiteUploadSessions,
    UploadSession,
    UploadSessions,
    open_upload_sessions,
)
from tests.gateway.test_store_contract import T0, Clock

Opener = Callable[[], Awaitable[UploadSessions]]


@pytest.fixture(params=["redis", "sqlite"])
async def instances(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[Clock, Opener]]:
    """A clock and a way to open *another* instance's view of the same sessions."""
    clock = Clock()
    opened: list[UploadSessions] = []
    if request.param == "redis":
        url = request.getfixturevalue("redis_server").url
        prefix = f"upsess-{secrets.token_hex(6)}:"

        async def opener() -> UploadSessions:
            s: UploadSessions = RedisUploadSessions(url, prefix=prefix, clock=clock)
            opened.append(s)
            return s

    else:
        store = await SQLiteStore.open(tmp_path / "var", clock=clock)

        async def opener() -> UploadSessions:
            s: UploadSessions = await SQLiteUploadSessions.open(store.db_path, clock=clock)
            opened.append(s)
            return s

    yield clock, opener
    for s in opened:
        await s.close()
    if request.param == "sqlite":
        await store.close()


def _session(key: str = "k1", **kw: object) -> UploadSession:
    args: dict[str, object] = {
        "key": key,
        "service": "box",
        "user": "taro@example.co.jp",
        "host": "upload.box.com",
        "filename": "顧客一覧.csv",
        "created_at": T0,
        "expires_at": T0 + timedelta(hours=1),
        "total": 3000,
    }
    args.update(kw)
    return UploadSession(**args)  # type: ignore[arg-type]


async def test_a_session_recorded_by_one_instance_is_seen_by_another(instances: tuple[Clock, Opener]) -> None:
    _, open_ = instances
    a, b = await open_(), await open_()
    await a.put(_session(alias="url-hash"))
    await a.add_chunk("k1", Chunk(0, 1000, "gw-a", "k1/0-1"))
    await b.add_chunk("url-hash", Chunk(1000, 1000, "gw-b", "k1/1000-2"))
    seen = await a.get("k1")
    assert seen is not None
    assert seen.filename == "顧客一覧.csv" and seen.total == 3000
    assert [(c.offset, c.instance) for c in seen.chunks] == [(0, "gw-a"), (1000, "gw-b")]
    assert await b.get("url-hash") == seen


async def test_put_again_updates_the_facts_and_keeps_the_chunks(instances: tuple[Clock, Opener]) -> None:
    _, open_ = instances
    s = await open_()
    await s.put(_session(filename="", adopted=True))
    await s.add_chunk("k1", Chunk(0, 10, "gw", "p", boundary="b0"))
    await s.put(_session(filename="名簿.xlsx"))
    found = await s.get("k1")
    assert found is not None and found.filename == "名簿.xlsx" and not found.adopted
    assert found.chunks == (Chunk(0, 10, "gw", "p", boundary="b0"),)


async def test_an_unknown_session_takes_no_chunk(instances: tuple[Clock, Opener]) -> None:
    _, open_ = instances
    s = await open_()
    assert await s.add_chunk("nope", Chunk(0, 1, "gw", "p")) is None
    assert await s.get("nope") is None
    assert await s.remove("nope") is None


async def test_remove_returns_the_session_with_its_chunks_once(instances: tuple[Clock, Opener]) -> None:
    _, open_ = instances
    s = await open_()
    await s.put(_session(alias="al"))
    await s.add_chunk("k1", Chunk(0, 5, "gw", "k1/a"))
    removed = await s.remove("al")
    assert removed is not None and [c.path for c in removed.chunks] == ["k1/a"]
    assert await s.get("k1") is None and await s.get("al") is None
    assert await s.remove("k1") is None


async def test_sessions_expire_by_the_clock(instances: tuple[Clock, Opener]) -> None:
    clock, open_ = instances
    s = await open_()
    await s.put(_session(expires_at=T0 + timedelta(minutes=10)))
    clock.advance(9 * 60)
    assert await s.get("k1") is not None
    clock.advance(61)
    assert await s.get("k1") is None
    assert await s.add_chunk("k1", Chunk(0, 1, "gw", "p")) is None
    await s.purge_expired()
    assert await s.get("k1") is None


async def test_hit_counts_within_the_window_across_instances(instances: tuple[Clock, Opener]) -> None:
    clock, open_ = instances
    a, b = await open_(), await open_()
    assert await a.hit("auth:10.0.0.5", window=60) == 1
    clock.advance(10)
    assert await b.hit("auth:10.0.0.5", window=60) == 2
    assert await b.hit("auth:10.0.0.6", window=60) == 1
    assert await a.hits("auth:10.0.0.5", window=60) == 2  # counting adds nothing
    clock.advance(55)
    assert await a.hits("auth:10.0.0.5", window=60) == 1  # the first fell out of the window
    assert await a.hit("auth:10.0.0.5", window=60) == 2


async def test_open_upload_sessions_matches_the_store(tmp_path: Path, redis_server: object) -> None:
    store = await SQLiteStore.open(tmp_path / "var")
    sessions = await open_upload_sessions(store)
    assert isinstance(sessions, SQLiteUploadSessions)
    await sessions.close()
    await store.close()
    rstore = await RedisStore.open(redis_server.url, prefix=f"o-{secrets.token_hex(4)}:")  # type: ignore[attr-defined]
    rsessions = await open_upload_sessions(rstore)
    assert isinstance(rsessions, RedisUploadSessions) and rsessions.prefix == rstore.prefix
    await rsessions.close()
    await rstore.close()
