"""Holding bodies too large for memory until their verdict, then passing them on.

mitmproxy gives an addon two choices for a request body: buffer it whole in memory (its own
copies too: eight 10 MiB uploads peak near 1 GiB), or stream it, in which case it has left for
the origin before the ``request`` hook can say no (``proxy-facts.md`` s1.1, s1.4). For bodies
above ``proxy.limits.memory_body`` (and bodies of unknown length) the gate therefore points the
request at this server, on loopback in the same process, and lets mitmproxy stream the body
here, with its back-pressure. This server writes it to the spool, asks the gate for the verdict,
and then either answers the refusal itself or sends the spooled body on: back into the proxy's
own listener, as an absolute-form request carrying a one-time pass, which mitmproxy forwards to
the origin with its usual upstream connection (TLS verification, HTTP/2, connection reuse).
The origin's answer comes back the same way. Memory stays at a few pieces per request.

::

    client ──> mitmproxy ──(stream)──> holding server ──> spool ──> verdict
                  ^                          │ pass
                  └──── absolute-form ◄──────┘          refusal: 403 from here
                        (one-time pass) ──> origin

HTTP/1.1 framing on both hops is h11's; hop-by-hop headers are dropped, the body is sent
byte for byte (a chunked body gets a Content-Length, as its size is known by then).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import h11

log = logging.getLogger("sekimori.proxy")

#: Header naming the held request (added by the gate, removed here).
HOLD_HEADER = "x-sekimori-hold"
#: Header carrying the one-time pass of a request sent back into the proxy.
PASS_HEADER = "x-sekimori-pass"  # noqa: S105 - a header name, not a secret
READ_SIZE = 64 * 1024
SEND_SIZE = 256 * 1024
#: A client (or origin) silent for this long on a held request is given up.
IDLE = 300.0
#: Headers that belong to one connection, never forwarded (RFC 9110 s7.6.1), plus ours.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "expect",
        HOLD_HEADER,
        PASS_HEADER,
    }
)


@dataclass(frozen=True)
class Answer:
    """A response the holding server sends itself (a refusal)."""

    status: int
    headers: Sequence[tuple[str, str]]
    body: bytes


@dataclass
class Held:
    """A request the gate sent here: where it really goes, and the gate's callbacks.

    ``decide(path, size, sha256)`` returns ``None`` to pass or an :class:`Answer` to refuse;
    ``over_limit(size)`` is asked as soon as the body is known to exceed ``limit`` (``None``:
    pass it on unspooled, or an :class:`Answer`); ``done()`` runs however the request ends."""

    url: str
    limit: int
    decide: Callable[[Path, int, str], Awaitable[Answer | None]]
    over_limit: Callable[[int], Awaitable[Answer | None]]
    user: str = ""
    done: Callable[[], None] = lambda: None


@dataclass
class _Passing:
    user: str


class HoldingServer:
    """The loopback server for held request bodies and the way back into the proxy."""

    def __init__(self, spool_dir: Path) -> None:
        self.spool_dir = spool_dir
        self._held: dict[str, Held] = {}
        self._passes: dict[str, _Passing] = {}
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[object]] = set()
        self.port = 0
        #: The proxy's own listener, where passed requests go back in.
        self.proxy_address: tuple[str, int] = ("127.0.0.1", 0)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._server.wait_closed()
            self._server = None

    # -- the gate's side ------------------------------------------------------------------

    def hold(self, held: Held) -> str:
        """Register a request the gate points here; the token goes in :data:`HOLD_HEADER`."""
        token = secrets.token_urlsafe(18)
        self._held[token] = held
        return token

    def release(self, token: str) -> None:
        """Forget a held request that never arrived (its client went before the body)."""
        held = self._held.pop(token, None)
        if held is not None:
            held.done()

    def take_pass(self, token: str) -> str | None:
        """The user of a request coming back in with this one-time pass (``None``: no pass)."""
        found = self._passes.pop(token, None)
        return None if found is None else found.user

    # -- serving --------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                event = await _next(conn, reader)
                if isinstance(event, h11.ConnectionClosed) or event is None:
                    return
                if not isinstance(event, h11.Request):
                    return
                keep = await self._one(conn, event, reader, writer)
                if not keep or conn.our_state is h11.MUST_CLOSE:
                    return
                conn.start_next_cycle()
        except (ConnectionError, TimeoutError, h11.ProtocolError, asyncio.IncompleteReadError) as exc:
            log.debug("holding server: connection ended: %s", exc)
        except asyncio.CancelledError:
            return  # the gateway is stopping: the connection goes with it
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _one(
        self,
        conn: h11.Connection,
        request: h11.Request,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        headers = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in request.headers]
        token = next((v for k, v in headers if k == HOLD_HEADER), "")
        held = self._held.pop(token, None)
        if held is None:
            await _answer(
                conn, writer, Answer(400, [("content-type", "text/plain")], b"unknown held request\n")
            )
            return False
        path = self.spool_dir / secrets.token_hex(12)
        try:
            return await self._hold(conn, request, headers, held, reader, writer, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            held.done()

    async def _hold(
        self,
        conn: h11.Connection,
        request: h11.Request,
        headers: list[tuple[str, str]],
        held: Held,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        path: Path,
    ) -> bool:
        declared = next((int(v) for k, v in headers if k == "content-length" and v.isdigit()), None)
        if declared is not None and declared > held.limit:
            refusal = await held.over_limit(declared)
            if refusal is not None:
                await _drain_body(conn, reader)
                await _answer(conn, writer, refusal)
                return True
            return await self._forward(
                conn, request, headers, held, reader, writer, path, spooled=0, rest=True
            )
        digest = hashlib.sha256()
        size = 0
        with path.open("wb") as fh:
            while True:
                event = await _next(conn, reader)
                if isinstance(event, h11.Data):
                    size += len(event.data)
                    if size > held.limit:  # unknown length, now over the limit
                        fh.write(event.data)
                        fh.flush()
                        refusal = await held.over_limit(size)
                        if refusal is not None:
                            await _drain_body(conn, reader)
                            await _answer(conn, writer, refusal)
                            return True
                        return await self._forward(
                            conn, request, headers, held, reader, writer, path, spooled=size, rest=True
                        )
                    fh.write(event.data)
                    digest.update(event.data)
                elif isinstance(event, h11.EndOfMessage):
                    break
                else:
                    raise ConnectionError("the client went before the body was complete")
        refusal = await held.decide(path, size, digest.hexdigest())
        if refusal is not None:
            await _answer(conn, writer, refusal)
            return True
        return await self._forward(
            conn, request, headers, held, reader, writer, path, spooled=size, rest=False
        )

    async def _forward(
        self,
        conn: h11.Connection,
        request: h11.Request,
        headers: list[tuple[str, str]],
        held: Held,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        path: Path,
        *,
        spooled: int,
        rest: bool,
    ) -> bool:
        """Send the request back into the proxy (spooled bytes, then, if ``rest``, whatever the
        client still sends) and relay the answer."""
        token = secrets.token_urlsafe(18)
        self._passes[token] = _Passing(held.user)
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.proxy_address)
        except OSError:
            self._passes.pop(token, None)
            raise
        up = h11.Connection(h11.CLIENT)
        try:
            out_headers = [(k, v) for k, v in headers if k not in HOP_BY_HOP]
            declared = next((v for k, v in headers if k == "content-length"), None)
            if rest and declared is None:
                out_headers.append(("transfer-encoding", "chunked"))
            else:
                out_headers.append(("content-length", declared if rest and declared else str(spooled)))
            out_headers.append((PASS_HEADER, token))
            up_writer.write(
                _send(up, h11.Request(method=request.method, target=held.url, headers=out_headers))
            )
            await up_writer.drain()
            if spooled:
                with path.open("rb") as fh:
                    while piece := fh.read(SEND_SIZE):
                        up_writer.write(_send(up, h11.Data(data=piece)))
                        await up_writer.drain()
            if rest:
                while True:
                    event = await _next(conn, reader)
                    if isinstance(event, h11.Data):
                        up_writer.write(_send(up, h11.Data(data=event.data)))
                        await up_writer.drain()
                    elif isinstance(event, h11.EndOfMessage):
                        break
                    else:
                        raise ConnectionError("the client went before the body was complete")
            up_writer.write(_send(up, h11.EndOfMessage()))
            await up_writer.drain()
            await self._relay(up, up_reader, conn, writer)
        finally:
            self._passes.pop(token, None)
            up_writer.close()
            with contextlib.suppress(Exception):
                await up_writer.wait_closed()
        return True

    async def _relay(
        self,
        up: h11.Connection,
        up_reader: asyncio.StreamReader,
        conn: h11.Connection,
        writer: asyncio.StreamWriter,
    ) -> None:
        while True:
            event = await _next(up, up_reader)
            if isinstance(event, h11.InformationalResponse):
                continue
            if not isinstance(event, h11.Response):
                raise ConnectionError("the proxy closed without an answer")
            break
        head = [
            (k.decode("latin-1"), v.decode("latin-1"))
            for k, v in event.headers
            if k.decode("latin-1").lower() not in HOP_BY_HOP
            or k.decode("latin-1").lower() == "content-length"
        ]
        chunked = not any(k.lower() == "content-length" for k, _ in head)
        if chunked:
            head.append(("transfer-encoding", "chunked"))
        writer.write(
            _send(conn, h11.Response(status_code=event.status_code, headers=head, reason=event.reason))
        )
        while True:
            part = await _next(up, up_reader)
            if isinstance(part, h11.Data):
                writer.write(_send(conn, h11.Data(data=part.data)))
                await writer.drain()
            elif isinstance(part, h11.EndOfMessage):
                writer.write(_send(conn, h11.EndOfMessage()))
                await writer.drain()
                return
            else:
                raise ConnectionError("the origin's answer broke off")


def _send(conn: h11.Connection, event: h11.Event) -> bytes:
    data = conn.send(event)
    assert data is not None  # None only for ConnectionClosed, which is never sent here
    return data


async def _next(conn: h11.Connection, reader: asyncio.StreamReader) -> object:
    """The next HTTP event (or ``h11.PAUSED``), reading from the socket when h11 needs more."""
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            async with asyncio.timeout(IDLE):
                data = await reader.read(READ_SIZE)
            conn.receive_data(data)
            continue
        return event


async def _drain_body(conn: h11.Connection, reader: asyncio.StreamReader) -> None:
    """Read and drop the rest of a refused body (the answer must follow the whole request)."""
    while True:
        event = await _next(conn, reader)
        if isinstance(event, h11.EndOfMessage):
            return
        if not isinstance(event, h11.Data):
            raise ConnectionError("the client went before the body was complete")


async def _answer(conn: h11.Connection, writer: asyncio.StreamWriter, answer: Answer) -> None:
    headers = [*answer.headers, ("content-length", str(len(answer.body)))]
    writer.write(_send(conn, h11.Response(status_code=answer.status, headers=headers)))
    writer.write(_send(conn, h11.Data(data=answer.body)))
    writer.write(_send(conn, h11.EndOfMessage()))
    await writer.drain()


__all__ = ["HOLD_HEADER", "PASS_HEADER", "Answer", "Held", "HoldingServer"]
