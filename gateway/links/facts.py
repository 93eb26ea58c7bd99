"""What a link and a kept file know about themselves, in their records' ``meta`` (JSON).

A ``file`` item keeps ``meta["file"]`` (:class:`FileFacts`); a ``link`` item keeps
``meta["link"]`` (:class:`LinkFacts`): the message it came from, its recipient, the files it
opens (with what the page shows of them), its download count and limit, and the state of its
one-time code. Never a code itself: only its HMAC. Times are ISO 8601 strings in UTC.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway.store import MessageRecord


def iso(at: datetime) -> str:
    return at.isoformat()


def at_of(value: str) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass(frozen=True)
class FileFacts:
    """One attachment kept for download links.

    ``inspected`` is ``False`` when the classifiers could not read all of it (encrypted,
    cut by a limit, damaged); ``note`` says why, and ``members`` lists what could still be seen
    of an encrypted archive (names and sizes). The download page says so: such a file is never
    served as if it had been scanned.

    >>> f = FileFacts("01F", "mail1", "見積書.pdf", "application/pdf", 1200, "ab" * 32)
    >>> FileFacts.from_dict(f.to_dict()) == f
    True
    """

    id: str
    mail: str
    name: str
    content_type: str
    size: int
    sha256: str
    inspected: bool = True
    note: str = ""
    members: tuple[tuple[str, int], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["members"] = [list(m) for m in self.members]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FileFacts:
        names = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        kw["members"] = tuple((str(n), int(s)) for n, s in d.get("members") or ())
        return cls(**kw)

    @classmethod
    def of(cls, rec: MessageRecord) -> FileFacts:
        return cls.from_dict(rec.meta["file"])


@dataclass(frozen=True)
class LinkFacts:
    """One outside recipient's link to the files of one message.

    >>> f = LinkFacts("mail1", "a@partner.example", (), max_downloads=5, downloads=2)
    >>> LinkFacts.from_dict(f.to_dict()) == f, f.left
    (True, 3)
    """

    mail: str
    recipient: str
    files: tuple[FileFacts, ...]
    max_downloads: int
    downloads: int = 0
    #: ``False`` for recipients at ``links.open_domains``: the link opens without a code.
    needs_code: bool = True
    #: HMAC of the current one-time code ("" when none), until when it is valid, wrong tries.
    code: str = ""
    code_until: str = ""
    code_tries: int = 0
    #: When codes were asked for (the last hour's, for the rate limit).
    requests: tuple[str, ...] = ()
    #: Wrong codes in a row, and until when the link is locked after too many.
    failures: int = 0
    locked_until: str = ""
    first_download: str = ""

    @property
    def left(self) -> int:
        return max(0, self.max_downloads - self.downloads)

    def locked(self, now: datetime) -> bool:
        until = at_of(self.locked_until)
        return until is not None and now < until

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["files"] = [f.to_dict() for f in self.files]
        d["requests"] = list(self.requests)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LinkFacts:
        names = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        kw["files"] = tuple(FileFacts.from_dict(f) for f in d.get("files") or ())
        kw["requests"] = tuple(d.get("requests") or ())
        return cls(**kw)

    @classmethod
    def of(cls, rec: MessageRecord) -> LinkFacts:
        return cls.from_dict(rec.meta["link"])

    def meta(self, rec: MessageRecord) -> dict[str, Any]:
        """``rec``'s meta with these facts."""
        return {**rec.meta, "link": self.to_dict()}


__all__ = ["FileFacts", "LinkFacts", "at_of", "iso"]
