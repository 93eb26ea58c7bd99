"""One shared function to show a finding's value without revealing it.

How a type is masked is said by its detector module: a ``redact(value)`` function of its own
(e-mail addresses keep their domain), or ``KEEP_TAIL``, how many letters and digits stay at the
end (card and account numbers); without either, free text keeps its first character only.
"""

from __future__ import annotations

from collections.abc import Callable

#: Per entity type: its detector's own ``redact`` (or ``None``) and its ``KEEP_TAIL``. The
#: registry does not change once loaded, and a scan summary redacts every finding: looking the
#: module's attributes up each time (a missing one raises inside ``getattr``) cost more than the
#: masking itself.
_HOW: dict[str, tuple[Callable[[str], object] | None, int | None]] = {}


def mask(value: str, keep_tail: int | None) -> str:
    """``value`` with letters and digits starred, keeping separators, and either the last
    ``keep_tail`` of them or (``None``) the first one.

    >>> mask("4111-1111-1111-1111", 4), mask("山田 太郎", None), mask("100-0001", 0)
    ('****-****-****-1111', '山* **', '***-****')
    """
    alnum_positions = [i for i, ch in enumerate(value) if ch.isalnum()]
    if keep_tail is None:
        keep_idx = set(alnum_positions[:1])
    else:
        keep_idx = set(alnum_positions[len(alnum_positions) - keep_tail :]) if keep_tail else set()
    return "".join(ch if (i in keep_idx or not ch.isalnum()) else "*" for i, ch in enumerate(value))


def redact(entity_type: str, value: str) -> str:
    """Mask a value for display, keeping its shape (separators) and a short tail.

    >>> redact("credit_card", "4111-1111-1111-1111")
    '****-****-****-1111'
    >>> redact("email_address", "taro.yamada@example.co.jp")
    't**********@example.co.jp'
    >>> redact("person_name", "山田 太郎")
    '山* **'
    """
    try:
        own, keep_tail = _HOW[entity_type]
    except KeyError:
        own, keep_tail = _HOW[entity_type] = _how(entity_type)
    if own is not None:
        return str(own(value))
    return mask(value, keep_tail)


def _how(entity_type: str) -> tuple[Callable[[str], object] | None, int | None]:
    from classifiers.detectors import detector_for  # the registry imports the model, which imports us

    module = detector_for(entity_type)
    own = getattr(module, "redact", None)
    return (own if callable(own) else None), getattr(module, "KEEP_TAIL", None)
