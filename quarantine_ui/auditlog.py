"""The auditor's view of the hash-chained audit trail: filters, export, verification."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway.audit import verify_store
from gateway.store import AuditEvent, Store

PAGE = 2000
SHOWN = 200
CSV_FIELDS = ("seq", "at", "actor", "action", "msg_id", "from_state", "to_state", "reason", "extra", "hash")


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


def event_dict(ev: AuditEvent) -> dict[str, Any]:
    return {
        "seq": ev.seq,
        "at": ev.at.isoformat(),
        "actor": ev.actor,
        "action": ev.action,
        "msg_id": ev.msg_id,
        "from_state": ev.from_state,
        "to_state": ev.to_state,
        "reason": ev.reason,
        "extra": dict(ev.extra),
        "prev_hash": ev.prev_hash,
        "hash": ev.hash,
    }


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


def _csv_cell(value: str) -> str:
    # Spreadsheet formula injection: a cell starting with = + - @ is text, not a formula.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


async def export_jsonl(store: Store, filters: Filters) -> AsyncIterator[bytes]:
    async for ev in matching(store, filters):
        yield (json.dumps(event_dict(ev), ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")


async def export_csv(store: Store, filters: Filters) -> AsyncIterator[bytes]:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(CSV_FIELDS)
    async for ev in matching(store, filters):
        d = event_dict(ev)
        d["extra"] = json.dumps(d["extra"], ensure_ascii=False, sort_keys=True)
        writer.writerow([_csv_cell(str(d[k])) for k in CSV_FIELDS])
        if buf.tell() > 64 * 1024:
            yield buf.getvalue().encode("utf-8")
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue().encode("utf-8")


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
