"""The single-pass engine: shared groups, offsets, records and alternative de-duplication."""

from __future__ import annotations

from functools import lru_cache
from types import ModuleType

from hypothesis import given, settings
from hypothesis import strategies as st

from classifiers.detectors import all_detectors
from classifiers.detectors._tokens import NUMBER, NUMBER_ANY_LENGTH
from classifiers.engine import Engine, count_records, default_engine, scan_parts
from classifiers.model import Explanation, Finding, Part
from tests.classifiers import corpus

_EXPL = Explanation("p", "format", 0.5)


def _f(etype: str, value: str, score: float = 0.9) -> Finding:
    return Finding(etype, value, score, "body", (0, len(value)), value, _EXPL)


def test_finding_value_is_the_original_text_at_its_span() -> None:
    text = "お客様の個人番号は１２３４ー５６７８ー９０１８です。"
    findings = [f for f in default_engine().scan_text(text) if f.type == "my_number"]
    assert [f.value for f in findings] == ["１２３４ー５６７８ー９０１８"]
    a, b = findings[0].span
    assert text[a:b] == findings[0].value
    assert findings[0].normalized == "123456789018"
    assert "個人番号" in findings[0].explanation.context


def test_records_is_the_largest_count_of_distinct_personal_values() -> None:
    findings = [_f("person_name", f"name{i}") for i in range(300)]
    findings += [_f("phone_number", "0312345678")] * 300
    findings += [_f("corporate_number", f"{i}") for i in range(900)]  # not a person
    assert count_records(findings) == 300


def test_a_signature_with_several_phones_is_one_person() -> None:
    findings = [_f("person_name", "山田太郎"), _f("email_address", "taro@example.co.jp")]
    findings += [_f("phone_number", p) for p in ("0312345678", "0312345679", "09012345678")]
    assert count_records(findings) == 1


def test_phones_alone_still_count_persons() -> None:
    assert count_records([_f("phone_number", f"0901234{i:04d}") for i in range(40)]) == 40


def test_low_scores_do_not_count_as_records() -> None:
    assert count_records([_f("person_name", "x", score=0.2)]) == 0


def test_alternative_bodies_count_once() -> None:
    body = "個人番号 1234 5678 9018"
    parts = [
        Part("body", body, alternative="alt1"),
        Part("body[html]", f"<p>{body}</p>", content_type="text/html", alternative="alt1"),
    ]
    result = scan_parts(parts)
    assert result.count("my_number") == 1
    assert result.records == 1


def test_repeats_inside_one_alternative_body_still_count() -> None:
    body = "個人番号 1234 5678 9018、再掲 個人番号 1234 5678 9018"
    parts = [Part("body", body, alternative="alt1"), Part("body[html]", body, alternative="alt1")]
    assert scan_parts(parts).count("my_number") == 2
    assert scan_parts([Part("body", body)]).count("my_number") == 2


def test_segments_give_cell_locations() -> None:
    text = "氏名\n個人番号 1234 5678 9018\n"
    part = Part(
        "list.xlsx!顧客",
        text,
        kind="attachment",
        segments=((0, "list.xlsx!顧客!A1"), (3, "list.xlsx!顧客!A2")),
    )
    result = scan_parts([part])
    assert [f.location for f in result.findings if f.type == "my_number"] == ["list.xlsx!顧客!A2"]


_FRAGMENTS = [
    "1985/04/12",
    "昭和60年4月12日",
    "2024-11-30",
    "生",
    "生年月日: ",
    "(40歳)",
    "Born ",
    "DOB ",
    "誕生日は",
    "会議は",
    "https://drive.google.com/file/d/1AbCdEfGhIjKlMnOp/view",
    "https://app.box.com/s/abc123XYZ",
    "https://www.dropbox.com/help",
    "DROPBOX.COM/s/abcdefg",
    "資料",
    "\n",
    "\t",
    " ",
    "氏名\t生年月日\n",
    "生年月日: 1985/04/12",
    # credential
    "パスワード：Xy7#kq9!",
    "解凍パスワード は abcd1234",
    "PW=ab12!",
    "Pass Phrase: s3cr3t-horse",
    "暗証番号:4321",
    "aws_access_key_id = AKIAIOSFODNN7EXAMPLE",
    "Aws_Secret_Access_Key: " + "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "ghp_" + "a1B2" * 9,
    "github_pat_" + "x9_Y" * 6,
    "xoxb-1234567890-abcdef",
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk=\n-----END OPENSSH PRIVATE KEY-----",
    # confidential marking
    "【社外秘】",
    "(秘)",
    "㊙",
    "関係者外秘",
    "社内限り",
    "取り扱い注意",
    "機密",
    "CONFIDENTIAL",
    "Strictly  Confidential",
    "For Internal Use Only",
    "TOP SECRET",
    "non-confidential",
    "sensitivity-label: 社外秘 (Confidential)",
    "秘書",
    # address
    "住所：東京都千代田区丸の内一丁目２番３号 丸の内ビル５F",
    "北海道虻田郡倶知安町字山田123",
    "横浜市中区山下町1-2",
    "港区芝公園4-2-8",
    "大阪府堺市堺区",
    # person_name's cell pass (PASS_REQUIRES: a name column header)
    '\nNo,氏名,電話\n1,楠木 ゆず,03-1234-5678\n2,"ウサミ サオリ",090-1111-2222\n',
    "\n品名\t数量\n部品\t3\n",
    "\nフリガナ\tお名前\nヤマダ タロウ\t山田太郎\n",
    "NAME,",
    "\n参加者名,電話\n楠木 ゆず,03-1234-5678\n",
]


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.sampled_from(_FRAGMENTS), max_size=12).map("".join),
    st.lists(st.booleans(), min_size=1, max_size=400),
)
def test_prefilters_never_change_what_a_detector_finds(text: str, upper: list[bool]) -> None:
    """REQUIRES lets the engine skip passes; it must never hide a finding, whatever the case
    of the letters: the engine finds exactly what it finds with every pass run."""
    text = "".join(c.upper() if upper[i % len(upper)] else c for i, c in enumerate(text))
    found = [(f.type, f.span, f.normalized, f.score) for f in default_engine().scan_text(text)]
    assert found == [(f.type, f.span, f.normalized, f.score) for f in _unfiltered().scan_text(text)]


