"""The helpers shared by the number detectors: chunks of a NUMBER token, labels, table columns."""

from __future__ import annotations

import importlib

import pytest
import regex
from hypothesis import given, settings
from hypothesis import strategies as st

from classifiers.detectors import all_detectors
from classifiers.detectors._base import Document
from classifiers.detectors._numeric import (
    candidates,
    chunk_shape,
    context_words,
    find_context,
    fold,
    is_labelled_as,
)
from classifiers.detectors._table import column_cell
from classifiers.detectors._tokens import NUMBER, NUMBER_ANY_LENGTH, NUMBER_MIN_LENGTH
from classifiers.normalize import normalize
from tests.classifiers.detectors._support import only, scan_engine

_TOKEN = regex.compile(NUMBER)


def doc(text: str) -> Document:
    return Document(normalize(text))


def chunks(text: str, shape: str) -> list[str]:
    d = doc(text)
    pattern = chunk_shape(shape)
    return [d.text[s:e] for m in _TOKEN.finditer(d.text) for s, e, _t in candidates(m, pattern)]


def test_candidates_are_whole_chunks():
    assert chunks("03-1234-5678 090-1234-5678", r"0\d{1,3}-\d{4}-\d{4}") == ["03-1234-5678", "090-1234-5678"]
    assert chunks("1234-5678-9012", r"\d{4}-\d{4}") == []
    # A space-grouped number going on into bare digits is one longer number.
    assert chunks("1234 5678 9012 3456", r"\d{4} \d{4} \d{4}") == []
    assert chunks("1234 5678 9012 090-1234-5678", r"\d{4} \d{4} \d{4}") == ["1234 5678 9012"]


def test_number_token_edges():
    def tokens(text: str) -> list[str]:
        return [m.group(0) for m in _TOKEN.finditer(text)]

    assert tokens("TEL03-1234-5678 hotel0312") == ["03-1234-5678"]
    assert tokens("ORD-123456789012 ABC123 #123") == []
    assert tokens("090-1234-5678 1985/04/12") == ["090-1234-5678", "1985/04/12"]
    assert tokens("+81 (0)3-1234-5678") == ["+81 (0)3-1234-5678"]


def test_context_words_match_whole_english_words():
    words = context_words(["TEL", "JAN", "電話"])
    assert [m.group(0) for m in words.finditer("hotel January TEL: 電話")] == ["TEL", "電話"]


def test_fold():
    assert fold(" ０３ー１２３４－５６７８ ") == "03-1234-5678"


def test_own_label_stops_at_the_neighbouring_number():
    words = context_words(["個人番号"])
    d = doc("個人番号 1234-5678-9018 090-1234-5678")
    start = d.text.index("090")
    assert not is_labelled_as(d, start, start + 13, words)
    d = doc("個人番号（12桁）: 1234-5678-9018")
    start = d.text.index("1234")
    assert is_labelled_as(d, start, start + 14, words)


TABLES = {
    "csv": "社員番号,氏名,個人番号,運転免許証番号\n1001,山田 太郎,123456789018,300123456710\n",
    "tsv": "社員番号\t氏名\t個人番号\t運転免許証番号\t\n1001\t山田 太郎\t123456789018\t300123456710\t\n",
    "text": "社員番号  氏名  個人番号  運転免許証番号\n1001  山田 太郎  123456789018  300123456710\n",
    "html": "\t社員番号\t氏名\t個人番号\t運転免許証番号\n\n\n\t1001\t山田 太郎\t123456789018\t300123456710\n",
}


def test_column_header_in_every_layout():
    for layout, text in TABLES.items():
        d = doc(text)
        assert column_cell(d, d.text.index("1234567890")) == ("個人番号", ""), layout
        assert column_cell(d, d.text.index("3001")) == ("運転免許証番号", ""), layout
        found = scan_engine(text)
        assert [(f.type, f.value) for f in found if f.type != "person_name"] == [
            ("my_number", "123456789018"),
            ("drivers_license", "300123456710"),
        ], layout


def test_header_context_replaces_the_window_in_tables():
    d = doc("番号,備考\n個人番号 123456789018,なし\n")
    start = d.text.index("1234")
    assert find_context(d, start, start + 12, context_words(["個人番号"])) == ("個人番号",)
    plain = doc("no table here: 個人番号 123456789018")
    start = plain.text.index("1234")
    assert find_context(plain, start, start + 12, context_words(["個人番号"])) == ("個人番号",)


def test_a_roster_keeps_each_column_apart():
    text = (
        "社員番号,氏名,個人番号,基礎年金番号,運転免許証番号,振込口座\n"
        "271369,石川 稔,5514-5909-6538,6063-171197,628285698510,2135295\n"
        "542984,前田 真綾,5169-8716-3972,7114205066,458387671451,3800373\n"
    )
    found = scan_engine(text)
    assert [f.value for f in only(found, "my_number")] == ["5514-5909-6538", "5169-8716-3972"]
    assert [f.value for f in only(found, "pension_number")] == ["6063-171197", "7114205066"]
    assert [f.value for f in only(found, "drivers_license")] == ["628285698510", "458387671451"]
    assert [f.value for f in only(found, "bank_account")] == ["2135295", "3800373"]
    assert only(found, "phone_number") == []


