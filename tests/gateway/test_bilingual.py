"""The pairs of Japanese and English texts: tables, translator, the check both tables pass."""

from __future__ import annotations

from gateway.bilingual import LANGUAGES, columns, fields, mismatched, translator

PAIRS = {"hello": ("{name} さん、こんにちは", "Hello, {name}"), "bye": ("さようなら", "Goodbye")}


def test_one_table_per_language_with_the_prefix() -> None:
    tables = columns(PAIRS, prefix="greet.")
    assert list(tables) == list(LANGUAGES) == ["ja", "en"]
    assert tables["en"] == {"greet.hello": "Hello, {name}", "greet.bye": "Goodbye"}


def test_translator_falls_back_to_japanese_then_derived_then_the_key() -> None:
    tables = {"ja": {"a": "あ", "b": "{n} 件"}, "en": {"b": "{n} items"}}
    derived = {("c", "en"): "sea"}
    t = translator(tables, "en", derived=lambda key, lang: derived.get((key, lang)))
    assert (t("a"), t("b", n=2), t("c"), t("d")) == ("あ", "2 items", "sea", "d")
    assert translator(tables, "fr")("b", n=1) == "1 件"


def test_mismatched_names_missing_empty_and_different_placeholders() -> None:
    tables = {
        "ja": {"ok": "{n} 件", "fields": "{n} 回", "empty": " ", "only_ja": "あ"},
        "en": {"ok": "{n} items", "fields": "{count}", "empty": "x"},
    }
    assert mismatched(tables) == ["empty", "fields", "only_ja"]
    assert mismatched(columns(PAIRS)) == []
    assert fields("{a} and {b:>3} but {{not}}") == {"a", "b"}
