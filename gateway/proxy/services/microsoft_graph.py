"""Microsoft Graph: OneDrive and SharePoint files.

- ``PUT /v1.0/{drive}/items/{parent}:/{name}:/content`` (``/me/drive/root:/path:/content``,
  ``/drives/{d}/...``, ``/sites/{s}/drive/...``; ``/items/{id}/content`` replaces a file's
  content): the body is the file, "up to 4MB" (``driveitem-put-content.md`` in
  microsoftgraph/microsoft-graph-docs-contrib).
- ``POST ...:/{name}:/createUploadSession`` (or ``/items/{id}/createUploadSession``) is answered
  with an ``uploadUrl`` on another host (``*.up.1drv.com``, ``api.onedrive.com``,
  ``{tenant}.sharepoint.com/.../uploadSession?...``); the file follows in ``PUT``\\ s to it with
  ``Content-Range``, in order; the last range makes the file (201/200 with the driveItem), or
  with ``deferCommit`` an empty ``POST`` to the ``uploadUrl`` does
  (``driveitem-createuploadsession.md``). The ``uploadUrl`` carries its own authorisation: the
  documentation says not to send ``Authorization`` there, so the user and tenant of a chunk come
  from the session the gateway recorded when it saw the ``createUploadSession`` answer.

Sharing: ``POST .../items/{id}/createLink`` (``driveitem-createlink.md``) with ``type``
``view|edit|embed`` and ``scope`` ``anonymous`` (anyone with the link), ``organization`` or
``users`` (the people given in ``recipients``); without ``scope`` the organisation's default
link applies, taken as ``anonymous`` (the widest); an ``embed`` link is always anonymous;
``expirationDateTime`` ends it. ``POST .../items/{id}/invite`` (``driveitem-invite.md``) with
``recipients`` (``email``), ``roles``, ``requireSignIn``, ``expirationDateTime``: the people
invited (``specific``).

Tenant: the directory (tenant) ID in the access token's ``tid`` claim when the request carries a
JWT bearer token, else ``<name>.sharepoint.com`` for a SharePoint host (``-my`` removed).
"""

from __future__ import annotations

import base64
import json
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
    canonical_url,
    content_range,
    first_str,
    hosts,
    route,
)

NAME = "microsoft_graph"
API = hosts("graph.microsoft.com")
UPLOAD_HOSTS = hosts(
    "*.sharepoint.com", "*.up.1drv.com", "api.onedrive.com", "my.microsoftpersonalcontent.com"
)
_DRIVE = r"/(?:v1\.0|beta)/(?P<drive>.+?)/(?:(?:items/(?P<parent>[^/:]+)|root):(?P<path>/[^:]+):|items/(?P<item>[^/:]+))"
#: Paths of minted upload URLs (OneDrive ``/up/``, ``/rup/``; SharePoint ``.../uploadSession``).
_UPLOAD_URL = r"(?:/up/.+|/rup/.+|.*/uploadSession)"


def tenant_of(req: RequestView) -> str | None:
    """The tenant a request shows: ``tid`` of a JWT bearer token, or the SharePoint host's name.

    >>> claims = base64.urlsafe_b64encode(json.dumps({"tid": "72F988BF-86F1-41AF-91AB-2D7CD011DB47"}).encode())
    >>> tenant_of(RequestView.make("PUT", "https://graph.microsoft.com/v1.0/me/drive/root:/a:/content",
    ...     [("Authorization", "Bearer eyJ0eXAiOiJKV1QifQ." + claims.decode().rstrip("=") + ".sig")]))
    '72f988bf-86f1-41af-91ab-2d7cd011db47'
    >>> tenant_of(RequestView.make("PUT", "https://contoso-my.sharepoint.com/personal/x/uploadSession"))
    'contoso.sharepoint.com'
    """
    auth = req.header("authorization")
    if auth[:7].lower() == "bearer " and len(auth) < 16384 and auth.count(".") == 2:
        payload = auth[7:].split(".")[1]
        try:
            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        except ValueError:
            claims = None
        tid = first_str(claims, "tid")
        if re.fullmatch(r"[0-9A-Fa-f-]{36}", tid):
            return tid.lower()
    if req.host.endswith(".sharepoint.com"):
        name = req.host.removesuffix(".sharepoint.com").split(".")[-1].removesuffix("-my")
        return f"{name}.sharepoint.com"
    return None


def _where(m: re.Match[str]) -> tuple[str, str]:
    """(file name, destination) from a drive-item path."""
    path = m.group("path")
    if path:
        folder, _, name = path.rpartition("/")
        return name, f"{m.group('drive')}:{folder or '/'}"
    item = m.group("item") or m.group("parent") or ""
    return "", f"{m.group('drive')} item {item}"


def _content(req: RequestView, m: re.Match[str]) -> Shape:
    name, where = _where(m)
    return Shape(
        NAME,
        Step.FILE,
        body="raw",
        filename=name,
        content_type=req.content_type,
        tenant=tenant_of(req),
        destination=where,
    )


def _create(req: RequestView, m: re.Match[str]) -> Shape:
    name, where = _where(m)
    return Shape(
        NAME,
        Step.START,
        body="json",
        filename=name,
        tenant=tenant_of(req),
        destination=where,
        wants_response=True,
    )


