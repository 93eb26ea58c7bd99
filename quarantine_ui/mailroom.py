"""Who may see and do what with queued mail, over the gateway store.

Every action is one compare-and-set :meth:`Store.transition` (or :meth:`Store.note` for a
justification or comment that changes no state), so it lands in the hash-chained audit trail with
the acting user (``sender:<addr>``, ``approver:<addr>``, ``admin:<addr>``) and ``extra.user``.

Access is decided here, once, for pages, API and links alike: a sender reaches only messages whose
envelope sender is their address; an approver only messages that name them (or someone who
delegated to them, until the delegation ends) as approver; a security admin every message. A
message someone may not see is reported exactly like one that does not exist (404), so ids cannot
be probed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from gateway.store import InvalidTransition, MessageRecord, NotFound, State, Store
from policies import PolicyHolder
from quarantine_ui.accounts import User
from quarantine_ui.actions import ActionResult, HeldMessage
from quarantine_ui.db import Database
from quarantine_ui.mailview import MessageView, build_view

#: Notifications and bounces the relay sends itself; never shown as anyone's mail.
OWN_KINDS = frozenset({"notification", "dsn"})
SENDER_STATES = (
    State.HELD,
    State.PENDING_APPROVAL,
    State.QUARANTINED,
    State.REFUSED,
    State.REJECTED,
    State.CANCELLED,
    State.DELIVERING,
    State.DEFERRED,
    State.DELIVERED,
    State.BOUNCED,
    State.DELETED,
)
#: The queues a security admin works on.
ADMIN_QUEUES = (State.QUARANTINED, State.PENDING_APPROVAL, State.HELD, State.DEFERRED)
MAX_TEXT = 2000
LIST_LIMIT = 500


class MailError(Exception):
    """An action refused: ``code`` is stable (API), ``status`` the HTTP status."""

    def __init__(self, status: int, code: str) -> None:
        super().__init__(code)
        self.status = status
        self.code = code


class Notifications(Protocol):
    """What the UI asks the relay's notifier to send (``gateway.notify.Notifier`` fits)."""

    async def rejected(self, rec: MessageRecord, decision: dict[str, Any], reason: str) -> None: ...


@dataclass(frozen=True)
class Delegation:
    id: int
    from_address: str
    to_address: str
    until: float


def _lower(address: str) -> str:
    return address.strip().lower()


