"""Detector registry: every module in this package with the detector interface is one entity type.

Adding a type is adding a file (see :mod:`classifiers.detectors._base` for the interface). What
the rest of Sekimori knows about a type comes from its module, so nothing else is edited:

- the list of types (scan output, policy validation, the UI): :func:`entity_types`;
- its display names, Japanese and English, from the first line of the module's docstring
  (python-stdnum takes a format's name from there), written ``English name (日本語名, …).``:
  :func:`display_name`;
- whether it counts towards ``records`` (``PERSONAL = True``): :func:`personal_types`; whether
  only a natural person has one (``PERSON_ONLY = True``; the other personal types are contact
  data a company has too, see :mod:`classifiers.holders`): :func:`person_only_types`;
- how a value is masked for display (``redact(value)``, or ``KEEP_TAIL`` characters kept at
  the end, else only the first character): :func:`classifiers.redact.redact`.

>>> display_name("my_number", "ja"), display_name("my_number", "en")
('マイナンバー', 'My Number')
>>> "my_number" in personal_types(), "corporate_number" in personal_types()
(True, False)
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from functools import lru_cache
from types import ModuleType

import regex

from classifiers.detectors._base import Detector

#: Called by :func:`refresh` (the engine drops its compiled passes).
_on_refresh: list[Callable[[], None]] = []

_NAME_LINE = regex.compile(r"^\s*(?P<en>[^(\n]+?)\s*\((?P<ja>[^,:;)]+)")


@lru_cache(maxsize=1)
def all_detectors() -> tuple[ModuleType, ...]:
    """Every detector module, ordered by ``PRIORITY`` then name."""
    found: list[ModuleType] = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if isinstance(module, Detector):
            found.append(module)
    return tuple(sorted(found, key=lambda m: (m.PRIORITY, m.__name__)))


def refresh() -> None:
    """Discover the detectors again, after a module was added to this package's path."""
    all_detectors.cache_clear()
    _by_type.cache_clear()
    for hook in _on_refresh:
        hook()


def on_refresh(hook: Callable[[], None]) -> None:
    _on_refresh.append(hook)


@lru_cache(maxsize=1)
def _by_type() -> dict[str, ModuleType]:
    return {m.ENTITY_TYPE: m for m in all_detectors()}


def detector_for(entity_type: str) -> ModuleType | None:
    return _by_type().get(entity_type)


def entity_types() -> tuple[str, ...]:
    """Every entity type, by name."""
    return tuple(sorted(_by_type()))


def personal_types() -> frozenset[str]:
    """The types that identify or describe a natural person (they count towards ``records``)."""
    return frozenset(t for t, m in _by_type().items() if getattr(m, "PERSONAL", False))


def person_only_types() -> frozenset[str]:
    """The personal types only a natural person has (My Number, a name, a licence...)."""
    return frozenset(t for t, m in _by_type().items() if getattr(m, "PERSON_ONLY", False))


def names_of(module: ModuleType) -> tuple[str, str]:
    """``(japanese, english)`` from the first docstring line ``English name (日本語名, …).``;
    the type's own name for both when the line does not say.

    >>> from classifiers.detectors import postal_code
    >>> names_of(postal_code)
    ('郵便番号', 'Postal code')
    """
    first = (module.__doc__ or "").strip().splitlines()[:1]
    found = _NAME_LINE.match(first[0]) if first else None
    if found is None:
        return module.ENTITY_TYPE, module.ENTITY_TYPE
    return found["ja"].strip(), found["en"].strip()


def display_name(entity_type: str, lang: str) -> str:
    """The name people read for a type (``lang`` ``ja`` or ``en``); an unknown type is shown
    as it is."""
    module = detector_for(entity_type)
    if module is None:
        return entity_type
    ja, en = names_of(module)
    return ja if lang == "ja" else en


__all__ = [
    "all_detectors",
    "detector_for",
    "display_name",
    "entity_types",
    "names_of",
    "on_refresh",
    "person_only_types",
    "personal_types",
    "refresh",
]
