"""The security team's queues (quarantined, pending approval, held, deferred; messages and
uploads), a search over both, bulk release and delete, and the dashboard, as pages and as JSON. Acting on one message is an action on the
message (:mod:`quarantine_ui.features.messages`); bulk actions are the same actions, one by one.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from gateway.store import ItemKind, State
from quarantine_ui import dashboard
from quarantine_ui.errors import APIError, UIError
from quarantine_ui.features.messages import views_of
from quarantine_ui.guard import current_user, form, requires
from quarantine_ui.i18n import Translator
from quarantine_ui.mailroom import ADMIN_QUEUES, Search
from quarantine_ui.respond import back, is_api, now, page, read_json, t_for, text_field
from quarantine_ui.services import get_ui, mailroom

MAX_BULK = 500


def service_label(t: Translator, service: str) -> str:
    label = t(f"service.{service}")
    return service if label == f"service.{service}" else label


def sharing_label(t: Translator, key: str) -> str:
    """``"box anyone"`` as ``Box: リンクを知っている全員``."""
    service, _, scope = key.partition(" ")
    shown = t(f"sharing.{scope}")
    return f"{service_label(t, service)}: {scope if shown == f'sharing.{scope}' else shown}"


@requires("security_admin")
async def queues(request: Request) -> Response:
    room = mailroom(request)
    if is_api(request):
        wanted = request.query_params.get("state", "quarantined")
        states = [s for s in ADMIN_QUEUES if s.value == wanted]
        if not states:
            raise APIError(400, "bad_request")
        views = await views_of(request, await room.queue(states))
        return JSONResponse({"state": wanted, "messages": [v.to_dict() for v in views]})
    shown = {s.value: await views_of(request, await room.queue([s])) for s in ADMIN_QUEUES}
    return page(request, "admin.html", {"queues": shown})


def search_of(request: Request) -> Search:
    """The search a query string asks for (``q``, ``kind``, ``state``, ``service``); unknown
    values are refused."""
    q = request.query_params
    try:
        kind = ItemKind(q["kind"]) if q.get("kind") else None
        state = State(q["state"]) if q.get("state") else None
    except ValueError:
        raise UIError(400, "bad_request") from None
    return Search(text=q.get("q", "")[:200], kind=kind, state=state, service=q.get("service", "")[:50])


@requires("security_admin")
async def search(request: Request) -> Response:
    query = search_of(request)
    room = mailroom(request)
    views = await views_of(request, await room.search(current_user(request), query))
    if is_api(request):
        return JSONResponse({"messages": [v.to_dict() for v in views]})
    ctx = {
        "query": query,
        "results": views,
        "kinds": [k.value for k in (ItemKind.MAIL, ItemKind.UPLOAD)],
        "states": [s.value for s in State],
    }
    return page(request, "search.html", ctx)


@requires("security_admin")
async def bulk(request: Request) -> Response:
    room = mailroom(request)
    if is_api(request):
        data = await read_json(request)
        ids = data.get("ids")
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids) or len(ids) > MAX_BULK:
            raise APIError(400, "bad_request")
        action, comment = text_field(data, "action", required=True), text_field(data, "comment")
        results = await room.bulk(current_user(request), action, ids, comment, via="api")
        return JSONResponse({"results": results})
    posted = form(request)
    ids = [str(v) for v in posted.getlist("ids")]
    await room.bulk(current_user(request), str(posted.get("action", "")), ids, str(posted.get("comment", "")))
    return back("/admin", "bulk")


@requires("security_admin")
async def dashboard_view(request: Request) -> Response:
    stats = await dashboard.collect(
        mailroom(request).store,
        now=now(request),
        utc_offset_minutes=get_ui(request).config.utc_offset_minutes,
    )
    if is_api(request):
        return JSONResponse(stats.to_dict())
    t = t_for(request)
    labels = {a: t(f"action.{a}") for a in dashboard.ACTIONS}
    charts = {
        "per_day": dashboard.stacked_bars(stats, t("dashboard.per_day"), labels),
        "rules": dashboard.horizontal_bars(
            stats.top_rules,
            t("dashboard.top_rules"),
            "bar",
            {r: stats.rule_title(r, request.state.lang) for r, _ in stats.top_rules},
        ),
        "senders": dashboard.horizontal_bars(stats.top_senders, t("dashboard.top_senders"), "bar alt"),
        "uploads": dashboard.stacked_bars(
            stats,
            t("dashboard.uploads_per_service"),
            {s: service_label(t, s) for s in stats.uploads_per_service},
            series=stats.uploads_per_service,
            css="s-",
        ),
        "sharing": dashboard.horizontal_bars(
            [(sharing_label(t, k), n) for k, n in stats.sharing_stopped],
            t("dashboard.sharing_stopped"),
            "bar",
        ),
    }
    return page(request, "dashboard.html", {"stats": stats, "charts": charts, "labels": labels})


ROUTES: list[BaseRoute] = [
    Route("/admin", queues, methods=["GET"]),
    Route("/admin/bulk", bulk, methods=["POST"]),
    Route("/admin/search", search, methods=["GET"]),
    Route("/api/search", search, methods=["GET"]),
    Route("/dashboard", dashboard_view, methods=["GET"]),
    Route("/api/queue", queues, methods=["GET"]),
    Route("/api/queue/bulk", bulk, methods=["POST"]),
    Route("/api/dashboard", dashboard_view, methods=["GET"]),
]
