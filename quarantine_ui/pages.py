"""Server-rendered pages over the message store: the sender's mail, approvals and delegation, the
security team's queues, quarantine review, policy editor, dashboard, and the auditor's log.

Every page works without JavaScript; forms POST with the session's CSRF token and answer with a
303 back to a page (post/redirect/get). Access rules live in :mod:`quarantine_ui.mailroom`.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from gateway import actions
from gateway.store import State, StoreError
from policies import PolicyError
from quarantine_ui import auditlog, dashboard
from quarantine_ui.accounts import User
from quarantine_ui.mailroom import ADMIN_QUEUES, MailError, Mailroom
from quarantine_ui.mailview import read_content
from quarantine_ui.policy_admin import PolicyAdmin
from quarantine_ui.services import get_ui
from quarantine_ui.views import csrf_ok, guard, redirect, render, t_for

PAGE_FORM_LIMITS: dict[str, Any] = {"max_files": 0, "max_fields": 600, "max_part_size": 300 * 1024}
NOTICES = (
    "cancelled",
    "sent",
    "justified",
    "approved",
    "rejected",
    "released",
    "deleted",
    "bulk",
    "delegated",
    "delegation_ended",
    "activated",
    "rolled_back",
)


def mailroom(request: Request) -> Mailroom:
    room = get_ui(request).mailroom
    if room is None:
        raise MailError(503, "no_store")
    return room


def policy_admin(request: Request) -> PolicyAdmin:
    admin = get_ui(request).policy_admin
    if admin is None:
        raise MailError(503, "no_policy")
    return admin


def tz(request: Request) -> timezone:
    return timezone(timedelta(minutes=get_ui(request).config.utc_offset_minutes))


def local(request: Request, when: datetime | None) -> str:
    return when.astimezone(tz(request)).strftime("%Y-%m-%d %H:%M") if when else ""


def minutes_left(request: Request, when: datetime | None) -> int:
    if when is None:
        return 0
    return max(0, math.ceil((when.timestamp() - get_ui(request).config.clock()) / 60))


def _role(user: User, role: str) -> None:
    if role not in user.roles:
        raise MailError(403, "forbidden")


def _page(request: Request, template: str, ctx: dict[str, Any], status: int = 200) -> Response:
    done = request.query_params.get("done", "")
    base: dict[str, Any] = {
        "local": lambda when: local(request, when),
        "minutes_left": lambda when: minutes_left(request, when),
        "flash": t_for(request)(f"notice.{done}") if done in NOTICES else "",
    }
    base.update(ctx)
    return render(request, template, base, status)


def mail_error_page(request: Request, exc: MailError) -> Response:
    t = t_for(request)
    key = f"mail.error.{exc.code}"
    message = t(key) if t(key) != key else t(f"error.{exc.status}")
    return render(request, "error.html", {"message": message}, exc.status)


async def _form(request: Request) -> tuple[User, Any] | Response:
    user = guard(request)
    if isinstance(user, Response):
        return user
    form = await request.form(**PAGE_FORM_LIMITS)
    if not csrf_ok(request, form):
        return render(request, "error.html", {"message": t_for(request)("error.403.csrf")}, status=403)
    return user, form


def _back(path: str, done: str, lang: str | None = None) -> Response:
    return redirect(f"{path}?{urlencode({'done': done})}")


# -- sender ---------------------------------------------------------------------------------------


async def messages_page(request: Request) -> Response:
    user = guard(request)
    if isinstance(user, Response):
        return user
    _role(user, "sender")
    room = mailroom(request)
    lang = request.state.lang
    recs = await room.sender_messages(user)
    views = [await room.view(r, lang) for r in recs]
    groups = {
        "held": [v for v in views if v.state == State.HELD],
        "pending_approval": [v for v in views if v.state == State.PENDING_APPROVAL],
        "quarantined": [v for v in views if v.state == State.QUARANTINED],
        "refused": [v for v in views if v.state in (State.REFUSED, State.REJECTED)],
        "other": [
            v
            for v in views
            if v.state
            not in (State.HELD, State.PENDING_APPROVAL, State.QUARANTINED, State.REFUSED, State.REJECTED)
        ][:50],
    }
    return _page(request, "messages.html", {"groups": groups})


async def message_page(request: Request) -> Response:
    user = guard(request)
    if isinstance(user, Response):
        return user
    room = mailroom(request)
    rec = await room.record_for(user, request.path_params["msg_id"])
    view = await room.view(rec, request.state.lang)
    content = None
    if "security_admin" in user.roles and rec.has_raw:
        try:
            content = read_content(await room.store.load_raw(rec.id))
        except StoreError:
            content = None
    approver_scope = room.approver_scope(user.address) if "approver" in user.roles else frozenset()
    ctx = {
        "m": view,
        "content": content,
        "is_sender": rec.sender.lower() == user.address,
        "is_approver": any(a.lower() in approver_scope for a in rec.approvers),
        "is_admin": "security_admin" in user.roles,
        "release_epoch": int(view.release_at.timestamp()) if view.release_at else 0,
    }
    return _page(request, "message.html", ctx)


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


def action_name(request: Request) -> str:
    """The table's action named by the URL (``send-now`` is ``send_now``)."""
    action = str(request.path_params["action"]).replace("-", "_")
    if action not in AFTER_ACTION:
        raise MailError(404, "not_found")
    return action


