"""``sekimori user``: manage quarantine-UI accounts (add, set-password, reset-mfa, unlock, disable, enable, list)."""

from __future__ import annotations

import argparse
import asyncio
import csv
import getpass
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gateway.accountaudit import AccountAudit
from gateway.commands._store_args import operator
from gateway.config import ConfigError, load_config
from gateway.store import StoreError, open_store
from quarantine_ui.accounts import AccountError, Accounts, DirectoryEntry, normalize_address
from quarantine_ui.config import ROLES, UIConfig
from quarantine_ui.db import Database


def register(sub: Any) -> None:
    p = sub.add_parser("user", help="manage accounts of the quarantine web UI")
    # --var is accepted after the action too: `sekimori user add ADDRESS ... --var DIR`.
    common = argparse.ArgumentParser(add_help=False)
    where = common.add_mutually_exclusive_group()
    where.add_argument(
        "--var", default=None, metavar="DIR", help="state directory holding ui.sqlite3 (default: var)"
    )
    where.add_argument(
        "--config",
        metavar="FILE",
        help="the gateway's config file: its store.path holds ui.sqlite3, and its store (store.url "
        "or store.path) receives the audit events",
    )
    actions = p.add_subparsers(dest="user_command", required=True, metavar="ACTION")

    add = actions.add_parser("add", parents=[common], help="create an account for a directory user")
    add.add_argument("address", help="mail address, used as the login name")
    add.add_argument("--name", required=True, help="display name")
    add.add_argument(
        "--role", action="append", choices=ROLES, required=True, help="role (repeat for several)"
    )
    add.set_defaults(func=_add)

    pw = actions.add_parser(
        "set-password", parents=[common], help="set a password (read from the terminal, or one line of stdin)"
    )
    pw.add_argument("address")
    pw.set_defaults(func=_set_password)

    mfa = actions.add_parser(
        "reset-mfa", parents=[common], help="remove the TOTP secret; the user enrols again at next login"
    )
    mfa.add_argument("address")
    mfa.set_defaults(func=_reset_mfa)

    unlock = actions.add_parser(
        "unlock", parents=[common], help="lift a lockout after repeated failed logins"
    )
    unlock.add_argument("address")
    unlock.set_defaults(func=_unlock)

    disable = actions.add_parser(
        "disable", parents=[common], help="refuse all logins of an account and end its sessions"
    )
    disable.add_argument("address")
    disable.set_defaults(func=_disable)

    enable = actions.add_parser("enable", parents=[common], help="allow a disabled account to log in again")
    enable.add_argument("address")
    enable.set_defaults(func=_enable)

    sync = actions.add_parser(
        "sync",
        parents=[common],
        help="make the accounts match a directory export (CSV: address,name,roles; roles separated by ';')",
    )
    sync.add_argument("file", type=Path, help="CSV file with a header row: address,name,roles")
    sync.set_defaults(func=_sync)

    roles = actions.add_parser("set-roles", parents=[common], help="give an account exactly these roles")
    roles.add_argument("address")
    roles.add_argument(
        "--role", action="append", choices=ROLES, required=True, help="role (repeat for several)"
    )
    roles.set_defaults(func=_set_roles)

    ls = actions.add_parser("list", parents=[common], help="list accounts")
    ls.set_defaults(func=_list)
    for parser in (add, pw, mfa, unlock, disable, enable, sync, roles):
        parser.set_defaults(func=_audited(parser.get_default("func")))


def _where(args: argparse.Namespace) -> tuple[Path, Path | str]:
    """The folder of ui.sqlite3 and the store that receives the audit events."""
    if getattr(args, "config", None):
        store = load_config(args.config).store
        return store.path, store.url or store.path
    var = Path(args.var or "var")
    return var, var


