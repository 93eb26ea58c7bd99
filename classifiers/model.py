"""Data model shared by extraction, detection, policies and the UI.

Everything here is plain data: frozen dataclasses that serialise to JSON with ``to_dict``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from operator import attrgetter
from typing import TYPE_CHECKING, Any, Literal, TypeVar

if TYPE_CHECKING:
    ENTITY_TYPES: tuple[str, ...]
    PERSONAL_TYPES: frozenset[str]


def __getattr__(name: str) -> Any:
    """``ENTITY_TYPES`` and ``PERSONAL_TYPES``, derived from the detector modules when first
    asked for (see :mod:`classifiers.detectors`; call its functions where a type may have been
    added since)."""
    if name in ("ENTITY_TYPES", "PERSONAL_TYPES"):
        from classifiers import detectors  # the detectors import this module

        return detectors.entity_types() if name == "ENTITY_TYPES" else detectors.personal_types()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


PartKind = Literal["subject", "header", "body", "attachment", "metadata", "file"]

_T = TypeVar("_T")


def _pickled_as_tuple(cls: type[_T]) -> type[_T]:
    """Pickle a frozen slots dataclass as the tuple of its fields, read in C.

    A scan result goes from a classification worker to the relay as a pickle; the state
    functions ``dataclass(slots=True)`` adds call ``dataclasses.fields()`` and ``getattr`` per
    field in Python, a tenth of a millisecond for a result with twenty findings.
    """
    names = tuple(f.name for f in fields(cls))  # type: ignore[arg-type]
    get = attrgetter(*names)

    def __getstate__(self: _T) -> tuple[Any, ...]:
        state: tuple[Any, ...] = get(self)
        return state

    def __setstate__(self: _T, state: Iterable[Any]) -> None:
        for name, value in zip(names, state, strict=True):
            object.__setattr__(self, name, value)

    setattr(cls, "__getstate__", __getstate__)  # noqa: B010 - replaces what dataclass() added
    setattr(cls, "__setstate__", __setstate__)  # noqa: B010
    return cls


@_pickled_as_tuple
@dataclass(frozen=True, slots=True)
class Explanation:
    """Why a finding scored what it did (Presidio-style): shown to senders and reviewers."""

    pattern: str
    validation: str  # "checksum", "format", "dictionary", "keyword", "label", ...
    base_score: float
    context: tuple[str, ...] = ()  # context words found near the match that raised the score

    def to_dict(self) -> dict[str, Any]:
        return {
            "pattern": self.pattern,
            "validation": self.validation,
            "base_score": self.base_score,
            "context": list(self.context),
        }


@_pickled_as_tuple
@dataclass(frozen=True, slots=True)
class Finding:
    """One detected entity.

    ``value`` is the matched text exactly as it appears in the part; ``span`` are offsets into
    the part's original (un-normalised) text; ``normalized`` is the compact canonical form used
    to compare values (digits only for numbers, lower-case for addresses...).
    """

    type: str
    value: str
    score: float
    location: str
    span: tuple[int, int]
    normalized: str
    explanation: Explanation
    #: Whose data it is, for the personal types: "person" or "organisation" (see
    #: :mod:`classifiers.holders`), and why; empty for the other types.
    holder: str = ""
    holder_reason: str = ""

    def held_by(self, holder: str, reason: str) -> Finding:
        """This finding, said to be ``holder``'s (``dataclasses.replace`` costs five times more)."""
        return Finding(
            self.type, self.value, self.score, self.location, self.span, self.normalized, self.explanation,
            holder, reason,
        )  # fmt: skip

    def to_dict(
        self, *, redact: bool = False, seen: dict[tuple[Any, ...], dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        """The finding as JSON data (without span and explanation), its value masked with
        ``redact``. ``seen`` keeps the dicts already made for one result: a finding equal in
        what the dict shows (a name repeated through a message) gets a copy of its dict
        instead of being masked again."""
        if seen is not None:
            key = (self.type, self.value, self.score, self.location, self.holder, self.holder_reason, redact)
            done = seen.get(key)
            if done is None:
                done = seen[key] = self.to_dict(redact=redact)
            return dict(done)
        from classifiers.redact import redact as _redact

        out: dict[str, Any] = {
            "type": self.type,
            "value": _redact(self.type, self.value) if redact else self.value,
            "score": round(self.score, 3),
            "location": self.location,
        }
        if self.holder:
            out["holder"] = self.holder
            out["holder_reason"] = self.holder_reason
        return out


#: Every field of a :class:`Finding`, in order (its pickled state).
_FINDING_FIELDS = attrgetter(*(f.name for f in fields(Finding)))
#: Explanations already pickled, each standing for every one equal to it (a bounded table: the
#: detectors make a few hundred distinct ones at most).
_SHARED_EXPLANATIONS: dict[Explanation, Explanation] = {}
_SHARED_MAX = 4096


def _finding_state(finding: Finding) -> tuple[Any, ...]:
    """A finding's pickled state: its fields, with an explanation equal to one pickled before
    replaced by that one. The findings of a name repeated through a message then share one
    explanation, which the relay unpickles once instead of once per finding (pickle memoises
    by object)."""
    state: tuple[Any, ...] = _FINDING_FIELDS(finding)
    explanation = state[6]
    shared = _SHARED_EXPLANATIONS.get(explanation)
    if shared is None:
        if len(_SHARED_EXPLANATIONS) >= _SHARED_MAX:
            _SHARED_EXPLANATIONS.clear()
        _SHARED_EXPLANATIONS[explanation] = explanation
    elif shared is not explanation:
        state = (*state[:6], shared, *state[7:])
    return state


setattr(Finding, "__getstate__", _finding_state)  # noqa: B010 - replaces _pickled_as_tuple's


@_pickled_as_tuple
@dataclass(frozen=True, slots=True)
class Part:
    """A piece of text extracted from a message or file, with where it came from.

    ``segments`` refine the location inside the text: sorted ``(offset, sublocation)`` pairs, so a
    finding at offset ``o`` is located at the last segment starting at or before ``o`` (used for
    spreadsheet cells: ``list.xlsx!顧客!C12``). ``alternative`` groups the bodies of one
    multipart/alternative so that the same body is counted once.
    """

    location: str
    text: str
    kind: PartKind = "body"
    content_type: str = "text/plain"
    filename: str | None = None
    size: int = 0
    truncated: tuple[str, ...] = ()
    encrypted: bool = False
    segments: tuple[tuple[int, str], ...] = ()
    alternative: str | None = None
    fields: tuple[str, ...] = ()  # extra metadata labels, e.g. sensitivity label names
    #: What the file claimed to be where that disagrees with its content (``content_type``):
    #: ``name .csv``, ``declared text/csv``. A renamed or disguised file is itself a signal.
    type_mismatch: tuple[str, ...] = ()

    def location_at(self, offset: int) -> str:
        """The most specific location for an offset into ``text``."""
        if not self.segments:
            return self.location
        lo, hi = 0, len(self.segments)
        while lo < hi:
            mid = (lo + hi) // 2
            if self.segments[mid][0] <= offset:
                lo = mid + 1
            else:
                hi = mid
        return self.segments[lo - 1][1] if lo else self.location


@_pickled_as_tuple
@dataclass(frozen=True, slots=True)
class PartResult:
    """The findings of one part, and its own ``records`` count."""

    location: str
    kind: PartKind
    content_type: str
    filename: str | None
    size: int
    truncated: tuple[str, ...]
    encrypted: bool
    findings: tuple[Finding, ...]
    records: int
    organisations: int = 0  # distinct organisations whose contact data appear (not people)
    type_mismatch: tuple[str, ...] = ()

    def to_dict(
        self, *, redact: bool = False, seen: dict[tuple[Any, ...], dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        """The part as JSON data; ``seen`` as for :meth:`Finding.to_dict` (one is made here
        when not given)."""
        seen = {} if seen is None else seen
        out = {
            "location": self.location,
            "kind": self.kind,
            "content_type": self.content_type,
            "filename": self.filename,
            "size": self.size,
            "truncated": list(self.truncated),
            "encrypted": self.encrypted,
            "findings": [f.to_dict(redact=redact, seen=seen) for f in self.findings],
            "records": self.records,
            "organisations": self.organisations,
        }
        if self.type_mismatch:
            out["type_mismatch"] = list(self.type_mismatch)
        return out


@_pickled_as_tuple
@dataclass(frozen=True, slots=True)
class ScanResult:
    """Everything the classifiers found in one message or file."""

    parts: tuple[PartResult, ...]
    records: int  # distinct natural persons whose data appear
    size: int = 0
    errors: tuple[str, ...] = field(default=())
    organisations: int = 0  # distinct organisations whose contact data appear

    @property
    def findings(self) -> tuple[Finding, ...]:
        return tuple(f for p in self.parts for f in p.findings)

    @property
    def truncated(self) -> tuple[tuple[str, str], ...]:
        """``(location, reason)`` for every tripped limit."""
        return tuple((p.location, r) for p in self.parts for r in p.truncated)

    @property
    def encrypted(self) -> tuple[str, ...]:
        return tuple(p.location for p in self.parts if p.encrypted)

    @property
    def type_mismatches(self) -> tuple[tuple[str, str], ...]:
        """``(location, what)`` for every file whose name or declared type disagrees with its
        content (``what``: ``content image/gif; name .csv; declared text/csv``)."""
        return tuple(
            (p.location, "; ".join((f"content {p.content_type}", *p.type_mismatch)))
            for p in self.parts
            if p.type_mismatch
        )

    @property
    def fully_inspected(self) -> bool:
        return not self.truncated and not self.encrypted and not self.errors

    def count(self, entity_type: str, *, min_score: float = 0.0, kinds: Iterable[str] | None = None) -> int:
        wanted = set(kinds) if kinds is not None else None
        return sum(
            1
            for p in self.parts
            if wanted is None or p.kind in wanted
            for f in p.findings
            if f.type == entity_type and f.score >= min_score
        )

    def to_dict(self, *, redact: bool = False) -> dict[str, Any]:
        seen: dict[tuple[Any, ...], dict[str, Any]] = {}
        return {
            "parts": [p.to_dict(redact=redact, seen=seen) for p in self.parts],
            "records": self.records,
            "organisations": self.organisations,
            "size": self.size,
            "errors": list(self.errors),
        }
