"""The gateway's only state: queue, spool and audit trail behind the :class:`Store` Protocol."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime

from gateway.config import StoreConfig
from gateway.store.base import (
    ACTIVE,
    ALLOWED,
    DEFAULT_LEASE,
    DISCARDS_RAW,
    ENTRY,
    FILE_ALLOWED,
    LIFECYCLE,
    LINK_ALLOWED,
    RELEASABLE,
    TERMINAL,
    TIMER_FIELD,
    UPDATABLE,
    UPLOAD_ALLOWED,
    Amendment,
    AuditEvent,
    Body,
    EncodedJson,
    InvalidTransition,
    ItemKind,
    MessageRecord,
    NotFound,
    Rule,
    SpoolCorrupt,
    State,
    Store,
    StoreError,
    StoreStats,
    UploadFacts,
    check_transition,
    pass_fits,
    pass_uses,
)
from gateway.store.sqlite import SQLiteStore

#: URL schemes that name a Redis server rather than a folder.
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def is_redis_url(location: object) -> bool:
    """Whether ``location`` names a Redis server.

    >>> is_redis_url("redis://localhost:6379/0"), is_redis_url("var")
    (True, False)
    """
    return isinstance(location, str) and location.lower().startswith(REDIS_SCHEMES)


async def open_store(
    location: StoreConfig | str | os.PathLike[str], *, clock: Callable[[], datetime] | None = None
) -> Store:
    """Open the store named by the configuration's ``store`` section (``store.url`` when set,
    else the folder ``store.path``), by a ``redis://`` URL, or by a folder of the embedded
    SQLite + spool backend."""
    if isinstance(location, StoreConfig):
        location = location.url or location.path
    if is_redis_url(location):
        from gateway.store.redis import RedisStore

        redis_store: Store = await RedisStore.open(str(location), clock=clock)
        return redis_store
    store: Store = await SQLiteStore.open(location, clock=clock)
    return store


__all__ = [
    "ACTIVE",
    "ALLOWED",
    "DEFAULT_LEASE",
    "DISCARDS_RAW",
    "ENTRY",
    "FILE_ALLOWED",
    "LIFECYCLE",
    "LINK_ALLOWED",
    "RELEASABLE",
    "TERMINAL",
    "TIMER_FIELD",
    "UPDATABLE",
    "UPLOAD_ALLOWED",
    "Amendment",
    "AuditEvent",
    "Body",
    "EncodedJson",
    "InvalidTransition",
    "ItemKind",
    "MessageRecord",
    "NotFound",
    "Rule",
    "SQLiteStore",
    "SpoolCorrupt",
    "State",
    "Store",
    "StoreError",
    "StoreStats",
    "UploadFacts",
    "check_transition",
    "is_redis_url",
    "open_store",
    "pass_fits",
    "pass_uses",
]
