"""Pages behind the signed links of notifications: confirm, then act (two clicks at most).

Opening a link (GET) only shows what it would do, because mail scanners and previews fetch links;
the button POSTs to the same address, which uses the token up and performs the action. The token
is the credential here (signed, expiring, single-use), so no login and no CSRF token are needed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from starlette.requests import Request
from starlette.responses import Response

from quarantine_ui.actions import ActionResult, MessageActions
from quarantine_ui.links import LinkClaim, LinkError
from quarantine_ui.services import get_ui
from quarantine_ui.views import render, t_for

#: HTTP status for each way a link can be refused.
REFUSAL_STATUS = {"used": 410, "expired": 410, "unknown": 404, "not_held": 409}


def _actions(request: Request) -> MessageActions:
    actions = get_ui(request).actions
    assert actions is not None, "link routes are mounted only with a MessageActions"
    return actions


def _refuse(request: Request, reason: str) -> Response:
    key = reason if reason in ("used", "expired", "unknown", "not_held") else "invalid"
    status = REFUSAL_STATUS.get(key, 400)
    return render(
        request, "link.html", {"state": "refused", "message": t_for(request)(f"link.error.{key}")}, status
    )


def _local_time(request: Request, epoch: float | None) -> str:
    if epoch is None:
        return ""
    offset = timezone(timedelta(minutes=get_ui(request).config.utc_offset_minutes))
    return datetime.fromtimestamp(epoch, UTC).astimezone(offset).strftime("%Y-%m-%d %H:%M")


async def link_page(request: Request) -> Response:
    token = request.path_params["token"]
    try:
        claim = get_ui(request).links.check(token)
    except LinkError as exc:
        return _refuse(request, exc.reason)
    message = await _actions(request).link_target(claim.message_id, claim.action, claim.actor)
    if message is None:
        return _refuse(request, "not_held")
    ctx = {
        "state": "confirm",
        "action": claim.action,
        "subject": message.subject,
        "recipients": message.recipients,
        "release_at": _local_time(request, message.release_at),
        "form_action": request.url.path,
        "with_comment": claim.action in ("approve", "reject"),
    }
    return render(request, "link.html", ctx)


async def link_submit(request: Request) -> Response:
    token = request.path_params["token"]
    ui = get_ui(request)
    try:
        claim: LinkClaim = ui.links.consume(token)
    except LinkError as exc:
        return _refuse(request, exc.reason)
    form = await request.form(max_files=0, max_fields=2, max_part_size=4096)
    comment = str(form.get("comment", ""))[:2000]
    result = await _actions(request).link_act(claim.message_id, claim.action, claim.actor, comment)
    if result is not ActionResult.DONE:
        return _refuse(request, result.value)
    done = t_for(request)(f"link.{claim.action}.done")
    return render(request, "link.html", {"state": "done", "message": done})