async def message_action(request: Request) -> Response:
    got = await _form(request)
    if isinstance(got, Response):
        return got
    user, form = got
    msg_id = request.path_params["msg_id"]
    action = action_name(request)
    await mailroom(request).act(user, msg_id, action, str(form.get(actions.text_field(action), "")))
    back, done = AFTER_ACTION[action]
    return _back(back or f"/messages/{msg_id}", done)


# -- approver -------------------------------------------------------------------------------------


async def approvals_page(request: Request) -> Response:
    user = guard(request)
    if isinstance(user, Response):
        return user
    _role(user, "approver")
    room = mailroom(request)
    lang = request.state.lang
    pending = [await room.view(r, lang) for r in await room.approvals(user)]
    given, received = room.delegations(user.address)
    return _page(
        request,
        "approvals.html",
        {
            "pending": pending,
            "given": given,
            "received": received,
            "until_local": lambda epoch: local(request, datetime.fromtimestamp(epoch, UTC)),
        },
    )


def parse_local_date(request: Request, value: str) -> float | None:
    """End of the given day (``YYYY-MM-DD``) in the UI's time zone, as epoch seconds."""
    try:
        day = datetime.strptime(value.strip(), "%Y-%m-%d").replace(tzinfo=tz(request))
    except ValueError:
        return None
    return (day + timedelta(days=1)).timestamp()


async def delegation_submit(request: Request) -> Response:
    got = await _form(request)
    if isinstance(got, Response):
        return got
    user, form = got
    _role(user, "approver")
    until = parse_local_date(request, str(form.get("until", "")))
    if until is None:
        raise MailError(400, "bad_delegation")
    mailroom(request).delegate(user.address, str(form.get("to", "")), until)
    return _back("/approvals", "delegated")


async def delegation_end(request: Request) -> Response:
    got = await _form(request)
    if isinstance(got, Response):
        return got
    user, _ = got
    try:
        ident = int(request.path_params["ident"])
    except ValueError:
        raise MailError(404, "not_found") from None
    if not mailroom(request).end_delegation(user.address, ident):
        raise MailError(404, "not_found")
    return _back("/approvals", "delegation_ended")


# -- security admin -------------------------------------------------------------------------------


async def admin_page(request: Request) -> Response:
    user = guard(request)
    if isinstance(user, Response):
        return user
    _role(user, "security_admin")
    room = mailroom(request)
    lang = request.state.lang
    queues = {s.value: [await room.view(r, lang) for r in await room.queue([s])] for s in ADMIN_QUEUES}
    return _page(request, "admin.html", {"queues": queues})


async def bulk_submit(request: Request) -> Response:
    got = await _form(request)
    if isinstance(got, Response):
        return got
    user, form = got
    ids = [str(v) for v in form.getlist("ids")]
    await mailroom(request).bulk(user, str(form.get("action", "")), ids, str(form.get("comment", "")))
    return _back("/admin", "bulk")


async def policy_page(request: Request) -> Response:
    user = guard(request)
    if isinstance(user, Response):
        return user
    _role(user, "security_admin")
    admin = policy_admin(request)
    text = admin.active_text()
    return _page(request, "policy.html", _policy_ctx(request, admin, text))


def _policy_ctx(request: Request, admin: PolicyAdmin, text: str, **extra: Any) -> dict[str, Any]:
    ctx: dict[str, Any] = {
        "text": text,
        "versions": admin.versions(),
        "errors": [],
        "error_lines": set(),
        "simulation": None,
        "valid": False,
        "listing": [],
        "policy_path": str(admin.active),
    }
    ctx.update(extra)
    bad: set[int] = ctx["error_lines"]
    if bad:
        lines = text.split("\n")
        near = {n for b in bad for n in range(b - 3, b + 4) if 1 <= n <= len(lines)}
        ctx["listing"] = [(n, lines[n - 1], n in bad) for n in sorted(near)]
    return ctx


