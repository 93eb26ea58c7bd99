"""The detector registry: every discovered module, and what holds for all of them."""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from classifiers import detectors, scan_bytes
from classifiers.detectors import all_detectors, entity_types, names_of, personal_types
from classifiers.errors import ValidationError
from classifiers.normalize import DASHES
from classifiers.redact import redact
from gateway.cli import main
from policies import parse_policy
from quarantine_ui.i18n import translator

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


def test_every_detector_names_itself_in_both_languages() -> None:
    """The names people read come from the module's first docstring line (stdnum's way)."""
    for module in all_detectors():
        ja, en = names_of(module)
        assert en.isascii() and en[:1].isupper(), (module.__name__, en)
        assert not ja.isascii(), (module.__name__, ja)


def test_the_designs_types_are_all_discovered() -> None:
    design = {
        "my_number", "corporate_number", "credit_card", "phone_number", "email_address", "postal_code",
        "address", "person_name", "bank_account", "passport_number", "drivers_license", "pension_number",
        "date_of_birth", "confidential_marking", "share_link", "credential",
    }  # fmt: skip
    assert set(entity_types()) >= design
    assert "person_name" in personal_types() and "share_link" not in personal_types()


_CHARS = (
    "0123456789０１２３４５６７８９-ー－‐⁃ ./:()+@_TK〒個人番号電話口座年金免許旅券様氏名東京都市区町\t,\n"
)
_TOKENS = (
    "マイナンバー",
    "パスワード: ",
    "https://drive.google.com/file/d/",
    "社外秘",
    "生年月日 ",
    "昭和",
    "株式会社",
    "〒100-0001 東京都千代田区",
    "山田 太郎 様",
    "-----BEGIN PRIVATE KEY-----",
    "AKIA",
    "ghp_",
    "Confidential",
)
JUNK = st.lists(st.sampled_from(_TOKENS) | st.text(alphabet=_CHARS, max_size=8), max_size=16).map("".join)


@pytest.mark.parametrize("module", all_detectors(), ids=lambda m: m.ENTITY_TYPE)
@settings(max_examples=40, deadline=None)
@given(junk=JUNK)
def test_junk_through_every_discovered_detector(module: ModuleType, junk: str) -> None:
    """stdnum's robustness test, over whatever modules the registry finds: junk never crashes a
    detector, every finding points at what it reports, validate() raises only ValidationError
    and masking never fails."""
    for f in module.scan(junk):
        assert junk[f.span[0] : f.span[1]] == f.value
        assert 0 < f.score <= 1
        assert isinstance(redact(f.type, f.value), str)
    if callable(getattr(module, "validate", None)):
        with contextlib.suppress(ValidationError):
            module.validate(junk)
        assert isinstance(module.is_valid(junk), bool)
    assert isinstance(redact(module.ENTITY_TYPE, junk), str)


MADE_UP = '''"""Employee ID (社員番号, made up for a test).

``EMP-`` and six digits.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator

import regex

from classifiers.detectors._base import Document, Hit, scan_with
from classifiers.model import Explanation, Finding

ENTITY_TYPE = "employee_id"
KEEP_TAIL = 2
PATTERN = r"EMP-\\d{6}"
PRIORITY = 60


def check(match: regex.Match[str], doc: Document) -> Iterable[Hit]:
    yield Hit(*match.span(), 0.9, match.group(0), Explanation("EMP-NNNNNN", "format", 0.9))


def scan(text: str) -> Iterator[Finding]:
    return scan_with(sys.modules[__name__], text)
'''


@pytest.fixture
def made_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A detector module for a made-up type, in a folder of its own that is part of the
    detectors package: nothing else in the tree is edited."""
    folder = tmp_path / "more_detectors"
    folder.mkdir()
    (folder / "employee_id.py").write_text(MADE_UP, encoding="utf-8")
    monkeypatch.setattr(detectors, "__path__", [*detectors.__path__, str(folder)])
    detectors.refresh()
    yield folder
    monkeypatch.undo()
    sys.modules.pop("classifiers.detectors.employee_id", None)
    detectors.refresh()


def test_a_new_type_is_a_new_file(made_up: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = "社員番号 EMP-123456 の件です。"
    assert "employee_id" in entity_types()
    # the scan output
    found = scan_bytes(text.encode(), "memo.txt").findings
    assert [(f.type, f.value) for f in found] == [("employee_id", "EMP-123456")]
    # redaction
    assert redact("employee_id", "EMP-123456") == "***-****56"
    # the `sekimori scan` table
    memo = tmp_path / "memo.txt"
    memo.write_text(text, encoding="utf-8")
    assert main(["scan", str(memo)]) == 0
    assert re.search(r"employee_id\s+1\s+\*\*\*-\*\*\*\*56", capsys.readouterr().out)
    # the UI's labels
    assert translator("ja")("entity.employee_id") == "社員番号"
    assert translator("en")("entity.employee_id") == "Employee ID"
    # and the policy language knows the type
    rule = (
        "version: 1\norganisation: {internal_domains: [example.jp]}\nrules:\n  - id: r\n    title: {ja: t, en: t}\n    description: {ja: d, en: d}\n"
        "    when: {entity: {type: employee_id}}\n    action: quarantine\n"
    )
    assert parse_policy(rule).rules[0].id == "r"


def test_the_made_up_type_is_gone_with_its_file() -> None:
    assert "employee_id" not in entity_types()
    assert not [f for f in scan_bytes(b"EMP-123456", "x.txt").findings if f.type == "employee_id"]
