"""Fixtures for the quarantine UI tests: a real app over a real SQLite file in tmp, a fake clock."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyotp
import pytest
from argon2 import PasswordHasher, profiles
from starlette.exceptions import StarletteDeprecationWarning

# Starlette prefers the httpx2 fork for its test client, but httpx2 needs h11>=0.16 while
# mitmproxy 11.0.x pins h11<=0.14; the httpx path still works and is what we pin.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

from gateway.store import Store
from quarantine_ui.app import create_app
from quarantine_ui.config import UIConfig
from quarantine_ui.services import UI

START = 1_800_000_000.0
PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')
_SECRET = re.compile(r'<code id="secret">([A-Z2-7 ]+)</code>')


class FakeClock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Env:
    config: UIConfig
    ui: UI
    clock: FakeClock
    app: object

    def client(
        self, *, base_url: str = "http://localhost", host: str = "192.0.2.10", raise_errors: bool = True
    ) -> TestClient:
        return TestClient(
            self.app,  # type: ignore[arg-type]
            base_url=base_url,
            client=(host, 40000),
            follow_redirects=False,
            raise_server_exceptions=raise_errors,
        )

    def user(
        self, address: str, roles: list[str], *, password: str = PASSWORD, mfa: bool = False
    ) -> str | None:
        """Create a user; with ``mfa`` enrol a TOTP secret and return it."""
        user = self.ui.accounts.add_user(address, address.split("@")[0].title(), roles)
        self.ui.accounts.set_password(address, password)
        if not mfa:
            return None
        enrolment = self.ui.accounts.begin_enrolment(user.id)
        code = pyotp.TOTP(enrolment.secret).at(self.clock())
        assert self.ui.accounts.confirm_enrolment(user.id, code, "setup").ok
        # The enrolment used up the current time step; move past the acceptance window.
        self.clock.advance(60)
        return enrolment.secret

    def code(self, secret: str) -> str:
        return pyotp.TOTP(secret).at(self.clock())


def make_config(tmp_path: Path, clock: FakeClock, **overrides: object) -> UIConfig:
    settings: dict[str, object] = {
        "var_dir": tmp_path / "var",
        "secret": b"s" * 32,
        "secure_cookies": False,
        "clock": clock,
        "hasher": PasswordHasher.from_parameters(profiles.CHEAPEST),
    }
    settings.update(overrides)
    return UIConfig(**settings)  # type: ignore[arg-type]


def make_env(
    tmp_path: Path,
    store: Store | None = None,
    *,
    policy_path: Path | None = None,
    notifier: object = None,
    clock: FakeClock | None = None,
    **overrides: object,
) -> Env:
    clock = clock or FakeClock()
    config = make_config(tmp_path, clock, **overrides)
    app = create_app(config, store, policy_path=policy_path, notifier=notifier)  # type: ignore[arg-type]
    return Env(config=config, ui=app.state.ui, clock=clock, app=app)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    e = make_env(tmp_path)
    yield e
    e.ui.db.close()


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "page has no CSRF token"
    return match.group(1)


def secret_of(html: str) -> str:
    match = _SECRET.search(html)
    assert match, "page shows no TOTP secret"
    return match.group(1).replace(" ", "")


def password_step(client: TestClient, address: str, password: str = PASSWORD, next_url: str = "/"):
    """GET the login form, then POST it; returns the POST response."""
    page = client.get("/login")
    data = {"csrf_token": csrf_of(page.text), "address": address, "password": password, "next": next_url}
    return client.post("/login", data=data)


def login(
    env: Env, client: TestClient, address: str, secret: str | None = None, password: str = PASSWORD
) -> None:
    """Complete a login (password, then TOTP when ``secret`` is given)."""
    r = password_step(client, address, password)
    assert r.status_code == 303, r.text
    if secret is not None:
        assert r.headers["location"].startswith("/login/mfa")
        page = client.get("/login/mfa")
        r = client.post(
            "/login/mfa", data={"csrf_token": csrf_of(page.text), "code": env.code(secret), "next": "/"}
        )
        assert r.status_code == 303, r.text
    assert r.headers["location"] == "/"
