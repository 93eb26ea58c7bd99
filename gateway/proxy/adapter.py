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
import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from classifiers import ScanResult
from gateway import metrics
from gateway.pipeline import FileContent, Inspection, Inspector, KnownDomains, scan_summary
from gateway.store import ItemKind, State, Store, UploadFacts
from gateway.uploads import redeem
from policies import Action, Envelope

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


@dataclass(frozen=True)
class ItemVerdict:
    item: UploadItem
    inspection: Inspection
    state: State
    #: The store item's id (the reference the user quotes).
    ref: str = ""

    @property
    def allowed(self) -> bool:
        return self.state is State.PASSED

    @property
    def fully_inspected(self) -> bool:
        return self.inspection.scan.fully_inspected


@dataclass
class Verdict:
    """The outcome for one request."""

    items: list[ItemVerdict]

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


def _sha256_of(item: UploadItem) -> str:
    h = hashlib.sha256()
    if item.data is not None:
        h.update(item.data)
    elif item.path is not None:
        with item.path.open("rb") as fh:
            while piece := fh.read(1 << 20):
                h.update(piece)
    return h.hexdigest()


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
    ) -> None:
        self.inspector = inspector
        self.store = store
        self.instance = instance
        self.clock = clock
        self.keep_passed = keep_passed

    async def judge(self, items: Sequence[UploadItem], uploader: Uploader, *, method: str = "") -> Verdict:
        """Inspect every item, decide, and record each verdict (durably, audited) before the
        request goes on or is refused: the store item's id is the reference the user sees."""
        inspected = await asyncio.gather(*(self._inspect(i, uploader) for i in items))
        verdicts = [ItemVerdict(item, insp, STATE_OF[insp.decision.action]) for item, insp in inspected]
        verdicts = list(await asyncio.gather(*(self._record(v, uploader, method) for v in verdicts)))
        result = Verdict(verdicts)
        for v in verdicts:
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
                f" rules={','.join(v.inspection.decision.rule_ids)}"
                if v.inspection.decision.rule_ids
                else "",
                "" if v.fully_inspected else " (not fully inspected)",
            )
        return result

    async def _inspect(self, item: UploadItem, uploader: Uploader) -> tuple[UploadItem, Inspection]:
        if not item.sha256:
            item = replace(item, sha256=await asyncio.to_thread(_sha256_of, item))
        facts = item.facts
        if item.classify and (item.data is not None or item.path is not None):
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
        envelope = Envelope(
            direction="upload",
            sender=uploader.user,
            recipients=(),
            size=item.size,
            service=facts.service,
            host=facts.host,
            tenant=facts.tenant,
            sharing_scope=facts.sharing_scope,
            attachment_names=(facts.filename,) if facts.filename else (),
        )
        history = KnownDomains(uploader.user, ())
        return item, await self.inspector.decide(scan, envelope, history=history, now=self.clock())

    async def _record(self, v: ItemVerdict, uploader: Uploader, method: str) -> ItemVerdict:
        """Record the item (durably, audited) and move it to its verdict's state; an upload the
        policy holds back passes if a live pass for it is redeemed."""
        item, decision = v.item, v.inspection.decision
        keep = v.state in KEEPS_CONTENT or (v.state is State.PASSED and self.keep_passed)
        body: bytes | Path = b""
        if keep:
            body = item.data if item.data is not None else (item.path or b"")
        meta: dict[str, Any] = {
            "upload": item.facts.to_meta(),
            "client": uploader.client,
            "identified_by": uploader.via,
            "content_sha256": item.sha256,
            "content_size": item.size,
            "content_kept": keep,
            "fully_inspected": v.fully_inspected,
        }
        if method:
            meta["method"] = method
        rec = await self.store.accept(
            body,
            kind=ItemKind.UPLOAD,
            sender=uploader.user,
            recipients=(),
            subject=item.facts.filename,
            meta=meta,
            owner=self.instance,
            lease=LEASE,
            actor="proxy",
        )
        rules = ",".join(decision.rule_ids) or "none"
        reason = f"policy: {decision.action.value} (rules {rules})"
        state = v.state
        changes: dict[str, Any] = {"decision": decision.to_dict(), "scan": scan_summary(v.inspection.scan)}
        used = await redeem(
            self.store,
            user=uploader.user,
            sha256=item.sha256,
            service=item.facts.service,
            tenant=item.facts.tenant,
            action=decision.action,
            for_item=rec.id,
        )
        if used is not None:
            state = State.PASSED
            reason += f"; passed with the approval of {used.id} by {used.meta.get('pass', {}).get('by', '?')}"
            changes["meta"] = {**meta, "passed_by": used.id}
        elif state is State.PENDING_APPROVAL:
            changes.update(approvers=tuple(decision.approvers), expires_at=decision.approval_deadline)
        elif state is State.HELD:
            changes["release_at"] = decision.release_at or self.clock()
        await self.store.transition(
            rec.id, state, actor="policy", reason=reason, expect=State.RECEIVED, **changes
        )
        return replace(v, state=state, ref=rec.id)


__all__ = ["STATE_OF", "ItemVerdict", "UploadItem", "UploadJudge", "Uploader", "Verdict"]
