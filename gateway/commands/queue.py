"""``sekimori queue``: look at and act on queued messages, as an operator.

Every action is a store transition with actor ``operator:<os user>``, so it lands in the audit
chain like any other. ``release`` moves a held, quarantined or approval-pending message to
``delivering`` without an owner; the running gateway's delivery worker picks it up from
``Store.due``. ``purge`` is the retention job: it removes the bodies of finished messages (the
records and their audit trail stay).
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from gateway import actions, retention
from gateway.auditexport import export_record
from gateway.commands._store_args import operator, run_on_store, store_options
from gateway.commands._terminal import shown
from gateway.config import Config, load_config, parse_duration
from gateway.notify import Notifier
from gateway.store import AuditEvent, ItemKind, MessageRecord, State, Store
from policies import explain


class Refused(Exception):
    """The action does not apply to the message as it is now."""


def register(sub: Any) -> None:
    parent = store_options()
    p = sub.add_parser(
        "queue",
        help="list, show, release, cancel or delete queued messages; revoke, extend or shorten download links",
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")

    ls = actions.add_parser("list", parents=[parent], help="list messages, newest first")
    ls.add_argument("--state", action="append", choices=[s.value for s in State], help="repeatable")
    ls.add_argument("--sender", help="only messages from this envelope sender (or uploads of this user)")
    ls.add_argument(
        "--kind", choices=[k.value for k in ItemKind], help="only messages, uploads, links or files"
    )
    ls.add_argument("--limit", type=int, default=50)
    ls.add_argument(
        "--format",
        choices=("table", "json", "jsonl"),
        default="table",
        help="table: for people (local time with its zone); json: one array; jsonl: one object a line",
    )
    ls.set_defaults(func=run)

    show = actions.add_parser("show", parents=[parent], help="one message with its audit trail")
    show.add_argument("id")
    show.add_argument("--raw", action="store_true", help="print the spooled message itself")
    show.add_argument(
        "--format", choices=("text", "json"), default="text", help="json: the record and its history"
    )
    show.set_defaults(func=run)

    for name, text in (
        ("release", "deliver a held, quarantined or approval-pending message now"),
        ("cancel", "never deliver a held (cancelled) or approval-pending (rejected, sender told) message"),
        ("delete", "delete a quarantined message, or purge the body of a finished one"),
    ):
        act = actions.add_parser(name, parents=[parent], help=text)
        act.add_argument("id")
        act.add_argument("--reason", default="", help="recorded in the audit trail")
        act.set_defaults(func=run)

    for name, text in (
        ("revoke", "revoke a download link (the next download is refused)"),
        ("extend", "move a download link's expiry later (--until)"),
        ("shorten", "move a download link's expiry earlier (--until)"),
    ):
        act = actions.add_parser(name, parents=[parent], help=text)
        act.add_argument("id", help="the link's id (sekimori queue list --kind link)")
        act.add_argument("--reason", default="", help="recorded in the audit trail")
        if name != "revoke":
            act.add_argument(
                "--until",
                required=True,
                type=until,
                help="new expiry: YYYY-MM-DD (end of that day) or ISO 8601",
            )
        act.set_defaults(func=run)

    purge = actions.add_parser(
        "purge", parents=[parent], help="remove the bodies of messages finished longer ago than --older-than"
    )
    purge.add_argument("--older-than", required=True, type=duration, metavar="DURATION", help="e.g. 30d, 12h")
    purge.set_defaults(func=run)


def duration(text: str) -> float:
    """``argparse`` type for ``30d``, ``12h``, ``90s`` ..."""
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def until(text: str) -> datetime:
    """``argparse`` type for a new expiry: a day (its end, local time) or an ISO 8601 time."""
    try:
        if len(text) == 10:
            day = datetime.strptime(text, "%Y-%m-%d").astimezone()
            return (day + timedelta(days=1)).astimezone(UTC)
        at = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date: {text!r} (use YYYY-MM-DD)") from None
    return at if at.tzinfo is not None else at.astimezone()


def _when(at: datetime | None) -> str:
    """Local time with its zone (the machine's, or ``TZ``), e.g. ``2026-11-22 14:32:32 JST``."""
    return "-" if at is None else at.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


def decision_lines(decision: Mapping[str, Any]) -> list[str]:
    """The decision as people read it: the action (and what rides along), then each rule that
    matched with its evidence.

    >>> decision_lines({"action": "hold", "transforms": ["bcc"], "matches": [{"rule_id": "r1",
    ...     "title_en": "Grace period", "action": "hold", "evidence": [{"code": "external_recipients",
    ...     "count": 1, "values": ["partner.example"]}]}]})
    ['hold + bcc', '  r1: Grace period (hold)', '    external recipients (1): partner.example']
    """
    if not decision:
        return ["-"]
    action = str(decision.get("action") or "-")
    extra = [str(t) for t in decision.get("transforms") or () if t != action]
    lines = [" + ".join([action, *extra])]
    if decision.get("skipped"):
        lines[0] += f" (not inspected: {decision['skipped']})"
    for m in decision.get("matches") or ():
        if not isinstance(m, Mapping):
            continue
        lines.append(
            f"  {m.get('rule_id', '?')}: {m.get('title_en') or m.get('title_ja') or ''} ({m.get('action', '')})"
        )
        lines += [f"    {explain.line(e, 'en')}" for e in m.get("evidence") or () if isinstance(e, Mapping)]
    return lines


def record_json(rec: MessageRecord) -> dict[str, Any]:
    def iso(at: datetime | None) -> str | None:
        return None if at is None else at.astimezone(UTC).isoformat()

    return {
        "id": rec.id,
        "state": rec.state.value,
        "sender": rec.sender,
        "recipients": list(rec.recipients),
        "subject": rec.subject,
        "size": rec.size,
        "received_at": iso(rec.received_at),
        "updated_at": iso(rec.updated_at),
        "release_at": iso(rec.release_at),
        "next_attempt_at": iso(rec.next_attempt_at),
        "expires_at": iso(rec.expires_at),
        "attempts": rec.attempts,
        "last_error": rec.last_error,
        "decision": dict(rec.decision),
        "approvers": list(rec.approvers),
        "owner": rec.owner,
        "has_raw": rec.has_raw,
        "kind": rec.kind.value,
        "upload": rec.meta.get("upload") if rec.kind is ItemKind.UPLOAD else None,
        "pass": rec.meta.get("pass") if rec.kind is ItemKind.UPLOAD else None,
    }


def _table(records: list[MessageRecord], out: TextIO) -> None:
    out.write(f"{'ID':<26}  {'STATE':<16}  {'RECEIVED':<19}  {'SIZE':>8}  {'RCPT':>4}  SENDER / SUBJECT\n")
    for r in records:
        subject = r.subject if len(r.subject) <= 40 else r.subject[:39] + "…"
        out.write(
            f"{r.id:<26}  {r.state.value:<16}  {_when(r.received_at):<19}  {r.size:>8}  "
            f"{len(r.recipients):>4}  {shown(r.sender)}  {shown(subject)}\n"
        )
    out.write(f"({len(records)} message(s))\n")


def _show(rec: MessageRecord, events: list[AuditEvent], out: TextIO) -> None:
    rows = [
        ("id", rec.id),
        ("state", rec.state.value),
        ("sender", rec.sender),
        ("recipients", ", ".join(rec.recipients)),
        ("subject", rec.subject),
        ("size", str(rec.size)),
        ("received", _when(rec.received_at)),
        ("updated", _when(rec.updated_at)),
        ("release at", _when(rec.release_at)),
        ("next attempt", _when(rec.next_attempt_at)),
        ("expires", _when(rec.expires_at)),
        ("attempts", str(rec.attempts)),
        ("last error", rec.last_error or "-"),
        ("decision", ("\n" + " " * 14).join(shown(line) for line in decision_lines(rec.decision))),
        ("approvers", ", ".join(rec.approvers) or "-"),
        ("owner", rec.owner or "-"),
        ("body", "spooled" if rec.has_raw else "removed"),
    ]
    facts = rec.upload
    if facts is not None:
        where = f"{facts.service} {facts.host}" + (f" tenant {facts.tenant}" if facts.tenant else "")
        if facts.sharing_scope:
            where += f" sharing {facts.sharing_scope}"
        rows[1:1] = [("kind", rec.kind.value), ("upload", where)]
        if isinstance(rec.meta.get("pass"), dict):
            granted = rec.meta["pass"]
            rows.append(
                ("pass", f"used {rec.attempts} of {granted.get('uses')}, by {granted.get('by', '-')}")
            )
    for key, value in rows:
        # Each value escaped on its own; the decision's lines are escaped one by one above.
        out.write(f"{key + ':':<14}{value if key == 'decision' else shown(value)}\n")
    out.write("history:\n")
    for e in events:
        move = e.to_state if e.from_state == e.to_state else f"{e.from_state or '-'} -> {e.to_state}"
        out.write(
            f"  #{e.seq} {_when(e.at)}  {e.action:<11} {move:<28} {shown(e.actor)}  {shown(e.reason)}\n"
        )


#: What each command does: the first action of the table that applies to the message's state.
VERBS: dict[str, tuple[str, ...]] = {
    "release": ("release",),
    # A message waiting for approval is rejected, and its sender told, as in the UI.
    "cancel": ("cancel", "reject"),
    "delete": ("delete", "purge"),
    "revoke": ("revoke",),
    "extend": ("extend",),
    "shorten": ("shorten",),
}
_CANNOT = {
    "release": ("解放できません", "cannot release a {state} message"),
    "cancel": ("取り消せません", "cannot cancel a {state} message"),
    "delete": (
        "削除できません（先に取り消してください）",
        "cannot delete a {state} message (cancel it first)",
    ),
    "revoke": (
        "取り消せません（有効なリンクではありません）",
        "cannot revoke a {state} item (not an open link)",
    ),
    "extend": (
        "延長できません（有効なリンクではありません）",
        "cannot extend a {state} item (not an open link)",
    ),
    "shorten": (
        "短縮できません（有効なリンクではありません）",
        "cannot shorten a {state} item (not an open link)",
    ),
}


def _notices(args: argparse.Namespace, store: Store) -> Notifier:
    """Notices leave through the running gateway: they are queued in the store unowned, and its
    scheduler delivers them (or the next gateway to start does). Their sender address and the
    UI's address come from ``--config``; with ``--var`` the defaults are used."""
    config = load_config(args.config) if args.config else Config(secret=secrets.token_hex(32))
    return Notifier(config, store, None, owner=str(operator()), is_internal=lambda _: False)


async def _act(store: Store, args: argparse.Namespace) -> MessageRecord:
    rec = await store.get(args.id)
    if rec is None:
        raise Refused(f"メッセージがありません / no such message: {args.id}")
    action = next((a for a in VERBS[args.action] if actions.row_for(a, rec.kind, rec.state)), None)
    if action is None:
        ja, en = _CANNOT[args.action]
        raise Refused(f"{rec.state.value} のメッセージは{ja} / {en.format(state=rec.state.value)}")
    try:
        return await actions.perform(
            store,
            rec,
            action,
            operator(),
            now=datetime.now(UTC),
            via="cli",
            text=args.reason,
            reason=args.reason or f"{args.action} by operator",
            notices=_notices(args, store),
            until=getattr(args, "until", None),
        )
    except actions.Refused as exc:
        raise Refused(f"{args.id}: {exc.code}") from None


async def _purge(store: Store, older_than: float) -> int:
    """Retention by hand: drop the spooled bodies of finished messages last changed before the cutoff."""
    return await retention.purge(store, older_than, actor=operator(), now=datetime.now(UTC))


async def _main(store: Store, args: argparse.Namespace) -> int:
    out = sys.stdout
    if args.action == "list":
        states = None if not args.state else {State(s) for s in args.state}
        kinds = None if not args.kind else {ItemKind(args.kind)}
        records = await store.list_messages(states=states, sender=args.sender, limit=args.limit, kinds=kinds)
        if args.format == "jsonl":
            for r in records:
                out.write(json.dumps(record_json(r), ensure_ascii=False) + "\n")
        elif args.format == "json":
            out.write(json.dumps([record_json(r) for r in records], ensure_ascii=False, indent=2) + "\n")
        else:
            _table(records, out)
        return 0
    if args.action == "show":
        rec = await store.get(args.id)
        if rec is None:
            raise Refused(f"メッセージがありません / no such message: {args.id}")
        if args.raw:
            out.flush()
            sys.stdout.buffer.write(await store.load_raw(rec.id))
            sys.stdout.buffer.flush()
            return 0
        events = await store.audit_events(msg_id=rec.id)
        if args.format == "json":
            doc = {**record_json(rec), "history": [export_record(e) for e in events]}
            out.write(json.dumps(doc, ensure_ascii=False, indent=2) + "\n")
        else:
            _show(rec, events, out)
        return 0
    if args.action == "purge":
        out.write(f"{await _purge(store, args.older_than)} body(ies) removed\n")
        return 0
    after = await _act(store, args)
    body = "" if after.has_raw or after.kind is ItemKind.LINK else " (body removed)"
    out.write(f"{after.id}: {after.state.value}{body}\n")
    return 0


def run(args: argparse.Namespace) -> int:
    return run_on_store("queue", args, _main, refusals=(Refused,))
