"""The single detection pass: one compiled pattern over NFKC text, then per-detector validation."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from functools import lru_cache
from types import ModuleType

import regex

from classifiers.detectors import all_detectors
from classifiers.detectors._base import Document, compile_with_lists, to_finding
from classifiers.limits import Deadline
from classifiers.model import PERSONAL_TYPES, Finding, Part, PartResult, ScanResult
from classifiers.normalize import normalize

#: A finding below this score is reported but does not count towards ``records``.
RECORD_MIN_SCORE = 0.5


class Engine:
    """All detectors compiled into one alternation (detectors sharing a pattern share a group)."""

    def __init__(self, detectors: Sequence[ModuleType]) -> None:
        groups: dict[str, list[ModuleType]] = {}
        lists: dict[str, Collection[str]] = {}
        for det in detectors:
            groups.setdefault(det.PATTERN, []).append(det)
            lists.update(getattr(det, "PATTERN_LISTS", {}))
        self._groups: list[tuple[ModuleType, ...]] = [tuple(v) for v in groups.values()]
        source = "|".join(f"(?P<g{i}>{p})" for i, p in enumerate(groups))
        self.pattern: regex.Pattern[str] = compile_with_lists(source, lists)
        self._index = {f"g{i}": i for i in range(len(self._groups))}

    def scan_text(self, text: str, part: Part | None = None) -> list[Finding]:
        doc = Document(normalize(text), part)
        out: list[Finding] = []
        seen: set[tuple[str, int, int]] = set()
        for m in self.pattern.finditer(doc.text):
            name = m.lastgroup
            if name is None or name not in self._index:
                continue
            for det in self._groups[self._index[name]]:
                for hit in det.check(m, doc):
                    finding = to_finding(hit, det.ENTITY_TYPE, doc)
                    key = (finding.type, *finding.span)
                    if key not in seen:
                        seen.add(key)
                        out.append(finding)
        out.sort(key=lambda f: f.span)
        return out


@lru_cache(maxsize=1)
def default_engine() -> Engine:
    return Engine(all_detectors())


#: Identifiers a person usually has several of (TEL, FAX and mobile in one signature): they
#: count persons only where no primary identifier is present (a bare list of phone numbers).
SECONDARY_TYPES = frozenset({"phone_number"})


def count_records(findings: Iterable[Finding]) -> int:
    """How many distinct natural persons' data appear.

    The count is the largest number of distinct values of any one primary personal type (name,
    e-mail, address, My Number...): a customer list of 300 rows with a name, a phone and an
    address per row is 300; a signature with a name, an address and TEL/FAX/mobile is 1. Phone
    numbers count only when nothing else identifies a person.
    """
    distinct: dict[str, set[str]] = {}
    for f in findings:
        if f.type in PERSONAL_TYPES and f.score >= RECORD_MIN_SCORE:
            distinct.setdefault(f.type, set()).add(f.normalized or f.value)
    primary = max((len(v) for t, v in distinct.items() if t not in SECONDARY_TYPES), default=0)
    if primary:
        return primary
    return max((len(v) for v in distinct.values()), default=0)


def scan_parts(
    parts: Iterable[Part], *, deadline: Deadline | None = None, size: int = 0, errors: Sequence[str] = ()
) -> ScanResult:
    """Detect over extracted parts; dedupe findings across the bodies of one alternative."""
    engine = default_engine()
    results: list[PartResult] = []
    alt_seen: dict[str, set[tuple[str, str]]] = {}
    for part in parts:
        truncated = part.truncated
        if deadline is not None and deadline.expired:
            findings: list[Finding] = []
            truncated = (*truncated, "time") if "time" not in truncated else truncated
        else:
            findings = engine.scan_text(part.text, part)
        if part.alternative is not None:
            # Keep what an earlier body of the same alternative did not already show; repeats
            # inside this body stay, as they would in a message without alternatives.
            seen = alt_seen.setdefault(part.alternative, set())
            findings = [f for f in findings if (f.type, f.normalized or f.value) not in seen]
            seen.update((f.type, f.normalized or f.value) for f in findings)
        results.append(
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
            )
        )
    total = count_records(f for r in results for f in r.findings)
    return ScanResult(parts=tuple(results), records=total, size=size, errors=tuple(errors))
