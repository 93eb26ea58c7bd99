"""The ``sekimori`` command. Each sub-command lives in :mod:`gateway.commands`."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

#: Sub-command modules; each has ``register(subparsers)`` which sets ``func`` on its parser.
COMMANDS = (
    "gateway.commands.scan",
    "gateway.commands.policy",
    "gateway.commands.queue",
    "gateway.commands.audit",
    "gateway.commands.run",
    "gateway.commands.user",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sekimori",
        description="Sekimori (関守): outbound DLP gateway for mail and cloud uploads.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
