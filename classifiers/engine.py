"""The detection pass: NFKC text once, each distinct detector pattern once, then validation.

Detectors that look at the same kind of token share one pattern (``_tokens.NUMBER`` feeds all
nine number detectors), so each distinct pattern is one ``finditer`` over the normalised text.
The passes run in ``PRIORITY`` order and a match claims its span: a later (lower-priority) pass
skips matches that start inside it, which is what one combined alternation would do (a date
hides the digits inside it from the number detectors; a name is never read inside an address).

Why not one combined alternation, as first designed: the ``regex`` module can fast-skip to the
next possible start only within a single pattern; an alternation of 16 branches is tried branch
by branch at every character. Measured on the benchmark's mail mix, the separate passes run
3.6 times faster than the alternation of the same patterns (7.0 vs 1.9 MB/s without names).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import replace
from functools import cached_property, lru_cache
from itertools import accumulate
from operator import attrgetter, itemgetter
from types import ModuleType
from typing import cast

import regex

from classifiers.detectors import all_detectors, on_refresh
from classifiers.detectors._base import Document, Hit, compile_with_lists, required_words, to_finding
from classifiers.detectors._stdre import stdlib_form
from classifiers.holders import assign_holders, contact_types, count_organisations, count_people
from classifiers.limits import GRACE_MAX, GRACE_SHARE, Deadline, Limits
from classifiers.model import Finding, Part, PartResult, ScanResult
from classifiers.normalize import normalize

_START, _END = itemgetter(0), itemgetter(1)
_SPAN = attrgetter("span")
#: A detector as a pass calls it: its ``check``, type, ``MIN_LENGTH`` and ``PERSON_ONLY``.
_Check = tuple[Callable[[regex.Match[str], Document], Iterable[Hit]], str, int, bool]

#: A finding below this score is reported but does not count towards ``records``.
RECORD_MIN_SCORE = 0.5


class Engine:
    """Detectors grouped by pattern, one compiled pass per group, in priority order."""

    def __init__(self, detectors: Sequence[ModuleType]) -> None:
        groups: dict[str, list[ModuleType]] = {}
        self._lists: dict[str, Collection[str]] = {}
        #: Each detector's PATTERN once, for the combined baseline.
        self._sources: list[str] = []
        for det in sorted(detectors, key=lambda d: d.PRIORITY):
            # The baseline is each PATTERN: an EXTRA_PATTERNS pass is a detector's own further
            # reading (my_number's, only in a part with a My Number word), as its ``check`` is.
            if det.PATTERN not in self._sources:
                self._sources.append(det.PATTERN)
            extra = tuple(getattr(det, "EXTRA_PATTERNS", ()))
            for source in (*(getattr(det, "PASSES", None) or (det.PATTERN,)), *extra):
                groups.setdefault(source, []).append(det)
            self._lists.update(getattr(det, "PATTERN_LISTS", {}))
        #: (compiled pattern, its detectors with the shortest match each can use)
        self.passes: tuple[tuple[regex.Pattern[str], tuple[tuple[ModuleType, int], ...]], ...] = tuple(
            (
                compile_with_lists(src, self._lists),
                tuple((det, int(getattr(det, "MIN_LENGTH", 0))) for det in dets),
            )
            for src, dets in groups.items()
        )
        #: Per pass: strings one of which a part must contain for the pass to be worth running
        #: (None: always run). A pass shared by several detectors runs if any of them needs it.
        self._requires: tuple[tuple[str, ...] | None, ...] = tuple(
            None
            if any(getattr(det, "REQUIRES", None) is None for det in dets)
            else required_words(w for det in dets for w in det.REQUIRES)
            for dets in groups.values()
        )
        #: The same for one pass of a detector (``PASS_REQUIRES``) rather than all of its passes.
        self._pass_requires: tuple[tuple[str, ...] | None, ...] = tuple(
            None
            if any(src not in getattr(det, "PASS_REQUIRES", {}) for det in dets)
            else required_words(w for det in dets for w in det.PASS_REQUIRES[src])
            for src, dets in groups.items()
        )
        #: Per pass: the shortest match any of its detectors reads (shorter ones only claim).
        self._shortest: tuple[int, ...] = tuple(min(n for _, n in dets) for _, dets in self.passes)
        #: Per pass: its ``re`` form where a detector asks for one (``RE_PASSES``), which runs on
        #: text that needs no timeout (see :mod:`classifiers.detectors._stdre`).
        self._stdlib: tuple[re.Pattern[str] | None, ...] = tuple(
            stdlib_form(src) if any(src in getattr(det, "RE_PASSES", ()) for det in dets) else None
            for src, dets in groups.items()
        )
        self._plans: dict[frozenset[str], tuple[int, tuple[tuple[_Check, ...], ...]]] = {}

    def _plan(self, drop: frozenset[str]) -> tuple[int, tuple[tuple[_Check, ...], ...]]:
        """For the types in ``drop``: the first pass of the tail of passes that find only those
        types, and each pass's detectors without them (outside that tail). A pass before the
        tail still runs for the spans it claims; the tail runs only when the part has contact
        data, whose holder a name beside it decides (see :mod:`classifiers.holders`)."""
        plan = self._plans.get(drop)
        if plan is None:
            wanted = [any(det.ENTITY_TYPE not in drop for det, _ in dets) for _, dets in self.passes]
            tail = len(wanted)
            while tail > 0 and not wanted[tail - 1]:
                tail -= 1
            plan = self._plans[drop] = (
                tail,
                tuple(
                    tuple(
                        (d.check, d.ENTITY_TYPE, n, bool(getattr(d, "PERSON_ONLY", False)))
                        for d, n in dets
                        if k >= tail or d.ENTITY_TYPE not in drop
                    )
                    for k, (_, dets) in enumerate(self.passes)
                ),
            )
        return plan

    @cached_property
    def combined_pattern(self) -> regex.Pattern[str]:
        """All patterns as one alternation: the benchmark's "bare pass" baseline of the issue."""
        source = "|".join(f"(?:{p})" for p in self._sources)
        return compile_with_lists(source, self._lists)

    def bare_pass(self, text: str) -> int:
        """The engine's matching work alone (no validation): the same passes, matches counted."""
        return sum(1 for pattern, _ in self.passes for _ in pattern.finditer(text))

    def scan_text(self, text: str, part: Part | None = None) -> list[Finding]:
        """Every finding in ``text`` (no limits: for tests and single detectors)."""
        return self.scan_part(text, part)[0]

    def scan_part(
        self,
        text: str,
        part: Part | None = None,
        *,
        deadline: Deadline | None = None,
        kept: dict[str, int] | None = None,
        max_per_type: int | None = None,
        drop: frozenset[str] = frozenset(),
    ) -> tuple[list[Finding], str | None]:
        """The findings in ``text`` and why the scan stopped early (``"time"``, ``"memory"``) or
        None. Text longer than a window is read window by window (see :data:`WINDOW`), so
        memory stays flat and the deadline is checked between windows and, through the regex
        module's own timeout, inside each; what was found before a limit tripped is returned.
        ``kept`` counts the findings kept per type (shared by the parts of one message); a type
        that has ``max_per_type`` is no longer kept. Types in ``drop`` are not wanted (the caller
        drops them): they are looked for only where another finding's holder depends on them."""
        n = len(text)
        out: list[Finding] = []
        if n <= WINDOW + TAIL:
            reason = self._scan_window(text, part, 0, 0, n, out, deadline, kept, max_per_type, drop)
            return out, reason
        prelude = _prelude(text)
        for start in range(0, n, WINDOW):
            if deadline is not None and deadline.expired:
                return out, "time"
            end = min(n, start + WINDOW)
            lo = max(0, start - LEAD)
            head = prelude if lo > len(prelude) else ""
            window = head + text[lo : min(n, end + TAIL)]
            reason = self._scan_window(
                window, part, lo - len(head), start, end, out, deadline, kept, max_per_type, drop
            )
            if reason is not None:
                return out, reason
        return out, None

    def _scan_window(
        self,
        text: str,
        part: Part | None,
        offset: int,
        core_start: int,
        core_end: int,
        out: list[Finding],
        deadline: Deadline | None,
        kept: dict[str, int] | None,
        max_per_type: int | None,
        drop: frozenset[str] = frozenset(),
    ) -> str | None:
        """Scan ``text`` (the part's text from ``offset``) and append to ``out`` the findings
        that start in ``[core_start, core_end)`` of the part's text; the reason it stopped
        early, if it did."""
        try:
            doc = Document(normalize(text), part)
        except MemoryError:
            return "memory"
        return self._scan_doc(
            doc, part, offset, core_start, core_end, out, deadline, kept, max_per_type, drop
        )

    def scan_document(self, doc: Document) -> list[Finding]:
        """Every finding in one normalised part, whatever its length (no limits; offsets into
        its original text)."""
        out: list[Finding] = []
        self._scan_doc(doc, doc.part, 0, 0, len(doc.norm.original), out, None, None, None)
        return out

    def _scan_doc(
        self,
        doc: Document,
        part: Part | None,
        offset: int,
        core_start: int,
        core_end: int,
        out: list[Finding],
        deadline: Deadline | None,
        kept: dict[str, int] | None,
        max_per_type: int | None,
        drop: frozenset[str] = frozenset(),
    ) -> str | None:
        tail, plan = self._plan(drop)
        contact = contact_types()
        seen: set[tuple[str, int, int]] = set()
        claimed_starts: list[int] = []
        claimed_ends: list[int] = []
        found: list[Finding] = []
        reason: str | None = None
        limit = max_per_type or 0
        bisect_right = bisect.bisect_right
        short = len(doc.text) <= UNTIMED_TEXT
        try:
            for index, ((pattern, _), detectors, requires, pass_requires, shortest, stdlib) in enumerate(
                zip(
                    self.passes,
                    plan,
                    self._requires,
                    self._pass_requires,
                    self._shortest,
                    self._stdlib,
                    strict=True,
                )
            ):
                if index >= tail and not any(f.type in contact for f in found):
                    break  # only unwanted types from here on, and no contact data to hold
                if requires is not None and not doc.has_any(requires):
                    continue
                if pass_requires is not None and not doc.has_any(pass_requires):
                    continue
                matches: Iterator[regex.Match[str]]
                if deadline is None:
                    matches = pattern.finditer(doc.text) if stdlib is None else _as_regex(stdlib, doc.text)
                else:
                    left = deadline.remaining
                    if left <= 0:
                        reason = "time"
                        break
                    # Short text needs no timeout inside the pass (see UNTIMED_TEXT).
                    if not short:
                        matches = pattern.finditer(doc.text, timeout=left)
                    elif stdlib is not None:
                        matches = _as_regex(stdlib, doc.text)
                    else:
                        matches = pattern.finditer(doc.text)
                spans: list[tuple[int, int]] = []
                try:
                    for n, m in enumerate(matches):
                        if deadline is not None and not n & 0xFF and deadline.expired:
                            raise TimeoutError  # validation between matches costs time too
                        span = m.span()
                        start = span[0]
                        k = bisect_right(claimed_starts, start) - 1
                        if k >= 0 and start < claimed_ends[k]:
                            continue
                        spans.append(span)
                        length = span[1] - start
                        if length < shortest:
                            continue  # too short for every detector of this pass (claimed all the same)
                        for check, entity_type, min_length, person_only in detectors:
                            if length < min_length:
                                continue  # prices and quantities: too short for any shape of this type
                            if kept is not None and kept.get(entity_type, 0) >= limit:
                                continue
                            for hit in check(m, doc):
                                finding = to_finding(hit, entity_type, doc, person_only=person_only)
                                key = (finding.type, *finding.span)
                                if key not in seen:
                                    seen.add(key)
                                    found.append(finding)
                                    if kept is not None:
                                        kept[finding.type] = kept.get(finding.type, 0) + 1
                finally:
                    if spans:
                        merged = sorted([*zip(claimed_starts, claimed_ends, strict=True), *spans])
                        claimed_starts = list(map(_START, merged))
                        # Running maximum: an earlier, longer span may cover a later start.
                        claimed_ends = list(accumulate(map(_END, merged), max))
        except TimeoutError:  # the regex module's timeout: the deadline passed inside a pass
            reason = "time"
        except MemoryError:
            reason = "memory"
        found.sort(key=_SPAN)
        try:
            # Whose data each is, read on this window's text (a block of lines, a table's header).
            found = assign_holders(doc, found)
        except MemoryError:
            reason = reason or "memory"
        for f in found:
            start = f.span[0] + offset
            if not core_start <= start < core_end:
                continue
            if offset:
                f = replace(
                    f,
                    span=(start, f.span[1] + offset),
                    location=part.location_at(start) if part is not None else f.location,
                )
            out.append(f)
        return reason


