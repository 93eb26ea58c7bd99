"""Japanese passport numbers: two letters + seven digits; context raises the score."""

from __future__ import annotations

import string

import pytest

from classifiers.detectors import passport_number
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

LEADS = ("旅券番号：", "パスポート番号 ", "Passport No. ", "旅券（", "パスポート: ")


def make(i: int) -> str:
    r = rng(f"passport-{i}")
    return r.choice("TM") + r.choice(string.ascii_uppercase) + f"{r.randint(0, 9999999):07d}"


VALID = [make(i) for i in range(24)]


@pytest.mark.parametrize(("i", "number"), list(enumerate(VALID)))
def test_valid_numbers_found_as_written(i, number):
    written = fullwidth(number) if i % 3 == 1 else number
    text = f"{LEADS[i % len(LEADS)]}{written}）"
    f = assert_exact(text, detector_scan(passport_number, text), "passport_number", written)
    assert f.normalized == number
    assert f.score == passport_number.CONTEXT_SCORE


def test_shape_alone_scores_low():
    f = detector_scan(passport_number, "TK1234567")[0]
    assert f.score == passport_number.BASE_SCORE < 0.5
    assert f.explanation.context == ()


@pytest.mark.parametrize(
    "text",
    [
        "旅券番号 TK123456",
        "旅券番号 TK12345678",
        "旅券番号 T1234567",
        "旅券番号 TKA1234567",
        "旅券番号 tk1234567",
        "型番 AB1234567",
        "注文 ZX1234567",
        *HARD_NEGATIVES,
    ],
)
def test_not_passport_numbers(text):
    assert detector_scan(passport_number, text) == []


def test_validate():
    assert passport_number.validate("tk 1234567") == "TK1234567"
    with pytest.raises(InvalidLength):
        passport_number.validate("TK123456")
    with pytest.raises(InvalidFormat):
        passport_number.validate("T11234567")


def test_engine():
    text = "\n".join(f"{LEADS[i % len(LEADS)]}{n}" for i, n in enumerate(VALID))
    found = only(scan_engine(text), "passport_number")
    assert [f.value for f in found] == VALID
    assert {f.type for f in scan_engine("パスポート TK1234567 有効期限 2030-01-01")} == {"passport_number"}


def test_knowledge_base_articles_are_not_passports():
    assert detector_scan(passport_number, "更新プログラム KB5034441 を適用してください") == []
    assert detector_scan(passport_number, "旅券番号 KB5034441") != []
