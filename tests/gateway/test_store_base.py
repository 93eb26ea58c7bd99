"""The store's rules as pure functions (``gateway/store/base.py``): what a write decides, before
any backend persists it. The contract suite runs the same rules through both real backends."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections import OrderedDict
from datetime import UTC, datetime, timedelta

import pytest

from gateway.store import InvalidTransition, ItemKind, MessageRecord, State
from gateway.store.base import (
    FACT_FIELDS,
    FACTS_KEY,
    Plan,
    _replaced,
    canonical_json,
    changed_facts,
    decode_record,
    encode_record,
    is_due,
    plan_accept,
    plan_claim,
    plan_purge,
    plan_recover,
    plan_replace,
    plan_transition,
    reads_back_as_itself,
    record_facts,
)

T = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


def _rec(state: State = State.RECEIVED, **kw: object) -> MessageRecord:
    base = MessageRecord(
        id="01ID",
        state=state,
        sender="Taro@Example.co.jp",
        recipients=("a@Partner.Example.", "b@partner.example", "c@other.example"),
        size=10,
        sha256="ab" * 32,
        received_at=T,
        updated_at=T,
    )
    return dataclasses.replace(base, **kw)  # type: ignore[arg-type]


def _move(rec: MessageRecord, to: State, **kw: object) -> Plan:
    args: dict[str, object] = {
        "actor": "t",
        "reason": "r",
        "expect": None,
        "owner": None,
        "lease": 60.0,
        "extra": None,
        "changes": {},
        "now": T,
    }
    args.update(kw)
    return plan_transition(rec, to, **args)  # type: ignore[arg-type]


def test_records_survive_their_stored_form() -> None:
    rec = _rec(
        State.HELD,
        release_at=T + timedelta(minutes=5),
        decision={"action": "hold"},
        approvers=("boss@x.jp",),
        meta={"upload": {"service": "box"}},
        owner="gw",
        lease_until=T,
        kind=ItemKind.UPLOAD,
    )
    assert decode_record(encode_record(rec)) == rec
    as_redis = {k: "" if v is None else str(v) for k, v in encode_record(rec).items()}
    assert decode_record(as_redis) == rec
    del as_redis["kind"]  # written before items had kinds
    assert decode_record(as_redis).kind is ItemKind.MAIL


def test_a_record_with_empty_fields_survives_its_stored_form_with_its_types() -> None:
    # Empty lists and mappings are written and read without the JSON codec: the same forms.
    rec = _rec(recipients=(), approvers=(), decision={}, scan={}, meta={}, owner=None)
    stored = encode_record(rec)
    assert (stored["recipients"], stored["approvers"], stored["decision"], stored["scan"]) == (
        "[]",
        "[]",
        "{}",
        "{}",
    )
    back = decode_record(stored)
    assert back == rec and repr(back) == repr(rec)
    assert type(back.state) is State and type(back.kind) is ItemKind and type(back.recipients) is tuple


def test_a_delivery_records_each_domain_once_and_a_refusal_drops_the_body() -> None:
    done = _move(_rec(State.DELIVERING), State.DELIVERED)
    assert done.correspondents == (
        ("taro@example.co.jp", "other.example"),
        ("taro@example.co.jp", "partner.example"),
    )
    assert done.drop_body is None
    refused = _move(_rec(), State.REFUSED)
    assert refused.drop_body == "ab" * 32 and not refused.record.has_raw
    assert refused.correspondents == ()


def test_a_transition_checks_expectation_then_life_cycle_then_fields() -> None:
    with pytest.raises(InvalidTransition, match="expected held"):
        _move(_rec(), State.DELIVERING, expect=State.HELD)
    with pytest.raises(InvalidTransition, match=r"\(upload\)"):
        _move(_rec(kind=ItemKind.UPLOAD), State.DELIVERING)
    with pytest.raises(TypeError, match="cannot change"):
        _move(_rec(), State.DELIVERING, changes={"sender": "x"})
    with pytest.raises(TypeError, match="timezone-aware"):
        _move(_rec(), State.HELD, changes={"release_at": datetime(2026, 1, 1)})
    owned = _move(_rec(), State.DELIVERING, owner="gw")
    assert owned.record.lease_until == T + timedelta(seconds=60)


@pytest.mark.parametrize(
    ("owner", "lease_until", "claimer", "wins"),
    [
        (None, None, "b", True),
        ("a", T + timedelta(seconds=1), "b", False),  # a live lease of someone else
        ("a", T + timedelta(seconds=1), "a", True),  # renewing one's own
        ("a", T, "b", True),  # expired exactly now
    ],
)
def test_the_lease_rule_of_claim_and_recover(
    owner: str | None, lease_until: datetime | None, claimer: str, wins: bool
) -> None:
    rec = _rec(State.DELIVERING, owner=owner, lease_until=lease_until)
    claim = plan_claim(
        rec, owner=claimer, from_states=State.DELIVERING, to=None, actor="d", reason="r", lease=30, now=T
    )
    assert (claim is not None) is wins
    assert (plan_recover(rec, owner=claimer, lease=30, now=T) is not None) is wins
    assert is_due(rec, T) is (owner is None or (lease_until is not None and lease_until <= T))


@pytest.mark.parametrize(
    ("state", "field", "due"),
    [
        (State.HELD, "release_at", True),
        (State.DEFERRED, "next_attempt_at", True),
        (State.PENDING_APPROVAL, "expires_at", True),
        (State.APPROVED, "expires_at", True),
        (State.QUARANTINED, "expires_at", False),  # no timer in this state
        (State.DELIVERED, "release_at", False),
    ],
)
def test_is_due_by_the_timer_of_the_state(state: State, field: str, due: bool) -> None:
    assert is_due(_rec(state, **{field: T}), T) is due
    assert not is_due(_rec(state, **{field: T + timedelta(seconds=1)}), T)
    assert not is_due(_rec(state), T)


def test_bodies_change_only_while_kept_and_go_only_when_finished() -> None:
    with pytest.raises(InvalidTransition):
        plan_replace(_rec(State.DELIVERED), sha256="cd" * 32, size=1, actor="p", reason="r", now=T)
    replaced = plan_replace(_rec(State.RECEIVED), sha256="cd" * 32, size=1, actor="p", reason="r", now=T)
    assert replaced.drop_body == "ab" * 32 and replaced.record.sha256 == "cd" * 32
    with pytest.raises(InvalidTransition):
        plan_purge(_rec(State.HELD), actor="o", reason="r", now=T)
    assert plan_purge(_rec(State.DELIVERED, has_raw=False), actor="o", reason="r", now=T) is None
    purged = plan_purge(_rec(State.DELIVERED), actor="o", reason="r", now=T)
    assert purged is not None and purged.drop_body == "ab" * 32 and purged.event is not None


def test_accept_owns_the_new_item_for_its_lease() -> None:
    plan = plan_accept(
        "01NEW",
        kind=ItemKind.UPLOAD,
        sender="u@x.jp",
        recipients=(),
        subject="a.csv",
        meta=None,
        owner="proxy",
        lease=10,
        actor="proxy",
        size=3,
        sha256="ef" * 32,
        now=T,
    )
    assert (plan.record.kind, plan.record.owner, plan.record.lease_until) == (
        ItemKind.UPLOAD,
        "proxy",
        T + timedelta(seconds=10),
    )
    assert plan.event is not None and (plan.event.action, plan.event.actor) == ("accept", "proxy")


@pytest.mark.parametrize(
    ("start", "to", "kw"),
    [
        (
            State.RECEIVED,
            State.DELIVERING,
            {"decision": {"action": "deliver", "rules": ["r1"]}, "scan": {"findings": [{"type": "個人名"}]}},
        ),
        (
            State.RECEIVED,
            State.HELD,
            {"release_at": T + timedelta(minutes=5), "meta": {"client": "1", "new": ["x"]}},
        ),
        (State.DELIVERING, State.DELIVERED, {"attempts": 1, "last_error": "", "meta": {}}),
        (State.DELIVERING, State.DELIVERED, {"attempts": 0, "meta": {"client": "1", "gone": 2.0}}),
        # Keys that are no strings read back as strings, in another order: digested as read back.
        (State.RECEIVED, State.QUARANTINED, {"decision": {"counts": {9: 1, 10: 2}}, "scan": {"n": (1, 2)}}),
        (
            State.DELIVERING,
            State.DEFERRED,
            {"attempts": 2, "last_error": "451 try again", "next_attempt_at": T},
        ),
    ],
)
def test_a_write_digests_the_facts_it_changes_as_a_full_digest_would(
    start: State, to: State, kw: dict[str, object]
) -> None:
    # A write digests only the fields it sets; the event must carry exactly what comparing the
    # digests of every fact before and after finds changed.
    before = _rec(start, meta={"client": "1", "gone": 2}, scan={"findings": []})
    plan = _move(before, to, changes=kw)
    assert plan.event is not None and plan.event.extra is not None
    expected = changed_facts(record_facts(before), record_facts(plan.record))
    assert expected
    assert plan.event.extra[FACTS_KEY] == expected


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"decision": {"action": "hold", "rules": ["r1"]}, "release_at": T + timedelta(minutes=5)},
        {"meta": {"client": "1", "delivered_to": ["a@partner.example"]}, "attempts": 1, "last_error": "x"},
        {"approvers": ["boss@example.co.jp"], "expires_at": T, "scan": {"parts": [{"n": 1}]}},
        # Not plain JSON data: decoded from the text written, as reading the row back gives.
        {"decision": {"action": "hold", "rules": ("r1",)}, "scan": {"parts": [{1: "x"}]}},
        # Long enough to be shared with the next read of the row.
        {"scan": {"parts": [{"findings": [{"value": "山*", "score": 0.85}] * 40}]}},
        {"scan": {"parts": [{"findings": [{"value": "山*", "score": (1, 0.85)}] * 40}]}},
    ],
)
def test_the_record_after_a_write_is_the_stored_form_with_the_write_applied(
    changes: dict[str, object],
) -> None:
    # The record a plan returns is what reading the row back after the write gives.
    before = decode_record(encode_record(_rec(meta={"client": "1"}, decision={"action": "deliver"})))
    plan = _move(before, State.HELD, changes=changes, owner="gw")
    read_back = decode_record({**encode_record(before), **plan.sets})
    assert plan.record == read_back
    assert repr(plan.record) == repr(read_back)  # the same types too: lists, not tuples


_TWICE = {"value": "山*", "score": 0.85}
_BAD_TWICE = {"value": ("山*",)}


@pytest.mark.parametrize(
    ("value", "itself"),
    [
        ({"a": [1, -2, 2.5, "山", None, True, {"b": []}]}, True),
        ({"a": (1,)}, False),
        ({1: "a"}, False),
        ({"a": [float("nan")]}, False),
        ({"a": float("inf")}, False),
        ({"a": "NaN"}, False),  # a string that looks like one: only decoding tells
        ({"a": {"b": {"c": [[{"d": (1,)}]]}}}, False),
        ({"a": State.HELD}, False),  # a str subclass
        ({"a": OrderedDict(b=1)}, False),
        ([_TWICE, {"b": _TWICE}, [_TWICE]], True),  # one dict held three times
        ([_TWICE, {"b": [_TWICE, {"c": _BAD_TWICE}]}, _BAD_TWICE], False),
    ],
)
def test_a_value_reads_back_as_itself_only_if_plain_json(value: object, itself: bool) -> None:
    assert reads_back_as_itself(value, canonical_json(value)) is itself
    if itself:
        assert json.loads(canonical_json(value)) == value


def test_each_fact_digest_is_the_documented_sha256_of_the_stored_form() -> None:
    # Verify recomputes these; the store's shortcuts (the item's part of the text put together
    # once, names kept) must give the bytes of canonical_json([id, name, stored]).
    rec = _rec(meta={"client": "1", 'q"é\u2028': [1, "x"]}, scan={"n": "山*"}, decision={"action": "deliver"})
    stored = encode_record(rec)
    expected = {
        name: hashlib.sha256(canonical_json([rec.id, name, stored[name]]).encode()).hexdigest()[:32]
        for name in FACT_FIELDS
    }
    for key, value in rec.meta.items():
        text = canonical_json([rec.id, f"meta.{key}", canonical_json(value)])
        expected[f"meta.{key}"] = hashlib.sha256(text.encode()).hexdigest()[:32]
    assert record_facts(rec) == expected
    assert record_facts(rec) == expected  # a second time, with the names' texts kept


def test_the_record_after_a_write_takes_only_stored_fields() -> None:
    with pytest.raises(TypeError, match="nonsense"):
        _replaced(_rec(), {"state": State.HELD, "nonsense": 1})
