"""Account events in the audit trail: logins, failed logins, lockouts, second-factor enrolment
and resets, new users, role changes, disabling, from the web UI and from ``sekimori user``.

:class:`quarantine_ui.accounts.Accounts` reports each event to a sink (a plain callable, called
from the event loop or from a worker thread). :class:`AccountAudit` appends each one to the
store's hash chain as a note on the pseudo item ``accounts``: the action is the event
(``login_success``, ``lockout``, ``user_updated`` …), the actor the person (``user:<address>``)
or the operator at the command line, and ``extra`` the address, client address and detail
(never a password or code). The command line collects its events and writes them when it is
done (:meth:`AccountAudit.flush`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any, Protocol

from anyio import from_thread

from gateway.store import Store

log = logging.getLogger(__name__)

#: The pseudo item whose notes are the account events.
AUDIT_ID = "accounts"


class Event(Protocol):
    """What :class:`quarantine_ui.accounts.AuthEvent` carries."""

    @property
    def event(self) -> str: ...
    @property
    def address(self) -> str: ...
    @property
    def ip(self) -> str: ...
    @property
    def detail(self) -> str: ...


def note_args(ev: Event, actor: str | None = None) -> dict[str, Any]:
    """The :meth:`Store.note` arguments of an account event."""
    who = actor or f"user:{ev.address}"
    extra = {"address": ev.address, "ip": ev.ip, "detail": ev.detail}
    return {
        "action": ev.event,
        "actor": who,
        "reason": f"{ev.event}: {ev.address}" + (f" ({ev.detail})" if ev.detail else ""),
        "extra": extra,
    }


class AccountAudit:
    """A sink for :class:`quarantine_ui.accounts.Accounts` that writes to ``store``.

    Once :meth:`bind` has named the loop the store is used on (the UI does when it starts
    serving), every write is made there, in order, whichever thread or loop reports the event:
    a store's connections belong to the loop they were opened on (Redis), so a write from
    another loop would break the store for its own loop. Before that: called on an event loop,
    it schedules the write there; called from a worker thread of that loop, it hands the write
    to the loop; with no loop at all (the command line) it keeps the event until :meth:`flush`.
    ``actor`` names who acts for events the person did not cause (``operator:root`` at the
    command line)."""

    def __init__(self, store: Store | None, *, actor: str | None = None) -> None:
        self.store = store
        self.actor = actor
        self.pending: list[dict[str, Any]] = []
        self._chain: asyncio.Future[None] | None = None
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Make every write on ``loop``, the one the store is used on."""
        self._loop = loop

    def __call__(self, ev: Event) -> None:
        args = note_args(ev, self.actor if ev.event not in _BY_THE_PERSON else None)
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        home = self._loop
        if home is not None and loop is not home and not home.is_closed():
            home.call_soon_threadsafe(self._schedule, args)
            return
        if loop is not None:
            self._schedule(args)
            return
        try:
            # A worker thread of the loop (anyio's to_thread, as the UI checks passwords there).
            from_thread.run_sync(self._schedule, args)
        except RuntimeError:
            with self._lock:
                self.pending.append(args)

    def _schedule(self, args: dict[str, Any]) -> None:
        previous = self._chain

        async def write() -> None:
            if previous is not None:
                await asyncio.shield(previous)
            await self._write(args)

        self._chain = asyncio.ensure_future(write())

    async def _write(self, args: dict[str, Any]) -> None:
        if self.store is None:
            return
        try:
            await self.store.note(AUDIT_ID, **args)
        except Exception:
            # The event is still in the UI's own table and log; the audit write is retried never.
            log.exception("account event %s not written to the audit trail", args["action"])

    async def drain(self) -> None:
        """Wait for the writes scheduled so far (tests, shutdown)."""
        if self._chain is not None:
            await asyncio.shield(self._chain)

    async def flush(self, store: Store) -> int:
        """Write the events kept while no loop ran; returns how many."""
        with self._lock:
            pending, self.pending = self.pending, []
        for args in pending:
            await store.note(AUDIT_ID, **args)
        return len(pending)


#: Events caused by the person logging in (their actor is themselves, never the operator).
_BY_THE_PERSON = frozenset(
    {
        "login_success",
        "login_failure",
        "password_ok",
        "mfa_failure",
        "enrol_failure",
        "mfa_enrolled",
        "lockout",
        "sso_login",
        "sso_refused",
    }
)

__all__ = ["AUDIT_ID", "AccountAudit", "note_args"]