def test_rows_with_commas_in_a_two_space_table_keep_the_header():
    text = (
        "社員番号  氏名  基礎年金番号  振込口座\n"
        "1001  山田 太郎  1234-567890  1234567\n"
        "1002  田中  花子  2345-678901  2345678\n"  # one value with a double space: does not fit
        "1003  佐藤 一郎, 二郎  3456-789012  3456789\n"  # a comma inside a cell
        "1004  鈴木 次郎  4567-890123  4567890\n"
    )
    found = scan_engine(text)
    assert [f.value for f in only(found, "pension_number")] == ["1234-567890", "3456-789012", "4567-890123"]
    assert [f.value for f in only(found, "bank_account")] == ["1234567", "3456789", "4567890"]


_JUNK_ALPHABET = "0123456789０１２３４５６７８９-ー－ ./()+T〒KB個人番号電話口座年金免許旅券\t,\n"


_ANY_LENGTH = regex.compile(NUMBER_ANY_LENGTH)
#: The detectors that read the shared NUMBER token, found by their pattern (no list to keep).
_TOKEN_READERS = [m.__name__.rpartition(".")[2] for m in all_detectors() if m.PATTERN == NUMBER]


def test_every_number_token_reader_declares_the_shared_minimum() -> None:
    assert len(_TOKEN_READERS) >= 8
    for name in _TOKEN_READERS:
        assert importlib.import_module(f"classifiers.detectors.{name}").MIN_LENGTH >= NUMBER_MIN_LENGTH, name


@settings(max_examples=200, deadline=None)
@given(junk=st.text(alphabet=_JUNK_ALPHABET, max_size=60))
def test_number_is_the_any_length_token_cut_at_the_minimum(junk: str) -> None:
    """The look-ahead refuses most short runs early; it never loses or changes a long token."""
    text = normalize(junk).text

    def long_enough(pattern: regex.Pattern[str]) -> list[tuple[int, int]]:
        return [m.span() for m in pattern.finditer(text) if m.end() - m.start() >= NUMBER_MIN_LENGTH]

    assert long_enough(_TOKEN) == long_enough(_ANY_LENGTH)


@pytest.mark.parametrize("name", _TOKEN_READERS)
@settings(max_examples=60, deadline=None)
@given(junk=st.text(alphabet=_JUNK_ALPHABET, max_size=60))
def test_min_length_never_hides_a_finding(name: str, junk: str) -> None:
    """A detector's check accepts no token shorter than its MIN_LENGTH, so skipping them is safe."""
    module = importlib.import_module(f"classifiers.detectors.{name}")
    doc = Document(normalize(junk))
    for m in _ANY_LENGTH.finditer(doc.text):
        if list(module.check(m, doc)):
            assert m.end() - m.start() >= module.MIN_LENGTH, m.group()


def _labels_as_before(d: Document, start: int) -> tuple[str, ...]:
    """The labels of a number in a table as they were read before the header's matches were
    cached: header (as words), the cell before the number, the row's field label."""
    from classifiers.detectors._table import header_words, row_label

    cell = column_cell(d, start)
    assert cell is not None
    first = row_label(d, start)
    header, label = cell
    return (header_words(header), label) if first is None else (header_words(header), label, first)


_HEADERS = ["No", "氏名", "個人番号", "MemberNo", "会員番号", "電話番号", "注文番号", "備考", "口座番号"]
_CELLS = ["1234-5678-9012", "会員 1234-5678", "番号 0312345678", "山田", "", "No.5 5555-6666"]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.sampled_from(_HEADERS), min_size=2, max_size=4, unique=True),
    st.lists(st.lists(st.sampled_from(_CELLS + _HEADERS), min_size=1, max_size=4), min_size=1, max_size=4),
    st.sampled_from(["\t", ","]),
)
def test_table_labels_read_as_before(headers: list[str], rows: list[list[str]], sep: str) -> None:
    """find_context and is_labelled_as (the header's matches cached per column) answer what
    matching every label of the number in turn answered, on generated tables."""
    text = sep.join(headers) + "\n" + "".join(sep.join(row) + "\n" for row in rows)
    d = doc(text)
    words = context_words(["個人番号", "会員番号", "番号", "member", "No", "会員", "電話"])
    for m in regex.finditer(r"\d{4}", d.text):
        start = m.start()
        if column_cell(d, start) is None:
            continue
        labels = _labels_as_before(d, start)
        expected = tuple(dict.fromkeys(x.group(0) for t in labels for x in words.finditer(t)))
        assert find_context(d, start, m.end(), words) == expected
        assert is_labelled_as(d, start, m.end(), words) == any(words.search(t) for t in labels)
