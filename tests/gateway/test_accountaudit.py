"""Account events reach the audit trail on the loop the store is used on, whichever thread or
event loop reports them (a Redis store's connections belong to the loop that opened them)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from gateway.accountaudit import AUDIT_ID, AccountAudit
from gateway.audit import verify_store
from gateway.store import SQLiteStore
from quarantine_ui.accounts import AuthEvent


async def test_events_from_another_loop_are_written_on_the_bound_loop(tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path / "var")
    home = asyncio.get_running_loop()
    seen: list[asyncio.AbstractEventLoop] = []
    note = store.note

    async def noting(msg_id: str, **kwargs: object) -> object:
        seen.append(asyncio.get_running_loop())
        return await note(msg_id, **kwargs)  # type: ignore[arg-type]

    store.note = noting  # type: ignore[method-assign,assignment]
    audit = AccountAudit(store)
    audit.bind(home)

    def elsewhere() -> None:
        async def report() -> None:  # another thread, with an event loop of its own running
            audit(AuthEvent(0.0, "user_created", "hanako@example.co.jp", "10.0.0.7", "roles=approver"))
            audit(AuthEvent(0.0, "login_success", "hanako@example.co.jp", "10.0.0.7", ""))

        asyncio.run(report())

    thread = threading.Thread(target=elsewhere)
    thread.start()
    await asyncio.to_thread(thread.join)
    for _ in range(100):
        await asyncio.sleep(0.01)
        if len(seen) == 2 and audit._chain is not None and audit._chain.done():
            break
    await audit.drain()
    try:
        assert seen == [home, home]
        events = await store.audit_events(msg_id=AUDIT_ID)
        assert [(e.action, e.actor) for e in events] == [
            ("user_created", "user:hanako@example.co.jp"),
            ("login_success", "user:hanako@example.co.jp"),
        ]
        assert (await verify_store(store)).ok
    finally:
        await store.close()


async def test_unbound_events_on_a_loop_are_written_there(tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path / "var")
    audit = AccountAudit(store)
    try:
        audit(AuthEvent(0.0, "lockout", "taro@example.co.jp", "10.0.0.5", "5 failures"))
        await audit.drain()
        [event] = await store.audit_events(msg_id=AUDIT_ID)
        assert event.action == "lockout" and event.extra is not None and event.extra["detail"] == "5 failures"
    finally:
        await store.close()
