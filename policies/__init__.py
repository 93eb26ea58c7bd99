"""Policies: YAML policy files loaded into validated models, and the pure ``evaluate`` function.

>>> from policies import Action
>>> [a.value for a in sorted(Action, key=lambda a: a.severity)][-2:]
['quarantine', 'block']
"""

from policies.diff import DecisionDiff, diff_decisions
from policies.errors import MESSAGES, PolicyError
from policies.evaluate import evaluate
from policies.holder import PolicyHolder
from policies.loader import default_policy_path, load_directory, load_policy, parse_policy
from policies.model import (
    Action,
    Decision,
    Directory,
    Envelope,
    Evidence,
    HistoryView,
    Person,
    Policy,
    Rule,
    RuleMatch,
)

__all__ = [
    "MESSAGES",
    "Action",
    "Decision",
    "DecisionDiff",
    "Directory",
    "Envelope",
    "Evidence",
    "HistoryView",
    "Person",
    "Policy",
    "PolicyError",
    "PolicyHolder",
    "Rule",
    "RuleMatch",
    "default_policy_path",
    "diff_decisions",
    "evaluate",
    "load_directory",
    "load_policy",
    "parse_policy",
]
