"""``sekimori proxy``: the upload gate alone (an explicit HTTP(S) proxy that inspects uploads),
over the same configuration file, store and policy as the relay.

:func:`start_proxy` is the piece ``sekimori run`` starts beside the relay and the UI, sharing
their store and classification pool.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import signal
import socket
import sys
from typing import Any

import uvloop

from gateway import logs
from gateway.config import Config, ConfigError, load_config
from gateway.health import for_config
from gateway.health import serve as health_serve
from gateway.notify import Notifier
from gateway.pipeline import Inspector
from gateway.proxy import ca
from gateway.proxy.server import ProxyServer, prompt_threads, quiet_mitmproxy
from gateway.store import Store, StoreError, open_store
from gateway.uploads import UploadNotices
from policies import PolicyError, PolicyHolder
from quarantine_ui.accounts import Accounts
from quarantine_ui.db import Database


def register(sub: Any) -> None:
    p = sub.add_parser(
        "proxy", help="run only the upload gate: the HTTP(S) proxy that inspects cloud uploads"
    )
    p.add_argument(
        "--config", default="sekimori.yaml", help="configuration file (YAML) with a proxy: section"
    )
    p.add_argument(
        "--metrics-port",
        type=int,
        metavar="PORT",
        help="serve /metrics, /healthz and /readyz on this port of metrics.host (overrides metrics.port)",
    )
    p.set_defaults(func=main)


def proxy_accounts(config: Config) -> Accounts | None:
    """The UI's accounts, when the proxy checks passwords against them (``identity.basic``)."""
    if config.proxy is None or not config.proxy.identity.basic:
        return None
    from gateway.commands.ui import ui_config

    ui = ui_config(config, secure_cookies=config.ui.secure_cookies)
    return Accounts(Database(ui.db_path), ui)


async def start_proxy(
    config: Config, store: Store, inspector: Inspector, notices: UploadNotices | None = None
) -> ProxyServer:
    """Start the upload gate on ``proxy.host:proxy.port`` (the caller stops it). ``notices``:
    the relay's notifier under ``sekimori run``; alone, notices are queued in the store for the
    running gateway's scheduler to deliver (as the queue command does)."""
    if notices is None:
        notices = Notifier(
            config,
            store,
            None,
            owner=f"proxy:{socket.gethostname()}",
            is_internal=lambda address: inspector.policies.current.is_internal(address),
        )
    server = ProxyServer(
        config, store=store, inspector=inspector, accounts=proxy_accounts(config), notices=notices
    )
    await server.start()
    return server


def describe(server: ProxyServer) -> str:
    host, port = server.address
    return f"upload gate (HTTP(S) proxy) on {host}:{port}"


async def _run(config: Config, stop: asyncio.Event, metrics_port: int | None = None) -> None:
    holder = PolicyHolder(config.policy.path, override=config.policy.active_file)
    store = await open_store(config.store)
    inspector = Inspector(
        holder,
        scan_time=config.scan.time,
        workers=config.scan.worker_count,
        reload_interval=config.policy.reload_interval,
        memory=config.scan.memory_bytes,
        slow_slots=config.scan.slow_slot_count,
    )
    server: ProxyServer | None = None
    health = for_config(config, store=store, policy=holder, workers=inspector.workers_alive)
    port = metrics_port or config.metrics.port
    metrics_task: asyncio.Task[None] | None = None
    try:
        server = await start_proxy(config, store, inspector)
        line = f"sekimori: {describe(server)}, store {config.store.where}, policy {config.policy.path}"
        if port:
            metrics_task = asyncio.create_task(health_serve(health, config.metrics.host, port, stop))
            line += f", metrics on http://{config.metrics.host}:{port}/metrics"
        # Everything long-lived is loaded and built now (mitmproxy, the policy, the
        # classifiers): moved out of the collector's sight, as ``sekimori run`` does, its full
        # passes need not walk it again while uploads flow (one pass cost ~0.1 s, every few
        # hundred uploads, on the benchmark machine).
        gc.collect()
        gc.freeze()
        print(line, flush=True)
        await stop.wait()
    finally:
        stop.set()
        if metrics_task is not None:
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await metrics_task
        if server is not None:
            await server.stop()
        inspector.close()
        await store.close()


def check_ready(config: Config, config_path: str) -> str | None:
    """Why the proxy cannot start (no section, no CA), or ``None``."""
    if config.proxy is None:
        return f"{config_path}: no proxy: section (see sekimori.example.yaml)"
    assert config.proxy.ca is not None
    try:
        ca.require_ca(config.proxy.ca)
    except ca.CAError as exc:
        return f"{config_path}: proxy.ca: {exc}"
    return None


def main(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"sekimori: {exc}", file=sys.stderr)
        return 2
    logs.configure_from(config, verbose=args.verbose)
    problem = check_ready(config, args.config)
    if problem is not None:
        print(f"sekimori: {problem}", file=sys.stderr)
        return 2
    quiet_mitmproxy(args.verbose)
    prompt_threads()

    async def _main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await _run(config, stop, args.metrics_port)

    try:
        uvloop.run(_main())
    except PolicyError as exc:
        print(f"sekimori: {exc.text_ja}\nsekimori: {exc.text_en}", file=sys.stderr)
        return 2
    except (OSError, StoreError, ValueError) as exc:
        print(f"sekimori: cannot start the upload gate: {exc}", file=sys.stderr)
        return 1
    return 0