@lru_cache(maxsize=1)
def _unfiltered() -> Engine:
    """The engine over the same detectors without their REQUIRES/PASS_REQUIRES prefilters."""
    detectors = []
    for det in all_detectors():
        clone = ModuleType(f"{det.__name__}_unfiltered")
        clone.__dict__.update({k: v for k, v in vars(det).items() if k not in ("REQUIRES", "PASS_REQUIRES")})
        detectors.append(clone)
    return Engine(detectors)


def test_every_prefiltered_fragment_is_found() -> None:
    """The fragments above do reach each prefiltered detector (the property is not vacuous)."""
    found = {f.type for text in _FRAGMENTS for f in default_engine().scan_text(text)}
    prefiltered = {det.ENTITY_TYPE for det in all_detectors() if getattr(det, "REQUIRES", None)}
    assert prefiltered == {"address", "credential", "confidential_marking", "date_of_birth", "share_link"}
    assert prefiltered <= found
    cells = {f.explanation.pattern for text in _FRAGMENTS for f in default_engine().scan_text(text)}
    assert "cell under a name column" in cells


def _without_passes(det: ModuleType) -> ModuleType:
    """The same detector, seen by the engine as one alternation (its PATTERN)."""
    clone = ModuleType(f"{det.__name__}_one_pass")
    clone.__dict__.update({k: v for k, v in vars(det).items() if k != "PASSES"})
    return clone


def test_separate_passes_find_what_the_alternation_finds() -> None:
    """PASSES is a speed-up only: over the labelled corpus and a few mixed lines, running a
    detector's branches as separate passes gives exactly the findings of its one PATTERN."""
    split = [det for det in all_detectors() if getattr(det, "PASSES", None)]
    assert split, "no detector declares PASSES"
    fast = default_engine()
    plain = Engine([det if det not in split else _without_passes(det) for det in all_detectors()])
    texts = [d.text for d in corpus.make_docs(corpus.Gen(11))]
    texts += [
        "山田太郎様、やまだ はなこ さま、ヤマダ タロウ様、Mr. Suzuki と Taro Yamada に連絡。",
        "たなか はなこ やまだ たろう\nTARO YAMADA, Tanaka-san\n営業部 佐藤部長",
    ]
    compared = 0
    for text in texts:
        a = [(f.type, f.span, f.normalized, f.score) for f in fast.scan_text(text)]
        b = [(f.type, f.span, f.normalized, f.score) for f in plain.scan_text(text)]
        assert a == b, text[:200]
        compared += sum(1 for f in a if f[0] == "person_name")
    assert compared > 50


def _any_length(det: ModuleType) -> ModuleType:
    """The same detector, reading the number token without its length look-ahead."""
    if det.PATTERN != NUMBER:
        return det
    clone = ModuleType(f"{det.__name__}_any_length")
    clone.__dict__.update(vars(det))
    clone.__dict__["PATTERN"] = NUMBER_ANY_LENGTH
    return clone


_NUMBER_FRAGMENTS = [
    *"0123456789-/.()+T ,\n#",
    "12",
    "345",
    "090",
    "1234",
    "5678",
    "TEL",
    "FAX",
    "ORD-",
    "〒",
    "電話",
    "個人番号",
    "口座",
    "部品",
    "山田",
    "太郎",
    "Mr. Tanaka ",
    "生年月日",
    "2024/01/02",
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_NUMBER_FRAGMENTS), max_size=25).map("".join))
def test_the_number_length_look_ahead_changes_no_finding(text: str) -> None:
    """Short runs the look-ahead refuses are neither findings nor claims another pass needs."""
    fast = default_engine()
    plain = Engine([_any_length(det) for det in all_detectors()])
    a = [(f.type, f.span, f.normalized, f.score) for f in fast.scan_text(text)]
    assert a == [(f.type, f.span, f.normalized, f.score) for f in plain.scan_text(text)]


HEADER_LINES = [
    "山田 太郎\n",
    "山田太郎 090-1234-5678\n株式会社サンプル\n",
    "株式会社サンプル 総務部 03-1234-5678\n山田様 taro@example.co.jp\n",
    "Taro Yamada (東京都港区芝公園4-2-8 山田 太郎)\n",
    "鈴木 花子 <hanako@example.jp>\n社外秘\n顧客一覧_佐藤.csv\n",
    "営業部 TEL 0120-123-456\n",
]


def test_dropping_the_addressing_types_changes_no_other_finding() -> None:
    """A header part does not report names and addresses: the engine skips looking for them
    unless a contact finding's holder depends on a name beside it, and keeps every other finding
    and holder as the full scan has them."""
    engine = default_engine()
    drop = frozenset({"person_name", "email_address"})
    for text in HEADER_LINES:
        part = Part(location="headers", text=text, kind="header")
        full, _ = engine.scan_part(text, part)
        dropped, _ = engine.scan_part(text, part, drop=drop)
        assert [f for f in dropped if f.type not in drop] == [f for f in full if f.type not in drop]
