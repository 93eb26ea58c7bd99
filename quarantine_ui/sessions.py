"""Server-side sessions: a random 256-bit id in the cookie, only its SHA-256 kept in the database.

A session has a stage: ``anon`` (carries the login form's CSRF token), ``mfa`` (password checked,
TOTP code due), ``enrol`` (password checked, TOTP enrolment due) or ``full``. Only ``full``
sessions reach protected pages. Each session has its own CSRF token (synchronizer pattern). A new
id is issued whenever the stage changes (login, MFA completion), so a fixed id is worthless.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from enum import StrEnum

from quarantine_ui.config import UIConfig
from quarantine_ui.db import Database

MAX_TOKEN_LENGTH = 128


class Stage(StrEnum):
    ANON = "anon"
    MFA = "mfa"
    ENROL = "enrol"
    FULL = "full"


@dataclass(frozen=True)
class Session:
    id_hash: str
    user_id: int | None
    stage: Stage
    csrf: str
    created: float
    last_seen: float
    ip: str
    via: str

    def csrf_ok(self, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(token.encode(), self.csrf.encode())


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class SessionStore:
    def __init__(self, db: Database, config: UIConfig) -> None:
        self.db = db
        self.config = config

    def lifetime(self, stage: Stage) -> tuple[float, float]:
        """(idle, absolute) lifetime of a session in ``stage``."""
        c = self.config
        if stage is Stage.FULL:
            return c.session_idle, c.session_absolute
        if stage is Stage.ANON:
            return c.session_anonymous, c.session_anonymous
        return c.session_partial, c.session_partial

    def create(
        self, user_id: int | None, stage: Stage, ip: str, via: str = "password"
    ) -> tuple[str, Session]:
        """Start a session; returns the cookie value (shown only here) and the session."""
        token = secrets.token_urlsafe(32)
        now = self.config.clock()
        session = Session(_hash(token), user_id, stage, secrets.token_urlsafe(32), now, now, ip, via)
        with self.db.transaction() as conn:
            conn.execute(
                "DELETE FROM sessions WHERE created < ?",
                (now - max(self.config.session_absolute, self.config.session_anonymous),),
            )
            conn.execute(
                "INSERT INTO sessions (id_hash, user_id, stage, csrf, created, last_seen, ip, via) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (session.id_hash, user_id, stage.value, session.csrf, now, now, ip, via),
            )
        return token, session

    def get(self, token: str | None) -> Session | None:
        """The live session for a cookie value, refreshing its idle timer; None if unknown or expired."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            return None
        id_hash = _hash(token)
        now = self.config.clock()
        with self.db.transaction() as conn:
            row = conn.execute("SELECT * FROM sessions WHERE id_hash = ?", (id_hash,)).fetchone()
            if row is None:
                return None
            stage = Stage(row["stage"])
            idle, absolute = self.lifetime(stage)
            if now - row["last_seen"] > idle or now - row["created"] > absolute:
                conn.execute("DELETE FROM sessions WHERE id_hash = ?", (id_hash,))
                return None
            conn.execute("UPDATE sessions SET last_seen = ? WHERE id_hash = ?", (now, id_hash))
        return Session(
            id_hash, row["user_id"], stage, row["csrf"], row["created"], now, row["ip"], row["via"]
        )

    def destroy(self, session: Session) -> None:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM sessions WHERE id_hash = ?", (session.id_hash,))

    def rotate(
        self, old: Session | None, user_id: int | None, stage: Stage, ip: str, via: str
    ) -> tuple[str, Session]:
        """Replace ``old`` (if any) by a new session with a new id and a new CSRF token."""
        if old is not None:
            self.destroy(old)
        return self.create(user_id, stage, ip, via)

    def count_for_user(self, user_id: int) -> int:
        with self.db.lock:
            n: int = self.db.conn.execute(
                "SELECT COUNT(*) FROM sessions WHERE user_id = ?", (user_id,)
            ).fetchone()[0]
        return n
