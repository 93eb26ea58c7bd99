"""Broken policy files fail at load with file, line, field and a translatable reason."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

from policies import MESSAGES, Action, PolicyError, default_policy_path, load_policy, parse_policy
from tests.policies.helpers import DIRECTORY_CSV, HEADER

GOOD_RULE = """\
  - id: r1
    title: {ja: テスト, en: test}
    description: {ja: 説明, en: description}
    when:
      direction: mail
      entity: {type: my_number, min_count: 1}
    action: block
"""


# (name, policy text, marker: a text on the line the error must name, field, code)
BROKEN: list[tuple[str, str, str, str, str]] = [
    (
        "wrong type",
        HEADER + GOOD_RULE.replace("min_count: 1", "min_count: many"),
        "min_count: many",
        "rules[0].when.entity.min_count",
        "wrong_type",
    ),
    (
        "unknown entity type",
        HEADER + GOOD_RULE.replace("type: my_number", "type: mynumber"),
        "type: mynumber",
        "rules[0].when.entity.type",
        "unknown_entity_type",
    ),
    (
        "unknown action",
        HEADER + GOOD_RULE.replace("action: block", "action: reject"),
        "action: reject",
        "rules[0].action.type",
        "unknown_action",
    ),
    (
        "unknown action type in mapping",
        HEADER + GOOD_RULE.replace("action: block", "action:\n      type: discard"),
        "type: discard",
        "rules[0].action.type",
        "unknown_action",
    ),
    (
        "bad yaml",
        HEADER
        + GOOD_RULE.replace(
            "entity: {type: my_number, min_count: 1}", "entity: {type: my_number, min_count: 1"
        ),
        # The unclosed flow mapping's own line, not the later line where the parser noticed.
        "entity: {type: my_number, min_count: 1",
        "",
        "bad_yaml",
    ),
    (
        "bad yaml indentation",
        HEADER + GOOD_RULE.replace("    when:", "   when:"),
        "   when:",
        "",
        "bad_yaml",
    ),
    (
        "unknown key",
        HEADER + GOOD_RULE.replace("    action: block", "    acton: block\n    action: block"),
        "acton: block",
        "rules[0].acton",
        "unknown_key",
    ),
    (
        "unknown condition",
        HEADER + GOOD_RULE.replace("direction: mail", "directon: mail"),
        "directon: mail",
        "rules[0].when.directon",
        "unknown_key",
    ),
    (
        "duplicate key",
        HEADER + GOOD_RULE.replace("    action: block", "    action: block\n    action: hold"),
        "action: hold",
        "",
        "duplicate_key",
    ),
    (
        "missing title",
        HEADER + GOOD_RULE.replace("    title: {ja: テスト, en: test}\n", ""),
        "- id: r1",
        "rules[0]",
        "missing_field",
    ),
    (
        "missing english title",
        HEADER + GOOD_RULE.replace("title: {ja: テスト, en: test}", "title: {ja: テスト}"),
        "title: {ja: テスト}",
        "rules[0].title",
        "missing_field",
    ),
    (
        "invalid direction",
        HEADER + GOOD_RULE.replace("direction: mail", "direction: fax"),
        "direction: fax",
        "rules[0].when.direction",
        "invalid_choice",
    ),
    (
        "score out of range",
        HEADER + GOOD_RULE.replace("min_count: 1", "min_score: 1.5"),
        "min_score: 1.5",
        "rules[0].when.entity.min_score",
        "too_large",
    ),
    (
        "field of another action",
        HEADER + GOOD_RULE.replace("action: block", "action: {type: hold, approvers: [manager]}"),
        "action: {type: hold",
        "rules[0].action.approvers",
        "field_not_for_action",
    ),
    (
        "bad duration",
        HEADER + GOOD_RULE.replace("action: block", "action:\n      type: hold\n      grace: soon"),
        "grace: soon",
        "rules[0].action.grace",
        "bad_duration",
    ),
    (
        "bad size",
        HEADER + GOOD_RULE.replace("direction: mail", "size: {at_least: huge}"),
        "size: {at_least: huge}",
        "rules[0].when.size.at_least",
        "bad_size",
    ),
    (
        "empty condition",
        HEADER
        + GOOD_RULE.replace(
            "      direction: mail\n      entity: {type: my_number, min_count: 1}\n", "      any: [{}]\n"
        ),
        "any: [{}]",
        "rules[0].when.any[0]",
        "empty_condition",
    ),
    (
        "escalate without escalate_to",
        HEADER
        + GOOD_RULE.replace(
            "action: block", "action: {type: approval, approvers: [manager], on_timeout: escalate}"
        ),
        "action: {type: approval",
        "rules[0].action",
        "missing_escalate_to",
    ),
    (
        "a sharing scope outside the vocabulary",
        HEADER + GOOD_RULE.replace("direction: mail", "sharing_scope: [anyone, anyone_with_link]"),
        "sharing_scope: [anyone, anyone_with_link]",
        "rules[0].when.sharing_scope",
        "unknown_value",
    ),
    (
        "a sharing target outside the vocabulary",
        HEADER + GOOD_RULE.replace("direction: mail", "sharing_target: [drive]"),
        "sharing_target: [drive]",
        "rules[0].when.sharing_target",
        "unknown_value",
    ),
    (
        "coaching on mail",
        HEADER + GOOD_RULE.replace("action: block", "action: warn"),
        "- id: r1",
        "rules[0]",
        "upload_only_action",
    ),
    (
        "coaching where mail may match too",
        HEADER
        + GOOD_RULE.replace("direction: mail", "any: [{direction: upload}, {recipients: external}]").replace(
            "action: block", "action: warn"
        ),
        "- id: r1",
        "rules[0]",
        "upload_only_action",
    ),
    (
        "no uses at all",
        HEADER
        + GOOD_RULE.replace("direction: mail", "direction: upload").replace(
            "action: block", "action: {type: warn, uses: 0}"
        ),
        "action: {type: warn",
        "rules[0].action.uses",
        "too_small",
    ),
    (
        "validity on a block",
        HEADER + GOOD_RULE.replace("action: block", "action: {type: block, valid_for: 1h}"),
        "action: {type: block",
        "rules[0].action.valid_for",
        "field_not_for_action",
    ),
    (
        "unknown group",
        HEADER + GOOD_RULE.replace("direction: mail", "sender: {group: [sales, salse]}"),
        "sender: {group",
        "rules[0].when.sender.group[1]",
        "unknown_group",
    ),
    (
        "unknown department",
        HEADER
        + GOOD_RULE.replace("direction: mail", "all:\n        - sender:\n            department: 総務部"),
        "department: 総務部",
        "rules[0].when.all[0].sender.department[0]",
        "unknown_department",
    ),
    (
        "unknown approver group",
        HEADER
        + GOOD_RULE.replace(
            "action: block",
            "action:\n      type: approval\n      approvers:\n        - manager\n        - group:legal",
        ),
        "- group:legal",
        "rules[0].action.approvers[1]",
        "unknown_group",
    ),
    (
        "duplicate rule id",
        HEADER + GOOD_RULE + GOOD_RULE,
        "- id: r1",
        "rules[1].id",
        "duplicate_rule_id",
    ),
    (
        "bad rule id",
        HEADER + GOOD_RULE.replace("id: r1", "id: Rule One"),
        "id: Rule One",
        "rules[0].id",
        "bad_rule_id",
    ),
    (
        "bad internal domain",
        HEADER.replace("[example.co.jp]", "[example]") + GOOD_RULE,
        "internal_domains",
        "organisation.internal_domains",
        "bad_domain",
    ),
    (
        "missing directory file",
        HEADER.replace("people.csv", "staff.csv") + GOOD_RULE,
        "directory: staff.csv",
        "organisation.directory",
        "file_unreadable",
    ),
    (
        "rules not a list",
        HEADER + "  {id: r1}\n",
        "rules:",
        "rules",
        "wrong_type",
    ),
    (
        "link expiry beyond 93 days",
        HEADER
        + GOOD_RULE.replace("action: block", "action:\n      type: link_attachments\n      expiry: 100d"),
        "expiry: 100d",
        "rules[0].action.expiry",
        "link_expiry",
    ),
    (
        "link expiry under a day",
        HEADER + GOOD_RULE.replace("action: block", "action: {type: link_attachments, expiry: 12h}"),
        "action: {type: link_attachments",
        "rules[0].action.expiry",
        "link_expiry",
    ),
    (
        "no downloads allowed",
        HEADER
        + GOOD_RULE.replace("action: block", "action:\n      type: link_attachments\n      max_downloads: 0"),
        "max_downloads: 0",
        "rules[0].action.max_downloads",
        "too_small",
    ),
    (
        "unknown attachment choice",
        HEADER
        + GOOD_RULE.replace(
            "action: block", "action:\n      type: link_attachments\n      attachments: {larger: 1MB}"
        ),
        "attachments: {larger",
        "rules[0].action.attachments.larger",
        "unknown_key",
    ),
    (
        "links for an upload",
        HEADER
        + GOOD_RULE.replace("direction: mail", "direction: upload").replace(
            "action: block", "action: link_attachments"
        ),
        "- id: r1",
        "rules[0]",
        "mail_only_action",
    ),
    (
        "link fields on another action",
        HEADER + GOOD_RULE.replace("action: block", "action:\n      type: hold\n      max_downloads: 3"),
        "max_downloads: 3",
        "rules[0].action.max_downloads",
        "field_not_for_action",
    ),
    (
        "not a mapping",
        "- just\n- a list\n",
        "- just",
        "",
        "not_a_mapping",
    ),
]


def _expected_line(text: str, marker: str) -> int:
    lines = text.splitlines()
    hits = [i + 1 for i, line in enumerate(lines) if marker in line]
    assert hits, marker
    return hits[-1] if marker.startswith("- id:") else hits[0]


@pytest.mark.parametrize(
    ("text", "marker", "field", "code"), [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN]
)
def test_broken_file_names_line_and_field(
    tmp_path: Path, text: str, marker: str, field: str, code: str
) -> None:
    (tmp_path / "people.csv").write_text(DIRECTORY_CSV, encoding="utf-8")
    path = tmp_path / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    err = info.value
    line = _expected_line(text, marker)
    assert (err.file, err.line, err.field, err.code) == (str(path), line, field, code)
    where = f"{path}:{line}: {field}: " if field else f"{path}:{line}: "
    assert str(err).startswith(where)
    assert err.text_ja.startswith(where)
    assert err.message_ja and err.message_en and err.message_ja != err.message_en
    assert "?" not in err.message_en  # every placeholder got its parameter
    assert err.to_dict()["code"] == code


def test_bad_yaml_reason_is_ruamels_problem(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("version: 1\norganisation: [unclosed\n", encoding="utf-8")
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    assert info.value.code == "bad_yaml"
    assert "expected" in info.value.message_en
    assert info.value.message_ja.startswith("YAML の書式が正しくありません")


def test_unknown_entity_type_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy(
            HEADER.replace("  directory: people.csv\n", "")
            + GOOD_RULE.replace("type: my_number", "type: mynumber"),
            path=tmp_path / "p.yaml",
        )
    assert "mynumber" in info.value.message_en
    assert "my_number" in info.value.message_en
    assert "知らない検出種別です: mynumber" in info.value.message_ja


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as info:
        load_policy(tmp_path / "nope.yaml")
    assert (info.value.code, info.value.line) == ("file_unreadable", 0)


def test_manager_approval_needs_a_directory(tmp_path: Path) -> None:
    text = HEADER.replace("  directory: people.csv\n", "") + GOOD_RULE.replace(
        "action: block", "action: {type: approval, approvers: [manager]}"
    )
    with pytest.raises(PolicyError) as info:
        parse_policy(text, path=tmp_path / "p.yaml")
    assert (info.value.code, info.value.field) == ("no_directory", "rules[0].action.approvers[0]")


# -- the directory of people ----------------------------------------------------------------------

DIRECTORY_BROKEN: list[tuple[str, str, str, int, str, str]] = [
    (
        "bad address",
        "people.csv",
        DIRECTORY_CSV + "not-an-address,名無し,営業部,,,\n",
        7,
        "address",
        "bad_address",
    ),
    (
        "unknown manager",
        "people.csv",
        DIRECTORY_CSV + "a@example.co.jp,A,営業部,boss@example.co.jp,,\n",
        7,
        "manager",
        "unknown_manager",
    ),
    (
        "duplicate person",
        "people.csv",
        DIRECTORY_CSV + "Taro.Yamada@example.co.jp,山田,営業部,,,\n",
        7,
        "address",
        "duplicate_person",
    ),
    ("unknown column", "people.csv", "address,name,floor\na@example.co.jp,A,3\n", 1, "floor", "unknown_key"),
    ("no address column", "people.csv", "name,department\nA,営業部\n", 1, "", "missing_field"),
    (
        "yaml bad manager",
        "people.yaml",
        "people:\n  - address: a@example.co.jp\n  - address: b@example.co.jp\n    manager: 上長\n",
        4,
        "people[1].manager",
        "bad_address",
    ),
    (
        "yaml unknown key",
        "people.yaml",
        "people:\n  - address: a@example.co.jp\n    mail: x\n",
        3,
        "people[0].mail",
        "unknown_key",
    ),
    ("unknown format", "people.txt", "a@example.co.jp\n", 0, "", "bad_directory_format"),
    ("bad csv", "people.csv", "address,name\na@example.co.jp," + "x" * 200_000 + "\n", 2, "", "bad_csv"),
]


@pytest.mark.parametrize(
    ("name", "text", "line", "field", "code"),
    [d[1:] for d in DIRECTORY_BROKEN],
    ids=[d[0] for d in DIRECTORY_BROKEN],
)
def test_broken_directory(tmp_path: Path, name: str, text: str, line: int, field: str, code: str) -> None:
    (tmp_path / name).write_text(text, encoding="utf-8")
    with pytest.raises(PolicyError) as info:
        parse_policy(HEADER.replace("people.csv", name) + GOOD_RULE, path=tmp_path / "p.yaml")
    err = info.value
    assert Path(err.file).name == name  # the directory file is named, not the policy
    assert (err.line, err.field, err.code) == (line, field, code)


def test_yaml_directory(tmp_path: Path) -> None:
    (tmp_path / "people.yaml").write_text(
        "people:\n"
        "  - {address: boss@example.co.jp, name: 上司, department: 営業部, groups: [sales]}\n"
        "  - {address: Me@Example.co.jp, name: 私, department: 営業部, manager: boss@example.co.jp, roles: [staff]}\n",
        encoding="utf-8",
    )
    policy = parse_policy(HEADER.replace("people.csv", "people.yaml") + GOOD_RULE, path=tmp_path / "p.yaml")
    me = policy.directory.person("me@example.co.jp")
    assert me is not None and me.roles == ("staff",)
    boss = policy.directory.manager_of("ME@example.co.jp")
    assert boss is not None and boss.name == "上司"
    assert policy.directory.members("sales") == ("boss@example.co.jp",)


# -- the messages table ---------------------------------------------------------------------------


@pytest.mark.parametrize("code", sorted(MESSAGES))
def test_every_code_has_japanese_and_english_with_the_same_parameters(code: str) -> None:
    ja, en = MESSAGES[code]

    def fields(text: str) -> set[str]:
        return {f for _, f, _, _ in string.Formatter().parse(text) if f}

    assert re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", ja), "the Japanese text must be Japanese"
    if code != "wrong_type":
        assert fields(ja) == fields(en)


def test_shipped_default_policy_loads() -> None:
    policy = load_policy(default_policy_path())
    assert policy.internal_domains == frozenset({"example.co.jp"})
    assert len(policy.directory) >= 5
    assert policy.directory.members("security")
    assert {r.action for r in policy.rules} >= {
        Action.HOLD,
        Action.BCC,
        Action.BLOCK,
        Action.APPROVAL,
        Action.QUARANTINE,
        Action.TAG,
    }
    for rule in policy.rules:
        assert rule.title_ja and rule.title_en and rule.description_ja and rule.description_en


def test_alias_bomb_is_refused(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    assert info.value.code == "too_complex"


def test_self_referring_alias_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "loop.yaml"
    path.write_text("version: &v [1, *v]\n", encoding="utf-8")
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    assert info.value.line == 1
