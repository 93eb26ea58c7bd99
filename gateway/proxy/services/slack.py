"""Slack's external file uploads (https://docs.slack.dev/reference/methods/files.getUploadURLExternal/,
https://docs.slack.dev/reference/methods/files.completeUploadExternal/).

1. ``files.getUploadURLExternal`` (``filename``, ``length``; query, form or JSON) is answered
   with ``upload_url`` and ``file_id``;
2. the whole file is ``POST``\\ ed to ``upload_url`` (``files.slack.com/upload/v1/...``) in one
   request, raw or as ``multipart/form-data``: it is judged there as a whole-file upload (under the
   name, tenant and user of the session that minted the URL), so a refused file never reaches
   Slack, and the session records that its file was judged;
3. ``files.completeUploadExternal`` (``files``: ``[{"id", "title"}]``, ``channel_id`` or
   ``channels``) shares the files (without a channel they stay private): it is held until every
   named file is judged; a file not judged at its upload URL (it went another way) is judged
   here, as not fully inspected.

The retired ``files.upload`` (one ``multipart/form-data`` request with the file, or a ``content``
field) is read as a whole-file upload. Tenant: the workspace in a ``<workspace>.slack.com`` host,
else unknown.
"""

from __future__ import annotations

import contextlib
import json
import re
import urllib.parse
from typing import Any

from gateway.proxy.services.base import (
    Mint,
    RequestView,
    ResponseView,
    Service,
    Shape,
    Step,
    canonical_url,
    first_str,
    hosts,
    route,
)

NAME = "slack"
API = hosts("slack.com", "*.slack.com")
FILES = hosts("files.slack.com")
_GENERIC_HOSTS = frozenset(
    {"slack.com", "app.slack.com", "api.slack.com", "files.slack.com", "edgeapi.slack.com"}
)


def _tenant(req: RequestView) -> str | None:
    if req.host in _GENERIC_HOSTS or not req.host.endswith(".slack.com"):
        return None
    return req.host


def _params(req: RequestView) -> dict[str, Any]:
    """The Web API method's arguments: query, then a form or JSON body."""
    params: dict[str, Any] = dict(req.query)
    if req.body:
        if req.content_type == "application/json":
            body = req.json_body()
            if isinstance(body, dict):
                params.update(body)
        elif req.content_type == "application/x-www-form-urlencoded":
            with contextlib.suppress(UnicodeDecodeError):
                params.update(urllib.parse.parse_qsl(req.body.decode("utf-8"), keep_blank_values=True))
    return params


def _get_url(req: RequestView, m: re.Match[str]) -> Shape:
    return Shape(NAME, Step.START, body="form", tenant=_tenant(req), wants_response=True)


def _mint(req: RequestView, resp: ResponseView, shape: Shape) -> list[Mint]:
    answer = resp.json_body()
    url, file_id = first_str(answer, "upload_url"), first_str(answer, "file_id")
    if not (200 <= resp.status < 300 and isinstance(answer, dict) and answer.get("ok") and url and file_id):
        return []
    params = _params(req)
    length = str(params.get("length", ""))
    return [
        Mint(
            session=file_id,
            alias=canonical_url(url),
            filename=str(params.get("filename", "")),
            total=int(length) if length.isdigit() else None,
            tenant=shape.tenant,
        )
    ]


def _upload(req: RequestView, m: re.Match[str]) -> Shape:
    return Shape(NAME, Step.FILE, body="auto", alias=req.url)


def _complete(req: RequestView, m: re.Match[str]) -> Shape:
    return Shape(NAME, Step.FINISH, body="form", tenant=_tenant(req))


def _completed_files(req: RequestView, shape: Shape) -> Shape:
    params = _params(req)
    files = params.get("files")
    if isinstance(files, str):
        try:
            files = json.loads(files)
        except ValueError:
            files = None
    ids = tuple(first_str(f, "id") for f in files if first_str(f, "id")) if isinstance(files, list) else ()
    where = first_str(params, "channel_id", "channels", "channel")
    return Shape(NAME, Step.FINISH, body="none", tenant=shape.tenant, sessions=ids, destination=where)


def _legacy(req: RequestView, m: re.Match[str]) -> Shape:
    return Shape(NAME, Step.FILE, body="auto", filename=req.param("filename") or "", tenant=_tenant(req))


SERVICE = Service(
    name=NAME,
    title="Slack",
    hosts=API,
    routes=(
        route("get-upload-url", "GET POST", API, r"/api/files\.getUploadURLExternal", _get_url, mint=_mint),
        route("upload", "POST PUT", FILES, r"/upload/.+", _upload),
        route(
            "complete", "POST", API, r"/api/files\.completeUploadExternal", _complete, refine=_completed_files
        ),
        route("legacy-upload", "POST", API, r"/api/files\.upload", _legacy),
    ),
)
