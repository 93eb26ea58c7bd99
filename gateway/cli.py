"""The ``sekimori`` command. Each sub-command is a module of :mod:`gateway.commands` with
``register(subparsers)``, which adds its parser and sets ``func``; adding a command is adding a file."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence
from importlib import metadata

from gateway import logs
from gateway.commands._terminal import EscapingWriter
from gateway.config import ConfigError
from policies import PolicyError


def command_modules() -> list[str]:
    """Every module of :mod:`gateway.commands` with a ``register`` function, by name."""
    import gateway.commands as package

    names = [f"{package.__name__}.{m.name}" for m in pkgutil.iter_modules(package.__path__)]
    return sorted(n for n in names if not n.rsplit(".", 1)[1].startswith("_"))


def version() -> str:
    """The installed package's version (``pyproject.toml``)."""
    try:
        return metadata.version("sekimori")
    except metadata.PackageNotFoundError:
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sekimori",
        description="Sekimori (関守): outbound DLP gateway for mail and cloud uploads.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument("--version", action="version", version=f"sekimori {version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in command_modules():
        module = importlib.import_module(name)
        if hasattr(module, "register"):
            module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logs.configure(level="debug" if args.verbose else "info")
    out, err = sys.stdout, sys.stderr
    # Whatever a command prints reaches a terminal: no control character in the data it shows
    # goes out raw (gateway.commands._terminal).
    sys.stdout, sys.stderr = EscapingWriter(out), EscapingWriter(err)
    try:
        result: int = args.func(args)
    except PolicyError as exc:
        # A policy that cannot be loaded, however it is reached (run, smtp, ui, proxy): the same
        # file:line lines ``sekimori policy check`` prints, never a traceback.
        print(f"sekimori: {exc.text_ja}", file=sys.stderr)
        print(f"sekimori: {exc.text_en}", file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(f"sekimori: {exc}", file=sys.stderr)
        return 2
    finally:
        sys.stdout, sys.stderr = out, err
    return result


if __name__ == "__main__":
    sys.exit(main())
