"""Postal codes: NNN-NNNN with context (〒, 郵便番号, 住所, a prefecture after it)."""

from __future__ import annotations

import pytest

from classifiers.detectors import postal_code
from classifiers.errors import InvalidFormat, InvalidLength
from tests.classifiers.detectors._support import (
    HARD_NEGATIVES,
    assert_exact,
    detector_scan,
    fullwidth,
    only,
    rng,
    scan_engine,
)

LEADS = ("〒", "〒 ", "郵便番号：", "住所 ", "Zip: ", "所在地：〒")


def make(i: int) -> tuple[str, str, str]:
    """(text, written, digits)"""
    r = rng(f"postal-{i}")
    code = f"{r.randint(1, 999):03d}{r.randint(0, 9999):04d}"
    written = f"{code[:3]}-{code[3:]}"
    if i % 4 == 1:
        written = fullwidth(written).replace("－", "ー")
    elif i % 4 == 2:
        written = fullwidth(written)
    elif i % 4 == 3:
        written = written.replace("-", "‐")
    return f"{LEADS[i % len(LEADS)]}{written} 東京都港区芝公園4-2-8", written, code


VALID = [make(i) for i in range(24)]


@pytest.mark.parametrize(("text", "written", "code"), VALID)
def test_valid_codes_found_as_written(text, written, code):
    f = assert_exact(text, detector_scan(postal_code, text), "postal_code", written)
    assert f.normalized == code
    assert f.score >= postal_code.BASE_SCORE
    assert "東京都" in f.explanation.context


def test_unhyphenated_only_after_the_mark():
    assert [f.value for f in detector_scan(postal_code, "〒1000001")] == ["1000001"]
    assert [f.value for f in detector_scan(postal_code, "〒１０００００１")] == ["１０００００１"]
    assert detector_scan(postal_code, "郵便番号 1000001") == []
    assert detector_scan(postal_code, "1000001") == []


def test_context_is_required_and_raises_the_score():
    assert detector_scan(postal_code, "番号 100-0001 です") == []
    by_word = detector_scan(postal_code, "郵便番号 100-0001")[0]
    by_mark = detector_scan(postal_code, "〒100-0001")[0]
    by_prefecture = detector_scan(postal_code, "100-0001 東京都千代田区")[0]
    assert by_word.score == by_prefecture.score == postal_code.BASE_SCORE < by_mark.score
    assert by_mark.explanation.context == ("〒",)


def test_invalid():
    with pytest.raises(InvalidFormat):
        postal_code.validate("000-0001")
    with pytest.raises(InvalidLength):
        postal_code.validate("100-001")
    assert detector_scan(postal_code, "〒000-0001") == []
    assert detector_scan(postal_code, "〒100-00012") == []


@pytest.mark.parametrize("text", [*HARD_NEGATIVES, "住所 電話 03-1234-5678", "〒 請求 123,4567"])
def test_hard_negatives(text):
    assert detector_scan(postal_code, text) == []


def test_engine_with_phone_on_the_same_line():
    text = "〒１００ー０００１ 東京都千代田区千代田1-1 TEL 03-1234-5678"
    found = scan_engine(text)
    assert [(f.type, f.value) for f in only(found, "postal_code")] == [("postal_code", "１００ー０００１")]
    assert [f.value for f in only(found, "phone_number")] == ["03-1234-5678"]
    for text, written, _code in VALID:
        assert [f.value for f in only(scan_engine(text), "postal_code")] == [written]
