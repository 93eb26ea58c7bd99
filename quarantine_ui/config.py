"""Settings of the quarantine web UI, with safe defaults.

Everything the app reads from outside (secret, clock, proxy addresses) comes through
:class:`UIConfig`, so tests build one with a temporary ``var_dir`` and a fake clock.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from argon2 import PasswordHasher

from gateway.actions import LinkAuth
from gateway.bilingual import LANGUAGES

#: Roles from the directory. Approvers and security admins must use TOTP MFA.
ROLES = ("sender", "approver", "security_admin", "auditor")
MFA_ROLES = frozenset({"approver", "security_admin"})

SECRET_FILE = "ui-secret.key"  # noqa: S105 - a file name, not a secret
DB_FILE = "ui.sqlite3"
MIN_SECRET_BYTES = 32

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def load_or_create_secret(var_dir: Path) -> bytes:
    """Return the UI's signing secret from ``var_dir``, creating a random one (mode 0600) once."""
    var_dir.mkdir(parents=True, exist_ok=True)
    path = var_dir / SECRET_FILE
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        data = secrets.token_bytes(MIN_SECRET_BYTES)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
    if len(data) < MIN_SECRET_BYTES:
        raise ValueError(f"{path}: secret is {len(data)} bytes, at least {MIN_SECRET_BYTES} are needed")
    return data


def parse_networks(values: tuple[str, ...] | list[str]) -> tuple[IPNetwork, ...]:
    """Parse proxy addresses such as ``127.0.0.1`` or ``10.0.0.0/8``; raise ValueError naming a bad one."""
    out: list[IPNetwork] = []
    for value in values:
        try:
            out.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError as exc:
            raise ValueError(f"trusted proxy {value!r}: {exc}") from None
    return tuple(out)


@dataclass
class UIConfig:
    """Settings of one UI instance. Times are in seconds."""

    var_dir: Path
    secret: bytes
    #: Send cookies with ``Secure``. Turn off only for plain-HTTP tests on localhost.
    secure_cookies: bool = True
    #: ``lax`` lets links from notification mail open a logged-in page; ``strict`` is also accepted.
    samesite: str = "lax"
    session_idle: float = 30 * 60
    session_absolute: float = 12 * 3600
    #: Lifetime of a session that has passed the password step but not yet the TOTP step.
    session_partial: float = 10 * 60
    #: Lifetime of the anonymous session that carries the login form's CSRF token.
    session_anonymous: float = 60 * 60
    mfa_for_everyone: bool = False
    mfa_issuer: str = "Sekimori"
    max_failures: int = 5
    failure_window: float = 15 * 60
    lockout: float = 15 * 60
    ip_max_failures: int = 20
    #: Past ``ip_max_failures``, a client address waits between attempts: 1 s, doubling with
    #: each further failure, up to this long. It slows a guesser to one try a minute without
    #: locking out everyone behind the same NAT (the per-account lockout protects each account).
    ip_max_delay: float = 60.0
    #: Request header carrying the single-sign-on user (e.g. ``X-Remote-User``); None disables SSO.
    sso_header: str | None = None
    #: Reverse proxies whose SSO header and ``X-Forwarded-For`` are believed.
    trusted_proxies: tuple[IPNetwork, ...] = ()
    default_lang: str = "ja"
    #: Times are shown in this offset from UTC (Japan Standard Time has no daylight saving).
    utc_offset_minutes: int = 9 * 60
    min_password_length: int = 12
    #: What an approver's approve/reject link needs besides itself: a login that passed the second
    #: factor (``mfa``), any complete login (``login``), or nothing (``one_click``). A sender's own
    #: cancel and send-now links are one click whatever this says (:mod:`gateway.actions`).
    approval_links: LinkAuth = LinkAuth.MFA
    clock: Callable[[], float] = time.time
    hasher: PasswordHasher = field(default_factory=PasswordHasher)

    def __post_init__(self) -> None:
        if len(self.secret) < MIN_SECRET_BYTES:
            raise ValueError(f"secret must be at least {MIN_SECRET_BYTES} bytes")
        if self.samesite not in ("lax", "strict"):
            raise ValueError(f"samesite must be 'lax' or 'strict', not {self.samesite!r}")
        if self.default_lang not in LANGUAGES:
            raise ValueError(f"default_lang must be one of {LANGUAGES}")
        self.approval_links = LinkAuth(self.approval_links)
        if self.sso_header is not None and not self.trusted_proxies:
            raise ValueError("sso_header needs trusted_proxies: the header is honoured only from them")

    @property
    def db_path(self) -> Path:
        return self.var_dir / DB_FILE

    def mfa_required(self, roles: frozenset[str]) -> bool:
        return self.mfa_for_everyone or bool(roles & MFA_ROLES)

    @classmethod
    def for_var_dir(cls, var_dir: Path, **kwargs: object) -> UIConfig:
        """Build a config whose secret lives in ``var_dir`` (created on first use)."""
        return cls(var_dir=var_dir, secret=load_or_create_secret(var_dir), **kwargs)  # type: ignore[arg-type]
