"""Box: direct uploads and chunked upload sessions.

- ``POST https://upload.box.com/api/2.0/files/content`` (a new version:
  ``/files/{id}/content``): ``multipart/form-data`` whose ``attributes`` part (JSON ``name``,
  ``parent.id``) must precede the ``file`` part; Box refuses the reverse with
  ``metadata_after_file_contents`` (https://developer.box.com/guides/uploads/direct/file).
  The web app posts the same to ``upload.app.box.com``; preflight answers name other upload
  hosts under ``app.box.com``.
- Chunked (https://developer.box.com/guides/uploads/chunked/): ``POST .../files/upload_sessions``
  with JSON ``folder_id``, ``file_size``, ``file_name`` is answered with the session ``id`` and
  its ``part_size``; each part is a ``PUT .../upload_sessions/{id}`` with ``content-range`` and a
  ``digest: sha=<base64 SHA-1>``; ``POST .../upload_sessions/{id}/commit`` with the whole file's
  ``digest`` and the list of parts makes the file. The commit is held.

Sharing (https://developer.box.com/guides/shared-links/create-or-update/): ``PUT
https://api.box.com/2.0/files/{id}`` or ``/folders/{id}`` with JSON ``shared_link`` whose
``access`` is ``open`` (anyone with the link), ``company`` (the enterprise) or ``collaborators``
(people already invited); without ``access`` the enterprise's default applies, taken as ``open``
(the widest). ``unshared_at`` ends the link. A ``PUT`` without ``shared_link`` (a rename, a move)
or with ``shared_link: null`` (the link removed) widens nothing. Invitations: ``POST
/2.0/collaborations`` with ``item`` (file or folder), ``accessible_by`` (``login`` of a user) and
``role``.

Box checks SHA-1 digests of parts and file, so the gate never changes a body. The enterprise
does not show in these requests (tenant unknown).
"""

from __future__ import annotations

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
    content_range,
    first_str,
    hosts,
    route,
)

NAME = "box"
HOSTS = hosts("upload.box.com", "*.app.box.com", "api.box.com")
_API = r"/api/2\.0/files"


def _direct(req: RequestView, m: re.Match[str]) -> Shape:
    return Shape(NAME, Step.FILE, body="form-data", destination=m.group("id") or "")


def _start(req: RequestView, m: re.Match[str]) -> Shape:
    return Shape(NAME, Step.START, body="json", destination=m.group("id") or "", wants_response=True)


def _mint(req: RequestView, resp: ResponseView, shape: Shape) -> list[Mint]:
    answer = resp.json_body()
    sid = first_str(answer, "id")
    if not (200 <= resp.status < 300 and sid):
        return []
    asked = req.json_body()
    size = asked.get("file_size") if isinstance(asked, dict) else None
    folder = asked.get("folder_id") if isinstance(asked, dict) else None
    return [
        Mint(
            session=sid,
            filename=first_str(asked, "file_name"),
            total=size if isinstance(size, int) else None,
            destination=str(folder) if isinstance(folder, str | int) else shape.destination,
        )
    ]


def _part(req: RequestView, m: re.Match[str]) -> Shape | None:
    rng = content_range(req.header("content-range"))
    if rng is None or rng[0] is None:
        return None
    return Shape(NAME, Step.CHUNK, session=m.group("sid"), offset=rng[0], total=rng[2])


def _commit(req: RequestView, m: re.Match[str]) -> Shape:
    return Shape(NAME, Step.FINISH, body="json", session=m.group("sid"))


_ACCESS: dict[str, Any] = {"open": "anyone", "company": "organization", "collaborators": "specific"}


def _share(req: RequestView, m: re.Match[str]) -> Shape:
    target = "folder" if m.group("kind") == "folders" else "file"
    return Shape(NAME, Step.SHARE, body="json", destination=f"{target}:{m.group('id')}")


def _item(shape: Shape) -> tuple[Any, str]:
    target, _, item = shape.destination.partition(":")
    return (target if target in ("file", "folder") else None), item


