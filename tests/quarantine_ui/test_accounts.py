from __future__ import annotations

from pathlib import Path
from typing import Literal

import pyotp
import pytest

from quarantine_ui.accounts import SEALED_PREFIX, AccountError, Outcome, SecretBox, normalize_address
from tests.quarantine_ui.conftest import PASSWORD, Env, make_env

IP = "192.0.2.1"


def events(env: Env) -> list[str]:
    return [e.event for e in reversed(env.ui.accounts.events(1000))]


def test_add_user_normalises_address_and_orders_roles(env: Env) -> None:
    user = env.ui.accounts.add_user("  Hanako.Sato@Example.JP ", "佐藤 花子", ["approver", "sender"])
    assert user.address == "hanako.sato@example.jp"
    assert user.roles == frozenset({"sender", "approver"})
    assert not user.has_password and not user.mfa_enrolled
    assert env.ui.accounts.get("HANAKO.SATO@example.jp") == user


@pytest.mark.parametrize(
    ("address", "name", "roles"),
    [
        ("not-an-address", "X", ["sender"]),
        ("a@b@c", "X", ["sender"]),
        ("a b@example.jp", "X", ["sender"]),
        ("a@example.jp", "X", ["root"]),
        ("a@example.jp", "X", []),
        ("a@example.jp", "  ", ["sender"]),
    ],
)
def test_add_user_refuses_bad_input(env: Env, address: str, name: str, roles: list[str]) -> None:
    with pytest.raises(AccountError):
        env.ui.accounts.add_user(address, name, roles)


def test_duplicate_user_is_refused(env: Env) -> None:
    env.ui.accounts.add_user("a@example.jp", "A", ["sender"])
    with pytest.raises(AccountError, match="already exists"):
        env.ui.accounts.add_user("A@EXAMPLE.JP", "A", ["sender"])


def test_password_is_stored_as_argon2id_hash(env: Env) -> None:
    env.user("a@example.jp", ["sender"])
    with env.ui.db.lock:
        stored = env.ui.db.conn.execute("SELECT password_hash FROM users").fetchone()[0]
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


def test_short_password_is_refused(env: Env) -> None:
    env.ui.accounts.add_user("a@example.jp", "A", ["sender"])
    with pytest.raises(AccountError, match="at least 12"):
        env.ui.accounts.set_password("a@example.jp", "short")
    with pytest.raises(AccountError, match="no such user"):
        env.ui.accounts.set_password("b@example.jp", PASSWORD)


def test_authenticate_success_and_failures(env: Env) -> None:
    env.user("a@example.jp", ["sender"])
    ok = env.ui.accounts.authenticate("A@example.jp", PASSWORD, IP)
    assert ok.outcome is Outcome.OK and ok.user is not None and ok.user.address == "a@example.jp"
    assert env.ui.accounts.authenticate("a@example.jp", PASSWORD + "x", IP).outcome is Outcome.BAD_CREDENTIALS
    assert env.ui.accounts.authenticate("nobody@example.jp", PASSWORD, IP).outcome is Outcome.BAD_CREDENTIALS
    assert env.ui.accounts.authenticate("a@example.jp", "x" * 5000, IP).outcome is Outcome.BAD_CREDENTIALS
    assert events(env)[-4:] == ["login_success", "login_failure", "login_failure", "login_failure"]


def test_user_without_password_cannot_log_in(env: Env) -> None:
    env.ui.accounts.add_user("a@example.jp", "A", ["sender"])
    assert env.ui.accounts.authenticate("a@example.jp", "", IP).outcome is Outcome.BAD_CREDENTIALS


