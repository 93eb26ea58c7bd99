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
passes, because the ``regex`` module skips ahead to a possible start only within one pattern;
``EXTRA_PATTERNS: tuple[str, ...]``, patterns of other kinds of token the detector reads besides
``PATTERN`` (not branches of it, so not ``PASSES``: ``PATTERN`` is shared with other detectors, or
the two would claim each other's positions as one alternation): each is a pass of its own, and
``check`` tells its matches apart;
``RE_PASSES: tuple[str, ...]``, the patterns (``PATTERN`` or some of ``PASSES``) that the engine
runs on the standard library's ``re`` where a text needs no timeout, because that is measured
faster there (see :mod:`classifiers.detectors._stdre`, which writes them for ``re``).
"""

from __future__ import annotations

import re
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


def _trie(words: Iterable[str]) -> str:
    """An alternation of ``words`` that matches, where several start, the longest, written as
    a trie so that a character that starts a word tries only the words it starts.

    >>> _trie(["ab", "abc", "b"])
    '(?:ab(?:c)?|b)'
    """
    root: dict[str, Any] = {}
    for word in words:
        node = root
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node: dict[str, Any]) -> str:
        alternatives = [re.escape(ch) + emit(rest) for ch, rest in sorted(node.items()) if ch]
        if not alternatives:
            return ""
        body = (
            alternatives[0]
            if len(alternatives) == 1 and "" not in node
            else "(?:" + "|".join(alternatives) + ")"
        )
        return body + "?" if "" in node else body

    return emit(root)


_Words = dict[str, tuple[str, ...]]
_VocabularyState = tuple[int, "re.Pattern[str] | None", _Words, _Words]


class _Vocabulary:
    """The words of every ``REQUIRES`` and ``PASS_REQUIRES`` list, found in a text by one scan.

    Asking ``word in text`` for each word of each list read the whole text once per word (60
    words over the benchmark mail's 8,000 characters: about a tenth of a worker's CPU per
    message, most of it to learn that none is there). One alternation of all the words, longest
    first, finds in one pass each word that starts where no earlier match covers; a word that
    starts inside a match is a substring of it (known from the match alone) or runs past its
    end (then asked of the text itself), so the set of words present is exact.
    """

    def __init__(self) -> None:
        self.lists: frozenset[tuple[str, ...]] = frozenset()
        #: (version, the alternation, per word the words inside it (itself too), per word the
        #: words that can start inside it and end after it), replaced whole on a change.
        self.state: _VocabularyState = (0, None, {}, {})

    def register(self, words: Iterable[str]) -> tuple[str, ...]:
        key = tuple(words)
        if key not in self.lists:
            every = sorted({*self.state[2], *key}, key=lambda w: (-len(w), w))
            inside = {u: tuple(w for w in every if w in u) for u in every}
            straddle = {
                u: tuple(
                    w for w in every if w not in u and any(w.startswith(u[i:]) for i in range(1, len(u)))
                )
                for u in every
            }
            pattern = re.compile(_trie(every)) if every else None
            self.state = (self.state[0] + 1, pattern, inside, straddle)
            self.lists = self.lists | {key}
        return key

    def present(self, lowered: str) -> tuple[int, frozenset[str]]:
        version, pattern, inside, straddle = self.state
        found: set[str] = set()
        for u in set(pattern.findall(lowered)) if pattern is not None else ():
            found.update(inside[u])
            found.update(w for w in straddle[u] if w not in found and w in lowered)
        return version, frozenset(found)


_VOCABULARY = _Vocabulary()


def required_words(words: Iterable[str]) -> tuple[str, ...]:
    """``words`` as a tuple that :meth:`Document.has_any` answers from one scan of the text
    (for ``REQUIRES`` and ``PASS_REQUIRES`` lists; the engine registers those it reads)."""
    return _VOCABULARY.register(words)


class Document:
    """The normalised text of one part, with helpers for context windows."""

    __slots__ = ("_lowered", "_present", "norm", "part", "text")

    def __init__(self, norm: Normalized, part: Part | None = None) -> None:
        self.norm = norm
        self.text = norm.text
        self.part = part
        self._lowered: str | None = None
        self._present: tuple[int, frozenset[str]] = (-1, frozenset())

    @property
    def lowered(self) -> str:
        """The text in lower case (computed once)."""
        if self._lowered is None:
            self._lowered = self.text.lower()
        return self._lowered

    def has_any(self, words: tuple[str, ...]) -> bool:
        """Whether one of ``words`` (lower case) occurs in the text, in any case.

        >>> doc = Document(normalize("No,会員名\\n"))
        >>> doc.has_any(required_words(("氏名", "会員名"))), doc.has_any(("name",))
        (True, False)
        """
        if words not in _VOCABULARY.lists:
            return any(map(self.lowered.__contains__, words))
        if self._present[0] != _VOCABULARY.state[0]:
            self._present = _VOCABULARY.present(self.lowered)
        return not self._present[1].isdisjoint(words)

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


def compile_with_lists(source: str, lists: Mapping[str, Collection[str]]) -> regex.Pattern[str]:
    """Compile ``source`` with ``\\L<name>`` named lists (the stubs do not type the kwargs)."""
    compile_: Any = regex.compile
    pattern: regex.Pattern[str] = compile_(source, **lists)
    return pattern


def scan_with(module: ModuleType, text: str) -> Iterator[Finding]:
    """Run one detector on its own over ``text`` (used by the module's ``scan``)."""
    doc = Document(normalize(text))
    lists: Mapping[str, Collection[str]] = getattr(module, "PATTERN_LISTS", {})
    for source in (module.PATTERN, *getattr(module, "EXTRA_PATTERNS", ())):
        for m in compile_with_lists(source, lists).finditer(doc.text):
            for hit in module.check(m, doc):
                yield to_finding(
                    hit, module.ENTITY_TYPE, doc, person_only=getattr(module, "PERSON_ONLY", False)
                )
