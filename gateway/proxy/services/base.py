"""How a cloud service's requests are described: as data, read by pure functions.

A :class:`Service` lists the hosts to decrypt and its :class:`Route`\\ s. A route says which
requests it covers (method, host, path, required query parameters) and what such a request is
(its :class:`Step`); its ``read`` function turns the request's head into a :class:`Shape` (file
name, session id, offset...), and a route that creates upload sessions has a ``mint`` function
that reads the session out of the service's answer. Nothing here does I/O: the proxy's gate
(:mod:`gateway.proxy.gate`) acts on what these say.

Steps of an upload::

    FILE    one request carries the whole file (raw, multipart/form-data, multipart/related)
    TEXT    text sent to a web service (JSON or form values), scanned as text
    START   creates an upload session; the answer names it (Location, uploadUrl, session id)
    CHUNK   part of a session's file: passes on at once, a copy goes to the spool
    FINISH  makes the file exist: held until the whole file is judged
    SHARE   creates or widens access to a file or folder (a link, an invitation): a small JSON
            body, read by the route's ``refine`` into a :class:`Sharing` and judged as one item
            whose content is the change itself (:meth:`Sharing.canonical`)
"""

from __future__ import annotations

import email.header
import hashlib
import json
import re
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from python_multipart.multipart import parse_options_header

from gateway.proxy.hosts import HostPattern

BodyKind = Literal["none", "raw", "form-data", "related", "json", "form", "auto"]


class Step(StrEnum):
    FILE = "file"
    TEXT = "text"
    START = "start"
    CHUNK = "chunk"
    FINISH = "finish"
    SHARE = "share"


#: Who a sharing change lets in, in one vocabulary for every service (``policies.schema``'s).
SCOPES: tuple[str, ...] = ("anyone", "organization", "specific")
TARGETS: tuple[str, ...] = ("file", "folder")


@dataclass(frozen=True)
class Sharing:
    """A request that creates or widens access, as every service's parser reads it.

        ``scope``: ``anyone`` (whoever has the link, or the public), ``organization`` (the people of
        the organisation, or of a domain: see ``invitees``), ``specific`` (the people or groups named).
        ``invitees`` are the addresses let in; a whole domain is written ``*@domain`` (Drive's
        ``domain`` permission): the gate makes ``organization`` into ``specific`` when one of them is
        outside the organisation. ``item`` names what is shared (an id or a path; a link's URL only by
        its hash: it is a capability). ``target`` is ``file`` or ``folder`` when the request says;
        ``expires`` whether a link ends on a date (``None`` for an invitation of named people, whose
    expiry is not a link's, and where the request cannot say). A scope the request
        leaves to the provider's default (Dropbox without settings is public; Box without ``access``
        and Graph without ``scope`` take the enterprise's or organisation's default) is taken as the
        widest the default may be, ``anyone``, and ``detail`` says so (fail closed).

        >>> s = Sharing("anyone", "F1", target="file", expires=False, detail=(("role", "reader"),))
        >>> s.canonical("google_drive")
        b'{"detail":{"role":"reader"},"expires":false,"invitees":[],"item":"F1","scope":"anyone","service":"google_drive","target":"file"}'
    """

    scope: str
    item: str
    target: str | None = None
    invitees: tuple[str, ...] = ()
    expires: bool | None = None
    #: What else the request asks (role, link type, password, discoverable...), for reviewers.
    detail: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if self.scope not in SCOPES:
            raise ValueError(f"sharing scope {self.scope!r} is not one of {SCOPES}")
        if self.target is not None and self.target not in TARGETS:
            raise ValueError(f"sharing target {self.target!r} is not one of {TARGETS}")

    def canonical(self, service: str) -> bytes:
        """The change as stable bytes: the content of its store item, so that an approval of
        this change lets exactly this change (and no other) pass again."""
        value = {
            "service": service,
            "scope": self.scope,
            "item": self.item,
            "target": self.target,
            "invitees": sorted({a.lower() for a in self.invitees}),
            "expires": self.expires,
            "detail": dict(sorted(self.detail)),
        }
        return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()

    @property
    def label(self) -> str:
        """The name reviewers see for the change (in place of a file name)."""
        what = {"file": "ファイル", "folder": "フォルダ"}.get(self.target or "", "項目")
        return f"共有設定の変更: {what} {self.item}"


