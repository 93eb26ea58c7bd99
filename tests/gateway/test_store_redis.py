"""The Redis backend beyond the contract: several gateways on one queue, a server restart, the
durability check, tampering with the stored audit chain, and the commands on ``store.url``."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis

from gateway.audit import verify_store
from gateway.cli import main
from gateway.config import ConfigError, StoreConfig, load_config
from gateway.store import MessageRecord, SQLiteStore, State, StoreError, open_store
from gateway.store.redis import RedisStore
from tests.gateway.redis_server import RedisServer

RAW = "Subject: 見積書\r\nFrom: a@example.co.jp\r\n\r\n本文です。\r\n".encode()


@pytest.fixture
def prefix() -> str:
    return f"t-{secrets.token_hex(6)}:"


@pytest.fixture
async def raw_client(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    """A plain client, for what an attacker or an operator does behind the store's back."""
    client = aioredis.Redis.from_url(redis_server.url)
    yield client
    await client.aclose()


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test alone (it is stopped, restarted or reconfigured)."""
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


async def _held(store: RedisStore, n: int, release: datetime) -> list[MessageRecord]:
    out = []
    for i in range(n):
        rec = await store.accept(
            RAW + str(i).encode(), sender="taro@example.co.jp", recipients=["x@p.example"]
        )
        out.append(
            await store.transition(rec.id, State.HELD, actor="policy", reason="grace", release_at=release)
        )
    return out


# -- several gateways on one queue -------------------------------------------------------------


async def test_two_gateways_release_each_held_message_exactly_once(
    redis_server: RedisServer, prefix: str
) -> None:
    a = await RedisStore.open(redis_server.url, prefix=prefix)
    b = await RedisStore.open(redis_server.url, prefix=prefix)
    try:
        held = await _held(a, 30, datetime.now(UTC))
        delivered: Counter[str] = Counter()

        async def gateway(store: RedisStore, name: str) -> None:
            """One instance's scheduler and delivery: claim what is due, deliver what it won."""
            for _ in range(3):
                for rec in await store.due(datetime.now(UTC)):
                    won = await store.claim(
                        rec.id,
                        owner=name,
                        from_states=State.HELD,
                        to=State.DELIVERING,
                        actor="scheduler",
                        reason="release time",
                    )
                    if won is None:
                        continue
                    assert won.owner == name
                    delivered[rec.id] += 1
                    await store.transition(
                        rec.id, State.DELIVERED, actor="delivery", reason="250", expect=State.DELIVERING
                    )

        await asyncio.gather(gateway(a, "gw-a"), gateway(b, "gw-b"), gateway(a, "gw-a2"), gateway(b, "gw-b2"))
        assert delivered == Counter({r.id: 1 for r in held})
        for rec in held:
            after = await b.get(rec.id)
            assert after is not None
            assert after.state is State.DELIVERED
            moves = [e.to_state for e in await a.audit_events(msg_id=rec.id)]
            assert moves == ["received", "held", "delivering", "delivered"]
        result = await verify_store(b)
        assert result.ok
        assert result.checked == 30 * 4
        assert await a.due(datetime.now(UTC)) == []
    finally:
        await a.close()
        await b.close()


async def test_recover_leaves_a_live_instance_its_work(redis_server: RedisServer, prefix: str) -> None:
    a = await RedisStore.open(redis_server.url, prefix=prefix)
    b = await RedisStore.open(redis_server.url, prefix=prefix)
    try:
        mine = await a.accept(RAW, sender="s@example.co.jp", recipients=["r@p.example"], owner="gw-a")
        theirs = await b.accept(RAW, sender="s@example.co.jp", recipients=["r@p.example"], owner="gw-b")
        assert [r.id for r in await a.recover("gw-a")] == [mine.id]
        again = await b.get(theirs.id)
        assert again is not None
        assert again.owner == "gw-b"
    finally:
        await a.close()
        await b.close()