def test_lockout_after_five_failures_then_expiry(env: Env) -> None:
    env.user("a@example.jp", ["sender"])
    accounts = env.ui.accounts
    for _ in range(4):
        assert accounts.authenticate("a@example.jp", "wrong password!", IP).outcome is Outcome.BAD_CREDENTIALS
        env.clock.advance(10)
    fifth = accounts.authenticate("a@example.jp", "wrong password!", IP)
    assert fifth.outcome is Outcome.LOCKED
    assert fifth.retry_at == env.clock() + 15 * 60
    # While locked even the right password is refused, without being checked.
    env.clock.advance(14 * 60)
    assert accounts.authenticate("a@example.jp", PASSWORD, IP).outcome is Outcome.LOCKED
    env.clock.advance(61)
    assert accounts.authenticate("a@example.jp", PASSWORD, IP).outcome is Outcome.OK
    assert "lockout" in events(env) and "login_locked" in events(env)


def test_failures_older_than_the_window_do_not_count(env: Env) -> None:
    env.user("a@example.jp", ["sender"])
    for _ in range(4):
        env.ui.accounts.authenticate("a@example.jp", "wrong password!", IP)
    env.clock.advance(15 * 60 + 1)
    for _ in range(4):
        assert env.ui.accounts.authenticate("a@example.jp", "wrong", IP).outcome is Outcome.BAD_CREDENTIALS


def test_completed_login_resets_the_count(env: Env) -> None:
    env.user("a@example.jp", ["sender"])
    for _ in range(4):
        env.ui.accounts.authenticate("a@example.jp", "wrong", IP)
    assert env.ui.accounts.authenticate("a@example.jp", PASSWORD, IP).ok
    for _ in range(4):
        assert env.ui.accounts.authenticate("a@example.jp", "wrong", IP).outcome is Outcome.BAD_CREDENTIALS


def test_a_lock_does_not_re_trigger_on_the_first_failure_after_it(env: Env) -> None:
    env.user("a@example.jp", ["sender"])
    for _ in range(5):
        env.ui.accounts.authenticate("a@example.jp", "wrong", IP)
    env.clock.advance(15 * 60)
    assert env.ui.accounts.authenticate("a@example.jp", "wrong", IP).outcome is Outcome.BAD_CREDENTIALS


def test_unknown_addresses_lock_like_known_ones(env: Env) -> None:
    results = [env.ui.accounts.authenticate("ghost@example.jp", "wrong", IP).outcome for _ in range(6)]
    assert results == [Outcome.BAD_CREDENTIALS] * 4 + [Outcome.LOCKED] * 2


def test_per_ip_throttling_slows_guessing_but_never_locks_out_an_office(env: Env) -> None:
    """Issue 10: 20 failures from one address refused the right password to everyone behind the
    same NAT for 15 minutes. Now the address waits between attempts (1 s, doubling, at most
    60 s): the office gets in after a short wait, a guesser gets one try a minute."""
    env.user("a@example.jp", ["sender"])
    office = "198.51.100.7"
    for i in range(20):
        env.ui.accounts.authenticate(f"user{i}@example.jp", "wrong", office)
    throttled = env.ui.accounts.authenticate("a@example.jp", PASSWORD, office)
    assert throttled.outcome is Outcome.THROTTLED and throttled.retry_at is not None
    assert throttled.retry_at - env.clock() <= 1.0
    assert env.ui.accounts.authenticate("a@example.jp", PASSWORD, "198.51.100.8").ok
    env.clock.advance(1.0)
    assert env.ui.accounts.authenticate("a@example.jp", PASSWORD, office).ok, "in after a second"
    # A guesser from the same address: each failure doubles the wait, up to a minute.
    waits = []
    for i in range(10):
        result = env.ui.accounts.authenticate(f"guess{i}@example.jp", "wrong", office)
        assert result.outcome is Outcome.BAD_CREDENTIALS
        refused = env.ui.accounts.authenticate(f"guess{i}@example.jp", "wrong", office)
        assert refused.outcome is Outcome.THROTTLED and refused.retry_at is not None
        waits.append(round(refused.retry_at - env.clock()))
        env.clock.advance(refused.retry_at - env.clock())
    assert waits == [2, 4, 8, 16, 32, 60, 60, 60, 60, 60]
    # The right password still gets in once the current wait is over, and accounts still lock.
    assert env.ui.accounts.authenticate("a@example.jp", PASSWORD, office).ok


