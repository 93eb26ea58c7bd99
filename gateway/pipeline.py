"""Inspect one item, mail or upload: classify it off the event loop within its time budget, let
the policy decide. Nothing here knows SMTP or HTTP: the adapters build the :class:`Content` and
the :class:`policies.Envelope` (:mod:`gateway.mail` for mail, the proxy's upload adapter for
uploads) and call :meth:`Inspector.inspect`.

Classification is CPU-bound and runs in a pool of worker processes (``scan.workers``; ``0`` runs
it in a thread, for tests and tiny installs). The classifiers enforce the budget themselves; a
worker that still does not answer within twice the budget is killed and replaced
(``gateway.workers``), and the item counts as not fully inspected (``errors`` carries why): the
policy decides on that.

What crosses the process boundary is the :class:`Content`: a message's bytes, or a file's name,
declared type and either its bytes or the path of a spooled copy, which the worker reads itself
(so an upload of many megabytes is not pickled through a pipe).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import os
import resource
import signal
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from classifiers import Limits, ScanResult, redact, scan_bytes, scan_message
from classifiers.engine import scan_parts
from classifiers.limits import resume, stop_now
from classifiers.model import Part
from gateway import metrics
from gateway.store.base import EncodedJson
from gateway.workers import WorkerError, WorkerLost, WorkerPool
from policies import Decision, Envelope, HistoryView, PolicyHolder, evaluate
from policies.model import normalize_domain

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MailContent:
    """An RFC 5322 message, classified with :func:`classifiers.scan_message`."""

    raw: bytes

    @property
    def size(self) -> int:
        return len(self.raw)


@dataclass(frozen=True, slots=True)
class FileContent:
    """A file (an upload, a form part, a text body): its name as the client gave it, the declared
    content type, and exactly one of ``data`` (small bodies) or ``path`` (a spooled copy the
    worker reads; the caller keeps it until :meth:`Inspector.inspect` returns). Classified with
    :func:`classifiers.scan_bytes`, which sniffs the type from the content.

    >>> FileContent("顧客.csv", "text/csv", data=b"a,b\\n").size
    4
    """

    name: str
    content_type: str = ""
    data: bytes | None = None
    path: str | None = None

    def __post_init__(self) -> None:
        if (self.data is None) == (self.path is None):
            raise ValueError("FileContent needs exactly one of data= or path=")

    @property
    def size(self) -> int:
        if self.data is not None:
            return len(self.data)
        try:
            return os.stat(str(self.path)).st_size
        except OSError:
            return 0


Content = MailContent | FileContent


@dataclass(frozen=True, slots=True)
class Inspection:
    scan: ScanResult
    decision: Decision
    #: The envelope the policy saw: the adapter's, with the file names found in the content.
    envelope: Envelope
    #: :func:`scan_summary` of ``scan`` in its stored form, when the worker made it.
    summary: EncodedJson | None = None

    def stored_scan(self) -> EncodedJson:
        """What the store keeps of the scan (:func:`scan_summary`), in its stored form."""
        return self.summary if self.summary is not None else EncodedJson.of(scan_summary(self.scan))


class KnownDomains:
    """The :class:`policies.HistoryView` over a snapshot of the sender's delivered domains."""

    def __init__(self, sender: str, domains: Iterable[str]) -> None:
        self._sender = sender.lower()
        self._domains = frozenset(normalize_domain(d) for d in domains)

    def has_written_to(self, sender: str, domain: str) -> bool:
        return sender.lower() == self._sender and normalize_domain(domain) in self._domains


def _worker_start(memory: int | None = None) -> None:
    """Run in each classification worker as it starts.

    Its address space is limited to ``memory`` bytes (RLIMIT_AS): an item that would need more
    fails in that worker alone (a MemoryError the scan reports, or the worker's death), never
    the relay or the machine. SIGUSR1 asks the running scan to stop at its next check and
    answer with what it found (the pool's way to free a slot without losing the findings).

    Scheduled as batch work (``SCHED_BATCH``): the worker is CPU-bound and non-interactive, so
    the kernel need not preempt it whenever the relay, the upstream or a client wakes up. On the
    2-core benchmark machine that cut the workers' CPU per message by about 6% and raised
    throughput at concurrency 32 by about 8% (fewer switches, warmer caches). Then one tiny
    scan compiles every detector's pattern, so that the first real message does not pay for it.
    """
    if memory is not None:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    signal.signal(signal.SIGUSR1, _stop_scan)
    if hasattr(os, "SCHED_BATCH"):
        try:
            os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
        except OSError as exc:  # a sandbox may forbid it: run as an ordinary process then
            log.info("classification worker keeps the default scheduling: %s", exc)
    scan_message(b"Subject: warm-up\r\n\r\n-\r\n")


