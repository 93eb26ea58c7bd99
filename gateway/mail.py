"""The mail adapter of :mod:`gateway.pipeline`: the facts of an RFC 5322 message and its SMTP
envelope that the policy needs (header addresses, subject), and :func:`inspect_mail`, which is
how the relay and crash recovery ask :meth:`Inspector.inspect` about a message. The upload
adapter (``gateway/proxy``) sits beside it and calls the same ``inspect``.
"""

from __future__ import annotations

import email.header
import email.parser
import email.policy
import email.utils
import functools
import logging
from collections.abc import Iterable
from datetime import datetime

from gateway.pipeline import Inspection, Inspector, KnownDomains, MailContent
from policies import Envelope

log = logging.getLogger(__name__)

#: Header blocks up to this size have their facts cached (the relay asks once when it spools
#: a message and again when the policy decides; each parse costs ~0.3 ms of the event loop).
_CACHED_HEAD = 64 * 1024


def _header_addresses(head: bytes) -> tuple[tuple[str, ...], tuple[str, ...], str]:
    msg = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(head)

    def addrs(name: str) -> tuple[str, ...]:
        values = [str(v) for v in msg.get_all(name, [])]
        return tuple(a for _, a in email.utils.getaddresses(values) if a)

    subject = str(msg.get("Subject", ""))
    try:
        subject = str(email.header.make_header(email.header.decode_header(subject)))
    except (ValueError, LookupError, UnicodeError):
        subject = subject.encode("ascii", "replace").decode()
    return addrs("To"), addrs("Cc"), subject[:500]


def _head_facts(head: bytes) -> tuple[tuple[str, ...], tuple[str, ...], str]:
    try:
        return _header_addresses(head)
    except Exception:  # hostile headers must not stop the relay
        log.debug("unparseable headers", exc_info=True)
        return (), (), ""


_cached_head_facts = functools.lru_cache(maxsize=256)(_head_facts)
#: At most this much of a header block is parsed by the relay (Postfix's header_size_limit is
#: 100 kB per header).
RELAY_HEAD_BYTES = 256 * 1024


def header_facts(raw: bytes) -> tuple[tuple[str, ...], tuple[str, ...], str]:
    """``(to, cc, subject)`` from the header block; never raises on malformed headers.

    >>> header_facts(b"To: a@x.jp, B <b@y.jp>\\r\\nCc: c@z.jp\\r\\nSubject: =?utf-8?b?5qGI5Lu2?=\\r\\n\\r\\nbody")
    (('a@x.jp', 'b@y.jp'), ('c@z.jp',), '案件')
    """
    head_end = raw.find(b"\r\n\r\n")
    head = raw[: head_end + 2] if head_end >= 0 else raw
    if len(head) > RELAY_HEAD_BYTES:
        # Parsed on the relay's event loop: a header block of many megabytes would stall every
        # session. The facts come from its start (the classifiers read the rest, bounded).
        head = head[: head.rfind(b"\r\n", 0, RELAY_HEAD_BYTES) + 2]
    return _cached_head_facts(head) if len(head) <= _CACHED_HEAD else _head_facts(head)


def mail_envelope(raw: bytes, sender: str, recipients: Iterable[str]) -> Envelope:
    """The policy's envelope of a message: SMTP sender and recipients, header To/Cc, size.
    (:meth:`Inspector.inspect` adds the attachment names it finds.)"""
    to, cc, _ = header_facts(raw)
    return Envelope(
        direction="mail", sender=sender, recipients=tuple(recipients), to=to, cc=cc, size=len(raw)
    )


async def inspect_mail(
    inspector: Inspector,
    raw: bytes,
    sender: str,
    recipients: Iterable[str],
    *,
    known_domains: Iterable[str],
    now: datetime,
) -> Inspection:
    """Inspect a message from ``sender`` to ``recipients``; ``known_domains`` are the domains
    the sender has had mail delivered to (the store's correspondents)."""
    return await inspector.inspect(
        MailContent(raw),
        mail_envelope(raw, sender, recipients),
        history=KnownDomains(sender, known_domains),
        now=now,
    )


__all__ = ["header_facts", "inspect_mail", "mail_envelope"]
