"""Log lines: text for people (the default) or one JSON object a line (``log.format: json``), and
never a secret, token, password, signed link or message content in either.

Every record of every logger (ours, uvicorn's access log, aiosmtpd's, mitmproxy's) passes one
filter on the root handler, :class:`Redact`, before it is formatted: signed tokens in paths and
URLs (``/a/<token>``, ``/l/<token>``), token-like strings, values of query parameters that carry
credentials, and the configured secret are replaced. The gateway's own code logs ids, counts,
verdicts and rule ids, never content; the filter is the net under that rule.

>>> r = Redact()
>>> r.scrub('127.0.0.1:5 - "GET /a/eyJtIjoiMDEifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ HTTP/1.1" 200')
'127.0.0.1:5 - "GET /a/[redacted] HTTP/1.1" 200'
>>> r.scrub("POST /login?next=%2F&password=hunter2&code=123456")
'POST /login?next=%2F&password=[redacted]&code=[redacted]'
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import regex

from gateway.config import Config

#: A path segment after a signed-link route, up to the next separator.
_LINK_PATH = regex.compile(r"(/(?:a|l|d)/)[^/?#\s\"']+")
#: ``base64url.base64url`` of some length: the shape of our signed tokens (gateway.tokens).
_TOKEN = regex.compile(r"\b[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}\b")
#: Query or form parameters whose values are credentials.
_PARAM = regex.compile(
    r"(?i)\b(password|passwd|pass|secret|token|code|otp|totp|csrf_token|session|key)=([^&\s\"']+)"
)

#: Standard attributes of a LogRecord: everything else on a record is an ``extra`` field.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class Redact(logging.Filter):
    """Scrubs every record in place (message and arguments formatted first)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if len(s) >= 8]

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "[secret]")
        text = _LINK_PATH.sub(r"\1[redacted]", text)
        text = _TOKEN.sub("[token]", text)
        return _PARAM.sub(r"\1=[redacted]", text)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        record.msg = self.scrub(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.scrub(record.exc_text)
        record.exc_info = None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``,
    ``exception`` when there is one, and any ``extra`` fields of the record."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_text:
            doc["exception"] = record.exc_text
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                doc[key] = value if isinstance(value, str | int | float | bool | None) else str(value)
        return json.dumps(doc, ensure_ascii=False)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure(*, format: str = "text", level: str = "info", secrets: Iterable[str] = ()) -> None:
    """One handler on the root logger (stderr), with the redaction filter, in ``format``."""
    root = logging.getLogger()
    for old in list(root.handlers):
        # Ours from an earlier call, or basicConfig's; a test runner's capture handler stays.
        if getattr(old, "sekimori", False) or type(old) is logging.StreamHandler:
            root.removeHandler(old)
    handler = logging.StreamHandler(sys.stderr)
    handler.sekimori = True  # type: ignore[attr-defined]
    handler.addFilter(Redact(secrets))
    handler.setFormatter(JsonFormatter() if format == "json" else logging.Formatter(TEXT_FORMAT))
    root.addHandler(handler)
    root.setLevel(level.upper())


def configure_from(config: Config, *, verbose: bool = False) -> None:
    """Logging as the configuration says (``log.format``, ``log.level``), with its secrets
    redacted from every line (the commands that read a configuration call this)."""
    secrets = [config.secret, config.upstream.password or ""]
    configure(format=config.log.format, level="debug" if verbose else config.log.level, secrets=secrets)


__all__ = ["JsonFormatter", "Redact", "configure", "configure_from"]
