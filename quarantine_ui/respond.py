"""How handlers answer: server-rendered pages (with the language switch, notices and local times)
and JSON (errors in the caller's language, bodies read with a size limit).

A refusal is raised, not returned (:mod:`quarantine_ui.errors`); :func:`error_response` is the
JSON form of one (``{"error": code, "message": …}``), :func:`error_page` the page.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from gateway.bilingual import Translator
from policies import explain
from quarantine_ui.errors import APIError
from quarantine_ui.i18n import actor_text, reason_text, translator
from quarantine_ui.security import safe_next
from quarantine_ui.services import get_ui
from quarantine_ui.sessions import Session, Stage

MAX_JSON_BYTES = 16 * 1024
#: Notices a page shows after a redirect (``?done=<key>``, message ``notice.<key>``).
NOTICES = (
    "proceeded",
    "approved_upload",
    "released_upload",
    "rejected_upload",
    "cancelled",
    "sent",
    "justified",
    "approved",
    "rejected",
    "released",
    "deleted",
    "bulk",
    "delegated",
    "delegation_ended",
    "activated",
    "rolled_back",
    "link_revoked",
    "link_extended",
    "link_shortened",
)
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


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def t_for(request: Request) -> Translator:
    return translator(request.state.lang)


# -- pages ----------------------------------------------------------------------------------------


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, status: int = 200
) -> Response:
    lang: str = request.state.lang
    other = "en" if lang == "ja" else "ja"
    switch = request.url.include_query_params(lang=other)
    session: Session | None = getattr(request.state, "session", None)
    t = translator(lang)
    ctx: dict[str, Any] = {
        "t": t,
        "lang": lang,
        # Words from the data, in the page's language: evidence sentences, locations, audit actors.
        "evidence": lambda e: explain.evidence_text(e, lang) + explain.count_text(e, lang),
        "where": lambda loc: explain.location(str(loc), lang),
        "actor": lambda a: actor_text(str(a), lang),
        "holder_reason": lambda text: explain.holder_reason(str(text), lang),
        "reason": lambda text: reason_text(str(text), lang),
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


def page(request: Request, template: str, ctx: dict[str, Any], status: int = 200) -> Response:
    """A page of a logged-in user: local times, minutes left and the notice of ``?done=``."""
    done = request.query_params.get("done", "")
    base: dict[str, Any] = {
        "local": lambda when: local(request, when),
        "minutes_left": lambda when: minutes_left(request, when),
        "flash": t_for(request)(f"notice.{done}") if done in NOTICES else "",
    }
    base.update(ctx)
    return render(request, template, base, status)


def error_page(request: Request, status: int, key: str) -> Response:
    t = t_for(request)
    message = t(key) if t(key) != key else t(f"error.{status}")
    return render(request, "error.html", {"message": message}, status)


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def back(path: str, done: str) -> Response:
    """Post/redirect/get: back to ``path`` with the notice ``done``."""
    return redirect(f"{path}?{urlencode({'done': done})}")


def with_next(path: str, next_url: str) -> str:
    return path if next_url == "/" else f"{path}?{urlencode({'next': next_url})}"


def tz(request: Request) -> timezone:
    return timezone(timedelta(minutes=get_ui(request).config.utc_offset_minutes))


def local(request: Request, when: datetime | str | None) -> str:
    """A time in the UI's zone (``ui.utc_offset``, JST by default); ISO 8601 text is read first."""
    if isinstance(when, str):
        try:
            at = datetime.fromisoformat(when)
        except ValueError:
            return when
    else:
        at = when  # type: ignore[assignment]
    return at.astimezone(tz(request)).strftime("%Y-%m-%d %H:%M") if at else ""


def local_epoch(request: Request, epoch: float | None) -> str:
    return "" if epoch is None else local(request, datetime.fromtimestamp(epoch, UTC))


def minutes_left(request: Request, when: datetime | None) -> int:
    if when is None:
        return 0
    return max(0, math.ceil((when.timestamp() - get_ui(request).config.clock()) / 60))


def parse_local_date(request: Request, value: str) -> float | None:
    """End of the given day (``YYYY-MM-DD``) in the UI's time zone, as epoch seconds."""
    try:
        day = datetime.strptime(value.strip(), "%Y-%m-%d").replace(tzinfo=tz(request))
    except ValueError:
        return None
    return (day + timedelta(days=1)).timestamp()


def now(request: Request) -> datetime:
    return datetime.fromtimestamp(get_ui(request).config.clock(), UTC)


# -- JSON -----------------------------------------------------------------------------------------


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
    """A string field that must be present (any length); 400 otherwise."""
    value = data.get(name)
    if not isinstance(value, str):
        raise APIError(400, "bad_request")
    return value


def text_field(data: dict[str, Any], name: str, *, required: bool = False, limit: int = 2000) -> str:
    """A string field of a JSON body (``""`` when absent); 400 if it is not one, too long, or
    required and blank."""
    value = data.get(name, "")
    if not isinstance(value, str) or (required and not value.strip()) or len(value) > limit:
        raise APIError(400, "bad_request")
    return value


__all__ = [
    "NOTICES",
    "back",
    "error_page",
    "error_response",
    "is_api",
    "local",
    "local_epoch",
    "minutes_left",
    "now",
    "page",
    "parse_local_date",
    "read_json",
    "redirect",
    "render",
    "string_field",
    "t_for",
    "text_field",
    "tz",
    "with_next",
]
