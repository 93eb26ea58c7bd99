"""Delivery to the upstream MTA: a fixed number of workers, each keeping one SMTP connection
open across messages (aiosmtplib), so concurrency is bounded by ``upstream.concurrency``.

Per recipient: 2xx is done (remembered in ``meta["delivered_to"]``, so a retry never sends to
that recipient again); 5xx is a permanent failure (the sender gets a DSN, RFC 3464); 4xx and
connection errors defer the message with exponential backoff, until ``upstream.retry.lifetime``
after it was received, when the rest fails permanently too. A message becomes ``delivered`` when
no recipient is left to try and at least one accepted it, ``bounced`` otherwise.

Crash safety: a message stays ``delivering`` until the upstream's 250 is recorded; a crash in
between delivers it again after restart (a duplicate, bounded by what was in flight).
"""

from __future__ import annotations

import asyncio
import contextlib
import email.header
import email.utils
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import aiosmtplib

from gateway import metrics
from gateway.config import Config
from gateway.smtp import crlf_only
from gateway.store import MessageRecord, NotFound, SpoolCorrupt, State, Store, StoreError
from gateway.tasks import stop_tasks
from gateway.tokens import LOOP_HEADER, VERDICT_HEADER, loop_header

log = logging.getLogger(__name__)

#: Message kinds made by Sekimori itself (``meta["kind"]``): never inspected, never bounced.
OWN_KINDS = frozenset({"notification", "dsn"})


@dataclass(frozen=True, slots=True)
class Failure:
    recipient: str
    code: int
    text: str
    enhanced: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"recipient": self.recipient, "code": self.code, "text": self.text, "enhanced": self.enhanced}


@dataclass(slots=True)
class Outcome:
    accepted: list[str] = field(default_factory=list)
    transient: list[Failure] = field(default_factory=list)
    permanent: list[Failure] = field(default_factory=list)

    def add(self, other: Outcome) -> None:
        self.accepted += other.accepted
        self.transient += other.transient
        self.permanent += other.permanent


class Copies(Protocol):
    """Per-recipient copies of a message leaving now (``gateway.links.service.Links`` fits):
    the record after, and a copy for each recipient that gets one."""

    async def prepare(
        self, rec: MessageRecord, raw: bytes, pending: Sequence[str]
    ) -> tuple[MessageRecord, dict[str, bytes]]: ...


BounceHook = Callable[[MessageRecord, list[Failure]], Awaitable[None]]

_ENHANCED = re.compile(r"^\s*([245]\.\d{1,3}\.\d{1,3})\b")
_HEADER_NAME = re.compile(r"^[!-9;-~]+$")


def _failure(rcpt: str, code: int, text: str) -> Failure:
    m = _ENHANCED.match(text)
    return Failure(rcpt, code, " ".join(text.split())[:300], m.group(1) if m else "")


def _clean(value: str) -> str:
    return " ".join(value.replace("\r", " ").replace("\n", " ").split())


def _header(name: str, value: str) -> bytes:
    value = _clean(value)
    if not value.isascii():
        value = email.header.Header(value, "utf-8", header_name=name).encode()
    return f"{name}: {value}\r\n".encode("ascii", "replace")


def trace_headers(rec: MessageRecord, raw: bytes, config: Config, now: datetime) -> bytes:
    """``Received`` (RFC 5321 s4.4; protocol names of RFC 3848), the verdict, the signed loop
    header and any tag headers of the decision, to put in front of ``raw``."""
    meta = rec.meta
    proto = "ESMTP" + ("S" if meta.get("tls") else "") + ("A" if meta.get("auth_user") else "")
    helo = _clean(str(meta.get("helo") or "unknown"))[:100]
    ip = _clean(str(meta.get("client_ip") or "127.0.0.1"))
    rcpt = f"\r\n\tfor <{rec.recipients[0]}>" if len(rec.recipients) == 1 else ""
    received = (
        f"Received: from {helo} ([{ip}])\r\n\tby {config.smtp.hostname} (Sekimori) with {proto} id {rec.id}"
        f"{rcpt};\r\n\t{email.utils.format_datetime(rec.received_at)}\r\n"
    ).encode("ascii", "replace")
    out = [received]
    kind = meta.get("kind")
    if kind not in OWN_KINDS:
        decision = rec.decision or {}
        rules = ",".join(str(r) for r in decision.get("rules", [])) or "none"
        skipped = decision.get("skipped")
        verdict = f"{decision.get('action', 'deliver')}; rules={rules}; id={rec.id}"
        if skipped:
            verdict += f"; skipped={skipped}"
        out.append(_header(VERDICT_HEADER, verdict))
        for pair in decision.get("tag_headers", []) or []:
            name, value = str(pair[0]), str(pair[1])
            if _HEADER_NAME.match(name) and name.lower() not in (LOOP_HEADER.lower(), VERDICT_HEADER.lower()):
                out.append(_header(name, value))
    out.append(_header(LOOP_HEADER, loop_header(config.secret_bytes, rec.id, raw, now)))
    return b"".join(out)


