"""The signed one-click links in notifications (``/a/{token}``): confirm, then act.

Opening a link (GET) only shows what it would do, because mail scanners and previews fetch links;
the button POSTs to the same address, which uses the token up and takes the action through the
one table (:mod:`gateway.actions`), as the holder named in the token. The token is the
credential here (signed, expiring, single-use), so no login and no CSRF token are needed.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway import actions
from quarantine_ui.links import LinkClaim, LinkError
from quarantine_ui.mailroom import ActionResult, HeldMessage
from quarantine_ui.respond import local_epoch, render, t_for
from quarantine_ui.services import get_ui, mailroom

#: HTTP status for each way a link can be refused.
REFUSAL_STATUS = {"used": 410, "expired": 410, "unknown": 404, "not_held": 409}
#: Form of the confirmation page: the optional comment of an approver, or a coached user's reason.
LINK_FORM_LIMITS = {"max_files": 0, "max_fields": 2, "max_part_size": 16384}
#: Actions whose link needs the person's reason (the action table's justification).
REASONED = frozenset({"proceed"})


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
    return render(request, "link.html", _confirm(request, claim.action, message))


def _confirm(request: Request, action: str, message: HeldMessage, error: str = "") -> dict[str, Any]:
    t = t_for(request)
    explain = f"link.{action}.explain"
    if message.upload is not None and t(f"{explain}_upload") != f"{explain}_upload":
        explain += "_upload"
    return {
        "state": "confirm",
        "action": action,
        "explain": t(explain),
        "subject": message.subject,
        "recipients": message.recipients,
        "upload": message.upload,
        "release_at": local_epoch(request, message.release_at),
        "form_action": request.url.path,
        "with_comment": action in ("approve", "reject"),
        "with_reason": action in REASONED,
        "error": error,
    }


async def link_submit(request: Request) -> Response:
    links = get_ui(request).links
    form = await request.form(**LINK_FORM_LIMITS)
    try:
        # A link that needs a reason is not used up by a form sent without one.
        claim: LinkClaim = links.check(request.path_params["token"])
        text = str(form.get(actions.text_field(claim.action), ""))[: actions.MAX_TEXT]
        if claim.action in REASONED and not text.strip():
            message = await mailroom(request).link_target(claim.message_id, claim.action, claim.actor)
            if message is None:
                return _refuse(request, "not_held")
            error = t_for(request)("link.error.reason_required")
            return render(request, "link.html", _confirm(request, claim.action, message, error), 400)
        claim = links.consume(request.path_params["token"])
    except LinkError as exc:
        return _refuse(request, exc.reason)
    room = mailroom(request)
    rec = await room.store.get(claim.message_id)
    result = await room.link_act(claim.message_id, claim.action, claim.actor, text)
    if result is not ActionResult.DONE:
        return _refuse(request, result.value)
    t = t_for(request)
    done = f"link.{claim.action}.done"
    if rec is not None and rec.upload is not None and t(f"{done}_upload") != f"{done}_upload":
        done += "_upload"
    return render(request, "link.html", {"state": "done", "action": claim.action, "message": t(done)})


ROUTES: list[BaseRoute] = [
    Route("/a/{token}", link_page, methods=["GET"]),
    Route("/a/{token}", link_submit, methods=["POST"]),
]
