"""The gateway's only state: queue, spool and audit trail behind the :class:`Store` Protocol."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime

from gateway.store.base import (
    ACTIVE,
    ALLOWED,
    DEFAULT_LEASE,
    DISCARDS_RAW,
    RELEASABLE,
    TERMINAL,
    UPDATABLE,
    AuditEvent,
    InvalidTransition,
    MessageRecord,
    NotFound,
    SpoolCorrupt,
    State,
    Store,
    StoreError,
    check_transition,
)
from gateway.store.sqlite import SQLiteStore


async def open_store(
    location: str | os.PathLike[str], *, clock: Callable[[], datetime] | None = None
) -> Store:
    """Open the store at ``location`` (the folder of the embedded SQLite + spool backend)."""
    store: Store = await SQLiteStore.open(location, clock=clock)
    return store


__all__ = [
    "ACTIVE",
    "ALLOWED",
    "DEFAULT_LEASE",
    "DISCARDS_RAW",
    "RELEASABLE",
    "TERMINAL",
    "UPDATABLE",
    "AuditEvent",
    "InvalidTransition",
    "MessageRecord",
    "NotFound",
    "SQLiteStore",
    "SpoolCorrupt",
    "State",
    "Store",
    "StoreError",
    "check_transition",
    "open_store",
]
