"""Token patterns shared by several detectors (the engine matches each one once)."""

from __future__ import annotations

#: A date written year first (``1985/04/12``, ``2024-4-1``): a NUMBER token does not run on
#: into one across a space, so that the date detector still sees it.
_DATE_AHEAD = r"(?:19|20)\d\d[-/.]\d\d?[-/.]\d\d?(?!\d)"

#: A run of digits with the separators people put inside numbers (space, dot, hyphen, slash,
#: brackets), optionally led by ``+`` (international phone) or ``T`` (invoice registration
#: number). Not preceded by a letter/digit or by a code prefix such as ``ORD-``, except the
#: labels ``TEL``/``FAX`` written flush against a phone number (``TEL03-1234-5678``).
NUMBER = (
    r"(?:(?<=(?<![A-Za-z])(?:TEL|Tel|tel|FAX|Fax|fax)-?)|(?<![0-9A-Za-z_#][-/]?))"
    r"(?:\+|T)?\(?\d+(?:(?:[-./]|\ (?!" + _DATE_AHEAD + r")|\)[- ]?|[- ]?\()\d+)*\)?"
    r"(?![0-9A-Za-z])"
)
