"""The audit log for auditors and the security team, as a page and as JSON: the newest events
with filters, exports (JSON Lines and CSV, in the one schema of :mod:`gateway.auditexport`) and
verification of the hash chain (:mod:`quarantine_ui.auditlog`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from quarantine_ui import auditlog
from quarantine_ui.guard import requires
from quarantine_ui.respond import is_api, now, page, parse_local_date
from quarantine_ui.services import mailroom

AUDITORS = ("auditor", "security_admin")
FILTERS = ("actor", "action", "msg_id", "since", "until")


def filters(request: Request) -> auditlog.Filters:
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


@requires(*AUDITORS)
async def audit_log(request: Request) -> Response:
    store = mailroom(request).store
    events, total = await auditlog.latest(store, filters(request))
    if is_api(request):
        return JSONResponse({"total": total, "events": [auditlog.event_dict(e) for e in events]})
    verification = await auditlog.verification(store) if request.query_params.get("verify") else None
    query = {k: v for k, v in request.query_params.items() if k in FILTERS}
    ctx = {
        "events": events,
        "total": total,
        "filters": query,
        "verification": verification,
        "export_jsonl": "/audit/export?" + urlencode({**query, "format": "jsonl"}),
        "export_csv": "/audit/export?" + urlencode({**query, "format": "csv"}),
    }
    return page(request, "audit.html", ctx)


@requires(*AUDITORS)
async def export(request: Request) -> Response:
    store = mailroom(request).store
    chosen = filters(request)
    stamp = now(request).strftime("%Y%m%dT%H%M%SZ")
    if request.query_params.get("format", "jsonl") == "csv":
        body, media, ext = auditlog.export_csv(store, chosen), "text/csv; charset=utf-8", "csv"
    else:
        body, media, ext = auditlog.export_jsonl(store, chosen), "application/x-ndjson", "jsonl"
    headers = {"content-disposition": f'attachment; filename="sekimori-audit-{stamp}.{ext}"'}
    return StreamingResponse(body, media_type=media, headers=headers)


@requires(*AUDITORS)
async def verify(request: Request) -> Response:
    return JSONResponse(await auditlog.verification(mailroom(request).store))


ROUTES: list[BaseRoute] = [
    Route("/audit", audit_log, methods=["GET"]),
    Route("/audit/export", export, methods=["GET"]),
    Route("/api/audit", audit_log, methods=["GET"]),
    Route("/api/audit/export", export, methods=["GET"]),
    Route("/api/audit/verify", verify, methods=["GET"]),
]
