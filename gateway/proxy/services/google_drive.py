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

The uploading account's Workspace domain does not show in these requests (OAuth tokens are
opaque), so the tenant is unknown.
"""

from __future__ import annotations

import re
import urllib.parse

from gateway.proxy.services.base import (
    Mint,
    RequestView,
    ResponseView,
    Service,
    Shape,
    Step,
    content_range,
    first_str,
    hosts,
    route,
)

NAME = "google_drive"
HOSTS = hosts("www.googleapis.com", "content.googleapis.com", "clients6.google.com")
_FILES = r"/upload/drive/v(?:2|3|2beta|2internal)/files(?:/(?P<id>[^/]+))?"


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
    ),
)
