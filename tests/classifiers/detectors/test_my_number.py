"""My Number: 総務省令第85号 第5条 check digit, 4-4-4 or contiguous, context and negatives."""

from __future__ import annotations

import pytest

from classifiers.detectors import my_number
from classifiers.errors import InvalidChecksum, InvalidLength
from tests.classifiers.detectors._support import (
    HARD_NEGATIVES,
    assert_exact,
    detector_scan,
    only,
    rng,
    scan_engine,
    written_forms,
)


def check_digit(first11: str) -> str:
    total = sum(int(d) * (n + 1 if n <= 6 else n - 5) for n, d in enumerate(reversed(first11), start=1))
    r = total % 11
    return "0" if r <= 1 else str(11 - r)


def make(i: int) -> str:
    r = rng(f"mynumber-{i}")
    first11 = "".join(r.choice("0123456789") for _ in range(11))
    return first11 + check_digit(first11)


VALID = [make(i) for i in range(24)]


@pytest.mark.parametrize(("i", "number"), list(enumerate(VALID)))
def test_valid_numbers_found_as_written(i, number):
    written = list(written_forms(number, (4, 4, 4), len(VALID)))[i]
    text = f"個人番号（マイナンバー）：{written}"
    f = assert_exact(text, detector_scan(my_number, text), "my_number", written)
    assert f.normalized == number
    assert f.score == my_number.CONTEXT_SCORE


@pytest.mark.parametrize("number", VALID[:20])
def test_failing_check_digit_is_dropped(number):
    wrong = number[:11] + str((int(number[11]) + 1) % 10)
    with pytest.raises(InvalidChecksum):
        my_number.validate(wrong)
    assert detector_scan(my_number, f"個人番号 {wrong}") == []


def test_context_raises_the_score():
    plain = detector_scan(my_number, VALID[0])[0]
    assert plain.score == my_number.BASE_SCORE < 1.0
    with pytest.raises(InvalidLength):
        my_number.validate(VALID[0] + "1")


@pytest.mark.parametrize(
    "template",
    ["注文番号 {}", "運転免許証 {}", "基礎年金 {}", "口座 {}", "TEL {}", "JAN {}", "会員番号 {}"],
)
def test_other_numbers_are_not_my_numbers(template):
    for number in VALID[:5]:
        assert detector_scan(my_number, template.format(number)) == []


def test_january_is_not_a_jan_code():
    assert detector_scan(my_number, f"January {VALID[0]}") != []


@pytest.mark.parametrize("text", HARD_NEGATIVES)
def test_hard_negatives(text):
    assert detector_scan(my_number, text) == []


def test_row_of_a_space_separated_table():
    a, b = VALID[3], VALID[4]
    text = f"個人番号 {a[:4]}-{a[4:8]}-{a[8:]} 090-1234-5678 {b}"
    found = scan_engine(text)
    assert [f.normalized for f in only(found, "my_number")] == [a, b]
    assert [f.value for f in only(found, "phone_number")] == ["090-1234-5678"]
    # A longer space-grouped number is not cut into a My Number.
    spaced = f"{a[:4]} {a[4:8]} {a[8:]} 1234"
    assert only(scan_engine(f"個人番号 {spaced}"), "my_number") == []


def test_engine():
    for number in VALID:
        text = f"マイナンバー {number[:4]} {number[4:8]} {number[8:]}"
        assert [(f.type, f.normalized) for f in scan_engine(text)] == [("my_number", number)]


def test_label_with_small_numbers_still_labels():
    number = VALID[6]
    assert detector_scan(my_number, f"運転免許証番号（12桁）：{number}") == []
    assert detector_scan(my_number, f"個人番号（12桁）：{number}")[0].score == my_number.CONTEXT_SCORE
