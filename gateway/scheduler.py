"""Timers: releases holds when due, retries deferred mail, applies approval deadlines, and
picks up work nobody owns (a message an operator or the UI released into ``delivering``, or
one a dead instance left behind). Every pick-up is a compare-and-set claim on the store, so
with several instances each message is taken exactly once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from gateway import retention, uploads
from gateway.relay import Relay
from gateway.store import ItemKind, State, StoreError
from gateway.tasks import stop_task

log = logging.getLogger(__name__)


class Scheduler:
    def __init__(
        self, relay: Relay, *, interval: float, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.relay = relay
        self.store = relay.store
        self.interval = interval
        self.clock = clock
        self._task: asyncio.Task[None] | None = None
        #: Bodies of finished items are removed this long after they finished (0: kept).
        self.retention = relay.config.store.retention
        self._next_purge: datetime | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="scheduler")

    async def stop(self) -> None:
        await stop_task(self._task)
        self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self.tick()
            except StoreError:
                log.exception("scheduler tick failed; trying again")
            await asyncio.sleep(self.interval)

    async def tick(self) -> int:
        """One pass over due work; returns how many messages it moved on. Once an hour it also
        removes the bodies finished longer than ``store.retention`` ago."""
        now = self.clock()
        if self.retention > 0 and (self._next_purge is None or now >= self._next_purge):
            self._next_purge = now + retention.EVERY
            removed = await retention.purge(self.store, self.retention, actor=retention.SCHEDULED, now=now)
            if removed:
                log.info("retention: %d body(ies) removed", removed)
        owner = self.relay.owner
        moved = 0
        for rec in await self.store.due(now):
            if rec.kind is ItemKind.UPLOAD:
                moved += await uploads.on_due(self.store, rec, self.relay.notifier)
                continue
            if rec.kind in (ItemKind.LINK, ItemKind.FILE):
                moved += await self.relay.links.on_due(rec)
                continue
            if self.relay.delivery.busy(rec.id):
                continue
            if rec.state is State.PENDING_APPROVAL:
                await self.relay.approval_timeout(rec)
                moved += 1
                continue
            reason = {
                State.HELD: "hold released: release time reached",
                State.DEFERRED: f"retry (attempt {rec.attempts + 1})",
                State.DELIVERING: "picked up for delivery",
                State.RECEIVED: "picked up to decide",
            }.get(rec.state)
            if reason is None:
                continue
            to = State.DELIVERING if rec.state in (State.HELD, State.DEFERRED) else None
            claimed = await self.store.claim(
                rec.id, owner=owner, from_states=rec.state, to=to, actor="scheduler", reason=reason, now=now
            )
            if claimed is None:
                continue
            moved += 1
            await self.relay.resume(claimed)
        return moved
