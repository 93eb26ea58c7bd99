"""The one table of actions: its rows agree with the life cycles, and :func:`perform` does what a
row says (and nothing when it does not apply), for messages and uploads, on a real store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway import actions
from gateway.actions import TABLE, Actor, Refused, Role, perform, row_for
from gateway.store import LIFECYCLE, ItemKind, MessageRecord, SQLiteStore, State, Store

NOW = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
SENDER = Actor(Role.SENDER, "taro@example.co.jp")
BOSS = Actor(Role.APPROVER, "boss@example.co.jp")
ADMIN = Actor(Role.ADMIN, "sec@example.co.jp")
OPERATOR = Actor(Role.OPERATOR, "root")


class Recorder:
    """What the notifier is asked to send (the table's notices)."""

    def __init__(self) -> None:
        self.told: list[tuple[str, str, str, str]] = []

    async def decided(
        self, rec: MessageRecord, outcome: str, *, by: str, comment: str = "", expired: bool = False
    ) -> None:
        self.told.append((rec.id, outcome, by, comment))


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await SQLiteStore.open(tmp_path / "var", clock=lambda: NOW)
    yield s
    await s.close()


async def _item(store: Store, kind: ItemKind, *path: State, **changes: Any) -> MessageRecord:
    rec = await store.accept(b"x\r\n", kind=kind, sender=SENDER.who, recipients=(), subject="s")
    for step in path:
        rec = await store.transition(rec.id, step, actor="policy", reason="seed", **changes)
    return rec


def test_every_row_is_a_step_of_its_life_cycle_and_never_delivers_an_upload() -> None:
    for row in TABLE:
        if row.to is not None:
            assert row.to in LIFECYCLE[row.kind][row.state], row
        if row.kind is ItemKind.UPLOAD:
            assert row.to is not State.DELIVERING, row


def test_who_may_do_what() -> None:
    """The separation of duties the table encodes, stated once more as a property."""
    for row in TABLE:
        if row.action in ("approve", "reject", "release", "delete"):
            assert Role.SENDER not in row.roles, row
        if row.action in ("cancel", "send_now", "justify", "proceed"):
            assert set(row.roles) <= {Role.SENDER, Role.OPERATOR}, row
        if row.purge:
            assert row.roles == (Role.OPERATOR,), row


def test_rows_raise_on_a_step_outside_the_life_cycle() -> None:
    with pytest.raises(ValueError, match="life cycle"):
        actions.Row(
            "approve", ItemKind.UPLOAD, State.PENDING_APPROVAL, (Role.APPROVER,), "r", to=State.DELIVERING
        )
    with pytest.raises(ValueError, match="exactly one effect"):
        actions.Row("x", ItemKind.MAIL, State.HELD, (Role.SENDER,), "r")


@pytest.mark.parametrize(
    ("kind", "path", "action", "actor", "to"),
    [
        (ItemKind.MAIL, (State.HELD,), "cancel", SENDER, State.CANCELLED),
        (ItemKind.MAIL, (State.HELD,), "send_now", SENDER, State.DELIVERING),
        (ItemKind.MAIL, (State.PENDING_APPROVAL,), "approve", BOSS, State.DELIVERING),
        (ItemKind.MAIL, (State.QUARANTINED,), "release", ADMIN, State.DELIVERING),
        (ItemKind.MAIL, (State.QUARANTINED,), "delete", OPERATOR, State.DELETED),
        (ItemKind.UPLOAD, (State.PENDING_APPROVAL,), "approve", BOSS, State.APPROVED),
        (ItemKind.UPLOAD, (State.PENDING_APPROVAL,), "reject", ADMIN, State.REJECTED),
        (ItemKind.UPLOAD, (State.QUARANTINED,), "release", OPERATOR, State.APPROVED),
        (ItemKind.UPLOAD, (State.QUARANTINED,), "delete", ADMIN, State.DELETED),
    ],
)
async def test_a_row_moves_the_item_and_audits_who_and_why(
    store: Store, kind: ItemKind, path: tuple[State, ...], action: str, actor: Actor, to: State
) -> None:
    rec = await _item(store, kind, *path, release_at=NOW + timedelta(minutes=5))
    done = await perform(store, rec, action, actor, now=NOW, via="web", text="  見ました  ")
    assert done.state is to
    last = (await store.audit_events(msg_id=rec.id))[-1]
    row = row_for(action, kind, path[-1])
    assert row is not None
    assert (last.actor, last.reason) == (str(actor), row.why("web"))
    told = {k: v for k, v in last.extra.items() if k != "facts"}  # digests of the facts it set
    assert told == {"user": actor.who, "via": "web", "comment": "見ました"}


async def test_reject_tells_the_sender_once_with_the_comment(store: Store) -> None:
    told = Recorder()
    rec = await _item(store, ItemKind.MAIL, State.PENDING_APPROVAL)
    await perform(store, rec, "reject", OPERATOR, now=NOW, via="cli", text="宛先違い", notices=told)
    assert told.told == [(rec.id, "rejected", "operator:root", "宛先違い")]
    other = await _item(store, ItemKind.MAIL, State.PENDING_APPROVAL)
    await perform(store, other, "reject", BOSS, now=NOW, via="link", notices=told)
    assert told.told[-1] == (other.id, "rejected", f"approver:{BOSS.who}", "")
    assert (await store.audit_events(msg_id=other.id))[-1].reason == "rejected (notification link)"


@pytest.mark.parametrize(
    ("path", "action", "actor", "outcome"),
    [
        ((State.PENDING_APPROVAL,), "approve", BOSS, "approved"),
        ((State.PENDING_APPROVAL,), "release", ADMIN, "released"),
        ((State.QUARANTINED,), "release", ADMIN, "released"),
        ((State.HELD,), "release", OPERATOR, "released"),
        ((State.QUARANTINED,), "delete", ADMIN, "deleted"),
        ((State.HELD,), "cancel", OPERATOR, "cancelled"),
        ((State.HELD,), "cancel", SENDER, None),  # the sender knows what they did
        ((State.HELD,), "send_now", SENDER, None),
    ],
)
async def test_every_decision_that_ends_a_wait_tells_the_sender(
    store: Store, path: tuple[State, ...], action: str, actor: Actor, outcome: str | None
) -> None:
    told = Recorder()
    rec = await _item(store, ItemKind.MAIL, *path)
    await perform(store, rec, action, actor, now=NOW, via="web", text="確認済み", notices=told)
    assert told.told == ([(rec.id, outcome, str(actor), "確認済み")] if outcome else [])


@pytest.mark.parametrize(
    ("path", "action", "actor", "code"),
    [
        ((State.HELD,), "approve", SENDER, "forbidden"),  # nobody approves their own mail
        ((State.PENDING_APPROVAL,), "cancel", SENDER, "state_changed"),
        ((State.HELD,), "release", BOSS, "forbidden"),
        ((State.PENDING_APPROVAL,), "justify", SENDER, "justification_required"),
        ((State.DELIVERING,), "purge", OPERATOR, "state_changed"),
        ((State.QUARANTINED,), "purge", ADMIN, "forbidden"),
    ],
)
async def test_a_refused_action_changes_nothing(
    store: Store, path: tuple[State, ...], action: str, actor: Actor, code: str
) -> None:
    rec = await _item(store, ItemKind.MAIL, *path)
    before = await store.audit_events(msg_id=rec.id)
    with pytest.raises(Refused) as err:
        await perform(store, rec, action, actor, now=NOW, via="web")
    assert err.value.code == code
    assert await store.get(rec.id) == rec
    assert await store.audit_events(msg_id=rec.id) == before


async def test_send_now_only_before_the_hold_ends(store: Store) -> None:
    rec = await _item(store, ItemKind.MAIL, State.HELD, release_at=NOW)
    with pytest.raises(Refused, match="state_changed"):
        await perform(store, rec, "send_now", SENDER, now=NOW, via="web")


async def test_a_stale_read_is_refused_by_the_store(store: Store) -> None:
    rec = await _item(store, ItemKind.MAIL, State.HELD)
    await perform(store, rec, "cancel", SENDER, now=NOW, via="web")
    with pytest.raises(Refused, match="state_changed"):
        await perform(store, rec, "cancel", SENDER, now=NOW, via="link")  # rec is the old read


async def test_justify_writes_a_note_and_proceed_approves_a_coached_upload(store: Store) -> None:
    rec = await _item(store, ItemKind.UPLOAD, State.QUARANTINED)
    same = await perform(store, rec, "justify", SENDER, now=NOW, via="api", text="取引先に必要")
    assert same.state is State.QUARANTINED
    last = (await store.audit_events(msg_id=rec.id))[-1]
    assert (last.action, last.extra["justification"]) == ("release_requested", "取引先に必要")
    coached = await _item(store, ItemKind.UPLOAD, State.HELD)
    done = await perform(store, coached, "proceed", SENDER, now=NOW, via="web", text="業務で必要")
    assert done.state is State.APPROVED


def test_offered_lists_the_buttons_of_a_role() -> None:
    assert actions.offered(ItemKind.MAIL, State.HELD, {Role.SENDER}) == ("cancel", "send_now")
    assert actions.offered(ItemKind.MAIL, State.PENDING_APPROVAL, {Role.ADMIN}) == (
        "approve",
        "reject",
        "release",
    )
    assert actions.offered(ItemKind.UPLOAD, State.PENDING_APPROVAL, {Role.SENDER}) == ("justify",)
    assert actions.offered(ItemKind.MAIL, State.DELIVERED, {Role.SENDER, Role.ADMIN}) == ()


def test_only_a_sender_s_own_actions_are_one_click_links() -> None:
    one_click = {(r.action, r.kind, r.state) for r in TABLE if r.one_click}
    assert one_click == {
        ("cancel", ItemKind.MAIL, State.HELD),
        ("send_now", ItemKind.MAIL, State.HELD),
        ("proceed", ItemKind.UPLOAD, State.HELD),
    }
    with pytest.raises(ValueError, match="only a sender's own action may be one click"):
        actions.Row(
            "approve",
            ItemKind.MAIL,
            State.PENDING_APPROVAL,
            (Role.APPROVER,),
            "r",
            to=State.DELIVERING,
            one_click=True,
        )


@pytest.mark.parametrize("configured", list(actions.LinkAuth))
def test_what_a_link_needs_besides_itself(configured: actions.LinkAuth) -> None:
    for row in TABLE:
        need = actions.link_auth(row, configured)
        if row.one_click:
            assert need is actions.LinkAuth.ONE_CLICK, row
        else:
            assert need is configured, row
    # An approver's decision by link needs the configured login (by default: with TOTP).
    approve = row_for("approve", ItemKind.MAIL, State.PENDING_APPROVAL)
    assert approve is not None and actions.link_auth(approve, configured) is configured
    assert "(one click)" in actions.describe(ItemKind.MAIL).splitlines()[0]