def _shared_link(req: RequestView, shape: Shape) -> Shape:
    """The link a ``PUT /files|folders/{id}`` asks for, if it asks for one.

    >>> def read(body, kind="folders"): return _shared_link(RequestView.make("PUT", f"https://api.box.com/2.0/{kind}/7",
    ...     body=body), Shape(NAME, Step.SHARE, destination=("folder" if kind == "folders" else "file") + ":7")).sharing
    >>> s = read(b'{"shared_link": {"access": "open"}}'); s.scope, s.target, s.expires
    ('anyone', 'folder', False)
    >>> read(b'{"shared_link": {"access": "company", "unshared_at": "2026-06-01T00:00:00Z"}}', "files").scope
    'organization'
    >>> read(b'{"shared_link": {}}').detail
    (('access', 'enterprise default'),)
    >>> read(b'{"name": "renamed"}') is None, read(b'{"shared_link": null}') is None
    (True, True)
    """
    data = req.json_body()
    if not isinstance(data, dict):
        return replace(shape, problems=("the sharing request (Box) could not be read",))
    link = data.get("shared_link")
    if "shared_link" not in data or link is None:
        return shape
    if not isinstance(link, dict):
        return replace(shape, problems=("the Box shared_link could not be read",))
    target, item = _item(shape)
    access = link.get("access")
    detail: list[tuple[str, str]] = []
    if access is None:
        scope, detail = "anyone", [("access", "enterprise default")]
    elif isinstance(access, str) and access.lower() in _ACCESS:
        scope = _ACCESS[access.lower()]
        detail.append(("access", access.lower()))
    else:
        return replace(shape, problems=(f"the Box shared link access {access!r} is not understood",))
    if link.get("password"):
        detail.append(("password", "yes"))
    expires = bool(link.get("unshared_at"))
    return replace(shape, sharing=Sharing(scope, item, target=target, expires=expires, detail=tuple(detail)))


def _invite(req: RequestView, m: re.Match[str]) -> Shape:
    return Shape(NAME, Step.SHARE, body="json")


def _collaboration(req: RequestView, shape: Shape) -> Shape:
    """The person a ``POST /collaborations`` invites, and to what.

    >>> s = _collaboration(RequestView.make("POST", "https://api.box.com/2.0/collaborations", body=(
    ...     b'{"item": {"type": "folder", "id": "9"}, "accessible_by": {"type": "user", "login": "A@Partner.example"},'
    ...     b' "role": "editor"}')), Shape(NAME, Step.SHARE)).sharing
    >>> s.scope, s.item, s.target, s.invitees
    ('specific', '9', 'folder', ('a@partner.example',))
    """
    data = req.json_body()
    item = data.get("item") if isinstance(data, dict) else None
    who = data.get("accessible_by") if isinstance(data, dict) else None
    if not isinstance(item, dict) or not isinstance(who, dict):
        return replace(shape, problems=("the Box collaboration could not be read",))
    kind = first_str(item, "type")
    target = kind if kind in ("file", "folder") else None
    login = first_str(who, "login").strip().lower()
    invitees = (login,) if login else ()
    detail = (("role", first_str(data, "role")), ("invitee", first_str(who, "type")))
    sharing = Sharing(
        "specific",
        str(item.get("id") or ""),
        target=target,
        invitees=invitees,
        detail=detail,
    )
    return replace(shape, sharing=sharing)


SERVICE = Service(
    name=NAME,
    title="Box",
    hosts=HOSTS,
    routes=(
        route("direct", "POST", HOSTS, _API + r"(?:/(?P<id>\d+))?/content", _direct),
        route(
            "session-start", "POST", HOSTS, _API + r"(?:/(?P<id>\d+))?/upload_sessions", _start, mint=_mint
        ),
        route("session-part", "PUT", HOSTS, _API + r"/upload_sessions/(?P<sid>[^/]+)", _part),
        route("session-commit", "POST", HOSTS, _API + r"/upload_sessions/(?P<sid>[^/]+)/commit", _commit),
        route(
            "share", "PUT", HOSTS, r"/2\.0/(?P<kind>files|folders)/(?P<id>\d+)", _share, refine=_shared_link
        ),
        route("invite", "POST", HOSTS, r"/2\.0/collaborations", _invite, refine=_collaboration),
    ),
)
