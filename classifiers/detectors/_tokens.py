"""Token patterns shared by several detectors (the engine matches each one once)."""

from __future__ import annotations

#: A run of digits with the separators people put inside numbers (space, dot, hyphen, slash,
#: brackets), optionally led by ``+`` (international phone) or ``T`` (invoice registration
#: number). Not preceded by a letter/digit or by a code prefix such as ``ORD-``.
NUMBER = (
    r"(?<![0-9A-Za-z_#][-/]?)(?<![0-9A-Za-z_])"
    r"(?:\+|T)?\(?\d+(?:(?:[-. /]|\)[- ]?|[- ]?\()\d+)*\)?"
    r"(?![0-9A-Za-z])"
)
