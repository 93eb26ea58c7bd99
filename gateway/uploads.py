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

An approved upload is a pass (:func:`grant`, set by the approving action of
:mod:`gateway.actions`): the proxy calls :func:`redeem` for an upload the policy would hold
back, and the same content from the same user to the same service and tenant passes, as long
and as often as the pass allows.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, Protocol

from gateway.store import InvalidTransition, ItemKind, MessageRecord, State, Store, pass_uses
from policies import Action
from policies.evaluate import DEFAULT_APPROVAL_VALIDITY

log = logging.getLogger(__name__)

#: Decisions a pass can lift: what would hold the upload back for a person to decide. A block
#: is never lifted, and an allowed upload does not use a pass up.
LIFTABLE: frozenset[Action] = frozenset({Action.WARN, Action.HOLD, Action.APPROVAL, Action.QUARANTINE})


#: Display names of the built-in services (the proxy's service modules), Japanese and English;
#: another service shows its host.
SERVICES: dict[str, tuple[str, str]] = {
    "google_drive": ("Google ドライブ", "Google Drive"),
    "box": ("Box", "Box"),
    "microsoft_graph": ("OneDrive / SharePoint", "OneDrive / SharePoint"),
    "dropbox": ("Dropbox", "Dropbox"),
    "slack": ("Slack", "Slack"),
}

#: The one vocabulary of sharing scopes, as people read it.
SHARING: dict[str, tuple[str, str]] = {
    "anyone": ("リンクを知っている全員", "Anyone with the link"),
    "organization": ("組織内のみ", "Organisation only"),
    "specific": ("特定のユーザー", "Specific people"),
}


