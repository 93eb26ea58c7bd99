"""Confidential markings: stamps, words in prose, sensitivity labels and the hard negatives."""

from __future__ import annotations

import pytest

from classifiers.detectors import confidential_marking as det
from classifiers.engine import RECORD_MIN_SCORE, default_engine

POSITIVES: list[tuple[str, list[str], float]] = [
    ("【社外秘】2025年度予算案", ["社外秘"], 1.0),
    ("件名: 〔極秘〕人事異動案", ["極秘"], 1.0),
    ("社外秘\n\n各位", ["社外秘"], 1.0),
    ("本資料は社外秘です。", ["社外秘"], 0.85),
    ("部外秘の資料", ["部外秘"], 0.85),
    ("関係者外秘", ["関係者外秘"], 1.0),
    ("厳秘扱い", ["厳秘"], 0.85),
    ("社内限りでお願いします", ["社内限り"], 0.85),
    ("【秘】取締役会資料", ["秘"], 1.0),
    ("〔秘〕", ["秘"], 1.0),
    ("（秘）役員限り", ["秘"], 1.0),
    ("㊙ 新製品計画", ["㊙"], 1.0),
    ("「秘」\n新製品計画", ["秘"], 1.0),
    ("[機密]設計書", ["機密"], 0.9),
    ("機密情報を含みます", ["機密"], 0.6),
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
    "極秘裏に",  # 極秘 is found; this line checks the word is not swallowed twice
]


@pytest.mark.parametrize(("text", "values", "min_score"), POSITIVES)
def test_positives(text: str, values: list[str], min_score: float) -> None:
    found = list(det.scan(text))
    assert [f.value for f in found] == values
    assert all(f.score >= min_score for f in found)


@pytest.mark.parametrize("text", NEGATIVES[:-1])
def test_hard_negatives(text: str) -> None:
    assert list(det.scan(text)) == []


def test_marking_inside_a_longer_word_counts_once() -> None:
    assert [f.value for f in det.scan(NEGATIVES[-1])] == ["極秘"]


def test_english_disclaimer_does_not_count() -> None:
    (f,) = det.scan("This e-mail may contain confidential information.")
    assert f.score < RECORD_MIN_SCORE


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
