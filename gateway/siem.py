"""Audit events to the SIEM as they happen: RFC 5424 syslog over TCP or TLS, and/or JSON lines in
a file that a log shipper tails (``siem:`` in the configuration).

The forwarder follows the hash-chained audit trail in the store by sequence number, so every
event is sent, whoever wrote it (the relay, the UI, the upload gate, ``sekimori queue`` at the
command line, another instance on the same Redis store), in chain order. The last sequence number
sent is kept in a small file (``siem.cursor``): after a restart it goes on from there; an event
is sent again only if the process stops between sending and saving (at least once — the SIEM can
drop duplicates by ``seq`` or ``hash``). A collector that is down is retried on the next pass;
nothing is lost meanwhile, the trail is the buffer.

Syslog (RFC 5424 s6) with octet-counting framing (RFC 6587 s3.4.1, RFC 5425 s4.3 over TLS)::

    <PRI>1 2026-04-01T09:00:00.123456+00:00 gw1 sekimori - transition [sekimori@32473 seq="12"
    actor="approver:boss@example.co.jp" msg_id="01M8…" from="pending_approval" to="delivering"
    hash="…"] {"seq": 12, "at": …, "action": "transition", …}

The MSGID is the audit action; the structured data carries the fields a SIEM indexes; the message
is the event as every export writes it (:mod:`gateway.auditexport`). Severity: ``warning`` for
lockouts, failed logins, refusals and deletions, ``notice`` for the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import ssl
from collections.abc import Callable
from pathlib import Path

from gateway.auditexport import export_record
from gateway.config import SiemConfig, SyslogConfig
from gateway.store import AuditEvent, Store, StoreError
from gateway.tasks import stop_task

log = logging.getLogger(__name__)

#: RFC 5424 s6.2.1 facility codes.
FACILITIES = {
    "auth": 4,
    "daemon": 3,
    "authpriv": 10,
    **{f"local{i}": 16 + i for i in range(8)},
}
NOTICE, WARNING = 5, 4
_WARNING_ACTIONS = frozenset({"lockout", "login_failure", "mfa_failure", "sso_refused", "unreadable"})
#: Private enterprise number used in the structured data id (the IANA example number, RFC 5612).
SD_ID = "sekimori@32473"
BATCH = 500


def _sd_value(value: str) -> str:
    """RFC 5424 s6.3.3: escape ``"``, ``\\`` and ``]`` in a PARAM-VALUE."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def severity(ev: AuditEvent) -> int:
    if ev.action in _WARNING_ACTIONS or ev.to_state in ("refused", "deleted", "bounced"):
        return WARNING
    return NOTICE


def syslog_message(ev: AuditEvent, *, facility: str, app_name: str, hostname: str) -> bytes:
    """One RFC 5424 message (without framing).

    >>> from datetime import UTC, datetime
    >>> ev = AuditEvent(3, datetime(2026, 4, 1, tzinfo=UTC), "sender:taro@example.co.jp", "transition",
    ...     "01ABC", "held", "cancelled", 'say "no"', {}, "0" * 64, "f" * 64)
    >>> syslog_message(ev, facility="local0", app_name="sekimori", hostname="gw1")[:120]
    b'<133>1 2026-04-01T00:00:00+00:00 gw1 sekimori - transition [sekimori@32473 seq="3" actor="sender:taro@example.co.jp" msg'
    """
    pri = FACILITIES[facility] * 8 + severity(ev)
    msgid = "".join(ch for ch in ev.action if "!" <= ch <= "~")[:32] or "-"
    params = {
        "seq": str(ev.seq),
        "actor": ev.actor,
        "msg_id": ev.msg_id,
        "from": ev.from_state,
        "to": ev.to_state,
        "hash": ev.hash,
    }
    sd = f"[{SD_ID} " + " ".join(f'{k}="{_sd_value(v)}"' for k, v in params.items()) + "]"
    host = "".join(ch for ch in hostname if "!" <= ch <= "~")[:255] or "-"
    body = json.dumps(export_record(ev), ensure_ascii=False, separators=(",", ":"))
    head = f"<{pri}>1 {ev.at.isoformat()} {host} {app_name} - {msgid} {sd} "
    # RFC 5424 s6.4: a UTF-8 MSG starts with the byte order mark.
    return head.encode("ascii", "replace") + b"\xef\xbb\xbf" + body.encode("utf-8")


