"""The SMTP side: an aiosmtpd server with our own async handler.

:class:`GatewaySMTP` is aiosmtpd's protocol with Sekimori's limits: every reply goes through
:func:`gateway.replies.translate`, the whole session has a time limit, an idle client gets a 421
before the connection closes. :class:`RelayHandler` is the thin adapter of the house style:
protocol in, :meth:`gateway.relay.Relay.receive` (spool → inspect → decide), protocol reply out.
Internal failures answer 451 (transient), never aiosmtpd's default 500.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import logging
import os
import re
import ssl
from collections.abc import Awaitable
from typing import Any, Protocol

from aiosmtpd.smtp import MISSING, SMTP, AuthResult, Envelope, LoginPassword, Session, syntax

from gateway import replies
from gateway.config import Config
from gateway.replies import Reply

log = logging.getLogger(__name__)


class Receiver(Protocol):
    """What the handler calls with a complete message: ``(raw, sender, recipients, meta) ->
    Reply``; ``crlf_only=True`` says that ``raw`` has CRLF line endings only (the handler
    refuses any other), so that delivery need not search the body for them again."""

    def __call__(
        self, raw: bytes, sender: str, recipients: list[str], meta: dict[str, Any], *, crlf_only: bool = False
    ) -> Awaitable[Reply]: ...


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """A scrypt hash for ``smtp.auth.users`` (``scrypt$n$r$p$salt$hash``, base64)."""
    salt = salt or os.urandom(16)
    n, r, p = 2**14, 8, 1
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=32)
    return f"scrypt${n}${r}${p}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def check_password(password: bytes, hashed: str) -> bool:
    try:
        _, n, r, p, salt, digest = hashed.split("$")
        got = hashlib.scrypt(password, salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=32)
        return hmac.compare_digest(got, base64.b64decode(digest))
    except (ValueError, TypeError):
        return False


def has_bare_line_ending(data: bytes) -> bool:
    """True if a CR or LF appears other than as CRLF (SMTP smuggling, CVE-2023-51764 family).

    >>> has_bare_line_ending(b"a\\r\\nb\\r\\n"), has_bare_line_ending(b"a\\n.\\r\\n"), has_bare_line_ending(b"a\\r.\\r\\n")
    (False, True, True)
    """
    return not crlf_only(data)


#: Byte maps marking where ``data`` has a CR, and where an LF (1; every other byte 0).
_CR_AT = bytes(1 if b == 13 else 0 for b in range(256))
_LF_AT = bytes(1 if b == 10 else 0 for b in range(256))


def crlf_only(data: bytes) -> bool:
    """Whether every CR in ``data`` is followed by an LF and every LF preceded by a CR: the
    CR marks, moved one byte on, are the LF marks, and no LF is first nor CR last. Two
    ``translate`` passes and one comparison, in C: about 60% of the time of counting the
    CRLFs (a two-byte search), for every message received and every one delivered.

    >>> [crlf_only(d) for d in (b"", b"a", b"a\\r\\nb\\r\\n", b"\\r\\n", b"\\n", b"\\r", b"a\\rb\\nc", b"\\r\\r\\n", b"\\r\\n\\n")]
    [True, True, True, True, False, False, False, False, False]
    """
    cr = data.translate(_CR_AT)
    lf = data.translate(_LF_AT)
    return cr[:-1] == lf[1:] and lf[:1] != b"\x01" and cr[-1:] != b"\x01"


#: A plain ``<local@domain>`` path (dot-atoms only), then nothing or ESMTP parameters: the
#: common case of MAIL FROM and RCPT TO, which :func:`plain_path` answers without the email
#: package's full RFC 5322 parser (aiosmtpd's ``_getaddr``, the costliest step of MAIL/RCPT).
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_PATH = re.compile(
    rf"[ \t]*<({_ATEXT}(?:\.{_ATEXT})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)>(?:[ \t]+(?=[A-Za-z0-9])|\Z)"
)


def plain_path(arg: str) -> tuple[str, str] | None:
    """``(address, parameters)`` of a plain angle-bracketed path, ``None`` for anything else
    (quoted local parts, address literals, comments, UTF-8, the null path), which aiosmtpd parses.

    >>> plain_path("<taro@example.co.jp> SIZE=100 BODY=8BITMIME"), plain_path('<"a b"@x.jp>')
    (('taro@example.co.jp', 'SIZE=100 BODY=8BITMIME'), None)
    """
    m = _PLAIN_PATH.match(arg)
    return None if m is None else (m.group(1), arg[m.end() :])


#: What aiosmtpd hands over for bytes that are not UTF-8 (lone surrogates), and the controls.
_NOT_UTF8 = re.compile("[\udc80-\udcff]")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def address_problem(text: str) -> str | None:
    """Why an envelope address or parameter cannot be taken: ``"utf8"`` (bytes that are not
    UTF-8: aiosmtpd hands them over as lone surrogates), ``"control"`` (NUL, CR, ESC, DEL, the
    C1 controls...) or None. (One search each instead of a Python step per character.)

    >>> address_problem("taro@example.co.jp"), address_problem("a\\x00b@x.jp"), address_problem("\\udcff@x.jp")
    (None, 'control', 'utf8')
    """
    if _NOT_UTF8.search(text):
        return "utf8"
    if _CONTROL.search(text):
        return "control"
    return None


def count_received(raw: bytes) -> int:
    head_end = raw.find(b"\r\n\r\n")
    head = raw[: head_end + 2] if head_end >= 0 else raw
    return sum(1 for line in head.split(b"\r\n") if line[:9].lower() == b"received:")


class DataBody:
    """The body of one DATA command, fed in pieces as they arrive; no I/O of its own.

    It gives what aiosmtpd's line-by-line DATA loop gives: the same end of data (a line that is
    just ``.``), transparency dots removed (RFC 5321 s4.5.2), the same refusals for a line or a
    body that is too long, but from a few bulk pieces instead of one Python round per line
    (a 20 KB mail is ~300 lines, a 10 MB attachment ~130,000). A refused body is no longer kept
    (bounded memory) but is still read to its end (RFC 5321 s4.2.5), and the first limit that
    is exceeded in the stream decides the refusal.
    """

    NOMINAL, TOO_LONG, TOO_MUCH = "nominal", "too_long", "too_much"

    def __init__(self, size_limit: int | None, line_limit: int) -> None:
        self.size_limit = size_limit or None
        #: The longest line taken, without its CRLF (aiosmtpd's ``line_length_limit`` counts it).
        self.longest = line_limit - 2
        self.state = self.NOMINAL
        #: Bytes of the body as sent, dots and CRLFs included, as aiosmtpd counts them.
        self.size = 0
        self.done = False
        self._kept: list[bytes] = []
        self._tail = b"\r\n"  # the DATA command's CRLF comes before the first line
        self._line = 0  # bytes so far of the line that has no CRLF yet (a trailing CR included)
        self._cr = False  # that line ends with a CR, whose LF may start the next piece

    def feed(self, piece: bytes) -> None:
        """Take the next piece. It must hold no end of data except at its very end, which is
        what reading up to and including the next ``.CRLF`` gives."""
        if self.done:
            raise ValueError("the body has ended")
        end = (self._tail + piece[-5:])[-5:]  # the last bytes of the stream so far
        if end == b"\r\n.\r\n":
            piece = piece[:-3]  # the dot line ends the body; the CRLF before it is the body's
            self.done = True
        if not piece:
            return
        self._tail = (self._tail + piece[-2:])[-2:]
        if self.state is not self.NOMINAL:
            return  # refused: only the end is looked for
        over_size = None
        if self.size_limit is not None and self.size + len(piece) > self.size_limit:
            over_size = self.size_limit - self.size  # index of the first byte too many
        over_line = self._first_byte_over_line(piece)
        self.size += len(piece)
        if over_size is None and over_line is None:
            self._kept.append(piece)
            return
        first_size = over_size if over_size is not None else len(piece)
        first_line = over_line if over_line is not None else len(piece)
        self.state = self.TOO_LONG if first_line < first_size else self.TOO_MUCH
        self._kept.clear()

    def _first_byte_over_line(self, piece: bytes) -> int | None:
        """Index in ``piece`` of the first byte that makes a line too long, else None; carries
        the current line over to the next piece."""
        start = 0
        if self._cr and piece[:1] == b"\n":  # the CR that ended the last piece + this LF
            self._line, start = 0, 1
        parts = piece[start:].split(b"\r\n")
        line = self._line
        if line + len(parts[0]) > self.longest or (
            len(parts) > 1 and max(map(len, parts[1:])) > self.longest
        ):
            # Rare: find the byte. A trailing CR may still be the start of a CRLF.
            pos, last = start, len(parts) - 1
            for i, part in enumerate(parts):
                allowed = self.longest + (1 if i == last and part.endswith(b"\r") else 0)
                if line + len(part) > allowed:
                    return pos + max(0, allowed - line)
                pos += len(part) + 2
                line = 0
        self._line = self._line + len(parts[0]) if len(parts) == 1 else len(parts[-1])
        self._cr = piece.endswith(b"\r")
        return None

    def content(self) -> bytes:
        """The body with transparency dots removed (only for a body not refused)."""
        data = b"".join(self._kept)
        if data.startswith(b"."):
            data = data[1:]
        return data.replace(b"\r\n.", b"\r\n")


class GatewaySMTP(SMTP):
    """aiosmtpd's SMTP protocol with a session time limit and replies from our table."""

    line_length_limit = 1001  # RFC 5321 s4.5.3.1.6: 998 octets + CRLF + transparency dot

    def __init__(self, handler: Any, *, session_time: float, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._session_time = session_time
        self._session_timer: asyncio.TimerHandle | None = None

    async def push(self, status: str | bytes) -> None:
        if isinstance(status, str):
            await super().push(replies.translate(status))
        else:
            await super().push(status)

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        """aiosmtpd's DATA (same checks, replies and hook) reading the body in bulk pieces up to
        each ``.CRLF`` (see :class:`DataBody`) instead of one ``readuntil`` per line."""
        if await self.check_helo_needed():
            return
        if await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        body = DataBody(self.data_size_limit, self.line_length_limit)
        try:
            while not body.done:
                try:
                    piece = await self._reader.readuntil(b".\r\n")
                except asyncio.LimitOverrunError as exc:  # no end in sight yet: take what came
                    piece = await self._reader.readexactly(exc.consumed)
                body.feed(piece)
        except asyncio.CancelledError:  # aiosmtpd cancels the session when the client hangs up
            log.info("Connection lost during DATA")
            self._writer.close()
            raise
        except asyncio.IncompleteReadError:  # the end of the stream came first: nothing to answer
            log.info("Connection lost during DATA")
            self._writer.close()
            return
        if body.state == DataBody.TOO_LONG:
            await self.push("500 Line too long (see RFC5321 4.5.3.1.6)")
            self._set_post_data_state()  # type: ignore[no-untyped-call]
            return
        if body.state == DataBody.TOO_MUCH:
            await self.push("552 Error: Too much mail data")
            self._set_post_data_state()  # type: ignore[no-untyped-call]
            return
        original = body.content()
        content: str | bytes = original
        if self._decode_data:  # not how the relay runs (it keeps bytes), but as aiosmtpd does
            if self.enable_SMTPUTF8:
                content = original.decode("utf-8", errors="surrogateescape")
            else:
                try:
                    content = original.decode("ascii", errors="strict")
                except UnicodeDecodeError:
                    await self.push("500 Error: strict ASCII mode")
                    return
        self.envelope.original_content = original
        self.envelope.content = content
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()  # type: ignore[no-untyped-call]
        await self.push("250 OK" if status is MISSING else status)

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        plain = plain_path(arg)
        if plain is None:
            return super()._getaddr(arg)
        address, rest = plain
        if self.local_part_limit and len(address.rpartition("@")[0]) > self.local_part_limit:
            return None, None
        return address, rest

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        first = self._session_timer is None
        super().connection_made(transport)
        if first:
            self._session_timer = self.loop.call_later(
                self._session_time, self._end_session, replies.SESSION_TOO_LONG
            )

    def connection_lost(self, error: Exception | None) -> None:
        if self._session_timer is not None:
            self._session_timer.cancel()
        super().connection_lost(error)

    def _timeout_cb(self) -> None:
        self._end_session(replies.IDLE_TIMEOUT)

    def _end_session(self, reply: Reply) -> None:
        if self.transport is None:
            return
        log.info("%r closing session: %s", self.session.peer if self.session else None, reply.text)
        try:
            self._writer.write(str(reply).encode("ascii") + b"\r\n")
        except (OSError, RuntimeError, AttributeError):
            log.debug("could not send %s", reply, exc_info=True)
        self.transport.close()


class RelayHandler:
    """aiosmtpd handler: access control, limits, and hand-off of complete messages."""

    def __init__(self, config: Config, receive: Receiver) -> None:
        self.config = config
        self.receive = receive
        self.networks = [ipaddress.ip_network(n, strict=False) for n in config.smtp.networks]
        self.limits = config.smtp.limits
        #: Hand-offs still running, strongly referenced: the event loop keeps only weak
        #: references to tasks, and one whose client hung up must not be collected midway.
        self.inflight: set[asyncio.Task[Reply]] = set()

    # --- access ------------------------------------------------------------------------------
    def client_permitted(self, session: Session) -> bool:
        if session.authenticated:
            return True
        peer: Any = session.peer
        if not isinstance(peer, tuple) or not peer:
            return False
        try:
            addr = ipaddress.ip_address(str(peer[0]).split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        return any(addr in net for net in self.networks)

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        users = self.config.smtp.auth.users
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        name = auth_data.login.decode("utf-8", "replace")
        hashed = users.get(name)
        ok = hashed is not None and check_password(auth_data.password, hashed)
        log.info("AUTH %s for %r: %s", mechanism, name, "ok" if ok else "failed")
        return AuthResult(success=ok, handled=False, auth_data=name if ok else None)

    # --- hooks ------------------------------------------------------------------------------
    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        out = [r for r in responses if not (r.startswith("250-AUTH") and not self.config.smtp.auth.users)]
        last = out.pop()
        out += ["250-PIPELINING", "250-ENHANCEDSTATUSCODES", last]
        return out

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, mail_options: list[str]
    ) -> str:
        if not self.client_permitted(session):
            if self.config.smtp.auth.users:
                return str(replies.AUTH_REQUIRED)
            return str(replies.CLIENT_NOT_PERMITTED)
        problem = address_problem(address)
        if problem is not None:
            log.info("%r: MAIL refused: %s in the sender address", session.peer, problem)
            return str(replies.SENDER_NOT_UTF8 if problem == "utf8" else replies.SENDER_CONTROL)
        if any(address_problem(option) for option in mail_options):
            return str(replies.PARAMS_NOT_TEXT)
        if not address.isascii() and not any(o.upper() == "SMTPUTF8" for o in mail_options):
            return str(replies.NEEDS_SMTPUTF8)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return str(replies.SENDER_OK)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        problem = address_problem(address)
        if problem is not None:
            log.info("%r: RCPT refused: %s in the recipient address", session.peer, problem)
            return str(replies.RECIPIENT_NOT_UTF8 if problem == "utf8" else replies.RECIPIENT_CONTROL)
        if any(address_problem(option) for option in rcpt_options):
            return str(replies.PARAMS_NOT_TEXT)
        if not address.isascii() and not envelope.smtp_utf8:
            return str(replies.NEEDS_SMTPUTF8)
        if len(envelope.rcpt_tos) >= self.limits.max_recipients:
            return str(replies.TOO_MANY_RECIPIENTS)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return str(replies.RECIPIENT_OK)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content
        if not isinstance(raw, bytes):
            return str(replies.INTERNAL_ERROR)
        if has_bare_line_ending(raw):
            log.warning("%r refused: bare CR/LF in DATA (smuggling probe?)", session.peer)
            return str(replies.BARE_LINE_ENDING)
        if count_received(raw) > self.limits.max_hops:
            return str(replies.ROUTING_LOOP)
        sender = "" if envelope.mail_from in ("<>", None) else str(envelope.mail_from)
        peer = session.peer
        meta: dict[str, Any] = {
            "client_ip": peer[0] if isinstance(peer, tuple) else str(peer),
            "helo": session.host_name or "",
            "auth_user": session.auth_data if session.authenticated else None,
            "tls": session.ssl is not None,
            "smtputf8": bool(envelope.smtp_utf8),
        }
        # The client may hang up while we inspect; the work must still finish (the message is
        # already spooled), so it runs in its own task and the session only waits for it.
        task = asyncio.ensure_future(self.receive(raw, sender, list(envelope.rcpt_tos), meta, crlf_only=True))
        self.inflight.add(task)
        task.add_done_callback(self.inflight.discard)
        reply = await asyncio.shield(task)
        return str(reply)

    async def handle_exception(self, error: Exception) -> str:
        log.error("SMTP session error: %s: %s", type(error).__name__, error, exc_info=error)
        return str(replies.INTERNAL_ERROR)


def tls_context(config: Config) -> ssl.SSLContext | None:
    tls = config.smtp.tls
    if tls is None:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(tls.cert), str(tls.key))
    return ctx


async def start_server(config: Config, receive: Receiver) -> asyncio.Server:
    """Listen on ``smtp.host:smtp.port`` (port 0 picks a free one; see ``server.sockets``)."""
    handler = RelayHandler(config, receive)
    ctx = tls_context(config)
    limits = config.smtp.limits
    loop = asyncio.get_running_loop()

    def factory() -> GatewaySMTP:
        return GatewaySMTP(
            handler,
            session_time=limits.session_time,
            data_size_limit=limits.max_message_size,
            enable_SMTPUTF8=True,
            decode_data=False,
            hostname=config.smtp.hostname,
            ident="Sekimori ESMTP",
            tls_context=ctx,
            require_starttls=bool(ctx and config.smtp.tls and config.smtp.tls.require),
            timeout=limits.idle_time,
            auth_require_tls=True,
            authenticator=handler.authenticate,
            auth_exclude_mechanism=() if config.smtp.auth.users else ("LOGIN", "PLAIN"),
            loop=loop,
        )

    return await loop.create_server(factory, host=config.smtp.host, port=config.smtp.port)
