"""Normalise once: NFKC plus the dash family, with offsets that map back to the original."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from classifiers.normalize import normalize

CASES = [
    # (original, normalised)
    ("0312345678", "0312345678"),
    ("０３ー１２３４ー５６７８", "03-1234-5678"),
    ("6214ー9832ー0257", "6214-9832-0257"),
    ("6214－9832‐0257", "6214-9832-0257"),
    ("1234–5678—9012", "1234-5678-9012"),
    ("パスワード", "パスワード"),  # katakana ー between kana stays
    ("ｶﾞｷﾞｸﾞ", "ガギグ"),
    ("か\u3099", "が"),
    ("㈱サンプル", "(株)サンプル"),
    ("①髙橋", "1髙橋"),
    ("ＡＢＣ　ｄｅｆ", "ABC def"),
    ("ＴＥＬ：０３", "TEL:03"),
    # Characters a reader never sees are dropped: zero-width space and joiners, word joiner,
    # byte-order mark, soft hyphen, direction marks, variation selectors.
    ("1234\u200b5678\u200c9018", "123456789018"),
    ("12\u200d34\u206056\ufeff78\u00ad90\u200e18", "123456789018"),
    ("１２\u200b３４", "1234"),
    ("山田\u200b太郎", "山田太郎"),
    ("葛\U000e0100城\ufe0f", "葛城"),
]


@pytest.mark.parametrize(("original", "expected"), CASES)
def test_normalised_text(original: str, expected: str) -> None:
    assert normalize(original).text == expected


@pytest.mark.parametrize(("original", "expected"), CASES)
def test_every_normalised_span_maps_back_inside_the_original(original: str, expected: str) -> None:
    n = normalize(original)
    for a in range(len(n.text) + 1):
        for b in range(a, len(n.text) + 1):
            oa, ob = n.span_to_original(a, b)
            assert 0 <= oa <= ob <= len(original)


@pytest.mark.parametrize(
    ("original", "needle", "expected_original"),
    [
        ("電話：０３ー１２３４ー５６７８です", "03-1234-5678", "０３ー１２３４ー５６７８"),
        ("ｶﾞｷﾞ番号 1234", "1234", "1234"),
        ("㈱山田 個人番号 1234", "1234", "1234"),
        ("㈱山田", "(株)", "㈱"),
        ("ﾃｽﾄｶﾞ 12", "ガ", "ｶﾞ"),
        ("番号 1234\u200b5678\u200b9018 です", "123456789018", "1234\u200b5678\u200b9018"),
        ("\u200b\u200b０３ー１２", "03-12", "０３ー１２"),
    ],
)
def test_span_maps_back_to_the_text_as_written(original: str, needle: str, expected_original: str) -> None:
    n = normalize(original)
    start = n.text.index(needle)
    a, b = n.span_to_original(start, start + len(needle))
    assert original[a:b] == expected_original


_JA = st.sampled_from(list("0123456789０１２３４５６７８９abcＡＢＣあいうカキクｶｷｸﾞﾟ㈱①髙山田太郎 　-－‐—\n"))


@given(st.lists(_JA, max_size=60).map("".join))
def test_matches_nfkc_of_the_whole_text_apart_from_dashes(text: str) -> None:
    dash_free = text.translate({ord(c): "-" for c in "－‐—"})
    assert normalize(text).text == unicodedata.normalize("NFKC", dash_free)


@given(st.text(max_size=80))
def test_arbitrary_text_never_raises_and_spans_stay_in_range(text: str) -> None:
    n = normalize(text)
    for a in range(0, len(n.text) + 1, 3):
        oa, ob = n.span_to_original(a, len(n.text))
        assert 0 <= oa <= ob <= len(text)
