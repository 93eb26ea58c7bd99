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
#: The kinds of content :func:`scan_bytes` lists without reading (see :func:`scan_listed`).
_LISTED = frozenset({"image", "audio", "video"})


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


def scan_listed(
    data: bytes, name: str, *, declared_type: str | None = None, at_once: bool = False
) -> ScanResult | None:
    """What :func:`scan_bytes` finds in a file it would only list, not read: a picture, a
    sound or a video (there is no OCR, so no text is read out of one) whose name and declared
    type claim nothing else and that carries no archive at its end. ``None`` for any other
    content, which needs :func:`scan_bytes` (an extractor, the detectors, the time budget).

    It costs one look of libmagic at the head and one at the tail for a zip directory, so the
    upload gate answers it without a classification worker; the result is the one
    :func:`scan_bytes` gives (``tests/classifiers/test_listed.py`` holds them side by side).
    ``at_once``: the caller found :func:`listed_at_once` true of ``data``, which looked at its
    tail already (no zip directory there): that tail is not searched again (35 us a MiB).

    >>> scan_listed(b"GIF89a" + bytes(200), "logo.gif").parts[0].content_type
    'image/gif'
    >>> scan_listed(b"GIF89a" + bytes(200), "list.csv") is None  # read as a CSV too
    True
    """
    from classifiers.extract.sniff import disagreements, kind_of, looks_binary, sniff, zip_inside

    try:
        if not looks_binary(data):
            return None  # text (libmagic would take long to say so): none of these
        sniffed = sniff(data)
        if sniffed.kind != "binary" or kind_of(sniffed) not in _LISTED:
            return None
        labels, _ = disagreements(sniffed, name, declared_type)
        if labels or (not at_once and zip_inside(data)):
            return None  # read as what it claims to be, or as the archive it carries, too
    except Exception:  # whatever went wrong, the full classification will say
        return None
    part = PartResult(
        location=name,
        kind="file",
        content_type=sniffed.mime,
        filename=name,
        size=len(data),
        truncated=(),
        encrypted=False,
        findings=(),
        records=0,
    )
    return ScanResult(parts=(part,), records=0, size=len(data))


#: The leading bytes of the photos (PNG, JPEG) whose type libmagic tells at once (about 0.1 ms
#: on the benchmark machine, whatever follows; a WebP or MP4 head takes up to 0.5 ms, a head
#: libmagic does not know several milliseconds).
_AT_ONCE = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")


def listed_at_once(data: bytes) -> bool:
    """Whether :func:`scan_listed` answers for ``data`` in a fraction of a millisecond, so that
    a caller on an event loop may ask it there: a PNG or JPEG head, and no zip directory at the
    end to be opened.

    >>> listed_at_once(b"\\x89PNG\\r\\n\\x1a\\n..."), listed_at_once(b"GIF89a...")
    (True, False)
    """
    from classifiers.extract.sniff import zip_tail

    return data.startswith(_AT_ONCE) and not zip_tail(data)


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
    "listed_at_once",
    "redact",
    "scan_bytes",
    "scan_file",
    "scan_listed",
    "scan_message",
    "scan_parts",
]
