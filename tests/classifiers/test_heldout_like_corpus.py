"""The classifiers on the held-out-like set, scored through ``sekimori scan --format jsonl``.

See :mod:`tests.classifiers.heldout_like_corpus`: documents written apart from both of our
corpora, in the forms the customer's held-out corpus is built from. The figures are printed
(``pytest -s``, ``make bench``) and asserted at the thresholds of issue 13.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from classifiers import scan_file
from classifiers.model import ENTITY_TYPES
from tests.classifiers import corpus, harder_corpus, heldout_like_corpus
from tests.classifiers.corpus import TypeScore
from tests.classifiers.harder_corpus import Outcome

PRECISION_MIN = 0.98
RECALL_MIN = 0.95
MIN_ITEMS = 20  # a type is held to the thresholds from this many labelled values on
RECORDS_TOLERANCE = 0.05  # for files with at least ten people


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("heldout_like")


@pytest.fixture(scope="module")
def outcomes(folder: Path) -> list[Outcome]:
    return heldout_like_corpus.scan_items(heldout_like_corpus.build_items(), folder)


@pytest.fixture(scope="module")
def scores(outcomes: list[Outcome]) -> dict[str, TypeScore]:
    result = heldout_like_corpus.score(outcomes)
    print(f"\n{corpus.table(result)}\n\n{heldout_like_corpus.records_report(outcomes)}")
    return result


def test_every_label_is_written_in_its_document() -> None:
    for item in heldout_like_corpus.build_items():
        assert item.truth or item.prose or item.people == 0, item.name
        source = (heldout_like_corpus.SOURCES / item.source).read_text(encoding="utf-8")
        plain, _ = harder_corpus.strip_labels(source)
        for _, value in item.truth:
            assert value in plain, (item.name, value)


def test_the_set_holds_the_forms_it_is_written_for(outcomes: list[Outcome]) -> None:
    assert len(outcomes) >= 30
    assert set(heldout_like_corpus.forms(outcomes)) == set(harder_corpus.RENDERERS)
    assert sum(o.item.prose for o in outcomes) >= 4
    assert sum(o.item.people == 0 and not o.item.prose for o in outcomes) >= 6
    names = {o.item.source for o in outcomes}
    assert {"customers_noheader.csv", "supplier_master.tsv", "newsletter_footer.eml"} <= names


def test_the_command_line_and_the_python_api_agree(outcomes: list[Outcome], folder: Path) -> None:
    for o in outcomes:
        result = scan_file(folder / o.item.name)
        assert sorted((f.type, f.value) for f in result.findings) == sorted(o.found), o.item.name
        assert result.records == o.records, o.item.name


@pytest.mark.parametrize("entity_type", ENTITY_TYPES)
def test_precision_and_recall(entity_type: str, scores: dict[str, TypeScore]) -> None:
    s = scores[entity_type]
    if s.tp + s.fn < MIN_ITEMS:
        assert s.fp <= 1, corpus.examples({entity_type: s})
        return
    assert s.precision >= PRECISION_MIN and s.recall >= RECALL_MIN, (
        f"{entity_type}: precision {s.precision:.3f}, recall {s.recall:.3f}\n"
        + corpus.examples({entity_type: s}, limit=30)
    )


def test_records_of_lists_of_people(outcomes: list[Outcome]) -> None:
    wrong = [
        f"{o.item.name}: {o.records} records for {o.item.people} people"
        for o in outcomes
        if o.item.people >= 10 and abs(o.records - o.item.people) > RECORDS_TOLERANCE * o.item.people
    ]
    assert not wrong, wrong


def test_no_people_in_supplier_masters_newsletters_and_contact_blocks(outcomes: list[Outcome]) -> None:
    wrong = [f"{o.item.name}: {o.records}" for o in outcomes if o.item.people == 0 and o.records]
    assert not wrong, wrong


def test_no_finding_in_prose_without_personal_data(outcomes: list[Outcome]) -> None:
    wrong = [f"{o.item.name}: {o.found}" for o in outcomes if o.item.prose and o.found]
    assert not wrong, wrong
