"""UI accounts: users from the directory, argon2id passwords, TOTP MFA, throttling and lockout.

Lockout rule: ``max_failures`` failed password or TOTP attempts for one address within
``failure_window`` lock that address for ``lockout`` seconds. A client address is slowed, not
locked: past ``ip_max_failures`` failures within the window it must wait between attempts, 1 s
doubling with each further failure up to ``ip_max_delay`` (60 s). An office behind one NAT
address whose neighbour mistyped, or that an attacker shares, still gets in within a minute
with the right password; a guesser from that address gets one try a minute, and each account
still locks after its own ``max_failures``. Only a completed login (password and,
when required, TOTP) resets an address's count, so knowing the password does not buy unlimited
TOTP guesses. Unknown addresses are counted and locked exactly like known ones, so lockout does not
reveal which addresses exist. Every attempt is an auth event (log line and ``auth_events`` row).

TOTP secrets are sealed at rest with AES-GCM under a key derived (HKDF) from the UI's secret and
bound to the user's id, so a copy of the database alone does not give away anyone's second
factor. Changing the secret therefore invalidates enrolments (``sekimori user reset-mfa``).
"""

from __future__ import annotations

import base64
import hmac
import logging
import os
import re
import secrets
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import pyotp
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from quarantine_ui.config import ROLES, UIConfig
from quarantine_ui.db import Database

log = logging.getLogger("sekimori.ui.auth")

TOTP_PERIOD = 30
#: Accept the previous and the next 30-second step as well (clock drift of a phone).
TOTP_WINDOW = 1
_ADDRESS = re.compile(r"[^\s@\x00-\x1f\x7f]{1,64}@[^\s@\x00-\x1f\x7f]{1,253}")
_CODE = re.compile(r"[0-9]{6}")
MAX_PASSWORD_LENGTH = 1024
_WARN_EVENTS = frozenset(
    {
        "login_failure",
        "mfa_failure",
        "enrol_failure",
        "lockout",
        "login_locked",
        "login_throttled",
        "sso_refused",
    }
)


class AccountError(ValueError):
    """An operator's request cannot be done (unknown user, bad role, weak password)."""


class Outcome(StrEnum):
    OK = "ok"
    BAD_CREDENTIALS = "bad_credentials"
    LOCKED = "locked"
    THROTTLED = "throttled"


@dataclass(frozen=True)
class User:
    id: int
    address: str
    name: str
    roles: frozenset[str]
    has_password: bool
    mfa_enrolled: bool
    disabled: bool


@dataclass(frozen=True)
class LoginResult:
    outcome: Outcome
    user: User | None = None
    #: When a locked or throttled caller may try again (epoch seconds).
    retry_at: float | None = None

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.OK


@dataclass(frozen=True)
class Enrolment:
    """A fresh TOTP secret, shown to the user once, as text and as an ``otpauth://`` URI."""

    secret: str
    uri: str


@dataclass(frozen=True)
class DirectoryEntry:
    """One person as the organisation's directory lists them."""

    address: str
    name: str
    roles: tuple[str, ...]


@dataclass(frozen=True)
class SyncReport:
    added: tuple[str, ...]
    updated: tuple[str, ...]
    disabled: tuple[str, ...]
    enabled: tuple[str, ...]


@dataclass(frozen=True)
class AuthEvent:
    at: float
    event: str
    address: str
    ip: str
    detail: str


AuditSink = Callable[[AuthEvent], None]


def normalize_address(address: str) -> str:
    """Lower-case and check a mail address used as a login name.

    >>> normalize_address("  Taro.Yamada@Example.CO.JP ")
    'taro.yamada@example.co.jp'
    """
    value = address.strip().lower()
    if len(value) > 254 or not _ADDRESS.fullmatch(value):
        raise AccountError(f"not a mail address: {address!r}")
    return value


def _row_to_user(row: sqlite3.Row) -> User:
    return User(
        id=row["id"],
        address=row["address"],
        name=row["name"],
        roles=frozenset(r for r in row["roles"].split(",") if r),
        has_password=row["password_hash"] is not None,
        mfa_enrolled=row["mfa_secret"] is not None,
        disabled=bool(row["disabled"]),
    )


