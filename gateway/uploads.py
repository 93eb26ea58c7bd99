"""Upload items (``ItemKind.UPLOAD``): what the gateway does with them on its own.

The proxy (``gateway/proxy``) creates them and moves them out of ``received``; everything
after that is an action of a person (approve, reject, release, delete) or a timer. The timers
are here, called by :class:`gateway.scheduler.Scheduler` for the uploads that
:meth:`Store.due` lists:

- ``received`` without a live lease: the proxy that held the request is gone (the client's
  connection went with it), so the upload did not pass: ``refused``.
- ``held`` past ``release_at`` (the user did not go on): ``expired``.
- ``pending_approval`` past ``expires_at``: ``quarantined`` when the decision says
  ``on_timeout: escalate``, else ``rejected`` (as for mail).
- ``approved`` past ``expires_at``: ``expired``.
"""

from __future__ import annotations

import logging

from gateway.store import InvalidTransition, ItemKind, MessageRecord, State, Store

log = logging.getLogger(__name__)


def timer_move(rec: MessageRecord) -> tuple[State, str] | None:
    """Where a due upload goes when its time has come, and the audit reason; ``None`` if it is
    not an upload or its state has no timer.

    >>> from datetime import UTC, datetime
    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> rec = MessageRecord("X", State.APPROVED, "u@x.jp", (), 1, "", t, t, kind=ItemKind.UPLOAD)
    >>> timer_move(rec)
    (<State.EXPIRED: 'expired'>, 'approval validity ended')
    """
    if rec.kind is not ItemKind.UPLOAD:
        return None
    if rec.state is State.RECEIVED:
        return State.REFUSED, "no verdict: the proxy holding the request stopped"
    if rec.state is State.HELD:
        return State.EXPIRED, "the user did not go on within the time allowed"
    if rec.state is State.APPROVED:
        return State.EXPIRED, "approval validity ended"
    if rec.state is State.PENDING_APPROVAL:
        if rec.decision.get("on_timeout") == "escalate":
            return State.QUARANTINED, "approval deadline passed: escalated"
        return State.REJECTED, "approval deadline passed: rejected"
    return None


async def on_due(store: Store, rec: MessageRecord) -> bool:
    """Apply :func:`timer_move` to a due upload; ``True`` if this call moved it (the move is a
    compare-and-set on the state, so of several instances exactly one does)."""
    move = timer_move(rec)
    if move is None:
        return False
    to, reason = move
    try:
        await store.transition(rec.id, to, actor="scheduler", reason=reason, expect=rec.state)
    except InvalidTransition:
        log.info("%s: already moved on", rec.id)
        return False
    return True


__all__ = ["on_due", "timer_move"]
