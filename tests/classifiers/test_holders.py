"""Whose data a finding is (person or organisation), and how people are counted."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from classifiers import holders
from classifiers.engine import RECORD_MIN_SCORE, count_records, default_engine
from classifiers.holders import SURNAME_ALONE, assign_holders
from classifiers.model import Explanation, Finding


def _name(value: str, pattern: str = "surname + given name (dictionary)") -> Finding:
    return Finding(
        "person_name", value, 0.9, "body", (0, len(value)), value, Explanation(pattern, "dictionary", 0.9)
    )


def _holders(text: str) -> list[tuple[str, str, str | None]]:
    findings = assign_holders(text, default_engine().scan_text(text))
    return [(f.type, f.value, f.holder) for f in findings if f.type != "person_name" and f.holder]


def test_a_surname_alone_is_the_person_whose_full_name_begins_with_it() -> None:
    pattern = next(iter(SURNAME_ALONE))
    assert count_records([_name("前川浩之"), _name("前川", "surname (dictionary)")]) == 1
    assert count_records([_name("前川浩之"), _name("前川", pattern)]) == 1


def test_a_full_name_that_begins_another_is_a_second_person() -> None:
    # Only a name found as a surname alone folds into a longer one: name1 and name10 are two.
    assert count_records([_name(f"name{i}") for i in range(1, 11)]) == 10
    assert count_records([_name("林"), _name("林真理子")]) == 2


@settings(max_examples=200, deadline=None)
@given(
    full=st.lists(st.text("前川山田林真理子浩之", min_size=1, max_size=4), max_size=12),
    alone=st.lists(st.text("前川山田林真理子浩之", min_size=1, max_size=3), max_size=8),
)
def test_people_are_counted_as_comparing_every_surname_with_every_name(
    full: list[str], alone: list[str]
) -> None:
    """The count is the one of the plain definition: a name found as a surname alone is left
    out when another name found begins with it."""
    names = set(full) | set(alone)
    surnames = set(alone)
    expected = len(
        {n for n in names if n not in surnames or not any(o != n and o.startswith(n) for o in names)}
    )
    found = [_name(v) for v in full] + [_name(v, "surname (dictionary)") for v in alone]
    assert count_records(found) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A signature names the person: the phone and mail in its block are hers.
        (
            "山田 花子 様\n〒105-0011 東京都港区芝公園1-2-3\nTEL 090-1234-5678\nhanako.yamada@example.jp\n",
            "person",
        ),
        # A company's contact block names only the company.
        (
            "株式会社サンプル 広報部\n〒105-0011 東京都港区芝公園1-2-3\nTEL 03-1234-5678\npress@example.co.jp\n",
            "organisation",
        ),
        # A supplier table: rows name companies, no person.
        (
            "取引先名\t電話\t所在地\n株式会社北山商事\t03-1234-5678\t東京都港区芝公園1-2-3\n",
            "organisation",
        ),
        # A customer table: the header names a person.
        ("氏名\t電話\t住所\n山田花子\t03-1234-5678\t東京都港区芝公園1-2-3\n", "person"),
    ],
)
def test_contact_data_belongs_to_whoever_it_sits_with(text: str, expected: str) -> None:
    holders = _holders(text)
    assert holders and {h for _, _, h in holders} == {expected}, holders


def test_free_dial_and_role_mailboxes_are_an_organisations() -> None:
    text = "山田 花子\nTEL 0120-123-456\ninfo@example.co.jp\n"
    assert {h for _, _, h in _holders(text)} == {"organisation"}


def test_every_contact_finding_says_why() -> None:
    text = "株式会社サンプル\n代表 03-1234-5678\n"
    (f,) = [f for f in assign_holders(text, default_engine().scan_text(text)) if f.type == "phone_number"]
    assert f.holder == "organisation" and f.holder_reason
    assert f.score >= RECORD_MIN_SCORE


@pytest.mark.parametrize(
    ("header", "value", "expected"),
    [
        ("メール", "u{}@example.co.jp", ("person", "table row")),
        ("電話", "03-{:04d}-5678", ("person", "table row")),
        ("会社名", "株式会社{}商事", None),
    ],
)
def test_a_row_of_thousands_of_values_is_searched_once(
    monkeypatch: pytest.MonkeyPatch, header: str, value: str, expected: tuple[str, str] | None
) -> None:
    """Whose the values of a table row are is read from the row and its header row once, not once
    per value: a hostile row of 2,000 cells costs linear time. Each value is held as it is on
    a row of its own."""
    searched: list[int] = []
    org_words = holders._ORG_WORDS
    kinds = holders._header_row_kinds

    class Counted:
        def search(self, text: str) -> object:
            searched.append(len(text))
            return org_words.search(text)

    def counted_kinds(headers: tuple[str, ...]) -> tuple[bool, bool]:
        searched.append(len(headers))
        return kinds(headers)

    monkeypatch.setattr(holders, "_ORG_WORDS", Counted())
    monkeypatch.setattr(holders, "_header_row_kinds", counted_kinds)
    cells = [value.format(1000 + n) for n in range(2000)]
    text = ",".join([header] * len(cells)) + "\n" + ",".join(cells)
    findings = [f for f in assign_holders(text, default_engine().scan_text(text)) if f.holder]
    assert len(searched) <= 4, searched
    if expected is not None:
        assert len(findings) == len(cells)
        assert {(f.holder, f.holder_reason) for f in findings} == {expected}
        small = f"{header},{header}\n{cells[7]},{cells[8]}"  # the same table, two columns wide
        alone = [f for f in assign_holders(small, default_engine().scan_text(small)) if f.holder]
        assert [(f.holder, f.holder_reason) for f in alone] == [expected] * 2
