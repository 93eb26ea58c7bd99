"""The one table of what people may do to an item (a message or an upload).

Each row says: which action, on which kind of item, from which state, to which state (or which
audit note it writes, or that it removes the body), who may take it, which notices it sends and
the reason it writes into the audit trail. The queue CLI, the UI's pages, its JSON API and the
signed links in notifications all act through :func:`perform`, so a rule cannot differ between
them. Who *is* the sender, an approver (with delegation) or an admin of a given item is for the
caller to establish (the UI knows sessions and delegations, a signed link names its holder); the
table says which of those roles an action needs.

Roles: ``sender`` (the item's own sender or uploading user), ``approver`` (named on the item, or
acting for someone named by delegation), ``admin`` (a security admin in the UI), ``operator``
(the command line, run by someone with access to the store). Of several roles a person holds, the
first the row lists names them in the audit trail (``approver:<addr>`` before ``admin:<addr>``).

A signed link in a notification takes an action as the person it was sent to. Only rows marked
``(one click)`` work from the link alone: the sender's own cancel and send-now, which undo or hurry
their own mail, and a user's own "go on" after an upload warning. Every other row taken by link (an approver's approve and reject) needs what
``ui.approval_links`` asks for (:class:`LinkAuth`; by default a login that passed the second
factor), so access to a manager's mailbox alone approves nothing.

>>> print(describe(ItemKind.MAIL))  # doctest: +NORMALIZE_WHITESPACE
cancel    held             -> cancelled    sender, operator          cancelled by the sender [cancelled] (one click)
send_now  held             -> delivering   sender                    sender: send now (one click)
justify   pending_approval -> (note)       sender                    sender: approval requested
justify   quarantined      -> (note)       sender                    sender: release requested
approve   pending_approval -> delivering   approver, admin           approved [approved]
reject    pending_approval -> rejected     approver, admin, operator rejected [rejected]
release   held             -> delivering   admin, operator           released by the security team from held [released]
release   pending_approval -> delivering   admin, operator           released by the security team from pending_approval [released]
release   quarantined      -> delivering   admin, operator           released by the security team from quarantined [released]
delete    quarantined      -> deleted      admin, operator           deleted by the security team [deleted]
purge     bounced          -> (body)       operator                  body removed (retention)
purge     cancelled        -> (body)       operator                  body removed (retention)
purge     deleted          -> (body)       operator                  body removed (retention)
purge     delivered        -> (body)       operator                  body removed (retention)
purge     refused          -> (body)       operator                  body removed (retention)
purge     rejected         -> (body)       operator                  body removed (retention)

A download link (``link``) is the sender's to take back, and the security team's::

>>> print(describe(ItemKind.LINK))  # doctest: +NORMALIZE_WHITESPACE
extend    open             -> (expiry)     sender, admin, operator   link extended
shorten   open             -> (expiry)     sender, admin, operator   link shortened
revoke    open             -> revoked      sender, admin, operator   link revoked
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from gateway import uploads
from gateway.links import rules
from gateway.links.service import follow_links
from gateway.store import (
    LIFECYCLE,
    InvalidTransition,
    ItemKind,
    MessageRecord,
    NotFound,
    State,
    Store,
)

#: Comments and justifications are cut to this many characters.
MAX_TEXT = 2000


class Role(StrEnum):
    SENDER = "sender"
    APPROVER = "approver"
    ADMIN = "admin"
    OPERATOR = "operator"


class Notice(StrEnum):
    """Notices an action sends to the item's sender (:meth:`Notices.decided` with this outcome):
    every decision that ends a wait is told, with the decider's comment."""

    APPROVED = "approved"
    RELEASED = "released"
    REJECTED = "rejected"
    DELETED = "deleted"
    #: Only when someone else than the sender cancels (the sender knows what they did).
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Row:
    """One line of the table. Exactly one effect: ``to`` (a transition), ``note`` (an audit
    event that changes no state, with this action name), ``purge`` (the body is removed) or
    ``expiry`` (a link's expiry moves to the time the person gives, later for ``extend``,
    earlier for ``shorten``; see :func:`gateway.links.rules.set_expiry`)."""

    action: str
    kind: ItemKind
    state: State
    roles: tuple[Role, ...]
    reason: str
    to: State | None = None
    note: str | None = None
    purge: bool = False
    expiry: bool = False
    notices: tuple[Notice, ...] = ()
    #: ``send_now``: only while the hold has not ended (the timer would release it anyway).
    before_release: bool = False
    #: What the person's text is recorded as (``comment`` or ``justification``); required if set.
    text: str = "comment"
    text_required: bool = False
    #: A signed link alone may take it (no login): only for what a sender does to their own
    #: mail. Other rows taken by link need ``ui.approval_links`` (:func:`link_auth`).
    one_click: bool = False

    def __post_init__(self) -> None:
        effects = (self.to is not None) + (self.note is not None) + self.purge + self.expiry
        if effects != 1:
            raise ValueError(f"{self.action}: a row has exactly one effect")
        if self.to is not None and self.to not in LIFECYCLE[self.kind].get(self.state, ()):
            raise ValueError(f"{self.action}: {self.state} -> {self.to} is not in the {self.kind} life cycle")
        if self.purge and LIFECYCLE[self.kind].get(self.state):
            raise ValueError(f"{self.action}: only a finished item's body is purged")
        if self.one_click and self.roles[0] is not Role.SENDER:
            raise ValueError(f"{self.action}: only a sender's own action may be one click")

    def why(self, via: str) -> str:
        """The audit reason; a signed link says so."""
        reason = self.reason.format(state=self.state.value)
        return f"{reason} (notification link)" if via == "link" else reason


