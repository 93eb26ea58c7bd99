"""Server-rendered pages: login, TOTP step, MFA enrolment, home, logout. They work without JavaScript."""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlencode

from anyio import to_thread
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from quarantine_ui.accounts import LoginResult, Outcome, User
from quarantine_ui.i18n import Translator, translator
from quarantine_ui.security import safe_next
from quarantine_ui.services import UI, get_ui
from quarantine_ui.sessions import Session, Stage

FORM_LIMITS: dict[str, Any] = {"max_files": 0, "max_fields": 10, "max_part_size": 4096}
LOGIN_MESSAGES = {"logged_out": "login.logged_out", "expired": "login.session_expired"}


def t_for(request: Request) -> Translator:
    return translator(request.state.lang)


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, status: int = 200
) -> Response:
    lang: str = request.state.lang
    other = "en" if lang == "ja" else "ja"
    switch = request.url.include_query_params(lang=other)
    session: Session | None = getattr(request.state, "session", None)
    ctx: dict[str, Any] = {
        "t": translator(lang),
        "lang": lang,
        # The request path is attacker-chosen (e.g. "//evil.example"): never echo it as a link target.
        "switch_href": safe_next(f"{switch.path}?{switch.query}", f"/?lang={other}"),
        "user": getattr(request.state, "user", None) if session and session.stage is Stage.FULL else None,
        "csrf_token": session.csrf if session else "",
        "error": "",
        "notice": "",
        "flash": "",
        "address": "",
    }
    ctx.update(context or {})
    return get_ui(request).templates.TemplateResponse(request, template, ctx, status_code=status)


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def with_next(path: str, next_url: str) -> str:
    return path if next_url == "/" else f"{path}?{urlencode({'next': next_url})}"


def guard(request: Request) -> User | Response:
    """The logged-in user of a protected page, or the redirect to the step still missing."""
    session: Session | None = request.state.session
    user: User | None = request.state.user
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if session is not None and user is not None:
        if session.stage is Stage.FULL:
            return user
        if session.stage is Stage.MFA:
            return redirect(with_next("/login/mfa", target))
        if session.stage is Stage.ENROL:
            return redirect(with_next("/mfa/enrol", target))
    params = {"next": target} if target != "/" else {}
    if session is None and request.cookies.get(get_ui(request).session_cookie):
        params["msg"] = "expired"
    return redirect(f"/login?{urlencode(params)}" if params else "/login")


async def read_form(request: Request) -> FormData:
    return await request.form(**FORM_LIMITS)


def csrf_ok(request: Request, form: FormData) -> bool:
    session: Session | None = request.state.session
    token = form.get("csrf_token")
    return session is not None and isinstance(token, str) and session.csrf_ok(token)


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


def minutes_until(ui: UI, when: float | None) -> int:
    return max(1, math.ceil(((when or 0) - ui.config.clock()) / 60))


def refusal(request: Request, result: LoginResult) -> tuple[str, int, dict[str, str]]:
    """(message, status, headers) for a refused login step."""
    ui = get_ui(request)
    t = t_for(request)
    if result.outcome in (Outcome.LOCKED, Outcome.THROTTLED):
        minutes = minutes_until(ui, result.retry_at)
        key = "login.error.locked" if result.outcome is Outcome.LOCKED else "login.error.throttled"
        return t(key, minutes=minutes), 429, {"retry-after": str(minutes * 60)}
    return t("login.error.bad_credentials"), 401, {}


def after_password(request: Request, user: User, next_url: str) -> Response:
    """Move a session whose password was accepted to its next step."""
    accounts = get_ui(request).accounts
    if not accounts.needs_totp(user):
        start_session(request, user.id, Stage.FULL)
        return redirect(next_url)
    if user.mfa_enrolled:
        start_session(request, user.id, Stage.MFA)
        return redirect(with_next("/login/mfa", next_url))
    start_session(request, user.id, Stage.ENROL)
    return redirect(with_next("/mfa/enrol", next_url))


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
    form = await read_form(request)
    next_url = safe_next(str(form.get("next", "/")))
    address = str(form.get("address", ""))
    if not csrf_ok(request, form):
        start_session(request, None, Stage.ANON, "anonymous")
        ctx = {"next": next_url, "address": address, "error": t_for(request)("login.error.form_expired")}
        return render(request, "login.html", ctx, status=403)
    ui = get_ui(request)
    result = await to_thread.run_sync(
        ui.accounts.authenticate, address, str(form.get("password", "")), request.state.ip
    )
    if not result.ok or result.user is None:
        message, status, headers = refusal(request, result)
        response = render(
            request, "login.html", {"next": next_url, "address": address, "error": message}, status
        )
        response.headers.update(headers)
        return response
    return after_password(request, result.user, next_url)