def _as_regex(pattern: re.Pattern[str], text: str) -> Iterator[regex.Match[str]]:
    """The matches of a pass's ``re`` form, for the detectors' ``check``: an ``re.Match`` has
    every method a ``regex.Match`` has that they read (``group``, ``span``, ``re.groupindex``...)."""
    return cast("Iterator[regex.Match[str]]", pattern.finditer(text))


#: Text longer than this is scanned in windows of this many characters...
WINDOW = 256 * 1024
#: ... each read with this much of the text after it, so that a match starting in the window
#: ends there (the longest match a pattern allows, a PEM private key, is about 16 KiB) ...
TAIL = 20 * 1024
#: ... and this much before it: context words before a match, and matches that started in the
#: window before claim their span again as they did there.
LEAD = 4 * 1024
#: The part's first lines, read before every window after the first: a table's header row,
#: which the detectors read a column's meaning from.
PRELUDE = 4 * 1024
#: Text up to this many characters is matched without the regex module's timeout; longer text
#: (a window of a long part) passes the deadline's remaining time to each pass. A timeout makes
#: the module read the process CPU clock every 256 steps of matching, a system call that cannot
#: use the vDSO: on the benchmark's 21 KB mail that was about 420 calls, 6% of a worker's CPU
#: per message. Over hostile shapes (tests/fuzz/shapes.py) and runs of each script, the slowest
#: pass reads 0.5 µs per character, so a pass over text this short takes some 10 ms: the
#: deadline checked between passes, between matches and between parts bounds it as well.
UNTIMED_TEXT = 16 * 1024


