"""The download pages' texts: both languages, the same placeholders."""

from __future__ import annotations

import re
import string

import pytest

from gateway.links.texts import TEXTS, translator


@pytest.mark.parametrize("key", sorted(TEXTS))
def test_both_languages_with_the_same_placeholders(key: str) -> None:
    ja, en = TEXTS[key]
    assert (ja and en and ja != en) or key == "switch"
    fields = [{f for _, f, _, _ in string.Formatter().parse(text) if f} for text in (ja, en)]
    assert fields[0] == fields[1]
    assert re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", ja) or key == "switch"


def test_every_key_the_page_uses_exists() -> None:
    from pathlib import Path

    page = (Path(__file__).parents[3] / "gateway" / "links" / "templates" / "download.html").read_text()
    used = set(re.findall(r"t\(\"([a-z_]+(?:\.[a-z_]+)*)\"", page))
    used |= {f"gone.{why}" for why in ("expired", "revoked", "exhausted")}
    used |= {"code.locked", "code.too_many", "code.none", "code.wrong", "code.void", "download.expired"}
    assert used <= set(TEXTS)
    assert translator("en")("left.value", n=3) == "3" and translator("ja")("left.value", n=3) == "3 回"
