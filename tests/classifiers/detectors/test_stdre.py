"""The ``re`` form of a pass finds what its ``regex`` form finds: the same spans, the same groups."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from typing import Any

import pytest
import regex
from hypothesis import given, settings
from hypothesis import strategies as st

from classifiers.detectors import all_detectors
from classifiers.detectors._stdre import _every_code_point, caseless, class_ranges, stdlib_form, translate
from classifiers.normalize import normalize
from tests.classifiers import corpus, harder_corpus, heldout_like_corpus
from tests.fuzz import shapes

_Found = list[tuple[tuple[int, int], dict[str, str | Any]]]


def _re_passes() -> list[tuple[str, str]]:
    """(detector type, pattern) of every pass a detector runs on ``re``."""
    return [(det.ENTITY_TYPE, source) for det in all_detectors() for source in getattr(det, "RE_PASSES", ())]


RE_PASSES = _re_passes()
_IDS = [f"{t}-{k}" for k, (t, _) in enumerate(RE_PASSES)]


@cache
def _texts() -> tuple[str, ...]:
    """Normalised text as the engine reads it: the corpora's documents and hostile shapes."""
    raw = [doc.text for doc in corpus.make_docs(corpus.Gen(20260401))]
    for module in (harder_corpus, heldout_like_corpus):
        for path in sorted(module.SOURCES.iterdir()):
            if path.is_file() and not path.name.startswith("."):
                raw.append(harder_corpus.strip_labels(path.read_text(encoding="utf-8"))[0])
    for shape in (shapes.text_digits, shapes.text_emails, shapes.text_numbers, shapes.csv_quotes):
        raw.append(shape(1).decode()[:100_000])
    return tuple(normalize(t).text for t in raw)


def _found(pattern: regex.Pattern[str] | re.Pattern[str], text: str) -> _Found:
    return [(m.span(), m.groupdict()) for m in pattern.finditer(text)]


def test_every_pass_asked_to_run_on_re_has_a_form_there() -> None:
    assert {t for t, _ in RE_PASSES} >= {"person_name", "email_address", "share_link", "date_of_birth"}
    for det in all_detectors():
        for source in getattr(det, "RE_PASSES", ()):
            assert source in (det.PATTERN, *getattr(det, "PASSES", ())), det.ENTITY_TYPE
            assert stdlib_form(source) is not None, det.ENTITY_TYPE


@pytest.mark.parametrize(("entity_type", "source"), RE_PASSES, ids=_IDS)
def test_the_re_form_finds_what_regex_finds_over_the_corpora(entity_type: str, source: str) -> None:
    fast, slow = stdlib_form(source), regex.compile(source)
    assert fast is not None
    found = 0
    for text in _texts():
        expected = _found(slow, text)
        assert _found(fast, text) == expected, (entity_type, text[:80])
        found += len(expected)
    assert found > 0, entity_type


#: Characters the passes start at, end at or look around: kanji (one-character surnames and
#: others), kana, Latin letters, digits and the punctuation of addresses and URLs.
_ALPHABET = "山田中林森佐藤太郎花子様殿氏部長一二三ヤマダタロウアイウエオカナーやまだたろうさん ・、,\t\n" + (
    "AaBbMmrsSTyz019@.-_/:?=&%~!#'+kıſİKJjFfDdNnOoUuEeCcPpGgLlVvHh2年月日平成昭和元,"
)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=_ALPHABET, max_size=40), st.sampled_from(range(len(RE_PASSES))))
def test_the_re_form_finds_what_regex_finds_in_any_mix(text: str, which: int) -> None:
    source = RE_PASSES[which][1]
    fast = stdlib_form(source)
    assert fast is not None
    assert _found(fast, text) == _found(regex.compile(source), text)


@pytest.mark.parametrize("escape", [r"\p{Han}", r"\p{Katakana}", r"\p{Hiragana}", r"\d", r"\w", r"\s"])
def test_a_class_escape_has_the_code_points_regex_gives_it(escape: str) -> None:
    every = _every_code_point()
    assert len(every) == 0x110000 - 0x800  # all but the surrogates
    ours = [m.span() for m in re.finditer(f"[{class_ranges(escape)}]+", every)]
    assert ours == [m.span() for m in regex.finditer(f"(?:{escape})+", every)]


def _cases() -> Iterator[tuple[str, str | None]]:
    han, digit = class_ranges(r"\p{Han}"), class_ranges(r"\d")
    yield r"[\p{Han}々]{2}", f"[{han}々]{{2}}"
    yield r"\P{Han}", f"[^{han}]"
    yield r"[^\d-]", f"[^{digit}-]"
    yield r"[]a]\.\u3042\n", r"[]a]\.\u3042\n"
    same = r"(?P<x>a)(?P=x)(?<=a)(?<!b)(?=c)(?!d)(?>e)(?:f)(?(x)g|h)"
    yield same, same
    # re matches ı with i, regex does not: the letters become what regex matches
    yield r"(?i:ji(?:n|\.)?)x", "(?:" + caseless("j") + caseless("i") + "(?:" + caseless("n") + r"|\.)?)x"
    yield r"(?i)abc", None
    yield r"(?i:[ab])", None
    yield r"(?i:a\sb)", None
    yield r"(?i:é)", None
    yield r"(?i:a(?=b))", None
    yield r"\bword\b", None
    yield r"[^\D]", None
    yield r"[[:alpha:]]", None
    yield r"[a--b]", None
    yield "a\\", None


@pytest.mark.parametrize(("source", "expected"), list(_cases()))
def test_translate_writes_classes_out_and_refuses_what_could_differ(
    source: str, expected: str | None
) -> None:
    assert translate(source) == expected


def test_what_re_cannot_compile_has_no_form() -> None:
    assert stdlib_form(r"(?<=ab?)c") is None  # variable-width look-behind
    assert stdlib_form(r"\L<names>") is None
