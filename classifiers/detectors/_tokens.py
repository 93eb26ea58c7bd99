"""Token patterns shared by several detectors (the engine matches each one once)."""

from __future__ import annotations

#: A date written year first (``1985/04/12``, ``2024-4-1``): a NUMBER token does not run on
#: into one across a space, so that the date detector still sees it.
_DATE_AHEAD = r"(?:19|20)\d\d[-/.]\d\d?[-/.]\d\d?(?!\d)"

#: The shortest token the number detectors read (their smallest ``MIN_LENGTH``; a test holds
#: them to it). NUMBER's leading look-ahead (seven characters that could belong to a token)
#: lets ``regex`` refuse most shorter runs (prices, quantities, ``部品1``) in C instead of
#: handing hundreds of them to the engine; a token is only digits and separators, so no
#: later pass could start inside one whether it is claimed or not.
NUMBER_MIN_LENGTH = 7

#: A run of digits with the separators people put inside numbers (space, dot, hyphen, slash,
#: brackets), optionally led by ``+`` (international phone) or ``T`` (invoice registration
#: number). Not preceded by a letter/digit or by a code prefix such as ``ORD-``, except the
#: labels ``TEL``/``FAX`` written flush against a phone number (``TEL03-1234-5678``).
NUMBER_ANY_LENGTH = (
    r"(?:(?<=(?<![A-Za-z])(?:TEL|Tel|tel|FAX|Fax|fax)-?)|(?<![0-9A-Za-z_#][-/]?))"
    r"(?:\+|T)?\(?\d+(?:(?:[-./]|\ (?!" + _DATE_AHEAD + r")|\)[- ]?|[- ]?\()\d+)*\)?"
    r"(?![0-9A-Za-z])"
)

#: The token the number detectors share: NUMBER_ANY_LENGTH at least NUMBER_MIN_LENGTH long.
NUMBER = r"(?=[\d+T(][\d+T()\-./ ]{" + str(NUMBER_MIN_LENGTH - 1) + "})" + NUMBER_ANY_LENGTH
