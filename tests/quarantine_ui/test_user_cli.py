"""``sekimori user`` against a real var directory."""

from __future__ import annotations

import io
import stat
from pathlib import Path

import pytest
from argon2 import PasswordHasher, profiles

from gateway.cli import main
from quarantine_ui.accounts import Accounts
from quarantine_ui.config import UIConfig
from quarantine_ui.db import Database


def run(var: Path, *args: str, stdin: str = "", monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return main(["user", *args, "--var", str(var)])


def accounts(var: Path) -> Accounts:
    config = UIConfig.for_var_dir(var, hasher=PasswordHasher.from_parameters(profiles.CHEAPEST))
    return Accounts(Database(config.db_path), config)


def test_add_set_password_list_reset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    var = tmp_path / "var"
    assert (
        run(
            var,
            "add",
            "Taro@Example.jp",
            "--name",
            "山田 太郎",
            "--role",
            "sender",
            "--role",
            "approver",
            monkeypatch=monkeypatch,
        )
        == 0
    )
    assert "user added: taro@example.jp (approver, sender)" in capsys.readouterr().out
    assert stat.S_IMODE((var / "ui.sqlite3").stat().st_mode) == 0o600
    assert stat.S_IMODE((var / "ui-secret.key").stat().st_mode) == 0o600

    assert (
        run(var, "set-password", "taro@example.jp", stdin="a long enough password\n", monkeypatch=monkeypatch)
        == 0
    )
    acc = accounts(var)
    assert acc.authenticate("taro@example.jp", "a long enough password", "ip").ok

    user = acc.get("taro@example.jp")
    assert user is not None
    enrolment = acc.begin_enrolment(user.id)
    import pyotp

    assert acc.confirm_enrolment(user.id, pyotp.TOTP(enrolment.secret).now(), "ip").ok
    capsys.readouterr()
    assert run(var, "list", monkeypatch=monkeypatch) == 0
    assert capsys.readouterr().out == "taro@example.jp\t山田 太郎\tapprover,sender\tpassword mfa\n"

    assert run(var, "reset-mfa", "taro@example.jp", monkeypatch=monkeypatch) == 0
    reset = accounts(var).get("taro@example.jp")
    assert reset is not None and not reset.mfa_enrolled


def test_unlock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    var = tmp_path / "var"
    run(var, "add", "a@example.jp", "--name", "A", "--role", "sender", monkeypatch=monkeypatch)
    acc = accounts(var)
    acc.set_password("a@example.jp", "a long enough password")
    for _ in range(5):
        acc.authenticate("a@example.jp", "wrong", "ip")
    assert not acc.authenticate("a@example.jp", "a long enough password", "ip").ok
    assert run(var, "unlock", "a@example.jp", monkeypatch=monkeypatch) == 0
    assert acc.authenticate("a@example.jp", "a long enough password", "ip").ok


def test_disable_and_enable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    var = tmp_path / "var"
    run(var, "add", "a@example.jp", "--name", "A", "--role", "sender", monkeypatch=monkeypatch)
    acc = accounts(var)
    acc.set_password("a@example.jp", "a long enough password")
    assert run(var, "disable", "a@example.jp", monkeypatch=monkeypatch) == 0
    assert not acc.authenticate("a@example.jp", "a long enough password", "ip").ok
    capsys.readouterr()
    run(var, "list", monkeypatch=monkeypatch)
    assert capsys.readouterr().out.endswith("password no-mfa disabled\n")
    assert run(var, "enable", "a@example.jp", monkeypatch=monkeypatch) == 0
    assert acc.authenticate("a@example.jp", "a long enough password", "ip").ok
    assert run(var, "disable", "ghost@example.jp", monkeypatch=monkeypatch) == 1


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("add", "nobody", "--name", "X", "--role", "sender"), "", "not a mail address"),
        (("set-password", "ghost@example.jp"), "a long enough password\n", "no such user"),
        (("set-password", "a@example.jp"), "short\n", "at least 12"),
        (("reset-mfa", "ghost@example.jp"), "", "no such user"),
        (("add", "a@example.jp", "--name", "A", "--role", "sender"), "", "already exists"),
    ],
)
def test_errors_exit_1_with_a_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, args: tuple[str, ...], stdin: str, message: str
) -> None:
    var = tmp_path / "var"
    run(var, "add", "a@example.jp", "--name", "A", "--role", "sender", monkeypatch=monkeypatch)
    capsys.readouterr()
    assert run(var, *args, stdin=stdin, monkeypatch=monkeypatch) == 1
    err = capsys.readouterr().err
    assert "エラー / error" in err and message in err


