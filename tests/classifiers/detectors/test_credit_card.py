"""Credit card numbers: Luhn (ISO/IEC 7812-1 Annex B) over the networks' published IIN ranges."""

from __future__ import annotations

import pytest

from classifiers.detectors import credit_card
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


def luhn_digit(payload: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(payload)):
        d = int(ch)
        if (
            i % 2 == 0
        ):  # doubled: these become every second digit from the right once the check digit is added
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return str((10 - total % 10) % 10)


#: (network, prefix, length, grouping)
NETWORKS = [
    ("Visa", "4", 16, (4, 4, 4, 4)),
    ("Visa", "4", 19, (4, 4, 4, 4, 3)),
    ("Mastercard", "53", 16, (4, 4, 4, 4)),
    ("Mastercard", "2221", 16, (4, 4, 4, 4)),
    ("Mastercard", "2720", 16, (4, 4, 4, 4)),
    ("American Express", "34", 15, (4, 6, 5)),
    ("American Express", "37", 15, (4, 6, 5)),
    ("JCB", "3528", 16, (4, 4, 4, 4)),
    ("JCB", "3589", 16, (4, 4, 4, 4)),
    ("Diners Club", "36", 14, (4, 6, 4)),
    ("Diners Club", "3095", 14, (4, 6, 4)),
    ("Discover", "6011", 16, (4, 4, 4, 4)),
    ("Discover", "65", 16, (4, 4, 4, 4)),
    ("UnionPay", "62", 16, (4, 4, 4, 4)),
]


def make(i: int) -> tuple[str, str, tuple[int, ...]]:
    network, prefix, length, sizes = NETWORKS[i % len(NETWORKS)]
    r = rng(f"card-{i}")
    payload = prefix + "".join(r.choice("0123456789") for _ in range(length - len(prefix) - 1))
    return network, payload + luhn_digit(payload), sizes


VALID = [make(i) for i in range(28)]


def test_known_test_numbers():
    for number in (
        "4111111111111111",
        "5555555555554444",
        "378282246310005",
        "3530111333300000",
        "6011111111111117",
    ):
        assert credit_card.validate(number) == number
    assert luhn_digit("411111111111111") == "1"


@pytest.mark.parametrize(("i", "case"), list(enumerate(VALID)))
def test_valid_numbers_found_as_written(i, case):
    network, number, sizes = case
    written = list(written_forms(number, sizes, len(VALID)))[i]
    text = f"お支払いカード番号：{written}（有効期限 12/28）"
    f = assert_exact(text, detector_scan(credit_card, text), "credit_card", written)
    assert f.normalized == number
    assert f.score == credit_card.CONTEXT_SCORE
    assert network in f.explanation.pattern
    assert credit_card.issuer(number) == network


@pytest.mark.parametrize(("network", "number", "sizes"), VALID[:20])
def test_failing_luhn_is_dropped(network, number, sizes):
    wrong = number[:-1] + str((int(number[-1]) + 1) % 10)
    with pytest.raises(InvalidChecksum):
        credit_card.validate(wrong)
    assert detector_scan(credit_card, f"カード番号 {wrong}") == []


@pytest.mark.parametrize(
    "payload",
    [
        "1234567890123456",
        "9111111111111111",
        "2220999999999999",
        "2721000000000000",
        "3527000000000000",
        "5612345678901234",
    ],
)
def test_outside_issuer_ranges_is_dropped(payload):
    number = payload[:-1] + luhn_digit(payload[:-1])
    with pytest.raises(InvalidFormat):
        credit_card.validate(number)
    assert detector_scan(credit_card, f"カード番号 {number}") == []


def test_wrong_length_for_network():
    visa15 = "41111111111111"
    visa15 += luhn_digit(visa15)
    with pytest.raises(InvalidFormat):
        credit_card.validate(visa15)
    with pytest.raises(InvalidLength):
        credit_card.validate("4111 1111 1111")


def test_context_raises_the_score():
    number = VALID[0][1]
    plain = detector_scan(credit_card, f"番号 {number}")
    labelled = detector_scan(credit_card, f"VISA {number}")
    assert plain[0].score == credit_card.BASE_SCORE < labelled[0].score
    assert labelled[0].explanation.context == ("VISA",)


@pytest.mark.parametrize(
    "text", [*HARD_NEGATIVES, "注文番号 4111111111111111", "tracking 4111-1111-1111-1111"]
)
def test_hard_negatives(text):
    assert detector_scan(credit_card, text) == []


def test_four_cards_in_a_space_separated_row():
    numbers = [VALID[0][1], VALID[7][1]]  # Visa, JCB
    text = "カード: " + " ".join(f"{n[:4]}-{n[4:8]}-{n[8:12]}-{n[12:]}" for n in numbers)
    found = only(scan_engine(text), "credit_card")
    assert [f.normalized for f in found] == numbers
    # Spaces as separators inside a number: a longer digit run is not split into a shorter card.
    spaced = " ".join(numbers[0][i : i + 4] for i in range(0, 16, 4))
    assert only(scan_engine(f"カード {spaced} 1234"), "credit_card") == []


def test_engine_reports_only_credit_card():
    for _network, number, sizes in VALID:
        written = "-".join(number[sum(sizes[:k]) : sum(sizes[: k + 1])] for k in range(len(sizes)))
        text = f"クレジットカード {written} でお支払い"
        found = scan_engine(text)
        assert [(f.type, f.value) for f in found] == [("credit_card", written)]