def stone_tag(value: Any) -> str:
    """The tag of a Dropbox Stone union written either way: ``"public"`` or ``{".tag": "public"}``.

    >>> stone_tag({".tag": "team"}), stone_tag("public"), stone_tag(None)
    ('team', 'public', '')
    """
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        tag = value.get(".tag")
        return tag if isinstance(tag, str) else ""
    return ""


def server_path(path: str) -> str:
    """A (percent-decoded) request path as servers route it: repeated slashes merged, ``.``
    and ``..`` segments removed (RFC 3986 s5.2.4), never above the root. A trailing slash is
    kept (:meth:`Route.covers` also tries the path without it).

    >>> server_path("//a/./b/../c/"), server_path("/../x"), server_path("")
    ('/a/c/', '/x', '/')
    """
    segments = path.split("/")
    out: list[str] = []
    for seg in segments:
        if seg == "..":
            if out:
                out.pop()
        elif seg not in ("", "."):
            out.append(seg)
    trailing = "/" if out and segments[-1] == "" else ""
    return "/" + "/".join(out) + trailing


@dataclass(frozen=True)
class RequestView:
    """What the services read of a request: no body unless the gate has it (small bodies)."""

    method: str
    host: str
    port: int
    path: str
    query: tuple[tuple[str, str], ...] = ()
    #: Lower-case header names; the first value of each.
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None

    @classmethod
    def make(
        cls,
        method: str,
        url: str,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes | None = None,
    ) -> RequestView:
        """Build a view from a URL (tests, and the gate for a flow).

        >>> v = RequestView.make("PUT", "https://Upload.Box.com/api/2.0/files/upload_sessions/A1?x=1")
        >>> v.host, v.port, v.path, v.param("x")
        ('upload.box.com', 443, '/api/2.0/files/upload_sessions/A1', '1')
        """
        parts = urllib.parse.urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        heads: dict[str, str] = {}
        for name, value in headers:
            heads.setdefault(name.lower(), value)
        return cls(
            method=method.upper(),
            host=(parts.hostname or "").lower(),
            port=port,
            path=server_path(urllib.parse.unquote(parts.path)),
            query=tuple(urllib.parse.parse_qsl(parts.query, keep_blank_values=True)),
            headers=heads,
            body=body,
        )

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")

    def param(self, name: str) -> str | None:
        for k, v in self.query:
            if k == name:
                return v
        return None

    @property
    def url(self) -> str:
        """``host[:port]/path?query``: what identifies an upload URL (no scheme)."""
        port = "" if self.port in (80, 443) else f":{self.port}"
        query = urllib.parse.urlencode(self.query)
        return f"{self.host}{port}{self.path}" + (f"?{query}" if query else "")

    @property
    def content_type(self) -> str:
        return self.header("content-type").split(";", 1)[0].strip().lower()

    @property
    def length(self) -> int | None:
        """The body's declared length (``None``: unknown, e.g. chunked transfer)."""
        value = self.header("content-length")
        return int(value) if value.isdigit() else None

    def json_body(self) -> Any:
        """The body as JSON, or ``None`` when absent or not JSON."""
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            return None


@dataclass(frozen=True)
class ResponseView:
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")

    def json_body(self) -> Any:
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            return None


