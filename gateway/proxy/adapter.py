"""The upload adapter of :mod:`gateway.pipeline`: an upload becomes an item for the same
:meth:`Inspector.inspect` the mail adapter (:mod:`gateway.mail`) uses, and a store item with
its audit trail in the same hash chain as mail.

Each file (or text) of a request is one item. The policy's decision maps onto the upload life
cycle (``UPLOAD_ALLOWED`` in :mod:`gateway.store.base`)::

    deliver, tag, bcc  -> passed             the request goes on
    warn, hold         -> held               403: the user may go on with a reason (coaching)
    approval           -> pending_approval   403: wait for the approver, then upload again
    quarantine         -> quarantined        403: the security team reviews it
    block              -> refused            403

An upload the policy would hold back for a person (warn, hold, approval, quarantine) passes
after all when a person already let the same content from the same user to the same service
and tenant through: :func:`gateway.uploads.redeem` spends one use of that pass, and the item
records which pass let it through. A request passes only if every item passes. Content is kept for the items people will look at
(held, pending approval, quarantined); a passed item keeps only its name, size and SHA-256
unless ``proxy.keep_passed`` says otherwise, and a refused one never keeps its content.

What could not be inspected is said, never hidden: an item too large to classify, or a session
file with bytes that never passed the gateway, carries the reason in its scan's ``errors``, so
the policy sees it as not fully inspected (``truncated: true``) and the verdict says so.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import secrets
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from classifiers import ScanResult, listed_at_once, scan_listed
from gateway import metrics
from gateway.pipeline import FileContent, Inspection, Inspector, KnownDomains, scan_summary
from gateway.store import ItemKind, MessageRecord, State, Store, UploadFacts
from gateway.store.base import Decided, new_id
from gateway.uploads import LIFTABLE, UploadNotices, redeem
from policies import Action, Decision, Envelope

T = TypeVar("T")
log = logging.getLogger("sekimori.proxy")

#: Where each decision leaves an upload item.
STATE_OF: dict[Action, State] = {
    Action.DELIVER: State.PASSED,
    Action.TAG: State.PASSED,
    Action.BCC: State.PASSED,
    Action.WARN: State.HELD,
    Action.HOLD: State.HELD,
    Action.APPROVAL: State.PENDING_APPROVAL,
    Action.QUARANTINE: State.QUARANTINED,
    Action.BLOCK: State.REFUSED,
}
#: States whose item keeps its content for the people who decide on it.
KEEPS_CONTENT = frozenset({State.HELD, State.PENDING_APPROVAL, State.QUARANTINED})
#: The lease an instance holds on an item between recording it and its verdict.
LEASE = 120.0
#: Content in memory from this size on goes to the classification workers as a file: writing
#: it to the page cache and the worker reading it back costs less than pickling it through the
#: pool's socket (1 MiB: 0.8 ms against 2 ms on the benchmark machine).
BY_PATH = 64 * 1024
#: A photo judged at once (:func:`classifiers.listed_at_once`) up to this size has its SHA-256
#: (0.6 ms a MiB on the benchmark machine) computed as its verdict is recorded, after the
#: request went on: by the store, in the same write (:meth:`Store.accept_decided`'s
#: ``meta_later``; the SQLite store's thread, with the GIL released while it hashes). Not on
#: the event loop, where it held up every other connection, nor in a thread of its own, whose
#: trip there and back cost the loop more in waits for the GIL than the digest itself. A larger
#: photo's goes to a thread while it is judged, so that it holds no store write up for long.
DIGEST_ON_LOOP = 2 * 1024 * 1024


@dataclass(frozen=True)
class Uploader:
    """Who sends the request: the person (``""`` when unknown), the client's address and how
    the person was known (``basic``, ``header``, ``network`` or ``none``)."""

    user: str
    client: str
    via: str = "none"


@dataclass(frozen=True)
class UploadItem:
    """One file or text of an upload, ready to inspect."""

    facts: UploadFacts
    size: int
    data: bytes | None = None
    path: Path | None = None
    #: Why the content cannot be (fully) inspected; each becomes a scan error.
    problems: tuple[str, ...] = ()
    #: ``False``: do not classify (over the inspection limit); the problems say why.
    classify: bool = True
    sha256: str = ""
    #: The people a sharing change lets in (its invitations); the policy sees them as the
    #: item's recipients (``recipients: external``, ``new_domain`` ...).
    recipients: tuple[str, ...] = ()


@dataclass(frozen=True)
class ItemVerdict:
    item: UploadItem
    inspection: Inspection
    state: State
    #: The store item's id (the reference the user quotes).
    ref: str = ""
    #: The store item as recorded (its approvers, its times); set once the verdict is written.
    record: MessageRecord | None = None

    @property
    def allowed(self) -> bool:
        return self.state is State.PASSED

    @property
    def fully_inspected(self) -> bool:
        return self.inspection.scan.fully_inspected


@dataclass
class Verdict:
    """The outcome for one request. When every item passes, their records are written while the
    request goes on (:attr:`recording`): await :meth:`settled` before the client hears the
    answer, so that nobody is told of an upload whose verdict is not yet on disk."""

    items: list[ItemVerdict]
    #: The items' verdicts as recorded; or, with :attr:`from_record`, the only item's record.
    recording: asyncio.Future[Any] | None = None
    #: Who sent the request (``""`` when unknown).
    user: str = ""
    #: The only item's verdict from its record (:meth:`UploadJudge._record_soon`).
    from_record: Callable[[MessageRecord], ItemVerdict] | None = None

    async def settled(self) -> Verdict:
        """Wait until every item is recorded (raises the store's error if one could not be)."""
        if self.recording is not None:
            done = await self.recording
            self.items = [self.from_record(done)] if self.from_record is not None else done
            self.recording = None
        return self

    @property
    def allowed(self) -> bool:
        return all(v.allowed for v in self.items)

    @property
    def refused(self) -> list[ItemVerdict]:
        return [v for v in self.items if not v.allowed]

    @property
    def fully_inspected(self) -> bool:
        return all(v.fully_inspected for v in self.items)

    @property
    def reference(self) -> str:
        refused = self.refused
        return refused[0].ref if refused else (self.items[0].ref if self.items else "")


def _log_failure(task: asyncio.Future[Any]) -> bool:
    """Log a recording that failed; whether it did."""
    if task.cancelled():
        return True
    if task.exception() is not None:
        log.error("the verdict of an upload that passed could not be recorded", exc_info=task.exception())
        return True
    return False


def _report(recorded: Sequence[ItemVerdict], uploader: Uploader) -> None:
    """Count and log the verdicts once they are recorded."""
    for v in recorded:
        metrics.record_upload(v.item.facts.service, v.inspection.decision.action.value)
        log.info(
            "upload %s: %s %s via %s by %s (%s) -> %s%s%s",
            v.ref,
            v.item.facts.service,
            v.item.facts.host,
            uploader.via,
            uploader.user or "-",
            uploader.client,
            v.state.value,
            f" rules={','.join(v.inspection.decision.rule_ids)}" if v.inspection.decision.rule_ids else "",
            "" if v.fully_inspected else " (not fully inspected)",
        )


def _reason(decision: Decision) -> str:
    """The reason of a verdict's move in the trail."""
    return f"policy: {decision.action.value} (rules {','.join(decision.rule_ids) or 'none'})"


async def _each(steps: Iterable[Coroutine[Any, Any, T]]) -> list[T]:
    """The results of ``steps``, run concurrently; one step (the usual upload: one file) is
    awaited in place. ``asyncio.gather`` would make it a task and wake this one when it ends:
    two more turns of the event loop, each behind every other connection's work (about 2.5 ms
    apiece with eight 1 MiB uploads in flight), on the path the request waits on."""
    pending = list(steps)
    if len(pending) == 1:
        return [await pending[0]]
    return list(await asyncio.gather(*pending))


def _sha256_of(item: UploadItem) -> str:
    h = hashlib.sha256()
    if item.data is not None:
        h.update(item.data)
    elif item.path is not None:
        with item.path.open("rb") as fh:
            while piece := fh.read(1 << 20):
                h.update(piece)
    return h.hexdigest()


def _digest_meta(data: bytes) -> dict[str, str]:
    """The record's ``content_sha256`` of content in memory (for :meth:`Store.accept_decided`'s
    ``meta_later``)."""
    return {"content_sha256": hashlib.sha256(data).hexdigest()}


def _to_file(data: bytes, folder: Path) -> Path:
    """Write ``data`` to a new file in ``folder``."""
    path = folder / f"item-{secrets.token_hex(10)}"
    with path.open("wb") as fh:
        fh.write(data)
    return path


@dataclass(frozen=True)
class _Prepared:
    sha256: str
    #: The scan of content that classification would only list (:func:`classifiers.scan_listed`).
    listed: ScanResult | None
    #: How long finding that out took (the scan's time, for the metrics).
    seconds: float
    #: Otherwise, where the content was written for the workers (``None``: sent in the call).
    path: Path | None


def _prepare(item: UploadItem, work: Path | None) -> _Prepared:
    """In a thread, for content in memory: its SHA-256 (unless known), and either the listing
    of a picture, sound or video, or its copy in ``work`` for the workers."""
    assert item.data is not None
    sha = item.sha256 or hashlib.sha256(item.data).hexdigest()
    started = time.monotonic()
    facts = item.facts
    listed = scan_listed(item.data, facts.filename, declared_type=facts.content_type or None)
    seconds = time.monotonic() - started
    path = _to_file(item.data, work) if listed is None and work is not None else None
    return _Prepared(sha, listed, seconds, path)


class UploadJudge:
    """Inspects upload items and records each verdict in the store."""

    def __init__(
        self,
        inspector: Inspector,
        store: Store,
        *,
        instance: str,
        clock: Callable[[], datetime],
        keep_passed: bool = False,
        work: Path | None = None,
        notices: UploadNotices | None = None,
    ) -> None:
        self.inspector = inspector
        self.store = store
        self.instance = instance
        self.clock = clock
        self.keep_passed = keep_passed
        #: Where content in memory is written for the workers (``None``: sent in the call).
        self.work = work
        self.notices = notices

    async def never_judged(self, facts: UploadFacts, uploader: Uploader, method: str, reason: str) -> None:
        """Record a request whose only file (``facts``, from its head) was never judged: the
        client went away, or the request was answered, before its body was all there. Refused,
        audited, in one write (:meth:`Store.accept_decided`); a failure is logged, not raised."""
        try:
            await self.store.accept_decided(
                Decided(
                    **self._accepted(UploadItem(facts, 0), uploader, method),
                    to=State.REFUSED,
                    decided_by="proxy",
                    reason=reason,
                )
            )
        except Exception:
            log.warning("an upload that was never judged could not be recorded", exc_info=True)

    async def judge(self, items: Sequence[UploadItem], uploader: Uploader, *, method: str = "") -> Verdict:
        """Inspect every item and decide. A refused request's items are recorded (durably,
        audited) before this returns: their ids are the references on the refusal page. When
        every item passes, they are recorded while the request goes on (see
        :meth:`Verdict.settled`); their ids are known at once."""
        written: list[Path] = []
        try:
            inspected = await _each(self._inspect(i, uploader, method, written) for i in items)
            verdicts = [
                (ItemVerdict(item, insp, STATE_OF[insp.decision.action], ref), rec, digest)
                for item, insp, rec, ref, digest in inspected
            ]
            if all(v.allowed for v, _, _ in verdicts):
                soon = None if written else self._record_soon(verdicts, uploader, method)
                if soon is not None:
                    return soon
                files, written = written, []  # the recording task removes them
                task = asyncio.ensure_future(self._record_all(verdicts, uploader, method, files))
                task.add_done_callback(_log_failure)
                return Verdict([v for v, _, _ in verdicts], recording=task, user=uploader.user)
            return Verdict(await self._record_all(verdicts, uploader, method, []), user=uploader.user)
        finally:
            for path in written:
                path.unlink(missing_ok=True)

    async def _record_all(
        self,
        verdicts: list[tuple[ItemVerdict, MessageRecord | None, asyncio.Future[str] | None]],
        uploader: Uploader,
        method: str,
        files: list[Path],
    ) -> list[ItemVerdict]:
        try:
            recorded = await _each(
                self._record(v, rec, uploader, method, digest) for v, rec, digest in verdicts
            )
        finally:
            for path in files:
                path.unlink(missing_ok=True)
        _report(recorded, uploader)
        return recorded

    def _record_soon(
        self,
        verdicts: list[tuple[ItemVerdict, MessageRecord | None, asyncio.Future[str] | None]],
        uploader: Uploader,
        method: str,
    ) -> Verdict | None:
        """The verdict of a request whose one passing item, in memory, is recorded in one write
        (:meth:`_one_write`) with nothing to wait for first: that write is queued before this
        returns (:meth:`Store.accept_decided_soon`), so that its wait for the disk overlaps the
        forwarding from the start, with no task to wait a turn of the event loop for its first
        step and none to wake the answer when it ends. ``None`` for anything else."""
        if len(verdicts) != 1:
            return None
        v, rec, digest = verdicts[0]
        if rec is not None or digest is not None or v.item.data is None:
            return None
        one = self._one_write(v, v.item, uploader, method)
        if one is None:
            return None
        recording = self.store.accept_decided_soon(one, msg_id=v.ref)
        from_record = functools.partial(self._recorded, v, v.item)

        def report(done: asyncio.Future[MessageRecord]) -> None:
            if not _log_failure(done):
                _report([from_record(done.result())], uploader)

        recording.add_done_callback(report)
        return Verdict([v], recording=recording, user=uploader.user, from_record=from_record)

    def _one_write(self, v: ItemVerdict, item: UploadItem, uploader: Uploader, method: str) -> Decided | None:
        """How an item without a record is accepted and moved in one write
        (:meth:`Store.accept_decided`), when nothing comes between: no content to keep, no pass
        to look for. A photo judged at once has its digest computed by the store as it writes
        (:func:`_digest_meta`)."""
        decision = v.inspection.decision
        content = item.data if item.data is not None else item.path
        if (decision.action in LIFTABLE and bool(uploader.user)) or (
            self._keeps(v.state) and content is not None
        ):
            return None
        accepted = self._accepted(item, uploader, method)
        meta, changes = self._changes(v, item, accepted["meta"], v.state, kept=False)
        later = None if item.sha256 or item.data is None else functools.partial(_digest_meta, item.data)
        return Decided(
            **accepted,
            to=v.state,
            decided_by="policy",
            reason=_reason(decision),
            changes={**changes, "meta": meta},
            meta_later=later,
        )

    @staticmethod
    def _recorded(v: ItemVerdict, item: UploadItem, done: MessageRecord) -> ItemVerdict:
        """The verdict of ``item``, recorded as ``done`` in one write."""
        if not item.sha256:
            item = replace(item, sha256=str(done.meta.get("content_sha256", "")))
        return ItemVerdict(item, v.inspection, v.state, done.id, done)

    async def _inspect(
        self, item: UploadItem, uploader: Uploader, method: str, written: list[Path]
    ) -> tuple[UploadItem, Inspection, MessageRecord | None, str, asyncio.Future[str] | None]:
        """Classify the item and let the policy decide, while its SHA-256 is computed beside
        (the future returned, which the verdict's record waits for; the decision does not).
        Returns the item, its inspection, its record if one was opened, its id and the digest.

        Content in a file (a body the holding server spooled, a session's assembled file) has
        its record opened in the store meanwhile (state ``received``, leased to this instance),
        so that an upload whose judgment outlives the gateway is refused, audited, when the
        lease ends. Content in memory, or none, is recorded once, with its verdict (one write,
        :meth:`_record`): the request it came in has not gone on before that verdict, and a
        client gone before it is recorded by the gate (:meth:`never_judged`); only its id is
        chosen here.

        A photo in memory (PNG, JPEG) whose listing :func:`classifiers.scan_listed` gives at
        once is judged on that listing here, without a worker or a thread; up to
        :data:`DIGEST_ON_LOOP` its digest is left to :meth:`_record` (the request goes on before
        it is computed, by the store as it writes the verdict), a larger one's goes to a thread.
        Other content in memory takes one trip to a thread (:func:`_prepare`) for its digest, its listing if it is a
        picture, sound or video (then no worker is asked either), or else its copy for the
        workers."""
        opening = asyncio.ensure_future(self._open(item, uploader, method)) if item.path is not None else None
        ref = "" if opening is not None else new_id(self.clock())
        digest: asyncio.Future[str] | None = None
        try:
            listed: ScanResult | None = None
            data = item.data
            on_loop = False
            if item.classify and data is not None and listed_at_once(data):
                started = time.monotonic()
                listed = scan_listed(
                    data, item.facts.filename, declared_type=item.facts.content_type or None, at_once=True
                )
                if listed is not None:
                    metrics.record_scan(time.monotonic() - started, truncated=False, uninspected=False)
                    on_loop = len(data) <= DIGEST_ON_LOOP
            if listed is None and item.classify and data is not None:
                work = self.work if len(data) >= BY_PATH else None
                prepared = await asyncio.to_thread(_prepare, item, work)
                item = replace(item, sha256=item.sha256 or prepared.sha256)
                if prepared.listed is not None:
                    listed = prepared.listed
                    metrics.record_scan(prepared.seconds, truncated=False, uninspected=False)
                elif prepared.path is not None:
                    written.append(prepared.path)
                    item = replace(item, data=None, path=prepared.path)
            elif not item.sha256 and not on_loop:
                digest = asyncio.ensure_future(asyncio.to_thread(_sha256_of, item))
            inspection = await self._decide(item, uploader, listed)
            if opening is None:
                return item, inspection, None, ref, digest
            rec = await opening
            return item, inspection, rec, rec.id, digest
        except BaseException:
            if opening is not None:
                opening.cancel()  # a record already opened stays received and is refused when its lease ends
            if digest is not None:
                digest.cancel()
            raise

    def _accepted(self, item: UploadItem, uploader: Uploader, method: str) -> dict[str, Any]:
        """What an upload's record is accepted with (:meth:`Store.accept`'s arguments)."""
        meta: dict[str, Any] = {
            "upload": item.facts.to_meta(),
            "client": uploader.client,
            "identified_by": uploader.via,
        }
        if method:
            meta["method"] = method
        return {
            "kind": ItemKind.UPLOAD,
            "sender": uploader.user,
            "recipients": item.recipients,
            "subject": item.facts.filename,
            "meta": meta,
            "owner": self.instance,
            "lease": LEASE,
            "actor": "proxy",
        }

    async def _open(
        self, item: UploadItem, uploader: Uploader, method: str, *, msg_id: str | None = None
    ) -> MessageRecord:
        return await self.store.accept(b"", **self._accepted(item, uploader, method), msg_id=msg_id)

    async def _decide(
        self, item: UploadItem, uploader: Uploader, listed: ScanResult | None = None
    ) -> Inspection:
        facts = item.facts
        if listed is not None:
            scan = listed
        elif item.classify and (item.data is not None or item.path is not None):
            content = (
                FileContent(facts.filename, facts.content_type, data=item.data)
                if item.data is not None
                else FileContent(facts.filename, facts.content_type, path=str(item.path))
            )
            scan = await self.inspector.classify(content)
        else:
            scan = ScanResult(parts=(), records=0, size=item.size)
        if item.problems:
            scan = replace(scan, errors=(*scan.errors, *item.problems))
        scope = facts.sharing_scope
        if scope == "organization" and any(not self._internal(a) for a in item.recipients):
            scope = "specific"  # a domain let in that is not the company's own (Drive's "domain")
        envelope = Envelope(
            direction="upload",
            sender=uploader.user,
            recipients=item.recipients,
            size=item.size,
            service=facts.service,
            host=facts.host,
            tenant=facts.tenant,
            sharing_scope=scope,
            sharing_target=facts.sharing_target,
            link_expires=facts.link_expires,
            attachment_names=(facts.filename,) if facts.filename else (),
        )
        # An invitation's domains are first-time domains if the user never had mail delivered
        # there (the same history as mail's tag-first-contact).
        known = await self.store.known_domains(uploader.user) if item.recipients and uploader.user else ()
        history = KnownDomains(uploader.user, known)
        return await self.inspector.decide(scan, envelope, history=history, now=self.clock())

    def _internal(self, address: str) -> bool:
        return bool(self.inspector.policies.current.is_internal(address.replace("*@", "x@")))

    async def _record(
        self,
        v: ItemVerdict,
        rec: MessageRecord | None,
        uploader: Uploader,
        method: str,
        digest: asyncio.Future[str] | None,
    ) -> ItemVerdict:
        """Move the opened record to its verdict's state (durably, audited), keeping the content
        where people will look at it; an upload the policy holds back passes if a live pass for
        it (by the content's ``digest``, once computed) is redeemed. An item without a record
        (``rec`` ``None``: its content was in memory) is accepted and moved in one write
        (:meth:`Store.accept_decided`) when nothing comes between (no content to keep, no pass
        to look for); else it is accepted first, under the id it was given (``v.ref``)."""
        item, decision = v.item, v.inspection.decision
        if digest is not None:
            item = replace(item, sha256=await digest)
        reason = _reason(decision)
        content = item.data if item.data is not None else item.path
        if rec is None:
            one = self._one_write(v, item, uploader, method)
            if one is not None:
                done = await self.store.accept_decided_soon(one, msg_id=v.ref)
                assert one.changes is not None
                await self._notify(done, one.changes)
                return self._recorded(v, item, done)
            rec = await self.store.accept(b"", **self._accepted(item, uploader, method), msg_id=v.ref)
        if not item.sha256 and item.data is not None:  # a photo judged at once (_inspect)
            item = replace(item, sha256=_sha256_of(item))
        used = await redeem(
            self.store,
            user=uploader.user,
            sha256=item.sha256,
            service=item.facts.service,
            tenant=item.facts.tenant,
            action=decision.action,
            for_item=rec.id,
        )
        state = State.PASSED if used is not None else v.state
        keep = self._keeps(state) and content is not None
        if keep and content is not None:
            await self.store.replace_raw(rec.id, content, actor="proxy", reason="content kept for review")
        meta, changes = self._changes(v, item, rec.meta, state, kept=keep)
        if used is not None:
            reason += f"; passed with the approval of {used.id} by {used.meta.get('pass', {}).get('by', '?')}"
            meta["passed_by"] = used.id
        done = await self.store.transition(
            rec.id, state, actor="policy", reason=reason, expect=State.RECEIVED, **changes, meta=meta
        )
        await self._notify(done, changes)
        return ItemVerdict(item, v.inspection, state, rec.id, done)

    def _keeps(self, state: State) -> bool:
        """Whether an item in ``state`` keeps its content (for the people who decide on it)."""
        return state in KEEPS_CONTENT or (state is State.PASSED and self.keep_passed)

    def _changes(
        self, v: ItemVerdict, item: UploadItem, meta: Mapping[str, Any], state: State, *, kept: bool
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The record's meta after the verdict (``meta`` as accepted, with what the verdict
        adds) and the other changes the verdict makes to it."""
        decision = v.inspection.decision
        after: dict[str, Any] = {
            **meta,
            "upload": item.facts.to_meta(),  # as the body showed it (a record may open before)
            "content_sha256": item.sha256,
            "content_size": item.size,
            "content_kept": kept,
            "fully_inspected": v.fully_inspected,
        }
        changes: dict[str, Any] = {"decision": decision.to_dict(), "scan": scan_summary(v.inspection.scan)}
        if state is State.PENDING_APPROVAL:
            changes.update(approvers=tuple(decision.approvers), expires_at=decision.approval_deadline)
        elif state is State.HELD:
            changes["release_at"] = decision.release_at or self.clock()
        return after, changes

    async def _notify(self, done: MessageRecord, changes: Mapping[str, Any]) -> None:
        if self.notices is not None and done.state in (State.PENDING_APPROVAL, State.HELD):
            try:
                await self.notices.upload_held_back(done, changes["decision"])
            except Exception:  # a notice that fails must not turn a verdict into an error
                log.exception("%s: notice failed", done.id)


__all__ = ["STATE_OF", "ItemVerdict", "UploadItem", "UploadJudge", "Uploader", "Verdict"]
