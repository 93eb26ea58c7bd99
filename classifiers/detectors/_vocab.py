"""Vocabularies kept as data files in ``classifiers/data/``, each read once per process.

A vocabulary file holds one entry per line; blank lines and lines starting with ``#`` (the
header that names the file's source and licence) are skipped. Tab-separated files keep their
columns. Sources and licences: ``classifiers/data/NOTICE``.
"""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def lines(name: str) -> tuple[str, ...]:
    """The entries of ``classifiers/data/<name>``, in file order.

    >>> "送り状" in lines("negative_labels.txt")
    True
    """
    text = resources.files("classifiers").joinpath("data", name).read_text(encoding="utf-8")
    return tuple(s for s in (raw.strip() for raw in text.splitlines()) if s and not s.startswith("#"))


@cache
def rows(name: str) -> tuple[tuple[str, ...], ...]:
    """The tab-separated rows of ``classifiers/data/<name>``."""
    return tuple(tuple(line.split("\t")) for line in lines(name))
