"""An approver's requests (上長承認) and delegation, as pages and as JSON.

``/approvals`` (``/api/approvals``) lists the messages waiting for this approver or for someone
who delegated to them; approving and rejecting are actions on the message
(:mod:`quarantine_ui.features.messages`). A delegation hands one's approvals to someone else
until the end of a day.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from quarantine_ui.errors import UIError
from quarantine_ui.features.messages import views_of
from quarantine_ui.guard import current_user, form, requires
from quarantine_ui.mailroom import Delegation
from quarantine_ui.respond import back, is_api, local_epoch, page, parse_local_date, read_json, text_field
from quarantine_ui.services import mailroom


def delegation_json(d: Delegation) -> dict[str, Any]:
    return {
        "id": d.id,
        "from": d.from_address,
        "to": d.to_address,
        "until": datetime.fromtimestamp(d.until, UTC).isoformat(),
    }


@requires("approver")
async def approvals(request: Request) -> Response:
    user = current_user(request)
    room = mailroom(request)
    pending = await views_of(request, await room.approvals(user))
    if is_api(request):
        return JSONResponse({"approvals": [v.to_dict() for v in pending]})
    given, received = room.delegations(user.address)
    ctx = {
        "pending": pending,
        "given": given,
        "received": received,
        "until_local": lambda epoch: local_epoch(request, epoch),
    }
    return page(request, "approvals.html", ctx)


@requires("approver")
async def delegations(request: Request) -> Response:
    given, received = mailroom(request).delegations(current_user(request).address)
    return JSONResponse(
        {"given": [delegation_json(d) for d in given], "received": [delegation_json(d) for d in received]}
    )


@requires("approver")
async def delegate(request: Request) -> Response:
    if is_api(request):
        data = await read_json(request)
        until_text = text_field(data, "until", required=True, limit=20)
        to = text_field(data, "to", required=True, limit=320)
    else:
        to, until_text = str(form(request).get("to", "")), str(form(request).get("until", ""))
    until = parse_local_date(request, until_text)
    if until is None:
        raise UIError(400, "bad_delegation")
    d = mailroom(request).delegate(current_user(request).address, to, until)
    if is_api(request):
        return JSONResponse(delegation_json(d), status_code=201)
    return back("/approvals", "delegated")


@requires()
async def end_delegation(request: Request) -> Response:
    try:
        ident = int(request.path_params["ident"])
    except ValueError:
        raise UIError(404, "not_found") from None
    if not mailroom(request).end_delegation(current_user(request).address, ident):
        raise UIError(404, "not_found")
    if is_api(request):
        return JSONResponse({"status": "done"})
    return back("/approvals", "delegation_ended")


ROUTES: list[BaseRoute] = [
    Route("/approvals", approvals, methods=["GET"]),
    Route("/delegations", delegate, methods=["POST"]),
    Route("/delegations/{ident}/end", end_delegation, methods=["POST"]),
    Route("/api/approvals", approvals, methods=["GET"]),
    Route("/api/delegations", delegations, methods=["GET"]),
    Route("/api/delegations", delegate, methods=["POST"]),
    Route("/api/delegations/{ident}", end_delegation, methods=["DELETE"]),
]
