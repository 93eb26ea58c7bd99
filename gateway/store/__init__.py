"""The gateway's only state: queue, spool and audit trail behind the :class:`Store` Protocol."""

from __future__ import annotations

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
    "SpoolCorrupt",
    "State",
    "Store",
    "StoreError",
    "check_transition",
]
