"""``/healthz`` and ``/readyz`` over real sockets: the store on a real ``redis-server`` and the
upstream a real SMTP sink; readiness goes when either goes away and comes back with it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from gateway.config import Config, load_config
from gateway.health import Health, for_config, serve
from tests.gateway.conftest import Gateway, Sink, eventually, free_port, start_gateway, write_config
from tests.gateway.redis_server import RedisServer


@pytest.fixture
async def redis(tmp_path: Path) -> AsyncIterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def stack(tmp_path: Path, sink: Sink, redis: RedisServer) -> AsyncIterator[tuple[Gateway, Health, str]]:
    config: Config = load_config(write_config(tmp_path, upstream_port=sink.port))
    config = config.model_copy(
        update={
            "store": config.store.model_copy(update={"url": redis.url}),
            "metrics": config.metrics.model_copy(update={"timeout": 2.0}),
        }
    )
    gateway = await start_gateway(config)
    health = for_config(
        config,
        store=gateway.store,
        policy=gateway.inspector.policies,
        workers=gateway.inspector.workers_alive,
        delivers=True,
    )
    stop = asyncio.Event()
    port = free_port()
    task = asyncio.create_task(serve(health, "127.0.0.1", port, stop))
    url = f"http://127.0.0.1:{port}"

    async def listening() -> bool:
        try:
            async with httpx.AsyncClient() as c:
                return (await c.get(f"{url}/healthz")).status_code == 200
        except httpx.TransportError:
            return False

    await eventually(listening)
    yield gateway, health, url
    stop.set()
    await task
    await gateway.stop()


async def _ready(url: str) -> tuple[int, dict[str, str]]:
    async with httpx.AsyncClient(timeout=30) as c:
        r = await c.get(f"{url}/readyz")
    return r.status_code, r.json()["checks"]


async def test_ready_then_not_when_the_store_goes_and_ready_again_when_it_returns(
    stack: tuple[Gateway, Health, str], redis: RedisServer
) -> None:
    _, _, url = stack
    status, checks = await _ready(url)
    assert status == 200, checks
    assert set(checks) == {"store", "policy", "workers", "upstream"}
    assert checks["policy"].startswith("ok (") and checks["upstream"] == "ok"
    redis.stop()
    status, checks = await _ready(url)
    assert status == 503 and not checks["store"].startswith("ok"), checks
    assert checks["upstream"] == "ok" and checks["policy"].startswith("ok")
    async with httpx.AsyncClient() as c:
        assert (await c.get(f"{url}/healthz")).status_code == 200  # alive all the same
    redis.start()

    async def ready_again() -> bool:
        return (await _ready(url))[0] == 200

    await eventually(ready_again)


async def test_ready_then_not_when_the_upstream_goes_and_ready_again_when_it_returns(
    stack: tuple[Gateway, Health, str], sink: Sink
) -> None:
    _, _, url = stack
    assert (await _ready(url))[0] == 200
    await sink.stop()
    status, checks = await _ready(url)
    assert status == 503 and checks["upstream"].startswith("unreachable"), checks
    assert checks["store"] == "ok"
    await sink.start()

    async def ready_again() -> bool:
        return (await _ready(url))[0] == 200

    await eventually(ready_again)


async def test_an_upstream_that_does_not_answer_is_unready_within_the_timeout(tmp_path: Path) -> None:
    accepted: list[asyncio.StreamWriter] = []

    async def never_greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    silent = await asyncio.start_server(never_greet, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    config = load_config(write_config(tmp_path, upstream_port=port))
    health = for_config(config.model_copy(update={"metrics": config.metrics.model_copy(update={"timeout": 0.5})}),
                        store=None, policy=None, delivers=True)  # fmt: skip
    ok, checks = await health.ready()
    assert not ok and checks == {"upstream": "no answer within 0.5s"}
    for writer in accepted:
        writer.close()
    silent.close()
    await silent.wait_closed()


async def test_the_ready_command_waits_for_readyz(stack: tuple[Gateway, Health, str], sink: Sink) -> None:
    from gateway.cli import main

    _, _, url = stack
    assert await asyncio.to_thread(main, ["ready", f"{url}/readyz", "--wait", "10s"]) == 0
    await sink.stop()
    assert await asyncio.to_thread(main, ["ready", f"{url}/readyz", "--wait", "1s"]) == 1
    await sink.start()
    assert await asyncio.to_thread(main, ["ready", f"{url}/readyz", "--wait", "20s"]) == 0
