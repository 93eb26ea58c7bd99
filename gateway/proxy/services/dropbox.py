"""Dropbox API v2 uploads (``dropbox/dropbox-api-spec``, ``files.stone``).

Content-upload routes take their arguments as JSON in the ``Dropbox-API-Arg`` header (or the
``arg`` query parameter) and the bytes as the body. Header values must be ASCII, so non-ASCII
characters of a path arrive as ``\\uXXXX`` escapes: :func:`api_arg` decodes them, or a Japanese
file name would never match a policy.

- ``/2/files/upload``: the whole file (up to 150 MiB).
- ``/2/files/upload_session/start`` (may already carry the first bytes; answered with
  ``session_id``), ``/append_v2`` (cursor ``{session_id, offset}``), ``/append`` (v1:
  ``session_id``, ``offset``), ``/finish`` (cursor and ``commit.path``; may carry the last bytes)
  and ``/finish_batch``, ``/finish_batch_v2`` (JSON ``entries`` of cursor and commit, on the RPC
  host). The finishing request is held.

Team membership shows only as member ids (``Dropbox-API-Select-User``), not the team: tenant
unknown.
"""

from __future__ import annotations

import json
import posixpath
import re
from typing import Any

from gateway.proxy.services.base import (
    Mint,
    RequestView,
    ResponseView,
    Service,
    Shape,
    Step,
    first_str,
    hosts,
    route,
)

NAME = "dropbox"
CONTENT = hosts("content.dropboxapi.com")
API = hosts("api.dropboxapi.com")


def api_arg(req: RequestView) -> dict[str, Any]:
    """The request's arguments: ``Dropbox-API-Arg`` (or ``?arg=``) as JSON, ``\\uXXXX`` decoded.

    >>> api_arg(RequestView.make("POST", "https://content.dropboxapi.com/2/files/upload",
    ...     [("Dropbox-API-Arg", '{"path": "/\\\\u9867\\\\u5ba2.csv"}')]))
    {'path': '/顧客.csv'}
    """
    raw = req.header("dropbox-api-arg") or req.param("arg") or ""
    try:
        value = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _cursor(arg: dict[str, Any]) -> tuple[str, int | None]:
    cursor = arg.get("cursor")
    source = cursor if isinstance(cursor, dict) else arg
    offset = source.get("offset")
    return first_str(source, "session_id"), offset if isinstance(offset, int) else None


def _name(path: str) -> tuple[str, str]:
    folder, name = posixpath.split(path) if path else ("", "")
    return name, folder


def _upload(req: RequestView, m: re.Match[str]) -> Shape:
    name, folder = _name(first_str(api_arg(req), "path"))
    return Shape(NAME, Step.FILE, body="raw", filename=name, destination=folder)


def _start(req: RequestView, m: re.Match[str]) -> Shape:
    carries = req.length != 0  # unknown (chunked) or some bytes
    return Shape(NAME, Step.START, body="raw", offset=0, start_carries_data=carries, wants_response=True)


def _start_batch(req: RequestView, m: re.Match[str]) -> Shape:
    return Shape(NAME, Step.START, body="json", wants_response=True)


def _mint(req: RequestView, resp: ResponseView, shape: Shape) -> list[Mint]:
    answer = resp.json_body()
    if not 200 <= resp.status < 300:
        return []
    ids = answer.get("session_ids") if isinstance(answer, dict) else None
    if isinstance(ids, list):  # start_batch
        return [Mint(session=i) for i in ids if isinstance(i, str) and i]
    sid = first_str(answer, "session_id")
    return [Mint(session=sid)] if sid else []


def _append(req: RequestView, m: re.Match[str]) -> Shape | None:
    sid, offset = _cursor(api_arg(req))
    if not sid or offset is None:
        return None
    return Shape(NAME, Step.CHUNK, session=sid, offset=offset)


def _finish(req: RequestView, m: re.Match[str]) -> Shape | None:
    arg = api_arg(req)
    sid, offset = _cursor(arg)
    if not sid or offset is None:
        return None
    commit = arg.get("commit")
    name, folder = _name(first_str(commit, "path"))
    return Shape(NAME, Step.FINISH, body="raw", session=sid, offset=offset, filename=name, destination=folder)


def _batch(req: RequestView, m: re.Match[str]) -> Shape:
    return Shape(NAME, Step.FINISH, body="json")


def _batch_entries(req: RequestView, shape: Shape) -> Shape:
    """A batch finish names its sessions (and their paths) in its JSON body."""
    body = req.json_body()
    entries = body.get("entries") if isinstance(body, dict) else None
    sessions: list[str] = []
    names: dict[str, str] = {}
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict):
            continue
        sid, _ = _cursor(entry)
        if sid:
            sessions.append(sid)
            names[sid] = first_str(entry.get("commit"), "path")
    return Shape(NAME, Step.FINISH, body="none", sessions=tuple(sessions), extra={"paths": names})


_SESSION = r"/2/files/upload_session"

SERVICE = Service(
    name=NAME,
    title="Dropbox",
    hosts=CONTENT + API,
    routes=(
        route("upload", "POST", CONTENT, r"/2/files/upload", _upload),
        route("session-start", "POST", CONTENT, _SESSION + r"/start", _start, mint=_mint),
        route("session-start-batch", "POST", API, _SESSION + r"/start_batch", _start_batch, mint=_mint),
        route("session-append", "POST", CONTENT, _SESSION + r"/append(?:_v2)?", _append),
        route("session-finish", "POST", CONTENT, _SESSION + r"/finish", _finish),
        route(
            "session-finish-batch",
            "POST",
            API + CONTENT,
            _SESSION + r"/finish_batch(?:_v2)?",
            _batch,
            refine=_batch_entries,
        ),
    ),
)
