"""``sekimori policy check|test|diff|versions|export``: validate a policy, simulate it over saved
messages, and list or export the versions activated from the UI."""

from __future__ import annotations

import argparse
import email
import email.utils
import json
import re
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import Message
from pathlib import Path
from typing import Any, TextIO

from classifiers import scan_message
from classifiers.model import ScanResult
from gateway.config import ConfigError, load_config
from policies import Decision, Envelope, Policy, PolicyError, diff_decisions, evaluate, load_policy


def register(sub: Any) -> None:
    p = sub.add_parser("policy", help="validate a policy file and simulate it over saved messages")
    psub = p.add_subparsers(dest="policy_command", required=True, metavar="ACTION")

    check = psub.add_parser("check", help="validate a policy file and list its rules")
    check.add_argument("file", metavar="FILE")
    check.set_defaults(func=run_check)

    test = psub.add_parser("test", help="run classifiers and the policy over every .eml in a folder")
    test.add_argument("file", metavar="FILE")
    test.add_argument("folder", metavar="FOLDER")
    test.add_argument("--format", choices=("table", "jsonl"), default="table")
    test.set_defaults(func=run_test)

    diff = psub.add_parser("diff", help="show which messages a policy change would decide differently")
    diff.add_argument("old", metavar="OLD")
    diff.add_argument("new", metavar="NEW")
    diff.add_argument("folder", metavar="FOLDER")
    diff.add_argument("--format", choices=("table", "jsonl"), default="table")
    diff.set_defaults(func=run_diff)

    where = argparse.ArgumentParser(add_help=False)
    group = where.add_mutually_exclusive_group()
    group.add_argument("--config", metavar="FILE", help="the gateway's config file (its policy.versions)")
    group.add_argument("--var", metavar="DIR", help="the store folder; versions are in DIR/policies")
    versions = psub.add_parser(
        "versions", parents=[where], help="list the versions activated from the UI (the newest is in force)"
    )
    versions.set_defaults(func=run_versions)
    export = psub.add_parser(
        "export", parents=[where], help="print the policy in force, or an activated version, as YAML"
    )
    export.add_argument("--version", type=int, metavar="N", help="this version instead of the one in force")
    export.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")
    export.set_defaults(func=run_export)


def _load(path: str, command: str) -> Policy | None:
    try:
        return load_policy(path)
    except PolicyError as err:
        print(f"sekimori policy {command}: {err.text_ja}", file=sys.stderr)
        print(f"sekimori policy {command}: {err.text_en}", file=sys.stderr)
        return None


def envelope_from_message(raw: bytes) -> Envelope:
    """A mail envelope from saved headers: From is the sender, To and Cc the recipients."""
    msg = email.message_from_bytes(raw)
    sender = email.utils.parseaddr(str(msg.get("from", "")))[1]
    to = _addresses(msg, "to")
    cc = _addresses(msg, "cc")
    names: list[str] = []
    for part in msg.walk():
        try:
            name = part.get_filename()
        except (ValueError, LookupError):
            name = None
        if name:
            names.append(str(name))
    return Envelope(
        direction="mail",
        sender=sender,
        recipients=tuple(dict.fromkeys((*to, *cc))),
        to=to,
        cc=cc,
        size=len(raw),
        attachment_names=tuple(names),
    )


def _addresses(msg: Message, header: str) -> tuple[str, ...]:
    values = [str(v) for v in msg.get_all(header, [])]
    return tuple(a for _, a in email.utils.getaddresses(values) if "@" in a)


def _messages(folder: str) -> Iterator[tuple[str, bytes]]:
    root = Path(folder)
    for path in sorted(p for p in root.rglob("*.eml") if p.is_file()):
        try:
            yield str(path), path.read_bytes()
        except OSError as exc:
            print(f"sekimori policy: cannot read {path}: {exc.strerror}", file=sys.stderr)


def run_check(args: argparse.Namespace) -> int:
    policy = _load(args.file, "check")
    if policy is None:
        return 1
    out = sys.stdout
    out.write(f"OK: {args.file}\n")
    out.write(f"  社内ドメイン / internal domains: {', '.join(sorted(policy.internal_domains))}\n")
    out.write(f"  社員名簿 / directory: {len(policy.directory)} people\n")
    out.write(f"  ルール / rules: {len(policy.rules)}\n")
    width = max((len(r.id) for r in policy.rules), default=0)
    for r in sorted(policy.rules, key=lambda r: (-r.action.severity, r.id)):
        out.write(f"    {r.id:<{width}}  {r.action.value:<10}  {r.title_ja} / {r.title_en}\n")
    return 0


def decide(policy: Policy, raw: bytes, now: datetime, scan: ScanResult | None = None) -> Decision:
    return evaluate(policy, envelope_from_message(raw), scan or scan_message(raw), now=now)


def _action_text(d: Decision) -> str:
    extra = [t for t in d.transforms if t != d.action.value]
    return d.action.value + (f" (+ {', '.join(extra)})" if extra else "")


