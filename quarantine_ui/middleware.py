"""Per-request context: client address, language, session and user; cookies written on the way out.

Endpoints read ``request.state.ip``, ``.lang``, ``.session`` and ``.user``; to start or end a
session they set ``request.state.session_cookie`` to the new cookie value (or ``""`` to clear it),
and this middleware writes the ``Set-Cookie`` header with the configured flags.
"""

from __future__ import annotations

import logging
import time
from http.cookies import SimpleCookie

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.logs import Redact
from quarantine_ui.accounts import AccountError, User, normalize_address
from quarantine_ui.i18n import pick_language
from quarantine_ui.security import client_ip, ip_in
from quarantine_ui.services import LANG_COOKIE, UI
from quarantine_ui.sessions import Session, Stage

log = logging.getLogger("sekimori.ui")
access_log = logging.getLogger("sekimori.access")
LANG_COOKIE_AGE = 365 * 24 * 3600


def cookie_header(name: str, value: str, *, max_age: int | None, secure: bool, samesite: str) -> str:
    morsel = SimpleCookie()
    morsel[name] = value
    m = morsel[name]
    m["path"] = "/"
    m["httponly"] = True
    m["samesite"] = samesite.capitalize()
    if secure:
        m["secure"] = True
    if max_age is not None:
        m["max-age"] = max_age
    return m.OutputString()


class AccessLog:
    """One line per request on the logger ``sekimori.access``: client, method, path, status and
    time taken. The query string is left out and signed tokens in the path are redacted (a link
    in a notice is a credential); the client is the one :func:`client_ip` believes."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._redact = Redact()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            client = scope.get("client") or ("-", 0)
            path = self._redact.scrub(str(scope.get("path", "")))
            access_log.info(
                '%s "%s %s" %d %.1fms',
                client[0],
                scope.get("method", "-"),
                path,
                status,
                (time.monotonic() - started) * 1000,
            )


class UIMiddleware:
    def __init__(self, app: ASGIApp, ui: UI) -> None:
        self.app = app
        self.ui = ui

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        ui = self.ui
        cfg = ui.config
        request = Request(scope)
        state = scope.setdefault("state", {})
        state["ip"] = client_ip(scope, cfg.trusted_proxies)
        query_lang = request.query_params.get("lang")
        cookie_lang = request.cookies.get(LANG_COOKIE)
        lang = pick_language(query_lang, cookie_lang, cfg.default_lang)
        state["lang"] = lang
        set_lang = query_lang == lang and cookie_lang != lang
        if not str(scope.get("path", "")).startswith("/static/"):
            self._resolve(request, state)

        async def send_with_cookies(message: Message) -> None:
            if message["type"] == "http.response.start":
                # The account events of this request (a login, a lockout) are in the audit trail
                # before the answer leaves.
                drain = getattr(ui.audit, "drain", None)
                if drain is not None:
                    await drain()
                headers = MutableHeaders(scope=message)
                token = state.get("session_cookie")
                if token is not None:
                    headers.append(
                        "set-cookie",
                        cookie_header(
                            ui.session_cookie,
                            token,
                            max_age=None if token else 0,
                            secure=cfg.secure_cookies,
                            samesite=cfg.samesite,
                        ),
                    )
                if set_lang:
                    headers.append(
                        "set-cookie",
                        cookie_header(
                            LANG_COOKIE,
                            lang,
                            max_age=LANG_COOKIE_AGE,
                            secure=cfg.secure_cookies,
                            samesite="lax",
                        ),
                    )
            await send(message)

        await self.app(scope, receive, send_with_cookies)

    def _resolve(self, request: Request, state: dict[str, object]) -> None:
        ui = self.ui
        session = ui.sessions.get(request.cookies.get(ui.session_cookie))
        user: User | None = None
        if session is not None and session.user_id is not None:
            user = ui.accounts.get_by_id(session.user_id)
            if user is None or user.disabled:
                ui.sessions.destroy(session)
                session, user = None, None
                state["session_cookie"] = ""
        session, user = self._single_sign_on(request, state, session, user)
        state["session"] = session
        state["user"] = user

    def _single_sign_on(
        self, request: Request, state: dict[str, object], session: Session | None, user: User | None
    ) -> tuple[Session | None, User | None]:
        cfg = self.ui.config
        if cfg.sso_header is None:
            return session, user
        remote = request.headers.get(cfg.sso_header)
        if not remote:
            return session, user
        peer = request.client.host if request.client else "-"
        if not ip_in(peer, cfg.trusted_proxies):
            log.warning("ignored %s header from untrusted peer %s", cfg.sso_header, peer)
            return session, user
        try:
            wanted = normalize_address(remote)
        except AccountError:
            wanted = ""
        if (
            session is not None
            and user is not None
            and session.stage in (Stage.FULL, Stage.MFA)
            and user.address == wanted
        ):
            # A session of this user, complete or stepping up to the second factor (which an
            # approval link may ask for), is left as it is.
            return session, user
        sso_user = self.ui.accounts.sso_login(remote, str(state["ip"]), cfg.sso_header)
        if sso_user is None:
            if session is not None and session.stage is not Stage.ANON:
                self.ui.sessions.destroy(session)
                state["session_cookie"] = ""
                return None, None
            return session, user
        token, new = self.ui.sessions.rotate(session, sso_user.id, Stage.FULL, str(state["ip"]), "sso")
        state["session_cookie"] = token
        return new, sso_user