def _stop_scan(signum: int, frame: object) -> None:
    stop_now()


def classify(content: Content, seconds: float) -> ScanResult:
    """Classify ``content`` within ``seconds`` (runs in a worker). Never raises: a spooled file
    that cannot be read is a scan error, so the item counts as not fully inspected."""
    resume()  # a stop asked for the previous call is not for this one
    limits = Limits(max_seconds=seconds)
    if isinstance(content, MailContent):
        return scan_message(content.raw, limits)
    data = content.data
    if data is None:
        try:
            data = Path(str(content.path)).read_bytes()
        except OSError as exc:
            return ScanResult(
                parts=(), records=0, size=0, errors=(f"scan: cannot read the spooled file: {exc}",)
            )
    scan = scan_bytes(data, content.name, limits, declared_type=content.content_type or None)
    return with_name(scan, content.name)


def with_name(scan: ScanResult, name: str) -> ScanResult:
    """``scan`` with what a file's name says: whoever can see the file reads its name (a mail's
    attachment names are read with its header fields in the same way). A part is added only
    when the name holds a finding.

    >>> [p.location for p in with_name(ScanResult(parts=(), records=0), "マイナンバー 1234 5678 9018.txt").parts]
    ['name']
    >>> with_name(ScanResult(parts=(), records=0), "見積書.xlsx").parts
    ()
    """
    if not name:
        return scan
    named = scan_parts([Part(location="name", text=name, kind="header", size=len(name.encode()))])
    if not named.findings:
        return scan
    return replace(scan, parts=(*scan.parts, *named.parts))


def classify_for_store(content: Content, seconds: float) -> tuple[ScanResult, EncodedJson]:
    """:func:`classify`, and the stored form of the scan's summary (:func:`scan_summary`) made
    here in the worker: its canonical JSON and what its fact digest hashes cost the relay's
    event loop some 70 µs a mail (a 3.6 KB summary), and its pickle crosses the pipe for
    about a tenth of that."""
    scan = classify(content, seconds)
    return scan, EncodedJson.of(scan_summary(scan))


def complete_envelope(envelope: Envelope, scan: ScanResult) -> Envelope:
    """The envelope with the names of the files found in the content added (attachments of a
    message, members of an archive), for the policy's file-name conditions."""
    found = tuple(p.filename for p in scan.parts if p.filename)
    if not found:
        return envelope
    names = tuple(dict.fromkeys((*envelope.attachment_names, *found)))
    return replace(envelope, attachment_names=names)


def scan_summary(scan: ScanResult) -> dict[str, Any]:
    """What the store keeps of a scan: redacted values only."""
    out = scan.to_dict(redact=True)
    out["fully_inspected"] = scan.fully_inspected
    return out


