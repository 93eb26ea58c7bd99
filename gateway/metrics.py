"""Prometheus metrics (prometheus-client): what an operations team graphs and alerts on.

One registry per process (:data:`REGISTRY`); the parts of the gateway count into it as things
happen, and the gauges that describe the store (queue depth per state, held messages due in the
next hour, audit chain length) are read from the store when ``/metrics`` is scraped
(:func:`refresh`). Labels are few and bounded: the verdict, the rule id (from the policy), the
state, the upload service and verdict, the store operation, the delivery result. Never an
address, a subject, a file name or a host.

========================================== ==========================================================
``sekimori_messages_total{verdict}``       messages decided: deliver, tag, bcc, hold, approval,
                                           quarantine, block
``sekimori_rule_matches_total{rule}``      rules that matched a message, by rule id
``sekimori_uploads_total{service,verdict}`` uploads decided by the upload gate (:func:`record_upload`)
``sekimori_queue_depth{state}``            items in each state
``sekimori_held_due_next_hour``            held messages whose hold ends within the hour
``sekimori_delivery_attempts_total``       delivery attempts to the upstream
``sekimori_delivery_deferrals_total``      attempts that ended in a retry later (4xx, no connection)
``sekimori_delivery_bounces_total``        messages bounced (DSN to the sender)
``sekimori_scan_seconds``                  classification time per item (histogram)
``sekimori_scan_truncated_total``          items on which a limit tripped (not all text read)
``sekimori_scan_uninspected_total``        items not fully inspected (errors, encrypted parts)
``sekimori_worker_restarts_total``         classification workers replaced (killed or crashed)
``sekimori_store_seconds{op}``             store latency by operation (histogram)
``sekimori_audit_chain_length``            events in the hash-chained audit trail
========================================== ==========================================================
"""

from __future__ import annotations

from datetime import datetime, timedelta

import regex
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from gateway.store import State, Store

REGISTRY = CollectorRegistry()

MESSAGES = Counter("sekimori_messages", "Messages decided, by verdict", ["verdict"], registry=REGISTRY)
RULE_MATCHES = Counter(
    "sekimori_rule_matches", "Rules that matched a message, by rule id", ["rule"], registry=REGISTRY
)
UPLOADS = Counter(
    "sekimori_uploads", "Uploads decided, by service and verdict", ["service", "verdict"], registry=REGISTRY
)
QUEUE_DEPTH = Gauge("sekimori_queue_depth", "Items in each state", ["state"], registry=REGISTRY)
HELD_DUE = Gauge(
    "sekimori_held_due_next_hour", "Held messages whose hold ends within the next hour", registry=REGISTRY
)
DELIVERY_ATTEMPTS = Counter(
    "sekimori_delivery_attempts", "Delivery attempts to the upstream", registry=REGISTRY
)
DELIVERY_DEFERRALS = Counter(
    "sekimori_delivery_deferrals", "Delivery attempts that will be retried", registry=REGISTRY
)
DELIVERY_BOUNCES = Counter("sekimori_delivery_bounces", "Messages bounced to their sender", registry=REGISTRY)
SCAN_SECONDS = Histogram(
    "sekimori_scan_seconds",
    "Classification time per item",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
    registry=REGISTRY,
)
SCAN_TRUNCATED = Counter(
    "sekimori_scan_truncated", "Items on which an extraction limit tripped", registry=REGISTRY
)
SCAN_UNINSPECTED = Counter(
    "sekimori_scan_uninspected", "Items not fully inspected (errors, encrypted parts)", registry=REGISTRY
)
WORKER_RESTARTS = Counter(
    "sekimori_worker_restarts", "Classification workers replaced after a kill or a crash", registry=REGISTRY
)
STORE_SECONDS = Histogram(
    "sekimori_store_seconds",
    "Store latency by operation",
    ["op"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
    registry=REGISTRY,
)
AUDIT_LENGTH = Gauge("sekimori_audit_chain_length", "Events in the audit trail", registry=REGISTRY)

#: A label value from outside (a service name, a rule id) that is not a plain name counts as
#: ``other``: labels stay few and never carry data.
_LABEL = regex.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
VERDICTS = ("deliver", "tag", "bcc", "hold", "approval", "quarantine", "block")


def label(value: str) -> str:
    """``value`` if it is a plain lower-case name, else ``other``.

    >>> label("box"), label("hold-external"), label("taro@example.co.jp"), label("Ｘ")
    ('box', 'hold-external', 'other', 'other')
    """
    return value if _LABEL.match(value) and "@" not in value else "other"


def record_decision(verdict: str, rules: list[str] | tuple[str, ...]) -> None:
    """A message was decided (the relay calls this once per message)."""
    MESSAGES.labels(verdict if verdict in VERDICTS else "other").inc()
    for rule in dict.fromkeys(rules):
        RULE_MATCHES.labels(label(rule)).inc()


def record_upload(service: str, verdict: str) -> None:
    """An upload was decided: ``service`` is the upload gate's service name (``box``,
    ``google_drive`` …), ``verdict`` the policy's action or the gate's outcome (``deliver``,
    ``block``, ``approval`` …). For the upload gate to call once per upload."""
    UPLOADS.labels(label(service), label(verdict)).inc()


def record_scan(seconds: float, *, truncated: bool, uninspected: bool) -> None:
    SCAN_SECONDS.observe(seconds)
    if truncated:
        SCAN_TRUNCATED.inc()
    if uninspected:
        SCAN_UNINSPECTED.inc()


async def refresh(store: Store, now: datetime) -> None:
    """Read the gauges that describe the store (called by the ``/metrics`` handler)."""
    stats = await store.stats()
    for state in State:
        QUEUE_DEPTH.labels(state.value).set(stats.states.get(state, 0))
    AUDIT_LENGTH.set(stats.audit_length)
    due = await store.due(now + timedelta(hours=1), limit=100_000)
    HELD_DUE.set(sum(1 for r in due if r.state is State.HELD))


def exposition() -> tuple[bytes, str]:
    """The text exposition format and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


__all__ = [
    "REGISTRY",
    "exposition",
    "label",
    "record_decision",
    "record_scan",
    "record_upload",
    "refresh",
]
