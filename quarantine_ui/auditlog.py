"""The auditor's view of the hash-chained audit trail: filters, export, verification."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway import auditexport
from gateway.audit import verify_store
from gateway.auditexport import export_record
from gateway.store import AuditEvent, Store

PAGE = 2000
SHOWN = 200


@dataclass(frozen=True)
class Filters:
    actor: str = ""
    action: str = ""
    msg_id: str = ""
    since: datetime | None = None
    until: datetime | None = None

    def match(self, ev: AuditEvent) -> bool:
        if self.actor and self.actor.lower() not in ev.actor.lower():
            return False
        if self.action and ev.action != self.action:
            return False
        if self.msg_id and ev.msg_id != self.msg_id:
            return False
        if self.since is not None and ev.at < self.since:
            return False
        return not (self.until is not None and ev.at >= self.until)


#: An event as every export writes it (:mod:`gateway.auditexport`).
event_dict = export_record


async def matching(store: Store, filters: Filters) -> AsyncIterator[AuditEvent]:
    after = 0
    while True:
        events = await store.audit_events(msg_id=filters.msg_id or None, after_seq=after, limit=PAGE)
        for ev in events:
            if filters.match(ev):
                yield ev
        if len(events) < PAGE:
            return
        after = events[-1].seq


async def latest(store: Store, filters: Filters, shown: int = SHOWN) -> tuple[list[AuditEvent], int]:
    """The newest ``shown`` matching events (newest first) and how many matched in all."""
    kept: list[AuditEvent] = []
    total = 0
    async for ev in matching(store, filters):
        total += 1
        kept.append(ev)
        if len(kept) > shown:
            del kept[0]
    return kept[::-1], total


def export_jsonl(store: Store, filters: Filters) -> AsyncIterator[bytes]:
    return auditexport.export_jsonl(matching(store, filters))


def export_csv(store: Store, filters: Filters) -> AsyncIterator[bytes]:
    return auditexport.export_csv(matching(store, filters))


async def verification(store: Store) -> dict[str, Any]:
    v = await verify_store(store)
    return {
        "ok": v.ok,
        "checked": v.checked,
        "head": v.head,
        "broken_seq": v.broken_seq,
        "problem": v.problem,
        "mismatches": list(v.mismatches),
    }
