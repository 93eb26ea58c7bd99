"""The detector registry: every discovered module, and what holds for all of them."""

from __future__ import annotations

from types import ModuleType

import pytest

from classifiers import scan_bytes
from classifiers.detectors import all_detectors
from classifiers.normalize import DASHES

#: A line for each type with a validator, written with a plain hyphen where it has one.
SAMPLES = (
    "個人番号 1234-5678-9018",
    "法人番号 7-0107-0500-0725",
    "カード番号 4111-1111-1111-1111",
    "電話 03-1234-5678",
    "〒100-0001",
    "口座番号 普通 1234567",
    "旅券番号 TK1234567",
    "運転免許証番号 3001-2345-6710",
    "基礎年金番号 1234-567890",
    "メール taro.yamada@example.co.jp",
)


def _validators() -> dict[str, ModuleType]:
    return {m.ENTITY_TYPE: m for m in all_detectors() if callable(getattr(m, "validate", None))}


_WIDE = str.maketrans(
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ.@",
    "０１２３４５６７８９ＡＢＣＤＥＦＧＨＩＪＫＬＭＮＯＰＱＲＳＴＵＶＷＸＹＺ．＠",
)


@pytest.mark.parametrize("wide", [False, True], ids=["ascii", "full-width"])
@pytest.mark.parametrize("dash", ["-", *DASHES])
def test_whatever_the_scan_finds_its_validator_accepts(dash: str, wide: bool) -> None:
    """One normalisation for scanning and validating: every value a scan reports (as written)
    passes its detector's ``validate``, which gives the value the scan found, whichever dash of
    the family and whichever width it is written in."""
    validators = _validators()
    text = "\n".join(line.replace("-", dash) for line in SAMPLES)
    if wide:
        text = text.translate(_WIDE)
    found = scan_bytes(text.encode(), "samples.txt").findings
    if dash == "-" and not wide:
        assert {f.type for f in found} == set(validators), "a sample for every validator"
    assert {f.type for f in found} >= {"my_number", "pension_number", "phone_number", "postal_code"}
    for f in found:
        module = validators.get(f.type)
        if module is not None:
            assert module.validate(f.value) == f.normalized, (f.type, f.value)