class Inspector:
    """Classification pool, time budget and the current policy: ``inspect(content, envelope)``."""

    def __init__(
        self,
        policies: PolicyHolder,
        *,
        scan_time: float,
        workers: int,
        reload_interval: float = 5.0,
        memory: int | None = None,
        slow_slots: int = 1,
    ) -> None:
        self.policies = policies
        self.scan_time = scan_time
        #: How long a classification may take at most: the classifiers keep to ``scan_time``
        #: themselves; a worker still busy after twice that and 5 s more is stuck (and killed).
        self.time_limit = 2 * scan_time + 5
        self.reload_interval = reload_interval
        self._next_reload = time.monotonic() + reload_interval
        #: An item still being classified after this long is slow (see :mod:`gateway.workers`):
        #: it leaves the pool with its worker, which a fresh one replaces.
        self.slow_after = min(1.0, scan_time / 2)
        self._pool: WorkerPool | None = (
            WorkerPool(
                workers,
                initializer=functools.partial(_worker_start, memory),
                slow_after=self.slow_after,
                slow_slots=slow_slots,
                on_restart=metrics.WORKER_RESTARTS.inc,
            )
            if workers > 0
            else None
        )
        self._threads = (
            concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="scan")
            if workers == 0
            else None
        )

    async def classify(self, content: Content) -> ScanResult:
        scan, _ = await self._classify_timed(content, summarize=False)
        return scan

    async def _classify_timed(
        self, content: Content, *, summarize: bool
    ) -> tuple[ScanResult, EncodedJson | None]:
        started = time.monotonic()
        scan, summary = await self._classify(content, summarize)
        metrics.record_scan(
            time.monotonic() - started, truncated=bool(scan.truncated), uninspected=not scan.fully_inspected
        )
        return scan, summary

    def workers_alive(self) -> bool:
        """Whether classification can run: every worker process is up (or scans run in threads)."""
        return self._pool is None or self._pool.alive()

    async def _classify(self, content: Content, summarize: bool) -> tuple[ScanResult, EncodedJson | None]:
        """The scan, and with ``summarize`` its summary's stored form made by the worker
        (:func:`classify_for_store`; ``None`` when the scan failed)."""
        limit = self.time_limit
        fn = classify_for_store if summarize else classify
        try:
            if self._pool is not None:
                result = await self._pool.call(fn, content, self.scan_time, kill_after=limit)
            else:
                loop = asyncio.get_running_loop()
                async with asyncio.timeout(limit):
                    result = await loop.run_in_executor(self._threads, fn, content, self.scan_time)
        except TimeoutError:
            log.warning("classification exceeded its budget (%.1fs)", self.scan_time)
            return _failed(content, "scan: time budget exceeded"), None
        except WorkerLost as exc:
            log.error("classification failed: %s", exc)
            return _failed(content, f"scan: worker crashed ({exc})"), None
        except WorkerError as exc:  # the classifiers do not raise; if they ever do, say so
            log.error("classification raised: %s", exc)
            return _failed(content, f"scan: {exc}"), None
        if summarize:
            scan, summary = result
            return scan, summary
        return result, None

    async def inspect(
        self, content: Content, envelope: Envelope, *, history: HistoryView, now: datetime
    ) -> Inspection:
        """Classify ``content`` and let the current policy decide on it with ``envelope``."""
        scan, summary = await self._classify_timed(content, summarize=True)
        return await self.decide(scan, envelope, history=history, now=now, summary=summary)

    async def decide(
        self,
        scan: ScanResult,
        envelope: Envelope,
        *,
        history: HistoryView,
        now: datetime,
        summary: EncodedJson | None = None,
    ) -> Inspection:
        """Let the current policy decide on a scan the caller already has: one it completed
        with what it knows was not inspected (an upload's missing bytes), or one with errors
        only (content too large to classify). ``summary`` is the scan's stored summary, if
        the worker made it."""
        if time.monotonic() >= self._next_reload:
            # Reading the policy files is blocking I/O: keep it off the loop and rare.
            self._next_reload = time.monotonic() + self.reload_interval
            await asyncio.to_thread(self.policies.reload_if_changed)
        envelope = complete_envelope(envelope, scan)
        decision = evaluate(self.policies.current, envelope, scan, now=now, history=history)
        return Inspection(scan, decision, envelope, summary)

    def reload_soon(self) -> None:
        """Check the policy files before the next item (the UI activated a new version)."""
        self._next_reload = 0.0

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
        if self._threads is not None:
            self._threads.shutdown(wait=False, cancel_futures=True)


def _failed(content: Content, error: str) -> ScanResult:
    return ScanResult(parts=(), records=0, size=content.size, errors=(error,))


def findings_for_notice(decision: Decision) -> list[dict[str, Any]]:
    """The matched rules with their (already redacted) evidence, for notification templates."""
    out: list[dict[str, Any]] = []
    for m in decision.matches:
        out.append(
            {
                "rule_id": m.rule_id,
                "title_ja": m.title_ja,
                "title_en": m.title_en,
                "description_ja": m.description_ja,
                "description_en": m.description_en,
                "action": str(m.action),
                "evidence": [
                    {
                        "entity_type": e.entity_type or "",
                        "count": e.count,
                        "values": list(e.values),
                        "locations": list(e.locations),
                        "detail": e.detail,
                    }
                    for e in m.evidence
                ],
            }
        )
    return out


__all__ = [
    "Content",
    "FileContent",
    "Inspection",
    "Inspector",
    "KnownDomains",
    "MailContent",
    "classify",
    "classify_for_store",
    "complete_envelope",
    "findings_for_notice",
    "redact",
    "scan_summary",
]
