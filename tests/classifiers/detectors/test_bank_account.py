"""Bank accounts: 7-digit account (with branch / bank codes) only with banking context."""

from __future__ import annotations

import pytest

from classifiers.detectors import bank_account
from classifiers.errors import InvalidLength
from tests.classifiers.detectors._support import (
    HARD_NEGATIVES,
    assert_exact,
    detector_scan,
    fullwidth,
    only,
    rng,
    scan_engine,
)

LEADS = (
    "口座番号：",
    "普通 ",
    "当座預金 ",
    "振込先 渋谷支店 普通 ",
    "Account No. ",
    "ゆうちょ銀行 記号番号 ",
)


def make(i: int) -> tuple[str, str, str]:
    """(text, written, digits)"""
    r = rng(f"bank-{i}")
    account = f"{r.randint(0, 9999999):07d}"
    kind = i % 4
    if kind == 0:
        written, value = account, account
    elif kind == 1:
        branch = f"{r.randint(0, 999):03d}"
        written, value = f"{branch}-{account}", branch + account
    elif kind == 2:
        bank, branch = f"{r.randint(0, 9999):04d}", f"{r.randint(0, 999):03d}"
        written, value = f"{bank} {branch} {account}", bank + branch + account
    else:
        mark, number = f"1{r.randint(0, 9999):04d}", f"{r.randint(0, 999999):06d}01"
        written, value = f"{mark}-{number}", mark + number
    if i % 3 == 1:
        written = fullwidth(written.replace("-", "ー"))
    lead = LEADS[i % len(LEADS)] if kind != 3 else "ゆうちょ銀行 記号番号 "
    return f"{lead}{written}（名義 ヤマダタロウ）", written, value


VALID = [make(i) for i in range(24)]


@pytest.mark.parametrize(("text", "written", "value"), VALID)
def test_valid_accounts_found_as_written(text, written, value):
    f = assert_exact(text, detector_scan(bank_account, text), "bank_account", written)
    assert f.normalized == value
    assert f.score >= bank_account.BASE_SCORE
    assert f.explanation.validation == "keyword"
    assert f.explanation.context


def test_context_is_required_and_a_label_raises_the_score():
    assert detector_scan(bank_account, "1234567") == []
    assert detector_scan(bank_account, "会員 1234567") == []
    word = detector_scan(bank_account, "普通 1234567")[0]
    label = detector_scan(bank_account, "口座番号 1234567")[0]
    assert word.score == bank_account.BASE_SCORE < label.score == bank_account.LABEL_SCORE


def test_invalid_lengths():
    with pytest.raises(InvalidLength):
        bank_account.validate("123456")
    assert detector_scan(bank_account, "口座番号 123456") == []
    assert detector_scan(bank_account, "口座番号 12345678") == []


@pytest.mark.parametrize("text", HARD_NEGATIVES)
def test_hard_negatives(text):
    assert detector_scan(bank_account, text) == []


def test_engine_transfer_details():
    text = "【振込先】みずほ銀行（0001） 渋谷支店（210） 普通預金 口座番号 １２３４５６７ 電話 03-1234-5678"
    found = scan_engine(text)
    assert [f.value for f in only(found, "bank_account")] == ["１２３４５６７"]
    assert [f.value for f in only(found, "phone_number")] == ["03-1234-5678"]
    for text, written, _value in VALID:
        assert [f.value for f in only(scan_engine(text), "bank_account")] == [written]
