"""``sekimori policy check|test|diff`` run through the real CLI entry point on temp folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.cli import main
from policies import default_policy_path, load_policy
from tests.policies.helpers import eml


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    box = tmp_path / "mails"
    (box / "2026-04").mkdir(parents=True)
    (box / "internal.eml").write_bytes(
        eml(to="hanako.sato@example.co.jp", subject="週報", body="今週の報告です。")
    )
    (box / "external.eml").write_bytes(eml(to="John <john@example.com>", subject="Hello", body="Hi John"))
    (box / "2026-04" / "my_number.eml").write_bytes(
        eml(to="office@example.com", subject="源泉徴収票", body="個人番号 1234 5678 9018 です。")
    )
    (box / "notes.txt").write_text("not a message", encoding="utf-8")
    return box


def _jsonl(text: str) -> dict[str, dict[str, object]]:
    return {Path(str(row["path"])).name: row for row in map(json.loads, text.splitlines())}


def test_check_lists_rules(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "check", str(default_policy_path())]) == 0
    out = capsys.readouterr().out
    assert out.startswith("OK: ")
    for rule in load_policy(default_policy_path()).rules:
        assert rule.id in out and rule.title_ja in out


def test_check_broken_file_exits_1_with_line_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "p.yaml"
    broken.write_text(
        default_policy_path()
        .read_text(encoding="utf-8")
        .replace("type: hold\n      grace: 5m", "type: hold\n      grace: 5 minutes"),
        encoding="utf-8",
    )
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "directory.csv").write_bytes(
        (default_policy_path().parent / "examples" / "directory.csv").read_bytes()
    )
    assert main(["policy", "check", str(broken)]) == 1
    err = capsys.readouterr().err
    line = next(
        i + 1
        for i, t in enumerate(broken.read_text(encoding="utf-8").splitlines())
        if "grace: 5 minutes" in t
    )
    assert f"{broken}:{line}: rules[0].action.grace: not a duration: 5 minutes" in err
    assert "時間の書き方が正しくありません" in err


def test_test_jsonl(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "test", str(default_policy_path()), str(folder), "--format", "jsonl"]) == 0
    rows = _jsonl(capsys.readouterr().out)
    assert set(rows) == {"internal.eml", "external.eml", "my_number.eml"}
    assert rows["internal.eml"] == {
        "path": str(folder / "internal.eml"),
        "action": "deliver",
        "transforms": [],
        "rules": [],
    }
    assert rows["external.eml"]["action"] == "hold"
    assert rows["external.eml"]["rules"] == ["hold-external-grace"]
    assert rows["my_number.eml"]["action"] == "block"
    assert "block-my-number-external" in rows["my_number.eml"]["rules"]  # type: ignore[operator]


def test_test_table_shows_rules_and_evidence(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "test", str(default_policy_path()), str(folder)]) == 0
    out = capsys.readouterr().out
    assert "action: block" in out
    assert "rule block-my-number-external [block] マイナンバーの社外送信を禁止" in out
    assert "**** **** 9018" in out and "1234 5678 9018" not in out
    assert out.rstrip().endswith("3 messages (block: 1, deliver: 1, hold: 1)")


def test_test_with_broken_policy_exits_1(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("version: 1\nrules: [\n", encoding="utf-8")
    assert main(["policy", "test", str(broken), str(folder)]) == 1
    assert f"{broken}:" in capsys.readouterr().err


def _variant(tmp_path: Path, old: str, new: str) -> Path:
    text = default_policy_path().read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "new.yaml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    (tmp_path / "examples").mkdir(exist_ok=True)
    (tmp_path / "examples" / "directory.csv").write_bytes(
        (default_policy_path().parent / "examples" / "directory.csv").read_bytes()
    )
    return path


def test_diff_names_the_changed_messages_and_the_rule(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new = _variant(
        tmp_path,
        "    action:\n      type: block\n      notify_security: true\n\n  # ---------------------------------------------------------------------------------------\n  # 4.",
        "    action:\n      type: quarantine\n      notify_security: true\n\n  # 4.",
    )
    assert main(["policy", "diff", str(default_policy_path()), str(new), str(folder)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"{folder / '2026-04' / 'my_number.eml'}: block -> quarantine (looser) by block-my-number-external",
        "1 of 3 messages change decision",
    ]


def test_diff_jsonl_for_a_transform_change(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A stricter BCC threshold: one external address now makes the mail BCC-converted.
    new = _variant(tmp_path, "external_addresses: {at_least: 10}", "external_addresses: {at_least: 1}")
    assert (
        main(["policy", "diff", str(default_policy_path()), str(new), str(folder), "--format", "jsonl"]) == 0
    )
    rows = _jsonl(capsys.readouterr().out)
    assert set(rows) == {"external.eml", "my_number.eml"}
    ext = rows["external.eml"]
    assert ext["old"] == {"action": "hold", "transforms": []}
    assert ext["new"] == {"action": "hold", "transforms": ["bcc"]}
    assert ext["deciding_rules"] == ["bcc-many-external"]


def test_missing_folder_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy = str(default_policy_path())
    assert main(["policy", "test", policy, str(tmp_path / "nope")]) == 1
    assert main(["policy", "diff", policy, policy, str(tmp_path / "nope")]) == 1
    assert "not a folder" in capsys.readouterr().err


def test_malformed_messages_do_not_stop_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "garbage.eml").write_bytes(
        b"\xff\xfe\x00From: <<<@@@>>>\r\nTo: ,,,;;\r\nContent-Type: multipart/mixed\r\n\r\n--"
    )
    (tmp_path / "empty.eml").write_bytes(b"")
    assert main(["policy", "test", str(default_policy_path()), str(tmp_path), "--format", "jsonl"]) == 0
    rows = _jsonl(capsys.readouterr().out)
    assert set(rows) == {"garbage.eml", "empty.eml"}
