"""Phone numbers: shapes of the 総務省 numbering plan (10 or 11 digits by prefix), no checksum."""

from __future__ import annotations

import pytest

from classifiers.detectors import phone_number
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

ELEVEN_DIGIT_PREFIXES = ("020", "050", "060", "070", "080", "090")


def digits(r, n: int) -> str:
    return "".join(r.choice("0123456789") for _ in range(n))


def make(i: int) -> tuple[str, str]:
    """(written form, national number), cycling through families and ways of writing."""
    r = rng(f"phone-{i}")
    kind = i % 12
    if kind in (0, 1, 2, 3):  # fixed line: area code of 2-5 digits (with the 0), 10 digits in all
        alen = 2 + kind
        while True:
            area = "0" + r.choice("123456789") + digits(r, alen - 2)
            if area[:3] not in ELEVEN_DIGIT_PREFIXES and area[:4] not in ("0120", "0570", "0800", "0990"):
                break
        local, line = digits(r, 6 - alen), digits(r, 4)
        national = area + local + line
        forms = [
            f"{area}-{local}-{line}",
            f"({area}){local}-{line}",
            f"{area}({local}){line}",
            f"{area} {local} {line}",
        ]
        written = forms[i // 12 % len(forms)]
    elif kind in (4, 5, 6):  # mobile
        prefix = ("090", "080", "070")[kind - 4]
        national = prefix + digits(r, 8)
        written = [
            f"{prefix}-{national[3:7]}-{national[7:]}",
            national,
            f"{prefix}.{national[3:7]}.{national[7:]}",
        ][i // 12 % 3]
    elif kind == 7:  # IP phone
        national = "050" + digits(r, 8)
        written = f"050-{national[3:7]}-{national[7:]}"
    elif kind == 8:  # free dial
        national = "0120" + digits(r, 6)
        written = f"0120-{national[4:7]}-{national[7:]}"
    elif kind == 9:
        national = "0800" + digits(r, 7)
        written = f"0800-{national[4:7]}-{national[7:]}"
    elif kind == 10:  # +81 fixed line
        national = "03" + digits(r, 8)
        written = [f"+81-3-{national[2:6]}-{national[6:]}", f"+81 3 {national[2:6]} {national[6:]}"][
            i // 12 % 2
        ]
    else:  # +81 mobile
        national = "090" + digits(r, 8)
        written = [f"+81 90 {national[3:7]} {national[7:]}", f"+81-(0)90-{national[3:7]}-{national[7:]}"][
            i // 12 % 2
        ]
    if i % 5 == 1:
        written = fullwidth(written).replace("－", "ー")
    elif i % 5 == 3:
        written = fullwidth(written)
    return written, national


VALID = [make(i) for i in range(36)]


@pytest.mark.parametrize(("written", "national"), VALID)
def test_valid_numbers_found_as_written(written, national):
    text = f"ご連絡は TEL：{written} まで"
    f = assert_exact(text, detector_scan(phone_number, text), "phone_number", written)
    assert f.normalized == national
    assert f.score >= phone_number.PLAIN_CONTEXT_SCORE
    assert f.explanation.validation == "format"
    assert f.explanation.context == ("TEL",)


@pytest.mark.parametrize(
    ("written", "error"),
    [
        ("090-1234-567", InvalidLength),  # mobile needs 11 digits
        ("03-1234-56789", InvalidLength),  # fixed line needs 10
        ("050-123-45678", InvalidFormat),  # 11-digit families are 3-4-4
        ("00-1234-5678", InvalidFormat),  # 00 is the international prefix
        ("1234-5678", InvalidFormat),
        ("03-12-34-5678", InvalidFormat),
    ],
)
def test_invalid_shapes(written, error):
    with pytest.raises(error):
        phone_number.validate(written)
    assert detector_scan(phone_number, f"電話 {written}") == []


def test_the_written_prefix_decides_the_length():
    # 06 (Osaka) followed by a local number starting 0 is a fixed line, not an 060 number.
    assert phone_number.validate("06-0174-8814") == "0601748814"
    assert phone_number.validate("+81 6 0174 8814") == "0601748814"
    assert phone_number.validate("060-1234-5678") == "06012345678"
    with pytest.raises(InvalidLength):
        phone_number.validate("0601748814")  # contiguous: the 060 family needs 11 digits


def test_context_raises_the_score():
    grouped = detector_scan(phone_number, "03-1234-5678")[0]
    assert grouped.score == phone_number.BASE_SCORE
    assert grouped.explanation.context == ()
    assert detector_scan(phone_number, "携帯 03-1234-5678")[0].score == phone_number.CONTEXT_SCORE
    plain = detector_scan(phone_number, "09012345678")[0]
    assert plain.score == phone_number.PLAIN_SCORE < detector_scan(phone_number, "FAX 09012345678")[0].score


def test_tel_written_flush_against_the_number():
    text = "TEL03-1234-5678 FAX03-1234-5679"
    found = detector_scan(phone_number, text)
    assert [f.value for f in found] == ["03-1234-5678", "03-1234-5679"]
    assert all(text[f.span[0] : f.span[1]] == f.value for f in found)


@pytest.mark.parametrize(
    "text",
    [*HARD_NEGATIVES, "注文番号 0312345678", "基礎年金番号 0123-456789", "口座番号 0123456789", "01.02.2024"],
)
def test_hard_negatives(text):
    assert detector_scan(phone_number, text) == []


def test_table_row_with_single_spaces():
    text = "山田太郎 03 1234 5678 090-8765-4321"
    found = only(scan_engine(text), "phone_number")
    assert [f.value for f in found] == ["03 1234 5678", "090-8765-4321"]


def test_engine_finds_every_form():
    text = "\n".join(f"連絡先{i}: {w}" for i, (w, _n) in enumerate(VALID))
    found = only(scan_engine(text), "phone_number")
    assert [f.normalized for f in found] == [n for _w, n in VALID]
    assert [f.value for f in found] == [w for w, _n in VALID]


def test_order_desk_numbers_are_phone_numbers():
    found = detector_scan(phone_number, "ご注文・お問い合わせ先: 0120-123-456")
    assert [f.value for f in found] == ["0120-123-456"]
    assert found[0].explanation.context == ("問い合わせ先",)


def test_member_ids_are_not_phone_numbers():
    assert detector_scan(phone_number, "会員ID: 0312345678") == []
    assert detector_scan(phone_number, "お客様番号 09012345678") == []
    assert detector_scan(phone_number, "お客様番号 1234 / 電話 09012345678") != []


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("ご不明な点は人事部（052-291-7887）までお問い合わせください。", "052-291-7887"),
        ("人事部（０４５－２７７－０７７０）まで", "０４５－２７７－０７７０"),
        ("(代表 03-1234-5678)", "03-1234-5678"),
        ("（03-1234-5678", "03-1234-5678"),
        ("(03)1234-5678", "(03)1234-5678"),
        ("03(1234)5678", "03(1234)5678"),
    ],
)
def test_brackets_around_a_number_in_a_sentence(text: str, value: str) -> None:
    assert [f.value for f in scan_engine(text) if f.type == "phone_number"] == [value]
