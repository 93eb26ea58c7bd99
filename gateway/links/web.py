"""The download listener: the pages a link opens, on its own address (``links.base_url``).

It serves only the links: ``GET /l/<token>`` (the page), ``POST /l/<token>/code`` (mail a one-time
code to the link's recipient), ``POST /l/<token>/verify`` (check it) and ``POST
/l/<token>/files/<n>`` (one file, with the grant the page got for the right code), plus its own
style sheet. Nothing of the quarantine UI is here and nothing of this is in the UI: no login, no
session, no cookie at all. Every response carries a strict Content-Security-Policy (no script at
all), ``Referrer-Policy: no-referrer`` (the link's address never leaks to another site) and
``Cache-Control: no-store``. Pages are Japanese first; ``?lang=en`` (or a browser that prefers
another language) shows English, and every form carries the language on.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import jinja2
import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.config import origin
from gateway.links import rules
from gateway.links.facts import LinkFacts, at_of
from gateway.links.service import GRANT_TIME, Download, Links, human_size
from gateway.links.texts import translator
from gateway.store import MessageRecord, State, StoreError

log = logging.getLogger("sekimori.links")
HERE = Path(__file__).parent
JST = ZoneInfo("Asia/Tokyo")

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
HEADERS: tuple[tuple[bytes, bytes], ...] = tuple(
    (k.encode(), v.encode())
    for k, v in (
        ("content-security-policy", CONTENT_SECURITY_POLICY),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("x-frame-options", "DENY"),
        ("cross-origin-opener-policy", "same-origin"),
        ("cross-origin-resource-policy", "same-origin"),
        ("permissions-policy", "camera=(), microphone=(), geolocation=()"),
        ("cache-control", "no-store"),
    )
)
#: A form on these pages has one or two short fields.
FORM_LIMITS: dict[str, Any] = {"max_files": 0, "max_fields": 4, "max_part_size": 1024}
#: Why a link no longer opens, by its state.
GONE = {State.EXPIRED: "expired", State.REVOKED: "revoked", State.EXHAUSTED: "exhausted"}

_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


class Headers:
    """The security headers on every response, and never a cookie."""

    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.extra = HEADERS + ((b"strict-transport-security", b"max-age=31536000"),) * hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"set-cookie"]
                message = {**message, "headers": kept + list(self.extra)}
            await send(message)

        await self.app(scope, receive, with_headers)


def _lang(request: Request, form: dict[str, str] | None = None) -> str:
    asked = (form or {}).get("lang") or request.query_params.get("lang")
    if asked in ("ja", "en"):
        return asked
    first = request.headers.get("accept-language", "ja").split(",")[0].strip().lower()
    return "en" if first and not first.startswith("ja") and first != "*" else "ja"


def masked(address: str) -> str:
    """An address as the page shows it to whoever holds the link.

    >>> masked("tanaka@partner.example"), masked("a@b.jp")
    ('t*****@partner.example', 'a*@b.jp')
    """
    local, _, domain = address.partition("@")
    return f"{local[:1]}{'*' * max(1, len(local) - 1)}@{domain}"


def _when(at: datetime | None) -> str:
    return "-" if at is None else at.astimezone(JST).strftime("%Y-%m-%d %H:%M JST")


@dataclass(frozen=True)
class Opened:
    """A request for an open link: the page's language, the link, the form (POST)."""

    lang: str
    link: MessageRecord
    form: dict[str, str]


