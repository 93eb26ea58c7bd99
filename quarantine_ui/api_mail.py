"""The JSON API of every action on mail, policy and audit (documented in :mod:`quarantine_ui.openapi`).

Same rules as the pages: the session cookie authenticates, ``X-CSRF-Token`` guards every
state-changing call, and :mod:`quarantine_ui.mailroom` decides access (a message the caller may
not see is a 404, exactly like one that does not exist).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway import actions
from gateway.store import ItemKind
from policies import PolicyError
from quarantine_ui import auditlog, dashboard, pages
from quarantine_ui.accounts import User
from quarantine_ui.api import APIError, check_csrf, logged_in, read_json
from quarantine_ui.mailroom import ADMIN_QUEUES, MailError
from quarantine_ui.policy_admin import MAX_POLICY_BYTES
from quarantine_ui.services import get_ui

MAX_BULK = 500


def _user(request: Request) -> User:
    return logged_in(request)[0]


async def _acting(request: Request) -> tuple[User, dict[str, Any]]:
    user = _user(request)
    check_csrf(request, request.state.session)
    data = await read_json(request)
    return user, data


def _text(data: dict[str, Any], name: str, *, required: bool = False, limit: int = 2000) -> str:
    value = data.get(name, "")
    if not isinstance(value, str) or (required and not value.strip()) or len(value) > limit:
        raise APIError(400, "bad_request")
    return value


def _need(user: User, *roles: str) -> None:
    if not user.roles & set(roles):
        raise MailError(403, "forbidden")


async def _message_json(request: Request, msg_id: str) -> dict[str, Any]:
    room = pages.mailroom(request)
    rec = await room.store.get(msg_id)
    assert rec is not None
    return (await room.view(rec, request.state.lang)).to_dict()


# -- messages -------------------------------------------------------------------------------------


async def list_messages(request: Request) -> Response:
    user = _user(request)
    _need(user, "sender")
    room = pages.mailroom(request)
    views = [(await room.view(r, request.state.lang)).to_dict() for r in await room.sender_messages(user)]
    return JSONResponse({"messages": views})


async def get_message(request: Request) -> Response:
    user = _user(request)
    room = pages.mailroom(request)
    rec = await room.record_for(user, request.path_params["msg_id"])
    return JSONResponse((await room.view(rec, request.state.lang)).to_dict())


async def message_action(request: Request) -> Response:
    user, data = await _acting(request)
    room = pages.mailroom(request)
    msg_id = request.path_params["msg_id"]
    action = pages.action_name(request)
    required = any(actions.needs_text(action, kind) for kind in ItemKind)
    await room.act(
        user, msg_id, action, _text(data, actions.text_field(action), required=required), via="api"
    )
    return JSONResponse({"status": "done", "message": await _message_json(request, msg_id)})


# -- approvals and delegation ---------------------------------------------------------------------


async def approvals(request: Request) -> Response:
    user = _user(request)
    _need(user, "approver")
    room = pages.mailroom(request)
    views = [(await room.view(r, request.state.lang)).to_dict() for r in await room.approvals(user)]
    return JSONResponse({"approvals": views})


def _delegation_json(d: Any) -> dict[str, Any]:
    return {
        "id": d.id,
        "from": d.from_address,
        "to": d.to_address,
        "until": datetime.fromtimestamp(d.until, UTC).isoformat(),
    }


async def delegations(request: Request) -> Response:
    user = _user(request)
    _need(user, "approver")
    given, received = pages.mailroom(request).delegations(user.address)
    return JSONResponse(
        {"given": [_delegation_json(d) for d in given], "received": [_delegation_json(d) for d in received]}
    )


async def add_delegation(request: Request) -> Response:
    user, data = await _acting(request)
    _need(user, "approver")
    until = pages.parse_local_date(request, _text(data, "until", required=True, limit=20))
    if until is None:
        raise MailError(400, "bad_delegation")
    d = pages.mailroom(request).delegate(user.address, _text(data, "to", required=True, limit=320), until)
    return JSONResponse(_delegation_json(d), status_code=201)


async def end_delegation(request: Request) -> Response:
    user = _user(request)
    check_csrf(request, request.state.session)
    try:
        ident = int(request.path_params["ident"])
    except ValueError:
        raise MailError(404, "not_found") from None
    if not pages.mailroom(request).end_delegation(user.address, ident):
        raise MailError(404, "not_found")
    return JSONResponse({"status": "done"})


# -- security admin -------------------------------------------------------------------------------


async def queue(request: Request) -> Response:
    user = _user(request)
    _need(user, "security_admin")
    wanted = request.query_params.get("state", "quarantined")
    states = [s for s in ADMIN_QUEUES if s.value == wanted]
    if not states:
        raise APIError(400, "bad_request")
    room = pages.mailroom(request)
    views = [(await room.view(r, request.state.lang)).to_dict() for r in await room.queue(states)]
    return JSONResponse({"state": wanted, "messages": views})


async def bulk(request: Request) -> Response:
    user, data = await _acting(request)
    ids = data.get("ids")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids) or len(ids) > MAX_BULK:
        raise APIError(400, "bad_request")
    results = await pages.mailroom(request).bulk(
        user, _text(data, "action", required=True), ids, _text(data, "comment"), via="api"
    )
    return JSONResponse({"results": results})


async def policy(request: Request) -> Response:
    user = _user(request)
    _need(user, "security_admin")
    admin = pages.policy_admin(request)
    return JSONResponse({"text": admin.active_text(), "versions": [v.to_dict() for v in admin.versions()]})


def _policy_error(err: PolicyError) -> JSONResponse:
    return JSONResponse({"valid": False, "errors": [err.to_dict()]}, status_code=422)


async def policy_op(request: Request) -> Response:
    user, data = await _acting(request)
    _need(user, "security_admin")
    admin = pages.policy_admin(request)
    op = request.path_params["op"]
    if op == "rollback":
        version = data.get("version")
        if not isinstance(version, int) or isinstance(version, bool):
            raise APIError(400, "bad_request")
        try:
            number = await admin.rollback(version, user.address)
        except KeyError:
            raise MailError(404, "not_found") from None
        return JSONResponse({"status": "activated", "version": number})
    text = _text(data, "text", required=True, limit=MAX_POLICY_BYTES).replace("\r\n", "\n")
    try:
        admin.validate(text)
        if op == "validate":
            return JSONResponse({"valid": True, "errors": []})
        if op == "simulate":
            limit = data.get("limit", 50)
            if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 500:
                raise APIError(400, "bad_request")
            return JSONResponse({"valid": True, **(await admin.simulate(text, limit=limit)).to_dict()})
        if op == "activate":
            number = await admin.activate(text, user.address, _text(data, "comment", limit=500).strip())
            return JSONResponse({"status": "activated", "version": number})
    except PolicyError as err:
        return _policy_error(err)
    raise MailError(404, "not_found")


async def dashboard_json(request: Request) -> Response:
    user = _user(request)
    _need(user, "security_admin")
    ui = get_ui(request)
    stats = await dashboard.collect(
        pages.mailroom(request).store,
        now=datetime.fromtimestamp(ui.config.clock(), UTC),
        utc_offset_minutes=ui.config.utc_offset_minutes,
    )
    return JSONResponse(stats.to_dict())


# -- auditor --------------------------------------------------------------------------------------


async def audit(request: Request) -> Response:
    user = _user(request)
    _need(user, "auditor", "security_admin")
    events, total = await auditlog.latest(pages.mailroom(request).store, pages.audit_filters(request))
    return JSONResponse({"total": total, "events": [auditlog.event_dict(e) for e in events]})


async def audit_export(request: Request) -> Response:
    user = _user(request)
    _need(user, "auditor", "security_admin")
    return pages.export_response(request)


async def audit_verify(request: Request) -> Response:
    user = _user(request)
    _need(user, "auditor", "security_admin")
    return JSONResponse(await auditlog.verification(pages.mailroom(request).store))
