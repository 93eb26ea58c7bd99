"""End-to-end precision and recall of the classifiers over the generated, labelled corpus.

See :mod:`tests.classifiers.corpus` for how the corpus is made and for the matching rule.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from classifiers import ScanResult, scan_file
from classifiers.detectors import my_number as my_number_detector
from classifiers.model import ENTITY_TYPES
from tests.classifiers import corpus
from tests.classifiers.corpus import NUMERIC_TYPES, Entity, Item, TypeScore

#: Thresholds of the acceptance criteria.
NUMERIC_MIN = 0.95
TEXT_MIN = 0.9


@dataclass(frozen=True)
class Scanned:
    item: Item
    path: Path
    result: ScanResult

    @property
    def found(self) -> list[Entity]:
        """Findings in the item's content (envelope header fields are not labelled)."""
        return [(f.type, f.value) for p in self.result.parts if p.kind != "header" for f in p.findings]


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Item]]:
    root = tmp_path_factory.mktemp("corpus")
    items = corpus.build_items()
    for item in items:
        (root / item.name).write_bytes(item.data)
    return root, items


@pytest.fixture(scope="session")
def scanned(corpus_dir: tuple[Path, list[Item]]) -> list[Scanned]:
    root, items = corpus_dir
    return [Scanned(item, root / item.name, scan_file(root / item.name)) for item in items]


@pytest.fixture(scope="session")
def scores(scanned: list[Scanned]) -> dict[str, TypeScore]:
    out: dict[str, TypeScore] = {t: TypeScore() for t in ENTITY_TYPES}
    for s in scanned:
        corpus.score_item(s.item.name, s.item.truth, s.found, out)
    return out


@pytest.fixture(scope="session")
def record_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("records")
    for name, data in corpus.record_fixtures().items():
        (root / name).write_bytes(data)
    return root


# ---- the generator itself -----------------------------------------------------------------


def test_corpus_labels_every_type_many_times(corpus_dir: tuple[Path, list[Item]]) -> None:
    _, items = corpus_dir
    counts = Counter(t for item in items for t, _ in item.truth)
    assert set(counts) == set(ENTITY_TYPES)
    assert min(counts.values()) >= 15, counts


def test_corpus_renders_every_charset_and_attachment_kind(corpus_dir: tuple[Path, list[Item]]) -> None:
    _, items = corpus_dir
    described = " | ".join(i.description for i in items)
    for needle in (
        "iso-2022-jp 7bit",
        "shift_jis base64",
        "euc-jp 8bit",
        "utf-8 base64",
        "utf-8 quoted-printable",
        "utf-8 8bit",
        "declared='iso-8859-1'",
        "declared=''",
        "① ㈱ 髙",
        "multipart/alternative",
        "rfc822",
        "nested-zip",
        "file nested zip",
        *(f"+ {ext}" for ext in corpus.RENDERERS),
        *(f"file {ext}" for ext in corpus.RENDERERS),
    ):
        assert needle in described, needle


def test_corpus_is_deterministic() -> None:
    first = corpus.build_items(seed=7)
    second = corpus.build_items(seed=7)
    assert [(i.name, i.truth) for i in first] == [(i.name, i.truth) for i in second]
    assert [i.data for i in first if i.name.endswith(".eml")] == [
        i.data for i in second if i.name.endswith(".eml")
    ]


def test_truth_values_appear_in_their_document(corpus_dir: tuple[Path, list[Item]]) -> None:
    """Every labelled value is written verbatim into the text of its document."""
    g = corpus.Gen(11)
    for doc in corpus.make_docs(g):
        text = doc.text
        for _t, value in doc.all_truth:
            assert value in text, (doc.name, value)


def test_generated_my_numbers_pass_the_reference_validator() -> None:
    g = corpus.Gen(3)
    for _ in range(200):
        assert my_number_detector.is_valid(unicodedata.normalize("NFKC", g.my_number()))
    assert corpus.my_number_check("12345678901") == "8"


def test_official_check_digits() -> None:
    # The National Tax Agency's own corporate number is 7000012050002.
    assert corpus.corporate_check("000012050002") == "7"
    assert corpus.luhn_check("411111111111111") == "1"
    assert corpus.licence_check("4598033587") == "2"
    assert corpus.ean13_check("490123456789") == "4"


