"""Logging in and out: the password, the second factor (TOTP), enrolment, the home page, and the
same steps as JSON (``/api/login``, ``/api/login/mfa``, ``/api/logout``, ``/api/me``).

Pages work without JavaScript. The API shares the browser's session cookie; ``POST /api/login``
has no session yet and is protected from cross-site use by accepting only
``application/json``, which a cross-site page can send only after a CORS preflight that this
app never grants.
"""

from __future__ import annotations

import math
from typing import Any

import segno
from anyio import to_thread
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from quarantine_ui.accounts import LoginResult, Outcome, User
from quarantine_ui.errors import APIError
from quarantine_ui.guard import (
    LOGIN_FORM_LIMITS,
    check_csrf,
    csrf_ok,
    csrf_refused,
    current_user,
    requires,
)
from quarantine_ui.openapi import document
from quarantine_ui.respond import (
    read_json,
    redirect,
    render,
    string_field,
    t_for,
    with_next,
)
from quarantine_ui.security import safe_next
from quarantine_ui.services import UI, get_ui
from quarantine_ui.sessions import Session, Stage

LOGIN_MESSAGES = {"logged_out": "login.logged_out", "expired": "login.session_expired"}


# -- sessions -------------------------------------------------------------------------------------


#: ``Session.via`` of a session whose login passed the second factor (a TOTP code, at login or
#: at enrolment) in this UI: what an approval link asks for by default (``ui.approval_links``).
TOTP_VIA = "totp"


def start_session(request: Request, user_id: int | None, stage: Stage, via: str = "password") -> Session:
    ui = get_ui(request)
    token, session = ui.sessions.rotate(request.state.session, user_id, stage, request.state.ip, via)
    request.state.session_cookie = token
    request.state.session = session
    return session


def end_session(request: Request) -> None:
    session: Session | None = request.state.session
    if session is not None:
        get_ui(request).sessions.destroy(session)
    request.state.session_cookie = ""
    request.state.session = None
    request.state.user = None


def _minutes_until(ui: UI, when: float | None) -> int:
    return max(1, math.ceil(((when or 0) - ui.config.clock()) / 60))


def _refusal(request: Request, result: LoginResult) -> tuple[str, int, dict[str, str]]:
    """(message, status, headers) of a refused login step, for a page."""
    ui = get_ui(request)
    t = t_for(request)
    if result.outcome in (Outcome.LOCKED, Outcome.THROTTLED):
        minutes = _minutes_until(ui, result.retry_at)
        key = "login.error.locked" if result.outcome is Outcome.LOCKED else "login.error.throttled"
        return t(key, minutes=minutes), 429, {"retry-after": str(minutes * 60)}
    return t("login.error.bad_credentials"), 401, {}


def _api_refusal(request: Request, result: LoginResult) -> APIError:
    """The same refusal for the API."""
    if result.outcome in (Outcome.LOCKED, Outcome.THROTTLED):
        seconds = max(1, math.ceil((result.retry_at or 0) - get_ui(request).config.clock()))
        return APIError(429, result.outcome.value, {"retry-after": str(seconds)}, retry_after=seconds)
    return APIError(
        401, "bad_credentials" if result.outcome is Outcome.BAD_CREDENTIALS else result.outcome.value
    )


def _step_after_password(request: Request, user: User) -> Stage:
    """Start the session a correct password leads to: complete, or waiting for the second
    factor, or for its enrolment."""
    if not get_ui(request).accounts.needs_totp(user):
        stage = Stage.FULL
    else:
        stage = Stage.MFA if user.mfa_enrolled else Stage.ENROL
    start_session(request, user.id, stage)
    return stage


async def _authenticate(request: Request, address: str, password: str) -> LoginResult:
    ui = get_ui(request)
    return await to_thread.run_sync(ui.accounts.authenticate, address, password, request.state.ip)


def _with_headers(response: Response, headers: dict[str, str]) -> Response:
    response.headers.update(headers)
    return response


# -- pages ----------------------------------------------------------------------------------------


