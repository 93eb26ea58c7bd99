"""Texts people read, in Japanese and English, kept as pairs (``key: (ja, en)``): the tables,
the translator over them and the check that both languages say the same thing.

Pure and stateless: the quarantine UI (:mod:`quarantine_ui.i18n`) and the download listener
(:mod:`gateway.links.texts`) each build their own tables from their own pairs with these
functions; they share this code, never a table or anything at run time. Messages are
``str.format`` templates; the pages escape what they return.

>>> tables = columns({"left": ("{n} 回", "{n} left")}, prefix="links.")
>>> tables["en"]
{'links.left': '{n} left'}
>>> t = translator(tables, "ja")
>>> t("links.left", n=3), t("no.such.key")
('3 回', 'no.such.key')
>>> mismatched({"ja": {"a": "{n} 件", "b": "{n} 回"}, "en": {"a": "{n} items", "b": "{count}"}})
['b']
"""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping

#: Japanese first: the language every table falls back to.
LANGUAGES = ("ja", "en")

Pairs = Mapping[str, tuple[str, str]]
Tables = Mapping[str, Mapping[str, str]]
Translator = Callable[..., str]


def columns(pairs: Pairs, *, prefix: str = "") -> dict[str, dict[str, str]]:
    """One table per language from ``pairs``, each key after ``prefix``."""
    return {lang: {prefix + k: v[i] for k, v in pairs.items()} for i, lang in enumerate(LANGUAGES)}


def translator(
    tables: Tables, lang: str, *, derived: Callable[[str, str], str | None] | None = None
) -> Translator:
    """``t(key, **values)`` in ``lang``: its table, else the Japanese one, else ``derived(key,
    lang)`` (entries that live elsewhere), else the key itself."""
    table = tables.get(lang, tables[LANGUAGES[0]])
    first = tables[LANGUAGES[0]]

    def t(key: str, **values: object) -> str:
        text = table.get(key) or first.get(key) or (derived(key, lang) if derived else None) or key
        return text.format(**values) if values else text

    return t


def fields(text: str) -> frozenset[str]:
    """The ``{placeholders}`` of a message."""
    return frozenset(name for _, name, _, _ in string.Formatter().parse(text) if name)


def mismatched(tables: Tables) -> list[str]:
    """The keys that are missing or empty in a language, or whose placeholders differ between
    languages (sorted; ``[]`` when the tables agree)."""
    keys = set().union(*(set(t) for t in tables.values()))
    return sorted(
        key
        for key in keys
        if any(not (t.get(key) or "").strip() for t in tables.values())
        or len({fields(t.get(key) or "") for t in tables.values()}) > 1
    )


__all__ = ["LANGUAGES", "Pairs", "Tables", "Translator", "columns", "fields", "mismatched", "translator"]
