"""HMAC-signed tokens: the loop-protection header and the links in notifications.

Both are signed with the configured ``secret`` (HMAC-SHA256) and carry an expiry, so neither a
sender nor a recipient can forge one.

*Loop protection.* Mail that Sekimori has inspected leaves with ``X-Sekimori-Loop: v1; id=...;
t=<unix>; sig=...``. The signature covers the queue id, the time and the SHA-256 of the body
(everything after the header block), so the header cannot be pasted onto other content to skip
inspection; headers added on the way (``Received``) do not break it.

*Links.* Hold and approval notifications carry URLs to the UI (``{base_url}/a/{token}``); the
token names the message, the action (``cancel``, ``send_now``, ``approve``, ``reject``, and
``proceed`` for the user coached at a refused upload), the
address allowed to use it and its expiry. The UI verifies it with :func:`verify_link`.

>>> secret = b"k" * 32
>>> from datetime import UTC, datetime, timedelta
>>> now = datetime(2026, 1, 1, tzinfo=UTC)
>>> tok = sign_link(secret, "Q1", "cancel", "a@example.co.jp", now + timedelta(hours=1))
>>> verify_link(secret, tok, now).action
'cancel'
>>> value = loop_header(secret, "Q1", b"Subject: x\\r\\n\\r\\nbody\\r\\n", now)
>>> verify_loop(secret, value, b"X: y\\r\\nSubject: x\\r\\n\\r\\nbody\\r\\n", now)
'Q1'
>>> verify_loop(secret, value, b"Subject: x\\r\\n\\r\\nother\\r\\n", now) is None
True
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

LOOP_HEADER = "X-Sekimori-Loop"
VERDICT_HEADER = "X-Sekimori-Verdict"
LINK_ACTIONS = frozenset({"cancel", "send_now", "approve", "reject", "proceed"})
#: A loop header older than this is ignored (the message is inspected again).
LOOP_MAX_AGE = timedelta(days=7)


class InvalidToken(ValueError):
    """A token that is malformed, forged or expired."""


def _mac(secret: bytes, purpose: str, payload: bytes) -> bytes:
    return hmac.new(secret, purpose.encode() + b"\0" + payload, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def body_hash(raw: bytes) -> str:
    """SHA-256 of everything after the header block (the whole message if it has no body)."""
    sep = raw.find(b"\r\n\r\n")
    body = raw[sep + 4 :] if sep >= 0 else b""
    return hashlib.sha256(body).hexdigest()


def loop_header(secret: bytes, msg_id: str, raw: bytes, now: datetime) -> str:
    """The value of :data:`LOOP_HEADER` for a message we let through."""
    t = int(now.timestamp())
    sig = _mac(secret, "loop", f"{msg_id}|{t}|{body_hash(raw)}".encode())
    return f"v1; id={msg_id}; t={t}; sig={_b64(sig)}"


def verify_loop(secret: bytes, value: str, raw: bytes, now: datetime) -> str | None:
    """The queue id if ``value`` is a valid, fresh loop header for ``raw``; else ``None``."""
    fields = dict(part.strip().split("=", 1) for part in value.split(";") if "=" in part and part.strip())
    if not value.strip().startswith("v1") or not {"id", "t", "sig"} <= fields.keys():
        return None
    try:
        t = int(fields["t"])
        sig = _unb64(fields["sig"])
    except ValueError:
        return None
    when = datetime.fromtimestamp(t, UTC)
    if not now - LOOP_MAX_AGE <= when <= now + timedelta(minutes=5):
        return None
    expected = _mac(secret, "loop", f"{fields['id']}|{t}|{body_hash(raw)}".encode())
    return fields["id"] if hmac.compare_digest(sig, expected) else None


@dataclass(frozen=True, slots=True)
class LinkToken:
    msg_id: str
    action: str
    actor: str
    expires: datetime


def sign_link(secret: bytes, msg_id: str, action: str, actor: str, expires: datetime) -> str:
    """A URL-safe token allowing ``actor`` to do ``action`` on ``msg_id`` until ``expires``."""
    if action not in LINK_ACTIONS:
        raise ValueError(f"unknown link action {action!r}")
    payload = json.dumps(
        {"m": msg_id, "a": action, "u": actor, "e": int(expires.timestamp())}, separators=(",", ":")
    ).encode()
    return f"{_b64(payload)}.{_b64(_mac(secret, 'link', payload))}"


def verify_link(secret: bytes, token: str, now: datetime) -> LinkToken:
    """Check signature and expiry; raise :class:`InvalidToken` otherwise."""
    try:
        p64, s64 = token.split(".", 1)
        payload, sig = _unb64(p64), _unb64(s64)
    except ValueError:
        raise InvalidToken("malformed token") from None
    if not hmac.compare_digest(sig, _mac(secret, "link", payload)):
        raise InvalidToken("bad signature")
    try:
        data = json.loads(payload)
        tok = LinkToken(
            str(data["m"]), str(data["a"]), str(data["u"]), datetime.fromtimestamp(int(data["e"]), UTC)
        )
    except (ValueError, KeyError, TypeError):
        raise InvalidToken("malformed token") from None
    if now >= tok.expires:
        raise InvalidToken("expired")
    return tok


def link_url(base_url: str, token: str) -> str:
    """Where the UI serves a token: it shows a confirmation page and acts on POST."""
    return f"{base_url.rstrip('/')}/a/{token}"