_S, _R = State, Role
MAIL, UPLOAD, LINK = ItemKind.MAIL, ItemKind.UPLOAD, ItemKind.LINK
_SENDER = (_R.SENDER,)
_APPROVERS = (_R.APPROVER, _R.ADMIN)
_SECURITY = (_R.ADMIN, _R.OPERATOR)
#: The decision of an approver or the security team, per kind: a message goes out, an upload
#: becomes approved (the same content may then pass for a while).
_GRANTED = {MAIL: _S.DELIVERING, UPLOAD: _S.APPROVED}


def _rows() -> tuple[Row, ...]:
    rows: list[Row] = [
        Row(
            "cancel",
            MAIL,
            _S.HELD,
            (_R.SENDER, _R.OPERATOR),
            "cancelled by the sender",
            to=_S.CANCELLED,
            notices=(Notice.CANCELLED,),
            one_click=True,
        ),
        Row(
            "send_now",
            MAIL,
            _S.HELD,
            _SENDER,
            "sender: send now",
            to=_S.DELIVERING,
            before_release=True,
            one_click=True,
        ),
        # Coaching of an upload: the user goes on, saying why.
        Row(
            "proceed",
            UPLOAD,
            _S.HELD,
            _SENDER,
            "user went on after the warning",
            to=_S.APPROVED,
            text="justification",
            text_required=True,
            # The user's own upload: a pass only lets the same user send the same content.
            one_click=True,
        ),
    ]
    for kind in (MAIL, UPLOAD):
        granted = _GRANTED[kind]
        rows += [
            Row(
                "justify",
                kind,
                _S.PENDING_APPROVAL,
                _SENDER,
                "sender: approval requested",
                note="approval_requested",
                text="justification",
                text_required=True,
            ),
            Row(
                "justify",
                kind,
                _S.QUARANTINED,
                _SENDER,
                "sender: release requested",
                note="release_requested",
                text="justification",
                text_required=True,
            ),
            Row(
                "approve",
                kind,
                _S.PENDING_APPROVAL,
                _APPROVERS,
                "approved",
                to=granted,
                notices=(Notice.APPROVED,),
            ),
            Row(
                "reject",
                kind,
                _S.PENDING_APPROVAL,
                (*_APPROVERS, _R.OPERATOR),
                "rejected",
                to=_S.REJECTED,
                notices=(Notice.REJECTED,),
            ),
        ]
        rows += [
            Row(
                "release",
                kind,
                state,
                _SECURITY,
                "released by the security team from {state}",
                to=granted,
                notices=(Notice.RELEASED,),
            )
            for state in (_S.HELD, _S.PENDING_APPROVAL, _S.QUARANTINED)
            if granted in LIFECYCLE[kind][state]
        ]
        rows.append(
            Row(
                "delete",
                kind,
                _S.QUARANTINED,
                _SECURITY,
                "deleted by the security team",
                to=_S.DELETED,
                notices=(Notice.DELETED,),
            )
        )
        rows += [
            Row("purge", kind, state, (_R.OPERATOR,), "body removed (retention)", purge=True)
            for state in sorted(s for s, nxt in LIFECYCLE[kind].items() if not nxt)
        ]
    # A download link: the sender can take it back after sending (a mis-sent mail), and so can
    # the security team.
    takers = (_R.SENDER, _R.ADMIN, _R.OPERATOR)
    rows += [
        Row("extend", LINK, _S.OPEN, takers, "link extended", expiry=True),
        Row("shorten", LINK, _S.OPEN, takers, "link shortened", expiry=True),
        Row("revoke", LINK, _S.OPEN, takers, "link revoked", to=_S.REVOKED),
    ]
    return tuple(rows)


