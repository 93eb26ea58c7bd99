"""The application factory: ``create_app(config)`` returns the Starlette app, ``serve`` runs it."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path

import jinja2
import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from gateway.accountaudit import AccountAudit
from gateway.health import Health
from gateway.health import routes as health_routes
from gateway.store import Store
from quarantine_ui.accounts import AuditSink
from quarantine_ui.config import UIConfig
from quarantine_ui.errors import APIError, UIError
from quarantine_ui.features import accounts, approvals, downloads, links, messages, policy, queues, uploads
from quarantine_ui.features import audit as audit_log
from quarantine_ui.i18n import translator
from quarantine_ui.mailroom import Notifications
from quarantine_ui.middleware import AccessLog, UIMiddleware
from quarantine_ui.respond import error_page, error_response, is_api, render
from quarantine_ui.security import SECURITY_HEADERS, SecurityHeadersMiddleware
from quarantine_ui.services import UI

log = logging.getLogger("sekimori.ui")
HERE = Path(__file__).parent


def _templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return Jinja2Templates(env=env)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, APIError)
    return error_response(request, exc.status, exc.code, exc.headers, **exc.extra)


async def _ui_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, UIError)
    if is_api(request):
        return error_response(request, exc.status, exc.code)
    return error_page(request, exc.status, f"mail.error.{exc.code}")


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers or {})
    if is_api(request):
        return error_response(request, exc.status_code, f"http_{exc.status_code}", headers)
    return _error_page(request, exc.status_code, headers)


async def _server_error(request: Request, exc: Exception) -> Response:
    # Runs outside the middleware stack, so the security headers are added here.
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    headers = dict(SECURITY_HEADERS)
    headers["cache-control"] = "no-store"
    if is_api(request):
        return error_response(request, 500, "internal", headers)
    return _error_page(request, 500, headers)


def _error_page(request: Request, status: int, headers: dict[str, str]) -> Response:
    if not hasattr(request.state, "lang"):
        request.state.lang = "ja"
    t = translator(request.state.lang)
    key = f"error.{status}"
    message = t(key) if t(key) != key else t("error.500")
    response = render(request, "error.html", {"message": message}, status)
    response.headers.update(headers)
    return response


def create_app(
    config: UIConfig,
    store: Store | None = None,
    audit: AuditSink | None = None,
    *,
    policy_path: Path | None = None,
    policy_versions: Path | None = None,
    notifier: Notifications | None = None,
    on_policy_change: Callable[[], None] | None = None,
    health: Health | None = None,
    pac: str | None = None,
) -> Starlette:
    """The UI app. With ``store`` (the gateway's message store) the mail pages, the JSON API on
    mail and the signed links at ``/a/{token}`` work; with ``policy_path`` (the active policy file
    the relay watches) the policy page does; ``notifier`` (the relay's) tells senders of
    rejections. ``audit`` receives every login, lockout and account change as it happens.
    ``on_policy_change`` is called when an admin activates a policy version (the relay in the same
    process then applies it to the very next message). ``pac`` is the upload gate's proxy
    auto-configuration file, served without login at ``/proxy.pac`` (browsers fetch it anonymously).

    The links in notifications are signed with ``config.secret``: give the UI the gateway's
    ``secret`` so that it accepts them."""
    if audit is None and store is not None:
        # Logins, lockouts and account changes go into the store's hash-chained audit trail.
        audit = AccountAudit(store)
    ui = UI.build(
        config,
        _templates(),
        store,
        audit,
        policy_path=policy_path,
        policy_versions=policy_versions,
        notifier=notifier,
        on_policy_change=on_policy_change,
    )
    # /metrics, /healthz and /readyz for Prometheus and load balancers (no login, no session).
    routes: list[BaseRoute] = [*health_routes(health)] if health is not None else []
    routes += [
        *accounts.ROUTES,
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    # The mail features answer 503 without a store; the signed links exist only with one.
    routes += [
        *uploads.ROUTES,
        *messages.ROUTES,
        *approvals.ROUTES,
        *queues.ROUTES,
        *downloads.ROUTES,
        *policy.ROUTES,
        *audit_log.ROUTES,
    ]
    if pac is not None:
        routes.append(Route("/proxy.pac", _pac_endpoint(pac), methods=["GET"]))
    if store is not None:
        routes += links.ROUTES

    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(AccessLog),
            Middleware(SecurityHeadersMiddleware, hsts=config.secure_cookies),
            Middleware(UIMiddleware, ui=ui),
        ],
        exception_handlers={
            APIError: _api_error,
            UIError: _ui_error,
            HTTPException: _http_error,
            Exception: _server_error,
        },
    )
    app.state.ui = ui
    return app


def _pac_endpoint(pac: str) -> Callable[[Request], Awaitable[Response]]:
    body = pac.encode("utf-8")

    async def proxy_pac(request: Request) -> Response:
        return Response(
            body, media_type="application/x-ns-proxy-autoconfig", headers={"Cache-Control": "max-age=300"}
        )

    return proxy_pac


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_server(
    config: UIConfig,
    host: str = "127.0.0.1",
    port: int = 8025,
    store: Store | None = None,
    audit: AuditSink | None = None,
    *,
    policy_path: Path | None = None,
    policy_versions: Path | None = None,
    notifier: Notifications | None = None,
    on_policy_change: Callable[[], None] | None = None,
    health: Health | None = None,
    pac: str | None = None,
) -> uvicorn.Server:
    """A uvicorn server for the UI. TLS is expected to end at a reverse proxy, whose address goes
    in ``config.trusted_proxies`` (the app reads ``X-Forwarded-For`` itself, only from there)."""
    if not config.secure_cookies and not _is_loopback(host):
        raise ValueError(
            f"secure_cookies is off but the UI would listen on {host}: "
            "cookies without Secure are allowed only for plain-HTTP tests on localhost"
        )
    app = create_app(
        config,
        store,
        audit,
        policy_path=policy_path,
        policy_versions=policy_versions,
        notifier=notifier,
        on_policy_change=on_policy_change,
        pac=pac,
        health=health,
    )
    # log_config=None: uvicorn logs through the process's logging (stderr), not to stdout, where
    # `sekimori run` prints what it started and the demo sink what it received.
    settings = uvicorn.Config(
        app,
        host=host,
        port=port,
        proxy_headers=False,
        server_header=False,
        log_level="info",
        log_config=None,
        # uvicorn's access log prints the whole path (signed tokens and all); ours
        # (quarantine_ui.middleware.AccessLog) names the route with tokens redacted.
        access_log=False,
        lifespan="off",
        # A stuck request must not keep a stopping gateway alive for ever.
        timeout_graceful_shutdown=5,
    )
    return _UIServer(settings, app.state.ui.audit)


class _UIServer(uvicorn.Server):
    """uvicorn's server that first ties the account audit to the loop it serves on, the loop
    its store is used on (:meth:`AccountAudit.bind`)."""

    def __init__(self, config: uvicorn.Config, audit: AuditSink | None) -> None:
        super().__init__(config)
        self._audit = audit

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        if isinstance(self._audit, AccountAudit):
            self._audit.bind(asyncio.get_running_loop())
        await super().serve(sockets)


def serve(config: UIConfig, host: str = "127.0.0.1", port: int = 8025) -> None:
    """Run the UI until interrupted."""
    build_server(config, host, port).run()