def test_unknown_role_is_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SystemExit) as exc:
        run(tmp_path, "add", "a@example.jp", "--name", "A", "--role", "root", monkeypatch=monkeypatch)
    assert exc.value.code == 2


def test_sync_from_a_csv_export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    var = tmp_path / "var"
    run(var, "add", "old@example.jp", "--name", "Old", "--role", "sender", monkeypatch=monkeypatch)
    export = tmp_path / "directory.csv"
    export.write_text(
        "\ufeffaddress,name,roles\ntaro@example.jp,山田 太郎,sender;approver\nhana@example.jp,佐藤 花子,sender\n",
        encoding="utf-8",
    )
    capsys.readouterr()
    assert run(var, "sync", str(export), monkeypatch=monkeypatch) == 0
    out = capsys.readouterr().out
    assert "追加 / added: hana@example.jp" in out and "無効化 / disabled: old@example.jp" in out
    assert "2 entries, 2 added, 0 updated, 1 disabled, 0 enabled" in out
    taro = accounts(var).get("taro@example.jp")
    assert taro is not None and taro.roles == frozenset({"sender", "approver"}) and taro.name == "山田 太郎"


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("address,name\na@example.jp,A\n", ":1: missing column(s): roles"),
        ("address,name,roles\na@example.jp,A,sender\nbroken,B,sender\n", ":3: not a mail address"),
        ("address,name,roles\na@example.jp,A,boss\n", ":2: roles must be among"),
        ("address,name,roles\na@example.jp,,sender\n", ":2: name is empty"),
        (
            "address,name,roles\na@example.jp,A,sender\nA@example.jp,A,sender\n",
            ":3: a@example.jp already listed on line 2",
        ),
    ],
)
def test_sync_errors_name_file_and_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, text: str, where: str
) -> None:
    export = tmp_path / "dir.csv"
    export.write_text(text, encoding="utf-8")
    assert run(tmp_path / "var", "sync", str(export), monkeypatch=monkeypatch) == 1
    assert f"{export}{where}" in capsys.readouterr().err


def test_sync_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    missing = tmp_path / "nope.csv"
    assert run(tmp_path / "var", "sync", str(missing), monkeypatch=monkeypatch) == 1
    assert f"{missing}: cannot read" in capsys.readouterr().err


def _account_events(var: Path) -> list[tuple[str, str, str]]:
    import asyncio

    from gateway.store import open_store

    async def read() -> list[tuple[str, str, str]]:
        store = await open_store(var)
        try:
            return [
                (e.action, e.actor, e.extra.get("address", ""))
                for e in await store.audit_events(msg_id="accounts")
            ]
        finally:
            await store.close()

    return asyncio.run(read())


def test_account_changes_are_audit_events_with_the_operator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    var = tmp_path / "var"
    monkeypatch.setattr("getpass.getuser", lambda: "root")
    assert (
        run(var, "add", "hanako@example.jp", "--name", "花子", "--role", "sender", monkeypatch=monkeypatch)
        == 0
    )
    assert run(var, "set-roles", "hanako@example.jp", "--role", "sender", "--role", "approver",
               monkeypatch=monkeypatch) == 0  # fmt: skip
    assert run(var, "reset-mfa", "hanako@example.jp", monkeypatch=monkeypatch) == 0
    assert run(var, "disable", "hanako@example.jp", monkeypatch=monkeypatch) == 0
    assert "roles set: hanako@example.jp (approver, sender)" in capsys.readouterr().out
    assert _account_events(var) == [
        ("user_added", "operator:root", "hanako@example.jp"),
        ("user_updated", "operator:root", "hanako@example.jp"),
        ("mfa_reset", "operator:root", "hanako@example.jp"),
        ("disabled", "operator:root", "hanako@example.jp"),
    ]
    # The chain stays whole.
    assert main(["audit", "verify", "--var", str(var)]) == 0
    assert accounts(var).get("hanako@example.jp").roles == frozenset({"sender", "approver"})  # type: ignore[union-attr]
