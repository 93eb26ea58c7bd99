"""Shared options of the commands that work on the store (``queue``, ``audit``)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from gateway.actions import Actor, Role
from gateway.config import ConfigError
from gateway.store import Store, StoreError, is_redis_url, open_store
from gateway.store.sqlite import DB_NAME

T = TypeVar("T")


def store_options() -> argparse.ArgumentParser:
    """A parent parser with ``--config`` / ``--var``."""
    p = argparse.ArgumentParser(add_help=False)
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--config", metavar="FILE", help="the gateway's config file (uses its store.url or store.path)"
    )
    where.add_argument("--var", metavar="DIR", help="the store folder (default: var)")
    return p


def store_path(args: argparse.Namespace) -> Path | str:
    """The store named by ``--var``, by the config's ``store.url`` (a Redis URL) or
    ``store.path``, or the folder ``var``.

    Raises :class:`gateway.config.ConfigError` for a bad config file."""
    if args.var:
        return Path(args.var)
    if args.config:
        from gateway.config import load_config

        store = load_config(args.config).store
        return store.url or store.path
    return Path("var")


def operator() -> Actor:
    """``operator:<os user>``, the actor of every command-line action."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return Actor(Role.OPERATOR, user)


def run_on_store(
    command: str,
    args: argparse.Namespace,
    main: Callable[[Store, argparse.Namespace], Awaitable[int]],
    refusals: tuple[type[Exception], ...] = (),
) -> int:
    """Run ``main(store, args)`` on the store the arguments name; a bad config, a missing store,
    a store error or one of ``refusals`` is one line on stderr and exit status 1."""

    async def go(store: Store) -> int:
        return await main(store, args)

    expected: tuple[type[Exception], ...] = (ConfigError, FileNotFoundError, StoreError, *refusals)
    try:
        return asyncio.run(with_store(store_path(args), go))
    except expected as exc:
        print(f"sekimori {command}: {exc}", file=sys.stderr)
        return 1


async def with_store(path: Path | str, fn: Callable[[Store], Awaitable[T]]) -> T:
    """Open the store at ``path`` (a folder, which must hold a store, or a Redis URL), run
    ``fn`` on it, close it."""
    if not is_redis_url(path) and not (Path(path) / DB_NAME).is_file():
        raise FileNotFoundError(f"{path}: no Sekimori store here ({DB_NAME} missing)")
    store = await open_store(path)
    try:
        return await fn(store)
    finally:
        await store.close()
