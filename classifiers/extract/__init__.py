"""Turn a message or a file into text parts, each with its location.

Owned by the extraction work: MIME, charsets, Office, PDF, archives, limits.
"""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass, field

from classifiers.limits import Deadline, Limits
from classifiers.model import Part


@dataclass(slots=True)
class Extraction:
    parts: list[Part] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def extract_message(raw: bytes, limits: Limits, deadline: Deadline) -> Extraction:
    """An RFC 5322 message: subject, every body and attachment."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    out = Extraction()
    out.parts.append(Part(location="subject", text=str(msg.get("subject", "")), kind="subject"))
    body = msg.get_body(preferencelist=("plain", "html"))
    if body is not None:
        text = body.get_content() if hasattr(body, "get_content") else ""
        out.parts.append(Part(location="body", text=str(text), kind="body", size=len(raw)))
    return out


def extract_file(data: bytes, name: str, limits: Limits, deadline: Deadline) -> Extraction:
    """A file of any supported type (sniffed from content, never from ``name``)."""
    text = data.decode("utf-8", errors="replace")
    return Extraction(parts=[Part(location=name, text=text, kind="file", size=len(data), filename=name)])
