"""``sekimori run`` (the relay with its scheduler, the upload gate when the configuration has a
``proxy:`` section, the UI and the download listener; ``--demo`` adds a catch-all sink on the
upstream port and creates the proxy's CA if there is none) and ``sekimori smtp`` (the same
relay, for running the parts separately)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email.header
import email.parser
import email.policy
import gc
import getpass
import logging
import signal
import sys
from typing import Any

import uvicorn
import uvloop
from aiosmtpd.smtp import SMTP, Envelope, Session

from gateway import logs
from gateway.commands.proxy import check_ready, describe, start_proxy
from gateway.commands.ui import serve_ui
from gateway.config import Config, ConfigError, load_config
from gateway.health import for_config
from gateway.health import serve as health_serve
from gateway.links.web import build_server as build_download_server
from gateway.pipeline import Inspector
from gateway.proxy import ca
from gateway.proxy.pac import pac_file
from gateway.proxy.server import ProxyServer, prompt_threads, quiet_mitmproxy
from gateway.relay import Relay
from gateway.scheduler import Scheduler
from gateway.siem import Forwarder
from gateway.smtp import hash_password, start_server
from gateway.store import StoreError, open_store
from policies import PolicyHolder

log = logging.getLogger("sekimori.run")


def register(sub: Any) -> None:
    for name, helptext in (
        ("run", "run the gateway: SMTP relay, delivery, scheduler, upload gate and the quarantine UI"),
        ("smtp", "run only the SMTP relay with its delivery and scheduler"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--config", default="sekimori.yaml", help="configuration file (YAML)")
        p.add_argument(
            "--metrics-port",
            type=int,
            metavar="PORT",
            help="serve /metrics, /healthz and /readyz on this port of metrics.host (overrides metrics.port)",
        )
        if name == "run":
            p.add_argument(
                "--demo",
                action="store_true",
                help="also start a catch-all SMTP sink on the upstream port (and create the proxy's CA if missing)",
            )
        else:
            p.add_argument(
                "--hash-password",
                action="store_true",
                help="read a password and print its hash for smtp.auth.users",
            )
        p.set_defaults(func=main, with_ui=name == "run", with_proxy=name == "run")


def _decode(value: str) -> str:
    try:
        return str(email.header.make_header(email.header.decode_header(value)))
    except (ValueError, LookupError, UnicodeError):
        return value


def _masked(subject: str) -> str:
    """``subject`` with every letter and digit of each value the classifiers find in it starred
    (separators kept): the demo sink's line is in the gateway's output, which never shows a
    scanned value.

    >>> _masked("資料: マイナンバー 1234 5678 9018"), _masked("社内連絡")
    ('資料: マイナンバー **** **** ****', '社内連絡')
    """
    if not subject:
        return subject
    from classifiers.engine import scan_parts
    from classifiers.model import Part
    from classifiers.redact import mask

    found = scan_parts([Part(location="subject", text=subject, kind="subject")]).findings
    out, end = subject, len(subject)
    for f in sorted(found, key=lambda f: f.span, reverse=True):
        a, b = f.span
        if b <= end:  # the last of overlapping findings is masked already
            out, end = out[:a] + mask(out[a:b], 0) + out[b:], a
    return out


class DemoSink:
    """Catch-all upstream for ``--demo``: logs each message it receives."""

    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.count += 1
        raw = envelope.original_content or b""
        head = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(
            raw.split(b"\r\n\r\n", 1)[0]
        )
        # In a thread: the first call loads the classifiers (a second), not on the relay's loop.
        subject = await asyncio.to_thread(_masked, _decode(" ".join(str(head.get("Subject", "")).split())))
        verdict = " ".join(str(head.get("X-Sekimori-Verdict", "")).split())
        print(
            f"[demo sink] #{self.count} from {envelope.mail_from if envelope.mail_from == '<>' else f'<{envelope.mail_from}>'} to {', '.join(envelope.rcpt_tos)}"
            f" subject={subject!r} verdict={verdict or '-'} ({len(raw)} bytes)",
            flush=True,
        )
        return "250 2.0.0 OK (demo sink)"


async def serve(
    config: Config,
    *,
    demo: bool,
    stop: asyncio.Event,
    with_ui: bool = True,
    with_proxy: bool = True,
    metrics_port: int | None = None,
) -> None:
    # The policy first: a broken one stops the start before anything listens or opens.
    holder = PolicyHolder(config.policy.path, override=config.policy.active_file)
    sink_server = None
    if demo:
        loop = asyncio.get_running_loop()
        sink = DemoSink()
        sink_server = await loop.create_server(
            lambda: SMTP(sink, hostname="demo-sink", enable_SMTPUTF8=True, loop=loop),
            host=config.upstream.host,
            port=config.upstream.port,
        )
    store = await open_store(config.store)
    inspector = Inspector(
        holder,
        scan_time=config.scan.time,
        workers=config.scan.worker_count,
        reload_interval=config.policy.reload_interval,
        memory=config.scan.memory_bytes,
        slow_slots=config.scan.slow_slot_count,
    )
    relay = Relay(config, store, inspector)
    scheduler = Scheduler(relay, interval=config.scheduler.interval)
    health = for_config(config, store=store, policy=holder, workers=inspector.workers_alive, delivers=True)
    forwarder = Forwarder(config.siem, store, interval=config.scheduler.interval)
    metrics_task: asyncio.Task[None] | None = None
    server = None
    proxy: ProxyServer | None = None
    ui_task: asyncio.Task[None] | None = None
    downloads: uvicorn.Server | None = None
    download_task: asyncio.Task[None] | None = None
    try:
        await relay.start()
        scheduler.start()
        forwarder.start()
        server = await start_server(config, relay.receive)
        addr = server.sockets[0].getsockname()
        line = (
            f"sekimori: SMTP relay on {addr[0]}:{addr[1]} -> upstream {config.upstream.host}:{config.upstream.port}"
            f", store {config.store.where}, policy {config.policy.path}"
        )
        if with_proxy and config.proxy is not None:
            proxy = await start_proxy(config, store, inspector, relay.notifier)
            line += f", {describe(proxy)}"
        if with_ui and config.ui.enabled:
            ui_ready = asyncio.Event()
            ui_task = asyncio.create_task(
                serve_ui(
                    config,
                    store,
                    relay.notifier,
                    host=config.ui.host,
                    port=config.ui.port,
                    stop=stop,
                    secure_cookies=config.ui.secure_cookies,
                    on_policy_change=inspector.reload_soon,
                    ready=ui_ready,
                    pac=pac_file(config.proxy) if proxy is not None and config.proxy is not None else None,
                    health=health,
                ),
                name="ui",
            )
            await asyncio.wait(
                [ui_task, asyncio.ensure_future(ui_ready.wait())], return_when=asyncio.FIRST_COMPLETED
            )
            if ui_task.done():
                ui_task.result()  # the UI could not start: say why instead of running half
            line += f", quarantine UI on http://{config.ui.host}:{config.ui.port}/"
            if proxy is not None:
                line += " (PAC file at /proxy.pac)"
        if with_ui and config.links.enabled:
            downloads = build_download_server(relay.links, config.links.host, config.links.port)
            download_task = asyncio.create_task(downloads.serve(), name="downloads")
            while not downloads.started:
                if download_task.done():
                    download_task.result()  # raises why it could not start
                    raise OSError(
                        f"the download listener did not start on {config.links.host}:{config.links.port}"
                    )
                await asyncio.sleep(0.02)
            line += f", download pages on http://{config.links.host}:{config.links.port}/ (links: {config.links.base_url})"
        port = metrics_port or config.metrics.port
        if port:
            metrics_task = asyncio.create_task(
                health_serve(health, config.metrics.host, port, stop), name="metrics"
            )
            line += f", metrics on http://{config.metrics.host}:{port}/metrics"
        if demo:
            line += f"; demo sink on {config.upstream.host}:{config.upstream.port} prints what it receives"
        # Everything long-lived is loaded and built now (the classifiers' word lists, the policy,
        # the UI): moved out of the collector's sight, its full passes need not walk it again
        # and again while mail flows.
        gc.collect()
        gc.freeze()
        print(line, flush=True)
        if ui_task is not None:
            await asyncio.wait(
                [ui_task, asyncio.ensure_future(stop.wait())], return_when=asyncio.FIRST_COMPLETED
            )
            if ui_task.done():
                ui_task.result()  # the UI failed to start or stopped: say why instead of running half
        else:
            await stop.wait()
    finally:
        stop.set()
        if ui_task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await ui_task
        if metrics_task is not None:
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await metrics_task
        if downloads is not None and download_task is not None:
            downloads.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await download_task
        if proxy is not None:
            await proxy.stop()
        if server is not None:
            server.close()
            await server.wait_closed()
        await scheduler.stop()
        await forwarder.stop()
        await relay.stop()
        inspector.close()
        await store.close()
        if sink_server is not None:
            sink_server.close()


def _demo_ca(config: Config) -> None:
    """``--demo``: a CA for the upload gate on first start, so that ``make run`` just works."""
    assert config.proxy is not None and config.proxy.ca is not None
    if (config.proxy.ca / ca.KEY_AND_CERT).exists():
        return
    key, cert = ca.create_ca(organisation="Sekimori demo", common_name="Sekimori demo CA (make run)")
    found = ca.write_ca(config.proxy.ca, key, cert)
    print(f"sekimori: created a demo CA in {config.proxy.ca}: {found}", flush=True)


def main(args: argparse.Namespace) -> int:
    if getattr(args, "hash_password", False):
        password = getpass.getpass("password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
        print(hash_password(password))
        return 0
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"sekimori: {exc}", file=sys.stderr)
        return 2
    logs.configure_from(config, verbose=args.verbose)
    if not config.policy.path.is_file():
        print(f"sekimori: {args.config}: policy.path: no such file: {config.policy.path}", file=sys.stderr)
        return 2
    with_proxy = bool(getattr(args, "with_proxy", False)) and config.proxy is not None
    if with_proxy:
        if getattr(args, "demo", False):
            _demo_ca(config)
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
        await serve(
            config,
            demo=bool(getattr(args, "demo", False)),
            stop=stop,
            with_ui=bool(getattr(args, "with_ui", False)),
            with_proxy=with_proxy,
            metrics_port=args.metrics_port,
        )

    if not args.verbose:
        logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd's per-command log
    try:
        uvloop.run(_main())
    except (OSError, StoreError) as exc:
        print(f"sekimori: cannot start: {exc}", file=sys.stderr)
        return 1
    return 0
