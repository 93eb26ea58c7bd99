"""Classifiers: pure functions from bytes to findings.

>>> from classifiers import scan_message
>>> r = scan_message(b"Subject: test\\r\\n\\r\\nhello\\r\\n")
>>> r.records
0
"""

from __future__ import annotations

import os
from pathlib import Path

from classifiers.detectors import entity_types
from classifiers.engine import Scanner, scan_parts
from classifiers.extract import extract_file, extract_message
from classifiers.limits import EXTRACTION_SHARE, Deadline, Limits
from classifiers.model import Finding, Part, PartResult, ScanResult
from classifiers.redact import redact

DEFAULT_LIMITS = Limits()


def scan_message(raw: bytes, limits: Limits = DEFAULT_LIMITS) -> ScanResult:
    """Classify an RFC 5322 message. Never raises on malformed input.

    Each part is scanned as soon as it is extracted, under one deadline; whatever stops the
    work early (a limit, the deadline, damage, even an error of ours), the findings made
    until then are in the result, with the reason.
    """
    deadline = Deadline(limits.max_seconds)
    scanner = Scanner(deadline=deadline, limits=limits)
    try:
        ex = extract_message(raw, limits, Deadline(limits.max_seconds * EXTRACTION_SHARE), scanner.add)
    except Exception as exc:  # hostile input must never crash a worker
        return scanner.result(size=len(raw), errors=(f"extract: {type(exc).__name__}: {exc}",))
    return scanner.result(size=len(raw), errors=ex.errors)


def scan_bytes(
    data: bytes, name: str, limits: Limits = DEFAULT_LIMITS, *, declared_type: str | None = None
) -> ScanResult:
    """Classify a file's content, which is read as what it is and also as what ``name`` (its
    extension) and ``declared_type`` (a MIME type) claim it is, when they disagree."""
    deadline = Deadline(limits.max_seconds)
    scanner = Scanner(deadline=deadline, limits=limits)
    extraction = Deadline(limits.max_seconds * EXTRACTION_SHARE)
    try:
        ex = extract_file(data, name, limits, extraction, scanner.add, declared_type=declared_type)
    except Exception as exc:
        return scanner.result(size=len(data), errors=(f"extract: {type(exc).__name__}: {exc}",))
    return scanner.result(size=len(data), errors=ex.errors)


def scan_file(path: str | os.PathLike[str], limits: Limits = DEFAULT_LIMITS) -> ScanResult:
    """Classify a file on disk by its content; a message is read as a message.

    The ``.eml`` suffix only helps a text file whose headers look unusual: a zip named
    ``x.eml`` is still opened as a zip.
    """
    p = Path(path)
    data = p.read_bytes()
    if p.suffix.lower() == ".eml" and _sniffed_kind(data) in ("message", "text"):
        return scan_message(data, limits)
    return scan_bytes(data, p.name, limits)


def _sniffed_kind(data: bytes) -> str:
    from classifiers.extract.sniff import sniff

    return sniff(data).kind


__all__ = [
    "DEFAULT_LIMITS",
    "Finding",
    "Limits",
    "Part",
    "PartResult",
    "ScanResult",
    "entity_types",
    "redact",
    "scan_bytes",
    "scan_file",
    "scan_message",
    "scan_parts",
]
