"""The one schema of an exported audit event, for every export: ``sekimori audit list --format
jsonl``, the UI's JSON Lines and CSV downloads, and the JSON API (``/api/audit``,
``/api/audit/export``). Fields, in this order (the CSV header; JSON objects keep it too):

========== =============================================================================
seq        position in the hash chain, from 1
at         when, ISO 8601 in UTC (``2026-04-01T09:00:00.123456+00:00``)
actor      who: ``smtp``, ``policy``, ``delivery``, ``scheduler``, ``notify``, ``proxy``,
           ``sender:<address>``, ``approver:<address>``, ``admin:<address>``,
           ``operator:<os user>``
action     ``accept``, ``transition``, ``notify``, ``replace_raw``, ``purge``,
           ``approval_requested``, ``release_requested``, ``policy_activate`` …
msg_id     the item's queue id
from_state the state before (empty for ``accept``)
to_state   the state after (the same as ``from_state`` when nothing moved)
reason     why, in words
extra      details: an object in JSON, its canonical JSON text in CSV (``user``, ``via``,
           ``comment``, ``justification``, ``notification``, ``facts``: digests of the
           record's facts the event set …)
prev_hash  the previous event's ``hash`` (64 zeros for the first)
hash       SHA-256 of this event's canonical form (see :mod:`gateway.audit`)
========== =============================================================================

CSV cells that a spreadsheet would read as a formula (starting with ``=``, ``+``, ``-``, ``@``)
are prefixed with ``'``. The CSV is UTF-8 with a byte-order mark and CRLF line ends, so Excel in
a Japanese Windows (which reads a CSV without a BOM as Shift_JIS) shows 日本語 correctly; tools
that read UTF-8 skip the BOM (Python: ``encoding="utf-8-sig"``).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

from gateway.store.base import AuditEvent

#: The field names, in order.
EXPORT_FIELDS: tuple[str, ...] = (
    "seq",
    "at",
    "actor",
    "action",
    "msg_id",
    "from_state",
    "to_state",
    "reason",
    "extra",
    "prev_hash",
    "hash",
)


def export_record(ev: AuditEvent) -> dict[str, Any]:
    """An event in the export schema (a JSON object)."""
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


def jsonl_line(ev: AuditEvent) -> str:
    """One line of the JSON Lines export (with its newline)."""
    return json.dumps(export_record(ev), ensure_ascii=False) + "\n"


def _csv_cell(value: str) -> str:
    # Spreadsheet formula injection: a cell starting with = + - @ is text, not a formula.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def csv_row(ev: AuditEvent) -> list[str]:
    d = export_record(ev)
    d["extra"] = json.dumps(d["extra"], ensure_ascii=False, sort_keys=True)
    return [_csv_cell(str(d[k])) for k in EXPORT_FIELDS]


async def export_jsonl(events: AsyncIterable[AuditEvent]) -> AsyncIterator[bytes]:
    async for ev in events:
        yield jsonl_line(ev).encode("utf-8")


#: UTF-8's byte-order mark: Excel takes a CSV for UTF-8 only when it starts with one.
BOM = "\ufeff"


async def export_csv(events: AsyncIterable[AuditEvent]) -> AsyncIterator[bytes]:
    """The CSV export (UTF-8 with BOM, CRLF), in chunks of about 64 KiB."""
    buf = io.StringIO()
    buf.write(BOM)
    writer = csv.writer(buf)
    writer.writerow(EXPORT_FIELDS)
    async for ev in events:
        writer.writerow(csv_row(ev))
        if buf.tell() > 64 * 1024:
            yield buf.getvalue().encode("utf-8")
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue().encode("utf-8")


__all__ = ["BOM", "EXPORT_FIELDS", "csv_row", "export_csv", "export_jsonl", "export_record", "jsonl_line"]
