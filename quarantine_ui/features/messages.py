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

#: How the sender's page groups their mail, in order; the rest is "other" (the latest 50).
GROUPS: dict[str, tuple[State, ...]] = {
    "held": (State.HELD,),
    "pending_approval": (State.PENDING_APPROVAL,),
    "quarantined": (State.QUARANTINED,),
    "refused": (State.REFUSED, State.REJECTED),
}

#: Where a page goes after each action of the table, and the notice it shows there
#: (``None``: back to the message).
AFTER_ACTION: dict[str, tuple[str | None, str]] = {
    "cancel": (None, "cancelled"),
    "send_now": (None, "sent"),
    "justify": (None, "justified"),
    "approve": ("/approvals", "approved"),
    "reject": ("/approvals", "rejected"),
    "release": ("/admin", "released"),
    "delete": ("/admin", "deleted"),
}


async def views_of(request: Request, recs: Any) -> list[MessageView]:
    room = mailroom(request)
    return [await room.view(r, request.state.lang) for r in recs]


@requires("sender")
async def my_messages(request: Request) -> Response:
    views = await views_of(request, await mailroom(request).sender_messages(current_user(request)))
    if is_api(request):
        return JSONResponse({"messages": [v.to_dict() for v in views]})
    grouped = {name: [v for v in views if v.state in states] for name, states in GROUPS.items()}
    known = {s for states in GROUPS.values() for s in states}
    grouped["other"] = [v for v in views if v.state not in known][:50]
    return page(request, "messages.html", {"groups": grouped})


@requires()
async def message(request: Request) -> Response:
    user = current_user(request)
    room = mailroom(request)
    rec = await room.record_for(user, request.path_params["msg_id"])
    view = await room.view(rec, request.state.lang)
    if is_api(request):
        return JSONResponse(view.to_dict())
    content = None
    if "security_admin" in user.roles and rec.has_raw:
        try:
            content = read_content(await room.store.load_raw(rec.id))
        except StoreError:
            content = None
    ctx = {
        "m": view,
        "links": await links_for_message(request, rec),
        "content": content,
        "offered": room.offered(user, rec),
        "release_epoch": int(view.release_at.timestamp()) if view.release_at else 0,
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
    await room.act(current_user(request), msg_id, action, str(form(request).get(field, "")))
    after, done = AFTER_ACTION[action]
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
