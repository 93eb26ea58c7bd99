"""Driver's licence numbers: commission code, mod-11 check digit (weights 5432765432), context."""

from __future__ import annotations

import pytest

from classifiers.detectors import drivers_license
from classifiers.errors import InvalidChecksum, InvalidFormat, InvalidLength
from tests.classifiers.detectors._support import (
    HARD_NEGATIVES,
    assert_exact,
    detector_scan,
    only,
    rng,
    scan_engine,
    written_forms,
)

CODES = [10, 11, 12, 13, 14, 20, 21, 22, 23, 24, 25, 30, *range(40, 56), *range(60, 66)]
CODES += [*range(70, 75), *range(80, 84), *range(90, 98)]


def check_digit(first10: str) -> str:
    """(11 - (5a+4b+3c+2d+7e+6f+5g+4h+3i+2j) mod 11) mod 10, as documented by T. Uehara."""
    total = sum(int(d) * w for d, w in zip(first10, (5, 4, 3, 2, 7, 6, 5, 4, 3, 2), strict=True))
    return str((11 - total % 11) % 10)


def make(i: int) -> str:
    r = rng(f"licence-{i}")
    first10 = f"{r.choice(CODES)}{r.randint(0, 99):02d}{r.randint(0, 999999):06d}"
    return first10 + check_digit(first10) + str(r.choice((0, 0, 0, 1, 2)))


VALID = [make(i) for i in range(24)]
LEADS = ("運転免許証番号：", "免許証 第", "Driver's License No. ", "運転免許証の番号は")


def test_published_example():
    assert check_digit("4598033587") == "2"  # the worked example of the public sources
    assert drivers_license.validate("459803358720") == "459803358720"


@pytest.mark.parametrize(("i", "number"), list(enumerate(VALID)))
def test_valid_numbers_found_as_written(i, number):
    written = list(written_forms(number, (4, 4, 4), len(VALID)))[i]
    text = f"{LEADS[i % len(LEADS)]}{written}号"
    f = assert_exact(text, detector_scan(drivers_license, text), "drivers_license", written)
    assert f.normalized == number
    assert f.score == drivers_license.BASE_SCORE
    assert f.explanation.validation == "checksum"


@pytest.mark.parametrize("number", VALID[:20])
def test_failing_check_digit_is_dropped(number):
    wrong = number[:10] + str((int(number[10]) + 1) % 10) + number[11]
    with pytest.raises(InvalidChecksum):
        drivers_license.validate(wrong)
    assert detector_scan(drivers_license, f"運転免許証番号 {wrong}") == []


def test_unknown_commission_code_and_length():
    first10 = "9901234567"
    with pytest.raises(InvalidFormat):
        drivers_license.validate(first10 + check_digit(first10) + "0")
    with pytest.raises(InvalidLength):
        drivers_license.validate("30012345671")


def test_context_is_required():
    number = VALID[0]
    assert detector_scan(drivers_license, number) == []
    assert detector_scan(drivers_license, f"番号 {number}") == []
    assert detector_scan(drivers_license, f"免許 {number}") != []


@pytest.mark.parametrize("text", HARD_NEGATIVES)
def test_hard_negatives(text):
    assert detector_scan(drivers_license, text) == []


def test_engine_licence_context_is_not_my_number():
    for number in VALID:
        text = f"運転免許証 {number[:4]}-{number[4:8]}-{number[8:]}"
        found = scan_engine(text)
        assert [f.type for f in found] == ["drivers_license"], found
    row = f"免許証 {VALID[1]} {VALID[2]}"
    assert [f.normalized for f in only(scan_engine(row), "drivers_license")] == [VALID[1], VALID[2]]