async def policy_submit(request: Request) -> Response:
    got = await _form(request)
    if isinstance(got, Response):
        return got
    user, form = got
    _role(user, "security_admin")
    admin = policy_admin(request)
    text = str(form.get("text", "")).replace("\r\n", "\n")
    op = str(form.get("op", "validate"))
    lang = request.state.lang
    try:
        admin.validate(text)
    except PolicyError as err:
        message = err.message_ja if lang == "ja" else err.message_en
        errors = [{"line": err.line, "field": err.field, "message": message}]
        ctx = _policy_ctx(request, admin, text, errors=errors, error_lines={err.line})
        return _page(request, "policy.html", ctx, status=422)
    if op == "activate":
        await admin.activate(text, user.address, str(form.get("comment", "")).strip()[:500])
        return _back("/policy", "activated")
    simulation = await admin.simulate(text) if op == "simulate" else None
    return _page(request, "policy.html", _policy_ctx(request, admin, text, simulation=simulation, valid=True))


async def policy_rollback(request: Request) -> Response:
    got = await _form(request)
    if isinstance(got, Response):
        return got
    user, form = got
    _role(user, "security_admin")
    try:
        number = int(str(form.get("version", "")))
        await policy_admin(request).rollback(number, user.address)
    except (ValueError, KeyError):
        raise MailError(404, "not_found") from None
    return _back("/policy", "rolled_back")


async def dashboard_page(request: Request) -> Response:
    user = guard(request)
    if isinstance(user, Response):
        return user
    _role(user, "security_admin")
    ui = get_ui(request)
    t = t_for(request)
    stats = await dashboard.collect(
        mailroom(request).store,
        now=datetime.fromtimestamp(ui.config.clock(), UTC),
        utc_offset_minutes=ui.config.utc_offset_minutes,
    )
    labels = {a: t(f"action.{a}") for a in dashboard.ACTIONS}
    charts = {
        "per_day": dashboard.stacked_bars(stats, t("dashboard.per_day"), labels),
        "rules": dashboard.horizontal_bars(stats.top_rules, t("dashboard.top_rules"), "bar"),
        "senders": dashboard.horizontal_bars(stats.top_senders, t("dashboard.top_senders"), "bar alt"),
    }
    return _page(request, "dashboard.html", {"stats": stats, "charts": charts, "labels": labels})


# -- auditor --------------------------------------------------------------------------------------


def audit_filters(request: Request) -> auditlog.Filters:
    q = request.query_params

    def day(name: str, end: bool) -> datetime | None:
        value = q.get(name, "")
        epoch = parse_local_date(request, value) if value else None
        if epoch is None:
            return None
        return datetime.fromtimestamp(epoch if end else epoch - 86400, UTC)

    return auditlog.Filters(
        actor=q.get("actor", "")[:200],
        action=q.get("action", "")[:50],
        msg_id=q.get("msg_id", "")[:200],
        since=day("since", False),
        until=day("until", True),
    )


def _auditor(user: User) -> None:
    if not user.roles & {"auditor", "security_admin"}:
        raise MailError(403, "forbidden")


async def audit_page(request: Request) -> Response:
    user = guard(request)
    if isinstance(user, Response):
        return user
    _auditor(user)
    store = mailroom(request).store
    filters = audit_filters(request)
    events, total = await auditlog.latest(store, filters)
    verification = await auditlog.verification(store) if request.query_params.get("verify") else None
    query = {
        k: v for k, v in request.query_params.items() if k in ("actor", "action", "msg_id", "since", "until")
    }
    return _page(
        request,
        "audit.html",
        {
            "events": events,
            "total": total,
            "filters": query,
            "verification": verification,
            "export_jsonl": "/audit/export?" + urlencode({**query, "format": "jsonl"}),
            "export_csv": "/audit/export?" + urlencode({**query, "format": "csv"}),
        },
    )


async def audit_export(request: Request) -> Response:
    user = guard(request)
    if isinstance(user, Response):
        return user
    _auditor(user)
    return export_response(request)


def export_response(request: Request) -> Response:
    store = mailroom(request).store
    filters = audit_filters(request)
    fmt = request.query_params.get("format", "jsonl")
    stamp = datetime.fromtimestamp(get_ui(request).config.clock(), UTC).strftime("%Y%m%dT%H%M%SZ")
    if fmt == "csv":
        body, media, ext = auditlog.export_csv(store, filters), "text/csv; charset=utf-8", "csv"
    else:
        body, media, ext = auditlog.export_jsonl(store, filters), "application/x-ndjson", "jsonl"
    headers = {"content-disposition": f'attachment; filename="sekimori-audit-{stamp}.{ext}"'}
    return StreamingResponse(body, media_type=media, headers=headers)
