"""PolicyHolder: a changed file goes live atomically; a broken one keeps the old policy running."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest

from policies import Action, PolicyError, PolicyHolder, evaluate
from tests.policies.helpers import EMPTY, NOW, mail, rule_yaml, write_policy

EXT = "a@example.com"


def test_reload_swaps_in_the_new_policy(tmp_path: Path) -> None:
    path = write_policy(tmp_path, rule_yaml("r", "{direction: mail}", "hold"))
    holder = PolicyHolder(path)
    old = holder.current
    assert evaluate(old, mail(EXT), EMPTY, now=NOW).action is Action.HOLD
    assert holder.reload_if_changed() is False

    write_policy(tmp_path, rule_yaml("r", "{direction: mail}", "block"))
    assert holder.reload_if_changed() is True
    assert holder.current is not old
    assert evaluate(holder.current, mail(EXT), EMPTY, now=NOW).action is Action.BLOCK
    # A message that started with the old policy still has it, unchanged.
    assert evaluate(old, mail(EXT), EMPTY, now=NOW).action is Action.HOLD


def test_broken_file_keeps_the_old_policy_and_says_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_policy(tmp_path, rule_yaml("r", "{direction: mail}", "hold"))
    holder = PolicyHolder(path)
    old = holder.current
    write_policy(tmp_path, rule_yaml("r", "{direction: mail}", "explode"))
    with caplog.at_level(logging.ERROR, logger="policies.holder"):
        err = holder.reload()
    assert isinstance(err, PolicyError) and err.code == "unknown_action"
    assert holder.current is old
    assert holder.last_error is err
    assert "unknown action: explode" in caplog.text and "知らないアクションです" in caplog.text
    # The broken file is not retried until it changes again.
    assert holder.reload_if_changed() is False
    write_policy(tmp_path, rule_yaml("r", "{direction: mail}", "quarantine"))
    assert holder.reload_if_changed() is True
    assert [holder.last_error] == [None]
    assert evaluate(holder.current, mail(EXT), EMPTY, now=NOW).action is Action.QUARANTINE


def test_a_changed_directory_is_reloaded(tmp_path: Path) -> None:
    path = write_policy(
        tmp_path, rule_yaml("r", "{direction: mail}", "{type: approval, approvers: [manager]}")
    )
    holder = PolicyHolder(path)
    assert evaluate(holder.current, mail(EXT), EMPTY, now=NOW).approvers == ("hanako.sato@example.co.jp",)
    people = tmp_path / "people.csv"
    people.write_text(
        people.read_text(encoding="utf-8").replace(
            "taro.yamada@example.co.jp,山田 太郎,営業部,hanako.sato@example.co.jp",
            "taro.yamada@example.co.jp,山田 太郎,営業部,ichiro.suzuki@example.co.jp",
        ),
        encoding="utf-8",
    )
    assert holder.reload_if_changed() is True
    assert evaluate(holder.current, mail(EXT), EMPTY, now=NOW).approvers == ("ichiro.suzuki@example.co.jp",)


def test_first_load_of_a_broken_file_raises(tmp_path: Path) -> None:
    path = write_policy(tmp_path, rule_yaml("r", "{direction: mail}", "explode"))
    with pytest.raises(PolicyError):
        PolicyHolder(path)


def test_old_unchanged_files_are_not_read_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_policy(tmp_path, rule_yaml("r", "{direction: mail}", "hold"))
    an_hour_ago = time.time() - 3600
    for f in (path, tmp_path / "people.csv"):
        os.utime(f, (an_hour_ago, an_hour_ago))
    holder = PolicyHolder(path)
    reads: list[Path] = []
    original = Path.read_bytes

    def counting(self: Path) -> bytes:
        reads.append(self)
        return original(self)

    monkeypatch.setattr(Path, "read_bytes", counting)
    assert holder.reload_if_changed() is False
    assert reads == []
    write_policy(tmp_path, rule_yaml("r", "{direction: mail}", "block"))
    os.utime(path, (an_hour_ago, an_hour_ago))  # same old timestamp, but the size changed
    assert holder.reload_if_changed() is True
    assert evaluate(holder.current, mail(EXT), EMPTY, now=NOW).action is Action.BLOCK
