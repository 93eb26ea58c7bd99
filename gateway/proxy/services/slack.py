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

Sharing:

- ``files.sharedPublicURL`` (``file``) makes a file public to anyone with its link: a sharing
  change of scope ``anyone`` (https://docs.slack.dev/reference/methods/files.sharedPublicURL/).
- A channel shared with another organisation (Slack Connect): nothing in
  ``completeUploadExternal`` says so, but the channel objects Slack's own answers carry do
  (``is_ext_shared``, ``is_pending_ext_shared``, in ``conversations.info|list|join|open`` and
  ``users.conversations``; https://docs.slack.dev/reference/objects/conversation-object/). The
  gate keeps what those answers showed (a fact in the shared session store, for as long as an
  upload session lives), and a file completed into such a channel is judged with sharing scope
  ``specific`` and the other organisations' team ids in its destination. Where the client never
  fetched the channel through the gateway, the upload is judged as an upload (its content is
  inspected either way).
"""

from __future__ import annotations

import contextlib
import json
import re
import urllib.parse
from dataclasses import replace
from typing import Any

from gateway.proxy.services.base import (
    Mint,
    RequestView,
    ResponseView,
    Service,
    Shape,
    Sharing,
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


def channel_fact(channel: str) -> str:
    """The session-store key under which the gate keeps what Slack said of ``channel``."""
    return f"channel:{channel}"


def _channels(req: RequestView, m: re.Match[str]) -> Shape:
    return Shape(NAME, Step.START, body="form", tenant=_tenant(req), wants_response=True)


def _outside(channel: Any) -> tuple[str, ...] | None:
    """The other organisations a channel object says it is shared with (``None``: not shared
    outside; an empty tuple: shared, teams not named).

    >>> _outside({"id": "C1", "is_ext_shared": True, "context_team_id": "T1",
    ...           "connected_team_ids": ["T1", "T9"]})
    ('T9',)
    >>> _outside({"id": "C1", "is_ext_shared": False, "is_org_shared": True}) is None
    True
    """
    if not isinstance(channel, dict) or not (
        channel.get("is_ext_shared") is True or channel.get("is_pending_ext_shared") is True
    ):
        return None
    own = channel.get("context_team_id") or channel.get("conversation_host_id")
    teams: list[str] = []
    for name in ("connected_team_ids", "shared_team_ids", "pending_connected_team_ids", "pending_shared"):
        value = channel.get(name)
        if isinstance(value, list):
            teams += [t for t in value if isinstance(t, str) and t != own and t not in teams]
    return tuple(teams)


def _mint_channels(req: RequestView, resp: ResponseView, shape: Shape) -> list[Mint]:
    """The channels an answer shows shared with another organisation, as facts for the gate."""
    answer = resp.json_body()
    if not (200 <= resp.status < 300 and isinstance(answer, dict) and answer.get("ok")):
        return []
    found = [answer.get("channel"), *(answer.get("channels") or [])]
    mints = []
    for channel in found:
        teams = _outside(channel)
        cid = channel.get("id") if isinstance(channel, dict) else None
        if teams is not None and isinstance(cid, str) and cid:
            mints.append(
                Mint(session=channel_fact(cid), tenant=shape.tenant, extra={"shared_outside": list(teams)})
            )
    return mints


def _public_url(req: RequestView, m: re.Match[str]) -> Shape:
    return Shape(NAME, Step.SHARE, body="form", tenant=_tenant(req))


def _public_link(req: RequestView, shape: Shape) -> Shape:
    """``files.sharedPublicURL``: anyone with the link may open the file; such links do not end.

    >>> _public_link(RequestView.make("POST", "https://slack.com/api/files.sharedPublicURL",
    ...     [("content-type", "application/x-www-form-urlencoded")], b"file=F1"),
    ...     Shape(NAME, Step.SHARE)).sharing
    Sharing(scope='anyone', item='F1', target='file', invitees=(), expires=False, detail=(('link', 'public'),))
    """
    item = first_str(_params(req), "file")
    if not item:
        return replace(shape, problems=("files.sharedPublicURL names no file",))
    sharing = Sharing("anyone", item, target="file", expires=False, detail=(("link", "public"),))
    return replace(shape, sharing=sharing, destination=item)


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
    facts = tuple(channel_fact(c.strip()) for c in where.split(",") if c.strip())
    return Shape(
        NAME,
        Step.FINISH,
        body="none",
        tenant=shape.tenant,
        sessions=ids,
        destination=where,
        audience=facts,
    )


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
        route(
            "channels",
            "GET POST",
            API,
            r"/api/(?:conversations\.(?:info|list|join|open|create)|users\.conversations)",
            _channels,
            mint=_mint_channels,
        ),
        route("public-url", "POST", API, r"/api/files\.sharedPublicURL", _public_url, refine=_public_link),
    ),
)
