"""``sekimori ui``: the quarantine web UI over the gateway's store, as its own process.

It shares the relay's configuration file: the store (``store.path``; the UI's own database
``ui.sqlite3`` lives there too, where ``sekimori user --var`` finds it), the active policy file
(``policy.path``, which the policy page edits and the relay watches) and the ``secret`` that signs
the links in notifications. Rejections are told to senders through a notifier with its own
delivery worker, so this process needs the upstream relay settings as well.

:func:`serve_ui` is the piece ``sekimori run`` starts next to the relay, passing the relay's
store and notifier.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import signal
import sys
from collections.abc import Callable
from typing import Any

import uvloop

from gateway import logs
from gateway.actions import LinkAuth
from gateway.config import Config, ConfigError, load_config
from gateway.health import Health, for_config
from gateway.pipeline import Inspector
from gateway.proxy.pac import pac_file
from gateway.relay import Relay
from gateway.store import Store, StoreError, open_store
from policies import PolicyError, PolicyHolder
from quarantine_ui.app import build_server
from quarantine_ui.config import UIConfig
from quarantine_ui.mailroom import Notifications


def register(sub: Any) -> None:
    p = sub.add_parser("ui", help="run the quarantine web UI over the gateway's store")
    p.add_argument("--config", default="sekimori.yaml", help="configuration file (YAML)")
    p.add_argument("--host", default=None, help="address to listen on (default: ui.host of the config)")
    p.add_argument("--port", type=int, default=None, help="port (default: ui.port of the config)")
    p.add_argument(
        "--insecure-cookies",
        action="store_true",
        help="send cookies without Secure (plain-HTTP tests on localhost only)",
    )
    p.set_defaults(func=main)


def ui_config(config: Config, *, secure_cookies: bool = True) -> UIConfig:
    """The UI settings derived from the gateway's: same state directory, same link secret."""
    ui = config.ui
    return UIConfig(
        var_dir=config.store.path,
        secret=config.secret_bytes,
        secure_cookies=secure_cookies,
        trusted_proxies=tuple(ipaddress.ip_network(n, strict=False) for n in ui.trusted_proxies),
        sso_header=ui.sso_header,
        mfa_for_everyone=ui.mfa_for_everyone,
        default_lang=ui.default_language,
        session_idle=ui.session_idle,
        session_absolute=ui.session_absolute,
        approval_links=LinkAuth(ui.approval_links),
    )


async def serve_ui(
    config: Config,
    store: Store,
    notifier: Notifications | None,
    *,
    host: str,
    port: int,
    stop: asyncio.Event,
    secure_cookies: bool = True,
    on_policy_change: Callable[[], None] | None = None,
    ready: asyncio.Event | None = None,
    pac: str | None = None,
    health: Health | None = None,
) -> None:
    """Serve the UI on ``host:port`` until ``stop`` is set; ``ready`` is set once it listens.
    ``pac`` is the upload gate's PAC file, served at ``/proxy.pac``."""
    server = build_server(
        ui_config(config, secure_cookies=secure_cookies),
        host,
        port,
        store,
        policy_path=config.policy.path,
        policy_versions=config.policy.versions,
        notifier=notifier,
        on_policy_change=on_policy_change,
        pac=pac,
        health=health if config.metrics.on_ui else None,
    )
    task = asyncio.create_task(server.serve(), name="ui")
    try:
        while not server.started:
            if task.done():
                task.result()  # raises why it could not start
                raise OSError(f"the quarantine UI did not start on {host}:{port}")
            await asyncio.sleep(0.02)
        if ready is not None:
            ready.set()
        await stop.wait()
    finally:
        server.should_exit = True
        await task


async def _run(config: Config, args: argparse.Namespace, stop: asyncio.Event) -> None:
    holder = PolicyHolder(config.policy.path, override=config.policy.active_file)
    store = await open_store(config.store)
    inspector = Inspector(holder, scan_time=config.scan.time, workers=0)
    health = for_config(config, store=store, policy=holder)
    relay = Relay(config, store, inspector)
    relay.delivery.start()
    host = args.host or config.ui.host
    port = args.port or config.ui.port
    try:
        print(f"sekimori: quarantine UI on http://{host}:{port}/ (store {config.store.where})", flush=True)
        await serve_ui(
            config,
            store,
            relay.notifier,
            host=host,
            port=port,
            stop=stop,
            secure_cookies=config.ui.secure_cookies and not args.insecure_cookies,
            pac=pac_file(config.proxy) if config.proxy is not None else None,
            health=health,
        )
    finally:
        await relay.delivery.stop()
        inspector.close()
        await store.close()


def main(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"sekimori: {exc}", file=sys.stderr)
        return 2
    logs.configure_from(config, verbose=args.verbose)

    async def _main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await _run(config, args, stop)

    try:
        uvloop.run(_main())
    except PolicyError as exc:
        print(f"sekimori: {exc.text_ja}\nsekimori: {exc.text_en}", file=sys.stderr)
        return 2
    except (OSError, ValueError, StoreError) as exc:
        print(f"sekimori: cannot start the UI: {exc}", file=sys.stderr)
        return 1
    return 0
