"""The signed one-click links in notifications (``/a/{token}``): confirm, then act.

Opening a link (GET) only shows what it would do, because mail scanners and previews fetch links;
the button POSTs to the same address, which uses the token up and takes the action through the
one table (:mod:`gateway.actions`), as the holder named in the token. The token is the
credential here (signed, expiring, single-use), so no login and no CSRF token are needed.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from quarantine_ui.links import LinkClaim, LinkError
from quarantine_ui.mailroom import ActionResult
from quarantine_ui.respond import local_epoch, render, t_for
from quarantine_ui.services import get_ui, mailroom

#: HTTP status for each way a link can be refused.
REFUSAL_STATUS = {"used": 410, "expired": 410, "unknown": 404, "not_held": 409}
#: Form of the confirmation page: the optional comment of an approver.
LINK_FORM_LIMITS = {"max_files": 0, "max_fields": 2, "max_part_size": 4096}


def _refuse(request: Request, reason: str) -> Response:
    key = reason if reason in REFUSAL_STATUS else "invalid"
    status = REFUSAL_STATUS.get(key, 400)
    return render(
        request, "link.html", {"state": "refused", "message": t_for(request)(f"link.error.{key}")}, status
    )


async def link_page(request: Request) -> Response:
    try:
        claim = get_ui(request).links.check(request.path_params["token"])
    except LinkError as exc:
        return _refuse(request, exc.reason)
    message = await mailroom(request).link_target(claim.message_id, claim.action, claim.actor)
    if message is None:
        return _refuse(request, "not_held")
    ctx = {
        "state": "confirm",
        "action": claim.action,
        "subject": message.subject,
        "recipients": message.recipients,
        "release_at": local_epoch(request, message.release_at),
        "form_action": request.url.path,
        "with_comment": claim.action in ("approve", "reject"),
    }
    return render(request, "link.html", ctx)


async def link_submit(request: Request) -> Response:
    try:
        claim: LinkClaim = get_ui(request).links.consume(request.path_params["token"])
    except LinkError as exc:
        return _refuse(request, exc.reason)
    form = await request.form(**LINK_FORM_LIMITS)
    comment = str(form.get("comment", ""))[:2000]
    result = await mailroom(request).link_act(claim.message_id, claim.action, claim.actor, comment)
    if result is not ActionResult.DONE:
        return _refuse(request, result.value)
    return render(
        request,
        "link.html",
        {"state": "done", "action": claim.action, "message": t_for(request)(f"link.{claim.action}.done")},
    )


ROUTES: list[BaseRoute] = [
    Route("/a/{token}", link_page, methods=["GET"]),
    Route("/a/{token}", link_submit, methods=["POST"]),
]
