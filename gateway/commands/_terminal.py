"""What the commands print reaches a terminal: control characters in the data they show (a
subject with CR/LF, an ESC sequence in a name) are written escaped, never raw.

:func:`shown` escapes one value for a line of a table (line breaks and tabs too);
:class:`EscapingWriter` stands in for ``sys.stdout``/``sys.stderr`` and escapes every control
character but the line breaks and tabs the command itself writes, as ``\\uXXXX`` (which is also
a valid escape inside the JSON strings of ``--format jsonl``). ``queue show --raw`` writes the
spooled message itself through ``buffer``, as asked.
"""

from __future__ import annotations

from typing import Any, TextIO

import regex

#: C0 and C1 controls, DEL, and the characters that reorder or hide text on a terminal
#: (bidirectional overrides and isolates, line and paragraph separators).
_CONTROL = regex.compile("[\\x00-\\x1f\\x7f-\\x9f\\u200e\\u200f\\u2028-\\u202e\\u2066-\\u2069]")
_CONTROL_BUT_LAYOUT = regex.compile(
    "[\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f\\u200e\\u200f\\u2028-\\u202e\\u2066-\\u2069]"
)


def _escape(m: regex.Match[str]) -> str:
    return f"\\u{ord(m.group()):04x}"


def shown(text: str) -> str:
    """``text`` with every control character escaped.

    >>> shown("件名\\r\\nBcc: x@evil.example\\x1b[2J")
    '件名\\\\u000d\\\\u000aBcc: x@evil.example\\\\u001b[2J'
    """
    return _CONTROL.sub(_escape, text)


class EscapingWriter:
    """A text stream that escapes control characters other than line breaks and tabs."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(_CONTROL_BUT_LAYOUT.sub(_escape, text))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)