@dataclass(frozen=True)
class Shape:
    """What one request is, as its service reads it."""

    service: str
    step: Step
    #: How the body carries the file or the text.
    body: BodyKind = "raw"
    filename: str = ""
    content_type: str = ""
    tenant: str | None = None
    #: Where the file goes, for reviewers (a folder id, a path, a channel); never a token.
    destination: str = ""
    #: Who a request opens the file to (:data:`SCOPES`), for ``sharing_scope`` conditions, when a
    #: route knows no more; a sharing change read in full is :attr:`sharing` (its own item).
    sharing_scope: str | None = None
    #: The provider's session id (hashed into the store's key), or ``None`` for ``alias``.
    session: str | None = None
    #: The request's URL identifies the session (a minted upload URL).
    alias: str | None = None
    #: Where this request's bytes go in the file, and the file's size when the request says.
    offset: int | None = None
    total: int | None = None
    #: Session ids a FINISH completes besides (or instead of) ``session`` (Slack, Dropbox batch).
    sessions: tuple[str, ...] = ()
    #: For START: the request's own body is the first chunk (Dropbox ``upload_session/start``).
    start_carries_data: bool = False
    #: The service answers with something the gate must read (a START's session, a FILE's id).
    wants_response: bool = False
    #: Facts the session keeps (Graph's deferCommit).
    extra: Mapping[str, Any] = field(default_factory=dict)
    #: For SHARE: the change, once ``refine`` has read it from the body (``None``: the request
    #: changes nothing that widens access, e.g. a rename, or removing a link).
    sharing: Sharing | None = None
    #: Why the request could not be read (the gate reports it as not fully inspected).
    problems: tuple[str, ...] = ()
    #: Keys of facts an earlier answer minted saying the destination is shared with another
    #: organisation (a Slack Connect channel): the files go with sharing scope ``specific``.
    audience: tuple[str, ...] = ()


@dataclass(frozen=True)
class Mint:
    """A session the service's answer created, or a fact it showed about a destination
    (:attr:`Shape.audience`; kept in the same shared store, for as long as a session lives)."""

    session: str
    alias: str | None = None
    filename: str = ""
    content_type: str = ""
    total: int | None = None
    tenant: str | None = None
    destination: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)


Reader = Callable[[RequestView, "re.Match[str]"], Shape | None]
Minter = Callable[[RequestView, ResponseView, Shape], list[Mint]]
Refiner = Callable[[RequestView, Shape], Shape]


#: Route paths match in any case. Microsoft's services (Graph, OneDrive, SharePoint) route
#: ``…/Content`` as ``…/content``; reading every service's paths so only makes the gate inspect
#: more, never less.
PATH_FLAGS = re.IGNORECASE


@dataclass(frozen=True)
class Route:
    """A kind of request of one service. ``query`` maps a parameter to its allowed values
    (``None``: present with any value); ``read`` may still answer ``None`` (not this route)."""

    name: str
    methods: frozenset[str]
    hosts: tuple[HostPattern, ...]
    path: re.Pattern[str]
    read: Reader
    query: Mapping[str, frozenset[str] | None] = field(default_factory=dict)
    #: Reads the sessions a START's answer created (the request's body is in ``RequestView``).
    mint: Minter | None = None
    #: Completes the shape from the request's body, once the gate has it (a FINISH naming
    #: its files in the body).
    refine: Refiner | None = None

    def covers(self, req: RequestView) -> re.Match[str] | None:
        if req.method not in self.methods or not any(h.matches(req.host, req.port) for h in self.hosts):
            return None
        for name, allowed in self.query.items():
            value = req.param(name)
            if value is None or (allowed is not None and value not in allowed):
                return None
        found = self.path.fullmatch(req.path)
        if found is None and len(req.path) > 1 and req.path.endswith("/"):
            found = self.path.fullmatch(req.path.rstrip("/"))  # most servers route /a/ as /a
        return found


@dataclass(frozen=True)
class Service:
    name: str
    title: str
    #: Hosts decrypted for this service (API hosts and the hosts its upload URLs point at).
    hosts: tuple[HostPattern, ...]
    routes: tuple[Route, ...]

    def match(self, req: RequestView) -> tuple[Route, Shape] | None:
        """The first route that covers ``req`` and reads it."""
        for route in self.routes:
            m = route.covers(req)
            if m is not None and (shape := route.read(req, m)) is not None:
                return route, shape
        return None


def hosts(*patterns: str) -> tuple[HostPattern, ...]:
    return tuple(HostPattern.parse(p) for p in patterns)


def route(
    name: str,
    methods: str,
    host_patterns: tuple[HostPattern, ...],
    path: str,
    read: Reader,
    *,
    query: Mapping[str, Iterable[str] | None] | None = None,
    mint: Minter | None = None,
    refine: Refiner | None = None,
) -> Route:
    """A :class:`Route` from compact arguments: ``methods`` space-separated, ``path`` a regular
    expression matched against the whole path, in any case (:data:`PATH_FLAGS`)."""
    return Route(
        name=name,
        methods=frozenset(methods.split()),
        hosts=host_patterns,
        path=re.compile(path, PATH_FLAGS),
        read=read,
        query={k: (None if v is None else frozenset(v)) for k, v in (query or {}).items()},
        mint=mint,
        refine=refine,
    )


