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

Sharing (``sharing.stone``): ``/2/sharing/create_shared_link_with_settings`` with ``path`` and
``settings`` (``audience`` ``public|team|no_one|password``, or the older ``requested_visibility``
``public|team_only|password``; ``expires``); "if no settings are given then the default visibility
is public". ``/2/sharing/modify_shared_link_settings`` (``url``, ``settings``,
``remove_expiration``) widens a link when it sets a wider audience or removes its expiry.
``/2/sharing/add_file_member`` and ``/add_folder_member`` invite people (``members``, by e-mail).
Unions are written ``"public"`` or ``{".tag": "public"}`` (:func:`stone_tag`).

Team membership shows only as member ids (``Dropbox-API-Select-User``), not the team: tenant
unknown.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
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
    first_str,
    hosts,
    route,
    stone_tag,
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
_AUDIENCE: dict[str, Any] = {
    "public": "anyone",
    "password": "anyone",
    "team": "organization",
    "team_only": "organization",
    "no_one": "specific",
    "members": "specific",
}


def _share(req: RequestView, m: re.Match[str]) -> Shape:
    return Shape(NAME, Step.SHARE, body="json")


def _audience(settings: Any) -> tuple[str, list[tuple[str, str]]] | None:
    """The scope and detail ``settings`` ask for (``None``: they name no audience)."""
    if not isinstance(settings, dict):
        return None
    tag = stone_tag(settings.get("audience")) or stone_tag(settings.get("requested_visibility"))
    if not tag:
        return None
    detail = [("audience", tag)]
    if tag == "password" or settings.get("require_password") or settings.get("link_password"):
        detail.append(("password", "yes"))
    return _AUDIENCE.get(tag, "anyone"), detail


def _link(req: RequestView, shape: Shape) -> Shape:
    """The link ``create_shared_link_with_settings`` asks for.

    >>> def read(body): return _link(RequestView.make("POST", "https://api.dropboxapi.com/2/sharing/x", body=body),
    ...     Shape(NAME, Step.SHARE)).sharing
    >>> s = read(b'{"path": "/\\\\u9867\\\\u5ba2"}'); s.scope, s.item, s.detail
    ('anyone', '/顧客', (('audience', 'public (default)'),))
    >>> read(b'{"path": "/a", "settings": {"audience": {".tag": "team"}}}').scope
    'organization'
    >>> read(b'{"path": "/a", "settings": {"requested_visibility": "public", "expires": "2026-05-01T00:00:00Z"}}').expires
    True
    """
    data = req.json_body()
    if not isinstance(data, dict):
        return replace(shape, problems=("the sharing request (Dropbox) could not be read",))
    settings = data.get("settings")
    found = _audience(settings)
    scope, detail = found if found is not None else ("anyone", [("audience", "public (default)")])
    expires = bool(settings.get("expires")) if isinstance(settings, dict) else False
    item = first_str(data, "path")
    return replace(shape, sharing=Sharing(scope, item, expires=expires, detail=tuple(detail)))


def _modify(req: RequestView, shape: Shape) -> Shape:
    """What ``modify_shared_link_settings`` widens: a wider audience, or no expiry any more.

    >>> def read(body): return _modify(RequestView.make("POST", "https://api.dropboxapi.com/2/sharing/x", body=body),
    ...     Shape(NAME, Step.SHARE)).sharing
    >>> read(b'{"url": "https://www.dropbox.com/s/abc/x?dl=0", "settings": {"audience": "public"}}').scope
    'anyone'
    >>> read(b'{"url": "https://www.dropbox.com/s/abc/x", "settings": {"expires": "2026-05-01T00:00:00Z"}}') is None
    True
    >>> s = read(b'{"url": "https://www.dropbox.com/s/abc/x", "settings": {}, "remove_expiration": true}')
    >>> s.scope, s.expires, s.item.startswith("link ")
    ('anyone', False, True)
    """
    data = req.json_body()
    if not isinstance(data, dict):
        return replace(shape, problems=("the sharing request (Dropbox) could not be read",))
    url = first_str(data, "url")
    item = "link " + hashlib.sha256(url.encode()).hexdigest()[:16]  # a link URL is a capability
    found = _audience(data.get("settings"))
    removes = data.get("remove_expiration") is True
    if found is None and not removes:
        return shape  # narrower or the same: nothing to judge
    scope, detail = found if found is not None else ("anyone", [("audience", "unchanged (unknown)")])
    if removes:
        detail.append(("expiry", "removed"))
    settings = data.get("settings")
    expires = False if removes else (bool(settings.get("expires")) if isinstance(settings, dict) else None)
    return replace(shape, sharing=Sharing(scope, item, expires=expires, detail=tuple(detail)))


def _members(req: RequestView, shape: Shape) -> Shape:
    """The people ``add_file_member`` or ``add_folder_member`` invites.

    >>> s = _members(RequestView.make("POST", "https://api.dropboxapi.com/2/sharing/add_folder_member", body=(
    ...     b'{"shared_folder_id": "84528192421", "members": [{"member": {".tag": "email", "email": "A@partner.example"},'
    ...     b' "access_level": "editor"}]}')), Shape(NAME, Step.SHARE)).sharing
    >>> s.scope, s.item, s.target, s.invitees
    ('specific', '84528192421', 'folder', ('a@partner.example',))
    """
    data = req.json_body()
    if not isinstance(data, dict):
        return replace(shape, problems=("the sharing request (Dropbox members) could not be read",))
    folder = "shared_folder_id" in data
    invitees: list[str] = []
    members = data.get("members")
    for entry in members if isinstance(members, list) else []:
        member = entry.get("member", entry) if isinstance(entry, dict) else entry
        if isinstance(member, dict) and stone_tag(member) == "email":
            address = first_str(member, "email").strip().lower()
            if address:
                invitees.append(address)
    item = first_str(data, "shared_folder_id", "file")
    access = stone_tag(data.get("access_level"))
    sharing = Sharing(
        "specific",
        item,
        target="folder" if folder else "file",
        invitees=tuple(invitees),
        detail=(("access", access),) if access else (),
    )
    return replace(shape, sharing=sharing)


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
            "share-link", "POST", API, r"/2/sharing/create_shared_link_with_settings", _share, refine=_link
        ),
        route(
            "share-link-settings",
            "POST",
            API,
            r"/2/sharing/modify_shared_link_settings",
            _share,
            refine=_modify,
        ),
        route(
            "share-members", "POST", API, r"/2/sharing/add_(?:file|folder)_member", _share, refine=_members
        ),
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
