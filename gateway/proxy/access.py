"""Who may use the proxy, and who is uploading (mitmproxy addon).

Clients connect only from ``proxy.clients`` (and from the gateway itself: loopback and the
address the proxy listens on, where the holding server sends passed requests back in). The person behind a request is found, in this order:

1. a trusted header (``proxy.identity.header``) set by an authenticating front proxy, believed
   only from ``proxy.identity.trusted_proxies`` (on the CONNECT for HTTPS, which the front proxy
   cannot see inside of; per request for plain HTTP);
2. proxy authentication (``Proxy-Authorization: Basic``) against the quarantine UI's accounts,
   accepted only on a loopback connection or over TLS to the proxy (a Basic password on a
   cleartext network is refused, not checked); a CONNECT's credentials hold for the requests
   inside its tunnel, as in mitmproxy's ``proxyauth``;
3. the network the client is in (``proxy.identity.networks``, longest prefix wins).

Only the user's address is kept (``flow.metadata["sekimori.user"]``); the password is checked
and dropped, and the ``Proxy-Authorization`` header is removed before anything is forwarded,
so neither reaches a log, the store or a flow dump. Checking a password costs an argon2 hash, so
a success is remembered for a few minutes under a keyed hash of the credentials, and failures
per client address are counted in the store (all instances share the count): past
``MAX_FAILURES`` in ``FAILURE_WINDOW`` the client is refused without a check.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import ipaddress
import logging
import secrets
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from mitmproxy import connection, http

from gateway.config import ProxyIdentityConfig
from gateway.proxy.failsafe import fail_closed
from gateway.proxy.holding import PASS_HEADER, HoldingServer
from gateway.store.upload_sessions import UploadSessions
from quarantine_ui.accounts import Accounts

log = logging.getLogger("sekimori.proxy")

USER = "sekimori.user"
VIA = "sekimori.via"
#: Set on a request that comes back from the holding server with a valid one-time pass.
PASSED = "sekimori.passed"
MAX_FAILURES = 20
FAILURE_WINDOW = 15 * 60.0
#: How long a checked password is remembered (per credentials, not per connection).
CACHE_SECONDS = 300.0
REALM = "Sekimori"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


def client_ip(peer: object) -> str:
    """The client's address without port or IPv6 scope; IPv4-mapped IPv6 as IPv4."""
    host = peer[0] if isinstance(peer, tuple) and peer else str(peer)
    host = str(host).split("%", 1)[0]
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return str(addr.ipv4_mapped)
    return str(addr)


def in_networks(ip: str, networks: Sequence[Network]) -> bool:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(addr in net for net in networks)


def parse_basic(value: str) -> tuple[str, str] | None:
    """``(user, password)`` of a Basic credential (RFC 7617), or ``None``.

    >>> parse_basic("Basic " + base64.b64encode("taro@example.co.jp:pä:ss".encode()).decode())
    ('taro@example.co.jp', 'pä:ss')
    >>> parse_basic("Bearer x") is None, parse_basic("Basic !!!") is None
    (True, True)
    """
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "basic" or not token:
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


@dataclass(frozen=True)
class Identity:
    user: str
    via: str


