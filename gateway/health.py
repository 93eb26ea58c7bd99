"""Liveness and readiness, for load balancers, systemd and Kubernetes-style probes.

``/healthz`` answers 200 while the process serves requests. ``/readyz`` answers 200 only when
the process can do its work, each check bounded by ``metrics.timeout``:

- ``store``: the store answers (a count of its items);
- ``policy``: a policy is loaded (a broken newer file is reported, the old policy still runs);
- ``workers``: no classification worker is missing;
- ``upstream``: the upstream MTA accepts a connection and greets with 220 (implicit TLS: the
  connection alone) — only for the processes that deliver.

Otherwise 503, with the failing checks named. The body is JSON:
``{"ready": false, "checks": {"store": "ok", "upstream": "unreachable: …"}}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from gateway import metrics
from gateway.store import Store
from policies import PolicyHolder

log = logging.getLogger(__name__)

Check = Callable[[], Awaitable[str]]


@dataclass
class Upstream:
    host: str
    port: int
    implicit_tls: bool = False


async def probe_upstream(up: Upstream) -> str:
    """Connect and read the greeting (RFC 5321 s4.2: ``220``); then ``QUIT``. The caller bounds
    the time."""
    reader, writer = await asyncio.open_connection(up.host, up.port)
    try:
        if up.implicit_tls:
            return "ok"
        greeting = await reader.readline()
        if not greeting.startswith(b"220"):
            return f"unexpected greeting: {greeting[:40]!r}"
        writer.write(b"QUIT\r\n")
        with contextlib.suppress(OSError):
            await writer.drain()
        return "ok"
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


@dataclass
class Health:
    """What a process checks before it says it is ready; parts it does not have are ``None``."""

    store: Store | None = None
    policy: PolicyHolder | None = None
    workers: Callable[[], bool] | None = None
    upstream: Upstream | None = None
    timeout: float = 5.0
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def checks(self) -> dict[str, Check]:
        out: dict[str, Check] = {}
        if self.store is not None:
            store = self.store

            async def store_ok() -> str:
                await store.stats()
                return "ok"

            out["store"] = store_ok
        if self.policy is not None:
            holder = self.policy

            async def policy_ok() -> str:
                rules = len(holder.current.rules)
                if holder.last_error is not None:
                    return f"ok ({rules} rules; a newer file was not loaded: {holder.last_error.text_en})"
                return f"ok ({rules} rules)"

            out["policy"] = policy_ok
        if self.workers is not None:
            alive = self.workers

            async def workers_ok() -> str:
                return "ok" if alive() else "a classification worker is missing"

            out["workers"] = workers_ok
        if self.upstream is not None:
            up = self.upstream

            async def upstream_ok() -> str:
                return await probe_upstream(up)

            out["upstream"] = upstream_ok
        return out

    async def ready(self) -> tuple[bool, dict[str, str]]:
        names = list(self.checks())
        results = await asyncio.gather(*(self._run(check) for check in self.checks().values()))
        report = dict(zip(names, results, strict=True))
        return all(r.startswith("ok") for r in report.values()), report

    async def _run(self, check: Check) -> str:
        try:
            async with asyncio.timeout(self.timeout):
                return await check()
        except TimeoutError:
            return f"no answer within {self.timeout:g}s"
        except Exception as exc:
            return f"unreachable: {type(exc).__name__}: {exc}"[:300]


def routes(health: Health) -> list[BaseRoute]:
    """``/metrics``, ``/healthz`` and ``/readyz`` for an ASGI app."""

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok\n", headers={"cache-control": "no-store"})

    async def readyz(request: Request) -> Response:
        ok, report = await health.ready()
        if not ok:
            log.warning(
                "not ready: %s", ", ".join(f"{k}: {v}" for k, v in report.items() if not v.startswith("ok"))
            )
        return JSONResponse(
            {"ready": ok, "checks": report},
            status_code=200 if ok else 503,
            headers={"cache-control": "no-store"},
        )

    async def metrics_page(request: Request) -> Response:
        if health.store is not None:
            try:
                async with asyncio.timeout(health.timeout):
                    await metrics.refresh(health.store, health.clock())
            except Exception as exc:  # the counters still count; the store gauges keep their last value
                log.warning("metrics: cannot read the store: %s", exc)
        body, content_type = metrics.exposition()
        return Response(body, media_type=content_type, headers={"cache-control": "no-store"})

    return [
        Route("/healthz", healthz, methods=["GET", "HEAD"]),
        Route("/readyz", readyz, methods=["GET", "HEAD"]),
        Route("/metrics", metrics_page, methods=["GET"]),
    ]


def app(health: Health) -> Any:
    """A small app with only those three routes, for ``metrics.port``."""
    from starlette.applications import Starlette

    return Starlette(routes=routes(health))


async def serve(health: Health, host: str, port: int, stop: asyncio.Event) -> None:
    """Serve :func:`app` on ``host:port`` until ``stop`` is set (``metrics.port``)."""
    import uvicorn

    server = uvicorn.Server(
        uvicorn.Config(
            app(health),
            host=host,
            port=port,
            log_config=None,
            access_log=False,
            lifespan="off",
            server_header=False,
            timeout_graceful_shutdown=2,
        )
    )
    task = asyncio.create_task(server.serve(), name="metrics")
    try:
        while not server.started:
            if task.done():
                task.result()
                raise OSError(f"the metrics listener did not start on {host}:{port}")
            await asyncio.sleep(0.02)
        await stop.wait()
    finally:
        server.should_exit = True
        await task


def for_config(
    config: Any,
    *,
    store: Store | None,
    policy: PolicyHolder | None,
    workers: Callable[[], bool] | None = None,
    delivers: bool = False,
) -> Health:
    """The checks of a process from its configuration (``delivers``: it sends to the upstream)."""
    up = config.upstream
    return Health(
        store=store,
        policy=policy,
        workers=workers,
        upstream=Upstream(up.host, up.port, up.tls == "tls") if delivers else None,
        timeout=min(config.metrics.timeout, up.timeout),
    )


__all__ = ["Health", "Upstream", "app", "for_config", "probe_upstream", "routes", "serve"]