def test_unlock_lifts_a_lockout(env: Env) -> None:
    env.user("a@example.jp", ["sender"])
    for _ in range(5):
        env.ui.accounts.authenticate("a@example.jp", "wrong", IP)
    env.ui.accounts.unlock("a@example.jp")
    assert env.ui.accounts.authenticate("a@example.jp", PASSWORD, IP).ok


def test_mfa_required_for_approvers_and_admins_only_by_default(env: Env) -> None:
    accounts = env.ui.accounts
    sender = accounts.add_user("s@example.jp", "S", ["sender"])
    approver = accounts.add_user("p@example.jp", "P", ["sender", "approver"])
    admin = accounts.add_user("x@example.jp", "X", ["security_admin"])
    assert [accounts.needs_totp(u) for u in (sender, approver, admin)] == [False, True, True]
    env.config.mfa_for_everyone = True
    assert accounts.needs_totp(sender)


def test_totp_window_and_replay(env: Env) -> None:
    secret = env.user("p@example.jp", ["approver"], mfa=True)
    assert secret is not None
    user = env.ui.accounts.get("p@example.jp")
    assert user is not None and user.mfa_enrolled
    totp = pyotp.TOTP(secret)
    previous = totp.at(env.clock() - 30)
    assert env.ui.accounts.verify_totp(user.id, previous, IP).ok
    # The same step (or an older one) is never accepted twice.
    assert env.ui.accounts.verify_totp(user.id, previous, IP).outcome is Outcome.BAD_CREDENTIALS
    assert env.ui.accounts.verify_totp(user.id, totp.at(env.clock()), IP).ok
    assert (
        env.ui.accounts.verify_totp(user.id, totp.at(env.clock() + 120), IP).outcome
        is Outcome.BAD_CREDENTIALS
    )
    for bad in ("", "12345", "abcdef", "1234567", "１２３４５６"):
        assert env.ui.accounts.verify_totp(user.id, bad, IP).outcome is not Outcome.OK


def test_totp_failures_lock_even_after_a_correct_password(env: Env) -> None:
    secret = env.user("p@example.jp", ["approver"], mfa=True)
    assert secret is not None
    user = env.ui.accounts.get("p@example.jp")
    assert user is not None
    wrong = f"{(int(env.code(secret)) + 1) % 1_000_000:06d}"
    outcomes = []
    for _ in range(3):
        assert env.ui.accounts.authenticate("p@example.jp", PASSWORD, IP).ok
        outcomes.append(env.ui.accounts.verify_totp(user.id, wrong, IP).outcome)
        outcomes.append(env.ui.accounts.verify_totp(user.id, wrong, IP).outcome)
    assert outcomes[:4] == [Outcome.BAD_CREDENTIALS] * 4
    assert outcomes[4] is Outcome.LOCKED
    assert env.ui.accounts.verify_totp(user.id, env.code(secret), IP).outcome is Outcome.LOCKED


def test_enrolment_replaces_pending_secret_and_reset_clears_it(env: Env) -> None:
    accounts = env.ui.accounts
    user = accounts.add_user("p@example.jp", "P", ["approver"])
    first = accounts.begin_enrolment(user.id)
    second = accounts.begin_enrolment(user.id)
    assert first.secret != second.secret
    assert second.uri.startswith("otpauth://totp/Sekimori:p%40example.jp?")
    assert accounts.pending_enrolment(user.id) == second
    assert not accounts.confirm_enrolment(user.id, pyotp.TOTP(first.secret).at(env.clock()), IP).ok
    assert accounts.confirm_enrolment(user.id, pyotp.TOTP(second.secret).at(env.clock()), IP).ok
    assert accounts.pending_enrolment(user.id) is None
    enrolled = accounts.get_by_id(user.id)
    assert enrolled is not None and enrolled.mfa_enrolled
    accounts.reset_mfa("p@example.jp")
    reset = accounts.get_by_id(user.id)
    assert reset is not None and not reset.mfa_enrolled
    assert events(env)[-3:] == ["mfa_enrolled", "login_success", "mfa_reset"]