def strip_own_headers(raw: bytes) -> bytes:
    """Remove any loop or verdict header a client put in (only ours may be there)."""
    head_end = raw.find(b"\r\n\r\n")
    if head_end < 0:
        return raw
    lines = raw[: head_end + 2].split(b"\r\n")[:-1]
    kept: list[bytes] = []
    dropping = False
    own = (LOOP_HEADER.lower().encode() + b":", VERDICT_HEADER.lower().encode() + b":")
    for line in lines:
        if line[:1] in (b" ", b"\t"):
            if not dropping:
                kept.append(line)
            continue
        dropping = line.lower().startswith(own)
        if not dropping:
            kept.append(line)
    return b"\r\n".join(kept) + b"\r\n" + raw[head_end + 2 :]


def wire_size(data: bytes, *, crlf_after: int | None = None) -> int:
    """The octets ``data`` takes in DATA once every bare CR or LF is a CRLF and it ends in one:
    the SIZE of RFC 1870, as aiosmtplib would send it, counted without rewriting the message.
    ``crlf_after``: the caller knows that ``data[crlf_after:]`` has CRLF line endings only (a
    body the SMTP session checked, after the trace headers), so only the octets before are
    searched (such a part cannot begin with an LF, so no CRLF spans the two).

    >>> wire_size(b"a\\r\\nb\\nc\\rd"), wire_size(b"a\\r\\n")
    (12, 3)
    >>> wire_size(b"X: 1\\nb\\r\\n", crlf_after=5), wire_size(b"X: 1\\r\\nb", crlf_after=6)
    (9, 9)
    """
    searched = data if crlf_after is None else data[:crlf_after]
    if crlf_only(searched):
        size = len(data)
    else:
        crlf = searched.count(b"\r\n")
        size = len(data) + (searched.count(b"\r") - crlf) + (searched.count(b"\n") - crlf)
    return size if data.endswith((b"\n", b"\r")) else size + 2


async def transaction(
    client: aiosmtplib.SMTP, sender: str, rcpts: list[str], data: bytes, *, crlf_after: int | None = None
) -> dict[str, aiosmtplib.SMTPResponse]:
    """MAIL, RCPT for each recipient, DATA: what ``aiosmtplib.SMTP.sendmail`` does, without its
    extra pass rewriting the whole message only to measure it for SIZE (~0.15 ms of the relay's
    ~3 ms of CPU per 20 KB mail). Returns the refused recipients; raises as ``sendmail`` does, after RSET.
    ``crlf_after`` is :func:`wire_size`'s."""
    if client.is_ehlo_or_helo_needed:
        await client.ehlo()  # before asking for extensions
    size = wire_size(data, crlf_after=crlf_after)
    options = [f"SIZE={size}"] if client.supports_extension("size") else []
    if not data.isascii() and client.supports_extension("8bitmime"):
        options.append("BODY=8BITMIME")
    utf8 = not (sender.isascii() and all(r.isascii() for r in rcpts)) and client.supports_extension(
        "smtputf8"
    )
    if utf8:
        options.append("SMTPUTF8")
    encoding = "utf-8" if utf8 else "ascii"
    refused: list[aiosmtplib.SMTPRecipientRefused] = []
    try:
        await client.mail(sender, options=options, encoding=encoding)
        for rcpt in rcpts:
            try:
                await client.rcpt(rcpt, encoding=encoding)
            except aiosmtplib.SMTPRecipientRefused as exc:
                refused.append(exc)
        if len(refused) == len(rcpts):
            raise aiosmtplib.SMTPRecipientsRefused(refused)
        if size == len(data):
            await _data_as_is(client, data)
        else:
            await client.data(data)  # bare CR or LF: aiosmtplib rewrites them
    except (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused):
        # Leave a kept connection between transactions (a broken one is closed by the caller).
        with contextlib.suppress(aiosmtplib.SMTPException, OSError):
            await client.rset()
        raise
    return {e.recipient: aiosmtplib.SMTPResponse(e.code, e.message) for e in refused}