def octet_framed(message: bytes) -> bytes:
    """RFC 6587 s3.4.1: ``MSG-LEN SP SYSLOG-MSG``."""
    return str(len(message)).encode("ascii") + b" " + message


class SyslogSender:
    """One connection to the collector, opened when needed and again after a failure."""

    def __init__(self, cfg: SyslogConfig, timeout: float = 10.0) -> None:
        self.cfg = cfg
        self.timeout = timeout
        self.hostname = socket.gethostname()
        self._writer: asyncio.StreamWriter | None = None

    def _context(self) -> ssl.SSLContext | None:
        if not self.cfg.tls:
            return None
        context = ssl.create_default_context(cafile=str(self.cfg.ca) if self.cfg.ca else None)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context

    async def send(self, events: list[AuditEvent]) -> None:
        if self._writer is None:
            async with asyncio.timeout(self.timeout):
                _, self._writer = await asyncio.open_connection(
                    self.cfg.host,
                    self.cfg.port,
                    ssl=self._context(),
                    server_hostname=self.cfg.host if self.cfg.tls else None,
                )
        try:
            for ev in events:
                message = syslog_message(
                    ev, facility=self.cfg.facility, app_name=self.cfg.app_name, hostname=self.hostname
                )
                self._writer.write(octet_framed(message))
            async with asyncio.timeout(self.timeout):
                await self._writer.drain()
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await writer.wait_closed()


class JsonLinesSink:
    """Appends one event a line (the export schema) and flushes it to disk."""

    def __init__(self, path: Path) -> None:
        self.path = path

    async def send(self, events: list[AuditEvent]) -> None:
        lines = "".join(json.dumps(export_record(e), ensure_ascii=False) + "\n" for e in events)
        await asyncio.to_thread(self._append, lines.encode("utf-8"))

    def _append(self, data: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "ab") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())

    async def close(self) -> None:
        return None


class Forwarder:
    """Follows the audit trail and sends new events to every configured sink."""

    def __init__(self, cfg: SiemConfig, store: Store, *, interval: float = 1.0) -> None:
        assert cfg.cursor is not None  # resolved by load_config
        self.store = store
        self.interval = interval
        self.cursor_path = cfg.cursor
        self.sinks: list[SyslogSender | JsonLinesSink] = []
        if cfg.syslog is not None:
            self.sinks.append(SyslogSender(cfg.syslog))
        if cfg.jsonl is not None:
            self.sinks.append(JsonLinesSink(cfg.jsonl))
        self._task: asyncio.Task[None] | None = None
        self.on_error: Callable[[Exception], None] | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.sinks)

    def sent_up_to(self) -> int:
        try:
            return int(self.cursor_path.read_text(encoding="ascii").strip() or 0)
        except (OSError, ValueError):
            return 0

    def _save(self, seq: int) -> None:
        tmp = self.cursor_path.with_name(self.cursor_path.name + ".tmp")
        self.cursor_path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(f"{seq}\n", encoding="ascii")
        os.replace(tmp, self.cursor_path)

    async def forward(self) -> int:
        """Send what is new; returns how many events were sent (to every sink)."""
        after = self.sent_up_to()
        sent = 0
        while True:
            events = await self.store.audit_events(after_seq=after, limit=BATCH)
            if not events:
                return sent
            for sink in self.sinks:
                await sink.send(events)
            after = events[-1].seq
            await asyncio.to_thread(self._save, after)
            sent += len(events)
            if len(events) < BATCH:
                return sent

    def start(self) -> None:
        if self.enabled:
            self._task = asyncio.create_task(self._run(), name="siem")

    async def _run(self) -> None:
        failing = False
        while True:
            try:
                await self.forward()
                if failing:
                    log.info("siem: forwarding again")
                failing = False
            except (OSError, ssl.SSLError, TimeoutError, StoreError) as exc:
                if not failing:
                    log.warning("siem: cannot forward audit events (will retry): %s", exc)
                failing = True
            await asyncio.sleep(self.interval)

    async def stop(self) -> None:
        await stop_task(self._task)
        self._task = None
        for sink in self.sinks:
            await sink.close()


__all__ = ["Forwarder", "JsonLinesSink", "SyslogSender", "octet_framed", "syslog_message"]
