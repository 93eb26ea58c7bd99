"""Content-type sniffing (python-magic), never trusting names or declared types."""

from __future__ import annotations

import regex

_HEADER_LINE = regex.compile(rb"^[A-Za-z][A-Za-z0-9-]{0,76}:[ \t]")
_MESSAGE_HEADERS = (b"from:", b"to:", b"subject:", b"date:", b"message-id:", b"mime-version:", b"received:")


def looks_like_message(data: bytes) -> bool:
    """An RFC 5322 message starts with header fields, among them the usual ones."""
    head = data[:4096].split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0]
    lines = [ln for ln in head.splitlines() if ln and not ln[:1].isspace()]
    if not lines or not all(_HEADER_LINE.match(ln) or ln.startswith(b"From ") for ln in lines[:3]):
        return False
    names = {ln.split(b":", 1)[0].lower() + b":" for ln in lines}
    return len(names & set(_MESSAGE_HEADERS)) >= 2
