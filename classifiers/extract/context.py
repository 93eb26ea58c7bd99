"""The bookkeeping shared by every extractor of one message or file: limits, budget, errors."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
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
    declared: str | None = None  # a declared content type (MIME, upload), only a claim

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
    #: Called with each part as it is added (detection runs as extraction goes).
    on_part: Callable[[Part], None] | None = None
    parts: list[Part] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    text_used: int = 0
    count: int = 0  # parts added
    parts_full: bool = False
    timed_out: bool = False
    _alternatives: int = 0
    _marked: bool = False
    _mismatch: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    _lenient: int = 0
    #: The blobs being read, outermost first.
    reading: list[bytes] = field(default_factory=list)

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
        if not self._lenient:
            self.errors.append(f"{location}: {reason}")

    @contextmanager
    def mismatch(self, where: Where, labels: tuple[str, ...], content_type: str) -> Iterator[None]:
        """The first part added at ``location`` carries ``labels`` as its ``type_mismatch``;
        if none is (an archive yields its members' parts), an empty part carries them."""
        if not labels:
            yield
            return
        entry = (where.location, labels)
        self._mismatch.append(entry)
        try:
            yield
        finally:
            if entry in self._mismatch:
                self._mismatch.remove(entry)
                marker = Part(
                    where.location, "", where.kind, content_type, where.filename, type_mismatch=labels
                )
                self.add(marker)

    @contextmanager
    def lenient(self) -> Iterator[None]:
        """Reading content as another kind than it is: failing is no damage (``corrupt`` and
        ``unsupported`` are dropped, errors not recorded), and empty results are not kept."""
        self._lenient += 1
        try:
            yield
        finally:
            self._lenient -= 1

    def add(self, part: Part) -> None:
        """Append a part, cutting its text to the text budget and counting it against max_parts."""
        if self.parts_full:
            return
        if self._lenient:
            kept = tuple(r for r in part.truncated if r not in ("corrupt", "unsupported"))
            if not part.text.strip() and not kept and not part.encrypted:
                return
            part = replace(part, truncated=kept)
        for i, (location, labels) in enumerate(self._mismatch):
            if location == part.location:
                part = replace(part, type_mismatch=labels)
                del self._mismatch[i]
                break
        if self.count >= self.limits.max_parts:
            self.parts_full = True
            self._append(Part(location=part.location, text="", kind=part.kind, truncated=("parts",)))
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
        truncated = tuple(dict.fromkeys(reasons))
        if text is not part.text or truncated != part.truncated or segments is not part.segments:
            part = replace(part, text=text, truncated=truncated, segments=segments)
        self._append(part)

    def _append(self, part: Part) -> None:
        self.count += 1
        if self.on_part is not None:
            self.on_part(part)  # detected at once; the text is not kept
        else:
            self.parts.append(part)

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
