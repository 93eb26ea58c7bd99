"""Hard limits on extraction and detection: every hostile input gets a bounded cost.

Each limit holds *inside* the stage it bounds, not only between stages: the PDF interpreter
counts decompressed bytes, operators and glyphs per page; the detectors scan long text in
windows under the deadline; every extractor checks the deadline while it reads. What was found
before a limit tripped is kept, and the limit is reported on the part as ``truncated``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limits:
    """Each limit, when tripped, is reported on the part as ``truncated`` with its reason."""

    max_text_bytes: int = 16 * 1024 * 1024  # extracted text per message or file, all parts together
    max_member_bytes: int = 64 * 1024 * 1024  # one decompressed member of an archive / Office file
    max_depth: int = 5  # nesting of archives and attached messages
    max_ratio: float = 100.0  # uncompressed / compressed size of an archive member (zip bombs)
    max_parts: int = 500  # parts extracted from one message or file
    max_seconds: float = 10.0  # extraction + detection time per message or file
    max_pdf_pages: int = 500
    ratio_min_bytes: int = 1024 * 1024  # the ratio limit applies to members at least this large
    max_mime_nesting: int = 50  # multipart inside multipart (reported as "depth")
    #: Decompressed PDF stream bytes per page (content, forms, fonts it loads) and for the
    #: document's own structure (object streams, outlines, annotations, forms).
    max_pdf_stream_bytes: int = 32 * 1024 * 1024
    #: Decompressed PDF stream bytes for the whole file (pdfminer keeps what it decoded).
    max_pdf_document_stream_bytes: int = 128 * 1024 * 1024
    #: Content-stream operands and operators interpreted per PDF page.
    max_pdf_operators: int = 2_000_000
    #: Glyphs shown per PDF page (a full page of small print is about 10,000).
    max_pdf_page_chars: int = 200_000
    #: Findings kept per entity type and message; beyond it a type is still matched (so that
    #: the other types are found) but not kept: its count stops there.
    max_findings_per_type: int = 5_000


#: The share of ``max_seconds`` extraction may use: the rest is kept for detection, so that the
#: text an extractor got out before the deadline is always scanned.
EXTRACTION_SHARE = 0.8

#: Once the deadline has passed, text already extracted is still scanned for this share of
#: ``max_seconds`` (at most ``GRACE_MAX`` seconds, for the whole message): what was got out
#: before a limit tripped is looked at, and the overrun stays bounded.
GRACE_SHARE = 0.1
GRACE_MAX = 1.0

#: The reasons a part can carry in ``truncated`` (policies match on these names).
TRUNCATION_REASONS = (
    "text_bytes",
    "member_bytes",
    "depth",
    "ratio",
    "parts",
    "time",
    "memory",
    "pdf_pages",
    "pdf_stream_bytes",
    "pdf_operators",
    "corrupt",
    "unsupported",
)

#: Set by :func:`stop_now` (the worker's signal handler): every deadline counts as expired.
_stopped = False


def stop_now() -> None:
    """Make every running scan stop at its next check, keeping what it found (async-signal-safe:
    it only sets a flag). The classification pool asks for this when a worker's slot is needed."""
    global _stopped
    _stopped = True


def resume() -> None:
    """Clear :func:`stop_now` before the next scan."""
    global _stopped
    _stopped = False


class Deadline:
    """A monotonic-clock budget shared by the stages that work on one message; unless it is not
    ``stoppable``, :func:`stop_now` ends it at once."""

    __slots__ = ("_end", "_stoppable")

    def __init__(self, seconds: float, *, stoppable: bool = True) -> None:
        self._end = time.monotonic() + seconds
        self._stoppable = stoppable

    @property
    def expired(self) -> bool:
        return (self._stoppable and _stopped) or time.monotonic() >= self._end

    @property
    def remaining(self) -> float:
        return 0.0 if self._stoppable and _stopped else max(0.0, self._end - time.monotonic())
