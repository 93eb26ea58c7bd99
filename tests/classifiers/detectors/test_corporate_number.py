"""Corporate number / invoice registration number: table-driven, numbers made with the 財務省令 formula."""

from __future__ import annotations

import pytest

from classifiers.detectors import corporate_number
from classifiers.errors import InvalidChecksum, InvalidFormat, InvalidLength
from tests.classifiers.detectors._support import (
    HARD_NEGATIVES,
    assert_exact,
    detector_scan,
    fullwidth,
    only,
    rng,
    scan_engine,
    written_forms,
)


def check_digit(base12: str) -> str:
    """平成26年財務省令第70号 第2条: 9 - (Σ P(n)·Q(n) mod 9), Q = 1 for odd n, 2 for even n from the right."""
    total = sum(int(d) * (2 if n % 2 == 0 else 1) for n, d in enumerate(reversed(base12), start=1))
    return str(9 - total % 9)


def make(seed: int) -> str:
    r = rng(f"corp-{seed}")
    base = "".join(r.choice("0123456789") for _ in range(12))
    return check_digit(base) + base


VALID = [make(i) for i in range(24)]


def test_published_examples():
    # The NTA / 日本税理士会連合会 example and a company's published number.
    assert corporate_number.validate("7010705000725") == "7010705000725"
    assert corporate_number.validate("4011001098993") == "4011001098993"
    assert check_digit("123456789012") == "7"


@pytest.mark.parametrize(("i", "number"), list(enumerate(VALID)))
def test_valid_numbers_found_as_written(i, number):
    written = list(written_forms(number, (1, 4, 4, 4), len(VALID)))[i]
    if i % 3 == 2:
        written = number if i % 2 else fullwidth(number)
    text = f"取引先の法人番号は{written}です。"
    f = assert_exact(text, detector_scan(corporate_number, text), "corporate_number", written)
    assert f.normalized == number
    assert f.score == corporate_number.CONTEXT_SCORE
    assert f.explanation.validation == "checksum"
    assert "法人番号" in f.explanation.context


@pytest.mark.parametrize("number", VALID[:8])
def test_invoice_registration_number(number):
    for written in (f"T{number}", fullwidth(f"T{number}")):
        text = f"適格請求書発行事業者登録番号：{written}"
        f = assert_exact(text, detector_scan(corporate_number, text), "corporate_number", written)
        assert f.normalized == number
        assert "invoice" in f.explanation.pattern
    bare = f"請求書 T{number} 発行"
    assert (
        only(detector_scan(corporate_number, bare), "corporate_number")[0].score
        == corporate_number.INVOICE_SCORE
    )


@pytest.mark.parametrize("number", VALID[:20])
def test_failing_check_digit_is_dropped(number):
    wrong = str(int(number[0]) % 9 + 1) + number[1:]
    assert not corporate_number.is_valid(wrong)
    assert detector_scan(corporate_number, f"法人番号 {wrong}") == []


def test_validate_errors():
    with pytest.raises(InvalidLength):
        corporate_number.validate("701070500072")
    with pytest.raises(InvalidChecksum):
        corporate_number.validate("8010705000725")
    with pytest.raises(InvalidFormat):
        corporate_number.validate("70107050007X5")
    with pytest.raises(InvalidFormat):
        corporate_number.validate("0" + "010705000725")


def test_context_raises_the_score():
    number = VALID[0]
    plain = detector_scan(corporate_number, f"参考 {number}")
    labelled = detector_scan(corporate_number, f"法人番号 {number}")
    assert plain[0].score == corporate_number.BASE_SCORE < labelled[0].score
    assert plain[0].explanation.context == ()


def ean13(payload12: str) -> str:
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(payload12))
    return payload12 + str((10 - total % 10) % 10)


def test_jan_codes_are_not_corporate_numbers():
    r = rng("jan")
    for prefix in ("45", "49"):
        found = 0
        while found < 10:
            code = ean13(prefix + "".join(r.choice("0123456789") for _ in range(10)))
            if corporate_number.is_valid(code):  # passes both checks: only the barcode reading is kept
                found += 1
                assert detector_scan(corporate_number, f"商品 {code}") == []
                assert detector_scan(corporate_number, f"法人番号 {code}") != []


@pytest.mark.parametrize("text", HARD_NEGATIVES)
def test_hard_negatives(text):
    assert detector_scan(corporate_number, text) == []


def test_engine_never_reports_a_corporate_number_as_my_number():
    for number in VALID:
        found = scan_engine(f"法人番号 {number} / 個人番号欄 {number}")
        assert {f.type for f in found} == {"corporate_number"}, found


def test_engine_finds_both_forms_in_one_text():
    a, b = VALID[1], VALID[2]
    text = f"法人番号：{fullwidth(a)}\n登録番号：T{b}\n"
    found = only(scan_engine(text), "corporate_number")
    assert [f.normalized for f in found] == [a, b]
    assert [text[f.span[0] : f.span[1]] for f in found] == [fullwidth(a), f"T{b}"]
