"""Google Drive: the API's uploads and the Drive web client's.

- ``uploadType=media``: the body is the file (no name: Drive calls it "Untitled");
  ``uploadType=multipart``: ``multipart/related``, a JSON metadata part (``name`` in v3,
  ``title`` in v2) then the media part (https://developers.google.com/drive/api/v3/multipart-upload).
- ``uploadType=resumable``: the POST (metadata JSON, ``X-Upload-Content-Type`` and
  ``X-Upload-Content-Length``) is answered with a session URI in ``Location``
  (``...&upload_id=...``); the file follows in ``PUT``\\ s to it with
  ``Content-Range: bytes first-last/total`` (``/*`` while the size is unknown); earlier chunks
  are answered 308, the last one 200/201 with the file
  (https://developers.google.com/drive/api/guides/manage-uploads#resumable). The last chunk is
  held; a ``PUT`` without ``Content-Range`` sends the whole file at once.
- The web client posts the same shapes to ``clients6.google.com/upload/drive/v2internal/files``
  (undocumented; seen in public third-party code), covered by the same routes.

Sharing: ``POST .../drive/v3/files/{fileId}/permissions`` (v2: ``/drive/v2/files/{id}/permissions``,
and the web client's ``clients6.google.com/drive/v2internal/files/{id}/permissions``) with JSON
``type`` ``user|group|domain|anyone`` (v3 ``emailAddress``/``domain``, v2 ``value``),
``role``, ``allowFileDiscovery`` (v2 ``withLink``) and ``expirationTime`` (v2 ``expirationDate``;
Drive allows it on user and group permissions only). ``anyone`` is :data:`anyone` whether or not
it can be found by search; ``domain`` lets in the domain (``*@domain``: the organisation when it
is the company's own); ``user`` and ``group`` are ``specific``. A permission's ``type`` cannot
be changed afterwards, so updates are not widening (discovery drive.v3.json, Permission).

The uploading account's Workspace domain does not show in these requests (OAuth tokens are
opaque), so the tenant is unknown.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import replace

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

NAME = "google_drive"
HOSTS = hosts("www.googleapis.com", "content.googleapis.com", "clients6.google.com")
_FILES = r"/upload/drive/v(?:2|3|2beta|2internal)/files(?:/(?P<id>[^/]+))?"
_PERMISSIONS = r"/drive/v(?:2|3|2beta|2internal)/files/(?P<id>[^/]+)/permissions"


def _share(req: RequestView, m: re.Match[str]) -> Shape:
    return Shape(NAME, Step.SHARE, body="json", destination=m.group("id"))


def _permission(req: RequestView, shape: Shape) -> Shape:
    """The permission a ``permissions.create`` asks for (v3 and v2 field names).

    >>> def read(body): return _permission(RequestView.make("POST", "https://x/drive/v3/files/F/permissions",
    ...     body=body), Shape(NAME, Step.SHARE, destination="F")).sharing
    >>> read(b'{"type": "anyone", "role": "reader", "allowFileDiscovery": false}').scope
    'anyone'
    >>> s = read(b'{"type": "domain", "role": "writer", "domain": "Example.co.jp"}'); s.scope, s.invitees
    ('organization', ('*@example.co.jp',))
    >>> s = read(b'{"type": "user", "role": "reader", "value": "a@partner.example", "expirationDate": "2026-05-01T00:00:00Z"}')
    >>> s.scope, s.invitees, s.expires
    ('specific', ('a@partner.example',), None)
    """
    data = req.json_body()
    if not isinstance(data, dict):
        return replace(shape, problems=("the sharing request (Drive permission) could not be read",))
    kind = str(data.get("type") or "").lower()
    role = str(data.get("role") or "")
    expires = bool(data.get("expirationTime") or data.get("expirationDate"))
    who = first_str(data, "emailAddress", "domain", "value").strip().lower()
    detail: list[tuple[str, str]] = [("role", role), ("type", kind)]
    if kind == "anyone":
        found = data.get("allowFileDiscovery", not data.get("withLink", False))
        detail.append(("discoverable", "yes" if found is True else "no"))
        sharing = Sharing("anyone", shape.destination, expires=expires, detail=tuple(detail))
    elif kind == "domain" and who:
        sharing = Sharing(
            "organization", shape.destination, invitees=(f"*@{who}",), expires=expires, detail=tuple(detail)
        )
    elif kind in ("user", "group") and who:
        # An invitation, not a link: a link's expiry (``link_expires``) does not apply.
        sharing = Sharing("specific", shape.destination, invitees=(who,), detail=tuple(detail))
    else:
        return replace(shape, problems=(f"the Drive permission's type {kind or '(none)'} is not understood",))
    return replace(shape, sharing=sharing)


def _media(req: RequestView, m: re.Match[str]) -> Shape:
    return Shape(NAME, Step.FILE, body="raw", content_type=req.content_type, destination=m.group("id") or "")


def _multipart(req: RequestView, m: re.Match[str]) -> Shape:
    return Shape(NAME, Step.FILE, body="related", destination=m.group("id") or "")


def _start(req: RequestView, m: re.Match[str]) -> Shape | None:
    if req.param("upload_id") is not None:
        return None
    total = req.header("x-upload-content-length")
    return Shape(
        NAME,
        Step.START,
        body="json",
        content_type=req.header("x-upload-content-type"),
        total=int(total) if total.isdigit() else None,
        wants_response=True,
    )


def _mint(req: RequestView, resp: ResponseView, shape: Shape) -> list[Mint]:
    location = resp.header("location")
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)
    upload_id = (query.get("upload_id") or [""])[0]
    if not (200 <= resp.status < 300 and upload_id):
        return []
    meta = req.json_body()
    parents = meta.get("parents") if isinstance(meta, dict) else None
    folder = parents[0] if isinstance(parents, list) and parents and isinstance(parents[0], str) else ""
    if isinstance(parents, list) and parents and isinstance(parents[0], dict):
        folder = first_str(parents[0], "id")
    return [
        Mint(
            session=upload_id,
            filename=first_str(meta, "name", "title"),
            content_type=shape.content_type or first_str(meta, "mimeType"),
            total=shape.total,
            destination=folder,
        )
    ]


def _session_put(req: RequestView, m: re.Match[str]) -> Shape | None:
    upload_id = req.param("upload_id")
    if not upload_id:
        return None
    header = req.header("content-range")
    if not header:  # the whole file in one request
        return Shape(NAME, Step.FINISH, session=upload_id, offset=0, total=req.length)
    rng = content_range(header)
    if rng is None:
        return None
    first, last, total = rng
    if first is None or last is None:
        return None  # "bytes */total": a status query, no data
    final = total is not None and last + 1 == total
    return Shape(NAME, Step.FINISH if final else Step.CHUNK, session=upload_id, offset=first, total=total)


SERVICE = Service(
    name=NAME,
    title="Google Drive",
    hosts=HOSTS,
    routes=(
        route("media", "POST PATCH PUT", HOSTS, _FILES, _media, query={"uploadType": ["media"]}),
        route("multipart", "POST PATCH PUT", HOSTS, _FILES, _multipart, query={"uploadType": ["multipart"]}),
        route(
            "resumable-start",
            "POST PATCH",
            HOSTS,
            _FILES,
            _start,
            query={"uploadType": ["resumable"]},
            mint=_mint,
        ),
        route("resumable-chunk", "PUT POST", HOSTS, _FILES, _session_put, query={"upload_id": None}),
        route("share", "POST", HOSTS, _PERMISSIONS, _share, refine=_permission),
    ),
)
