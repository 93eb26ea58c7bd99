"""The JSON API (documented in :mod:`quarantine_ui.openapi`): login, TOTP step, logout, me.

The API shares the browser's session cookie. State-changing calls made within a session need the
session's CSRF token in the ``X-CSRF-Token`` header. ``POST /api/login`` has no session yet; it is
protected from cross-site use by accepting only ``application/json``, which a cross-site page can
send only after a CORS preflight that this app never grants.
"""

from __future__ import annotations

import json
import math
from typing import Any

from anyio import to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from quarantine_ui.accounts import LoginResult, Outcome, User
from quarantine_ui.i18n import translator
from quarantine_ui.openapi import document
from quarantine_ui.services import get_ui
from quarantine_ui.sessions import Session, Stage
from quarantine_ui.views import end_session, start_session

MAX_JSON_BYTES = 16 * 1024
CSRF_HEADER = "x-csrf-token"
_MESSAGE_KEYS = {
    "bad_request": "error.400",
    "not_logged_in": "error.401",
    "mfa_required": "error.401",
    "mfa_enrolment_required": "error.401",
    "csrf": "error.403.csrf",
    "too_large": "error.413",
    "unsupported_media_type": "error.415",
    "bad_credentials": "login.error.bad_credentials",
    "wrong_code": "mfa.error.wrong_code",
    "locked": "login.error.locked",
    "throttled": "login.error.throttled",
}


class APIError(Exception):
    def __init__(self, status: int, code: str, headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(code)
        self.status = status
        self.code = code
        self.headers = headers or {}
        self.extra = extra


def error_response(
    request: Request, status: int, code: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    t = translator(getattr(request.state, "lang", "ja"))
    key = _MESSAGE_KEYS.get(code) or (
        f"mail.error.{code}" if t(f"mail.error.{code}") != f"mail.error.{code}" else f"error.{status}"
    )
    retry = extra.get("retry_after")
    message = t(key, minutes=math.ceil(retry / 60)) if isinstance(retry, int) else t(key)
    return JSONResponse({"error": code, "message": message, **extra}, status_code=status, headers=headers)


async def read_json(request: Request) -> dict[str, Any]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise APIError(415, "unsupported_media_type")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_JSON_BYTES:
            raise APIError(413, "too_large")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise APIError(400, "bad_request") from None
    if not isinstance(data, dict):
        raise APIError(400, "bad_request")
    return data


def string_field(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str):
        raise APIError(400, "bad_request")
    return value


def check_csrf(request: Request, session: Session) -> None:
    if not session.csrf_ok(request.headers.get(CSRF_HEADER)):
        raise APIError(403, "csrf")


def refused(request: Request, result: LoginResult) -> APIError:
    if result.outcome in (Outcome.LOCKED, Outcome.THROTTLED):
        seconds = max(1, math.ceil((result.retry_at or 0) - get_ui(request).config.clock()))
        return APIError(429, result.outcome.value, {"retry-after": str(seconds)}, retry_after=seconds)
    return APIError(
        401, "bad_credentials" if result.outcome is Outcome.BAD_CREDENTIALS else result.outcome.value
    )


def user_json(user: User, session: Session) -> dict[str, Any]:
    return {
        "address": user.address,
        "name": user.name,
        "roles": sorted(user.roles),
        "mfa_enrolled": user.mfa_enrolled,
        "via": session.via,
    }


async def login(request: Request) -> Response:
    data = await read_json(request)
    address, password = string_field(data, "address"), string_field(data, "password")
    ui = get_ui(request)
    result = await to_thread.run_sync(ui.accounts.authenticate, address, password, request.state.ip)
    if not result.ok or result.user is None:
        raise refused(request, result)
    user = result.user
    if not ui.accounts.needs_totp(user):
        session = start_session(request, user.id, Stage.FULL)
        return JSONResponse({"status": "ok", "csrf_token": session.csrf, "user": user_json(user, session)})
    stage = Stage.MFA if user.mfa_enrolled else Stage.ENROL
    session = start_session(request, user.id, stage)
    status = "mfa_required" if stage is Stage.MFA else "mfa_enrolment_required"
    return JSONResponse({"status": status, "csrf_token": session.csrf})


async def login_mfa(request: Request) -> Response:
    session: Session | None = request.state.session
    if session is None or session.stage is not Stage.MFA or session.user_id is None:
        raise APIError(401, "not_logged_in")
    check_csrf(request, session)
    code = string_field(await read_json(request), "code")
    ui = get_ui(request)
    result = ui.accounts.verify_totp(session.user_id, code, request.state.ip)
    if result.outcome is Outcome.BAD_CREDENTIALS:
        raise APIError(401, "wrong_code")
    if not result.ok or result.user is None:
        end_session(request)
        raise refused(request, result)
    new = start_session(request, session.user_id, Stage.FULL)
    return JSONResponse({"status": "ok", "csrf_token": new.csrf, "user": user_json(result.user, new)})


async def logout(request: Request) -> Response:
    session: Session | None = request.state.session
    if session is None:
        raise APIError(401, "not_logged_in")
    check_csrf(request, session)
    end_session(request)
    return JSONResponse({"status": "logged_out"})


def logged_in(request: Request) -> tuple[User, Session]:
    """The caller and their session, once the login (password and any second factor) is complete;
    otherwise 401 naming the step that is missing."""
    session: Session | None = request.state.session
    user: User | None = request.state.user
    if session is None or user is None:
        raise APIError(401, "not_logged_in")
    if session.stage is Stage.MFA:
        raise APIError(401, "mfa_required")
    if session.stage is Stage.ENROL:
        raise APIError(401, "mfa_enrolment_required")
    return user, session


async def me(request: Request) -> Response:
    user, session = logged_in(request)
    return JSONResponse({**user_json(user, session), "csrf_token": session.csrf, "lang": request.state.lang})


async def openapi(request: Request) -> Response:
    return JSONResponse(document())
