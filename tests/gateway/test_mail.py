"""The mail adapter: the envelope the policy sees, and the domains it compares with the store's
record of correspondents."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.mail import header_facts, inspect_mail, mail_envelope
from gateway.pipeline import Inspector
from gateway.store import SQLiteStore, State, Store
from policies import PolicyHolder
from tests.gateway.conftest import make_mail

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
SENDER = "taro@example.co.jp"


@pytest.fixture
def inspector() -> Iterator[Inspector]:
    found = Inspector(PolicyHolder(ROOT / "policies" / "default.yaml"), scan_time=10, workers=0)
    yield found
    found.close()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await SQLiteStore.open(tmp_path / "var")
    yield s
    await s.close()


def test_the_envelope_has_smtp_and_header_addresses() -> None:
    raw = make_mail(to=["a@x.jp"], cc=["c@y.jp"])
    env = mail_envelope(raw, SENDER, ["a@x.jp", "c@y.jp", "hidden@z.jp"])
    assert (env.direction, env.sender, env.size) == ("mail", SENDER, len(raw))
    assert env.recipients == ("a@x.jp", "c@y.jp", "hidden@z.jp")
    assert (env.to, env.cc) == (("a@x.jp",), ("c@y.jp",))


async def _first_contact(inspector: Inspector, store: Store, to: str) -> bool:
    raw = make_mail(to=[to])
    known = await store.known_domains(SENDER)
    inspection = await inspect_mail(inspector, raw, SENDER, [to], known_domains=known, now=NOW)
    return "tag-first-contact" in inspection.decision.rule_ids


@pytest.mark.parametrize(
    ("first", "then"),
    [
        ("tanaka@Partner.Example.", "suzuki@partner.example"),
        ("tanaka@partner.example", "suzuki@Partner.Example."),
        ("tanaka@partner.example.", "suzuki@partner.example."),
    ],
)
async def test_a_trailing_dot_does_not_make_a_known_domain_new(
    inspector: Inspector, store: Store, first: str, then: str
) -> None:
    """Regression: the policy kept the trailing dot of ``x@Example.jp.`` and the store dropped
    it, so the first-contact rule treated a domain the sender had written to as new."""
    assert await _first_contact(inspector, store, first)
    rec = await store.accept(make_mail(to=[first]), sender=SENDER, recipients=[first])
    for step in (State.DELIVERING, State.DELIVERED):
        await store.transition(rec.id, step, actor="delivery", reason="test")
    assert not await _first_contact(inspector, store, then)
    assert await _first_contact(inspector, store, "someone@other.example")


def test_a_huge_header_block_is_read_only_from_its_start() -> None:
    """20 MiB of header lines are not parsed on the relay's event loop (issue 10: hostile input
    never stalls the queue): the facts come from the first 256 KiB."""
    raw = (
        b"To: a@example.com\r\nSubject: s\r\n"
        + b"X-A: b\r\n" * (20 * 1024 * 1024 // 8)
        + b"Cc: late@x.jp\r\n\r\nbody\r\n"
    )
    assert header_facts(raw) == (("a@example.com",), (), "s")