#: The table.
TABLE: tuple[Row, ...] = _rows()
_INDEX: Mapping[tuple[str, ItemKind, State], Row] = {(r.action, r.kind, r.state): r for r in TABLE}
assert len(_INDEX) == len(TABLE), "one row per action, kind and state"
#: Every action's name.
ACTIONS: frozenset[str] = frozenset(r.action for r in TABLE)


def row_for(action: str, kind: ItemKind, state: State) -> Row | None:
    """The row that applies, or ``None`` when the action does not apply to an item in that state."""
    return _INDEX.get((action, kind, state))


def roles_of(action: str, kind: ItemKind) -> frozenset[Role]:
    """Everyone who may take ``action`` on an item of ``kind`` in some state."""
    return frozenset(role for r in TABLE if r.action == action and r.kind is kind for role in r.roles)


def text_field(action: str) -> str:
    """What a person's text for ``action`` is called (the form or JSON field): ``comment`` or
    ``justification``."""
    return next((r.text for r in TABLE if r.action == action), "comment")


def needs_text(action: str, kind: ItemKind) -> bool:
    return any(r.text_required for r in TABLE if r.action == action and r.kind is kind)


def offered(kind: ItemKind, state: State, held: Iterable[Role]) -> tuple[str, ...]:
    """The actions someone holding ``held`` may take on an item now (the buttons to show)."""
    have = frozenset(held)
    return tuple(
        dict.fromkeys(r.action for r in TABLE if r.kind is kind and r.state is state and have & set(r.roles))
    )


def describe(kind: ItemKind) -> str:
    """The table for one kind, one row a line (``sekimori queue actions``, the docs)."""
    lines = []
    order = list(dict.fromkeys(r.action for r in TABLE))
    for r in sorted((r for r in TABLE if r.kind is kind), key=lambda r: (order.index(r.action), r.state)):
        effect = (
            r.to.value if r.to is not None else "(note)" if r.note else "(expiry)" if r.expiry else "(body)"
        )
        who = ", ".join(role.value for role in r.roles)
        notices = f" [{', '.join(r.notices)}]" if r.notices else ""
        click = " (one click)" if r.one_click else ""
        lines.append(
            f"{r.action:<9} {r.state.value:<16} -> {effect:<12} {who:<25} {r.why('')}{notices}{click}"
        )
    return "\n".join(lines)


class LinkAuth(StrEnum):
    """What taking an action through a signed link needs besides the link (``ui.approval_links``)."""

    #: The link alone (whoever can read the mail it was sent in).
    ONE_CLICK = "one_click"
    #: A complete login to the UI as someone who may take the action (password and any second
    #: factor the account has, or single sign-on).
    LOGIN = "login"
    #: A login that passed the second factor (TOTP) in the UI; single sign-on does not count.
    MFA = "mfa"


def link_auth(row: Row, configured: LinkAuth) -> LinkAuth:
    """What a link needs to take ``row``: nothing more for a sender's one-click row, else what
    the configuration asks for.

    >>> link_auth(row_for("cancel", MAIL, _S.HELD), LinkAuth.MFA).value  # type: ignore[arg-type]
    'one_click'
    >>> link_auth(row_for("approve", MAIL, _S.PENDING_APPROVAL), LinkAuth.MFA).value  # type: ignore[arg-type]
    'mfa'
    """
    return LinkAuth.ONE_CLICK if row.one_click else LinkAuth(configured)


class Refused(Exception):
    """The action was not taken. ``code`` is stable (API error codes), ``status`` the HTTP status:
    ``forbidden`` (403: the person may not take it), ``state_changed`` (409: not in this state),
    ``justification_required`` (400), ``not_found`` (404), ``bad_expiry`` (400: a new expiry
    that is past, beyond the longest allowed, or does not extend/shorten)."""

    STATUS: Mapping[str, int] = {
        "forbidden": 403,
        "state_changed": 409,
        "justification_required": 400,
        "not_found": 404,
        "bad_expiry": 400,
    }

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code
        self.status = self.STATUS[code]