_RANGE = re.compile(r"^\s*bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)\s*$", re.IGNORECASE)


def content_range(value: str) -> tuple[int | None, int | None, int | None] | None:
    """``(first, last, total)`` of a request's Content-Range (RFC 9110 s14.4); ``None`` if
    absent or malformed; ``None`` members for ``*``.

    >>> content_range("bytes 0-262143/1048576"), content_range("bytes */2000"), content_range("bytes 5-9/*")
    ((0, 262143, 1048576), (None, None, 2000), (5, 9, None))
    >>> content_range("junk") is None
    True
    """
    m = _RANGE.match(value)
    if not m:
        return None
    first = int(m.group(1)) if m.group(1) is not None else None
    last = int(m.group(2)) if m.group(2) is not None else None
    total = int(m.group(3)) if m.group(3) != "*" else None
    if first is not None and last is not None and last < first:
        return None
    return first, last, total


def session_key(service: str, session_id: str) -> str:
    """The store's key of a session: a hash, since provider session ids and upload URLs are
    capabilities (whoever has one may upload into the session).

    >>> len(session_key("box", "F1")), session_key("box", "F1") == session_key("dropbox", "F1")
    (40, False)
    """
    return hashlib.sha256(f"{service}\0{session_id}".encode()).hexdigest()[:40]


def canonical_url(url: str) -> str:
    """An upload URL as :attr:`RequestView.url` shows it, so that the URL a service minted and
    the URL a chunk goes to compare equal.

    >>> canonical_url("https://SN3302.up.1drv.com/up/fe6987415ace7X4e1eF866337?a=1")
    'sn3302.up.1drv.com/up/fe6987415ace7X4e1eF866337?a=1'
    """
    return RequestView.make("PUT", url).url


def first_str(data: Any, *names: str) -> str:
    """The first of ``names`` that is a non-empty string in the mapping ``data``."""
    if isinstance(data, Mapping):
        for name in names:
            value = data.get(name)
            if isinstance(value, str) and value:
                return value
    return ""


_EXTENDED = re.compile(rb"filename\*\s*=\s*([A-Za-z0-9_-]*)'[^']*'([^;\s]+)", re.IGNORECASE)


def disposition_filename(disposition: bytes) -> str | None:
    """The file name of a ``Content-Disposition`` value: RFC 2231/6266 ``filename*=`` first,
    then ``filename=`` as raw UTF-8 or RFC 2047 words; ``None`` without one.

    >>> disposition_filename(b"attachment; filename*=UTF-8''%E5%90%8D%E7%B0%BF.csv")
    '名簿.csv'
    >>> disposition_filename('form-data; name="file"; filename="議事録.txt"'.encode())
    '議事録.txt'
    >>> disposition_filename(b"inline") is None
    True
    """
    extended = _EXTENDED.search(disposition)
    if extended is not None:
        charset = extended.group(1).decode("ascii", "replace") or "utf-8"
        try:
            return urllib.parse.unquote(extended.group(2).decode("ascii", "replace"), encoding=charset)
        except LookupError:
            return urllib.parse.unquote(extended.group(2).decode("ascii", "replace"))
    _, params = parse_options_header(disposition)
    if b"filename" in params:
        return _decode_header_value(params[b"filename"].decode("utf-8", "replace"))
    return None


def _decode_header_value(value: str) -> str:
    """A file name with RFC 2047 encoded words decoded (joined as they stand, no added spaces)."""
    if "=?" not in value:
        return value
    try:
        parts = email.header.decode_header(value)
        return "".join(p.decode(cs or "ascii", "replace") if isinstance(p, bytes) else p for p, cs in parts)
    except (ValueError, LookupError, UnicodeError):
        return value


__all__ = [
    "SCOPES",
    "BodyKind",
    "Mint",
    "RequestView",
    "ResponseView",
    "Route",
    "Service",
    "Shape",
    "Sharing",
    "Step",
    "canonical_url",
    "content_range",
    "disposition_filename",
    "first_str",
    "hosts",
    "route",
    "session_key",
    "stone_tag",
]
