"""The upload gate (mitmproxy addon): what each upload request may do, decided before it does.

In ``requestheaders`` (before any byte of the body has arrived) the gate finds the request's
service and route (:mod:`gateway.proxy.services`) and chooses how the body travels:

- **buffer** — a body of known length up to ``proxy.limits.memory_body``: mitmproxy reads it
  whole, the async ``request`` hook judges it and either lets it go or answers 403 itself, so a
  refused body never reaches the origin;
- **hold** — a larger body, or one of unknown length: pointed at the holding server
  (:mod:`gateway.proxy.holding`), which spools it, asks :meth:`UploadGate.decide_held` and then
  sends it on or refuses it;
- **tee** — a chunk of an upload session: it passes on at once, and a copy goes to the spool
  (``Tee``, a mitmproxy stream callable); the session's record says where the copy lies;
- a whole file sent to an upload URL a session minted (Slack's) is buffered or held like any
  whole-file upload, judged as the session's file, and the session remembers it was judged;
- **stream** — everything else (not an upload, or a request the gate only needs the answer of):
  mitmproxy passes it through without keeping it (``flow.request.stream = True`` set here,
  since ``stream_large_bodies`` would otherwise switch a chunked body to uninspected
  pass-through after this hook, ``proxy-facts.md`` s1.3).

The request that makes a session's file exist (the last Drive or Graph range, Box's commit,
Dropbox's finish, Slack's complete) is buffered or held like a whole-file upload, and judged on
the file assembled from the spooled chunks plus its own bytes. A request that creates or widens
a link or invites people (``Step.SHARE``) is small JSON: buffered, read by its service's parser
and judged as one item with the change's ``sharing_scope``. Answers that create sessions
(Drive's ``Location``, Graph's ``uploadUrl``, Box's and Dropbox's session ids, Slack's upload
URL) are read in ``response`` and recorded in the store, so any instance can follow the session.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

from mitmproxy import http

from gateway.config import ProxyLimitsConfig
from gateway.proxy import bodies, verdict
from gateway.proxy.access import PASSED, USER, VIA, client_ip
from gateway.proxy.adapter import Uploader, UploadItem, UploadJudge, Verdict
from gateway.proxy.failsafe import fail_closed
from gateway.proxy.holding import HOLD_HEADER, Answer, Held, HoldingServer
from gateway.proxy.services import Catalog, Match
from gateway.proxy.services.base import RequestView, ResponseView, Shape, Sharing, Step, session_key
from gateway.proxy.spool import Spool, Tee
from gateway.store import UploadFacts
from gateway.store.upload_sessions import Chunk, UploadSession, UploadSessions

log = logging.getLogger("sekimori.proxy")

PENDING = "sekimori.upload"
#: Answers of session-creating requests are read up to this size (they are small JSON).
MAX_ANSWER = 1024 * 1024
#: Other answers of known length up to this size are read whole before they go on, as bare
#: mitmproxy does (one write to the client); larger ones, or of unknown length, are streamed
#: so that the proxy's memory stays flat.
SMALL_ANSWER = 64 * 1024


@dataclass
class Pending:
    """What the gate knows about one upload request while it is in flight."""

    match: Match
    uploader: Uploader
    view: RequestView
    plan: str = "stream"
    tee: Tee | None = None
    chunk_name: str = ""
    session: UploadSession | None = None
    hold_token: str = ""
    verdict: Verdict | None = None
    #: A buffered request's only file, as its head names it, until it is judged: recorded as
    #: never judged (:meth:`UploadJudge.never_judged`) if the request ends before.
    unjudged: UploadFacts | None = None
    #: Sessions to forget once the service confirms the file exists (2xx).
    finished: list[str] = field(default_factory=list)
    cleanup: list[Path] = field(default_factory=list)

    @property
    def shape(self) -> Shape:
        return self.match.shape


def view_of(request: http.Request, *, body: bytes | None = None) -> RequestView:
    """The services' view of a mitmproxy request (its real destination, not its Host header)."""
    fields = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.fields]
    return RequestView.make(request.method, request.url, fields, body)


def uploader_of(flow: http.HTTPFlow) -> Uploader:
    user = flow.metadata.get(USER, "")
    via = flow.metadata.get(VIA, "none")
    return Uploader(str(user), client_ip(flow.client_conn.peername), str(via))


