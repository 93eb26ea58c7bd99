"""The ``sekimori`` command. Each sub-command is a module of :mod:`gateway.commands` with
``register(subparsers)``, which adds its parser and sets ``func``; adding a command is adding a file."""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from collections.abc import Sequence

from gateway.commands._terminal import EscapingWriter


def command_modules() -> list[str]:
    """Every module of :mod:`gateway.commands` with a ``register`` function, by name."""
    import gateway.commands as package

    names = [f"{package.__name__}.{m.name}" for m in pkgutil.iter_modules(package.__path__)]
    return sorted(n for n in names if not n.rsplit(".", 1)[1].startswith("_"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sekimori",
        description="Sekimori (関守): outbound DLP gateway for mail and cloud uploads.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in command_modules():
        module = importlib.import_module(name)
        if hasattr(module, "register"):
            module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    out, err = sys.stdout, sys.stderr
    # Whatever a command prints reaches a terminal: no control character in the data it shows
    # goes out raw (gateway.commands._terminal).
    sys.stdout, sys.stderr = EscapingWriter(out), EscapingWriter(err)
    try:
        result: int = args.func(args)
    finally:
        sys.stdout, sys.stderr = out, err
    return result


if __name__ == "__main__":
    sys.exit(main())
