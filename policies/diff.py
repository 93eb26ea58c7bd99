"""Compare two decisions on the same message: what changed and which rule made the difference."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from policies.model import TRANSFORMS, Action, Decision, RuleMatch


@dataclass(frozen=True)
class DecisionDiff:
    """How the decision on one message changes from the old policy to the new one.

    ``deciding_rules`` are the rules that made the difference: for a stricter outcome, the new
    winning rules that did not match (with that action) before; for a looser one, the old winning
    rules that no longer do; for a change of transforms only, the transform rules that came or went.
    """

    old_action: Action
    new_action: Action
    old_transforms: tuple[str, ...]
    new_transforms: tuple[str, ...]
    added_rules: tuple[str, ...]
    removed_rules: tuple[str, ...]
    deciding_rules: tuple[str, ...]

    @property
    def changed(self) -> bool:
        return self.old_action != self.new_action or self.old_transforms != self.new_transforms

    @property
    def direction(self) -> Literal["stricter", "looser", "same"]:
        if self.new_action.severity > self.old_action.severity:
            return "stricter"
        if self.new_action.severity < self.old_action.severity:
            return "looser"
        return "same"

    def to_dict(self) -> dict[str, Any]:
        return {
            "changed": self.changed,
            "direction": self.direction,
            "old": {"action": self.old_action.value, "transforms": list(self.old_transforms)},
            "new": {"action": self.new_action.value, "transforms": list(self.new_transforms)},
            "added_rules": list(self.added_rules),
            "removed_rules": list(self.removed_rules),
            "deciding_rules": list(self.deciding_rules),
        }


def _keys(matches: tuple[RuleMatch, ...]) -> set[tuple[str, Action]]:
    return {(m.rule_id, m.action) for m in matches}


def diff_decisions(old: Decision, new: Decision) -> DecisionDiff:
    """Pure comparison of two decisions (no I/O), for ``sekimori policy diff`` and the UI.

    >>> from policies.model import RuleMatch
    >>> m = RuleMatch("block-card", "", "", "", "", Action.BLOCK, ())
    >>> d = diff_decisions(Decision(Action.DELIVER, (), ()), Decision(Action.BLOCK, (), (m,)))
    >>> d.changed, d.direction, d.deciding_rules
    (True, 'stricter', ('block-card',))
    """
    old_keys, new_keys = _keys(old.matches), _keys(new.matches)
    old_ids = [m.rule_id for m in old.matches]
    new_ids = [m.rule_id for m in new.matches]
    added = tuple(i for i in new_ids if i not in old_ids)
    removed = tuple(i for i in old_ids if i not in new_ids)
    deciding: list[str]
    if new.action.severity > old.action.severity:
        deciding = [m.rule_id for m in new.winning_rules if (m.rule_id, m.action) not in old_keys]
        deciding = deciding or [m.rule_id for m in new.winning_rules]
    elif new.action.severity < old.action.severity:
        deciding = [m.rule_id for m in old.winning_rules if (m.rule_id, m.action) not in new_keys]
        deciding = deciding or [m.rule_id for m in old.winning_rules]
    elif old.transforms != new.transforms:
        flips = {(m.rule_id, m.action) for m in (*old.matches, *new.matches) if m.action in TRANSFORMS}
        deciding = sorted(rid for rid, act in flips if ((rid, act) in old_keys) != ((rid, act) in new_keys))
    else:
        deciding = []
    return DecisionDiff(
        old_action=old.action,
        new_action=new.action,
        old_transforms=old.transforms,
        new_transforms=new.transforms,
        added_rules=added,
        removed_rules=removed,
        deciding_rules=tuple(dict.fromkeys(deciding)),
    )