async def _data_as_is(client: aiosmtplib.SMTP, data: bytes) -> None:
    """DATA for a message already in wire form (CRLF throughout and at the end, as every spooled
    message is): dot-stuffed with one ``bytes.replace`` and written as it is. ``SMTP.data``
    runs two regular-expression passes over the whole message for the general case (~0.25 ms
    of the relay's ~3 ms of CPU per 20 KB mail). Replies and errors are those of ``SMTP.data``."""
    protocol = client.protocol
    response = await client.execute_command(b"DATA")
    if response.code != 354:
        raise aiosmtplib.SMTPDataError(response.code, response.message)
    if protocol is None or client.protocol is not protocol:
        raise aiosmtplib.SMTPServerDisconnected("connection lost before the message was sent")
    stuffed = data.replace(b"\r\n.", b"\r\n..")
    # read_response waits for the reply to what was just written (no await in between).
    protocol.write((b"." if stuffed.startswith(b".") else b"") + stuffed + b".\r\n")
    response = await protocol.read_response(timeout=client.timeout)
    if response.code != 250:
        raise aiosmtplib.SMTPDataError(response.code, response.message)


def backoff(attempts: int, first: float, cap: float) -> float:
    """Seconds before attempt ``attempts + 1``: ``first`` doubling up to ``cap``.

    >>> [backoff(n, 60, 600) for n in range(1, 6)]
    [60.0, 120.0, 240.0, 480.0, 600.0]
    """
    return float(min(cap, first * 2 ** max(0, attempts - 1)))


