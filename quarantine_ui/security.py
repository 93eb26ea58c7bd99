"""Response headers, redirect targets and client addresses: the small security rules of the UI."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import unquote, urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from quarantine_ui.config import IPNetwork

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
    ("permissions-policy", "camera=(), microphone=(), geolocation=()"),
)
HSTS = ("strict-transport-security", "max-age=31536000")
MAX_NEXT_LENGTH = 2048


class SecurityHeadersMiddleware:
    """Add the security headers to every HTTP response; dynamic responses are also ``no-store``."""

    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                extra = [*SECURITY_HEADERS, *([HSTS] if self.hsts else [])]
                if not static:
                    extra.append(("cache-control", "no-store"))
                for name, value in extra:
                    if name.encode() not in present:
                        headers.append((name.encode(), value.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def safe_next(value: str | None, default: str = "/") -> str:
    """Return ``value`` if it is a same-site relative path to redirect to, else ``default``.

    Refuses scheme-relative (``//evil``), absolute (``https://evil``), backslash (``/\\evil``, which
    browsers read as ``//evil``), control characters (``/\\t/evil``) and their percent-encodings.

    >>> safe_next("/queue?id=3"), safe_next("//evil.example"), safe_next("/%2F%2Fevil")
    ('/queue?id=3', '/', '/')
    """
    if not value or len(value) > MAX_NEXT_LENGTH:
        return default
    candidates = [value]
    decoded = value
    for _ in range(3):
        decoded = unquote(decoded)
        candidates.append(decoded)
    for text in candidates:
        if not text.startswith("/") or text.startswith("//") or "\\" in text:
            return default
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
            return default
        parts = urlsplit(text)
        if parts.scheme or parts.netloc:
            return default
    return value


def ip_in(address: str, networks: Iterable[IPNetwork]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def client_ip(scope: Scope, trusted_proxies: tuple[IPNetwork, ...]) -> str:
    """The client's address: the peer, or the last ``X-Forwarded-For`` hop when the peer is a trusted proxy."""
    client = scope.get("client")
    peer = str(client[0]) if client else "-"
    if not trusted_proxies or not ip_in(peer, trusted_proxies):
        return peer
    forwarded = [
        value.decode("latin-1")
        for name, value in scope.get("headers", [])
        if name.lower() == b"x-forwarded-for"
    ]
    if not forwarded:
        return peer
    last = forwarded[-1].split(",")[-1].strip()
    try:
        return str(ipaddress.ip_address(last))
    except ValueError:
        return peer