def test_cp50221_encoder_writes_nec_and_ibm_rows_in_jis_code_space() -> None:
    encoded = corpus.encode_cp50221("①㈱髙a")
    # ① is row 13 cell 1 (0x2D21), ㈱ row 13 cell 74 (0x2D6A), 髙 the NEC-selected row 92.
    assert encoded == b"\x1b$B\x2d\x21\x2d\x6a\x7c\x62\x1b(Ba"
    assert corpus.encode_cp50221("山田").decode("iso2022_jp") == "山田"


def test_matching_rule_counts_boundaries_strictly() -> None:
    scores: dict[str, TypeScore] = {}
    truth = [
        ("phone_number", "03-1234-5678"),
        ("address", "東京都港区芝公園4-2-8"),
        ("person_name", "山田 太郎"),
    ]
    found = [
        ("phone_number", "０３（1234）5678"),
        ("address", "東京都港区芝公園4-2"),
        ("person_name", "山田太郎"),
    ]
    corpus.score_item("x", truth, found, scores)
    assert (scores["phone_number"].tp, scores["phone_number"].fp) == (1, 0)
    assert (scores["address"].tp, scores["address"].fp, scores["address"].fn) == (0, 1, 1)
    assert scores["person_name"].tp == 1
    corpus.score_item(
        "y", [("person_name", "山田 太郎")], [("person_name", "山田"), ("person_name", "山田 太郎")], scores
    )
    assert (scores["person_name"].tp, scores["person_name"].fp) == (2, 1)


# ---- the classifiers over the corpus -------------------------------------------------------


def test_every_item_is_fully_inspected(scanned: list[Scanned]) -> None:
    problems = [
        f"{s.item.name} ({s.item.description}): errors={s.result.errors} truncated={s.result.truncated}"
        for s in scanned
        if not s.result.fully_inspected
    ]
    assert not problems, "\n".join(problems)


def test_every_attachment_yields_a_part(scanned: list[Scanned]) -> None:
    """Each mail's attachment, of every kind, is extracted into a part located under its name."""
    missing = [
        f"{s.item.name} ({s.item.description}): {s.item.attachment} not in {[p.location for p in s.result.parts]}"
        for s in scanned
        if s.item.attachment is not None
        and not any(s.item.attachment in p.location and p.kind == "attachment" for p in s.result.parts)
    ]
    assert not missing, "\n".join(missing)


@pytest.mark.parametrize("entity_type", ENTITY_TYPES)
def test_precision_and_recall(entity_type: str, scores: dict[str, TypeScore]) -> None:
    minimum = NUMERIC_MIN if entity_type in NUMERIC_TYPES else TEXT_MIN
    s = scores[entity_type]
    report = f"\n{corpus.table(scores)}\n\n{corpus.examples({entity_type: s}, limit=15)}"
    assert s.tp + s.fn > 0, report
    assert s.precision >= minimum and s.recall >= minimum, (
        f"{entity_type}: precision {s.precision:.3f}, recall {s.recall:.3f} (minimum {minimum}){report}"
    )


# ---- records ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["customers_300.xlsx", "customers_300.csv"])
def test_records_of_a_300_row_customer_list(record_files: Path, name: str) -> None:
    result = scan_file(record_files / name)
    assert 285 <= result.records <= 315, result.records


def test_records_of_a_signature_only_mail_is_one(record_files: Path) -> None:
    result = scan_file(record_files / "signature.eml")
    assert result.records == 1, [(f.type, f.value, f.location) for f in result.findings]


def test_multipart_alternative_is_counted_once(record_files: Path) -> None:
    alt = scan_file(record_files / "alternative.eml")
    plain = scan_file(record_files / "plain.eml")

    def counts(r: ScanResult) -> Counter[tuple[str, str]]:
        return Counter(
            (f.type, unicodedata.normalize("NFKC", f.value))
            for p in r.parts
            if p.kind != "header"
            for f in p.findings
        )

    assert len(plain.findings) > 10
    assert counts(alt) == counts(plain)
    assert alt.records == plain.records
