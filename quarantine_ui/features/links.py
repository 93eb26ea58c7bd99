"""The signed links in notifications (``/a/{token}``): confirm, then act.

Opening a link (GET) only shows what it would do, because mail scanners and previews fetch links;
the button POSTs to the same address, which uses the token up and takes the action through the
one table (:mod:`gateway.actions`). What the link needs besides itself is the table's word
(:func:`gateway.actions.link_auth`): a sender's own cancel and send-now are one click (the signed,
expiring, single-use token is the credential, so no login and no CSRF token); an approver's
approve and reject need what ``ui.approval_links`` asks for, by default a login that passed the
second factor. Such a link first leads through the login (or a step up to the TOTP code, or the
enrolment of one) and back, then acts as the logged-in user, who must be an approver of the
message (named, or deputy by delegation), with the session's CSRF token: access to a manager's
mailbox alone decides nothing. A coached user's "go on" (``proceed``) is their own upload's
one-click row, but needs their reason: a form sent without one shows the page again and leaves
the token unused.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway import actions
from gateway.actions import LinkAuth, link_auth
from quarantine_ui.features.accounts import TOTP_VIA, start_session
from quarantine_ui.guard import csrf_ok, csrf_refused, current_user, login_step, to_login
from quarantine_ui.links import LinkClaim, LinkError
from quarantine_ui.mailroom import ActionResult, HeldMessage
from quarantine_ui.respond import local_epoch, redirect, render, t_for, with_next
from quarantine_ui.services import get_ui, mailroom
from quarantine_ui.sessions import Session, Stage

#: HTTP status for each way a link can be refused.
REFUSAL_STATUS = {"used": 410, "expired": 410, "unknown": 404, "not_held": 409, "not_yours": 403}
#: Form of the confirmation page: the optional comment of an approver, and the session's CSRF
#: token when the link needs a login.
LINK_FORM_LIMITS = {"max_files": 0, "max_fields": 3, "max_part_size": 16384}
#: Actions whose link needs the person's reason (the action table's justification).
REASONED = frozenset({"proceed"})


def _refuse(request: Request, reason: str) -> Response:
    key = reason if reason in REFUSAL_STATUS else "invalid"
    status = REFUSAL_STATUS.get(key, 400)
    return render(
        request, "link.html", {"state": "refused", "message": t_for(request)(f"link.error.{key}")}, status
    )


def _login_gate(request: Request, need: LinkAuth) -> Response | None:
    """The way to the login the link needs and back (``None``: the person has it)."""
    step = login_step(request)
    if step is not None:
        return to_login(request, step)
    session: Session = request.state.session
    if need is LinkAuth.MFA and session.via != TOTP_VIA:
        # Logged in without the second factor (password alone, single sign-on): step up.
        user = current_user(request)
        if user.mfa_enrolled:
            start_session(request, user.id, Stage.MFA, session.via)
            return redirect(with_next("/login/mfa", request.url.path))
        return redirect(with_next("/mfa/enrol", request.url.path))
    return None


async def _holder(request: Request, claim: LinkClaim) -> tuple[str, LinkAuth] | Response:
    """Who the link acts as (the token's holder for a one-click row, else the logged-in user in
    the token's role) and what it needed; or the response that refuses it or leads to a login."""
    row = await mailroom(request).link_row(claim.message_id, claim.action)
    if row is None:
        return _refuse(request, "not_held")
    need = link_auth(row, get_ui(request).config.approval_links)
    if need is LinkAuth.ONE_CLICK:
        return claim.actor, need
    gate = _login_gate(request, need)
    if gate is not None:
        return gate
    role = claim.actor.partition(":")[0]
    return f"{role}:{current_user(request).address}", need


async def link_page(request: Request) -> Response:
    try:
        claim = get_ui(request).links.check(request.path_params["token"])
    except LinkError as exc:
        return _refuse(request, exc.reason)
    found = await _holder(request, claim)
    if isinstance(found, Response):
        return found
    holder, need = found
    message = await mailroom(request).link_target(claim.message_id, claim.action, holder)
    if message is None:
        return _refuse(request, "not_held" if need is LinkAuth.ONE_CLICK else "not_yours")
    return render(request, "link.html", _confirm(request, claim.action, message, holder, need))


def _confirm(
    request: Request, action: str, message: HeldMessage, holder: str, need: LinkAuth, error: str = ""
) -> dict[str, Any]:
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
        "signed_in": None if need is LinkAuth.ONE_CLICK else holder.partition(":")[2],
    }


async def link_submit(request: Request) -> Response:
    token = request.path_params["token"]
    ui = get_ui(request)
    try:
        claim: LinkClaim = ui.links.check(token)
    except LinkError as exc:
        return _refuse(request, exc.reason)
    found = await _holder(request, claim)
    if isinstance(found, Response):
        return found  # the token stays unused until the person is logged in as it needs
    holder, need = found
    form = await request.form(**LINK_FORM_LIMITS)
    if need is not LinkAuth.ONE_CLICK and not csrf_ok(request, form):
        return csrf_refused(request)
    if (
        need is not LinkAuth.ONE_CLICK
        and await mailroom(request).link_target(claim.message_id, claim.action, holder) is None
    ):
        return _refuse(request, "not_yours")
    text = str(form.get(actions.text_field(claim.action), ""))[: actions.MAX_TEXT]
    if claim.action in REASONED and not text.strip():
        # A link that needs a reason is not used up by a form sent without one.
        message = await mailroom(request).link_target(claim.message_id, claim.action, holder)
        if message is None:
            return _refuse(request, "not_held")
        error = t_for(request)("link.error.reason_required")
        return render(
            request, "link.html", _confirm(request, claim.action, message, holder, need, error), 400
        )
    try:
        claim = ui.links.consume(token)
    except LinkError as exc:
        return _refuse(request, exc.reason)
    room = mailroom(request)
    rec = await room.store.get(claim.message_id)
    result = await room.link_act(claim.message_id, claim.action, holder, text)
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