# -- durability --------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["shutdown", "kill"])
async def test_every_accepted_message_survives_a_server_restart(own_server: RedisServer, how: str) -> None:
    store = await RedisStore.open(own_server.url)
    bodies = {}
    try:
        for i in range(20):
            raw = RAW + b"x" * (i * 5000) + str(i).encode()
            rec = await store.accept(raw, sender="taro@example.co.jp", recipients=["x@p.example"])
            if i % 2:
                await store.transition(rec.id, State.HELD, actor="policy", reason="grace")
            bodies[rec.id] = raw
        before = {i: await store.get(i) for i in bodies}
    finally:
        await store.close()
    if how == "kill":
        own_server.kill()
    else:
        own_server.stop()
    own_server.start()
    again = await RedisStore.open(own_server.url)
    try:
        for msg_id, raw in bodies.items():
            assert await again.get(msg_id) == before[msg_id]
            assert await again.load_raw(msg_id) == raw
        result = await verify_store(again)
        assert result.ok
        assert result.checked == 30
    finally:
        await again.close()


async def test_open_refuses_a_server_that_does_not_fsync_every_write(own_server: RedisServer) -> None:
    client = aioredis.Redis.from_url(own_server.url)
    try:
        await client.config_set("appendfsync", "everysec")
        with pytest.raises(StoreError, match="appendfsync always"):
            await RedisStore.open(own_server.url)
        await client.config_set("appendfsync", "always")
        await client.config_set("appendonly", "no")
        with pytest.raises(StoreError, match="appendonly yes"):
            await RedisStore.open(own_server.url)
    finally:
        await client.aclose()


async def test_open_names_an_unreachable_server(own_server: RedisServer) -> None:
    url = own_server.url
    own_server.stop()
    with pytest.raises(StoreError, match=re.escape("127.0.0.1")):
        await RedisStore.open(url)


async def test_bodies_are_permanent_only_once_committed(
    redis_server: RedisServer, raw_client: aioredis.Redis, prefix: str
) -> None:
    store = await RedisStore.open(redis_server.url, prefix=prefix)
    try:
        rec = await store.accept(RAW, sender="s@example.co.jp", recipients=["r@p.example"])
        assert await raw_client.pttl(f"{prefix}raw:{rec.id}:{rec.sha256[:16]}") == -1
        done = await store.transition(rec.id, State.REFUSED, actor="smtp", reason="550")
        assert not done.has_raw
        with pytest.raises(StoreError):
            await store.replace_raw(rec.id, b"new body", actor="t", reason="r")
        assert await raw_client.keys(f"{prefix}raw:*") == []
    finally:
        await store.close()


# -- the audit chain as stored -----------------------------------------------------------------


async def _populated(url: str, prefix: str) -> list[str]:
    store = await RedisStore.open(url, prefix=prefix)
    ids = []
    try:
        for i in range(3):
            rec = await store.accept(RAW, sender=f"u{i}@example.jp", recipients=["r@x.example"])
            await store.transition(rec.id, State.HELD, actor="policy", reason="grace period")
            ids.append(rec.id)
        await store.transition(ids[0], State.CANCELLED, actor="sender:u0@example.jp", reason="cancel")
    finally:
        await store.close()
    return ids


async def _verify(url: str, prefix: str) -> tuple[int | None, str, tuple[str, ...]]:
    store = await RedisStore.open(url, prefix=prefix)
    try:
        result = await verify_store(store)
    finally:
        await store.close()
    return result.broken_seq, result.problem, result.mismatches


async def test_verify_names_an_event_changed_in_redis(
    redis_server: RedisServer, raw_client: aioredis.Redis, prefix: str
) -> None:
    await _populated(redis_server.url, prefix)
    assert await _verify(redis_server.url, prefix) == (None, "", ())
    key = f"{prefix}audit:events"
    stored = await raw_client.hget(key, "5")
    assert stored is not None
    doc = json.loads(stored)
    doc["reason"] = "approved by boss"
    await raw_client.hset(key, "5", json.dumps(doc))
    broken, problem, _ = await _verify(redis_server.url, prefix)
    assert broken == 5
    assert "content does not match" in problem


@pytest.mark.parametrize(
    ("command", "broken_at"),
    [
        (["HDEL", "{p}audit:events", "3"], 3),
        (["HSET", "{p}audit:events", "4", "not json"], 4),
    ],
    ids=["deleted", "garbled"],
)
async def test_verify_names_a_removed_or_unreadable_event(
    redis_server: RedisServer, raw_client: aioredis.Redis, prefix: str, command: list[str], broken_at: int
) -> None:
    await _populated(redis_server.url, prefix)
    await raw_client.execute_command(*[c.replace("{p}", prefix) for c in command])  # type: ignore[no-untyped-call]
    broken, _, _ = await _verify(redis_server.url, prefix)
    assert broken == broken_at


