"""Confidential markings: stamps, headers, subject tags, properties, sensitivity labels; and
the same words in prose about markings, which are not markings."""

from __future__ import annotations

import pytest

from classifiers.detectors import confidential_marking as det
from classifiers.engine import default_engine
from classifiers.model import Part

POSITIVES: list[tuple[str, list[str], float]] = [
    ("【社外秘】2025年度予算案", ["社外秘"], 1.0),
    ("件名: 〔極秘〕人事異動案", ["極秘"], 1.0),
    ("社外秘\n\n各位", ["社外秘"], 1.0),
    ("本資料は社外秘です。", ["社外秘"], 0.85),
    ("関係者外秘", ["関係者外秘"], 1.0),
    ("厳秘扱い", ["厳秘"], 0.85),
    ("社内限りでお願いします", ["社内限り"], 0.85),
    ("【秘】取締役会資料", ["秘"], 1.0),
    ("〔秘〕", ["秘"], 1.0),
    ("（秘）役員限り", ["秘"], 1.0),
    ("㊙ 新製品計画", ["㊙"], 1.0),
    ("「秘」\n新製品計画", ["秘"], 1.0),
    ("[機密]設計書", ["機密"], 0.9),
    ("区分：極秘\n役員会資料", ["極秘"], 1.0),
    ("社外秘 2025年度 販売計画", ["社外秘"], 1.0),
    ("この資料は社外秘につき、取扱いに注意してください。", ["社外秘"], 0.85),
    ("取扱注意", ["取扱注意"], 0.9),
    ("CONFIDENTIAL", ["CONFIDENTIAL"], 0.9),
    ("[Confidential] Q3 forecast", ["Confidential"], 0.9),
    ("Strictly Confidential - draft", ["Strictly Confidential"], 0.85),
    ("For Internal Use Only", ["For Internal Use Only"], 1.0),
    ("This deck is for internal use only.", ["for internal use only"], 0.85),
    ("ＣＯＮＦＩＤＥＮＴＩＡＬ", ["ＣＯＮＦＩＤＥＮＴＩＡＬ"], 0.9),
    ("【社外秘】", ["社外秘"], 1.0),
    ("sensitivity-label: 社外秘", ["社外秘"], 0.95),
    ("本文\nsensitivity-label: Highly Confidential\n", ["Highly Confidential"], 0.95),
]

NEGATIVES = [
    "部外秘の資料は施錠保管してください",
    "機密情報を含みます",
    "添付ファイルに社外秘の表示がある場合は、宛先をもう一度確認しましょう。",
    "社内規程では文書を「極秘」「秘」「社外秘」「社内限り」の四つに区分しています。",
    "取扱注意の資料をクラウドで共有する場合は、公開範囲を限定してください。",
    "This e-mail may contain confidential information.",
    "Please treat the figures as strictly confidential until the announcement.",
    "秘書室にお渡しください",
    "神秘的な体験",
    "便秘薬",
    "秘密保持契約を締結しました",
    "機密保持契約書のドラフト",
    "機密性・完全性・可用性",
    "Please sign the confidentiality agreement.",
    "This document is non-confidential.",
    "Non-Confidential summary",
    "説明「秘」という字",
    "極秘裏に進められた計画",
]


@pytest.mark.parametrize(("text", "values", "min_score"), POSITIVES)
def test_positives(text: str, values: list[str], min_score: float) -> None:
    found = list(det.scan(text))
    assert [f.value for f in found] == values
    assert all(f.score >= min_score for f in found)


@pytest.mark.parametrize("text", NEGATIVES[:-1])
def test_hard_negatives(text: str) -> None:
    assert list(det.scan(text)) == []


def test_a_word_that_only_contains_a_marking_is_prose() -> None:
    assert list(det.scan(NEGATIVES[-1])) == []


def test_subject_and_document_property_are_markings() -> None:
    subject = Part(location="subject", text="第3四半期 社外秘資料の送付", kind="subject")
    found = [f for f in default_engine().scan_text(subject.text, subject) if f.type == det.ENTITY_TYPE]
    assert [(f.value, f.explanation.context) for f in found] == [("社外秘", ("subject",))]
    props = Part(location="a.docx!properties", text="category: 機密文書\n", kind="metadata")
    found = [f for f in default_engine().scan_text(props.text, props) if f.type == det.ENTITY_TYPE]
    assert [(f.value, f.explanation.context) for f in found] == [("機密", ("document property",))]
    body = Part(location="body", text="第3四半期 社外秘資料の送付", kind="body")
    assert not [f for f in default_engine().scan_text(body.text, body) if f.type == det.ENTITY_TYPE]


def test_public_label_scores_low_but_is_reported() -> None:
    (f,) = det.scan("sensitivity-label: Public")
    assert f.value == "Public"
    assert f.explanation.validation == "label"
    assert f.score < 0.5


def test_label_must_be_a_whole_line() -> None:
    assert all(f.explanation.validation != "label" for f in det.scan("x sensitivity-label: Secret"))


@pytest.mark.parametrize(("text", "values", "min_score"), POSITIVES)
def test_engine_value_is_the_original_text(text: str, values: list[str], min_score: float) -> None:
    found = [f for f in default_engine().scan_text(text) if f.type == det.ENTITY_TYPE]
    assert [f.value for f in found] == values
    for f in found:
        assert text[f.span[0] : f.span[1]] == f.value


def test_hostile_input_is_bounded() -> None:
    for text in (
        "秘" * 20_000,
        "【秘】" * 5_000,
        "sensitivity-label: " + "x" * 50_000,
        "confidential " * 5_000,
    ):
        assert all(f.value for f in det.scan(text))
