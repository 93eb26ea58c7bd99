"""Retention: the bodies of finished items are removed some time after they finished; the records
and their audit trail stay. ``sekimori queue purge --older-than`` does it by hand, the scheduler
every hour with ``store.retention`` (default 30 days). Each removal is the table's ``purge``
action (:mod:`gateway.actions`), audited like any other, by ``operator:<who>``."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from gateway import actions
from gateway.actions import Actor, Role
from gateway.config import format_duration
from gateway.store import TERMINAL, Store, StoreError

log = logging.getLogger(__name__)

#: How often the scheduler looks for bodies to remove.
EVERY = timedelta(hours=1)
#: The actor of the scheduler's removals.
SCHEDULED = Actor(Role.OPERATOR, "retention")
PAGE = 500


async def purge(store: Store, older_than: float, *, actor: Actor, now: datetime) -> int:
    """Remove the bodies of items that finished more than ``older_than`` seconds before ``now``;
    returns how many. An item another instance purged meanwhile is skipped."""
    cutoff = now - timedelta(seconds=older_than)
    reason = f"retention: finished more than {format_duration(older_than)} ago"
    removed = 0
    cursor: str | None = None
    while True:
        page = await store.list_messages(states=TERMINAL, before=cursor, limit=PAGE)
        for rec in page:
            if not rec.has_raw or rec.updated_at >= cutoff:
                continue
            try:
                await actions.perform(store, rec, "purge", actor, now=now, via="cli", reason=reason)
            except (actions.Refused, StoreError) as exc:
                log.info("%s: not purged: %s", rec.id, exc)
                continue
            removed += 1
        if len(page) < PAGE:
            return removed
        cursor = page[-1].id


__all__ = ["EVERY", "SCHEDULED", "purge"]
