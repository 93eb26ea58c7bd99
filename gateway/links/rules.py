"""What may happen to a download link, as pure rules for :meth:`gateway.store.Store.amend`.

Each rule reads the link's record as it is inside the store's compare-and-set write and decides
the change and its audit event, so a download limit, a code's tries and the lock hold exactly,
whichever instance serves the recipient. A rule that refuses raises :class:`LinkRefused`; a link
found past its time is moved to ``expired`` by whichever rule meets it first.

The one-time code (RFC 4226-style numeric, but random, not counter-based): six digits, sent only
to the link's own recipient, valid ``links.code_validity``; :data:`CODE_TRIES` wrong entries
void it; :data:`LOCK_AFTER` wrong codes in a row lock the link for ``links.lock_time``. Codes
may be asked for at most every :data:`REQUEST_INTERVAL` and :data:`REQUESTS_PER_HOUR` times an
hour. Only the code's HMAC is stored.
"""

from __future__ import annotations

import dataclasses
import hmac
from datetime import datetime, timedelta

from gateway.links.facts import LinkFacts, at_of, iso
from gateway.store import Amendment, MessageRecord, Rule, State
from policies.schema import LINK_EXPIRY_DAYS

#: Wrong entries that void one code.
CODE_TRIES = 3
#: Wrong codes in a row that lock the link.
LOCK_AFTER = 5
#: Between two code requests, and how many an hour.
REQUEST_INTERVAL = timedelta(seconds=60)
REQUESTS_PER_HOUR = 5
#: The longest a link may stay open, counted from its creation.
LONGEST = timedelta(days=LINK_EXPIRY_DAYS[1])


class LinkRefused(Exception):
    """The link cannot do that now. ``code``: ``gone`` (expired, revoked, used up: 410),
    ``locked`` (too many wrong codes), ``too_many_requests`` (codes asked for too often),
    ``no_code`` (no valid code to check against), ``bad_expiry`` (outside the allowed range)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def _expired(rec: MessageRecord, now: datetime) -> Amendment | None:
    """A link that is no longer open raises ``gone``; one past its time is moved to ``expired``."""
    if rec.state is not State.OPEN:
        raise LinkRefused("gone")
    if rec.expires_at is not None and rec.expires_at <= now:
        return Amendment("transition", "link expired", to=State.EXPIRED, outcome="expired")
    return None


def _extra(facts: LinkFacts, ip: str, **more: object) -> dict[str, object]:
    return {"recipient": facts.recipient, "ip": ip, **more}


def expire() -> Rule:
    """The scheduler's rule: a link past its time becomes ``expired``."""

    def rule(rec: MessageRecord, now: datetime) -> Amendment | None:
        if rec.state is not State.OPEN or rec.expires_at is None or rec.expires_at > now:
            return None
        return Amendment("transition", "link expired", to=State.EXPIRED, outcome="expired")

    return rule


def request_code(mac: str, *, ip: str, validity: float) -> Rule:
    """Record a new code (its HMAC ``mac``) before it is mailed to the link's recipient."""

    def rule(rec: MessageRecord, now: datetime) -> Amendment | None:
        if (gone := _expired(rec, now)) is not None:
            return gone
        facts = LinkFacts.of(rec)
        if facts.locked(now):
            raise LinkRefused("locked")
        hour_ago = now - timedelta(hours=1)
        recent = [t for t in facts.requests if (at := at_of(t)) is not None and at > hour_ago]
        last = at_of(max(recent)) if recent else None
        if len(recent) >= REQUESTS_PER_HOUR or (last is not None and now - last < REQUEST_INTERVAL):
            raise LinkRefused("too_many_requests")
        new = dataclasses.replace(
            facts,
            code=mac,
            code_until=iso(now + timedelta(seconds=validity)),
            code_tries=0,
            requests=(*recent, iso(now)),
        )
        reason = f"one-time code sent to {facts.recipient}"
        return Amendment(
            "link_code", reason, {"meta": new.meta(rec)}, extra=_extra(facts, ip), outcome="sent"
        )

    return rule


