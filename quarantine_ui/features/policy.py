"""The policy editor of the security team, as pages and as JSON: validate the edited YAML (errors
name the line), simulate it over recent traffic, activate it as a new numbered version, or roll
back to an earlier one (:class:`quarantine_ui.policy_admin.PolicyAdmin`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from policies import PolicyError
from quarantine_ui.errors import APIError, UIError
from quarantine_ui.guard import current_user, form, requires
from quarantine_ui.policy_admin import MAX_POLICY_BYTES, PolicyAdmin
from quarantine_ui.respond import back, is_api, page, read_json, text_field
from quarantine_ui.services import policy_admin


def _ctx(admin: PolicyAdmin, text: str, **extra: Any) -> dict[str, Any]:
    ctx: dict[str, Any] = {
        "text": text,
        "versions": admin.versions(),
        "errors": [],
        "error_lines": set(),
        "simulation": None,
        "valid": False,
        "listing": [],
        "policy_path": str(admin.source),
    }
    ctx.update(extra)
    bad: set[int] = ctx["error_lines"]
    if bad:
        lines = text.split("\n")
        near = {n for b in bad for n in range(b - 3, b + 4) if 1 <= n <= len(lines)}
        ctx["listing"] = [(n, lines[n - 1], n in bad) for n in sorted(near)]
    return ctx


@requires("security_admin")
async def policy(request: Request) -> Response:
    admin = policy_admin(request)
    if is_api(request):
        return JSONResponse(
            {"text": admin.active_text(), "versions": [v.to_dict() for v in admin.versions()]}
        )
    return page(request, "policy.html", _ctx(admin, admin.active_text()))


async def _run(
    admin: PolicyAdmin, op: str, text: str, user: str, comment: Callable[[], str], limit: Callable[[], int]
) -> tuple[str, Any]:
    """Validate ``text`` (raises :class:`PolicyError`), then do ``op``: ``("activated",
    version)``, ``("simulated", simulation)``, or ``("valid", None)`` for a validation. The
    comment and the simulation's size are asked for only by the operations that use them."""
    admin.validate(text)
    if op == "activate":
        return "activated", await admin.activate(text, user, comment().strip())
    if op == "simulate":
        return "simulated", await admin.simulate(text, limit=limit())
    return "valid", None


def _api_limit(data: dict[str, Any]) -> Callable[[], int]:
    def limit() -> int:
        value = data.get("limit", 50)
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 500:
            raise APIError(400, "bad_request")
        return value

    return limit


@requires("security_admin")
async def edit(request: Request) -> Response:
    """Validate, simulate or activate a policy text (the page's form; ``/api/policy/{op}``)."""
    admin = policy_admin(request)
    user = current_user(request).address
    if is_api(request):
        data = await read_json(request)
        op = request.path_params["op"]
        if op == "rollback":
            return await _rollback(request, admin, data.get("version"), user)
        text = text_field(data, "text", required=True, limit=MAX_POLICY_BYTES).replace("\r\n", "\n")
        try:
            done, value = await _run(
                admin, op, text, user, lambda: text_field(data, "comment", limit=500), _api_limit(data)
            )
        except PolicyError as err:
            return JSONResponse({"valid": False, "errors": [err.to_dict()]}, status_code=422)
        if done == "activated":
            return JSONResponse({"status": "activated", "version": value})
        if done == "simulated":
            return JSONResponse({"valid": True, **value.to_dict()})
        if op != "validate":
            raise UIError(404, "not_found")
        return JSONResponse({"valid": True, "errors": []})
    posted = form(request)
    text = str(posted.get("text", "")).replace("\r\n", "\n")
    op = str(posted.get("op", "validate"))
    try:
        done, value = await _run(
            admin, op, text, user, lambda: str(posted.get("comment", ""))[:500], lambda: 50
        )
    except PolicyError as err:
        message = err.message_ja if request.state.lang == "ja" else err.message_en
        errors = [{"line": err.line, "field": err.field, "message": message}]
        return page(request, "policy.html", _ctx(admin, text, errors=errors, error_lines={err.line}), 422)
    if done == "activated":
        return back("/policy", "activated")
    return page(request, "policy.html", _ctx(admin, text, simulation=value, valid=True))


async def _rollback(request: Request, admin: PolicyAdmin, version: object, user: str) -> Response:
    if not isinstance(version, int) or isinstance(version, bool):
        if is_api(request):
            raise APIError(400, "bad_request")
        raise UIError(404, "not_found")
    try:
        number = await admin.rollback(version, user)
    except KeyError:
        raise UIError(404, "not_found") from None
    if is_api(request):
        return JSONResponse({"status": "activated", "version": number})
    return back("/policy", "rolled_back")


@requires("security_admin")
async def rollback(request: Request) -> Response:
    try:
        version: object = int(str(form(request).get("version", "")))
    except ValueError:
        version = None
    return await _rollback(request, policy_admin(request), version, current_user(request).address)


ROUTES: list[BaseRoute] = [
    Route("/policy", policy, methods=["GET"]),
    Route("/policy", edit, methods=["POST"]),
    Route("/policy/rollback", rollback, methods=["POST"]),
    Route("/api/policy", policy, methods=["GET"]),
    Route("/api/policy/{op}", edit, methods=["POST"]),
]
