"""``sekimori scan``: classify files and messages from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm

from classifiers import ScanResult, redact, scan_file


def register(sub: Any) -> None:
    p = sub.add_parser("scan", help="classify files and .eml messages; print what was found")
    p.add_argument("--format", choices=("jsonl", "table"), default="table")
    p.add_argument("paths", nargs="+", metavar="PATH", help="files or folders (folders are walked)")
    p.set_defaults(func=run)


def _expand(paths: list[str]) -> list[Path]:
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            out.extend(sorted(q for q in p.rglob("*") if q.is_file()))
        else:
            out.append(p)
    return out


def jsonl_line(path: str, result: ScanResult) -> dict[str, Any]:
    return {
        "path": path,
        "findings": [
            {
                "type": f.type,
                "value": f.value,
                "score": round(f.score, 3),
                "location": f.location,
                **({"holder": f.holder, "holder_reason": f.holder_reason} if f.holder else {}),
            }
            for f in result.findings
        ],
        "records": result.records,
        "organisations": result.organisations,
        "truncated": [{"location": loc, "reason": why} for loc, why in result.truncated],
        "encrypted": list(result.encrypted),
    }


def _table(path: str, result: ScanResult, out: TextIO) -> None:
    out.write(f"{path}\n")
    counts = Counter(f.type for f in result.findings)
    if not counts:
        out.write("  (nothing found)\n")
    for etype, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        examples = list(dict.fromkeys(redact(etype, f.value) for f in result.findings if f.type == etype))
        shown = ", ".join(examples[:3]) + (" …" if len(examples) > 3 else "")
        out.write(f"  {etype:<22} {n:>5}  {shown}\n")
    out.write(f"  records: {result.records}")
    if result.organisations:
        out.write(f" (and contact data of {result.organisations} organisation(s), not counted)")
    out.write("\n")
    for loc, why in result.truncated:
        out.write(f"  limit tripped: {why} at {loc}\n")
    for loc in result.encrypted:
        out.write(f"  encrypted (not inspected): {loc}\n")
    for err in result.errors:
        out.write(f"  error: {err}\n")


def run(args: argparse.Namespace) -> int:
    files = _expand(args.paths)
    out = sys.stdout
    show_progress = args.format == "table" and len(files) > 20 and sys.stderr.isatty()
    # mininterval keeps redraws cheap; tqdm's monitor thread is not needed for one short loop.
    tqdm.monitor_interval = 0
    for path in tqdm(files, disable=not show_progress, unit="file", file=sys.stderr, mininterval=0.2):
        name = str(path)
        try:
            result = scan_file(path)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            if args.format == "jsonl":
                out.write(json.dumps({"path": name, "error": reason}, ensure_ascii=False) + "\n")
            else:
                out.write(f"{name}\n  cannot read: {reason}\n")
            print(f"sekimori scan: cannot read {name}: {reason}", file=sys.stderr)
            continue
        if args.format == "jsonl":
            out.write(json.dumps(jsonl_line(name, result), ensure_ascii=False) + "\n")
        else:
            _table(name, result, out)
    return 0
