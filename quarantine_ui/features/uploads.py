"""What the UI does only with uploads: the security team's download of an uploaded file.

An upload is shown like a message (:mod:`quarantine_ui.features.messages`: its file name,
destination, findings redacted, the user's reason, its approval), but its content is never
shown in a page: ``/messages/{id}/file`` (``/api/messages/{id}/file``) gives it to a security
admin (logged in with the second factor) as a download only (``Content-Disposition:
attachment``, as ``application/octet-stream``, never sniffed), and each download is an audit
event (``raw_download``). To anyone else the address answers 404, like an unknown id.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from quarantine_ui.guard import current_user, requires
from quarantine_ui.respond import is_api
from quarantine_ui.services import mailroom


def attachment_disposition(filename: str) -> str:
    """``Content-Disposition`` for a download named ``filename``: an ASCII fallback and the
    UTF-8 name (RFC 6266 s4.3, RFC 8187), with nothing that could end the header.

    >>> attachment_disposition('顧客 "一覧".csv')
    'attachment; filename="__ ____.csv"; filename*=UTF-8\\'\\'%E9%A1%A7%E5%AE%A2%20%22%E4%B8%80%E8%A6%A7%22.csv'
    """
    name = "".join(c for c in filename if c.isprintable() and c not in "\r\n") or "upload"
    fallback = "".join(c if (c.isascii() and c.isalnum()) or c in "._- " else "_" for c in name)
    fallback = fallback.replace('"', "_")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


@requires()
async def upload_file(request: Request) -> Response:
    via = "api" if is_api(request) else "web"
    data, facts = await mailroom(request).raw_upload(
        current_user(request), request.path_params["msg_id"], via
    )
    return Response(
        data,
        media_type="application/octet-stream",
        headers={
            "Content-Disposition": attachment_disposition(facts.filename),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )


ROUTES: list[BaseRoute] = [
    Route("/messages/{msg_id}/file", upload_file, methods=["GET"]),
    Route("/api/messages/{msg_id}/file", upload_file, methods=["GET"]),
]
