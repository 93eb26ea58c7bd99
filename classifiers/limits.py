"""Hard limits on extraction: every hostile input gets a bounded cost."""

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


#: The reasons a part can carry in ``truncated`` (policies match on these names).
TRUNCATION_REASONS = (
    "text_bytes",
    "member_bytes",
    "depth",
    "ratio",
    "parts",
    "time",
    "pdf_pages",
    "corrupt",
    "unsupported",
)


class Deadline:
    """A monotonic-clock budget shared by the stages that work on one message."""

    __slots__ = ("_end",)

    def __init__(self, seconds: float) -> None:
        self._end = time.monotonic() + seconds

    @property
    def expired(self) -> bool:
        return time.monotonic() >= self._end

    @property
    def remaining(self) -> float:
        return max(0.0, self._end - time.monotonic())
