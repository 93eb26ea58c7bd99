"""mitmproxy embedded on Sekimori's event loop, with exactly the addons the gateway needs.

Not a subprocess and not ``mitmdump``'s ``main`` (which calls ``asyncio.run`` and installs its
own signal handlers, ``mitmproxy/tools/main.py``): a :class:`mitmproxy.master.Master` built
inside the running loop (it takes the running loop in ``__init__``), with mitmproxy's core
addons for listening, TLS and layer selection, and Sekimori's (:mod:`~gateway.proxy.access`,
:mod:`~gateway.proxy.tenants`, :mod:`~gateway.proxy.gate`, :mod:`~gateway.proxy.hygiene`).
mitmproxy's other default addons are left out on purpose: ``proxyauth`` would keep passwords in
``flow.metadata``, ``block`` is replaced by ``proxy.clients``, and nothing saves or shows flows.

Options are set only after the addons are loaded (addon options such as
``connection_strategy`` do not exist before, ``optmanager.py``). TLS is decrypted only for
the hosts the services, rules and tenant restrictions need, minus ``proxy.bypass``
(:mod:`~gateway.proxy.interception`); every other CONNECT is a plain tunnel.
One :class:`Master` per process (mitmproxy keeps it in a module global, ``mitmproxy.ctx``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import sys
import warnings
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import certifi
from mitmproxy import options

with warnings.catch_warnings():
    # mitmproxy's addons package imports every addon; proxyauth's ldap3 and passlib (never used
    # here) warn about deprecated names of their own dependencies as they load.
    warnings.simplefilter("ignore", DeprecationWarning)
    from mitmproxy.addons import core, next_layer, proxyserver, tlsconfig
    from mitmproxy.master import Master

from gateway.config import Config, ProxyConfig
from gateway.pipeline import Inspector
from gateway.proxy import ca, verdict
from gateway.proxy.access import Access, ProxyLogin
from gateway.proxy.adapter import UploadJudge
from gateway.proxy.gate import UploadGate
from gateway.proxy.holding import HoldingServer
from gateway.proxy.hosts import HostPattern
from gateway.proxy.hygiene import Hygiene
from gateway.proxy.interception import Interception
from gateway.proxy.services import Catalog
from gateway.proxy.spool import Spool
from gateway.proxy.tenants import TenantHeaders
from gateway.store import Store
from gateway.store.upload_sessions import UploadSessions, open_upload_sessions
from gateway.uploads import UploadNotices
from quarantine_ui.accounts import Accounts

log = logging.getLogger("sekimori.proxy")

#: How often expired sessions and their spool are cleared away.
SWEEP_INTERVAL = 60.0
#: How long stopping waits for the connections in progress to wind down.
CLOSE_TIMEOUT = 5.0


def decrypted_hosts(config: ProxyConfig) -> tuple[HostPattern, ...]:
    """Every host the proxy decrypts (before ``bypass`` is taken out)."""
    found = [*Catalog.from_config(config).hosts, *TenantHeaders(config.tenant_restrictions).hosts]
    return tuple(dict.fromkeys(found))


class _Ready:
    def __init__(self) -> None:
        self.event = asyncio.Event()

    def running(self) -> None:
        self.event.set()


class ProxyServer:
    """The upload gate: start it inside the gateway's loop, stop it on the way out."""

    def __init__(
        self,
        config: Config,
        *,
        store: Store,
        inspector: Inspector,
        accounts: Accounts | None = None,
        clock: Callable[[], datetime] | None = None,
        extra_addons: Sequence[Any] = (),
        notices: UploadNotices | None = None,
    ) -> None:
        if config.proxy is None:
            raise ValueError("the configuration has no proxy section")
        self.config = config
        self.proxy = config.proxy
        self.store = store
        self.inspector = inspector
        self.accounts = accounts
        self.clock = clock or (lambda: datetime.now(UTC))
        self.extra_addons = tuple(extra_addons)
        self.notices = notices
        assert self.proxy.spool is not None and self.proxy.ca is not None
        self.spool = Spool(self.proxy.spool)
        self.master: Master | None = None
        self.sessions: UploadSessions | None = None
        self.holding: HoldingServer | None = None
        self.gate: UploadGate | None = None
        self.address: tuple[str, int] = (self.proxy.host, self.proxy.port)
        self._task: asyncio.Task[None] | None = None
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Listen on ``proxy.host:proxy.port``; raises :class:`~gateway.proxy.ca.CAError` without a
        CA and :class:`OSError` when it cannot listen."""
        proxy = self.proxy
        assert proxy.ca is not None
        ca.require_ca(proxy.ca)
        await asyncio.to_thread(self.spool.create)
        self.sessions = await open_upload_sessions(self.store, clock=self.clock)
        try:
            await self.spool.sweep(self.sessions, at_start=True)
            self.holding = HoldingServer(self.spool.bodies)
            await self.holding.start()
            await self._start_master()
        except BaseException:
            await self.stop()
            raise
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="proxy spool sweeper")

    async def _start_master(self) -> None:
        proxy = self.proxy
        assert self.sessions is not None and self.holding is not None and proxy.ca is not None
        catalog = Catalog.from_config(proxy)
        login = None
        if proxy.identity.basic and self.accounts is not None:
            login = ProxyLogin(self.accounts, self.sessions)
        elif proxy.identity.basic:
            raise ValueError("proxy.identity.basic needs the quarantine UI's accounts")
        judge = UploadJudge(
            self.inspector,
            self.store,
            instance=self.spool.instance,
            clock=self.clock,
            keep_passed=proxy.keep_passed,
            notices=self.notices,
            work=self.spool.work,
        )
        contact = verdict.Contact(
            ui_url=self.config.ui.base_url,
            security=self.config.notify.security,
            secret=self.config.secret_bytes,
            link_validity=self.config.ui.link_validity,
        )
        self.gate = UploadGate(
            catalog=catalog,
            judge=judge,
            sessions=self.sessions,
            spool=self.spool,
            holding=self.holding,
            limits=proxy.limits,
            contact=contact,
            clock=self.clock,
        )
        ready = _Ready()
        opts = options.Options()
        master = Master(opts, with_termlog=False)
        master.addons.add(  # type: ignore[no-untyped-call]
            core.Core(),
            proxyserver.Proxyserver(),  # type: ignore[no-untyped-call]
            next_layer.NextLayer(),
            tlsconfig.TlsConfig(),
            Interception(decrypted_hosts(proxy), [HostPattern.parse(p) for p in proxy.bypass]),
            Access(proxy.identity, clients=proxy.clients, holding=self.holding, login=login),
            TenantHeaders(proxy.tenant_restrictions),
            self.gate,
            Hygiene(),
            *self.extra_addons,
            ready,
        )
        update: dict[str, Any] = {
            "mode": [f"regular@{proxy.host}:{proxy.port}"],
            "confdir": str(proxy.ca),
            # Connect upstream only when a request goes there: a refused upload never even
            # opens a connection to its service.
            "connection_strategy": "lazy",
            "http3": False,
        }
        if proxy.upstream_trust is not None:
            update["ssl_verify_upstream_trusted_ca"] = str(await asyncio.to_thread(self._trust_bundle))
        opts.update(**update)  # type: ignore[no-untyped-call]
        self.master = master
        self._task = asyncio.create_task(master.run(), name="mitmproxy")
        waiter = asyncio.ensure_future(ready.event.wait())
        await asyncio.wait([self._task, waiter], return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if self._task.done():
            self._task.result()
            raise OSError(f"the proxy stopped while starting on {proxy.host}:{proxy.port}")
        server = master.addons.get("proxyserver")  # type: ignore[no-untyped-call]
        addrs = server.listen_addrs() if server is not None else []
        if not addrs:
            raise OSError(f"the proxy cannot listen on {proxy.host}:{proxy.port} (in use?)")
        host, port = addrs[0][0], int(addrs[0][1])
        self.address = (host, port)
        inner = "127.0.0.1" if _unspecified(host) else host
        self.holding.proxy_address = (inner, port)

    def _trust_bundle(self) -> Path:
        """The system's CA bundle with ``proxy.upstream_trust`` added (mitmproxy takes one file,
        which would replace the system's)."""
        assert self.proxy.upstream_trust is not None
        bundle = self.spool.root / "upstream-trust.pem"
        extra = self.proxy.upstream_trust.read_bytes()
        bundle.write_bytes(Path(certifi.where()).read_bytes().rstrip(b"\n") + b"\n" + extra)
        return bundle

    async def _sweep_forever(self) -> None:
        assert self.sessions is not None
        while True:
            await asyncio.sleep(SWEEP_INTERVAL)
            try:
                await self.spool.sweep(self.sessions)
            except Exception:
                log.exception("proxy spool sweep failed")

    @staticmethod
    async def _close_connections(master: Master) -> None:
        """Stop listening and end the connections in progress. mitmproxy leaves both to the
        process exit (its ``proxyserver`` addon has no ``done`` hook); embedded, they would
        outlive the master and keep the event loop from closing."""
        server = master.addons.get("proxyserver")  # type: ignore[no-untyped-call]
        if server is None:
            return
        await server.servers.update([])
        handlers = []
        for handler in list(server.connections.values()):
            io = handler.transports.get(handler.client)
            if io is not None and io.handler is not None:
                io.handler.cancel("the gateway is stopping")
                handlers.append(io.handler)
        if handlers:
            await asyncio.wait(handlers, timeout=CLOSE_TIMEOUT)

    async def sweep(self) -> int:
        """Clear expired sessions and their spool now (the periodic sweep's work)."""
        assert self.sessions is not None
        return await self.spool.sweep(self.sessions)

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        if self.master is not None and self._task is not None:
            await self._close_connections(self.master)
            self.master.shutdown()  # type: ignore[no-untyped-call]
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self.master = None
            self._task = None
        if self.holding is not None:
            await self.holding.stop()
            self.holding = None
        if self.sessions is not None:
            await self.sessions.close()
            self.sessions = None


def _unspecified(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return host in ("", "*")


def quiet_mitmproxy(verbose: bool) -> None:
    """mitmproxy logs every connection at INFO; keep its warnings unless ``--verbose``."""
    logging.getLogger("mitmproxy").setLevel(logging.DEBUG if verbose else logging.WARNING)


#: How long (seconds) the event loop may hold the GIL while a thread waits for it. CPython's
#: default (5 ms) is as long as the upload gate's whole overhead: while the loop relays a
#: 1 MiB body through TLS it is rarely idle, so the store's thread (the verdict's commit) and
#: the digest thread waited up to 5 ms for their result to come back. Measured on the shared
#: 2-core machine at concurrency 1: the verdict's wait before the answer fell from 2.2 ms
#: (median) to nothing, the upload's latency from ~12 to ~10 ms.
SWITCH_INTERVAL = 0.0005


def prompt_threads() -> None:
    """Let the threads the gate waits on (store, digests) run as soon as they are ready
    (:data:`SWITCH_INTERVAL`); the process's own setting, so the commands call it at start."""
    sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL))


__all__ = ["SWITCH_INTERVAL", "ProxyServer", "decrypted_hosts", "prompt_threads", "quiet_mitmproxy"]