#: Prefix of a sealed TOTP secret; a value without it was stored before sealing existed.
SEALED_PREFIX = "v1:"


class SecretBox:
    """Seals TOTP secrets for the database: AES-256-GCM, the user's id as associated data (a
    sealed value copied to another user's row does not open)."""

    def __init__(self, secret: bytes) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"sekimori totp at rest v1").derive(
            secret
        )
        self._aead = AESGCM(key)

    def seal(self, plain: str, user_id: int) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plain.encode("ascii"), f"user:{user_id}".encode())
        return SEALED_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def open(self, stored: str, user_id: int) -> str | None:
        """The plain secret, or None when it does not open (another secret, another row)."""
        if not stored.startswith(SEALED_PREFIX):
            return stored  # stored before sealing; sealed again at its next use
        try:
            data = base64.urlsafe_b64decode(stored[len(SEALED_PREFIX) :])
            plain = self._aead.decrypt(data[:12], data[12:], f"user:{user_id}".encode())
        except (InvalidTag, ValueError):  # binascii.Error is a ValueError
            log.error("the TOTP secret of user %d does not open: was the secret changed?", user_id)
            return None
        return plain.decode("ascii")


def _match_step(secret: str, code: str, now: float) -> int | None:
    """Return the TOTP time step whose code equals ``code`` within the window, else None."""
    code = code.replace(" ", "")
    if not _CODE.fullmatch(code):
        return None
    totp = pyotp.TOTP(secret, interval=TOTP_PERIOD)
    current = int(now // TOTP_PERIOD)
    found = None
    for step in range(current - TOTP_WINDOW, current + TOTP_WINDOW + 1):
        if hmac.compare_digest(totp.at(step * TOTP_PERIOD), code):
            found = step
    return found


class Accounts:
    """Users, credentials and login throttling over the UI database."""

    def __init__(self, db: Database, config: UIConfig, audit: AuditSink | None = None) -> None:
        self.db = db
        self.config = config
        #: Also receives every auth event (the gateway's hash-chained audit log, once wired in).
        self.audit = audit
        self._dummy: str | None = None
        self._box = SecretBox(config.secret)

    @property
    def _dummy_hash(self) -> str:
        """A hash to verify against for unknown users, so they cost as much time as known ones."""
        if self._dummy is None:
            self._dummy = self.config.hasher.hash(secrets.token_urlsafe(16))
        return self._dummy

    # -- operator actions -------------------------------------------------------------------

    def add_user(self, address: str, name: str, roles: list[str] | tuple[str, ...]) -> User:
        addr = normalize_address(address)
        bad = [r for r in roles if r not in ROLES]
        if bad or not roles:
            raise AccountError(f"roles must be among {', '.join(ROLES)}; got {', '.join(roles) or 'none'}")
        if not name.strip():
            raise AccountError("name must not be empty")
        ordered = ",".join(r for r in ROLES if r in roles)
        try:
            with self.db.transaction() as conn:
                conn.execute(
                    "INSERT INTO users (address, name, roles, created) VALUES (?, ?, ?, ?)",
                    (addr, name.strip(), ordered, self.config.clock()),
                )
        except sqlite3.IntegrityError:
            raise AccountError(f"user already exists: {addr}") from None
        user = self.get(addr)
        assert user is not None
        self._log("user_added", addr, "-", ordered)
        return user

    def set_password(self, address: str, password: str) -> None:
        addr = normalize_address(address)
        if len(password) < self.config.min_password_length:
            raise AccountError(f"password must be at least {self.config.min_password_length} characters")
        if len(password) > MAX_PASSWORD_LENGTH:
            raise AccountError(f"password must be at most {MAX_PASSWORD_LENGTH} characters")
        if self.get(addr) is None:
            raise AccountError(f"no such user: {addr}")
        hashed = self.config.hasher.hash(password)
        with self.db.transaction() as conn:
            cur = conn.execute("UPDATE users SET password_hash = ? WHERE address = ?", (hashed, addr))
            if cur.rowcount != 1:
                raise AccountError(f"no such user: {addr}")
            conn.execute(
                "DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE address = ?)", (addr,)
            )
            conn.execute("DELETE FROM lockouts WHERE address = ?", (addr,))
        self._log("password_set", addr, "-", "")

    def reset_mfa(self, address: str) -> None:
        addr = normalize_address(address)
        with self.db.transaction() as conn:
            cur = conn.execute(
                "UPDATE users SET mfa_secret = NULL, mfa_pending = NULL, mfa_last_step = NULL WHERE address = ?",
                (addr,),
            )
            if cur.rowcount != 1:
                raise AccountError(f"no such user: {addr}")
            conn.execute(
                "DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE address = ?)", (addr,)
            )
        self._log("mfa_reset", addr, "-", "")

    def unlock(self, address: str) -> None:
        addr = normalize_address(address)
        now = self.config.clock()
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO lockouts (address, locked_until, count_since) VALUES (?, 0, ?) "
                "ON CONFLICT (address) DO UPDATE SET locked_until = 0, count_since = excluded.count_since",
                (addr, now),
            )
        self._log("unlocked", addr, "-", "")

    def sync(self, entries: list[DirectoryEntry]) -> SyncReport:
        """Make the accounts match the directory: add new people, update names and roles, disable
        accounts whose address left the directory and re-enable those that came back. A change of
        roles ends the user's sessions, so new rights (and new MFA duties) apply at once. Passwords
        and TOTP secrets are kept. Raises AccountError (naming the entry) before changing anything."""
        wanted: dict[str, DirectoryEntry] = {}
        for entry in entries:
            addr = normalize_address(entry.address)
            bad = [r for r in entry.roles if r not in ROLES]
            if bad or not entry.roles:
                raise AccountError(
                    f"{addr}: roles must be among {', '.join(ROLES)}; got {', '.join(entry.roles) or 'none'}"
                )
            if not entry.name.strip():
                raise AccountError(f"{addr}: name must not be empty")
            if addr in wanted:
                raise AccountError(f"{addr}: listed twice")
            wanted[addr] = entry
        current = {u.address: u for u in self.list_users()}
        added, updated, disabled, enabled = [], [], [], []
        for addr, entry in sorted(wanted.items()):
            roles = ",".join(r for r in ROLES if r in entry.roles)
            user = current.get(addr)
            if user is None:
                self.add_user(addr, entry.name, list(entry.roles))
                added.append(addr)
                continue
            if user.name != entry.name.strip() or user.roles != frozenset(entry.roles):
                with self.db.transaction() as conn:
                    conn.execute(
                        "UPDATE users SET name = ?, roles = ? WHERE id = ?",
                        (entry.name.strip(), roles, user.id),
                    )
                    if user.roles != frozenset(entry.roles):
                        conn.execute("DELETE FROM sessions WHERE user_id = ?", (user.id,))
                before = ",".join(r for r in ROLES if r in user.roles)
                self._log(
                    "user_updated", addr, "-", f"roles {before} -> {roles}" if before != roles else "name"
                )
                updated.append(addr)
            if user.disabled:
                self.set_disabled(addr, False)
                enabled.append(addr)
        for addr, user in sorted(current.items()):
            if addr not in wanted and not user.disabled:
                self.set_disabled(addr, True)
                disabled.append(addr)
        return SyncReport(tuple(added), tuple(updated), tuple(disabled), tuple(enabled))

    def set_roles(self, address: str, roles: list[str] | tuple[str, ...]) -> User:
        """Give an account exactly ``roles``; its sessions end (they carry the old roles)."""
        addr = normalize_address(address)
        bad = [r for r in roles if r not in ROLES]
        if bad or not roles:
            raise AccountError(f"roles must be among {', '.join(ROLES)}")
        user = self.get(addr)
        if user is None:
            raise AccountError(f"no such user: {addr}")
        ordered = ",".join(r for r in ROLES if r in roles)
        before = ",".join(r for r in ROLES if r in user.roles)
        if before != ordered:
            with self.db.transaction() as conn:
                conn.execute("UPDATE users SET roles = ? WHERE id = ?", (ordered, user.id))
                conn.execute("DELETE FROM sessions WHERE user_id = ?", (user.id,))
            self._log("user_updated", addr, "-", f"roles {before} -> {ordered}")
        updated = self.get(addr)
        assert updated is not None
        return updated

    def set_disabled(self, address: str, disabled: bool) -> None:
        """Disable (e.g. a leaver) or re-enable an account; disabling ends its sessions at once."""
        addr = normalize_address(address)
        with self.db.transaction() as conn:
            cur = conn.execute("UPDATE users SET disabled = ? WHERE address = ?", (int(disabled), addr))
            if cur.rowcount != 1:
                raise AccountError(f"no such user: {addr}")
            if disabled:
                conn.execute(
                    "DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE address = ?)", (addr,)
                )
        self._log("disabled" if disabled else "enabled", addr, "-", "")

    # -- lookups ------------------------------------------------------------------------------

    def get(self, address: str) -> User | None:
        try:
            addr = normalize_address(address)
        except AccountError:
            return None
        with self.db.lock:
            row = self.db.conn.execute("SELECT * FROM users WHERE address = ?", (addr,)).fetchone()
        return _row_to_user(row) if row else None

    def get_by_id(self, user_id: int) -> User | None:
        with self.db.lock:
            row = self.db.conn.execute("SELECT * FROM users WHERE id = ?", (user_id,)).fetchone()
        return _row_to_user(row) if row else None

    def list_users(self) -> list[User]:
        with self.db.lock:
            rows = self.db.conn.execute("SELECT * FROM users ORDER BY address").fetchall()
        return [_row_to_user(r) for r in rows]

    def events(self, limit: int = 100) -> list[AuthEvent]:
        """The most recent auth events, newest first."""
        with self.db.lock:
            rows = self.db.conn.execute(
                "SELECT at, event, address, ip, detail FROM auth_events ORDER BY id DESC LIMIT ?", (limit,)
            ).fetchall()
        return [AuthEvent(r["at"], r["event"], r["address"], r["ip"], r["detail"]) for r in rows]

    def mfa_required(self, user: User) -> bool:
        return self.config.mfa_required(user.roles)

    # -- login ----------------------------------------------------------------------------------

    def authenticate(self, address: str, password: str, ip: str) -> LoginResult:
        """Check a password. Blocking (argon2): call it from a worker thread in async code.

        On success the result's user may still need TOTP (see :meth:`mfa_required`); the
        failure count of the address is reset only when the whole login is complete.
        """
        try:
            addr = normalize_address(address)
        except AccountError:
            addr = address.strip().lower()[:254] or "-"
        now = self.config.clock()
        refused, attempt = self._begin(addr, ip, now, "login")
        if refused is not None:
            return refused
        with self.db.lock:
            row = self.db.conn.execute("SELECT * FROM users WHERE address = ?", (addr,)).fetchone()
        stored = row["password_hash"] if row is not None else None
        ok = False
        if len(password) <= MAX_PASSWORD_LENGTH:
            try:
                ok = self.config.hasher.verify(stored or self._dummy_hash, password) and stored is not None
            except (VerificationError, InvalidHashError):
                ok = False
        if not ok or row is None or row["disabled"]:
            return self._fail(addr, ip, now, "login_failure", "disabled" if ok else "bad password or user")
        user = _row_to_user(row)
        assert stored is not None
        with self.db.transaction() as conn:
            conn.execute("UPDATE login_attempts SET ok = 1 WHERE id = ?", (attempt,))
            if self.config.hasher.check_needs_rehash(stored):
                rehashed = self.config.hasher.hash(password)
                conn.execute("UPDATE users SET password_hash = ? WHERE id = ?", (rehashed, user.id))
        if self.mfa_required(user) or user.mfa_enrolled:
            self._log("password_ok", addr, ip, "mfa pending", at=now)
        else:
            self._complete(addr, ip, now, "login_success", "password")
        return LoginResult(Outcome.OK, user)

    def needs_totp(self, user: User) -> bool:
        """True when the login must go through a TOTP step (enrolled, or enrolment required)."""
        return user.mfa_enrolled or self.mfa_required(user)

    def verify_totp(self, user_id: int, code: str, ip: str) -> LoginResult:
        """Second step of a login: check a TOTP code (each time step is accepted once)."""
        return self._totp(user_id, code, ip, enrol=False)

    def begin_enrolment(self, user_id: int) -> Enrolment:
        """Create a new pending TOTP secret, replacing any earlier pending one."""
        secret = pyotp.random_base32()
        with self.db.transaction() as conn:
            row = conn.execute("SELECT address FROM users WHERE id = ?", (user_id,)).fetchone()
            if row is None:
                raise AccountError(f"no such user id: {user_id}")
            conn.execute(
                "UPDATE users SET mfa_pending = ? WHERE id = ?", (self._box.seal(secret, user_id), user_id)
            )
        return self._enrolment(row["address"], secret)

    def pending_enrolment(self, user_id: int) -> Enrolment | None:
        """The pending secret again (after a mistyped code), or None when there is none."""
        with self.db.lock:
            row = self.db.conn.execute(
                "SELECT address, mfa_pending FROM users WHERE id = ?", (user_id,)
            ).fetchone()
        if row is None or row["mfa_pending"] is None:
            return None
        secret = self._box.open(row["mfa_pending"], user_id)
        return None if secret is None else self._enrolment(row["address"], secret)

    def _enrolment(self, address: str, secret: str) -> Enrolment:
        uri = pyotp.TOTP(secret, interval=TOTP_PERIOD).provisioning_uri(
            name=address, issuer_name=self.config.mfa_issuer
        )
        return Enrolment(secret=secret, uri=uri)

    def confirm_enrolment(self, user_id: int, code: str, ip: str) -> LoginResult:
        """Activate the pending secret if ``code`` matches it; this also completes the login."""
        return self._totp(user_id, code, ip, enrol=True)

    def sso_login(self, address: str, ip: str, header: str) -> User | None:
        """A login vouched for by a trusted proxy; returns None for unknown or disabled users."""
        user = self.get(address)
        now = self.config.clock()
        if user is None or user.disabled:
            self._log("sso_refused", address.strip().lower()[:254] or "-", ip, header, at=now)
            return None
        self._log("sso_login", user.address, ip, header, at=now)
        return user

    # -- internals ------------------------------------------------------------------------------

    def _totp(self, user_id: int, code: str, ip: str, *, enrol: bool) -> LoginResult:
        now = self.config.clock()
        with self.db.lock:
            row = self.db.conn.execute("SELECT * FROM users WHERE id = ?", (user_id,)).fetchone()
        if row is None:
            return LoginResult(Outcome.BAD_CREDENTIALS)
        addr = row["address"]
        refused, attempt = self._begin(addr, ip, now, "mfa")
        if refused is not None:
            return refused
        stored = row["mfa_pending"] if enrol else row["mfa_secret"]
        secret = self._box.open(stored, user_id) if stored else None
        step = _match_step(secret, code, now) if secret else None
        last = row["mfa_last_step"]
        if step is None or (last is not None and step <= last):
            detail = "no secret" if not secret else ("replayed code" if step is not None else "wrong code")
            return self._fail(addr, ip, now, "enrol_failure" if enrol else "mfa_failure", detail)
        with self.db.transaction() as conn:
            if enrol:
                conn.execute(
                    "UPDATE users SET mfa_secret = mfa_pending, mfa_pending = NULL, mfa_last_step = ? WHERE id = ?",
                    (step, user_id),
                )
            else:
                conn.execute("UPDATE users SET mfa_last_step = ? WHERE id = ?", (step, user_id))
            if secret is not None and not stored.startswith(SEALED_PREFIX):
                # Stored before sealing existed: seal it now (after an enrolment it moved to
                # mfa_secret as well).
                conn.execute(
                    "UPDATE users SET mfa_secret = ? WHERE id = ?", (self._box.seal(secret, user_id), user_id)
                )
            conn.execute("UPDATE login_attempts SET ok = 1 WHERE id = ?", (attempt,))
        if enrol:
            self._log("mfa_enrolled", addr, ip, "", at=now)
        self._complete(addr, ip, now, "login_success", "password+totp")
        user = self.get_by_id(user_id)
        return LoginResult(Outcome.OK, user)

    def _begin(self, addr: str, ip: str, now: float, step: str) -> tuple[LoginResult | None, int]:
        """Refuse a locked address or a throttled client, or record the attempt as failed until it
        succeeds. Recording before the (slow) password check means parallel guesses count too."""
        cfg = self.config
        window_start = now - cfg.failure_window
        refused: LoginResult | None = None
        with self.db.transaction() as conn:
            lock = conn.execute(
                "SELECT locked_until, count_since FROM lockouts WHERE address = ?", (addr,)
            ).fetchone()
            since = max(window_start, lock["count_since"] if lock else 0.0)
            failures = conn.execute(
                "SELECT COUNT(*) FROM login_attempts WHERE address = ? AND ok = 0 AND at > ?", (addr, since)
            ).fetchone()[0]
            by_ip = conn.execute(
                "SELECT COUNT(*) AS n, MAX(at) AS last FROM login_attempts WHERE ip = ? AND ok = 0 AND at > ?",
                (ip, window_start),
            ).fetchone()
            excess = by_ip["n"] - cfg.ip_max_failures
            wait_until = by_ip["last"] + min(cfg.ip_max_delay, 2.0 ** min(excess, 30)) if excess >= 0 else 0.0
            if lock is not None and lock["locked_until"] > now:
                refused = LoginResult(Outcome.LOCKED, retry_at=lock["locked_until"])
            elif failures >= cfg.max_failures:
                refused = LoginResult(Outcome.LOCKED, retry_at=now + cfg.lockout)
            elif now < wait_until:
                refused = LoginResult(Outcome.THROTTLED, retry_at=wait_until)
            else:
                cur = conn.execute(
                    "INSERT INTO login_attempts (address, ip, at, ok) VALUES (?, ?, ?, 0)", (addr, ip, now)
                )
                assert cur.lastrowid is not None
                return None, cur.lastrowid
        event = "login_locked" if refused.outcome is Outcome.LOCKED else "login_throttled"
        self._log(event, addr, ip, step, at=now)
        return refused, 0

    def _fail(self, addr: str, ip: str, now: float, event: str, detail: str) -> LoginResult:
        with self.db.transaction() as conn:
            lock = conn.execute("SELECT count_since FROM lockouts WHERE address = ?", (addr,)).fetchone()
            since = max(now - self.config.failure_window, lock["count_since"] if lock else 0.0)
            failures = conn.execute(
                "SELECT COUNT(*) FROM login_attempts WHERE address = ? AND ok = 0 AND at > ? AND at <= ?",
                (addr, since, now),
            ).fetchone()[0]
            locked_until = None
            if failures >= self.config.max_failures:
                locked_until = now + self.config.lockout
                conn.execute(
                    "INSERT INTO lockouts (address, locked_until, count_since) VALUES (?, ?, ?) "
                    "ON CONFLICT (address) DO UPDATE SET locked_until = excluded.locked_until, "
                    "count_since = excluded.count_since",
                    (addr, locked_until, now),
                )
        self._log(event, addr, ip, detail, at=now)
        if locked_until is not None:
            self._log("lockout", addr, ip, f"{failures} failures", at=now)
            return LoginResult(Outcome.LOCKED, retry_at=locked_until)
        return LoginResult(Outcome.BAD_CREDENTIALS)

    def _complete(self, addr: str, ip: str, now: float, event: str, detail: str) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO lockouts (address, locked_until, count_since) VALUES (?, 0, ?) "
                "ON CONFLICT (address) DO UPDATE SET locked_until = 0, count_since = excluded.count_since",
                (addr, now),
            )
        self._log(event, addr, ip, detail, at=now)

    def _log(self, event: str, address: str, ip: str, detail: str, *, at: float | None = None) -> None:
        when = self.config.clock() if at is None else at
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO auth_events (at, event, address, ip, detail) VALUES (?, ?, ?, ?, ?)",
                (when, event, address, ip, detail),
            )
        level = logging.WARNING if event in _WARN_EVENTS else logging.INFO
        log.log(level, "%s address=%s ip=%s %s", event, address, ip, detail)
        if self.audit is not None:
            self.audit(AuthEvent(when, event, address, ip, detail))
