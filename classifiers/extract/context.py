"""The bookkeeping shared by every extractor of one message or file: limits, budget, errors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from classifiers.limits import Deadline, Limits
from classifiers.model import Part, PartKind


@dataclass(frozen=True, slots=True)
class Where:
    """Where a blob sits: its location string, the kind of part it yields, its nesting depth."""

    location: str
    kind: PartKind = "file"
    depth: int = 0
    filename: str | None = None
    charset: str | None = None  # a declared charset (MIME parameter), only a hint

    def child(self, location: str, filename: str | None = None, *, deeper: bool = True) -> Where:
        return Where(location, self.kind, self.depth + (1 if deeper else 0), filename)


#: The signature of the content-type dispatcher (set by ``classifiers.extract.dispatch``).
Dispatch = Callable[["Context", bytes, Where, tuple[str, ...]], None]


@dataclass(slots=True)
class Context:
    """Collects parts under the hard limits; extractors ask it whether to go on."""

    limits: Limits
    deadline: Deadline
    dispatch: Dispatch
    parts: list[Part] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    text_used: int = 0
    parts_full: bool = False
    timed_out: bool = False
    _alternatives: int = 0
    _marked: bool = False

    @property
    def text_left(self) -> int:
        """Bytes of text still allowed (also a safe bound in characters)."""
        return max(0, self.limits.max_text_bytes - self.text_used)

    @property
    def stopped(self) -> bool:
        """No more parts can be added: the part count or the time is used up."""
        return self.parts_full or self.out_of_time()

    def out_of_time(self) -> bool:
        if not self.timed_out and self.deadline.expired:
            self.timed_out = True
            self.errors.append("time limit reached; the rest was not inspected")
        return self.timed_out

    def new_alternative(self) -> str:
        self._alternatives += 1
        return f"alt{self._alternatives}"

    def error(self, location: str, reason: str) -> None:
        self.errors.append(f"{location}: {reason}")

    def add(self, part: Part) -> None:
        """Append a part, cutting its text to the text budget and counting it against max_parts."""
        if self.parts_full:
            return
        if len(self.parts) >= self.limits.max_parts:
            self.parts_full = True
            self.parts.append(Part(location=part.location, text="", kind=part.kind, truncated=("parts",)))
            self.error(part.location, f"more than {self.limits.max_parts} parts; the rest was not inspected")
            return
        reasons = list(part.truncated)
        text = part.text
        size = len(text.encode("utf-8", errors="surrogatepass"))
        if size > self.text_left:
            text = text.encode("utf-8", errors="surrogatepass")[: self.text_left].decode(
                "utf-8", errors="ignore"
            )
            size = len(text.encode("utf-8", errors="surrogatepass"))
            reasons.append("text_bytes")
        segments = (
            tuple(s for s in part.segments if s[0] < len(text))
            if len(text) < len(part.text)
            else part.segments
        )
        if self.timed_out and "time" not in reasons:
            reasons.append("time")
        self.text_used += size
        self.parts.append(
            replace(part, text=text, truncated=tuple(dict.fromkeys(reasons)), segments=segments)
        )

    def stop_marker(self, where: Where) -> None:
        """Record that ``where`` was not inspected because the time or the part count ran out."""
        if self.parts_full or self._marked:
            return
        self._marked = True
        self.add(
            Part(
                location=where.location,
                text="",
                kind=where.kind,
                filename=where.filename,
                truncated=("time",),
            )
        )


class TextSink:
    """Accumulates extracted text up to a character cap, with segment marks."""

    __slots__ = ("_chunks", "_len", "cap", "segments", "truncated")

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._chunks: list[str] = []
        self._len = 0
        self.segments: list[tuple[int, str]] = []
        self.truncated = False

    @property
    def full(self) -> bool:
        return self.truncated

    def __len__(self) -> int:
        return self._len

    def mark(self, location: str) -> None:
        if not self.truncated:
            self.segments.append((self._len, location))

    def write(self, text: str) -> None:
        if self.truncated or not text:
            return
        room = self.cap - self._len
        if len(text) > room:
            text = text[:room]
            self.truncated = True
        self._chunks.append(text)
        self._len += len(text)

    def text(self) -> str:
        return "".join(self._chunks)
