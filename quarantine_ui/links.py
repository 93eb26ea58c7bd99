"""Signed, expiring, single-use action links ("cancel", "send now") for hold notifications.

A token is ``base64url(payload) "." base64url(HMAC-SHA256(key, payload))`` where the payload is
compact JSON ``{"m": message id, "a": action, "e": expiry (epoch s), "n": random nonce}`` and the
key is derived from the UI secret for this purpose only. :meth:`LinkSigner.create` needs no
database, so the SMTP relay can mint links with just the secret. :meth:`ActionLinks.consume`
records the nonce in the UI database, so a token works once; :meth:`ActionLinks.check` verifies
without using it up (for the confirmation page a link opens: mail scanners fetch links, so the
action itself is a POST).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from quarantine_ui.db import Database

ACTIONS = ("cancel", "send_now")
MAX_TOKEN_LENGTH = 2048
MAX_MESSAGE_ID_LENGTH = 512
_KEY_LABEL = b"sekimori-ui action-links v1"


class LinkError(ValueError):
    """A token is refused; ``reason`` is one of malformed, bad_signature, expired, used, wrong_action."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class LinkClaim:
    message_id: str
    action: str
    expires: int
    nonce: str


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class LinkSigner:
    def __init__(self, secret: bytes, clock: Callable[[], float]) -> None:
        self._key = hmac.new(secret, _KEY_LABEL, hashlib.sha256).digest()
        self._clock = clock

    def create(self, message_id: str, action: str, ttl: float) -> str:
        if action not in ACTIONS:
            raise ValueError(f"action must be one of {ACTIONS}, not {action!r}")
        if not message_id or len(message_id) > MAX_MESSAGE_ID_LENGTH:
            raise ValueError("message id must be 1 to 512 characters")
        if ttl <= 0:
            raise ValueError("ttl must be positive")
        claim = {"m": message_id, "a": action, "e": int(self._clock() + ttl), "n": secrets.token_urlsafe(16)}
        payload = json.dumps(claim, separators=(",", ":"), ensure_ascii=True).encode()
        mac = hmac.new(self._key, payload, hashlib.sha256).digest()
        return f"{_b64encode(payload)}.{_b64encode(mac)}"

    def verify(self, token: str, action: str | None = None) -> LinkClaim:
        """Check signature, shape, expiry and (if given) the action; does not use the token up."""
        if len(token) > MAX_TOKEN_LENGTH or token.count(".") != 1:
            raise LinkError("malformed")
        body, sig = token.split(".")
        try:
            payload = _b64decode(body)
            mac = _b64decode(sig)
        except (binascii.Error, ValueError):
            raise LinkError("malformed") from None
        expected = hmac.new(self._key, payload, hashlib.sha256).digest()
        if not hmac.compare_digest(mac, expected):
            raise LinkError("bad_signature")
        try:
            data = json.loads(payload)
            claim = LinkClaim(str(data["m"]), str(data["a"]), int(data["e"]), str(data["n"]))
        except (ValueError, KeyError, TypeError):
            raise LinkError("malformed") from None
        if claim.action not in ACTIONS:
            raise LinkError("malformed")
        if action is not None and claim.action != action:
            raise LinkError("wrong_action")
        if self._clock() >= claim.expires:
            raise LinkError("expired")
        return claim


class ActionLinks:
    """Verification plus the single-use ledger (table ``used_links`` of the UI database)."""

    def __init__(self, signer: LinkSigner, db: Database, clock: Callable[[], float]) -> None:
        self.signer = signer
        self.db = db
        self._clock = clock

    def check(self, token: str, action: str | None = None) -> LinkClaim:
        """Verify a token and that it has not been used; does not use it up."""
        claim = self.signer.verify(token, action)
        with self.db.lock:
            used = self.db.conn.execute("SELECT 1 FROM used_links WHERE nonce = ?", (claim.nonce,)).fetchone()
        if used is not None:
            raise LinkError("used")
        return claim

    def consume(self, token: str, action: str | None = None) -> LinkClaim:
        """Verify a token and mark it used, atomically: of two concurrent uses exactly one wins."""
        claim = self.signer.verify(token, action)
        now = self._clock()
        try:
            with self.db.transaction() as conn:
                conn.execute("DELETE FROM used_links WHERE expires < ?", (now,))
                conn.execute(
                    "INSERT INTO used_links (nonce, message_id, action, used_at, expires) VALUES (?, ?, ?, ?, ?)",
                    (claim.nonce, claim.message_id, claim.action, now, claim.expires),
                )
        except sqlite3.IntegrityError:
            raise LinkError("used") from None
        return claim


def action_url(base_url: str, token: str) -> str:
    """The address to put in a notification mail, e.g. ``https://dlp.example.jp/a/<token>``."""
    return f"{base_url.rstrip('/')}/a/{token}"