async def mfa_page(request: Request) -> Response:
    session: Session | None = request.state.session
    next_url = safe_next(request.query_params.get("next"))
    if session is None or session.stage is not Stage.MFA:
        return redirect(with_next("/login", next_url))
    return render(request, "mfa.html", {"next": next_url})


async def mfa_submit(request: Request) -> Response:
    form = await read_form(request)
    next_url = safe_next(str(form.get("next", "/")))
    session: Session | None = request.state.session
    if session is None or session.stage is not Stage.MFA or session.user_id is None:
        return redirect(with_next("/login", next_url))
    if not csrf_ok(request, form):
        return render(request, "error.html", {"message": t_for(request)("error.403.csrf")}, status=403)
    ui = get_ui(request)
    result = ui.accounts.verify_totp(session.user_id, str(form.get("code", "")), request.state.ip)
    if result.ok:
        start_session(request, session.user_id, Stage.FULL)
        return redirect(next_url)
    if result.outcome is Outcome.BAD_CREDENTIALS:
        error = t_for(request)("mfa.error.wrong_code")
        return render(request, "mfa.html", {"next": next_url, "error": error}, status=401)
    message, status, headers = refusal(request, result)
    start_session(request, None, Stage.ANON, "anonymous")
    response = render(request, "login.html", {"next": next_url, "error": message}, status)
    response.headers.update(headers)
    return response


def _enrolling_user(request: Request) -> User | None:
    session: Session | None = request.state.session
    user: User | None = request.state.user
    if session is None or user is None:
        return None
    if session.stage is Stage.ENROL or (session.stage is Stage.FULL and not user.mfa_enrolled):
        return user
    return None


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


def _enrol_context(request: Request, secret: str, uri: str, next_url: str) -> dict[str, Any]:
    session: Session = request.state.session
    grouped = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
    return {
        "secret": grouped,
        "uri": uri,
        "next": next_url,
        "required": session.stage is Stage.ENROL,
        "already": False,
    }


async def enrol_submit(request: Request) -> Response:
    form = await read_form(request)
    next_url = safe_next(str(form.get("next", "/")))
    user = _enrolling_user(request)
    if user is None:
        return redirect(with_next("/login", next_url))
    if not csrf_ok(request, form):
        return render(request, "error.html", {"message": t_for(request)("error.403.csrf")}, status=403)
    ui = get_ui(request)
    result = ui.accounts.confirm_enrolment(user.id, str(form.get("code", "")), request.state.ip)
    if result.ok:
        start_session(request, user.id, Stage.FULL, request.state.session.via)
        return redirect(next_url)
    if result.outcome is Outcome.BAD_CREDENTIALS:
        pending = ui.accounts.pending_enrolment(user.id)
        if pending is not None:
            ctx = _enrol_context(request, pending.secret, pending.uri, next_url)
            ctx["error"] = t_for(request)("mfa.error.wrong_code")
            return render(request, "enrol.html", ctx, status=401)
        return redirect(with_next("/mfa/enrol", next_url))
    message, status, headers = refusal(request, result)
    end_session(request)
    response = render(request, "error.html", {"message": message}, status)
    response.headers.update(headers)
    return response


async def home(request: Request) -> Response:
    user = guard(request)
    if isinstance(user, Response):
        return user
    session: Session = request.state.session
    return render(request, "home.html", {"me": user, "via": session.via})


async def logout(request: Request) -> Response:
    form = await read_form(request)
    if request.state.session is None:
        return redirect("/login")
    if not csrf_ok(request, form):
        return render(request, "error.html", {"message": t_for(request)("error.403.csrf")}, status=403)
    end_session(request)
    return redirect("/login?msg=logged_out")