def duration_text(span: timedelta) -> tuple[str, str]:
    """A validity as people say it.

    >>> duration_text(timedelta(hours=24)), duration_text(timedelta(minutes=90)), duration_text(timedelta(days=2))
    (('24 時間', '24 hours'), ('90 分', '90 minutes'), ('2 日', '2 days'))
    """
    seconds = int(span.total_seconds())
    if seconds % 86400 == 0 and seconds >= 2 * 86400:
        n = seconds // 86400
        return f"{n} 日", f"{n} days"
    if seconds % 3600 == 0:
        n = seconds // 3600
        return f"{n} 時間", f"{n} hour{'s' if n != 1 else ''}"
    n = max(1, seconds // 60)
    return f"{n} 分", f"{n} minute{'s' if n != 1 else ''}"


class UploadNotices(Protocol):
    """What the upload gate asks the notifier to send (``gateway.notify.Notifier`` fits) for an
    upload it held back: to the approvers and the user of one that waits for approval, to the
    user of one they may go on with after a warning."""

    async def upload_held_back(self, rec: MessageRecord, decision: dict[str, Any]) -> None: ...


def pass_terms(rec: MessageRecord) -> tuple[timedelta, int]:
    """How long, and how many times, the same upload passes once ``rec`` is approved: the
    policy's terms (``decision["pass"]``, from the rule's ``valid_for`` and ``uses``), else 24
    hours and once (a release by the security team of an upload quarantined by a rule without
    terms).

    >>> from datetime import UTC
    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> rec = MessageRecord("X", State.HELD, "u@x.jp", (), 1, "", t, t, kind=ItemKind.UPLOAD,
    ...     decision={"action": "warn", "pass": {"valid_for": 900, "uses": 2}})
    >>> pass_terms(rec)
    (datetime.timedelta(seconds=900), 2)
    """
    terms = rec.decision.get("pass")
    if isinstance(terms, dict):
        valid, uses = terms.get("valid_for"), terms.get("uses")
        if isinstance(valid, int) and valid > 0 and isinstance(uses, int) and uses > 0:
            return timedelta(seconds=valid), uses
    return DEFAULT_APPROVAL_VALIDITY, 1


def grant(rec: MessageRecord, *, by: str, now: datetime) -> dict[str, Any]:
    """The changes that make an upload approved: a pass for the same content, user, service
    and tenant until ``expires_at``, with its uses (``meta["pass"]``) and none used yet."""
    valid, uses = pass_terms(rec)
    granted = {"uses": uses, "valid_for": int(valid.total_seconds()), "by": by}
    return {"expires_at": now + valid, "attempts": 0, "meta": {**rec.meta, "pass": granted}}


def lifts(granted: MessageRecord, action: Action) -> bool:
    """Whether the pass ``granted`` lets an upload through that the policy now decides
    ``action`` for: only what a person could decide (:data:`LIFTABLE`), and nothing more severe
    than what the pass was granted over (a "go on" after a warning does not pass an upload that
    now needs approval).

    >>> from datetime import UTC
    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> warned = MessageRecord("X", State.APPROVED, "u@x.jp", (), 1, "", t, t, kind=ItemKind.UPLOAD,
    ...     decision={"action": "warn"})
    >>> lifts(warned, Action.WARN), lifts(warned, Action.APPROVAL), lifts(warned, Action.DELIVER)
    (True, False, False)
    """
    if action not in LIFTABLE:
        return False
    try:
        over = Action(str(granted.decision.get("action") or Action.APPROVAL))
    except ValueError:
        return False
    return action.severity <= over.severity


async def redeem(
    store: Store,
    *,
    user: str,
    sha256: str,
    service: str,
    tenant: str | None,
    action: Action,
    for_item: str = "",
) -> MessageRecord | None:
    """For an upload the policy has just decided ``action`` on: spend one use of a live pass
    for the same content (``sha256``), user, service and tenant, and return the pass after the
    use (its ``meta["pass"]["by"]`` names who granted it); ``None`` when none applies, so the
    decision stands. ``for_item`` (the new upload's id) goes into the pass's audit event.
    Of several instances, no more uploads pass than the uses granted (:meth:`Store.use_pass`)."""
    if action not in LIFTABLE or not user:
        return None
    for granted in await store.passes(user=user, sha256=sha256, service=service, tenant=tenant):
        if not lifts(granted, action):
            continue
        used = await store.use_pass(
            granted.id,
            user=user,
            sha256=sha256,
            service=service,
            tenant=tenant,
            actor="proxy",
            for_item=for_item,
        )
        if used is not None:
            log.info(
                "upload pass %s used (%d of %d) for %s",
                used.id,
                used.attempts,
                pass_uses(used),
                for_item or "-",
            )
            return used
    return None


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


class Decided(Protocol):
    """How the scheduler tells the user that the approval deadline of their upload passed
    (``gateway.notify.Notifier.decided`` fits)."""

    async def decided(
        self, rec: MessageRecord, outcome: str, *, by: str, comment: str = "", expired: bool = False
    ) -> None: ...


async def on_due(store: Store, rec: MessageRecord, notices: Decided | None = None) -> bool:
    """Apply :func:`timer_move` to a due upload; ``True`` if this call moved it (the move is a
    compare-and-set on the state, so of several instances exactly one does). A user whose
    upload was rejected because nobody approved it in time is told."""
    move = timer_move(rec)
    if move is None:
        return False
    to, reason = move
    try:
        done = await store.transition(rec.id, to, actor="scheduler", reason=reason, expect=rec.state)
    except InvalidTransition:
        log.info("%s: already moved on", rec.id)
        return False
    if notices is not None and rec.state is State.PENDING_APPROVAL and to is State.REJECTED:
        try:
            await notices.decided(done, "rejected", by="scheduler", expired=True)
        except Exception:  # a notice must not stop the timers
            log.exception("%s: notice failed", rec.id)
    return True


__all__ = [
    "LIFTABLE",
    "SERVICES",
    "SHARING",
    "Decided",
    "UploadNotices",
    "duration_text",
    "grant",
    "lifts",
    "on_due",
    "pass_terms",
    "redeem",
    "timer_move",
]