def test_rehash_when_parameters_change(env: Env) -> None:
    from argon2 import PasswordHasher

    env.user("a@example.jp", ["sender"])
    env.config.hasher = PasswordHasher(time_cost=2, memory_cost=64, parallelism=1)
    assert env.ui.accounts.authenticate("a@example.jp", PASSWORD, IP).ok
    with env.ui.db.lock:
        stored = env.ui.db.conn.execute("SELECT password_hash FROM users").fetchone()[0]
    assert "m=64,t=2,p=1" in stored


@pytest.mark.parametrize("bad", ["", "a", "@example.jp", "a@", "a@b\nc", "x" * 300 + "@example.jp"])
def test_normalize_address_refuses(bad: str) -> None:
    with pytest.raises(AccountError):
        normalize_address(bad)


def test_parallel_guesses_are_bounded_by_the_lockout(env: Env) -> None:
    import threading

    from argon2 import PasswordHasher

    verified: list[str] = []

    class CountingHasher(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
            verified.append(str(password))
            return super().verify(hash, password)

    env.config.hasher = CountingHasher(time_cost=2, memory_cost=4096, parallelism=1)
    env.user("a@example.jp", ["sender"])
    outcomes: list[Outcome] = []
    barrier = threading.Barrier(12)

    def guess(i: int) -> None:
        barrier.wait()
        outcomes.append(env.ui.accounts.authenticate("a@example.jp", f"guess {i}", IP).outcome)

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(verified) == 5
    assert outcomes.count(Outcome.LOCKED) >= 7 and Outcome.OK not in outcomes


def test_sync_with_the_directory(env: Env) -> None:
    from quarantine_ui.accounts import DirectoryEntry
    from quarantine_ui.sessions import Stage

    accounts = env.ui.accounts
    env.user("stays@example.jp", ["sender"])
    env.user("leaves@example.jp", ["sender"])
    env.user("promoted@example.jp", ["sender"])
    promoted = accounts.get("promoted@example.jp")
    assert promoted is not None
    env.ui.sessions.create(promoted.id, Stage.FULL, IP)
    report = accounts.sync(
        [
            DirectoryEntry("Stays@example.jp", "Stays", ("sender",)),
            DirectoryEntry("promoted@example.jp", "Promoted", ("sender", "approver")),
            DirectoryEntry("new@example.jp", "新人", ("sender",)),
        ]
    )
    assert report.added == ("new@example.jp",)
    assert report.updated == ("promoted@example.jp",)
    assert report.disabled == ("leaves@example.jp",)
    assert report.enabled == ()
    # New rights (and the MFA duty that comes with approver) apply at once.
    assert env.ui.sessions.count_for_user(promoted.id) == 0
    updated = accounts.get("promoted@example.jp")
    assert updated is not None and accounts.needs_totp(updated) and updated.has_password
    assert accounts.authenticate("leaves@example.jp", PASSWORD, IP).outcome is Outcome.BAD_CREDENTIALS
    again = accounts.sync([DirectoryEntry("leaves@example.jp", "Leaves", ("sender",))])
    assert again.enabled == ("leaves@example.jp",)
    assert accounts.authenticate("leaves@example.jp", PASSWORD, IP).ok


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([("a@example.jp", "A", ("root",))], "roles must be among"),
        ([("a@example.jp", "A", ())], "roles must be among"),
        ([("a@example.jp", " ", ("sender",))], "name must not be empty"),
        ([("a@example.jp", "A", ("sender",)), ("A@example.jp", "A", ("sender",))], "listed twice"),
        ([("nope", "A", ("sender",))], "not a mail address"),
    ],
)
def test_sync_refuses_bad_entries_before_changing_anything(
    env: Env, entries: list[tuple[str, str, tuple[str, ...]]], message: str
) -> None:
    from quarantine_ui.accounts import DirectoryEntry

    env.user("someone@example.jp", ["sender"])
    with pytest.raises(AccountError, match=message):
        env.ui.accounts.sync([DirectoryEntry(*e) for e in entries])
    user = env.ui.accounts.get("someone@example.jp")
    assert user is not None and not user.disabled


