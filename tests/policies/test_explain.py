"""Evidence sentences: every reason a part can be cut short is said in both languages."""

from __future__ import annotations

from classifiers.limits import TRUNCATION_REASONS
from policies.explain import DETAILS, REASONS


def test_every_truncation_reason_has_its_words() -> None:
    assert set(TRUNCATION_REASONS) <= set(REASONS)
    assert all(ja and en for ja, en in REASONS.values())


def test_a_disguised_file_has_its_sentence() -> None:
    assert DETAILS["type_mismatch"][1] == "file name or declared type disagrees with the content"
