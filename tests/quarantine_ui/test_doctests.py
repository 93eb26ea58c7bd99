"""Run the doctests of quarantine_ui (pytest's --doctest-modules covers only classifiers/ and policies/)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import quarantine_ui

MODULES = sorted(m.name for m in pkgutil.walk_packages(quarantine_ui.__path__, "quarantine_ui."))


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), raise_on_error=False, verbose=False)
    assert result.failed == 0
