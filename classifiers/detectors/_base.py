"""What every detector module provides, and the helpers they share.

A detector is a module (python-stdnum style) whose docstring's first line names the type,
``English name (日本語名, …).`` (the UI's labels), with:

- ``ENTITY_TYPE``: the type's name in scan output and policies (the list of types is the list
  of these modules);
- ``PATTERN``: regex source (``regex`` module syntax, VERSION0) matched against *normalised*
  text, one pass per distinct pattern (see :mod:`classifiers.engine`). Detectors that look at
  the same kind of token share the exact same pattern string (see
  :mod:`classifiers.detectors._tokens`); the engine then compiles it once and hands every match
  to all of them;
- ``PRIORITY``: lower runs first where two patterns could start at the same position;
- ``check(match, doc) -> Iterable[Hit]``: validate a candidate, weigh its context;
- ``scan(text) -> Iterator[Finding]``: the detector on its own (``scan_with(module, text)``).

Optional: ``PERSONAL = True`` for a type that identifies or describes a person (it counts
towards ``records``); ``KEEP_TAIL: int`` (characters left unmasked at the end when a value is
shown) or ``redact(value) -> str``; ``compact``/``validate``/``is_valid`` as in stdnum, starting
from :func:`classifiers.normalize.fold`; ``PATTERN_LISTS: dict[str, Collection[str]]`` for ``\\L<name>`` named lists;
``REQUIRES: tuple[str, ...]``, lower-case strings one of which must occur (case-insensitively)
in a part for ``check`` to ever yield a hit there: the engine skips the pass otherwise;
``PASS_REQUIRES: dict[str, tuple[str, ...]]``, the same as ``REQUIRES`` for one of ``PASSES``
(only for a pass whose matches claim no position another pass starts at: skipping it hides
nothing);
``MIN_LENGTH: int``, the shortest match (in characters) ``check`` could accept: the engine does
not call ``check`` for shorter ones (most number tokens in a mail are prices and quantities);
``PASSES: tuple[str, ...]``, the branches of an alternation ``PATTERN`` that start with disjoint
characters, each matching what ``PATTERN`` matches there: the engine runs them as separate
passes, because the ``regex`` module skips ahead to a possible start only within one pattern.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Protocol, runtime_checkable

import regex

from classifiers.model import Explanation, Finding, Part
from classifiers.normalize import Normalized, normalize


@dataclass(frozen=True, slots=True)
class Hit:
    """A validated candidate, in normalised offsets."""

    start: int
    end: int
    score: float
    normalized: str
    explanation: Explanation
    entity_type: str | None = None  # defaults to the module's ENTITY_TYPE


class Document:
    """The normalised text of one part, with helpers for context windows."""

    __slots__ = ("norm", "part", "text")

    def __init__(self, norm: Normalized, part: Part | None = None) -> None:
        self.norm = norm
        self.text = norm.text
        self.part = part

    def window(self, start: int, end: int, before: int = 30, after: int = 30) -> str:
        """The text around a span, in characters (not tokens: Japanese is unsegmented)."""
        return self.text[max(0, start - before) : start] + " " + self.text[end : end + after]

    def before(self, start: int, chars: int = 30) -> str:
        return self.text[max(0, start - chars) : start]

    def after(self, end: int, chars: int = 30) -> str:
        return self.text[end : end + chars]

    def context(
        self, start: int, end: int, words: regex.Pattern[str], before: int = 30, after: int = 30
    ) -> tuple[str, ...]:
        """Context words (matches of ``words``) found within the window around a span."""
        return tuple(
            dict.fromkeys(m.group(0) for m in words.finditer(self.window(start, end, before, after)))
        )


@runtime_checkable
class Detector(Protocol):
    ENTITY_TYPE: str
    PATTERN: str
    PRIORITY: int

    def check(self, match: regex.Match[str], doc: Document) -> Iterable[Hit]: ...

    def scan(self, text: str) -> Iterator[Finding]: ...


def words_pattern(words: Iterable[str]) -> regex.Pattern[str]:
    """Compile context words into one case-insensitive alternation, longest first."""
    ordered = sorted(set(words), key=len, reverse=True)
    return regex.compile("|".join(regex.escape(w) for w in ordered), regex.IGNORECASE)


def to_finding(
    hit: Hit, default_type: str, doc: Document, location: str = "text", *, person_only: bool = False
) -> Finding:
    """The finding of ``hit``, in original offsets; a type only a person has (``person_only``,
    the module's ``PERSON_ONLY``) is held by a person (contact data: :mod:`classifiers.holders`)."""
    start, end = doc.norm.span_to_original(hit.start, hit.end)
    loc = doc.part.location_at(start) if doc.part is not None else location
    entity_type = hit.entity_type or default_type
    return Finding(
        type=entity_type,
        value=doc.norm.original[start:end],
        score=min(1.0, hit.score),
        location=loc,
        span=(start, end),
        normalized=hit.normalized,
        explanation=hit.explanation,
        holder="person" if person_only else "",
        holder_reason=f"{entity_type} identifies a person" if person_only else "",
    )


def compile_one(module: ModuleType) -> regex.Pattern[str]:
    lists: Mapping[str, Collection[str]] = getattr(module, "PATTERN_LISTS", {})
    return compile_with_lists(module.PATTERN, lists)


def compile_with_lists(source: str, lists: Mapping[str, Collection[str]]) -> regex.Pattern[str]:
    """Compile ``source`` with ``\\L<name>`` named lists (the stubs do not type the kwargs)."""
    compile_: Any = regex.compile
    pattern: regex.Pattern[str] = compile_(source, **lists)
    return pattern


def scan_with(module: ModuleType, text: str) -> Iterator[Finding]:
    """Run one detector on its own over ``text`` (used by the module's ``scan``)."""
    doc = Document(normalize(text))
    pattern = compile_one(module)
    for m in pattern.finditer(doc.text):
        for hit in module.check(m, doc):
            yield to_finding(hit, module.ENTITY_TYPE, doc, person_only=getattr(module, "PERSON_ONLY", False))