def _stored(env: Env, address: str) -> tuple[str | None, str | None]:
    with env.ui.db.lock:
        row = env.ui.db.conn.execute(
            "SELECT mfa_secret, mfa_pending FROM users WHERE address = ?", (address,)
        ).fetchone()
    return row["mfa_secret"], row["mfa_pending"]


def test_totp_secrets_are_sealed_at_rest(env: Env) -> None:
    accounts = env.ui.accounts
    user = accounts.add_user("p@example.jp", "P", ["approver"])
    enrolment = accounts.begin_enrolment(user.id)
    _, pending = _stored(env, "p@example.jp")
    assert pending is not None and pending.startswith(SEALED_PREFIX)
    assert enrolment.secret not in pending
    assert accounts.confirm_enrolment(user.id, pyotp.TOTP(enrolment.secret).at(env.clock()), IP).ok
    active, pending = _stored(env, "p@example.jp")
    assert pending is None and active is not None and active.startswith(SEALED_PREFIX)
    assert enrolment.secret not in active
    # The database alone does not open it: another secret, or the value moved to another user.
    assert SecretBox(b"t" * 32).open(active, user.id) is None
    assert SecretBox(env.config.secret).open(active, user.id + 1) is None
    assert SecretBox(env.config.secret).open(active, user.id) == enrolment.secret


def test_a_secret_stored_before_sealing_still_works_and_is_sealed_at_its_next_use(env: Env) -> None:
    accounts = env.ui.accounts
    user = accounts.add_user("p@example.jp", "P", ["approver"])
    plain = pyotp.random_base32()
    with env.ui.db.transaction() as conn:
        conn.execute("UPDATE users SET mfa_secret = ? WHERE id = ?", (plain, user.id))
    assert accounts.verify_totp(user.id, pyotp.TOTP(plain).at(env.clock()), IP).ok
    active, _ = _stored(env, "p@example.jp")
    assert active is not None and active.startswith(SEALED_PREFIX) and plain not in active
    assert accounts.verify_totp(user.id, pyotp.TOTP(plain).at(env.clock() + 30), IP).ok


def test_a_changed_secret_refuses_codes_until_mfa_is_reset(tmp_path: Path) -> None:
    first = make_env(tmp_path)
    user = first.ui.accounts.add_user("p@example.jp", "P", ["approver"])
    enrolment = first.ui.accounts.begin_enrolment(user.id)
    code = pyotp.TOTP(enrolment.secret).at(first.clock())
    assert first.ui.accounts.confirm_enrolment(user.id, code, IP).ok
    first.ui.db.close()
    second = make_env(tmp_path, secret=b"t" * 32)
    try:
        later = pyotp.TOTP(enrolment.secret).at(second.clock() + 30)
        result = second.ui.accounts.verify_totp(user.id, later, IP)
        assert result.outcome is Outcome.BAD_CREDENTIALS
        second.ui.accounts.reset_mfa("p@example.jp")
        fresh = second.ui.accounts.begin_enrolment(user.id)
        ok = second.ui.accounts.confirm_enrolment(user.id, pyotp.TOTP(fresh.secret).at(second.clock()), IP)
        assert ok.ok
    finally:
        second.ui.db.close()
