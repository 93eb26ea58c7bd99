"""The dashboard's figures cover its window and read only that part of the audit chain."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.store import State, Store
from gateway.store.redis import RedisStore
from gateway.store.sqlite import SQLiteStore
from quarantine_ui.dashboard import collect, first_seq_since
from tests.gateway.conftest import redis_server  # noqa: F401 - the real redis-server fixture

NOW = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)


class Reads:
    """The real store, counting how many audit events the dashboard asks it for."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.events_read = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    async def audit_events(self, **kwargs: Any) -> Any:
        found = await self.store.audit_events(**kwargs)
        self.events_read += len(found)
        return found


async def _held_then_cancelled(store: Store, clock: list[datetime], when: datetime) -> None:
    clock[0] = when
    rec = await store.accept(
        b"Subject: x\r\n\r\nbody\r\n", sender="taro@example.co.jp", recipients=["a@x.jp"]
    )
    rec = await store.transition(
        rec.id, State.HELD, actor="policy", reason="hold", release_at=when + timedelta(minutes=5),
        decision={"action": "hold", "rules": ["r-hold"]},
    )  # fmt: skip
    await store.transition(rec.id, State.CANCELLED, actor="sender:taro@example.co.jp", reason="cancelled")


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
async def test_only_the_window_is_counted_and_read(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    clock = [NOW]
    store: Store
    if backend == "redis":
        url = request.getfixturevalue("redis_server").url
        store = await RedisStore.open(
            url, prefix=f"dashboard-{secrets.token_hex(6)}:", clock=lambda: clock[0]
        )
    else:
        store = await SQLiteStore.open(tmp_path / "var", clock=lambda: clock[0])
    try:
        for days_ago in (400, 90, 30, 15):  # all before the 14-day window
            for _ in range(20):
                await _held_then_cancelled(store, clock, NOW - timedelta(days=days_ago))
        for _ in range(3):
            await _held_then_cancelled(store, clock, NOW - timedelta(days=2))
        reads = Reads(store)
        stats = await collect(reads, now=NOW)
        assert stats.cancelled_by_sender == 3 and stats.held == 3
        # 249 events in all, 9 in the window: the search reads a handful, not the chain.
        assert reads.events_read < 9 + 2 * 9
        start = datetime(2026, 11, 7, tzinfo=UTC) - timedelta(hours=9)  # 14 days, in JST
        first = await first_seq_since(store, start)
        assert first == 240
        assert await first_seq_since(store, NOW + timedelta(days=1)) == 249
        assert await first_seq_since(store, NOW - timedelta(days=999)) == 0
    finally:
        await store.close()


async def test_bcc_conversions_count_whatever_followed_and_rules_show_their_titles(tmp_path: Path) -> None:
    clock = [NOW - timedelta(days=1)]
    store = await SQLiteStore.open(tmp_path / "var", clock=lambda: clock[0])
    match = {
        "rule_id": "bcc-external",
        "title_ja": "社外宛てはBCC",
        "title_en": "External to Bcc",
        "action": "bcc",
    }
    try:
        for action, state in (
            ("bcc", State.DELIVERING),
            ("hold", State.HELD),
            ("quarantine", State.QUARANTINED),
        ):
            rec = await store.accept(
                b"To: a@x.jp\r\n\r\nbody\r\n", sender="taro@example.co.jp", recipients=["a@x.jp"]
            )
            await store.replace_raw(rec.id, b"To: undisclosed-recipients:;\r\n\r\nbody\r\n", actor="policy",
                                    reason="Bcc conversion: 1 external address(es)")  # fmt: skip
            await store.transition(
                rec.id, state, actor="policy", reason=f"policy: {action}",
                decision={"action": action, "transforms": ["bcc"], "rules": ["bcc-external"], "matches": [match]},
            )  # fmt: skip
        stats = await collect(store, now=NOW)
        # Three conversions: one delivered at once, one held, one quarantined (only one "bcc" verdict).
        assert stats.bcc_converted == 3 and stats.totals.get("bcc") == 1
        assert stats.top_rules == [("bcc-external", 3)]
        assert stats.rule_title("bcc-external", "ja") == "社外宛てはBCC"
        assert stats.rule_title("bcc-external", "en") == "External to Bcc"
    finally:
        await store.close()
