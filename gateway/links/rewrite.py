"""The outside recipients' copy of a message: chosen attachments out, a short notice with the
recipient's own link in their place. Pure functions over bytes; the stored message never changes.

Attachments are found as the classifiers find them (:func:`classifiers.extract.mime.is_attachment`,
named as in the scan's locations), so what the scan says of each one (encrypted, not fully
inspected) applies to the right file. Everything else in the message stays as it was: headers,
bodies and the attachments that are not chosen are written back as parsed.
"""

from __future__ import annotations

import email.generator
import email.parser
import email.policy
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from email.message import Message
from typing import Any

from classifiers.extract.mime import is_attachment, part_filename, unique_name
from policies.model import LinkPlan

_POLICY = email.policy.compat32.clone(linesep="\r\n")
#: Headers describing the top-level content, replaced when the whole message is one attachment.
_CONTENT_HEADERS = frozenset(
    {"content-type", "content-transfer-encoding", "content-disposition", "mime-version"}
)


@dataclass(frozen=True)
class Attachment:
    """One attachment of a message: where it sits in the parsed tree, its name as the scan knows
    it (``name``, unique within the message) and as it was sent (``filename``), and its content."""

    part: Message
    parent: Message | None
    index: int
    name: str
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Findings:
    """What the scan stored for the message says about its attachments (by top-level name)."""

    encrypted: frozenset[str]
    not_inspected: Mapping[str, str]
    #: Encrypted archives: the members' names and sizes that could still be read.
    members: Mapping[str, tuple[tuple[str, int], ...]]

    @classmethod
    def of(cls, scan: Mapping[str, Any]) -> Findings:
        """From a stored scan summary (``gateway.pipeline.scan_summary``)."""
        encrypted: set[str] = set()
        why: dict[str, str] = {}
        members: dict[str, list[tuple[str, int]]] = {}
        for p in scan.get("parts") or ():
            if p.get("kind") != "attachment":
                continue
            location = str(p.get("location") or "")
            root, _, inside = location.removeprefix("attachment:").partition("/")
            if p.get("encrypted"):
                encrypted.add(root)
                why.setdefault(root, "encrypted")
                if inside:
                    members.setdefault(root, []).append((inside, int(p.get("size") or 0)))
            elif p.get("truncated"):
                why.setdefault(root, str(p["truncated"][0]))
        return cls(frozenset(encrypted), why, {k: tuple(v) for k, v in members.items()})


def parse(raw: bytes) -> Message:
    return email.parser.BytesParser(policy=_POLICY).parsebytes(raw)


def attachments(msg: Message) -> list[Attachment]:
    """Every attachment of ``msg`` in order (an attached message counts as one file)."""
    found: list[Attachment] = []
    names: set[str] = set()

    def visit(part: Message, parent: Message | None, index: int) -> None:
        ctype = part.get_content_type()
        if ctype == "message/rfc822":
            inner = part.get_payload()
            first = inner[0] if isinstance(inner, list) and inner else None
            data = first.as_bytes(policy=_POLICY) if isinstance(first, Message) else b""
            name = part_filename(part) or f"attachment[{len(found) + 1}].eml"
            found.append(Attachment(part, parent, index, unique_name(names, name), name, ctype, data))
            return
        if part.is_multipart():
            for i, sub in enumerate(part.get_payload()):
                visit(sub, part, i)
            return
        filename = part_filename(part)
        if not is_attachment(part, filename):
            return
        shown = filename or f"attachment[{len(found) + 1}]"
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        found.append(Attachment(part, parent, index, unique_name(names, shown), shown, ctype, data))

    visit(msg, None, 0)
    return found


def choose(found: Sequence[Attachment], plan: LinkPlan, findings: Findings) -> list[Attachment]:
    """The attachments the plan takes out. An encrypted part the scan names but no attachment
    matches makes every attachment count as encrypted (better a link than an uninspected file)."""
    unmatched = bool(findings.encrypted - {a.name for a in found})
    return [
        a
        for a in found
        if plan.selects(a.filename, a.content_type, len(a.data), unmatched or a.name in findings.encrypted)
    ]


def _generate(msg: Message) -> bytes:
    out = io.BytesIO()
    email.generator.BytesGenerator(out, mangle_from_=False, maxheaderlen=0, policy=_POLICY).flatten(msg)
    data = out.getvalue()
    return data if data.endswith(b"\r\n") else data + b"\r\n"


def replaced(msg: Message, chosen: Iterable[Attachment], notices: Sequence[Message]) -> bytes:
    """The message with each chosen attachment replaced by its notice (same order). The parsed
    tree is restored afterwards, so one parse serves every recipient's copy."""
    pairs = list(zip(chosen, notices, strict=True))
    whole = [n for a, n in pairs if a.parent is None]
    if whole:
        return _whole_replaced(msg, whole[0])
    undo: list[tuple[list[Any], int, Any]] = []
    try:
        for a, notice in pairs:
            assert a.parent is not None
            siblings = a.parent.get_payload()
            assert isinstance(siblings, list)
            undo.append((siblings, a.index, siblings[a.index]))
            siblings[a.index] = notice
        return _generate(msg)
    finally:
        for siblings, index, original in reversed(undo):
            siblings[index] = original


def _whole_replaced(msg: Message, notice: Message) -> bytes:
    """A message that is one attachment: its own headers, the notice as its content."""
    head = b"".join(
        f"{name}: {value}\r\n".encode("utf-8", "surrogateescape")
        for name, value in msg.items()
        if name.lower() not in _CONTENT_HEADERS
    )
    return head + _generate(notice)


__all__ = ["Attachment", "Findings", "attachments", "choose", "parse", "replaced"]
