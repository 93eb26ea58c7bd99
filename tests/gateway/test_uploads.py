"""Upload items on their own: the pass an approval grants (same content, user, service and
tenant; as long and as often as granted), which decisions it lifts, and the timers. On both real
store backends; the store's own atomicity is in the contract suite."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway import actions, uploads
from gateway.actions import Actor, Role
from gateway.store import ItemKind, MessageRecord, SQLiteStore, State, Store, UploadFacts
from gateway.store.redis import RedisStore
from policies import Action

T0 = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
USER = "taro@example.co.jp"
BOSS = Actor(Role.APPROVER, "boss@example.co.jp")
CSV = "氏名,電話\r\n山田太郎,03-1234-5678\r\n".encode()
FACTS = UploadFacts(service="box", host="upload.box.com", filename="顧客.csv", tenant="4711")


@dataclass
class Clock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(params=["sqlite", "redis"])
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[Store, Clock]]:
    clock = Clock()
    if request.param == "sqlite":
        store: Store = await SQLiteStore.open(tmp_path / "var", clock=clock)
    else:
        url = request.getfixturevalue("redis_server").url
        store = await RedisStore.open(url, prefix=f"uploads-{secrets.token_hex(6)}:", clock=clock)
    yield store, clock
    await store.close()


async def _upload(
    store: Store, state: State, *, decision: dict[str, Any], body: bytes = CSV, **changes: Any
) -> MessageRecord:
    rec = await store.accept(
        body,
        kind=ItemKind.UPLOAD,
        sender=USER,
        recipients=(),
        subject=FACTS.filename,
        meta={"upload": FACTS.to_meta()},
        actor="proxy",
    )
    return await store.transition(
        rec.id, state, actor="policy", reason="seed", expect=State.RECEIVED, decision=decision, **changes
    )


APPROVAL = {"action": "approval", "pass": {"valid_for": 86400, "uses": 1}}
WARN = {"action": "warn", "pass": {"valid_for": 3600, "uses": 1}}


async def _redeem(store: Store, rec: MessageRecord, action: Action = Action.APPROVAL, **over: Any) -> Any:
    key: dict[str, Any] = {"user": USER, "sha256": rec.sha256, "service": "box", "tenant": "4711"}
    key.update(over)
    return await uploads.redeem(store, action=action, for_item="NEW", **key)


async def test_approval_grants_a_pass_for_the_same_upload_only(env: tuple[Store, Clock]) -> None:
    store, clock = env
    pending = await _upload(store, State.PENDING_APPROVAL, decision=APPROVAL, approvers=(BOSS.who,))
    approved = await actions.perform(store, pending, "approve", BOSS, now=clock.now, via="web")
    assert approved.state is State.APPROVED
    assert approved.expires_at == T0 + timedelta(hours=24)
    assert approved.meta["pass"] == {"uses": 1, "valid_for": 86400, "by": "approver:boss@example.co.jp"}
    assert approved.upload == FACTS, "the upload's facts stay"
    # Approving never lets a different file or destination through.
    changed = CSV + b"\xe4\xbd\x90\xe8\x97\xa4,090\r\n"
    for other in (
        {"sha256": hashlib.sha256(changed).hexdigest()},
        {"service": "google_drive"},
        {"tenant": "9999"},
        {"tenant": None},
        {"user": "jiro@example.co.jp"},
    ):
        assert await _redeem(store, approved, **other) is None, other
    used = await _redeem(store, approved)
    assert used is not None and used.id == approved.id and used.state is State.EXPIRED
    assert await _redeem(store, approved) is None, "used once, as granted"
    events = [e for e in await store.audit_events(msg_id=approved.id) if e.action == "pass_used"]
    assert [(e.actor, e.extra["for"]) for e in events] == [("proxy", "NEW")]


async def test_a_pass_ends_with_its_validity(env: tuple[Store, Clock]) -> None:
    store, clock = env
    pending = await _upload(
        store, State.PENDING_APPROVAL, decision={**APPROVAL, "pass": {"valid_for": 7200, "uses": 5}}
    )
    approved = await actions.perform(
        store, pending, "approve", Actor(Role.ADMIN, "sec@example.co.jp"), now=clock.now, via="web"
    )
    assert await _redeem(store, approved) is not None
    clock.now = T0 + timedelta(hours=2)
    assert await _redeem(store, approved) is None
    [due] = await store.due(clock.now)
    assert await uploads.on_due(store, due)
    expired = await store.get(approved.id)
    assert expired is not None and expired.state is State.EXPIRED
    [ev] = [e for e in await store.audit_events(msg_id=approved.id) if e.to_state == "expired"]
    assert (ev.actor, ev.reason) == ("scheduler", "approval validity ended")


async def test_coaching_go_on_passes_the_retry_within_its_time(env: tuple[Store, Clock]) -> None:
    store, clock = env
    held = await _upload(store, State.HELD, decision=WARN, release_at=T0 + timedelta(hours=1))
    user = Actor(Role.SENDER, USER)
    with pytest.raises(actions.Refused) as why:
        await actions.perform(store, held, "proceed", user, now=clock.now, via="link")
    assert why.value.code == "justification_required"
    went_on = await actions.perform(
        store, held, "proceed", user, now=clock.now, via="link", text="取引先との契約に基づく送付です"
    )
    assert (went_on.state, went_on.expires_at) == (State.APPROVED, T0 + timedelta(hours=1))
    [ev] = [e for e in await store.audit_events(msg_id=held.id) if e.to_state == "approved"]
    assert ev.extra["justification"] == "取引先との契約に基づく送付です"
    # A "go on" after a warning passes a warning only, never what now needs approval.
    assert await _redeem(store, went_on, Action.APPROVAL) is None
    assert await _redeem(store, went_on, Action.WARN) is not None


@pytest.mark.parametrize("action", [Action.DELIVER, Action.TAG, Action.BLOCK])
async def test_a_pass_lifts_only_what_a_person_could_decide(env: tuple[Store, Clock], action: Action) -> None:
    store, clock = env
    pending = await _upload(store, State.PENDING_APPROVAL, decision=APPROVAL)
    approved = await actions.perform(store, pending, "approve", BOSS, now=clock.now, via="web")
    assert await _redeem(store, approved, action) is None
    again = await store.get(approved.id)
    assert again is not None and again.attempts == 0, "nothing used"


async def test_security_release_grants_the_default_terms(env: tuple[Store, Clock]) -> None:
    store, clock = env
    quarantined = await _upload(store, State.QUARANTINED, decision={"action": "quarantine"})
    released = await actions.perform(
        store, quarantined, "release", Actor(Role.OPERATOR, "root"), now=clock.now, via="cli"
    )
    assert (released.expires_at, released.meta["pass"]["uses"]) == (T0 + timedelta(hours=24), 1)
    assert await _redeem(store, released, Action.QUARANTINE) is not None


async def test_a_rejected_upload_grants_nothing(env: tuple[Store, Clock]) -> None:
    store, clock = env
    pending = await _upload(store, State.PENDING_APPROVAL, decision=APPROVAL)
    rejected = await actions.perform(
        store, pending, "reject", BOSS, now=clock.now, via="web", text="不要です"
    )
    assert rejected.state is State.REJECTED
    assert await _redeem(store, rejected) is None
    # The rejection is in the audit trail: who, from which state, with the approver's comment.
    [event] = [e for e in await store.audit_events(msg_id=pending.id) if e.to_state == "rejected"]
    assert (event.actor, event.from_state, event.extra["comment"]) == (
        f"approver:{BOSS.who}",
        "pending_approval",
        "不要です",
    )
