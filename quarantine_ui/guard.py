"""Who may call a handler: one decorator, :func:`requires`, for pages and the JSON API alike, in
the style of Starlette's ``requires``.

    @requires("security_admin")
    async def queues_page(request: Request) -> Response: ...

The handler runs only for a user who has finished logging in (password and any second factor)
and holds one of the named roles (any user when none is named); it reads them as
``request.state.user``. A page otherwise redirects to the login step still missing, the API
answers 401 naming it; a user without the role gets 403. A state-changing request must carry
the session's CSRF token: the ``X-CSRF-Token`` header on the API, the ``csrf_token`` field on
pages, whose form is read once, within limits, and left in ``request.state.form``.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from quarantine_ui.accounts import User
from quarantine_ui.errors import APIError, UIError
from quarantine_ui.respond import is_api, redirect, render, t_for, with_next
from quarantine_ui.services import get_ui
from quarantine_ui.sessions import Session, Stage

Handler = Callable[[Request], Awaitable[Response]]

CSRF_HEADER = "x-csrf-token"
#: Forms of the pages of logged-in users (the policy editor posts the whole policy text).
PAGE_FORM_LIMITS: Mapping[str, Any] = {"max_files": 0, "max_fields": 600, "max_part_size": 300 * 1024}
#: Forms of the login, second-factor and enrolment pages.
LOGIN_FORM_LIMITS: Mapping[str, Any] = {"max_files": 0, "max_fields": 10, "max_part_size": 4096}
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def login_step(request: Request) -> str | None:
    """The login step still missing (``not_logged_in``, ``mfa_required``,
    ``mfa_enrolment_required``), or ``None`` for a fully logged-in user."""
    session: Session | None = request.state.session
    if session is None or request.state.user is None:
        return "not_logged_in"
    if session.stage is Stage.MFA:
        return "mfa_required"
    if session.stage is Stage.ENROL:
        return "mfa_enrolment_required"
    return None if session.stage is Stage.FULL else "not_logged_in"


def to_login(request: Request, step: str) -> Response:
    """The redirect of a page to the login step still missing, coming back here afterwards."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if step == "mfa_required":
        return redirect(with_next("/login/mfa", target))
    if step == "mfa_enrolment_required":
        return redirect(with_next("/mfa/enrol", target))
    params = {"next": target} if target != "/" else {}
    if request.state.session is None and request.cookies.get(get_ui(request).session_cookie):
        params["msg"] = "expired"
    return redirect(f"/login?{urlencode(params)}" if params else "/login")


def csrf_ok(request: Request, form: FormData) -> bool:
    session: Session | None = request.state.session
    token = form.get("csrf_token")
    return session is not None and isinstance(token, str) and session.csrf_ok(token)


def check_csrf(request: Request, session: Session) -> None:
    """The API's CSRF check (the header)."""
    if not session.csrf_ok(request.headers.get(CSRF_HEADER)):
        raise APIError(403, "csrf")


def csrf_refused(request: Request) -> Response:
    return render(request, "error.html", {"message": t_for(request)("error.403.csrf")}, status=403)


def current_user(request: Request) -> User:
    """The user a :func:`requires` handler runs for."""
    user: User = request.state.user
    return user


def form(request: Request) -> FormData:
    """The form a :func:`requires` page handler was posted (read and checked by the guard)."""
    found: FormData = request.state.form
    return found


def requires(*roles: str, form_limits: Mapping[str, Any] = PAGE_FORM_LIMITS) -> Callable[[Handler], Handler]:
    """Guard a handler: a complete login, one of ``roles`` (if any), and the CSRF token of a
    state-changing request (see the module's docstring)."""
    wanted = frozenset(roles)

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def guarded(request: Request) -> Response:
            api = is_api(request)
            step = login_step(request)
            if step is not None:
                if api:
                    raise APIError(401, step)
                return to_login(request, step)
            if request.method in _UNSAFE:
                if api:
                    check_csrf(request, request.state.session)
                else:
                    posted = await request.form(**form_limits)
                    if not csrf_ok(request, posted):
                        return csrf_refused(request)
                    request.state.form = posted
            if wanted and not current_user(request).roles & wanted:
                raise UIError(403, "forbidden")
            return await handler(request)

        return guarded

    return decorate


__all__ = [
    "LOGIN_FORM_LIMITS",
    "PAGE_FORM_LIMITS",
    "check_csrf",
    "csrf_ok",
    "csrf_refused",
    "current_user",
    "form",
    "login_step",
    "requires",
    "to_login",
]