class ProxyLogin:
    """Proxy passwords checked against the UI's accounts, with a short memory of successes and
    a failure count per client address shared through the store."""

    def __init__(
        self, accounts: Accounts, throttle: UploadSessions, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.accounts = accounts
        self.throttle = throttle
        self.clock = clock
        self._key = secrets.token_bytes(32)
        self._known: dict[bytes, tuple[str, float]] = {}

    def _fingerprint(self, user: str, password: str) -> bytes:
        return hmac.new(self._key, f"{user.lower()}\0{password}".encode(), hashlib.sha256).digest()

    async def check(self, user: str, password: str, ip: str) -> str | None:
        """The account's address if the password is right, else ``None``."""
        fp = self._fingerprint(user, password)
        now = self.clock()
        known = self._known.get(fp)
        if known is not None and known[1] > now:
            return known[0]
        name = f"proxy-auth:{ip}"
        if await self.throttle.hits(name, window=FAILURE_WINDOW) >= MAX_FAILURES:
            log.warning("proxy authentication: %s is throttled after repeated failures", ip)
            return None
        result = await asyncio.to_thread(self.accounts.authenticate, user, password, ip)
        if result.ok and result.user is not None:
            if len(self._known) > 10_000:
                self._known = {k: v for k, v in self._known.items() if v[1] > now}
            self._known[fp] = (result.user.address, now + CACHE_SECONDS)
            return result.user.address
        await self.throttle.hit(name, window=FAILURE_WINDOW)
        return None


class Access:
    """mitmproxy addon: client addresses, and who is uploading."""

    def __init__(
        self,
        identity: ProxyIdentityConfig,
        *,
        clients: Sequence[str],
        holding: HoldingServer,
        login: ProxyLogin | None = None,
    ) -> None:
        self.config = identity
        self.clients = tuple(ipaddress.ip_network(n, strict=False) for n in clients) + _LOOPBACK
        self.trusted = tuple(ipaddress.ip_network(n, strict=False) for n in identity.trusted_proxies)
        self.networks = sorted(
            ((ipaddress.ip_network(n, strict=False), who.lower()) for n, who in identity.networks.items()),
            key=lambda item: item[0].prefixlen,
            reverse=True,
        )
        self.holding = holding
        self.login = login
        self._by_conn: weakref.WeakKeyDictionary[connection.Client, Identity] = weakref.WeakKeyDictionary()

    # -- hooks ------------------------------------------------------------------------------

    def _internal(self, ip: str) -> bool:
        """The gateway itself: loopback, or the address the proxy listens on (where the holding
        server sends passed requests back in from)."""
        return in_networks(ip, _LOOPBACK) or ip == self.holding.proxy_address[0]

    def client_connected(self, client: connection.Client) -> None:
        ip = client_ip(client.peername)
        if not in_networks(ip, self.clients) and not self._internal(ip):
            log.warning("proxy: connection from %s refused (not in proxy.clients)", ip)
            client.error = "Connection refused: not in proxy.clients."

    @fail_closed
    async def http_connect(self, flow: http.HTTPFlow) -> None:
        found = await self._identify(flow)
        if found is not None:
            self._by_conn[flow.client_conn] = found

    @fail_closed
    async def requestheaders(self, flow: http.HTTPFlow) -> None:
        token = flow.request.headers.get(PASS_HEADER)
        if token is not None:
            del flow.request.headers[PASS_HEADER]
            user = (
                self.holding.take_pass(token)
                if self._internal(client_ip(flow.client_conn.peername))
                else None
            )
            if user is None:
                flow.response = http.Response.make(403, b"invalid pass\n", {"Content-Type": "text/plain"})
                return
            flow.metadata[PASSED] = True
            self._note(flow, Identity(user, "pass") if user else None)
            return
        known = self._by_conn.get(flow.client_conn)
        if known is None and flow.request.first_line_format == "absolute":
            known = await self._identify(flow)  # a plain-HTTP proxy request carries its own
        elif known is None:
            known = self._from_network(flow)
        if known is None and self.config.required and flow.response is None:
            flow.response = _refusal("identify")
        self._note(flow, known)

    def client_disconnected(self, client: connection.Client) -> None:
        self._by_conn.pop(client, None)

    # -- internals --------------------------------------------------------------------------

    def _note(self, flow: http.HTTPFlow, found: Identity | None) -> None:
        if found is not None:
            flow.metadata[USER] = found.user
            flow.metadata[VIA] = found.via

    def _from_network(self, flow: http.HTTPFlow) -> Identity | None:
        ip = client_ip(flow.client_conn.peername)
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return None
        for net, who in self.networks:
            if addr in net:
                return Identity(who, "network")
        return None

    async def _identify(self, flow: http.HTTPFlow) -> Identity | None:
        """Identify the sender of a CONNECT or plain-HTTP proxy request; may set a 407/403."""
        ip = client_ip(flow.client_conn.peername)
        header = self.config.header
        if header is not None and in_networks(ip, self.trusted):
            value = flow.request.headers.get(header, "").strip().lower()
            if value:
                del flow.request.headers[header]
                return Identity(value, "header")
        elif header is not None and header in flow.request.headers:
            del flow.request.headers[header]  # not from a trusted proxy: not believed, not forwarded
        credentials = flow.request.headers.get("Proxy-Authorization")
        if credentials is not None:
            del flow.request.headers["Proxy-Authorization"]
        if self.login is not None and self.config.basic:
            if credentials is None:
                found = self._from_network(flow)
                if found is None:
                    flow.response = _refusal("credentials")
                return found
            cleartext = not flow.client_conn.tls_established and not in_networks(ip, _LOOPBACK)
            if cleartext:
                log.warning("proxy authentication from %s refused: password sent without TLS", ip)
                flow.response = _refusal("cleartext")
                return None
            parsed = parse_basic(credentials)
            user = await self.login.check(*parsed, ip) if parsed is not None else None
            if user is None:
                flow.response = _refusal("credentials")
                return None
            return Identity(user, "basic")
        return self._from_network(flow)


_REFUSALS = {
    "credentials": (
        407,
        "プロキシの認証が必要です。Sekimori のアカウント (メールアドレスとパスワード) を入力してください。",
        "Proxy authentication required: sign in with your Sekimori account (mail address and password).",
    ),
    "cleartext": (
        403,
        "パスワードは暗号化された接続でのみ受け付けます。プロキシの設定を https:// のプロキシに変えてください。",
        "Passwords are accepted only over TLS: configure the proxy as an https:// proxy.",
    ),
    "identify": (
        403,
        "利用者を確認できないため、このプロキシは使えません。情報システム部門に連絡してください。",
        "This proxy cannot tell who you are, so it cannot be used. Contact your IT department.",
    ),
}


def _refusal(kind: str) -> http.Response:
    status, ja, en = _REFUSALS[kind]
    headers = {"Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store"}
    if status == 407:
        headers["Proxy-Authenticate"] = f'Basic realm="{REALM}", charset="UTF-8"'
    return http.Response.make(status, f"{ja}\n{en}\n".encode(), headers)


__all__ = ["PASSED", "USER", "VIA", "Access", "Identity", "ProxyLogin", "client_ip", "parse_basic"]
