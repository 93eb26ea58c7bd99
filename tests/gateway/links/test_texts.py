"""The download pages' texts: both languages, the same placeholders."""

from __future__ import annotations

import re

import pytest

from gateway.bilingual import mismatched
from gateway.links.texts import TABLES, TEXTS, translator


def test_both_languages_with_the_same_placeholders() -> None:
    assert mismatched(TABLES) == []


@pytest.mark.parametrize("key", sorted(TEXTS))
def test_japanese_is_japanese_and_english_is_not(key: str) -> None:
    ja, en = TEXTS[key]
    assert ja != en or key == "switch"
    assert re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", ja) or key == "switch"


def test_every_key_the_page_uses_exists() -> None:
    from pathlib import Path

    page = (Path(__file__).parents[3] / "gateway" / "links" / "templates" / "download.html").read_text()
    used = set(re.findall(r"t\(\"([a-z_]+(?:\.[a-z_]+)*)\"", page))
    used |= {f"gone.{why}" for why in ("expired", "revoked", "exhausted")}
    used |= {"code.locked", "code.too_many", "code.none", "code.wrong", "code.void", "download.expired"}
    assert used <= set(TEXTS)
    assert translator("en")("left.value", n=3) == "3" and translator("ja")("left.value", n=3) == "3 回"