@dataclass(frozen=True)
class Actor:
    """Who acts, in which role: ``sender:taro@…``, ``approver:…``, ``admin:…``, ``operator:root``."""

    role: Role
    who: str

    def __str__(self) -> str:
        return f"{self.role.value}:{self.who}"


class Notices(Protocol):
    """What :func:`perform` asks the notifier to send (``gateway.notify.Notifier`` fits)."""

    async def decided(
        self, rec: MessageRecord, outcome: str, *, by: str, comment: str = "", expired: bool = False
    ) -> None: ...


def acting_role(action: str, kind: ItemKind, held: Iterable[Role]) -> Role:
    """The role someone holding ``held`` takes ``action`` in (the first the table lists), or
    :class:`Refused` ``forbidden``."""
    have = frozenset(held)
    for r in TABLE:
        if r.action == action and r.kind is kind:
            for role in r.roles:
                if role in have:
                    return role
    raise Refused("forbidden")


async def perform(
    store: Store,
    rec: MessageRecord,
    action: str,
    actor: Actor,
    *,
    now: datetime,
    via: str,
    text: str = "",
    reason: str | None = None,
    notices: Notices | None = None,
    until: datetime | None = None,
) -> MessageRecord:
    """Take ``action`` on ``rec`` (as read by the caller) as ``actor``, through ``via`` (``web``,
    ``api``, ``link``, ``cli``): one compare-and-set store change with its audit event, then the
    row's notices. ``reason`` replaces the row's audit reason (the operator's ``--reason``);
    ``text`` is the person's comment or justification; ``until`` the new expiry of an
    ``extend``/``shorten``. Raises :class:`Refused`."""
    if actor.role not in roles_of(action, rec.kind):
        raise Refused("forbidden")
    text = text.strip()[:MAX_TEXT]
    if needs_text(action, rec.kind) and not text:
        raise Refused("justification_required")
    row = row_for(action, rec.kind, rec.state)
    if row is None:
        raise Refused("state_changed")
    if actor.role not in row.roles:
        raise Refused("forbidden")
    if row.before_release and rec.release_at is not None and rec.release_at <= now:
        raise Refused("state_changed")
    why = reason or row.why(via)
    extra: dict[str, Any] = {"user": actor.who, "via": via}
    if text:
        extra[row.text] = text
    try:
        if row.note is not None:
            await store.note(rec.id, action=row.note, actor=str(actor), reason=why, extra=extra)
            return rec
        if row.purge:
            return await store.delete_raw(rec.id, actor=str(actor), reason=why)
        if row.expiry:
            if until is None or until.tzinfo is None:
                raise Refused("bad_expiry")
            rule = rules.set_expiry(until, action=row.action, reason=why, extra=extra)
            done, _ = await store.amend(rec.id, rule, actor=str(actor))
            return done
        assert row.to is not None
        changes: dict[str, Any] = {}
        if row.to is State.DELIVERING:
            changes["next_attempt_at"] = now
        elif row.to is State.APPROVED:  # an upload: a pass for the same upload (gateway.uploads)
            changes.update(uploads.grant(rec, by=str(actor), now=now))
        done = await store.transition(
            rec.id, row.to, actor=str(actor), reason=why, expect=rec.state, extra=extra, **changes
        )
    except InvalidTransition:
        raise Refused("state_changed") from None
    except NotFound:
        raise Refused("not_found") from None
    except rules.LinkRefused as exc:
        raise Refused("bad_expiry" if exc.code == "bad_expiry" else "state_changed") from None
    if done.kind is ItemKind.LINK and row.action in ("revoke", "shorten"):
        await follow_links(store, done, actor=str(actor))  # its files kept no longer than needed
    if notices is not None:
        for notice in row.notices:
            if notice is Notice.CANCELLED and actor.role is Role.SENDER:
                continue
            await notices.decided(done, notice.value, by=str(actor), comment=text)
    return done


__all__ = [
    "ACTIONS",
    "MAX_TEXT",
    "TABLE",
    "Actor",
    "LinkAuth",
    "Notice",
    "Notices",
    "Refused",
    "Role",
    "Row",
    "acting_role",
    "describe",
    "link_auth",
    "needs_text",
    "offered",
    "perform",
    "roles_of",
    "row_for",
    "text_field",
]
