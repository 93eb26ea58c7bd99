"""``sekimori ready``: wait until a Sekimori process answers ``/readyz`` with 200 (systemd's
``ExecStartPost=``, deployment scripts); exit 0 when ready, 1 when the time is up."""

from __future__ import annotations

import argparse
import sys
import time
import urllib.error
import urllib.request
from typing import Any

from gateway.config import parse_duration


def register(sub: Any) -> None:
    p = sub.add_parser("ready", help="wait until a Sekimori process is ready (its /readyz answers 200)")
    p.add_argument("url", help="e.g. http://127.0.0.1:9101/readyz")
    p.add_argument("--wait", default="60s", help="give up after this long (default 60s)")
    p.set_defaults(func=main)


def _ready(url: str, timeout: float) -> tuple[bool, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310 (the operator's URL)
            return r.status == 200, r.read(2000).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return False, exc.read(2000).decode("utf-8", "replace")
    except (urllib.error.URLError, OSError) as exc:
        return False, str(exc)


def main(args: argparse.Namespace) -> int:
    if not args.url.startswith(("http://", "https://")):
        print(f"sekimori ready: not an http(s) URL: {args.url}", file=sys.stderr)
        return 2
    try:
        wait = parse_duration(args.wait)
    except ValueError as exc:
        print(f"sekimori ready: --wait: {exc}", file=sys.stderr)
        return 2
    deadline = time.monotonic() + wait
    while True:
        ok, detail = _ready(args.url, timeout=5)
        if ok:
            return 0
        if time.monotonic() >= deadline:
            print(
                f"sekimori ready: {args.url} not ready after {args.wait}: {detail.strip()}", file=sys.stderr
            )
            return 1
        time.sleep(0.5)
