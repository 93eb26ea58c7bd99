from __future__ import annotations

from quarantine_ui.sessions import Stage
from tests.quarantine_ui.conftest import Env


def test_cookie_value_is_never_stored(env: Env) -> None:
    user = env.ui.accounts.add_user("a@example.jp", "A", ["sender"])
    token, session = env.ui.sessions.create(user.id, Stage.FULL, "192.0.2.1")
    assert len(token) >= 43  # 32 random bytes, base64url
    with env.ui.db.lock:
        rows = env.ui.db.conn.execute("SELECT id_hash FROM sessions").fetchall()
    assert [r[0] for r in rows] == [session.id_hash]
    assert token not in session.id_hash
    assert env.ui.sessions.get(token) == session


def test_unknown_and_oversized_tokens(env: Env) -> None:
    assert env.ui.sessions.get(None) is None
    assert env.ui.sessions.get("") is None
    assert env.ui.sessions.get("x" * 10_000) is None
    assert env.ui.sessions.get("no-such-session") is None


def test_idle_expiry_is_refreshed_by_use(env: Env) -> None:
    user = env.ui.accounts.add_user("a@example.jp", "A", ["sender"])
    token, _ = env.ui.sessions.create(user.id, Stage.FULL, "ip")
    for _ in range(5):
        env.clock.advance(29 * 60)
        assert env.ui.sessions.get(token) is not None
    env.clock.advance(30 * 60 + 1)
    assert env.ui.sessions.get(token) is None
    # Expired sessions are deleted, not merely ignored.
    env.clock.now -= 30 * 60 + 1
    assert env.ui.sessions.get(token) is None


def test_absolute_expiry(env: Env) -> None:
    user = env.ui.accounts.add_user("a@example.jp", "A", ["sender"])
    token, session = env.ui.sessions.create(user.id, Stage.FULL, "ip")
    while env.clock() + 29 * 60 <= session.created + 12 * 3600:
        env.clock.advance(29 * 60)
        assert env.ui.sessions.get(token) is not None
    env.clock.now = session.created + 12 * 3600 + 1
    assert env.ui.sessions.get(token) is None


def test_partial_sessions_live_ten_minutes(env: Env) -> None:
    user = env.ui.accounts.add_user("a@example.jp", "A", ["approver"])
    token, _ = env.ui.sessions.create(user.id, Stage.MFA, "ip")
    env.clock.advance(9 * 60)
    assert env.ui.sessions.get(token) is not None
    env.clock.advance(61)
    assert env.ui.sessions.get(token) is None


def test_rotate_replaces_id_and_csrf(env: Env) -> None:
    user = env.ui.accounts.add_user("a@example.jp", "A", ["sender"])
    old_token, old = env.ui.sessions.create(None, Stage.ANON, "ip", "anonymous")
    new_token, new = env.ui.sessions.rotate(old, user.id, Stage.FULL, "ip", "password")
    assert env.ui.sessions.get(old_token) is None
    assert new_token != old_token and new.csrf != old.csrf
    assert env.ui.sessions.get(new_token) == new


def test_csrf_comparison(env: Env) -> None:
    _, session = env.ui.sessions.create(None, Stage.ANON, "ip")
    assert session.csrf_ok(session.csrf)
    assert not session.csrf_ok(None)
    assert not session.csrf_ok("")
    assert not session.csrf_ok(session.csrf[:-1])
    assert not session.csrf_ok("日本語")


def test_password_change_and_mfa_reset_end_sessions(env: Env) -> None:
    user = env.ui.accounts.add_user("a@example.jp", "A", ["sender"])
    env.ui.sessions.create(user.id, Stage.FULL, "ip")
    env.ui.accounts.set_password("a@example.jp", "another long password")
    assert env.ui.sessions.count_for_user(user.id) == 0
    env.ui.sessions.create(user.id, Stage.FULL, "ip")
    env.ui.accounts.reset_mfa("a@example.jp")
    assert env.ui.sessions.count_for_user(user.id) == 0
