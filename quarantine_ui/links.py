"""Signed, expiring, single-use action links for notifications: cancel and send now (senders),
approve and reject (approvers), and "go on with a reason" (``proceed``) on the page of an upload
refused with a warning.

The tokens are the gateway's (:mod:`gateway.tokens`): ``base64url(payload) "." base64url(HMAC)``
over ``{"m": message id, "a": action, "u": who may use it, "e": expiry}``, keyed with the shared
secret, so the relay mints them in its notifications and the UI verifies them. The UI adds what
a stateless signature cannot give: :meth:`ActionLinks.consume` records the token's hash in the
UI database, so a token works once; :meth:`ActionLinks.check` verifies without using it up (for
the confirmation page a link opens: mail scanners fetch links, so the action itself is a POST).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from gateway.tokens import InvalidToken, link_url, sign_link, verify_link
from quarantine_ui.db import Database

ACTIONS = ("cancel", "send_now", "approve", "reject", "proceed")
MAX_TOKEN_LENGTH = 2048
MAX_MESSAGE_ID_LENGTH = 512


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
    #: SHA-256 of the token: the key of the single-use ledger.
    nonce: str
    #: Who the link was issued to, e.g. ``sender:taro@example.co.jp``.
    actor: str = ""


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class LinkSigner:
    def __init__(self, secret: bytes, clock: Callable[[], float]) -> None:
        self._secret = secret
        self._clock = clock

    def create(self, message_id: str, action: str, ttl: float, actor: str = "") -> str:
        if action not in ACTIONS:
            raise ValueError(f"action must be one of {ACTIONS}, not {action!r}")
        if not message_id or len(message_id) > MAX_MESSAGE_ID_LENGTH:
            raise ValueError("message id must be 1 to 512 characters")
        if ttl <= 0:
            raise ValueError("ttl must be positive")
        expires = datetime.fromtimestamp(int(self._clock() + ttl), UTC)
        return sign_link(self._secret, message_id, action, actor, expires)

    def verify(self, token: str, action: str | None = None) -> LinkClaim:
        """Check signature, shape, expiry and (if given) the action; does not use the token up."""
        if len(token) > MAX_TOKEN_LENGTH or token.count(".") != 1:
            raise LinkError("malformed")
        body, sig = token.split(".")
        try:
            _b64decode(body)
            _b64decode(sig)
        except (binascii.Error, ValueError):
            raise LinkError("malformed") from None
        # Checked far in the past so that expiry is judged below, with the UI's own clock.
        try:
            tok = verify_link(self._secret, token, datetime.fromtimestamp(0, UTC))
        except InvalidToken as exc:
            raise LinkError("bad_signature" if "signature" in str(exc) else "malformed") from None
        except (OverflowError, OSError):
            raise LinkError("malformed") from None
        if tok.action not in ACTIONS or not tok.msg_id or len(tok.msg_id) > MAX_MESSAGE_ID_LENGTH:
            raise LinkError("malformed")
        if action is not None and tok.action != action:
            raise LinkError("wrong_action")
        expires = int(tok.expires.timestamp())
        if self._clock() >= expires:
            raise LinkError("expired")
        nonce = hashlib.sha256(token.encode("ascii", "replace")).hexdigest()
        return LinkClaim(tok.msg_id, tok.action, expires, nonce, tok.actor)


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
    return link_url(base_url, token)