class UploadGate:
    """mitmproxy addon: inspect uploads to the configured services and refuse violations."""

    def __init__(
        self,
        *,
        catalog: Catalog,
        judge: UploadJudge,
        sessions: UploadSessions,
        spool: Spool,
        holding: HoldingServer,
        limits: ProxyLimitsConfig,
        contact: verdict.Contact,
        clock: Callable[[], datetime],
    ) -> None:
        self.catalog = catalog
        self.judge = judge
        self.sessions = sessions
        self.spool = spool
        self.holding = holding
        self.limits = limits
        self.contact = contact
        self.clock = clock

    # -- hooks ------------------------------------------------------------------------------

    @fail_closed
    async def requestheaders(self, flow: http.HTTPFlow) -> None:
        if flow.response is not None:
            return
        if flow.metadata.get(PASSED):
            flow.request.stream = True  # judged already, on its way out of the holding server
            return
        view = view_of(flow.request)
        match = self.catalog.match(view)
        if match is None:
            flow.request.stream = True
            return
        pending = Pending(match, uploader_of(flow), view)
        flow.metadata[PENDING] = pending
        step = match.shape.step
        if step is Step.FILE and match.shape.alias is not None:
            await self._adopt(pending)
        if step is Step.FINISH and match.shape.offset is not None:
            # The last range of a session whose file is made by a separate commit (Graph's
            # deferCommit) is one more chunk.
            session = await self.sessions.get(self._key(match.shape))
            if session is not None and session.extra.get("defer_commit"):
                pending.match = replace(match, shape=replace(match.shape, step=Step.CHUNK))
                await self._plan_chunk(flow, pending, session)
                return
        if step is Step.CHUNK:
            await self._plan_chunk(flow, pending)
        elif step is Step.START:
            self._plan_start(flow, pending)
        else:
            self._plan_body(flow, pending)

    @fail_closed
    async def request(self, flow: http.HTTPFlow) -> None:
        pending = flow.metadata.get(PENDING)
        if not isinstance(pending, Pending) or flow.response is not None:
            return
        if pending.plan == "tee" and pending.shape.step is Step.CHUNK:
            await self._record_chunk(pending)
        elif pending.plan == "buffer" and pending.shape.step is not Step.START:
            body = flow.request.raw_content or b""
            result = await self.decide(pending, body)
            if result is not None and not result.allowed:
                status, headers, page = verdict.refusal(
                    result, flow.request.headers.get("accept", ""), self.contact
                )
                flow.response = http.Response.make(status, page, dict(headers))
                await self._forget(pending.finished)

    async def responseheaders(self, flow: http.HTTPFlow) -> None:
        pending = flow.metadata.get(PENDING)
        response = flow.response
        assert response is not None
        if isinstance(pending, Pending) and pending.verdict is not None and pending.verdict.allowed:
            try:
                await pending.verdict.settled()  # the client hears of it only once it is recorded
            except Exception:
                log.error(
                    "%s: the upload passed but its verdict is not recorded: the answer is withheld",
                    pending.view.host,
                )
                flow.kill()  # type: ignore[no-untyped-call]
                return
            for name, value in verdict.pass_headers(pending.verdict):
                response.headers[name] = value
        if isinstance(pending, Pending) and pending.finished and 200 <= response.status_code < 300:
            # The file exists now: its session and spool go before the client hears so.
            finished, pending.finished = pending.finished, []
            await self._forget(finished)
        needs_body = isinstance(pending, Pending) and pending.shape.wants_response
        length = response.headers.get("content-length", "")
        known = int(length) if length.isdigit() else None
        if needs_body and (known is None or known <= MAX_ANSWER):
            return  # read whole for the gate (a session's id or upload URL)
        if known is not None and known <= SMALL_ANSWER:
            return  # read whole: one write to the client instead of head, body and end apart
        response.stream = True

    async def response(self, flow: http.HTTPFlow) -> None:
        pending = flow.metadata.pop(PENDING, None)
        if not isinstance(pending, Pending):
            return
        try:
            response = flow.response
            assert response is not None
            if pending.shape.step is Step.START and response.stream is False:
                await self._mint(flow, pending)
        finally:
            self._cleanup(pending)
            if pending.unjudged is not None:
                await self._never_judged(pending, "the request was answered before it was judged")

    async def error(self, flow: http.HTTPFlow) -> None:
        """The client or the origin went away mid-request: nothing of it stays in the spool,
        except a chunk's bytes that did pass (the session may resume from them)."""
        pending = flow.metadata.pop(PENDING, None)
        if not isinstance(pending, Pending):
            return
        if pending.hold_token:
            self.holding.release(pending.hold_token)
        if pending.unjudged is not None:
            await self._never_judged(pending, "the client went away before the whole upload arrived")
        if pending.tee is not None and pending.shape.step is Step.CHUNK and pending.tee.written:
            with contextlib.suppress(Exception):
                await self._record_chunk(pending)
        elif pending.tee is not None:
            pending.cleanup.append(pending.tee.path)
        self._cleanup(pending)

    async def _never_judged(self, pending: Pending, reason: str) -> None:
        facts, pending.unjudged = pending.unjudged, None
        if facts is not None:
            await self.judge.never_judged(facts, pending.uploader, pending.view.method, reason)

    # -- planning ---------------------------------------------------------------------------

    def _plan_body(self, flow: http.HTTPFlow, pending: Pending) -> None:
        length = pending.view.length
        if (
            pending.shape.body == "none"
            or length == 0
            or (length is not None and length <= self.limits.memory_body)
        ):
            pending.plan = "buffer"
            flow.request.stream = False
            shape = pending.shape
            ctype = pending.view.header("content-type")
            if shape.step is Step.FILE and length and bodies.body_kind(shape.body, ctype) == "raw":
                # One file whose name the head gives: nothing is written before its verdict (one
                # write then, with the record), but a request cut off before is recorded too.
                pending.unjudged = self._facts(
                    pending, shape, shape.filename, pending.view.content_type or shape.content_type
                )
            return
        self._hold(flow, pending)

    def _hold(self, flow: http.HTTPFlow, pending: Pending) -> None:
        """Point the request at the holding server and let mitmproxy stream the body there."""
        request = flow.request
        held = Held(
            url=request.url,
            limit=self.limits.inspect_max,
            decide=lambda path, size, digest: self._decide_held(pending, path, size, digest),
            over_limit=lambda size: self._over_limit(pending, size),
            user=pending.uploader.user,
        )
        pending.plan = "hold"
        pending.hold_token = self.holding.hold(held)
        request.headers[HOLD_HEADER] = pending.hold_token
        request.scheme = "http"
        request.data.host = "127.0.0.1"
        request.data.port = self.holding.port
        request.stream = True

    def _plan_start(self, flow: http.HTTPFlow, pending: Pending) -> None:
        length = pending.view.length
        if pending.shape.start_carries_data:
            path = self.spool.work_path("start-")
            pending.tee = Tee(path, self.limits.inspect_max)
            pending.plan = "tee"
            flow.request.stream = pending.tee
        elif (length is not None and length <= self.limits.memory_body) or (
            length is None and pending.view.method in ("GET", "HEAD")
        ):
            pending.plan = "buffer"
            flow.request.stream = False
        else:
            log.warning("%s: session request of unknown or large size not followed", pending.shape.service)
            flow.request.stream = True

    async def _plan_chunk(
        self, flow: http.HTTPFlow, pending: Pending, session: UploadSession | None = None
    ) -> None:
        shape = pending.shape
        key = self._key(shape)
        if session is None:
            session = await self.sessions.get(key)
        if session is None:
            session = self._new_session(key, shape, pending.uploader, adopted=True)
            await self.sessions.put(session)
        pending.session = session
        stored = sum(c.length for c in session.chunks)
        over = (session.total or 0) > self.limits.inspect_max or stored > self.limits.inspect_max
        if over:
            flow.request.stream = True  # judged as over the limit when it finishes
            return
        path, name = self.spool.chunk_path(session.key)
        pending.tee = Tee(path, self.limits.inspect_max - stored)
        pending.chunk_name = name
        pending.plan = "tee"
        flow.request.stream = pending.tee

    # -- sessions ---------------------------------------------------------------------------

    async def _adopt(self, pending: Pending) -> None:
        """A whole file sent to a minted upload URL: judged as the session's file, under its
        name, tenant and creator (the URL carries no credentials)."""
        session = await self.sessions.get(self._key(pending.shape))
        if session is None:
            return
        shape = pending.shape
        adopted = replace(
            shape,
            filename=shape.filename or session.filename,
            content_type=shape.content_type or session.content_type,
            tenant=shape.tenant or session.tenant,
            destination=shape.destination or session.destination,
        )
        pending.match = replace(pending.match, shape=adopted)
        pending.session = session
        if session.user:
            u = pending.uploader
            pending.uploader = Uploader(
                session.user, u.client, u.via if session.user == u.user else "session"
            )

    async def _judged(self, pending: Pending, result: Verdict) -> None:
        """Remember that a session's whole file passed (its FINISH then needs no second look)."""
        if result.allowed and pending.session is not None and pending.shape.step is Step.FILE:
            session = pending.session
            await self.sessions.put(replace(session, extra={**session.extra, "judged": result.reference}))

    def _key(self, shape: Shape) -> str:
        if shape.session is not None:
            return session_key(shape.service, shape.session)
        return session_key(shape.service, f"alias:{shape.alias}")

    def _new_session(self, key: str, shape: Shape, uploader: Uploader, *, adopted: bool) -> UploadSession:
        now = self.clock()
        return UploadSession(
            key=key,
            service=shape.service,
            user=uploader.user,
            client=uploader.client,
            host="",
            filename=shape.filename,
            created_at=now,
            expires_at=now + timedelta(seconds=self.limits.session_ttl),
            content_type=shape.content_type,
            tenant=shape.tenant,
            destination=shape.destination,
            total=shape.total,
            adopted=adopted,
        )

    async def _record_chunk(self, pending: Pending) -> None:
        tee, session = pending.tee, pending.session
        assert tee is not None and session is not None
        tee.close()
        boundary = ""
        ctype = pending.view.header("content-type")
        if ctype.lower().startswith("multipart/form-data"):
            boundary = ctype.partition("boundary=")[2].strip().strip('"')
        chunk = Chunk(
            pending.shape.offset or 0, tee.written, self.spool.instance, pending.chunk_name, boundary
        )
        if await self.sessions.add_chunk(session.key, chunk) is None:
            pending.cleanup.append(tee.path)  # the session went meanwhile

    async def _mint(self, flow: http.HTTPFlow, pending: Pending) -> None:
        route = pending.match.route
        response = flow.response
        if route.mint is None or response is None:
            return
        request_body = flow.request.raw_content if pending.plan == "buffer" else None
        view = replace(pending.view, body=request_body)
        answer = ResponseView(
            response.status_code,
            {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in response.headers.fields},
            response.raw_content or b"",
        )
        mints = route.mint(view, answer, pending.shape)
        for mint in mints:
            key = session_key(pending.shape.service, mint.session)
            session = replace(
                self._new_session(key, pending.shape, pending.uploader, adopted=False),
                host=pending.view.host,
                filename=mint.filename or pending.shape.filename,
                content_type=mint.content_type or pending.shape.content_type,
                tenant=mint.tenant or pending.shape.tenant,
                destination=mint.destination or pending.shape.destination,
                total=mint.total if mint.total is not None else pending.shape.total,
                alias=session_key(pending.shape.service, f"alias:{mint.alias}") if mint.alias else None,
                extra=dict(mint.extra),
            )
            await self.sessions.put(session)
            if pending.tee is not None and pending.tee.written:  # a start that carried the first bytes
                path, name = self.spool.chunk_path(key)
                await asyncio.to_thread(pending.tee.path.rename, path)
                chunk = Chunk(0, pending.tee.written, self.spool.instance, name)
                await self.sessions.add_chunk(key, chunk)
                pending.tee = None
        if pending.tee is not None:
            pending.cleanup.append(pending.tee.path)

    async def _forget(self, keys: Sequence[str]) -> None:
        for key in keys:
            gone = await self.sessions.remove(key)
            await asyncio.to_thread(self.spool.remove_session, gone.key if gone is not None else key)

    def _cleanup(self, pending: Pending) -> None:
        if pending.tee is not None:
            pending.tee.close()
        bodies.remove(pending.cleanup)
        pending.cleanup.clear()

    # -- deciding ---------------------------------------------------------------------------

    async def decide(self, pending: Pending, body: bodies.Body, digest: str = "") -> Verdict | None:
        """Judge a request whose body the gate has (in memory, or spooled by the holding server);
        ``None`` when it carries nothing to judge."""
        shape = pending.shape
        route = pending.match.route
        if route.refine is not None:
            small = body if isinstance(body, bytes) else await asyncio.to_thread(_small, body)
            shape = route.refine(replace(pending.view, body=small), shape)
        if shape.step is Step.SHARE:
            items, uploader = self._share_items(pending, shape), pending.uploader
        elif shape.step is Step.FINISH:
            items, uploader = await self._finished_items(pending, shape, body)
        else:
            items, uploader = await self._body_items(pending, shape, body, digest), pending.uploader
        pending.unjudged = None
        if not items:
            return None
        try:
            result = await self.judge.judge(items, uploader, method=pending.view.method)
        finally:
            bodies.remove(pending.cleanup)
            pending.cleanup.clear()
        pending.verdict = result
        await self._judged(pending, result)
        return result

    async def _decide_held(self, pending: Pending, path: Path, size: int, digest: str) -> Answer | None:
        result = await self.decide(pending, path, digest)
        if result is None or result.allowed:
            return None
        await self._forget(pending.finished)
        status, headers, page = verdict.refusal(result, pending.view.header("accept"), self.contact)
        return Answer(status, headers, page)

    async def _over_limit(self, pending: Pending, size: int) -> Answer | None:
        shape = pending.shape
        facts = self._facts(pending, shape, shape.filename, shape.content_type)
        problem = f"the upload ({size} bytes or more) is over the inspection limit of {self.limits.inspect_max} bytes"
        item = UploadItem(facts, size, problems=(problem,), classify=False, sha256="-")
        result = await self.judge.judge([item], pending.uploader, method=pending.view.method)
        pending.verdict = result
        await self._judged(pending, result)
        if result.allowed:
            return None
        status, headers, page = verdict.refusal(result, pending.view.header("accept"), self.contact)
        return Answer(status, headers, page)

    def _facts(self, pending: Pending, shape: Shape, filename: str, content_type: str) -> UploadFacts:
        return UploadFacts(
            service=shape.service,
            host=pending.view.host,
            filename=filename,
            content_type=content_type,
            tenant=shape.tenant,
            sharing_scope=shape.sharing_scope,
            destination=shape.destination,
        )

    def _share_items(self, pending: Pending, shape: Shape) -> list[UploadItem]:
        """A sharing change is one item: the change itself as stable bytes (so an approval lets
        exactly this change pass again), with its scope, target, expiry and the people it lets
        in. A change the service's parser could not read is judged as not inspected (fail
        closed); a request that widens nothing (a rename, a link removed) is no item at all."""
        sharing = shape.sharing
        if sharing is None and not shape.problems:
            return []
        if sharing is None:
            data = json.dumps({"service": shape.service, "unread": list(shape.problems)}).encode()
            facts = self._facts(pending, shape, "共有設定の変更", "application/json")
            return [UploadItem(facts, len(data), data=data, problems=shape.problems, classify=False)]
        data = sharing.canonical(shape.service)
        facts = replace(
            self._facts(pending, shape, sharing.label, "application/json"),
            destination=f"{sharing.target or ''} {sharing.item}".strip(),
            sharing_scope=sharing.scope,
            sharing_target=sharing.target,
            link_expires=sharing.expires,
        )
        # Judged by what it asks (scope, target, people, expiry), not classified as a file: its
        # bytes are the change itself, kept so that an approval names exactly this change.
        return [
            UploadItem(
                facts,
                len(data),
                data=data,
                problems=shape.problems,
                recipients=sharing.invitees,
                classify=False,
            )
        ]

    async def _body_items(
        self, pending: Pending, shape: Shape, body: bodies.Body, digest: str
    ) -> list[UploadItem]:
        label = f"{shape.service}: text"
        coding = pending.view.header("content-encoding")  # undone before inspection
        kind = bodies.body_kind(shape.body, pending.view.header("content-type"))
        extract = functools.partial(
            bodies.extract,
            body,
            kind,
            pending.view.header("content-type"),
            name=shape.filename,
            label=label,
            out_dir=self.spool.work,
            content_encoding=coding,
            decoded_max=self.limits.inspect_max,
        )
        # A raw body in memory is its own file: nothing to parse, so no thread to wait for.
        plain = kind == "raw" and isinstance(body, bytes) and not coding
        found = extract() if plain else await asyncio.to_thread(extract)
        pending.cleanup.extend(found.written)
        only = found.pieces[0] if len(found.pieces) == 1 else None
        whole = only is not None and (only.data is body or only.path == body)
        items: list[UploadItem] = []
        for piece in found.pieces:
            facts = self._facts(
                pending, shape, piece.name or shape.filename, piece.content_type or shape.content_type
            )
            items.append(
                UploadItem(
                    facts,
                    piece.size,
                    data=piece.data,
                    path=piece.path,
                    problems=tuple(found.problems),
                    sha256=digest if whole and digest else "",
                )
            )
        return items

    async def _finished_items(
        self, pending: Pending, shape: Shape, body: bodies.Body
    ) -> tuple[list[UploadItem], Uploader]:
        named: list[tuple[str, str]] = []
        if shape.session is not None or shape.alias is not None:
            named.append((self._key(shape), shape.session or ""))
        named += [(session_key(shape.service, s), s) for s in shape.sessions]
        paths = shape.extra.get("paths")
        paths = paths if isinstance(paths, dict) else {}
        items: list[UploadItem] = []
        judged: list[tuple[str, UploadSession]] = []
        uploader = pending.uploader
        final = (shape.offset, body) if shape.offset is not None and bodies.size_of(body) else None
        for key, sid in named:
            session = await self.sessions.get(key)
            if session is None:
                session = self._new_session(key, shape, pending.uploader, adopted=True)
            pending.finished.append(session.key)
            if session.extra.get("judged"):
                judged.append((sid, session))
                continue  # its whole file was judged (and passed) at its upload URL
            if session.user:
                uploader = Uploader(
                    session.user,
                    uploader.client,
                    uploader.via if session.user == uploader.user else "session",
                )
            built = await asyncio.to_thread(
                self.spool.assemble, session, final=final, limit=self.limits.inspect_max
            )
            if built.path is not None:
                pending.cleanup.append(built.path)
            name = shape.filename or _basename(str(paths.get(sid, ""))) or session.filename
            facts = UploadFacts(
                service=shape.service,
                host=session.host or pending.view.host,
                filename=name,
                content_type=session.content_type or shape.content_type,
                tenant=session.tenant or shape.tenant,
                destination=shape.destination or session.destination,
            )
            items.append(
                UploadItem(
                    facts,
                    built.size,
                    path=built.path,
                    problems=tuple(built.problems),
                    classify=built.path is not None,
                )
            )
            final = None  # a batch's request body is not a chunk of any of its files
        outside = await self._shared_outside(shape)
        if outside is not None:
            items = self._shared_into(pending, shape, outside, items, judged)
        if not named:  # a finishing request whose files cannot be told: never waved through
            facts = self._facts(pending, shape, shape.filename, shape.content_type)
            problem = "the request that makes the file exist names no upload the gateway can find"
            items.append(UploadItem(facts, 0, problems=(problem,), classify=False, sha256="-"))
        return items, uploader

    def _shared_into(
        self,
        pending: Pending,
        shape: Shape,
        outside: tuple[str, ...],
        items: list[UploadItem],
        judged: list[tuple[str, UploadSession]],
    ) -> list[UploadItem]:
        """Files put where another organisation sees them (a Slack Connect channel): each is
        judged with sharing scope ``specific``. A file not yet judged is classified with that
        scope; one already judged as an upload (at its upload URL) becomes a sharing change of
        its own, judged by what it asks (the file, the channel, the organisations), as every
        sharing change is, so that an approval lets exactly this sharing pass again."""
        where = f"{shape.destination} (shared with {' '.join(outside) or 'another organisation'})"
        shared = [
            replace(
                i, facts=replace(i.facts, sharing_scope="specific", sharing_target="file", destination=where)
            )
            for i in items
        ]
        for sid, session in judged:
            sharing = Sharing(
                "specific",
                sid or session.filename,
                target="file",
                detail=(("channel", shape.destination), ("shared_with", ",".join(outside))),
            )
            data = sharing.canonical(shape.service)
            facts = UploadFacts(
                service=shape.service,
                host=pending.view.host,
                filename=session.filename or sharing.label,
                content_type="application/json",
                tenant=session.tenant or shape.tenant,
                destination=where,
                sharing_scope="specific",
                sharing_target="file",
            )
            shared.append(UploadItem(facts, len(data), data=data, classify=False))
        return shared

    async def _shared_outside(self, shape: Shape) -> tuple[str, ...] | None:
        """The other organisations the destination is shared with, as an earlier answer of the
        service showed (``None``: not known to be shared outside)."""
        found: list[str] = []
        shared = False
        for fact in shape.audience:
            seen = await self.sessions.get(session_key(shape.service, fact))
            if seen is None or "shared_outside" not in seen.extra:
                continue
            shared = True
            teams = seen.extra["shared_outside"]
            found += (
                [t for t in teams if isinstance(t, str) and t not in found] if isinstance(teams, list) else []
            )
        return tuple(found) if shared else None


def _small(path: Path) -> bytes | None:
    """A spooled body small enough to read as a whole (for routes that read their body)."""
    return path.read_bytes() if path.stat().st_size <= MAX_ANSWER else None


def _basename(path: str) -> str:
    return path.rstrip("/").rpartition("/")[2]


__all__ = ["PENDING", "Pending", "UploadGate", "uploader_of", "view_of"]