async def test_verify_finds_a_record_changed_behind_the_store(
    redis_server: RedisServer, raw_client: aioredis.Redis, prefix: str
) -> None:
    ids = await _populated(redis_server.url, prefix)
    await raw_client.hset(f"{prefix}msg:{ids[2]}", "state", "delivering")
    broken, _, mismatches = await _verify(redis_server.url, prefix)
    assert broken is None
    assert mismatches == (f"message {ids[2]} is delivering but its audit trail says held",)


# -- configuration and commands ------------------------------------------------------------------


def test_store_url_in_the_config(tmp_path: Path) -> None:
    cfg = tmp_path / "sekimori.yaml"
    cfg.write_text(
        f"secret: {'s' * 40}\nstore:\n  url: redis://:hunter2@db.internal:6380/2\n", encoding="utf-8"
    )
    store = load_config(cfg).store
    assert store.url == "redis://:hunter2@db.internal:6380/2"
    assert store.where == "redis://db.internal:6380/2"
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"secret: {'s' * 40}\nstore:\n  url: http://db.internal/\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="redis://"):
        load_config(bad)


async def test_open_store_follows_the_config(redis_server: RedisServer, tmp_path: Path) -> None:
    shared = await open_store(StoreConfig(path=tmp_path / "var", url=redis_server.url))
    embedded = await open_store(StoreConfig(path=tmp_path / "var"))
    try:
        assert isinstance(shared, RedisStore)
        assert isinstance(embedded, SQLiteStore)
    finally:
        await shared.close()
        await embedded.close()


@pytest.fixture
def db1(redis_server: RedisServer) -> str:
    """Database 1 of the session server, emptied: the commands use the default key prefix."""
    url = redis_server.url.rsplit("/", 1)[0] + "/1"
    with redis.Redis.from_url(url) as one:
        one.flushdb()
    return url


def test_queue_and_audit_commands_on_store_url(
    db1: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = asyncio.run(_populated(db1, "sekimori:"))
    cfg = tmp_path / "sekimori.yaml"
    cfg.write_text(f"secret: {'s' * 40}\nstore:\n  url: {db1}\n", encoding="utf-8")
    assert main(["queue", "list", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert all(i in out for i in ids)
    assert main(["queue", "release", "--config", str(cfg), ids[1]]) == 0
    capsys.readouterr()
    assert main(["audit", "verify", "--config", str(cfg)]) == 0
    assert capsys.readouterr().out.startswith("OK: 11 event(s), head ")


def test_commands_report_a_refused_server(
    own_server: RedisServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async def weaken() -> None:
        client = aioredis.Redis.from_url(own_server.url)
        try:
            await client.config_set("appendfsync", "no")
        finally:
            await client.aclose()

    asyncio.run(weaken())
    cfg = tmp_path / "sekimori.yaml"
    cfg.write_text(f"secret: {'s' * 40}\nstore:\n  url: {own_server.url}\n", encoding="utf-8")
    assert main(["audit", "verify", "--config", str(cfg)]) == 1
    assert "appendfsync always" in capsys.readouterr().err


async def test_deadline_fields_round_trip(redis_server: RedisServer, prefix: str) -> None:
    store = await RedisStore.open(redis_server.url, prefix=prefix)
    try:
        rec = await store.accept(RAW, sender="s@example.co.jp", recipients=["r@p.example"])
        expires = datetime(2026, 4, 1, 9, 0, 0, 123456, tzinfo=UTC) + timedelta(days=1)
        pending = await store.transition(
            rec.id,
            State.PENDING_APPROVAL,
            actor="policy",
            reason="approval",
            expires_at=expires,
            approvers=["boss@example.co.jp"],
        )
        assert pending.expires_at == expires
        assert [r.id for r in await store.due(expires)] == [rec.id]
        assert await store.due(expires - timedelta(microseconds=1)) == []
    finally:
        await store.close()