async def login_page(request: Request) -> Response:
    session: Session | None = request.state.session
    next_url = safe_next(request.query_params.get("next"))
    if session is not None and request.state.user is not None:
        if session.stage is Stage.FULL:
            return redirect(next_url)
        if session.stage is Stage.MFA:
            return redirect(with_next("/login/mfa", next_url))
    if session is None or session.stage is not Stage.ANON:
        start_session(request, None, Stage.ANON, "anonymous")
    key = LOGIN_MESSAGES.get(request.query_params.get("msg", ""))
    return render(request, "login.html", {"next": next_url, "notice": t_for(request)(key) if key else ""})


async def login_submit(request: Request) -> Response:
    form = await request.form(**LOGIN_FORM_LIMITS)
    next_url = safe_next(str(form.get("next", "/")))
    address = str(form.get("address", ""))
    if not csrf_ok(request, form):
        start_session(request, None, Stage.ANON, "anonymous")
        ctx = {"next": next_url, "address": address, "error": t_for(request)("login.error.form_expired")}
        return render(request, "login.html", ctx, status=403)
    result = await _authenticate(request, address, str(form.get("password", "")))
    if not result.ok or result.user is None:
        message, status, headers = _refusal(request, result)
        ctx = {"next": next_url, "address": address, "error": message}
        return _with_headers(render(request, "login.html", ctx, status), headers)
    stage = _step_after_password(request, result.user)
    if stage is Stage.MFA:
        return redirect(with_next("/login/mfa", next_url))
    if stage is Stage.ENROL:
        return redirect(with_next("/mfa/enrol", next_url))
    return redirect(next_url)


async def mfa_page(request: Request) -> Response:
    session: Session | None = request.state.session
    next_url = safe_next(request.query_params.get("next"))
    if session is None or session.stage is not Stage.MFA:
        return redirect(with_next("/login", next_url))
    return render(request, "mfa.html", {"next": next_url})


async def mfa_submit(request: Request) -> Response:
    form = await request.form(**LOGIN_FORM_LIMITS)
    next_url = safe_next(str(form.get("next", "/")))
    session: Session | None = request.state.session
    if session is None or session.stage is not Stage.MFA or session.user_id is None:
        return redirect(with_next("/login", next_url))
    if not csrf_ok(request, form):
        return csrf_refused(request)
    ui = get_ui(request)
    result = ui.accounts.verify_totp(session.user_id, str(form.get("code", "")), request.state.ip)
    if result.ok:
        start_session(request, session.user_id, Stage.FULL, TOTP_VIA)
        return redirect(next_url)
    if result.outcome is Outcome.BAD_CREDENTIALS:
        error = t_for(request)("mfa.error.wrong_code")
        return render(request, "mfa.html", {"next": next_url, "error": error}, status=401)
    message, status, headers = _refusal(request, result)
    start_session(request, None, Stage.ANON, "anonymous")
    return _with_headers(render(request, "login.html", {"next": next_url, "error": message}, status), headers)


def _enrolling_user(request: Request) -> User | None:
    session: Session | None = request.state.session
    user: User | None = request.state.user
    if session is None or user is None:
        return None
    if session.stage is Stage.ENROL or (session.stage is Stage.FULL and not user.mfa_enrolled):
        return user
    return None


def qr_svg(uri: str, title: str) -> Markup:
    """The ``otpauth://`` URI as a QR code in inline SVG: no image request and no style
    attribute, so it fits the CSP (``img-src 'self'; style-src 'self'``)."""
    svg = segno.make(uri, error="m").svg_inline(
        scale=4, border=4, svgclass="qr", lineclass=None, omitsize=True, title=title
    )
    return Markup(svg.replace("<svg ", '<svg role="img" id="qr" ', 1))  # noqa: S704 (segno's own output)


def _enrol_context(request: Request, secret: str, uri: str, next_url: str) -> dict[str, Any]:
    session: Session = request.state.session
    grouped = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
    return {
        "secret": grouped,
        "uri": uri,
        "qr": qr_svg(uri, t_for(request)("enrol.qr")),
        "next": next_url,
        "required": session.stage is Stage.ENROL,
        "already": False,
    }


async def enrol_page(request: Request) -> Response:
    next_url = safe_next(request.query_params.get("next"))
    user = _enrolling_user(request)
    if user is None:
        session: Session | None = request.state.session
        if session is not None and session.stage is Stage.FULL:
            return render(request, "enrol.html", {"already": True, "next": next_url})
        return redirect(with_next("/login", next_url))
    enrolment = get_ui(request).accounts.begin_enrolment(user.id)
    return render(request, "enrol.html", _enrol_context(request, enrolment.secret, enrolment.uri, next_url))