def _mint(req: RequestView, resp: ResponseView, shape: Shape) -> list[Mint]:
    url = first_str(resp.json_body(), "uploadUrl")
    if not (200 <= resp.status < 300 and url):
        return []
    body = req.json_body()
    item = body.get("item") if isinstance(body, dict) else None
    size = item.get("fileSize") if isinstance(item, dict) else None
    defer = isinstance(body, dict) and body.get("deferCommit") is True
    return [
        Mint(
            session=canonical_url(url),
            filename=shape.filename or first_str(item, "name"),
            total=size if isinstance(size, int) else None,
            tenant=shape.tenant,
            destination=shape.destination,
            extra={"defer_commit": True} if defer else {},
        )
    ]


def _range(req: RequestView, m: re.Match[str]) -> Shape | None:
    rng = content_range(req.header("content-range"))
    if rng is None:
        return None
    first, last, total = rng
    if first is None or last is None:
        return None
    final = total is not None and last + 1 == total
    return Shape(NAME, Step.FINISH if final else Step.CHUNK, session=req.url, offset=first, total=total)


def _commit(req: RequestView, m: re.Match[str]) -> Shape | None:
    if req.length != 0:
        return None
    return Shape(NAME, Step.FINISH, body="none", session=req.url)


_LINK_SCOPES: dict[str, Any] = {"anonymous": "anyone", "organization": "organization", "users": "specific"}


def _share(req: RequestView, m: re.Match[str]) -> Shape:
    item = m.group("item") or m.group("path") or m.group("parent") or ""
    return Shape(
        NAME, Step.SHARE, body="json", tenant=tenant_of(req), destination=f"{m.group('drive')}:{item}"
    )


def _emails(value: Any) -> tuple[str, ...]:
    found = [first_str(r, "email").strip().lower() for r in value] if isinstance(value, list) else []
    return tuple(a for a in found if a)


def _link(req: RequestView, shape: Shape) -> Shape:
    """The link a ``createLink`` asks for.

    >>> def read(body): return _link(RequestView.make("POST", "https://graph.microsoft.com/v1.0/me/drive/items/I/createLink",
    ...     body=body), Shape(NAME, Step.SHARE, destination="me/drive:I")).sharing
    >>> read(b'{"type": "view", "scope": "anonymous"}').scope, read(b'{"type": "edit", "scope": "organization"}').scope
    ('anyone', 'organization')
    >>> s = read(b'{"type": "view"}'); s.scope, s.detail
    ('anyone', (('type', 'view'), ('scope', 'organisation default')))
    >>> read(b'{"type": "embed", "scope": "organization"}').scope
    'anyone'
    """
    data = req.json_body()
    if not isinstance(data, dict):
        return replace(shape, problems=("the sharing request (Graph createLink) could not be read",))
    kind = first_str(data, "type").lower()
    asked = first_str(data, "scope").lower()
    detail: list[tuple[str, str]] = [("type", kind)]
    if kind == "embed":  # an embed link is anonymous whatever the scope says
        scope = "anyone"
        detail.append(("scope", "anonymous (embed)"))
    elif not asked:
        scope = "anyone"
        detail.append(("scope", "organisation default"))
    elif asked in _LINK_SCOPES:
        scope = _LINK_SCOPES[asked]
        detail.append(("scope", asked))
    else:
        return replace(shape, problems=(f"the Graph link scope {asked!r} is not understood",))
    if data.get("password"):
        detail.append(("password", "yes"))
    sharing = Sharing(
        scope,
        shape.destination,
        invitees=_emails(data.get("recipients")),
        expires=bool(data.get("expirationDateTime")),
        detail=tuple(detail),
    )
    return replace(shape, sharing=sharing)


def _invitation(req: RequestView, shape: Shape) -> Shape:
    """The people an ``invite`` lets in.

    >>> s = _invitation(RequestView.make("POST", "https://graph.microsoft.com/v1.0/me/drive/items/I/invite", body=(
    ...     b'{"recipients": [{"email": "a@partner.example"}], "roles": ["read"], "requireSignIn": true}')),
    ...     Shape(NAME, Step.SHARE, destination="me/drive:I")).sharing
    >>> s.scope, s.invitees
    ('specific', ('a@partner.example',))
    """
    data = req.json_body()
    if not isinstance(data, dict):
        return replace(shape, problems=("the sharing request (Graph invite) could not be read",))
    roles = data.get("roles")
    detail = [("roles", ",".join(r for r in roles if isinstance(r, str)) if isinstance(roles, list) else "")]
    if data.get("requireSignIn") is False:
        detail.append(("sign_in", "not required"))
    sharing = Sharing(
        "specific",
        shape.destination,
        invitees=_emails(data.get("recipients")),
        detail=tuple(detail),  # an invitation, not a link: a link's expiry does not apply
    )
    return replace(shape, sharing=sharing)


SERVICE = Service(
    name=NAME,
    title="Microsoft OneDrive / SharePoint",
    hosts=API + UPLOAD_HOSTS,
    routes=(
        route("put-content", "PUT", API, _DRIVE + r"/content", _content),
        route("create-session", "POST", API, _DRIVE + r"/createUploadSession", _create, mint=_mint),
        route("upload-range", "PUT", API + UPLOAD_HOSTS, _UPLOAD_URL, _range),
        route("deferred-commit", "POST", API + UPLOAD_HOSTS, _UPLOAD_URL, _commit),
        route("create-link", "POST", API, _DRIVE + r"/createLink", _share, refine=_link),
        route("invite", "POST", API, _DRIVE + r"/invite", _share, refine=_invitation),
    ),
)