def _prelude(text: str) -> str:
    """The whole lines at the start of ``text`` within :data:`PRELUDE` characters.

    >>> _prelude("No,氏名\\n1,山田\\n" + "x" * 10_000)
    'No,氏名\\n1,山田\\n'
    """
    cut = text.rfind("\n", 0, PRELUDE)
    return text[: cut + 1] if cut >= 0 else ""


@lru_cache(maxsize=1)
def default_engine() -> Engine:
    return Engine(all_detectors())


on_refresh(default_engine.cache_clear)


#: Identifiers a person usually has several of (TEL, FAX and mobile in one signature): they
#: count persons only where no primary identifier is present (a bare list of phone numbers).
SECONDARY_TYPES = frozenset({"phone_number"})


def count_records(findings: Iterable[Finding]) -> int:
    """How many distinct natural persons' data appear.

    The count is the largest number of distinct values of any one primary personal type (name,
    e-mail, address, My Number...) among the findings held by a person (an organisation's
    switchboard, shop address or press mailbox is not a person: see :mod:`classifiers.holders`):
    a customer list of 300 rows with a name, a phone and an address per row is 300; a signature
    with a name, an address and TEL/FAX/mobile is 1; a supplier master is 0. A reading (フリガナ)
    of a name and a surname repeating a full name are the same person. Phone numbers count
    only when nothing else identifies a person.
    """
    return count_people(findings, RECORD_MIN_SCORE, SECONDARY_TYPES)


