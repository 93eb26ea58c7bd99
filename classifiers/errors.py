"""Validation errors of the number detectors (python-stdnum style), rooted in ValueError.

ValidationError
 ├── InvalidFormat    characters or shape are wrong
 ├── InvalidLength    wrong number of digits
 └── InvalidChecksum  the check digit does not match
"""

from __future__ import annotations


class ValidationError(ValueError):
    """A value is not a valid instance of its format."""


class InvalidFormat(ValidationError):
    pass


class InvalidLength(ValidationError):
    pass


class InvalidChecksum(ValidationError):
    pass
