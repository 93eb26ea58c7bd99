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

Box checks SHA-1 digests of parts and file, so the gate never changes a body. The enterprise
does not show in these requests (tenant unknown).
"""

from __future__ import annotations

import re

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
    ),
)
