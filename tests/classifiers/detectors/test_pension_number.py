"""Basic pension numbers: NNNN-NNNNNN only with a pension word nearby."""

from __future__ import annotations

import pytest

from classifiers.detectors import pension_number
from classifiers.errors import InvalidLength
from tests.classifiers.detectors._support import (
    HARD_NEGATIVES,
    assert_exact,
    detector_scan,
    fullwidth,
    rng,
    scan_engine,
)

LEADS = ("基礎年金番号：", "年金手帳の番号 ", "Pension No. ", "厚生年金 被保険者 ", "基礎年金番号 第")


def make(i: int) -> tuple[str, str, str]:
    r = rng(f"pension-{i}")
    value = f"{r.randint(1000, 9999)}{r.randint(0, 999999):06d}"
    written = f"{value[:4]}-{value[4:]}"
    if i % 4 == 1:
        written = fullwidth(written).replace("－", "ー")
    elif i % 4 == 2:
        written = fullwidth(written)
    elif i % 4 == 3:
        written = f"{value[:4]} {value[4:]}"
    return f"{LEADS[i % len(LEADS)]}{written} 号", written, value


VALID = [make(i) for i in range(24)]


@pytest.mark.parametrize(("text", "written", "value"), VALID)
def test_valid_numbers_found_as_written(text, written, value):
    f = assert_exact(text, detector_scan(pension_number, text), "pension_number", written)
    assert f.normalized == value
    assert f.score == pension_number.BASE_SCORE
    assert f.explanation.context


def test_context_is_required():
    assert detector_scan(pension_number, "1234-567890") == []
    assert detector_scan(pension_number, "会員番号 1234-567890") == []


def test_contiguous_digits_score_lower():
    grouped = detector_scan(pension_number, "年金 1234-567890")[0]
    plain = detector_scan(pension_number, "年金 1234567890")[0]
    assert plain.score == pension_number.PLAIN_SCORE < grouped.score


def test_invalid():
    with pytest.raises(InvalidLength):
        pension_number.validate("1234-56789")
    assert detector_scan(pension_number, "基礎年金番号 1234-56789") == []
    assert detector_scan(pension_number, "基礎年金番号 123-4567890") == []


def test_phone_number_of_the_pension_office_is_a_phone_number():
    found = scan_engine("年金事務所 電話 0570-05-1165 / 03-1234-5678 TEL 0312345678")
    assert [f.type for f in found] == ["phone_number"] * 3


@pytest.mark.parametrize("text", HARD_NEGATIVES)
def test_hard_negatives(text):
    assert detector_scan(pension_number, text) == []


def test_engine():
    for text, written, _value in VALID:
        found = scan_engine(text)
        assert [(f.type, f.value) for f in found] == [("pension_number", written)]


def test_validate_folds_the_dashes_the_scan_folds():
    """Regression: the scan found 基礎年金番号：1234⁃567890 (U+2043 HYPHEN BULLET) but
    ``validate`` rejected the number it had found: two dash-folding rules."""
    (found,) = detector_scan(pension_number, "基礎年金番号：1234⁃567890")
    assert found.value == "1234⁃567890"
    assert pension_number.validate(found.value) == "1234567890"