def check_code(mac: str, *, ip: str, lock_time: float) -> Rule:
    """Check an entered code (its HMAC ``mac``): right, it is used up (``outcome`` ``ok``);
    wrong, the failure is counted and audited (``wrong_code``, or ``locked`` at the fifth)."""

    def rule(rec: MessageRecord, now: datetime) -> Amendment | None:
        if (gone := _expired(rec, now)) is not None:
            return gone
        facts = LinkFacts.of(rec)
        if facts.locked(now):
            raise LinkRefused("locked")
        failures = 0 if facts.failures >= LOCK_AFTER else facts.failures  # a lock that ran out
        until = at_of(facts.code_until)
        usable = bool(facts.code) and until is not None and now < until and facts.code_tries < CODE_TRIES
        if usable and hmac.compare_digest(facts.code, mac):
            new = dataclasses.replace(
                facts, code="", code_until="", code_tries=0, failures=0, locked_until=""
            )
            reason = f"{facts.recipient} entered the right code"
            return Amendment(
                "link_code_ok", reason, {"meta": new.meta(rec)}, extra=_extra(facts, ip), outcome="ok"
            )
        if not facts.code:
            raise LinkRefused("no_code")
        failures += 1
        tries = facts.code_tries + 1
        locked = failures >= LOCK_AFTER
        new = dataclasses.replace(
            facts,
            code=facts.code if tries < CODE_TRIES and not locked else "",
            code_tries=tries,
            failures=failures,
            locked_until=iso(now + timedelta(seconds=lock_time)) if locked else facts.locked_until,
        )
        extra = _extra(facts, ip, failures=failures)
        if locked:
            reason = f"link locked after {failures} wrong codes"
            return Amendment("link_locked", reason, {"meta": new.meta(rec)}, extra=extra, outcome="locked")
        reason = f"wrong code ({failures} in a row)"
        return Amendment(
            "link_code_failed", reason, {"meta": new.meta(rec)}, extra=extra, outcome="wrong_code"
        )

    return rule


def download(index: int, *, ip: str) -> Rule:
    """Count one download of file ``index``; the last one allowed uses the link up. ``outcome``
    ``first`` for the link's first download (the sender may be told), else ``ok``."""

    def rule(rec: MessageRecord, now: datetime) -> Amendment | None:
        if (gone := _expired(rec, now)) is not None:
            return gone
        facts = LinkFacts.of(rec)
        if not 0 <= index < len(facts.files):
            raise LinkRefused("not_found")
        if facts.left <= 0:
            return Amendment("transition", "downloads used up", to=State.EXHAUSTED, outcome="exhausted")
        f = facts.files[index]
        n = facts.downloads + 1
        first = facts.downloads == 0
        new = dataclasses.replace(facts, downloads=n, first_download=facts.first_download or iso(now))
        extra = _extra(facts, ip, file=f.name, sha256=f.sha256, size=f.size, n=n, of=facts.max_downloads)
        return Amendment(
            "link_download",
            f"{f.name} downloaded by {facts.recipient} ({n} of {facts.max_downloads})",
            {"meta": new.meta(rec)},
            to=State.EXHAUSTED if n >= facts.max_downloads else None,
            extra=extra,
            outcome="first" if first else "ok",
        )

    return rule


def set_expiry(until: datetime, *, action: str, reason: str, extra: dict[str, object]) -> Rule:
    """``extend`` (later than now) or ``shorten`` (earlier) an open link's expiry: after now,
    and at most :data:`LONGEST` after the link was made."""

    def rule(rec: MessageRecord, now: datetime) -> Amendment | None:
        if rec.state is not State.OPEN:
            raise LinkRefused("gone")
        current = rec.expires_at or now
        later = until > current
        if (
            until <= now
            or until > rec.received_at + LONGEST
            or later != (action == "extend")
            or until == current
        ):
            raise LinkRefused("bad_expiry")
        more = {**extra, "from": iso(current), "until": iso(until)}
        return Amendment(action, reason, {"expires_at": until}, extra=more, outcome="done")

    return rule


__all__ = [
    "CODE_TRIES",
    "LOCK_AFTER",
    "LONGEST",
    "REQUESTS_PER_HOUR",
    "REQUEST_INTERVAL",
    "LinkRefused",
    "check_code",
    "download",
    "expire",
    "request_code",
    "set_expiry",
]