def _table(path: str, d: Decision, out: TextIO) -> None:
    out.write(f"{path}\n  action: {_action_text(d)}\n")
    for m in d.matches:
        out.write(f"  rule {m.rule_id} [{m.action.value}] {m.title_ja} / {m.title_en}\n")
        for e in m.evidence:
            line = f"    - {e.detail}" if e.entity_type else f"    - {e.detail}: {e.count}"
            if e.values:
                line += f"  {', '.join(e.values)}"
            if e.locations:
                line += f"  @ {', '.join(e.locations)}"
            out.write(line + "\n")


def _no_folder(folder: str, command: str) -> bool:
    if Path(folder).is_dir():
        return False
    print(f"sekimori policy {command}: フォルダがありません / not a folder: {folder}", file=sys.stderr)
    return True


def run_test(args: argparse.Namespace) -> int:
    policy = _load(args.file, "test")
    if policy is None or _no_folder(args.folder, "test"):
        return 1
    now = datetime.now(UTC)
    out = sys.stdout
    counts: dict[str, int] = {}
    for path, raw in _messages(args.folder):
        d = decide(policy, raw, now)
        counts[d.action.value] = counts.get(d.action.value, 0) + 1
        if args.format == "jsonl":
            line = {
                "path": path,
                "action": d.action.value,
                "transforms": list(d.transforms),
                "rules": list(d.rule_ids),
            }
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
        else:
            _table(path, d, out)
    if args.format == "table":
        summary = ", ".join(f"{a}: {n}" for a, n in sorted(counts.items()))
        out.write(f"{sum(counts.values())} messages ({summary})\n")
    return 0


def run_diff(args: argparse.Namespace) -> int:
    old = _load(args.old, "diff")
    new = _load(args.new, "diff")
    if old is None or new is None or _no_folder(args.folder, "diff"):
        return 1
    now = datetime.now(UTC)
    out = sys.stdout
    total = changed = 0
    for path, raw in _messages(args.folder):
        scan = scan_message(raw)
        diff = diff_decisions(decide(old, raw, now, scan), decide(new, raw, now, scan))
        total += 1
        if not diff.changed:
            continue
        changed += 1
        if args.format == "jsonl":
            out.write(json.dumps({"path": path, **diff.to_dict()}, ensure_ascii=False) + "\n")
        else:
            before = diff.old_action.value + "".join(
                f"+{t}" for t in diff.old_transforms if t != diff.old_action
            )
            after = diff.new_action.value + "".join(
                f"+{t}" for t in diff.new_transforms if t != diff.new_action
            )
            out.write(
                f"{path}: {before} -> {after} ({diff.direction}) by {', '.join(diff.deciding_rules) or '-'}\n"
            )
    if args.format == "table":
        out.write(f"{changed} of {total} messages change decision\n")
    return 0


_VERSION_FILE = re.compile(r"^v(\d{4,})\.yaml$")


def _versions_place(args: argparse.Namespace) -> tuple[Path, Path | None]:
    """The versions folder and the configured policy file (``None`` with ``--var``)."""
    if args.var:
        return Path(args.var) / "policies", None
    config = load_config(args.config or "sekimori.yaml")
    assert config.policy.versions is not None  # resolved by load_config
    return config.policy.versions, config.policy.path


def _version_rows(folder: Path) -> list[dict[str, Any]]:
    rows = []
    for path in sorted(folder.glob("v*.yaml")) if folder.is_dir() else []:
        m = _VERSION_FILE.match(path.name)
        if not m:
            continue
        try:
            meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            meta = {}
        rows.append({"version": int(m.group(1)), "path": path, **meta})
    return rows


def run_versions(args: argparse.Namespace) -> int:
    try:
        folder, configured = _versions_place(args)
    except ConfigError as err:
        print(f"sekimori policy versions: {err}", file=sys.stderr)
        return 2
    rows = _version_rows(folder)
    active = folder / "active.yaml"
    current = active.read_bytes() if active.is_file() else None
    if not rows:
        print(f"(no version activated from the UI; in force: {configured or 'the configured policy.path'})")
        return 0
    for row in rows:
        mark = "*" if current is not None and row["path"].read_bytes() == current else " "
        at = _local_time(str(row.get("at", "")))
        print(f"{mark} v{row['version']:<4} {at:<24} {row.get('by') or '-':<28} {row.get('comment', '')}")
    print(f"(* in force: {active})")
    return 0


def _local_time(iso: str) -> str:
    try:
        return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M %Z")
    except ValueError:
        return iso or "-"


def run_export(args: argparse.Namespace) -> int:
    try:
        folder, configured = _versions_place(args)
    except ConfigError as err:
        print(f"sekimori policy export: {err}", file=sys.stderr)
        return 2
    if args.version is not None:
        source = folder / f"v{args.version:04d}.yaml"
    elif (folder / "active.yaml").is_file():
        source = folder / "active.yaml"
    elif configured is not None:
        source = configured
    else:
        print(f"sekimori policy export: no version activated in {folder}", file=sys.stderr)
        return 1
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        print(f"sekimori policy export: {source}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    if args.output:
        try:
            Path(args.output).write_text(text, encoding="utf-8")
        except OSError as exc:
            print(f"sekimori policy export: {args.output}: {exc.strerror or exc}", file=sys.stderr)
            return 1
        print(f"{source} -> {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