async def enrol_submit(request: Request) -> Response:
    form = await request.form(**LOGIN_FORM_LIMITS)
    next_url = safe_next(str(form.get("next", "/")))
    user = _enrolling_user(request)
    if user is None:
        return redirect(with_next("/login", next_url))
    if not csrf_ok(request, form):
        return csrf_refused(request)
    ui = get_ui(request)
    result = ui.accounts.confirm_enrolment(user.id, str(form.get("code", "")), request.state.ip)
    if result.ok:
        start_session(request, user.id, Stage.FULL, TOTP_VIA)
        return redirect(next_url)
    if result.outcome is Outcome.BAD_CREDENTIALS:
        pending = ui.accounts.pending_enrolment(user.id)
        if pending is not None:
            ctx = _enrol_context(request, pending.secret, pending.uri, next_url)
            ctx["error"] = t_for(request)("mfa.error.wrong_code")
            return render(request, "enrol.html", ctx, status=401)
        return redirect(with_next("/mfa/enrol", next_url))
    message, status, headers = _refusal(request, result)
    end_session(request)
    return _with_headers(render(request, "error.html", {"message": message}, status), headers)


@requires()
async def home(request: Request) -> Response:
    session: Session = request.state.session
    return render(request, "home.html", {"me": current_user(request), "via": session.via})


async def logout(request: Request) -> Response:
    form = await request.form(**LOGIN_FORM_LIMITS)
    if request.state.session is None:
        return redirect("/login")
    if not csrf_ok(request, form):
        return csrf_refused(request)
    end_session(request)
    return redirect("/login?msg=logged_out")


# -- JSON -----------------------------------------------------------------------------------------


def user_json(user: User, session: Session) -> dict[str, Any]:
    return {
        "address": user.address,
        "name": user.name,
        "roles": sorted(user.roles),
        "mfa_enrolled": user.mfa_enrolled,
        "via": session.via,
    }


async def api_login(request: Request) -> Response:
    data = await read_json(request)
    result = await _authenticate(request, string_field(data, "address"), string_field(data, "password"))
    if not result.ok or result.user is None:
        raise _api_refusal(request, result)
    user = result.user
    stage = _step_after_password(request, user)
    session: Session = request.state.session
    if stage is Stage.FULL:
        return JSONResponse({"status": "ok", "csrf_token": session.csrf, "user": user_json(user, session)})
    status = "mfa_required" if stage is Stage.MFA else "mfa_enrolment_required"
    return JSONResponse({"status": status, "csrf_token": session.csrf})


async def api_login_mfa(request: Request) -> Response:
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
        raise _api_refusal(request, result)
    new = start_session(request, session.user_id, Stage.FULL, TOTP_VIA)
    return JSONResponse({"status": "ok", "csrf_token": new.csrf, "user": user_json(result.user, new)})


async def api_logout(request: Request) -> Response:
    session: Session | None = request.state.session
    if session is None:
        raise APIError(401, "not_logged_in")
    check_csrf(request, session)
    end_session(request)
    return JSONResponse({"status": "logged_out"})


@requires()
async def api_me(request: Request) -> Response:
    session: Session = request.state.session
    user = current_user(request)
    return JSONResponse({**user_json(user, session), "csrf_token": session.csrf, "lang": request.state.lang})


async def api_openapi(request: Request) -> Response:
    return JSONResponse(document())


GET, POST = ["GET"], ["POST"]
ROUTES: list[BaseRoute] = [
    Route("/", home, methods=GET),
    Route("/login", login_page, methods=GET),
    Route("/login", login_submit, methods=POST),
    Route("/login/mfa", mfa_page, methods=GET),
    Route("/login/mfa", mfa_submit, methods=POST),
    Route("/mfa/enrol", enrol_page, methods=GET),
    Route("/mfa/enrol", enrol_submit, methods=POST),
    Route("/logout", logout, methods=POST),
    Route("/api/login", api_login, methods=POST),
    Route("/api/login/mfa", api_login_mfa, methods=POST),
    Route("/api/logout", api_logout, methods=POST),
    Route("/api/me", api_me, methods=GET),
    Route("/api/openapi.json", api_openapi, methods=GET),
]
