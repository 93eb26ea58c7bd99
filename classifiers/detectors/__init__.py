"""Detector registry: every module in this package with the detector interface is one entity type.

Adding a type is adding a file (see :mod:`classifiers.detectors._base` for the interface).
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import lru_cache
from types import ModuleType

from classifiers.detectors._base import Detector


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


__all__ = ["all_detectors"]