class Delivery:
    """The delivery workers. :meth:`enqueue` hands over a message in ``delivering`` that this
    process owns."""

    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        owner: str,
        on_bounce: BounceHook,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        copies: Copies | None = None,
    ) -> None:
        self.config = config
        #: Makes the outside recipients' copies with download links (``link_attachments``).
        self.copies = copies
        self.up = config.upstream
        self.store = store
        self.owner = owner
        self.on_bounce = on_bounce
        self.clock = clock
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._pending: set[str] = set()
        #: Record and body handed over by the relay right after its decision, so the common
        #: path does not read back from the store what it has just written, and whether the
        #: body is known to have CRLF line endings only.
        self._hints: dict[str, tuple[MessageRecord, bytes, bool]] = {}
        self._workers: list[asyncio.Task[None]] = []
        self.delivered_count = 0

    # --- public ------------------------------------------------------------------------------
    def start(self) -> None:
        for n in range(self.up.concurrency):
            self._workers.append(asyncio.create_task(self._worker(n), name=f"delivery-{n}"))

    async def stop(self) -> None:
        await stop_tasks(self._workers)
        self._workers.clear()

    def enqueue(
        self, msg_id: str, hint: tuple[MessageRecord, bytes] | None = None, *, crlf_only: bool = False
    ) -> bool:
        """Queue a message for delivery; ``False`` if it is already queued or being sent.
        ``hint`` is the record (in ``delivering``) and the spooled body, when the caller has them;
        ``crlf_only`` that the caller knows the body has CRLF line endings only (the SMTP
        session checked it), so sending it does not search it for others again."""
        if msg_id in self._pending:
            return False
        self._pending.add(msg_id)
        if hint is not None:
            self._hints[msg_id] = (hint[0], hint[1], crlf_only)
        self._queue.put_nowait(msg_id)
        return True

    def busy(self, msg_id: str) -> bool:
        return msg_id in self._pending

    @property
    def backlog(self) -> int:
        return len(self._pending)

    # --- workers -----------------------------------------------------------------------------
    def _client(self) -> aiosmtplib.SMTP:
        tls = self.up.tls
        return aiosmtplib.SMTP(
            hostname=self.up.host,
            port=self.up.port,
            timeout=self.up.timeout,
            use_tls=tls == "tls",
            start_tls=(True if self.up.require_tls else None) if tls == "starttls" else False,
            username=self.up.username,
            password=self.up.password,
            local_hostname=self.config.smtp.hostname,
        )

    async def _worker(self, n: int) -> None:
        client: aiosmtplib.SMTP | None = None
        try:
            while True:
                try:
                    async with asyncio.timeout(30.0):
                        msg_id = await self._queue.get()
                except TimeoutError:
                    await self._close(client)
                    client = None
                    continue
                try:
                    client = await self._deliver(msg_id, client)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("delivery of %s failed unexpectedly; it is tried again later", msg_id)
                    await self._close(client)
                    client = None
                    await self._after_error(msg_id)
                finally:
                    self._pending.discard(msg_id)
                    self._hints.pop(msg_id, None)
        finally:
            await self._close(client)

    async def _after_error(self, msg_id: str) -> None:
        """After an unexpected error the message does not stay in ``delivering``: it is deferred
        (tried again after a backoff), or past its queue lifetime bounced with a DSN."""
        try:
            rec = await self.store.get(msg_id)
            if rec is None or rec.state is not State.DELIVERING:
                return
            now = self.clock()
            if now >= rec.received_at + timedelta(seconds=self.up.retry.lifetime):
                failures = [Failure(r, 554, "5.3.0 could not be delivered (internal error)", "5.3.0")
                            for r in rec.recipients]  # fmt: skip
                await self.store.transition(msg_id, State.BOUNCED, actor="delivery", reason="internal error past the queue lifetime",
                                            expect=State.DELIVERING, attempts=rec.attempts + 1)  # fmt: skip
                if rec.meta.get("kind") not in OWN_KINDS:
                    await self.on_bounce(rec, failures)
                return
            delay = backoff(rec.attempts + 1, self.up.retry.first, self.up.retry.max_interval)
            await self.store.transition(
                msg_id,
                State.DEFERRED,
                actor="delivery",
                reason="internal error; tried again later",
                expect=State.DELIVERING,
                attempts=rec.attempts + 1,
                next_attempt_at=now + timedelta(seconds=delay),
                last_error="internal error",
            )
        except Exception:
            log.exception("%s: cannot defer after an error; its lease runs out into the scheduler", msg_id)

    async def _close(self, client: aiosmtplib.SMTP | None) -> None:
        if client is not None and client.is_connected:
            try:
                async with asyncio.timeout(5):
                    await client.quit()
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                client.close()
        return None

    async def _send(
        self,
        client: aiosmtplib.SMTP | None,
        sender: str,
        rcpts: list[str],
        data: bytes,
        crlf_after: int | None = None,
    ) -> tuple[aiosmtplib.SMTP | None, Outcome]:
        out = Outcome()
        try:
            # A kept connection is between transactions: the upstream's reply to DATA ended the
            # last one (RFC 5321 s4.1.4), and transaction() sends RSET after a refused one, so
            # no RSET round trip is needed before the next MAIL.
            if client is None or not client.is_connected:
                client = self._client()
                await client.connect()
            errors = await transaction(client, sender, rcpts, data, crlf_after=crlf_after)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            for refused in exc.recipients:
                bucket = out.permanent if refused.code >= 500 else out.transient
                bucket.append(_failure(refused.recipient, refused.code, refused.message))
            return client, out
        except aiosmtplib.SMTPResponseException as exc:
            bucket = out.permanent if exc.code >= 500 else out.transient
            bucket.extend(_failure(r, exc.code, exc.message) for r in rcpts)
            await self._close(client)
            return None, out
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            out.transient.extend(
                _failure(r, 451, f"4.4.1 upstream: {type(exc).__name__}: {exc}") for r in rcpts
            )
            await self._close(client)
            return None, out
        except Exception as exc:  # the message itself cannot be sent (a NUL in an address...)
            log.warning("message cannot be sent as it is: %s", type(exc).__name__)
            out.permanent.extend(
                _failure(r, 554, f"5.6.0 cannot be sent as it is: {type(exc).__name__}") for r in rcpts
            )
            await self._close(client)
            return None, out
        for r in rcpts:
            if r in errors:
                resp = errors[r]
                (out.permanent if resp.code >= 500 else out.transient).append(
                    _failure(r, resp.code, resp.message)
                )
            else:
                out.accepted.append(r)
        return client, out

    async def _groups(
        self, rec: MessageRecord, raw: bytes, rcpts: list[str], out: Outcome
    ) -> tuple[MessageRecord, list[tuple[list[str], bytes]]]:
        """The transactions to send: the message as it is to everyone without a copy of their
        own, and each recipient's own copy (download links) alone. If the copies cannot be made,
        the recipients who need one wait for a retry: they never get the attachments instead."""
        if self.copies is None or not rec.decision.get("link"):
            return rec, [(rcpts, raw)]
        try:
            rec, copies = await self.copies.prepare(rec, raw, rcpts)
        except Exception as exc:
            log.exception("%s: cannot make the download links", rec.id)
            waiting = set(rec.decision["link"].get("recipients") or ())
            out.transient.extend(
                Failure(r, 451, f"4.3.0 download links not ready: {type(exc).__name__}", "4.3.0")
                for r in rcpts
                if r in waiting
            )
            rest = [r for r in rcpts if r not in waiting]
            return rec, [(rest, raw)] if rest else []
        rest = [r for r in rcpts if r not in copies]
        groups = [(rest, raw)] if rest else []
        return rec, groups + [([r], copy) for r, copy in copies.items()]

    async def _deliver(self, msg_id: str, client: aiosmtplib.SMTP | None) -> aiosmtplib.SMTP | None:
        hint = self._hints.pop(msg_id, None)
        rec = hint[0] if hint is not None else await self.store.get(msg_id)
        if rec is None or rec.state is not State.DELIVERING:
            return client
        now = self.clock()
        done = set(rec.meta.get("delivered_to", []))
        failed = {f["recipient"] for f in rec.meta.get("failed", [])}
        rcpts = [r for r in rec.recipients if r not in done and r not in failed]
        out = Outcome()
        if rcpts:
            try:
                raw = hint[1] if hint is not None else await self.store.load_raw(msg_id)
            except (NotFound, SpoolCorrupt) as exc:
                log.error("%s: spooled message unusable: %s", msg_id, exc)
                out.permanent.extend(Failure(r, 554, f"5.3.0 spool: {exc}", "5.3.0") for r in rcpts)
            else:
                rec, groups = await self._groups(rec, raw, rcpts, out)
                checked = hint is not None and hint[2]
                for group, body in groups:
                    head = trace_headers(rec, body, self.config, now)
                    # A recipient's own copy (download links) is not the body the session checked.
                    after = len(head) if checked and body is raw else None
                    client, sent = await self._send(client, rec.sender, group, head + body, after)
                    out.add(sent)
        meta = dict(rec.meta)
        done.update(out.accepted)
        meta["delivered_to"] = sorted(done)
        expired = now >= rec.received_at + timedelta(seconds=self.up.retry.lifetime)
        if out.transient and expired:
            out.permanent.extend(
                Failure(f.recipient, f.code, f"{f.text} (gave up after queue lifetime)", "4.4.7")
                for f in out.transient
            )
            out.transient = []
        if out.permanent:
            meta["failed"] = [*meta.get("failed", []), *(f.to_dict() for f in out.permanent)]
        last_error = "; ".join(f"{f.recipient}: {f.code} {f.text}" for f in out.transient + out.permanent)[
            :1000
        ]
        if rcpts:
            metrics.DELIVERY_ATTEMPTS.inc()
        try:
            if out.transient:
                metrics.DELIVERY_DEFERRALS.inc()
                delay = backoff(rec.attempts + 1, self.up.retry.first, self.up.retry.max_interval)
                await self.store.transition(
                    msg_id,
                    State.DEFERRED,
                    actor="delivery",
                    reason=f"upstream: {out.transient[0].code} {out.transient[0].text}"[:300],
                    expect=State.DELIVERING,
                    attempts=rec.attempts + 1,
                    next_attempt_at=now + timedelta(seconds=delay),
                    last_error=last_error,
                    meta=meta,
                )
            elif done:
                await self.store.transition(
                    msg_id,
                    State.DELIVERED,
                    actor="delivery",
                    reason=f"upstream accepted {len(done)} recipient(s)",
                    expect=State.DELIVERING,
                    attempts=rec.attempts + 1,
                    last_error=last_error,
                    meta=meta,
                )
                self.delivered_count += 1
            else:
                metrics.DELIVERY_BOUNCES.inc()
                await self.store.transition(
                    msg_id,
                    State.BOUNCED,
                    actor="delivery",
                    reason="every recipient failed permanently",
                    expect=State.DELIVERING,
                    attempts=rec.attempts + 1,
                    last_error=last_error,
                    meta=meta,
                )
        except StoreError:
            log.exception("%s: cannot record delivery outcome", msg_id)
            return client
        if out.permanent and rec.meta.get("kind") not in OWN_KINDS:
            try:
                await self.on_bounce(rec, out.permanent)
            except Exception:
                log.exception("%s: cannot send DSN", msg_id)
        return client
