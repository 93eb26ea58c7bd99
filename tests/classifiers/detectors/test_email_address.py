"""Email addresses: a table of positives and hard negatives, then the same through the engine."""

from __future__ import annotations

import pytest

from classifiers.detectors import email_address as det
from classifiers.engine import default_engine

POSITIVES: list[tuple[str, list[str], float]] = [
    ("taro@example.co.jp", ["taro@example.co.jp"], 0.9),
    ("連絡先:taro@example.co.jp まで", ["taro@example.co.jp"], 1.0),
    ("連絡先:taro@example.co.jpまでお願いします", ["taro@example.co.jp"], 1.0),
    ("メールはhanako.yamada+sales@mail.example.comへ。", ["hanako.yamada+sales@mail.example.com"], 1.0),
    ("ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ", ["ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ"], 0.9),
    ("Contact: o'brien_j@sub-domain.example.org.", ["o'brien_j@sub-domain.example.org"], 0.9),
    ("宛先 user@例え.テスト.jp です", ["user@例え.テスト.jp"], 0.9),
    ("puny: info@xn--eckwd4c7c.xn--zckzah", ["info@xn--eckwd4c7c.xn--zckzah"], 0.9),
    ("a@b.jp, c@d.com", ["a@b.jp", "c@d.com"], 0.9),
]

NEGATIVES = [
    "taro..yamada@example.jp",
    "@example.jp",
    "taro@",
    "taro@localhost",
    "cid:image001.png@01D9A1B2.C3D4E5F0",
    "taro@-example.jp",
    "price 3@500円",
    "user@example.123",
]


@pytest.mark.parametrize(("text", "values", "min_score"), POSITIVES)
def test_positives(text: str, values: list[str], min_score: float) -> None:
    found = list(det.scan(text))
    assert [f.value for f in found] == values
    assert all(f.score >= min_score for f in found)
    assert all(f.explanation.validation == "format" for f in found)


@pytest.mark.parametrize("text", NEGATIVES)
def test_hard_negatives(text: str) -> None:
    assert list(det.scan(text)) == []


@pytest.mark.parametrize(("text", "values", "min_score"), POSITIVES)
def test_engine_value_is_the_original_text(text: str, values: list[str], min_score: float) -> None:
    found = [f for f in default_engine().scan_text(text) if f.type == det.ENTITY_TYPE]
    assert [f.value for f in found] == values
    for f in found:
        assert text[f.span[0] : f.span[1]] == f.value


def test_normalized_form_compares_case_insensitively() -> None:
    (a,) = det.scan("Taro@Example.JP")
    (b,) = det.scan("taro@example.jp")
    assert a.normalized == b.normalized == "taro@example.jp"


def test_validate_limits() -> None:
    assert det.is_valid("a" * 64 + "@example.jp")
    assert not det.is_valid("a" * 65 + "@example.jp")
    assert not det.is_valid("taro@example.j1")


def test_hostile_input_is_bounded() -> None:
    for text in ("a" * 50_000, "a." * 25_000 + "@", "a@" + "b." * 25_000, "@" * 50_000):
        assert all(det.is_valid(f.value) for f in det.scan(text))
