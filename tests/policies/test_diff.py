"""diff_decisions: what changes between two decisions, and which rule made the difference."""

from __future__ import annotations

import pytest

from policies import Action, Decision, RuleMatch, diff_decisions


def m(rule_id: str, action: Action) -> RuleMatch:
    return RuleMatch(rule_id, "ja", "en", "ja", "en", action, ())


def d(*matches: RuleMatch) -> Decision:
    action = max((x.action for x in matches), key=lambda a: a.severity, default=Action.DELIVER)
    transforms = tuple(t for t in ("tag", "bcc") if any(x.action.value == t for x in matches))
    return Decision(action, transforms, matches)


HOLD = m("hold", Action.HOLD)
BCC = m("bcc", Action.BCC)
TAG = m("tag", Action.TAG)
BLOCK = m("block-card", Action.BLOCK)

CASES = [
    ("new rule blocks", d(HOLD), d(HOLD, BLOCK), True, "stricter", ("block-card",), ("block-card",), ()),
    ("rule removed", d(HOLD, BLOCK), d(HOLD), True, "looser", ("block-card",), (), ("block-card",)),
    (
        "rule action lowered",
        d(HOLD, BLOCK),
        d(HOLD, m("block-card", Action.QUARANTINE)),
        True,
        "looser",
        ("block-card",),
        (),
        (),
    ),
    (
        "rule action raised",
        d(m("x", Action.HOLD)),
        d(m("x", Action.APPROVAL)),
        True,
        "stricter",
        ("x",),
        (),
        (),
    ),
    ("bcc added", d(HOLD), d(HOLD, BCC), True, "same", ("bcc",), ("bcc",), ()),
    ("tag removed", d(HOLD, TAG), d(HOLD), True, "same", ("tag",), (), ("tag",)),
    ("same", d(HOLD, BCC), d(HOLD, BCC), False, "same", (), (), ()),
    ("extra weaker match only", d(BLOCK), d(BLOCK, HOLD), False, "same", (), ("hold",), ()),
]


@pytest.mark.parametrize(
    ("old", "new", "changed", "direction", "deciding", "added", "removed"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_diff(
    old: Decision,
    new: Decision,
    changed: bool,
    direction: str,
    deciding: tuple[str, ...],
    added: tuple[str, ...],
    removed: tuple[str, ...],
) -> None:
    diff = diff_decisions(old, new)
    assert (diff.changed, diff.direction, diff.deciding_rules) == (changed, direction, deciding)
    assert (diff.added_rules, diff.removed_rules) == (added, removed)
    data = diff.to_dict()
    assert data["old"]["action"] == old.action.value and data["new"]["action"] == new.action.value


def test_diff_is_antisymmetric_in_direction() -> None:
    a, b = d(HOLD), d(HOLD, BLOCK)
    assert diff_decisions(a, b).direction == "stricter"
    assert diff_decisions(b, a).direction == "looser"
    assert diff_decisions(a, b).deciding_rules == diff_decisions(b, a).deciding_rules
