"""A sender's own mail, one message, and the actions on a message, as pages and as JSON.

``/messages`` (``/api/messages``) lists the sender's held, pending, quarantined and recent mail;
``/messages/{id}`` shows one message to anyone who may see it (its sender, its approvers, the
security team); ``POST /messages/{id}/{action}`` takes an action of the one table
(:mod:`gateway.actions`), and the page goes where :data:`AFTER_ACTION` says. Who may see and do
what is decided by :class:`quarantine_ui.mailroom.Mailroom`: a message someone may not see is a
404, exactly like one that does not exist.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from gateway import actions
from gateway.store import ItemKind, State, StoreError
from quarantine_ui.errors import UIError
from quarantine_ui.features.downloads import links_for_message
from quarantine_ui.guard import current_user, form, requires
from quarantine_ui.mailview import MessageView, read_content
from quarantine_ui.respond import back, is_api, page, read_json, text_field
from quarantine_ui.services import mailroom

#: The filters of the sender's list, in order, and the states each shows (``all``: every one).
FILTERS: dict[str, tuple[State, ...]] = {
    "all": (),
    "waiting": (State.HELD, State.PENDING_APPROVAL, State.QUARANTINED),
    "held": (State.HELD,),
    "pending_approval": (State.PENDING_APPROVAL,),
    "quarantined": (State.QUARANTINED,),
    # Uploads an approver or the security team let through: the user may upload them again.
    "approved": (State.APPROVED,),
    "sent": (State.DELIVERING, State.DEFERRED, State.DELIVERED),
    "cancelled": (State.CANCELLED,),
    "not_sent": (State.REFUSED, State.REJECTED, State.DELETED, State.BOUNCED),
}
#: Rows of one page of the sender's list.
LIST_PAGE = 50
#: Rows of one page of the findings table of a message.
FINDINGS_PAGE = 50


def page_number(request: Request) -> int:
    """``?page=`` (1 when missing or not a number)."""
    try:
        return max(1, int(request.query_params.get("page", "1")))
    except ValueError:
        return 1


#: Where a page goes after each action of the table, and the notice it shows there
#: (``None``: back to the message).
AFTER_ACTION: dict[str, tuple[str | None, str]] = {
    "cancel": (None, "cancelled"),
    "send_now": (None, "sent"),
    "justify": (None, "justified"),
    "proceed": (None, "proceeded"),
    "approve": ("/approvals", "approved"),
    "reject": ("/approvals", "rejected"),
    "release": ("/admin", "released"),
    "delete": ("/admin", "deleted"),
}


#: Notices that say something else for an upload than for a message.
UPLOAD_NOTICES = frozenset({"approved_upload", "released_upload", "rejected_upload"})


async def views_of(request: Request, recs: Any) -> list[MessageView]:
    room = mailroom(request)
    return [await room.view(r, request.state.lang) for r in recs]


@requires("sender")
async def my_messages(request: Request) -> Response:
    views = await views_of(request, await mailroom(request).sender_messages(current_user(request)))
    if is_api(request):
        return JSONResponse({"messages": [v.to_dict() for v in views]})
    wanted = request.query_params.get("status", "all")
    if wanted not in FILTERS:
        wanted = "all"
    counts = {
        name: sum(1 for v in views if not states or State(v.state) in states)
        for name, states in FILTERS.items()
    }
    shown = [v for v in views if not FILTERS[wanted] or State(v.state) in FILTERS[wanted]]
    number = page_number(request)
    pages = max(1, -(-len(shown) // LIST_PAGE))
    number = min(number, pages)
    ctx = {
        "filters": list(FILTERS),
        "status": wanted,
        "counts": counts,
        "shown": shown[(number - 1) * LIST_PAGE : number * LIST_PAGE],
        "page_no": number,
        "pages": pages,
    }
    return page(request, "messages.html", ctx)


@requires()
async def message(request: Request) -> Response:
    user = current_user(request)
    room = mailroom(request)
    rec = await room.record_for(user, request.path_params["msg_id"])
    view = await room.view(rec, request.state.lang)
    if is_api(request):
        return JSONResponse(view.to_dict())
    content = None
    # An upload's content is never shown in a page (a security admin may download it).
    if "security_admin" in user.roles and rec.has_raw and rec.kind is ItemKind.MAIL:
        try:
            content = read_content(await room.store.load_raw(rec.id))
        except StoreError:
            content = None
    number = page_number(request)
    pages = max(1, -(-len(view.findings) // FINDINGS_PAGE))
    number = min(number, pages)
    ctx = {
        "m": view,
        "links": await links_for_message(request, rec),
        "content": content,
        "offered": room.offered(user, rec),
        "file_url": f"/messages/{rec.id}/file"
        if rec.kind is ItemKind.UPLOAD and rec.has_raw and "security_admin" in user.roles
        else "",
        "release_epoch": int(view.release_at.timestamp()) if view.release_at else 0,
        # The findings table is collapsed and paginated: a list of 150 rows is a long page.
        "findings": view.findings[(number - 1) * FINDINGS_PAGE : number * FINDINGS_PAGE],
        "findings_page": number,
        "findings_pages": pages,
        "findings_open": "page" in request.query_params,
    }
    return page(request, "message.html", ctx)


def action_name(request: Request) -> str:
    """The table's action named by the URL (``send-now`` is ``send_now``)."""
    action = str(request.path_params["action"]).replace("-", "_")
    if action not in AFTER_ACTION:
        raise UIError(404, "not_found")
    return action


@requires()
async def act(request: Request) -> Response:
    msg_id = request.path_params["msg_id"]
    action = action_name(request)
    field = actions.text_field(action)
    room = mailroom(request)
    if is_api(request):
        required = any(actions.needs_text(action, kind) for kind in ItemKind)
        text = text_field(await read_json(request), field, required=required)
        await room.act(current_user(request), msg_id, action, text, via="api")
        rec = await room.store.get(msg_id)
        assert rec is not None
        view = await room.view(rec, request.state.lang)
        return JSONResponse({"status": "done", "message": view.to_dict()})
    rec = await room.act(current_user(request), msg_id, action, str(form(request).get(field, "")))
    after, done = AFTER_ACTION[action]
    if rec.kind is ItemKind.UPLOAD and f"{done}_upload" in UPLOAD_NOTICES:
        done = f"{done}_upload"  # an upload is not sent: the user may upload it again
    return back(after or f"/messages/{msg_id}", done)


GET, POST = ["GET"], ["POST"]
ROUTES: list[BaseRoute] = [
    Route("/messages", my_messages, methods=GET),
    Route("/messages/{msg_id}", message, methods=GET),
    Route("/messages/{msg_id}/{action}", act, methods=POST),
    Route("/api/messages", my_messages, methods=GET),
    Route("/api/messages/{msg_id}", message, methods=GET),
    Route("/api/messages/{msg_id}/{action}", act, methods=POST),
]