class Mailroom:
    def __init__(
        self,
        store: Store,
        db: Database,
        *,
        clock: Callable[[], float],
        policy: PolicyHolder | None = None,
        notifier: Notifications | None = None,
    ) -> None:
        self.store = store
        self.db = db
        self.clock = clock
        self.policy = policy
        self.notifier = notifier

    # -- helpers -----------------------------------------------------------------------------

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def is_internal(self, address: str) -> bool:
        if self.policy is None:
            return False
        self.policy.reload_if_changed()
        return bool(self.policy.current.is_internal(address))

    @staticmethod
    def visible(rec: MessageRecord) -> bool:
        return rec.meta.get("kind") not in OWN_KINDS

    # -- delegation --------------------------------------------------------------------------

    def delegate(self, from_address: str, to_address: str, until: float) -> Delegation:
        if until <= self.clock():
            raise MailError(400, "bad_delegation")
        a, b = _lower(from_address), _lower(to_address)
        if a == b or "@" not in b:
            raise MailError(400, "bad_delegation")
        with self.db.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO delegations (from_address, to_address, until, created) VALUES (?, ?, ?, ?)",
                (a, b, until, self.clock()),
            )
            row_id = int(cur.lastrowid or 0)
        return Delegation(row_id, a, b, until)

    def end_delegation(self, from_address: str, delegation_id: int) -> bool:
        with self.db.transaction() as conn:
            cur = conn.execute(
                "DELETE FROM delegations WHERE id = ? AND from_address = ?",
                (delegation_id, _lower(from_address)),
            )
            return cur.rowcount > 0

    def delegations(self, address: str) -> tuple[list[Delegation], list[Delegation]]:
        """(given by ``address``, given to ``address``), both only while in force."""
        a = _lower(address)
        now = self.clock()
        with self.db.lock:
            rows = self.db.conn.execute(
                "SELECT * FROM delegations WHERE (from_address = ? OR to_address = ?) AND until > ?"
                " ORDER BY until",
                (a, a, now),
            ).fetchall()
        items = [Delegation(r["id"], r["from_address"], r["to_address"], r["until"]) for r in rows]
        return [d for d in items if d.from_address == a], [d for d in items if d.to_address == a]

    def approver_scope(self, address: str) -> frozenset[str]:
        """``address`` and everyone whose approvals it currently handles by delegation."""
        _, received = self.delegations(address)
        return frozenset({_lower(address), *(d.from_address for d in received)})

    # -- reading -----------------------------------------------------------------------------

    def may_see(self, user: User, rec: MessageRecord) -> bool:
        if not self.visible(rec):
            return "security_admin" in user.roles
        if "security_admin" in user.roles:
            return True
        if "sender" in user.roles and _lower(rec.sender) == user.address:
            return True
        if "approver" in user.roles:
            scope = self.approver_scope(user.address)
            return any(_lower(a) in scope for a in rec.approvers)
        return False

    async def record_for(self, user: User, msg_id: str) -> MessageRecord:
        rec = await self.store.get(msg_id) if 0 < len(msg_id) <= 200 else None
        if rec is None or not self.may_see(user, rec):
            raise MailError(404, "not_found")
        return rec

    async def notes(self, msg_id: str) -> tuple[tuple[datetime, str, str], ...]:
        out: list[tuple[datetime, str, str]] = []
        for ev in await self.store.audit_events(msg_id=msg_id, limit=1000):
            text = ev.extra.get("comment") or ev.extra.get("justification")
            if isinstance(text, str) and text:
                out.append((ev.at, str(ev.extra.get("user") or ev.actor), text))
        return tuple(out)

    async def view(self, rec: MessageRecord, lang: str) -> MessageView:
        return build_view(rec, lang=lang, is_internal=self.is_internal, notes=await self.notes(rec.id))

    async def sender_messages(self, user: User) -> list[MessageRecord]:
        recs = await self.store.list_messages(states=SENDER_STATES, sender=user.address, limit=LIST_LIMIT)
        return [r for r in recs if self.visible(r)]

    async def approvals(self, user: User, *, decided: bool = False) -> list[MessageRecord]:
        scope = self.approver_scope(user.address)
        states = (
            (State.PENDING_APPROVAL,) if not decided else (State.REJECTED, State.DELIVERED, State.DELIVERING)
        )
        recs = await self.store.list_messages(states=states, limit=LIST_LIMIT)
        return [r for r in recs if self.visible(r) and any(_lower(a) in scope for a in r.approvers)]

    async def queue(self, states: Iterable[State], limit: int = LIST_LIMIT) -> list[MessageRecord]:
        recs = await self.store.list_messages(states=list(states), limit=limit)
        return [r for r in recs if self.visible(r)]

    # -- acting ------------------------------------------------------------------------------

    async def _move(
        self,
        rec: MessageRecord,
        to: State,
        *,
        expect: State | tuple[State, ...],
        actor: str,
        user: str,
        reason: str,
        via: str,
        comment: str = "",
    ) -> MessageRecord:
        extra: dict[str, Any] = {"user": user, "via": via}
        if comment:
            extra["comment"] = comment[:MAX_TEXT]
        try:
            return await self.store.transition(
                rec.id, to, actor=actor, reason=reason, expect=expect, extra=extra
            )
        except InvalidTransition:
            raise MailError(409, "state_changed") from None
        except NotFound:
            raise MailError(404, "not_found") from None

    def _as_sender(self, user: User, rec: MessageRecord) -> None:
        if _lower(rec.sender) != user.address:
            raise MailError(404, "not_found") if not self.may_see(user, rec) else MailError(403, "forbidden")

    def _as_approver(self, user: User, rec: MessageRecord) -> str:
        """The approver role the user acts in: ``approver`` (named or delegated) or ``admin``."""
        scope = self.approver_scope(user.address) if "approver" in user.roles else frozenset()
        if any(_lower(a) in scope for a in rec.approvers):
            return "approver"
        if "security_admin" in user.roles:
            return "admin"
        raise MailError(404, "not_found") if not self.may_see(user, rec) else MailError(403, "forbidden")

    async def cancel(self, user: User, msg_id: str, via: str = "web") -> MessageRecord:
        rec = await self.record_for(user, msg_id)
        self._as_sender(user, rec)
        if rec.state is not State.HELD:
            raise MailError(409, "state_changed")
        return await self._move(
            rec,
            State.CANCELLED,
            expect=State.HELD,
            actor=f"sender:{user.address}",
            user=user.address,
            reason="cancelled by the sender",
            via=via,
        )

    async def send_now(self, user: User, msg_id: str, via: str = "web") -> MessageRecord:
        rec = await self.record_for(user, msg_id)
        self._as_sender(user, rec)
        if rec.state is not State.HELD or (rec.release_at is not None and rec.release_at <= self.now()):
            raise MailError(409, "state_changed")
        return await self._move(
            rec,
            State.DELIVERING,
            expect=State.HELD,
            actor=f"sender:{user.address}",
            user=user.address,
            reason="sender: send now",
            via=via,
        )

    async def justify(self, user: User, msg_id: str, text: str, via: str = "web") -> None:
        """The sender asks for approval (a message pending approval) or release (a quarantined
        one) and says why; approvers and the security team see it."""
        rec = await self.record_for(user, msg_id)
        self._as_sender(user, rec)
        text = text.strip()
        if not text:
            raise MailError(400, "justification_required")
        if rec.state not in (State.PENDING_APPROVAL, State.QUARANTINED):
            raise MailError(409, "state_changed")
        action = "approval_requested" if rec.state is State.PENDING_APPROVAL else "release_requested"
        await self.store.note(
            rec.id,
            action=action,
            actor=f"sender:{user.address}",
            reason=f"sender: {action.replace('_', ' ')}",
            extra={"user": user.address, "via": via, "justification": text[:MAX_TEXT]},
        )

    async def approve(self, user: User, msg_id: str, comment: str = "", via: str = "web") -> MessageRecord:
        rec = await self.record_for(user, msg_id)
        role = self._as_approver(user, rec)
        if rec.state is not State.PENDING_APPROVAL:
            raise MailError(409, "state_changed")
        return await self._move(
            rec,
            State.DELIVERING,
            expect=State.PENDING_APPROVAL,
            actor=f"{role}:{user.address}",
            user=user.address,
            reason="approved",
            via=via,
            comment=comment.strip(),
        )

    async def reject(self, user: User, msg_id: str, comment: str = "", via: str = "web") -> MessageRecord:
        rec = await self.record_for(user, msg_id)
        role = self._as_approver(user, rec)
        if rec.state is not State.PENDING_APPROVAL:
            raise MailError(409, "state_changed")
        done = await self._move(
            rec,
            State.REJECTED,
            expect=State.PENDING_APPROVAL,
            actor=f"{role}:{user.address}",
            user=user.address,
            reason="rejected",
            via=via,
            comment=comment.strip(),
        )
        await self._tell_rejected(done, comment.strip())
        return done

    async def _tell_rejected(self, rec: MessageRecord, comment: str) -> None:
        if self.notifier is not None:
            reason = comment or "承認者が却下しました / the approver rejected it"
            await self.notifier.rejected(rec, dict(rec.decision), reason)

    def _admin(self, user: User) -> None:
        if "security_admin" not in user.roles:
            raise MailError(403, "forbidden")

    async def release(self, user: User, msg_id: str, comment: str = "", via: str = "web") -> MessageRecord:
        self._admin(user)
        rec = await self.record_for(user, msg_id)
        if rec.state not in (State.QUARANTINED, State.PENDING_APPROVAL, State.HELD):
            raise MailError(409, "state_changed")
        return await self._move(
            rec,
            State.DELIVERING,
            expect=rec.state,
            actor=f"admin:{user.address}",
            user=user.address,
            reason=f"released by the security team from {rec.state.value}",
            via=via,
            comment=comment.strip(),
        )

    async def delete(self, user: User, msg_id: str, comment: str = "", via: str = "web") -> MessageRecord:
        self._admin(user)
        rec = await self.record_for(user, msg_id)
        if rec.state is not State.QUARANTINED:
            raise MailError(409, "state_changed")
        return await self._move(
            rec,
            State.DELETED,
            expect=State.QUARANTINED,
            actor=f"admin:{user.address}",
            user=user.address,
            reason="deleted by the security team",
            via=via,
            comment=comment.strip(),
        )

    async def bulk(
        self, user: User, action: str, ids: list[str], comment: str = "", via: str = "web"
    ) -> dict[str, str]:
        """Release or delete many messages; the outcome per id (``done`` or an error code)."""
        self._admin(user)
        act = {"release": self.release, "delete": self.delete}.get(action)
        if act is None:
            raise MailError(400, "bad_request")
        out: dict[str, str] = {}
        for msg_id in dict.fromkeys(ids):
            try:
                await act(user, msg_id, comment, via)
                out[msg_id] = "done"
            except MailError as exc:
                out[msg_id] = exc.code
        return out

    # -- signed links (quarantine_ui.actions.MessageActions) --------------------------------

    def _link_allowed(self, rec: MessageRecord, action: str, actor: str) -> bool:
        kind, _, address = actor.partition(":")
        if action in ("cancel", "send_now"):
            return kind == "sender" and _lower(address) == _lower(rec.sender) and rec.state is State.HELD
        if action in ("approve", "reject"):
            scope = self.approver_scope(address)
            return (
                kind == "approver"
                and any(_lower(a) in scope for a in rec.approvers)
                and rec.state is State.PENDING_APPROVAL
            )
        return False

    async def link_target(self, message_id: str, action: str, actor: str) -> HeldMessage | None:
        rec = await self.store.get(message_id)
        if rec is None or not self._link_allowed(rec, action, actor):
            return None
        release = rec.release_at.timestamp() if rec.release_at and rec.state is State.HELD else None
        return HeldMessage(rec.id, rec.sender, rec.subject, rec.recipients, release)

    async def link_act(self, message_id: str, action: str, actor: str, comment: str) -> ActionResult:
        rec = await self.store.get(message_id)
        if rec is None:
            return ActionResult.UNKNOWN
        if not self._link_allowed(rec, action, actor):
            return ActionResult.NOT_HELD
        address = actor.partition(":")[2]
        moves = {
            "cancel": (State.CANCELLED, State.HELD, "cancelled by the sender (notification link)"),
            "send_now": (State.DELIVERING, State.HELD, "sender: send now (notification link)"),
            "approve": (State.DELIVERING, State.PENDING_APPROVAL, "approved (notification link)"),
            "reject": (State.REJECTED, State.PENDING_APPROVAL, "rejected (notification link)"),
        }
        to, expect, reason = moves[action]
        if action == "send_now" and rec.release_at is not None and rec.release_at <= self.now():
            return ActionResult.NOT_HELD
        try:
            done = await self._move(
                rec, to, expect=expect, actor=actor, user=address, reason=reason, via="link", comment=comment
            )
        except MailError:
            return ActionResult.NOT_HELD
        if action == "reject":
            await self._tell_rejected(done, comment.strip())
        return ActionResult.DONE