#: Finding types that header parts (display names, comments) do not report.
ADDRESSING_TYPES = frozenset({"person_name", "email_address"})


#: Types read across the seam of two consecutive inline text bodies of one message: a My Number
#: whose last group a sender moved into the next text part (``マイナンバー 1234 5678`` | ``9018``).
SEAM_TYPES = frozenset({"my_number"})
#: How much of each body the seam holds: the end of one (a label on the line before included)
#: and the first line of the next.
SEAM_CHARS = 80


def _seam_key(part: Part) -> str | None:
    """The message an inline text body outside an alternative belongs to (the prefix of its
    location: ``body[2]`` and ``body`` are of one message), None for any other part."""
    if part.kind != "body" or part.alternative is not None or not part.content_type.startswith("text/"):
        return None
    prefix, found, _ = part.location.rpartition("body")
    return prefix if found else None


class Scanner:
    """Detection over parts as extraction hands them over, one at a time.

    A part is scanned as soon as it is extracted, under the message's deadline: a body found
    before a slow attachment is read has its findings whatever that attachment costs. The
    findings of the bodies of one multipart/alternative are counted once.

    A mail client shows consecutive inline text bodies one after the other, as one text: the
    seam between two of them (the end of one, a line break, the first line of the next) is
    scanned too, for the :data:`SEAM_TYPES` found across it, which count in the later body.
    """

    def __init__(self, *, deadline: Deadline | None = None, limits: Limits | None = None) -> None:
        self.engine = default_engine()
        self.deadline = deadline
        limits = limits or Limits()
        self.max_per_type = limits.max_findings_per_type
        self._grace_seconds = min(GRACE_MAX, GRACE_SHARE * limits.max_seconds)
        self._grace: Deadline | None = None
        self.results: list[PartResult] = []
        self._alt_seen: dict[str, set[tuple[str, str]]] = {}
        self._kept: dict[str, int] = {}
        #: The message and the end of the body added last, when the last part was such a body.
        self._last_body: tuple[str, str] | None = None
        #: A finding across the last seam that ends where that body ends (its index in
        #: ``results``): dropped if the next body goes on with digits (a fourth group).
        self._open_seam: tuple[int, Finding] | None = None

    def _current_deadline(self) -> Deadline | None:
        """The message's deadline, or once it has passed, the grace for text already extracted."""
        if self.deadline is None or not self.deadline.expired:
            return self.deadline
        if self._grace is None:
            self._grace = Deadline(self._grace_seconds, stoppable=False)
        return self._grace

    def add(self, part: Part) -> None:
        truncated = part.truncated
        deadline = self._current_deadline()
        if deadline is not None and deadline.expired:
            findings: list[Finding] = []
            stopped: str | None = "time"
        else:
            findings, stopped = self.engine.scan_part(
                part.text,
                part,
                deadline=deadline,
                kept=self._kept,
                max_per_type=self.max_per_type,
                drop=ADDRESSING_TYPES if part.kind == "header" else frozenset(),
            )
        key = _seam_key(part)
        last, open_seam = self._last_body, self._open_seam
        self._last_body = self._open_seam = None
        follows = key is not None and last is not None and last[0] == key
        if follows and open_seam is not None and part.text.lstrip()[:1].isdigit():
            self._drop(*open_seam)  # the number found across the last seam goes on in this body
        if key is not None:
            end = part.text[-4 * SEAM_CHARS :]
            if follows and last is not None and len(part.text) < 4 * SEAM_CHARS:
                # A short body (a lone group) goes on from the one before: the next seam reads
                # both (マイナンバー 1234 | 5678 | 9018).
                end = f"{last[1].rstrip()}\n{part.text.strip()}"[-4 * SEAM_CHARS :]
            self._last_body = (key, end)
        if stopped is None and follows and last is not None:
            seam = self._across_seam(last[1], part, deadline)
            findings.extend(seam)
            ending = len(part.text.rstrip())
            self._open_seam = next(((len(self.results), f) for f in seam if f.span[1] == ending), None)
        if stopped is not None and stopped not in truncated:
            truncated = (*truncated, stopped)
        if part.kind == "header":
            # Names and addresses in From/To/Cc are the addressing itself (the recipient rules
            # judge it); anything else written there is content.
            findings = [f for f in findings if f.type not in ADDRESSING_TYPES]
        if part.alternative is not None:
            # Keep what an earlier body of the same alternative did not already show; repeats
            # inside this body stay, as they would in a message without alternatives.
            seen = self._alt_seen.setdefault(part.alternative, set())
            findings = [f for f in findings if (f.type, f.normalized or f.value) not in seen]
            seen.update((f.type, f.normalized or f.value) for f in findings)
        self.results.append(
            PartResult(
                location=part.location,
                kind=part.kind,
                content_type=part.content_type,
                filename=part.filename,
                size=part.size,
                truncated=truncated,
                encrypted=part.encrypted,
                findings=tuple(findings),
                records=count_records(findings),
                organisations=count_organisations(findings, RECORD_MIN_SCORE),
                type_mismatch=part.type_mismatch,
            )
        )

    def _drop(self, index: int, finding: Finding) -> None:
        """Take ``finding`` back out of the part result at ``index``."""
        old = self.results[index]
        findings = tuple(f for f in old.findings if f is not finding)
        self.results[index] = replace(
            old,
            findings=findings,
            records=count_records(findings),
            organisations=count_organisations(findings, RECORD_MIN_SCORE),
        )

    def _across_seam(self, before: str, part: Part, deadline: Deadline | None) -> list[Finding]:
        """The :data:`SEAM_TYPES` findings that cross from the end of the body before ``part``
        into its first line, placed at the start of ``part``."""
        tail = before.rstrip()[-SEAM_CHARS:]
        lead = len(part.text) - len(part.text.lstrip())
        head = part.text[lead : lead + SEAM_CHARS].split("\n", 1)[0].rstrip()
        if not tail or not head:
            return []
        join = len(tail) - lead
        found, _ = self.engine.scan_part(f"{tail}\n{head}", part, deadline=deadline)
        return [
            replace(f, span=(lead, f.span[1] - join - 1))
            for f in found
            if f.type in SEAM_TYPES and f.span[0] < len(tail) < f.span[1]
        ]

    def result(self, *, size: int = 0, errors: Sequence[str] = ()) -> ScanResult:
        every = [f for r in self.results for f in r.findings]
        return ScanResult(
            parts=tuple(self.results),
            records=count_records(every),
            size=size,
            errors=tuple(errors),
            organisations=count_organisations(every, RECORD_MIN_SCORE),
        )


def scan_parts(
    parts: Iterable[Part],
    *,
    deadline: Deadline | None = None,
    size: int = 0,
    errors: Sequence[str] = (),
    limits: Limits | None = None,
) -> ScanResult:
    """Detect over extracted parts; dedupe findings across the bodies of one alternative."""
    scanner = Scanner(deadline=deadline, limits=limits)
    for part in parts:
        scanner.add(part)
    return scanner.result(size=size, errors=errors)
