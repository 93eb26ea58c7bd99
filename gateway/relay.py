"""The relay: what happens to a message from the end of DATA to its final state.

:meth:`Relay.receive` spools the message durably (the store fsyncs before it returns), then
inspects it and applies the policy's decision; only then does the SMTP session answer (250 with
the queue id, or 550 for ``block``). :meth:`Relay.recover` resumes every message a crash left
in ``received`` or ``delivering``; :class:`gateway.scheduler.Scheduler` drives the timers.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from gateway import metrics, replies, uploads
from gateway.config import Config
from gateway.delivery import OWN_KINDS, Delivery, Failure, strip_own_headers
from gateway.links.service import Links
from gateway.mail import header_facts, inspect_mail
from gateway.notify import Notifier
from gateway.pipeline import Inspection, Inspector
from gateway.replies import Reply
from gateway.store import EncodedJson, InvalidTransition, ItemKind, MessageRecord, State, Store, StoreError
from gateway.tokens import LOOP_HEADER, verify_loop
from policies import Action

log = logging.getLogger(__name__)


def make_owner(config: Config) -> str:
    """This instance's lease name. It is stable across restarts (host and listening address),
    so a restarted gateway takes over at once what it held when it died; two instances on one
    store differ by host or port."""
    return f"{socket.gethostname()}:{config.smtp.host}:{config.smtp.port}"


def _loop_value(raw: bytes) -> str | None:
    head_end = raw.find(b"\r\n\r\n")
    head = raw[: head_end + 2] if head_end >= 0 else raw
    prefix = LOOP_HEADER.lower().encode() + b":"
    for line in head.split(b"\r\n"):
        if line.lower().startswith(prefix):
            return line[len(prefix) :].decode("ascii", "replace").strip()
    return None


def convert_to_bcc(raw: bytes, is_internal: Callable[[str], bool]) -> tuple[bytes, list[str]]:
    """Remove external addresses from the To and Cc headers (the envelope is not touched).

    Returns the new message and the addresses moved; the body and other headers stay
    byte-for-byte the same.

    >>> raw = b"To: a@in.jp, x@out.com\\r\\nCc: y@out.com\\r\\nSubject: s\\r\\n\\r\\nbody\\r\\n"
    >>> new, moved = convert_to_bcc(raw, lambda a: a.endswith("@in.jp"))
    >>> new
    b'To: a@in.jp\\r\\nSubject: s\\r\\n\\r\\nbody\\r\\n'
    >>> moved
    ['x@out.com', 'y@out.com']
    """
    head_end = raw.find(b"\r\n\r\n")
    if head_end < 0:
        return raw, []
    lines = raw[: head_end + 2].split(b"\r\n")[:-1]
    fields: list[list[bytes]] = []
    for line in lines:
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1].append(line)
        else:
            fields.append([line])
    moved: list[str] = []
    out: list[bytes] = []
    saw_to = False
    for field in fields:
        name = field[0].split(b":", 1)[0].strip().lower()
        if name not in (b"to", b"cc"):
            out.extend(field)
            continue
        value = b"\r\n".join(field).split(b":", 1)[1].decode("utf-8", "surrogateescape")
        addrs = email.utils.getaddresses([value])
        keep = [(n, a) for n, a in addrs if a and is_internal(a)]
        moved.extend(a for n, a in addrs if a and not is_internal(a))
        if len(keep) == len([a for a in addrs if a[1]]):
            out.extend(field)
            saw_to = saw_to or name == b"to"
            continue
        if keep:
            rendered = ", ".join(email.utils.formataddr(pair, charset="utf-8") for pair in keep)
            out.append(field[0].split(b":", 1)[0] + b": " + rendered.encode("utf-8", "surrogateescape"))
            saw_to = saw_to or name == b"to"
    if not moved:
        return raw, []
    if not saw_to:
        out.append(b"To: undisclosed-recipients:;")
    return b"\r\n".join(out) + b"\r\n" + raw[head_end + 2 :], moved


def _block_reason(decision: dict[str, Any]) -> str:
    winning = [m for m in decision.get("matches", []) if m.get("action") == "block"]
    if winning:
        first = winning[0]
        return f"Blocked by policy {first.get('rule_id', '')}: {first.get('title_en', '')}"
    return replies.BLOCKED.text


class Relay:
    """Ties the store, the inspector, delivery and notifications together."""

    def __init__(
        self,
        config: Config,
        store: Store,
        inspector: Inspector,
        *,
        owner: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.config = config
        self.store = store
        self.inspector = inspector
        self.owner = owner or make_owner(config)
        self.clock = clock
        #: Download links: made by delivery, opened on the download listener, retired by the scheduler.
        self.links = Links(config, store, clock=clock)
        self.delivery = Delivery(
            config, store, owner=self.owner, on_bounce=self._bounced, clock=clock, copies=self.links
        )
        self.notifier = Notifier(
            config, store, self.delivery, owner=self.owner, is_internal=self.is_internal, clock=clock
        )
        self.links.notices = self.notifier
        #: Hand-offs from SMTP sessions still being decided; stopping lets them finish.
        self._receiving: set[asyncio.Task[Any]] = set()
        #: Set when stopping: sessions still open get 421 for new messages (nothing spooled).
        self.closing = False

    def is_internal(self, address: str) -> bool:
        return bool(self.inspector.policies.current.is_internal(address))

    # --- life cycle --------------------------------------------------------------------------
    async def start(self) -> None:
        self.delivery.start()
        await self.recover()

    async def stop(self, *, drain: float | None = None) -> None:
        """Let messages being received get their decision (for at most ``drain`` seconds,
        by default the classification budget and a little more), then stop delivering. What
        is still undecided then stays ``received`` in the store and resumes at the next start.
        From now on a message that arrives is answered 421 4.3.2 before it is spooled, so its
        client sends it again later (to this instance after a restart, or to another)."""
        self.closing = True
        if self._receiving:
            budget = drain if drain is not None else self.inspector.time_limit
            _, late = await asyncio.wait(set(self._receiving), timeout=budget)
            if late:
                log.warning(
                    "stopping with %d message(s) still undecided; they resume at next start", len(late)
                )
        await self.delivery.stop()

    async def recover(self) -> int:
        """Resume what a previous run left in ``received`` or ``delivering``."""
        records = await self.store.recover(self.owner)
        for rec in records:
            await self.resume(rec)
        if records:
            log.info("recovered %d message(s)", len(records))
        return len(records)

    async def resume(self, rec: MessageRecord) -> None:
        """Continue a message this process owns: decide a ``received`` one, deliver the rest.
        An upload left ``received`` lost its request with the process: it did not pass."""
        if rec.kind is ItemKind.UPLOAD:
            await uploads.on_due(self.store, rec)
        elif rec.state is State.DELIVERING:
            self.delivery.enqueue(rec.id)
        elif rec.state is State.RECEIVED:
            try:
                raw = await self.store.load_raw(rec.id)
                await self.process(rec, raw, in_session=False)
            except StoreError:
                log.exception("%s: cannot resume", rec.id)

    # --- the SMTP hand-off -------------------------------------------------------------------
    async def receive(
        self, raw: bytes, sender: str, recipients: list[str], meta: dict[str, Any], *, crlf_only: bool = False
    ) -> Reply:
        """Take a message from an SMTP session (:data:`gateway.smtp.Receiver`); ``crlf_only``:
        the session checked that ``raw`` has CRLF line endings only."""
        task = asyncio.current_task()
        assert task is not None  # a coroutine run by asyncio always has its task
        self._receiving.add(task)
        try:
            return await self._receive(raw, sender, recipients, meta, crlf_only)
        finally:
            self._receiving.discard(task)

    async def _receive(
        self, raw: bytes, sender: str, recipients: list[str], meta: dict[str, Any], crlf_only: bool
    ) -> Reply:
        if self.closing:
            return replies.SHUTTING_DOWN
        loop_value = _loop_value(raw)
        passed = verify_loop(self.config.secret_bytes, loop_value, raw, self.clock()) if loop_value else None
        if passed is None:
            # Only a header we signed may say the mail was inspected; drop look-alikes (whole
            # lines: CRLF line endings stay the only ones).
            raw = strip_own_headers(raw)
        else:
            meta = {**meta, "inspected_as": passed}
        _, _, subject = header_facts(raw)
        try:
            with metrics.STORE_SECONDS.labels("accept").time():
                rec = await self.store.accept(
                    raw, sender=sender, recipients=recipients, subject=subject, meta=meta, owner=self.owner
                )
        except StoreError:
            log.exception("cannot spool a message from %s", sender)
            return replies.SPOOL_FAILED
        try:
            return await self.process(rec, raw, in_session=True, crlf_only=crlf_only)
        except Exception:
            log.exception("%s: processing failed", rec.id)
            return await self._failed(rec)

    async def _failed(self, rec: MessageRecord) -> Reply:
        """After an internal error: if the message is still undecided, drop it and let the
        client retry (451); if it was decided already, its fate is recorded, so 250."""
        try:
            current = await self.store.get(rec.id)
            if current is not None and current.state is State.RECEIVED:
                await self.store.transition(
                    rec.id,
                    State.REFUSED,
                    actor="smtp",
                    reason="internal error; client told to retry (451)",
                    expect=State.RECEIVED,
                )
                return replies.INTERNAL_ERROR
            if current is not None and current.state is not State.REFUSED:
                return replies.queued(rec.id)
        except StoreError:
            log.exception("%s: cannot record the failure", rec.id)
        return replies.INTERNAL_ERROR

    async def process(
        self, rec: MessageRecord, raw: bytes, *, in_session: bool, crlf_only: bool = False
    ) -> Reply:
        """Decide a message in ``received`` and apply the decision; ``crlf_only`` as in
        :meth:`receive`."""
        if rec.meta.get("kind") in OWN_KINDS:
            decision: dict[str, Any] = {"action": "deliver", "skipped": "own"}
            await self._to_delivery(rec, raw, decision, {}, "own notification", crlf_only=crlf_only)
            return replies.queued(rec.id)
        passed = rec.meta.get("inspected_as")
        if passed:
            decision = {"action": "deliver", "skipped": "loop", "rules": [], "inspected_as": passed}
            await self._to_delivery(
                rec, raw, decision, {}, f"already inspected as {passed}", crlf_only=crlf_only
            )
            return replies.queued(rec.id)
        known = await self.store.known_domains(rec.sender)
        inspection = await inspect_mail(
            self.inspector, raw, rec.sender, rec.recipients, known_domains=known, now=self.clock()
        )
        return await self.apply(rec, raw, inspection, in_session=in_session, crlf_only=crlf_only)

    async def _to_delivery(
        self,
        rec: MessageRecord,
        raw: bytes,
        decision: dict[str, Any],
        scan: dict[str, Any] | EncodedJson,
        reason: str,
        *,
        crlf_only: bool = False,
    ) -> None:
        rec = await self.store.transition(
            rec.id,
            State.DELIVERING,
            actor="policy",
            reason=reason,
            expect=State.RECEIVED,
            owner=self.owner,
            decision=decision,
            scan=scan,
        )
        self.delivery.enqueue(rec.id, (rec, raw), crlf_only=crlf_only)

    async def apply(
        self,
        rec: MessageRecord,
        raw: bytes,
        inspection: Inspection,
        *,
        in_session: bool,
        crlf_only: bool = False,
    ) -> Reply:
        d = inspection.decision
        dd = d.to_dict()
        scan = inspection.stored_scan()
        rules = ",".join(d.rule_ids) or "none"
        action = d.action
        metrics.record_decision(action.value, d.rule_ids)
        log.info(
            "mail %s: from %s to %d recipient(s), %d bytes -> %s rules=%s%s",
            rec.id,
            rec.sender or "<>",
            len(rec.recipients),
            len(raw),
            action.value,
            rules,
            "" if inspection.scan.fully_inspected else " (not fully inspected)",
        )
        if action is Action.BLOCK:
            reason = _block_reason(dd)
            rec = await self.store.transition(
                rec.id,
                State.REFUSED,
                actor="policy",
                reason=reason,
                expect=State.RECEIVED,
                decision=dd,
                scan=scan,
            )
            await self._notify(self.notifier.blocked(rec, dd))
            if d.notify_security:
                await self._notify(self.notifier.security(rec, dd))
            return replies.blocked(reason, rec.id)
        moved: list[str] = []
        if "bcc" in d.transforms:
            new_raw, moved = convert_to_bcc(raw, self.is_internal)
            if moved:
                rec = await self.store.replace_raw(
                    rec.id,
                    new_raw,
                    actor="policy",
                    reason=f"Bcc conversion: {len(moved)} external address(es)",
                )
                raw = new_raw
                crlf_only = False  # a new body: delivery looks at it as it is
        if action in (Action.DELIVER, Action.TAG, Action.BCC, Action.LINK_ATTACHMENTS):
            reason = f"policy: {action.value} (rules {rules})"
            await self._to_delivery(rec, raw, dd, scan, reason, crlf_only=crlf_only)
        elif action is Action.HOLD:
            rec = await self.store.transition(
                rec.id,
                State.HELD,
                actor="policy",
                reason=f"policy: hold (rules {rules})",
                expect=State.RECEIVED,
                release_at=d.release_at or self.clock(),
                decision=dd,
                scan=scan,
            )
            await self._notify(self.notifier.held(rec, dd, d.release_at, moved))
        elif action is Action.APPROVAL:
            rec = await self.store.transition(
                rec.id,
                State.PENDING_APPROVAL,
                actor="policy",
                reason=f"policy: approval (rules {rules})",
                expect=State.RECEIVED,
                expires_at=d.approval_deadline,
                approvers=tuple(d.approvers),
                decision=dd,
                scan=scan,
            )
            await self._notify(self.notifier.approval(rec, dd, d.approvers, moved))
        else:
            rec = await self.store.transition(
                rec.id,
                State.QUARANTINED,
                actor="policy",
                reason=f"policy: {action.value} (rules {rules})",
                expect=State.RECEIVED,
                decision=dd,
                scan=scan,
            )
            await self._notify(self.notifier.quarantined(rec, dd, moved=moved))
        if moved and action in (Action.DELIVER, Action.TAG, Action.BCC):
            # Going out now; a held or waiting message tells of the Bcc in its own notice.
            await self._notify(self.notifier.bcc_converted(rec, dd, moved))
        if d.notify_security and action is not Action.QUARANTINE:
            await self._notify(self.notifier.security(rec, dd))
        return replies.queued(rec.id)

    async def _notify(self, coro: Any) -> None:
        """Notifications never change the answer to the client."""
        try:
            await coro
        except Exception:
            log.exception("notification failed")

    # --- timers (called by the scheduler) ----------------------------------------------------
    async def approval_timeout(self, rec: MessageRecord) -> None:
        decision = dict(rec.decision)
        on_timeout = decision.get("on_timeout") or "reject"
        try:
            if on_timeout == "escalate":
                rec = await self.store.transition(
                    rec.id,
                    State.QUARANTINED,
                    actor="scheduler",
                    reason="approval deadline passed: escalated",
                    expect=State.PENDING_APPROVAL,
                )
                await self._notify(self.notifier.quarantined(rec, decision, escalated=True))
            else:
                rec = await self.store.transition(
                    rec.id,
                    State.REJECTED,
                    actor="scheduler",
                    reason="approval deadline passed: rejected",
                    expect=State.PENDING_APPROVAL,
                )
                await self._notify(self.notifier.decided(rec, "rejected", by="scheduler", expired=True))
        except InvalidTransition:
            log.info("%s: approval already decided", rec.id)

    async def _bounced(self, rec: MessageRecord, failures: list[Failure]) -> None:
        try:
            raw = await self.store.load_raw(rec.id)
        except StoreError:
            raw = b""
        head_end = raw.find(b"\r\n\r\n")
        headers = raw[: head_end + 2] if head_end >= 0 else raw
        await self.notifier.dsn(rec, failures, headers)


__all__ = ["Relay", "convert_to_bcc", "make_owner"]
