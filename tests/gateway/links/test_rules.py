"""The rules of a link as pure functions: what each decides from a record and a time (the store
runs the same rules inside its compare-and-set writes; test_store_contract shows that)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from gateway.links import rules
from gateway.links.facts import FileFacts, LinkFacts
from gateway.store import Amendment, ItemKind, MessageRecord, Rule, State
from gateway.store.base import plan_amend

T = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
FILES = (
    FileFacts("F1", "M1", "数量表.csv", "text/csv", 31, "aa" * 32),
    FileFacts("F2", "M1", "見積書.pdf", "application/pdf", 303, "bb" * 32),
)


def link(
    state: State = State.OPEN, *, expires: timedelta = timedelta(days=7), **facts: object
) -> MessageRecord:
    f = dataclasses.replace(LinkFacts("M1", "a@partner.example", FILES, max_downloads=5), **facts)  # type: ignore[arg-type]
    return MessageRecord(
        "L1",
        state,
        "taro@example.co.jp",
        ("a@partner.example",),
        0,
        "",
        T,
        T,
        expires_at=T + expires,
        meta={"link": f.to_dict()},
        has_raw=False,
        kind=ItemKind.LINK,
    )


def apply(rec: MessageRecord, change: Amendment | None, at: datetime) -> MessageRecord:
    """The record after a change, as the store writes it."""
    assert change is not None
    return plan_amend(rec, change, actor="t", now=at).record


def test_a_code_is_recorded_as_its_hmac_and_valid_for_a_while() -> None:
    change = rules.request_code("MAC", ip="192.0.2.7", validity=600)(link(), T)
    assert change is not None and change.outcome == "sent"
    after = LinkFacts.of(apply(link(), change, T))
    assert (after.code, after.code_until, after.code_tries) == (
        "MAC",
        (T + timedelta(minutes=10)).isoformat(),
        0,
    )
    assert change.extra == {"recipient": "a@partner.example", "ip": "192.0.2.7"}


@pytest.mark.parametrize(
    ("earlier", "refused"),
    [
        ([], False),
        ([T - timedelta(seconds=30)], True),  # one a minute
        ([T - timedelta(seconds=61)], False),
        ([T - timedelta(minutes=m) for m in (2, 10, 20, 30, 40)], True),  # five an hour
        ([T - timedelta(minutes=m) for m in (2, 10, 20, 30, 70)], False),  # one is older than an hour
    ],
)
def test_codes_are_rate_limited(earlier: list[datetime], refused: bool) -> None:
    rec = link(requests=tuple(t.isoformat() for t in earlier))
    rule = rules.request_code("MAC", ip="", validity=600)
    if refused:
        with pytest.raises(rules.LinkRefused, match="too_many_requests"):
            rule(rec, T)
    else:
        assert rule(rec, T) is not None


def test_the_right_code_clears_it_a_wrong_one_counts() -> None:
    rec = apply(link(), rules.request_code("GOOD", ip="", validity=600)(link(), T), T)
    wrong = rules.check_code("BAD", ip="", lock_time=1800)(rec, T)
    assert wrong is not None and (wrong.outcome, wrong.action) == ("wrong_code", "link_code_failed")
    rec = apply(rec, wrong, T)
    assert (LinkFacts.of(rec).failures, LinkFacts.of(rec).code) == (1, "GOOD")
    right = rules.check_code("GOOD", ip="", lock_time=1800)(rec, T)
    assert right is not None and right.outcome == "ok"
    after = LinkFacts.of(apply(rec, right, T))
    assert (after.code, after.failures) == ("", 0), "a code is used once"
    with pytest.raises(rules.LinkRefused, match="no_code"):
        rules.check_code("GOOD", ip="", lock_time=1800)(apply(rec, right, T), T)


def test_a_code_is_void_after_three_wrong_entries_or_its_time() -> None:
    rec = apply(link(), rules.request_code("GOOD", ip="", validity=600)(link(), T), T)
    for _ in range(rules.CODE_TRIES):
        rec = apply(rec, rules.check_code("BAD", ip="", lock_time=1800)(rec, T), T)
    assert LinkFacts.of(rec).code == ""
    fresh = apply(link(), rules.request_code("GOOD", ip="", validity=600)(link(), T), T)
    late = rules.check_code("GOOD", ip="", lock_time=1800)(fresh, T + timedelta(minutes=11))
    assert late is not None and late.outcome == "wrong_code"


def test_five_wrong_codes_in_a_row_lock_the_link_until_the_lock_runs_out() -> None:
    rec = link(code="GOOD", code_until=(T + timedelta(hours=1)).isoformat(), failures=rules.LOCK_AFTER - 1)
    change = rules.check_code("BAD", ip="", lock_time=1800)(rec, T)
    assert change is not None and (change.action, change.outcome) == ("link_locked", "locked")
    rec = apply(rec, change, T)
    for rule in (
        rules.check_code("GOOD", ip="", lock_time=1800),
        rules.request_code("X", ip="", validity=600),
    ):
        with pytest.raises(rules.LinkRefused, match="locked"):
            rule(rec, T + timedelta(minutes=29))
    later = T + timedelta(minutes=31)
    rec = apply(rec, rules.request_code("NEW", ip="", validity=600)(rec, later), later)
    ok = rules.check_code("NEW", ip="", lock_time=1800)(rec, later)
    assert ok is not None and ok.outcome == "ok"


def test_downloads_count_to_the_limit_and_the_last_uses_the_link_up() -> None:
    rec = link(max_downloads=2)
    first = rules.download(0, ip="192.0.2.7")(rec, T)
    assert first is not None and first.outcome == "first" and first.to is None
    assert (
        first.extra is not None and first.extra["sha256"] == "aa" * 32 and first.extra["file"] == "数量表.csv"
    )
    rec = apply(rec, first, T)
    last = rules.download(1, ip="")(rec, T)
    assert last is not None and (last.outcome, last.to) == ("ok", State.EXHAUSTED)
    with pytest.raises(rules.LinkRefused, match="gone"):
        rules.download(0, ip="")(apply(rec, last, T), T)
    with pytest.raises(rules.LinkRefused, match="not_found"):
        rules.download(2, ip="")(link(), T)


@pytest.mark.parametrize(
    "rule",
    [
        rules.request_code("X", ip="", validity=600),
        rules.check_code("X", ip="", lock_time=1800),
        rules.download(0, ip=""),
        rules.expire(),
    ],
)
def test_a_link_past_its_time_expires_whoever_meets_it(rule: Rule) -> None:
    change = rule(link(expires=timedelta(days=7)), T + timedelta(days=7))
    assert change is not None and (change.to, change.outcome) == (State.EXPIRED, "expired")


@pytest.mark.parametrize("state", [State.REVOKED, State.EXPIRED, State.EXHAUSTED])
def test_a_closed_link_does_nothing(state: State) -> None:
    with pytest.raises(rules.LinkRefused, match="gone"):
        rules.download(0, ip="")(link(state), T)
    assert rules.expire()(link(state), T + timedelta(days=30)) is None


@pytest.mark.parametrize(
    ("action", "until", "ok"),
    [
        ("extend", T + timedelta(days=30), True),
        ("extend", T + timedelta(days=93), True),
        ("extend", T + timedelta(days=93, seconds=1), False),  # at most 93 days after it was made
        ("extend", T + timedelta(days=3), False),  # not later than now
        ("shorten", T + timedelta(days=3), True),
        ("shorten", T + timedelta(days=30), False),
        ("shorten", T - timedelta(hours=1), False),  # in the past: revoke instead
        ("extend", T + timedelta(days=7), False),  # no change
    ],
)
def test_expiry_moves_within_its_bounds(action: str, until: datetime, ok: bool) -> None:
    rule = rules.set_expiry(until, action=action, reason=action, extra={"user": "taro"})
    if ok:
        change = rule(link(), T + timedelta(hours=1))
        assert change is not None and change.changes == {"expires_at": until} and change.action == action
        assert change.extra == {
            "user": "taro",
            "from": (T + timedelta(days=7)).isoformat(),
            "until": until.isoformat(),
        }
    else:
        with pytest.raises(rules.LinkRefused, match="bad_expiry"):
            rule(link(), T + timedelta(hours=1))