class DownloadApp:
    """The pages over :class:`Links`."""

    def __init__(
        self, links: Links, *, trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    ):
        self.links = links
        self.trusted = trusted_proxies
        self.origin = origin(links.links.base_url)

    # --- plumbing ----------------------------------------------------------------------------
    def client_ip(self, request: Request) -> str:
        peer = request.client.host if request.client else ""
        try:
            trusted = any(ipaddress.ip_address(peer) in net for net in self.trusted)
        except ValueError:
            trusted = False
        forwarded = request.headers.get("x-forwarded-for", "")
        if trusted and forwarded:
            return forwarded.split(",")[-1].strip()[:64]
        return peer

    def page(self, request: Request, lang: str, context: dict[str, Any], status: int = 200) -> Response:
        other = "en" if lang == "ja" else "ja"
        ctx = {"t": translator(lang), "lang": lang, "switch": f"{request.url.path}?lang={other}", **context}
        html = _ENV.get_template("download.html").render(ctx)
        return HTMLResponse(html, status_code=status)

    def view(self, link: MessageRecord, lang: str) -> dict[str, Any]:
        facts = LinkFacts.of(link)
        return {
            "sender": link.sender,
            "address": masked(facts.recipient),
            "expires": _when(link.expires_at),
            "left": facts.left,
            "files": [
                {
                    "index": i,
                    "name": f.name,
                    "size": human_size(f.size),
                    "inspected": f.inspected,
                    "note": f.note,
                    "members": [(n, human_size(s)) for n, s in f.members[:50]],
                }
                for i, f in enumerate(facts.files)
            ],
            "token": self.links.token(link.id),
            "needs_code": facts.needs_code,
            "minutes": int(self.links.links.code_validity // 60),
            "grant_minutes": int(GRANT_TIME.total_seconds() // 60),
        }

    def gone(self, request: Request, lang: str, why: str) -> Response:
        return self.page(request, lang, {"state": "gone", "why": why}, 410)

    def not_found(self, request: Request, lang: str) -> Response:
        return self.page(request, lang, {"state": "not_found"}, 404)

    async def link_of(self, request: Request) -> MessageRecord | None:
        token = str(request.path_params["token"])
        return await self.links.find(token) if len(token) <= 120 else None

    def closed(self, link: MessageRecord) -> str | None:
        """Why the link does not open now, or ``None``."""
        if link.state is not State.OPEN:
            return GONE.get(link.state, "expired")
        if link.expires_at is not None and link.expires_at <= self.links.clock():
            return "expired"
        return None

    async def form(self, request: Request) -> dict[str, str]:
        sent = request.headers.get("origin")
        if sent and sent != "null" and origin(sent) != self.origin:
            raise HTTPException(403)
        form = await request.form(**FORM_LIMITS)
        return {k: v for k, v in form.items() if isinstance(v, str)}

    def refused(self, request: Request, lang: str, link: MessageRecord, code: str) -> Response:
        if code in ("gone", "expired", "exhausted"):
            return self.gone(request, lang, self.closed(link) or "expired")
        if code == "not_found":
            return self.not_found(request, lang)
        ctx = {**self.view(link, lang), "state": "start"}
        if code == "locked":
            until = at_of(LinkFacts.of(link).locked_until)
            return self.page(request, lang, {**ctx, "error": "code.locked", "until": _when(until)}, 429)
        if code == "too_many_requests":
            return self.page(request, lang, {**ctx, "error": "code.too_many", "state": "code_sent"}, 429)
        return self.page(request, lang, {**ctx, "error": "code.none"}, 400)

    async def opened(self, request: Request, *, post: bool = False) -> Opened | Response:
        """The open link a request names, with its language (and form, for a POST); or the
        page that says it is not found (404) or no longer opens (410)."""
        form = await self.form(request) if post else {}
        lang = _lang(request, form)
        link = await self.link_of(request)
        if link is None:
            return self.not_found(request, lang)
        if (why := self.closed(link)) is not None:
            return self.gone(request, lang, why)
        return Opened(lang, link, form)

    def granted(self, request: Request, lang: str, link: MessageRecord, status: int = 200) -> Response:
        """The page with the files, and a fresh grant to fetch them."""
        ctx = {**self.view(link, lang), "state": "granted", "grant": self.links.grant(link.id)}
        return self.page(request, lang, ctx, status)

    # --- the pages ---------------------------------------------------------------------------
    async def show(self, request: Request) -> Response:
        got = await self.opened(request)
        if isinstance(got, Response):
            return got
        lang, link = got.lang, got.link
        if not LinkFacts.of(link).needs_code:
            return self.granted(request, lang, link)
        return self.page(request, lang, {**self.view(link, lang), "state": "start"})

    async def request_code(self, request: Request) -> Response:
        got = await self.opened(request, post=True)
        if isinstance(got, Response):
            return got
        lang, link = got.lang, got.link
        try:
            link, outcome = await self.links.request_code(link, ip=self.client_ip(request))
        except rules.LinkRefused as exc:
            return self.refused(request, lang, link, exc.code)
        if outcome == "expired":
            return self.gone(request, lang, "expired")
        return self.page(request, lang, {**self.view(link, lang), "state": "code_sent"})

    async def verify(self, request: Request) -> Response:
        got = await self.opened(request, post=True)
        if isinstance(got, Response):
            return got
        form, lang, link = got.form, got.lang, got.link
        try:
            link, outcome = await self.links.check_code(
                link, form.get("code", ""), ip=self.client_ip(request)
            )
        except rules.LinkRefused as exc:
            return self.refused(request, lang, link, exc.code)
        if outcome == "ok":
            return self.granted(request, lang, link)
        if outcome == "expired":
            return self.gone(request, lang, "expired")
        if outcome == "locked":
            return self.refused(request, lang, link, "locked")
        facts = LinkFacts.of(link)
        notes = ["code.wrong"] + ([] if facts.code else ["code.void"])
        return self.page(request, lang, {**self.view(link, lang), "state": "code_sent", "errors": notes}, 400)

    async def file(self, request: Request) -> Response:
        got = await self.opened(request, post=True)
        if isinstance(got, Response):
            return got
        form, lang, link = got.form, got.lang, got.link
        index = int(request.path_params["index"])
        if not self.links.grant_ok(link.id, form.get("grant", "")):
            if not LinkFacts.of(link).needs_code:
                return self.granted(request, lang, link, 403)
            ctx = {**self.view(link, lang), "state": "start", "error": "download.expired"}
            return self.page(request, lang, ctx, 403)
        try:
            done = await self.links.download(link, index, ip=self.client_ip(request))
        except rules.LinkRefused as exc:
            current = await self.links.store.get(link.id) or link
            return self.refused(request, lang, current, exc.code)
        if not isinstance(done, Download):
            return self.gone(request, lang, done)
        return _attachment(done)


def _attachment(got: Download) -> Response:
    """The file, to be saved under its own name (RFC 6266; RFC 8187 for the UTF-8 name)."""
    name = got.file.name.replace("\r", " ").replace("\n", " ")
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name)
    disposition = (
        f"attachment; filename=\"{fallback or 'download'}\"; filename*=UTF-8''{quote(name, safe='')}"
    )
    return Response(
        got.data,
        media_type="application/octet-stream",
        headers={"content-disposition": disposition},
    )


def create_app(links: Links, *, trusted_proxies: tuple[Any, ...] = ()) -> ASGIApp:
    """The download listener's app over ``links`` (the relay's, which sends the code mails)."""
    pages = DownloadApp(links, trusted_proxies=trusted_proxies)

    async def not_found(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        if status == 404:
            return pages.not_found(request, _lang(request))
        return pages.page(request, _lang(request), {"state": "error"}, status)

    async def failed(request: Request, exc: Exception) -> Response:
        log.error("download listener: %s %s failed", request.method, request.url.path, exc_info=exc)
        response = pages.page(
            request, _lang(request), {"state": "error"}, 503 if isinstance(exc, StoreError) else 500
        )
        response.headers.update({k.decode(): v.decode() for k, v in HEADERS})
        return response

    app = Starlette(
        routes=[
            Route("/l/{token}", pages.show, methods=["GET"]),
            Route("/l/{token}/code", pages.request_code, methods=["POST"]),
            Route("/l/{token}/verify", pages.verify, methods=["POST"]),
            Route("/l/{token}/files/{index:int}", pages.file, methods=["POST"]),
            Route(
                "/_/download.css",
                lambda request: FileResponse(HERE / "static" / "download.css"),
                methods=["GET"],
            ),
        ],
        exception_handlers={HTTPException: not_found, Exception: failed},
    )
    return Headers(app, hsts=links.links.base_url.startswith("https://"))


def build_server(links: Links, host: str, port: int) -> uvicorn.Server:
    nets = tuple(ipaddress.ip_network(n, strict=False) for n in links.links.trusted_proxies)
    app = create_app(links, trusted_proxies=nets)
    settings = uvicorn.Config(
        app,
        host=host,
        port=port,
        proxy_headers=False,
        server_header=False,
        log_level="info",
        log_config=None,
        lifespan="off",
        # The access log would write every link's address (its token) into the log.
        access_log=False,
        timeout_graceful_shutdown=5,
    )
    return uvicorn.Server(settings)


__all__ = ["CONTENT_SECURITY_POLICY", "DownloadApp", "build_server", "create_app", "masked"]