def _audited(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Run an account command, then write its events into the store's audit trail, with the
    operator (the OS user) as the actor of the changes."""

    def run(args: argparse.Namespace) -> int:
        try:
            _, store_at = _where(args)
        except ConfigError as exc:
            print(f"sekimori user: {exc}", file=sys.stderr)
            return 2
        args.audit = AccountAudit(None, actor=str(operator()))
        status = func(args)
        if not args.audit.pending:
            return status

        audit: AccountAudit = args.audit

        async def write() -> int:
            store = await open_store(store_at)
            try:
                return await audit.flush(store)
            finally:
                await store.close()

        try:
            asyncio.run(write())
        except (OSError, StoreError) as exc:
            print(
                f"sekimori user: 変更は保存しましたが監査ログに記録できませんでした / the change was made "
                f"but could not be written to the audit trail: {exc}",
                file=sys.stderr,
            )
            return 1
        return status

    return run


def _accounts(args: argparse.Namespace) -> Accounts:
    var, _ = _where(args)
    config = UIConfig.for_var_dir(var)
    return Accounts(Database(config.db_path), config, getattr(args, "audit", None))


def _fail(exc: AccountError) -> int:
    print(f"sekimori user: エラー / error: {exc}", file=sys.stderr)
    return 1


def _add(args: argparse.Namespace) -> int:
    try:
        user = _accounts(args).add_user(args.address, args.name, args.role)
    except AccountError as exc:
        return _fail(exc)
    print(f"利用者を追加しました / user added: {user.address} ({', '.join(sorted(user.roles))})")
    return 0


def _read_password() -> str | None:
    if sys.stdin.isatty():
        first = getpass.getpass("新しいパスワード / new password: ")
        second = getpass.getpass("もう一度 / again: ")
        return first if first == second else None
    return sys.stdin.readline().rstrip("\r\n")


def _set_password(args: argparse.Namespace) -> int:
    password = _read_password()
    if password is None:
        print("sekimori user: パスワードが一致しません / the passwords differ", file=sys.stderr)
        return 1
    try:
        _accounts(args).set_password(args.address, password)
    except AccountError as exc:
        return _fail(exc)
    print(f"パスワードを設定しました / password set: {args.address.strip().lower()}")
    return 0


def _reset_mfa(args: argparse.Namespace) -> int:
    try:
        _accounts(args).reset_mfa(args.address)
    except AccountError as exc:
        return _fail(exc)
    print(f"二要素認証をリセットしました / MFA reset: {args.address.strip().lower()}")
    return 0


def _unlock(args: argparse.Namespace) -> int:
    try:
        _accounts(args).unlock(args.address)
    except AccountError as exc:
        return _fail(exc)
    print(f"ロックを解除しました / unlocked: {args.address.strip().lower()}")
    return 0


def _set_roles(args: argparse.Namespace) -> int:
    try:
        user = _accounts(args).set_roles(args.address, args.role)
    except AccountError as exc:
        return _fail(exc)
    print(f"役割を変更しました / roles set: {user.address} ({', '.join(sorted(user.roles))})")
    return 0


def _disable(args: argparse.Namespace) -> int:
    try:
        _accounts(args).set_disabled(args.address, True)
    except AccountError as exc:
        return _fail(exc)
    print(f"アカウントを無効にしました / disabled: {args.address.strip().lower()}")
    return 0


def _enable(args: argparse.Namespace) -> int:
    try:
        _accounts(args).set_disabled(args.address, False)
    except AccountError as exc:
        return _fail(exc)
    print(f"アカウントを有効にしました / enabled: {args.address.strip().lower()}")
    return 0


def read_directory_csv(path: Path) -> list[DirectoryEntry]:
    """Read a directory export; raise AccountError naming the file and line of the first problem."""
    entries: list[DirectoryEntry] = []
    seen: dict[str, int] = {}
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            missing = {"address", "name", "roles"} - set(reader.fieldnames or ())
            if missing:
                raise AccountError(f"{path}:1: missing column(s): {', '.join(sorted(missing))}")
            for row in reader:
                line = reader.line_num
                try:
                    address = normalize_address(row["address"] or "")
                except AccountError as exc:
                    raise AccountError(f"{path}:{line}: {exc}") from None
                roles = tuple(r for r in (row["roles"] or "").replace(";", " ").split() if r)
                bad = [r for r in roles if r not in ROLES]
                if bad or not roles:
                    raise AccountError(
                        f"{path}:{line}: roles must be among {', '.join(ROLES)}; got {row['roles']!r}"
                    )
                if not (row["name"] or "").strip():
                    raise AccountError(f"{path}:{line}: name is empty")
                if address in seen:
                    raise AccountError(f"{path}:{line}: {address} already listed on line {seen[address]}")
                seen[address] = line
                entries.append(DirectoryEntry(address, row["name"].strip(), roles))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise AccountError(f"{path}: cannot read: {exc}") from None
    return entries


def _sync(args: argparse.Namespace) -> int:
    try:
        entries = read_directory_csv(args.file)
        report = _accounts(args).sync(entries)
    except AccountError as exc:
        return _fail(exc)
    for label, addresses in (
        ("追加 / added", report.added),
        ("更新 / updated", report.updated),
        ("無効化 / disabled", report.disabled),
        ("再有効化 / enabled", report.enabled),
    ):
        for address in addresses:
            print(f"{label}: {address}")
    print(
        f"同期しました / synchronised: {len(entries)} entries, {len(report.added)} added, "
        f"{len(report.updated)} updated, {len(report.disabled)} disabled, {len(report.enabled)} enabled"
    )
    return 0


def _list(args: argparse.Namespace) -> int:
    for user in _accounts(args).list_users():
        flags = [
            "password" if user.has_password else "no-password",
            "mfa" if user.mfa_enrolled else "no-mfa",
            *(["disabled"] if user.disabled else []),
        ]
        print(f"{user.address}\t{user.name}\t{','.join(sorted(user.roles))}\t{' '.join(flags)}")
    return 0
