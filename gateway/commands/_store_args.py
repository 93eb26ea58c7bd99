"""Shared options of the commands that work on the store (``queue``, ``audit``)."""

from __future__ import annotations

import argparse
import getpass
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from gateway.store import SQLiteStore, Store
from gateway.store.sqlite import DB_NAME

T = TypeVar("T")


def store_options() -> argparse.ArgumentParser:
    """A parent parser with ``--config`` / ``--var``."""
    p = argparse.ArgumentParser(add_help=False)
    where = p.add_mutually_exclusive_group()
    where.add_argument("--config", metavar="FILE", help="the gateway's config file (uses its store.path)")
    where.add_argument("--var", metavar="DIR", help="the store folder (default: var)")
    return p


def store_path(args: argparse.Namespace) -> Path:
    """The store folder named by ``--var``, by the config's ``store.path``, or ``var``.

    Raises :class:`gateway.config.ConfigError` for a bad config file."""
    if args.var:
        return Path(args.var)
    if args.config:
        from gateway.config import load_config

        return load_config(args.config).store.path
    return Path("var")


def operator() -> str:
    """``operator:<os user>``, the actor of every command-line action."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"operator:{user}"


async def with_store(path: Path, fn: Callable[[Store], Awaitable[T]]) -> T:
    """Open the store at ``path`` (it must exist), run ``fn`` on it, close it."""
    if not (path / DB_NAME).is_file():
        raise FileNotFoundError(f"{path}: no Sekimori store here ({DB_NAME} missing)")
    store = await SQLiteStore.open(path)
    try:
        return await fn(store)
    finally:
        await store.close()
