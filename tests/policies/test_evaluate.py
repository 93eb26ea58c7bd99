"""Actions, severity resolution and the decision's fields; property tests over random policies."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from classifiers.model import ENTITY_TYPES, ScanResult
from policies import Action, Envelope, Policy, evaluate, parse_policy
from tests.policies.helpers import (
    DIRECTORY_CSV,
    EMPTY,
    NOW,
    finding,
    mail,
    part,
    policy_with,
    rule_yaml,
    scan,
    upload,
)

EXT = "sato@partner.example.com"
SENDER_SELF = "taro.yamada@example.co.jp"
ALWAYS = "{direction: mail}"


# -- each action on its own -------------------------------------------------------------------

ACTIONS: list[tuple[str, str, Action, tuple[str, ...]]] = [
    ("deliver", "deliver", Action.DELIVER, ()),
    ("tag", "tag", Action.TAG, ("tag",)),
    ("bcc", "bcc", Action.BCC, ("bcc",)),
    ("link_attachments", "link_attachments", Action.LINK_ATTACHMENTS, ("link_attachments",)),
    ("hold", "{type: hold, grace: 10m}", Action.HOLD, ()),
    ("approval", "{type: approval, approvers: [manager]}", Action.APPROVAL, ()),
    ("quarantine", "quarantine", Action.QUARANTINE, ()),
    ("block", "block", Action.BLOCK, ()),
]


@pytest.mark.parametrize(
    ("action_yaml", "action", "transforms"), [a[1:] for a in ACTIONS], ids=[a[0] for a in ACTIONS]
)
def test_each_action(tmp_path: Path, action_yaml: str, action: Action, transforms: tuple[str, ...]) -> None:
    policy = policy_with(tmp_path, rule_yaml("r", ALWAYS, action_yaml))
    d = evaluate(policy, mail(EXT), EMPTY, now=NOW)
    assert d.action is action
    assert d.transforms == transforms
    assert [m.rule_id for m in d.matches] == ["r"]
    assert d.winning_rules == d.matches
    assert (d.release_at is not None) is (action is Action.HOLD)
    assert (d.approval_deadline is not None) is (action is Action.APPROVAL)


def test_severity_order() -> None:
    assert [a.value for a in sorted(Action, key=lambda a: a.severity)] == [
        "deliver",
        "tag",
        "bcc",
        "link_attachments",
        "warn",
        "hold",
        "approval",
        "quarantine",
        "block",
    ]


# -- uploads: coaching (warn) and how long an approval lets the same upload pass ---------------

UPLOADS = "{direction: upload}"


@pytest.mark.parametrize(
    ("action_yaml", "action", "valid_for", "uses"),
    [
        ("warn", Action.WARN, timedelta(hours=1), 1),
        ("{type: warn, valid_for: 15m, uses: 2}", Action.WARN, timedelta(minutes=15), 2),
        ("{type: approval, approvers: [manager]}", Action.APPROVAL, timedelta(hours=24), 1),
        (
            "{type: approval, approvers: [manager], valid_for: 2d, uses: 5}",
            Action.APPROVAL,
            timedelta(days=2),
            5,
        ),
    ],
)
def test_upload_pass_terms(
    tmp_path: Path, action_yaml: str, action: Action, valid_for: timedelta, uses: int
) -> None:
    policy = policy_with(tmp_path, rule_yaml("r", UPLOADS, action_yaml))
    d = evaluate(policy, upload(service="box"), EMPTY, now=NOW)
    assert d.action is action
    assert (d.pass_valid_for, d.pass_uses) == (valid_for, uses)
    assert d.to_dict()["pass"] == {"valid_for": int(valid_for.total_seconds()), "uses": uses}
    # A warned user has as long to go on as the retry is valid for.
    assert (d.release_at == NOW + valid_for) is (action is Action.WARN)


def test_the_strictest_pass_terms_win(tmp_path: Path) -> None:
    policy = policy_with(
        tmp_path,
        rule_yaml("a", UPLOADS, "{type: approval, approvers: [manager], valid_for: 2h, uses: 3}"),
        rule_yaml("b", UPLOADS, "{type: approval, approvers: [manager], valid_for: 8h, uses: 1}"),
    )
    d = evaluate(policy, upload(), EMPTY, now=NOW)
    assert (d.pass_valid_for, d.pass_uses) == (timedelta(hours=2), 1)


def test_a_harder_rule_outranks_a_warning(tmp_path: Path) -> None:
    policy = policy_with(
        tmp_path,
        rule_yaml("w", UPLOADS, "warn"),
        rule_yaml("a", UPLOADS, "{type: approval, approvers: [manager]}"),
    )
    d = evaluate(policy, upload(), EMPTY, now=NOW)
    assert d.action is Action.APPROVAL
    assert d.pass_valid_for == timedelta(hours=24)


def test_mail_approval_has_no_pass(tmp_path: Path) -> None:
    policy = policy_with(
        tmp_path, rule_yaml("r", ALWAYS, "{type: approval, approvers: [manager], valid_for: 1h}")
    )
    d = evaluate(policy, mail(EXT), EMPTY, now=NOW)
    assert (d.action, d.pass_valid_for, d.to_dict()["pass"]) == (Action.APPROVAL, None, None)


def test_no_rule_matches_delivers(tmp_path: Path) -> None:
    policy = policy_with(tmp_path, rule_yaml("r", "{direction: upload}"))
    d = evaluate(policy, mail(EXT), EMPTY, now=NOW)
    assert (d.action, d.transforms, d.matches, d.winning_rules) == (Action.DELIVER, (), (), ())


DIRECTED = [
    ("any-direction", "{recipients: external}", None),
    ("mail-top", "{direction: mail, recipients: external}", "mail"),
    ("upload-in-all", "{all: [{recipients: external}, {direction: upload}]}", "upload"),
    (
        "mail-every-any",
        "{any: [{direction: mail}, {all: [{direction: mail}, {size: {at_least: 1}}]}]}",
        "mail",
    ),
    ("mixed-any", "{any: [{direction: mail}, {direction: upload}]}", None),
    ("not-upload", "{not: {direction: upload}}", None),
]


def test_a_rule_is_tried_only_on_the_direction_its_condition_can_hold_for(tmp_path: Path) -> None:
    policy = policy_with(tmp_path, *(rule_yaml(rid, when, "tag") for rid, when, _ in DIRECTED))
    assert [r.direction for r in policy.rules] == [d for _, _, d in DIRECTED]
    for direction, item in (("mail", mail(EXT)), ("upload", upload(recipients=(EXT,)))):
        tried = [r.id for r in policy.rules_for(direction)]
        assert tried == [rid for rid, _, d in DIRECTED if d in (None, direction)]
        # The same decision as trying every rule: a rule left out could not have held.
        every = Policy(policy.path, policy.spec, tuple(replace(r, direction=None) for r in policy.rules),
                       policy.internal_domains, policy.directory)  # fmt: skip
        assert evaluate(policy, item, EMPTY, now=NOW) == evaluate(every, item, EMPTY, now=NOW)


# -- severity resolution: the most severe wins, tag and bcc ride along ---------------------------

RESOLUTION: list[tuple[tuple[str, ...], Action, tuple[str, ...]]] = [
    (("hold", "bcc", "tag"), Action.HOLD, ("tag", "bcc")),
    (("tag", "bcc"), Action.BCC, ("tag", "bcc")),
    (("bcc", "block"), Action.BLOCK, ("bcc",)),
    (("approval", "quarantine"), Action.QUARANTINE, ()),
    (("quarantine", "approval", "hold"), Action.QUARANTINE, ()),
    (("deliver", "tag"), Action.TAG, ("tag",)),
    (("block", "deliver"), Action.BLOCK, ()),
    (("hold", "approval", "tag"), Action.APPROVAL, ("tag",)),
    (("link_attachments", "hold"), Action.HOLD, ("link_attachments",)),
    (("link_attachments", "bcc", "tag"), Action.LINK_ATTACHMENTS, ("tag", "bcc", "link_attachments")),
    (("block", "link_attachments"), Action.BLOCK, ("link_attachments",)),
]


@pytest.mark.parametrize(
    ("actions", "winner", "transforms"), RESOLUTION, ids=["-".join(r[0]) for r in RESOLUTION]
)
def test_most_severe_wins(
    tmp_path: Path, actions: tuple[str, ...], winner: Action, transforms: tuple[str, ...]
) -> None:
    specs = {"approval": "{type: approval, approvers: [manager]}"}
    rules = [rule_yaml(f"r{i}-{a}", ALWAYS, specs.get(a, a)) for i, a in enumerate(actions)]
    d = evaluate(policy_with(tmp_path, *rules), mail(EXT), EMPTY, now=NOW)
    assert d.action is winner
    assert d.transforms == transforms
    assert len(d.matches) == len(actions)  # every matching rule counts and is listed
    assert {m.rule_id for m in d.winning_rules} == {
        f"r{i}-{a}" for i, a in enumerate(actions) if a == winner.value
    }


# -- decision fields ----------------------------------------------------------------------------


def test_hold_uses_longest_grace_of_winning_rules(tmp_path: Path) -> None:
    policy = policy_with(
        tmp_path,
        rule_yaml("short", ALWAYS, "{type: hold, grace: 5m}"),
        rule_yaml("long", ALWAYS, "{type: hold, grace: 1h30m}"),
    )
    d = evaluate(policy, mail(EXT), EMPTY, now=NOW)
    assert d.release_at == NOW + timedelta(minutes=90)


def test_hold_default_grace(tmp_path: Path) -> None:
    d = evaluate(policy_with(tmp_path, rule_yaml("r", ALWAYS, "hold")), mail(EXT), EMPTY, now=NOW)
    assert d.release_at == NOW + timedelta(minutes=5)


def test_approval_by_manager_from_directory(tmp_path: Path) -> None:
    policy = policy_with(
        tmp_path, rule_yaml("r", ALWAYS, "{type: approval, approvers: [manager], timeout: 8h}")
    )
    d = evaluate(policy, mail(EXT), EMPTY, now=NOW)
    assert d.approvers == ("hanako.sato@example.co.jp",)
    assert d.approval_deadline == NOW + timedelta(hours=8)
    assert d.on_timeout == "reject"
    assert d.escalate_to == ()


def test_approval_escalates_to_a_group(tmp_path: Path) -> None:
    action = "{type: approval, approvers: [manager], on_timeout: escalate, escalate_to: [group:security]}"
    d = evaluate(policy_with(tmp_path, rule_yaml("r", ALWAYS, action)), mail(EXT), EMPTY, now=NOW)
    assert d.on_timeout == "escalate"
    assert d.escalate_to == ("ken.takahashi@example.co.jp", "yui.watanabe@example.co.jp")
    assert d.approval_deadline == NOW + timedelta(hours=24)


def test_escalation_to_nobody_rejects_on_timeout(tmp_path: Path) -> None:
    action = "{type: approval, approvers: [manager], on_timeout: escalate, escalate_to: [group:security]}"
    policy = policy_with(tmp_path, rule_yaml("r", ALWAYS, action))
    # The sender never escalates to themselves: yui's escalation goes to ken alone...
    d = evaluate(policy, mail(EXT, sender="yui.watanabe@example.co.jp"), EMPTY, now=NOW)
    assert (d.on_timeout, d.escalate_to) == ("escalate", ("ken.takahashi@example.co.jp",))
    # ...and when that leaves nobody, the request is rejected on timeout instead.
    policy = policy_with(tmp_path, rule_yaml("r", ALWAYS, action.replace("group:security", SENDER_SELF)))
    d = evaluate(policy, mail(EXT), EMPTY, now=NOW)
    assert (d.action, d.on_timeout, d.escalate_to) == (Action.APPROVAL, "reject", ())


def test_named_approvers_never_include_the_sender(tmp_path: Path) -> None:
    action = "{type: approval, approvers: [group:security, audit@example.co.jp]}"
    policy = policy_with(tmp_path, rule_yaml("r", ALWAYS, action))
    d = evaluate(policy, mail(EXT, sender="ken.takahashi@example.co.jp"), EMPTY, now=NOW)
    assert d.approvers == ("yui.watanabe@example.co.jp", "audit@example.co.jp")


def test_approval_without_anyone_to_ask_goes_to_review(tmp_path: Path) -> None:
    policy = policy_with(tmp_path, rule_yaml("r", ALWAYS, "{type: approval, approvers: [manager]}"))
    d = evaluate(policy, mail(EXT, sender="unknown@example.co.jp"), EMPTY, now=NOW)
    assert d.action is Action.QUARANTINE
    assert "no approver" in d.matches[0].evidence[-1].detail


def test_approval_fallback_approvers(tmp_path: Path) -> None:
    action = "{type: approval, approvers: [manager], fallback_approvers: [group:security]}"
    policy = policy_with(tmp_path, rule_yaml("r", ALWAYS, action))
    d = evaluate(policy, mail(EXT, sender="ichiro.suzuki@example.co.jp"), EMPTY, now=NOW)  # has no manager
    assert d.action is Action.APPROVAL
    assert d.approvers == ("ken.takahashi@example.co.jp", "yui.watanabe@example.co.jp")


def test_several_approval_rules_combine(tmp_path: Path) -> None:
    policy = policy_with(
        tmp_path,
        rule_yaml(
            "a",
            ALWAYS,
            "{type: approval, approvers: [manager], timeout: 48h, on_timeout: escalate, escalate_to: [group:security]}",
        ),
        rule_yaml("b", ALWAYS, "{type: approval, approvers: [ichiro.suzuki@example.co.jp], timeout: 2h}"),
    )
    d = evaluate(policy, mail(EXT), EMPTY, now=NOW)
    assert d.approvers == ("hanako.sato@example.co.jp", "ichiro.suzuki@example.co.jp")
    assert d.approval_deadline == NOW + timedelta(hours=2)  # the shortest timeout
    assert d.on_timeout == "reject"  # the stricter outcome


def test_tag_headers_and_notify_security_accumulate(tmp_path: Path) -> None:
    policy = policy_with(
        tmp_path,
        rule_yaml("t1", ALWAYS, "tag"),
        rule_yaml("t2", ALWAYS, "{type: tag, headers: {X-Review: first-contact}, notify_security: true}"),
        rule_yaml("q", ALWAYS, "quarantine"),
    )
    d = evaluate(policy, mail(EXT), EMPTY, now=NOW)
    assert d.action is Action.QUARANTINE
    assert d.transforms == ("tag",)
    assert d.tag_headers == (("X-Sekimori-Tag", "t1"), ("X-Review", "first-contact"))
    assert d.notify_security is True


def test_link_attachments_plans_for_outside_envelope_recipients(tmp_path: Path) -> None:
    policy = policy_with(
        tmp_path,
        rule_yaml("big", ALWAYS, "{type: link_attachments, attachments: {min_size: 1MB}, expiry: 14d}"),
        rule_yaml(
            "ppap",
            "{encrypted: true}",
            "{type: link_attachments, attachments: {encrypted: true}, expiry: 3d, max_downloads: 2}",
        ),
        rule_yaml("h", ALWAYS, "{type: hold, grace: 5m}"),
    )
    env = mail(EXT, "hanako@example.co.jp", "kim@other.example", EXT)
    d = evaluate(policy, env, scan(part(kind="attachment", filename="a.zip", encrypted=True)), now=NOW)
    assert (d.action, d.transforms) == (Action.HOLD, ("link_attachments",))
    assert d.link is not None
    assert d.link.recipients == (EXT, "kim@other.example")
    assert d.link.expiry == timedelta(days=3)
    assert d.link.max_downloads == 2
    assert d.link.selects("a.pdf", "application/pdf", 2_000_000, False)
    assert not d.link.selects("a.txt", "text/plain", 10, False)
    assert d.link.selects("a.zip", "application/zip", 10, True)
    assert d.to_dict()["link"]["select"][1] == {"min_size": None, "name": [], "type": [], "encrypted": True}
    only_big = evaluate(policy, env, EMPTY, now=NOW).link
    assert only_big is not None
    assert (only_big.expiry, only_big.max_downloads) == (timedelta(days=14), None)


def test_link_attachments_without_outside_recipients_does_nothing(tmp_path: Path) -> None:
    policy = policy_with(tmp_path, rule_yaml("r", ALWAYS, "link_attachments"))
    d = evaluate(policy, mail("hanako@example.co.jp", "jiro@sub.example.co.jp"), EMPTY, now=NOW)
    assert (d.action, d.transforms, d.link) == (Action.LINK_ATTACHMENTS, (), None)
    assert [m.rule_id for m in d.matches] == ["r"]


def test_disabled_rule_is_not_evaluated(tmp_path: Path) -> None:
    policy = policy_with(tmp_path, rule_yaml("r", ALWAYS, "block") + "  enabled: false\n")
    assert evaluate(policy, mail(EXT), EMPTY, now=NOW).action is Action.DELIVER


def test_decision_to_dict_is_json(tmp_path: Path) -> None:
    policy = policy_with(
        tmp_path,
        rule_yaml("h", "{entity: {type: my_number}}", "{type: hold, grace: 5m}"),
        rule_yaml("b", ALWAYS, "bcc"),
    )
    d = evaluate(policy, mail(EXT), scan(part(finding("my_number", "1234 5678 9018"))), now=NOW)
    data = json.loads(json.dumps(d.to_dict(), ensure_ascii=False))
    assert data["action"] == "hold"
    assert data["transforms"] == ["bcc"]
    assert data["rules"] == ["h", "b"]
    assert data["release_at"] == "2026-04-01T09:05:00+00:00"
    assert data["matches"][0]["evidence"][0]["values"] == ["**** **** 9018"]
    assert "1234 5678 9018" not in json.dumps(data, ensure_ascii=False)


def test_evaluate_reads_no_clock(tmp_path: Path) -> None:
    policy = policy_with(tmp_path, rule_yaml("r", ALWAYS, "{type: hold, grace: 1m}"))
    past = NOW - timedelta(days=3650)
    assert evaluate(policy, mail(EXT), EMPTY, now=past).release_at == past + timedelta(minutes=1)


# -- properties over random policies and messages -----------------------------------------------

CONDITIONS = [
    {"direction": "mail"},
    {"direction": "upload"},
    {"recipients": "external"},
    {"recipients": "internal"},
    {"external_addresses": {"at_least": 2}},
    {"external_domains": {"at_least": 2}},
    {"recipient_domain": {"in": ["example.com"]}},
    {"sender": {"group": "sales"}},
    {"records": {"at_least": 3}},
    {"encrypted": True},
    {"truncated": True},
    {"confidential": True},
    {"sharing_scope": ["anyone"]},
    *({"entity": {"type": t, "min_score": 0.5}} for t in ENTITY_TYPES),
]
ACTION_SPECS = [
    "deliver",
    "tag",
    "bcc",
    {"type": "hold", "grace": "10m"},
    {"type": "approval", "approvers": ["manager"]},
    "quarantine",
    "block",
]


@st.composite
def conditions(draw: st.DrawFn, depth: int = 2) -> object:
    leaf = st.sampled_from(CONDITIONS)
    if depth == 0:
        return draw(leaf)
    sub = conditions(depth=depth - 1)
    return draw(
        st.one_of(
            leaf,
            st.builds(lambda cs: {"all": cs}, st.lists(sub, min_size=1, max_size=3)),
            st.builds(lambda cs: {"any": cs}, st.lists(sub, min_size=1, max_size=3)),
            st.builds(lambda c: {"not": c}, sub),
        )
    )


rules_st = st.lists(st.tuples(conditions(), st.sampled_from(ACTION_SPECS)), min_size=0, max_size=6)

ADDRESSES = [
    "a@example.com",
    "b@example.org",
    "c@example.net",
    "hanako.sato@example.co.jp",
    "x@mail.example.co.jp",
]


@st.composite
def messages(draw: st.DrawFn) -> tuple[Envelope, ScanResult]:
    findings = draw(
        st.lists(
            st.builds(
                lambda t, s, k: (finding(t, "1234 5678 9018", score=s), k),
                st.sampled_from(ENTITY_TYPES),
                st.floats(0, 1),
                st.sampled_from(["body", "subject", "attachment"]),
            ),
            max_size=6,
        )
    )
    parts = tuple(
        part(f, kind=k, encrypted=draw(st.booleans()), truncated=draw(st.sampled_from([(), ("depth",)])))
        for f, k in findings
    )
    result = scan(*parts, records=draw(st.integers(0, 5)))
    if draw(st.booleans()):
        env = mail(*draw(st.lists(st.sampled_from(ADDRESSES), min_size=1, max_size=4)))
    else:
        env = upload(sharing_scope=draw(st.sampled_from([None, "anyone", "private"])))
    return env, result


def _policy(directory: Path, rules: list[tuple[object, object]]) -> Policy:
    data = {
        "version": 1,
        "organisation": {"internal_domains": ["example.co.jp"], "directory": "people.csv"},
        "rules": [
            {
                "id": f"r{i}",
                "title": {"ja": "t", "en": "t"},
                "description": {"ja": "d", "en": "d"},
                "when": c,
                "action": a,
            }
            for i, (c, a) in enumerate(rules)
        ],
    }
    return parse_policy(json.dumps(data), path=directory / "policy.yaml")


PROPERTY = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture
def people_dir(tmp_path: Path) -> Path:
    (tmp_path / "people.csv").write_text(DIRECTORY_CSV, encoding="utf-8")
    return tmp_path


@PROPERTY
@given(rules=rules_st, message=messages())
def test_evaluation_is_deterministic(
    people_dir: Path, rules: list[tuple[object, object]], message: tuple[Envelope, ScanResult]
) -> None:
    env, result = message
    policy = _policy(people_dir, rules)
    first = evaluate(policy, env, result, now=NOW)
    assert evaluate(policy, env, result, now=NOW) == first
    assert evaluate(_policy(people_dir, rules), env, result, now=NOW) == first
    # The order of the rules decides nothing but the order they are listed in.
    reordered = evaluate(_policy(people_dir, rules[::-1]), env, result, now=NOW)
    assert (reordered.action, reordered.transforms) == (first.action, first.transforms)


@PROPERTY
@given(rules=rules_st, extra=st.tuples(conditions(), st.sampled_from(ACTION_SPECS)), message=messages())
def test_adding_a_rule_never_lowers_severity(
    people_dir: Path,
    rules: list[tuple[object, object]],
    extra: tuple[object, object],
    message: tuple[Envelope, ScanResult],
) -> None:
    env, result = message
    before = evaluate(_policy(people_dir, rules), env, result, now=NOW)
    after = evaluate(_policy(people_dir, [*rules, extra]), env, result, now=NOW)
    assert after.action.severity >= before.action.severity
    assert set(after.transforms) >= set(before.transforms)
    assert set(after.rule_ids) >= set(before.rule_ids)


@PROPERTY
@given(rules=rules_st, message=messages())
def test_skipping_rules_by_the_findings_they_need_changes_nothing(
    people_dir: Path, rules: list[tuple[object, object]], message: tuple[Envelope, ScanResult]
) -> None:
    """A rule whose condition needs findings of some types is not tried on an item without any
    (``Rule.needs``): the decision, with its evidence, is the one trying every rule gives."""
    env, result = message
    policy = _policy(people_dir, rules)
    tried = replace(policy, rules=tuple(replace(r, needs=None) for r in policy.rules))
    assert all(r.needs is None for r in tried.rules_for(env.direction))
    assert evaluate(policy, env, result, now=NOW) == evaluate(tried, env, result, now=NOW)


def test_a_rule_that_needs_findings_is_skipped_without_them(tmp_path: Path) -> None:
    when = "{all: [{direction: mail}, {any: [{entity: {type: my_number}}, {confidential: true}]}]}"
    policy = policy_with(tmp_path, rule_yaml("r", when, "block"))
    (rule,) = policy.rules
    assert rule.needs == frozenset({"my_number", "confidential_marking"})
    assert evaluate(policy, mail(EXT), EMPTY, now=NOW).action is Action.DELIVER
    found = scan(part(finding("my_number", "1234 5678 9018", score=0.9)))
    assert evaluate(policy, mail(EXT), found, now=NOW).rule_ids == ("r",)
    # A branch that holds without findings (an encrypted file) means the rule needs none.
    either = policy_with(
        tmp_path, rule_yaml("e", "{any: [{entity: {type: my_number}}, {encrypted: true}]}", "block")
    )
    assert either.rules[0].needs is None


def test_upload_is_never_mail(tmp_path: Path) -> None:
    policy = policy_with(tmp_path, rule_yaml("r", "{recipients: external}"))
    assert evaluate(policy, upload(service="box"), EMPTY, now=NOW).action is Action.DELIVER
