"""Download links: a sender's links and, for the security team, every open link, as pages and JSON.

``/links`` (``/api/links``) lists the links made for the signed-in sender's mail, newest first;
``/admin/links`` (``/api/admin/links``) every open link. ``POST /links/{id}/revoke``,
``/extend`` and ``/shorten`` take the actions of the one table (:mod:`gateway.actions`); the
page's expiry form posts a day to ``/links/{id}/expiry``, which extends or shortens to the end of
that day. Who may see and act on a link is decided by :class:`quarantine_ui.mailroom.Mailroom`
as for a message: its sender and the security team; anyone else gets 404.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from gateway.links.facts import LinkFacts
from gateway.links.rules import LONGEST
from gateway.links.service import human_size
from gateway.store import ItemKind, MessageRecord, State
from quarantine_ui.errors import UIError
from quarantine_ui.guard import current_user, form, requires
from quarantine_ui.mailroom import Mailroom
from quarantine_ui.respond import back, is_api, page, parse_local_date, read_json, text_field
from quarantine_ui.services import mailroom

#: The notice a page shows after each action.
DONE = {"revoke": "link_revoked", "extend": "link_extended", "shorten": "link_shortened"}


@dataclass(frozen=True)
class LinkView:
    """One link as the pages and the API show it."""

    id: str
    mail: str
    subject: str
    sender: str
    recipient: str
    state: str
    created_at: datetime
    expires_at: datetime | None
    downloads: int
    max_downloads: int
    files: tuple[tuple[str, str], ...]
    offered: tuple[str, ...]
    #: The latest expiry allowed (93 days after the link was made).
    latest: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "message": self.mail,
            "subject": self.subject,
            "sender": self.sender,
            "recipient": self.recipient,
            "state": self.state,
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "downloads": self.downloads,
            "max_downloads": self.max_downloads,
            "files": [{"name": n, "size": s} for n, s in self.files],
            "actions": list(self.offered),
        }


def link_view(room: Mailroom, user: Any, rec: MessageRecord) -> LinkView:
    facts = LinkFacts.of(rec)
    return LinkView(
        id=rec.id,
        mail=facts.mail,
        subject=rec.subject,
        sender=rec.sender,
        recipient=facts.recipient,
        state=rec.state.value,
        created_at=rec.received_at,
        expires_at=rec.expires_at,
        downloads=facts.downloads,
        max_downloads=facts.max_downloads,
        files=tuple((f.name, human_size(f.size)) for f in facts.files),
        offered=room.offered(user, rec),
        latest=rec.received_at + LONGEST,
    )


def _ordered(recs: list[MessageRecord]) -> list[MessageRecord]:
    """Open links first, each group newest first."""
    return sorted(recs, key=lambda r: (r.state is not State.OPEN, -r.received_at.timestamp()))


async def _listing(request: Request, recs: list[MessageRecord], scope: str) -> Response:
    room = mailroom(request)
    user = current_user(request)
    views = [link_view(room, user, r) for r in _ordered(recs)]
    if is_api(request):
        return JSONResponse({"links": [v.to_dict() for v in views]})
    return page(request, "links.html", {"links": views, "scope": scope})


@requires("sender")
async def my_links(request: Request) -> Response:
    return await _listing(request, await mailroom(request).sender_links(current_user(request)), "mine")


@requires("security_admin")
async def all_links(request: Request) -> Response:
    return await _listing(request, await mailroom(request).open_links(), "all")


def _until(value: object) -> datetime:
    """A new expiry from the API (ISO 8601 with a time zone)."""
    if not isinstance(value, str):
        raise UIError(400, "bad_expiry")
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise UIError(400, "bad_expiry") from None
    if at.tzinfo is None:
        raise UIError(400, "bad_expiry")
    return at


@requires()
async def act(request: Request) -> Response:
    link_id = str(request.path_params["msg_id"])
    action = str(request.path_params["action"])
    room = mailroom(request)
    user = current_user(request)
    if is_api(request):
        if action not in DONE:
            raise UIError(404, "not_found")
        data = await read_json(request)
        until = _until(data.get("until")) if action != "revoke" else None
        text_field(data, "comment")
        done = await room.act(user, link_id, action, via="api", until=until)
        return JSONResponse({"status": "done", "link": link_view(room, user, done).to_dict()})
    if action == "expiry":
        epoch = parse_local_date(request, str(form(request).get("until", "")))
        if epoch is None:
            raise UIError(400, "bad_expiry")
        rec = await room.record_for(user, link_id)
        until = datetime.fromtimestamp(epoch, UTC)
        latest = rec.received_at + LONGEST
        if latest < until <= latest + timedelta(days=1):
            until = latest  # the last day allowed: as long as allowed
        current = rec.expires_at or until
        action = "extend" if until > current else "shorten"
        await room.act(user, link_id, action, until=until)
    elif action == "revoke":
        await room.act(user, link_id, action)
    else:
        raise UIError(404, "not_found")
    target = str(form(request).get("back", ""))
    return back(target if target in ("/links", "/admin/links") else "/links", DONE[action])


async def links_for_message(request: Request, rec: MessageRecord) -> list[LinkView]:
    """The download links made for a message, for its page."""
    room = mailroom(request)
    user = current_user(request)
    if rec.kind is not ItemKind.MAIL:
        return []
    return [link_view(room, user, r) for r in await room.links_of(user, rec)]


GET, POST = ["GET"], ["POST"]
ROUTES: list[BaseRoute] = [
    Route("/links", my_links, methods=GET),
    Route("/admin/links", all_links, methods=GET),
    Route("/links/{msg_id}/{action}", act, methods=POST),
    Route("/api/links", my_links, methods=GET),
    Route("/api/admin/links", all_links, methods=GET),
    Route("/api/links/{msg_id}/{action}", act, methods=POST),
]
