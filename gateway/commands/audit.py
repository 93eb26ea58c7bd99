"""``sekimori audit``: check and read the hash-chained audit trail.

``verify`` exits 0 when every link holds and every queue record matches its trail, and 1 naming
the first event where the chain breaks (changed, inserted or removed events) or each item and
field that differs from what its events recorded. ``head`` prints the newest hash, to anchor
elsewhere. ``seal`` records the digests of all the facts of items accepted before events carried
them (after a verify that holds), so that they are covered in full from then on.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from gateway.audit import iter_events, verify_store
from gateway.auditexport import jsonl_line
from gateway.commands._store_args import operator, run_on_store, store_options
from gateway.commands._terminal import shown
from gateway.store import Store


def register(sub: Any) -> None:
    parent = store_options()
    p = sub.add_parser("audit", help="verify or list the audit trail")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    verify = actions.add_parser("verify", parents=[parent], help="check every link of the hash chain")
    verify.set_defaults(func=run)
    seal = actions.add_parser(
        "seal", parents=[parent], help="record the facts of items accepted before events carried digests"
    )
    seal.set_defaults(func=run)
    head = actions.add_parser("head", parents=[parent], help="print the newest event's hash")
    head.set_defaults(func=run)
    ls = actions.add_parser("list", parents=[parent], help="print events, oldest first")
    ls.add_argument("--msg", metavar="ID", help="only the events of this message")
    ls.add_argument("--after", type=int, default=0, metavar="SEQ", help="only events after this one")
    ls.add_argument("--limit", type=int, default=1000)
    ls.add_argument("--format", choices=("table", "jsonl"), default="table")
    ls.set_defaults(func=run)


async def _main(store: Store, args: argparse.Namespace) -> int:
    out = sys.stdout
    if args.action in ("verify", "seal"):
        result = await verify_store(store)
        if result.ok:
            if args.action == "seal":
                return await _seal(store, result.partial)
            if result.partial:
                out.write(_partial_note(len(result.partial)))
            out.write(f"OK: {result.checked} event(s), head {result.head}\n")
            return 0
        if result.broken_seq is not None:
            out.write(
                f"改ざんを検出しました / tampering detected at event #{result.broken_seq}: {result.problem}"
                f" ({result.checked} event(s) before it are intact)\n"
            )
            return 1
        out.write(
            f"改ざんを検出しました / tampering detected: the audit chain holds ({result.checked} event(s))"
            f" but the queue disagrees with it in {len(result.mismatches)} place(s)\n"
        )
        for problem in result.mismatches:
            out.write(f"  {problem}\n")
        return 1
    if args.action == "head":
        last = ""
        async for e in iter_events(store):
            last = e.hash
        out.write(f"{last}\n")
        return 0
    events = await store.audit_events(msg_id=args.msg, after_seq=args.after, limit=args.limit)
    for e in events:
        if args.format == "jsonl":
            out.write(jsonl_line(e))
        else:
            move = e.to_state if e.from_state == e.to_state else f"{e.from_state or '-'} -> {e.to_state}"
            stamp = e.at.astimezone().strftime("%Y-%m-%d %H:%M:%S")
            out.write(
                f"#{e.seq:<6} {stamp}  {e.msg_id:<26}  {e.action:<11} {move:<28} {shown(e.actor)}  {shown(e.reason)}\n"
            )
    return 0


def _partial_note(n: int) -> str:
    return (
        f"注意 / note: {n} item(s) were accepted before audit events carried record digests; only the"
        " facts changed since are checked (`sekimori audit seal` records the rest)\n"
    )


async def _seal(store: Store, partial: tuple[str, ...]) -> int:
    actor = str(operator())
    for msg_id in partial:
        await store.seal(msg_id, actor=actor, reason="record digests for an item accepted before them")
    sys.stdout.write(f"OK: sealed {len(partial)} item(s)\n")
    return 0


def run(args: argparse.Namespace) -> int:
    return run_on_store("audit", args, _main)
