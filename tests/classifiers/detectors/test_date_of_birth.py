"""Dates of birth: Western and era dates with birth context; dates without it are not findings."""

from __future__ import annotations

import datetime as dt

import pytest

from classifiers.detectors import date_of_birth as det
from classifiers.engine import default_engine

POSITIVES: list[tuple[str, str, str]] = [
    ("生年月日: 1985-04-12", "1985-04-12", "1985-04-12"),
    ("生年月日：1985/4/12", "1985/4/12", "1985-04-12"),
    ("誕生日 1985.04.12", "1985.04.12", "1985-04-12"),
    ("1985年4月12日生まれ", "1985年4月12日", "1985-04-12"),
    ("生年月日 昭和60年4月12日", "昭和60年4月12日", "1985-04-12"),
    ("生年月日 平成元年1月8日", "平成元年1月8日", "1989-01-08"),
    ("誕生日：令和2年5月1日", "令和2年5月1日", "2020-05-01"),
    ("生年月日 大正15年12月24日", "大正15年12月24日", "1926-12-24"),
    ("生年月日 S60.4.12", "S60.4.12", "1985-04-12"),
    ("生年月日：H1.1.8", "H1.1.8", "1989-01-08"),
    ("生年月日：Ｓ６０．４．１２", "Ｓ６０．４．１２", "1985-04-12"),
    ("生年月日：１９８５年４月１２日", "１９８５年４月１２日", "1985-04-12"),
    ("昭和60年4月12日生", "昭和60年4月12日", "1985-04-12"),
    ("山田太郎 1985/4/12 (40歳)", "1985/4/12", "1985-04-12"),
    ("平成2年3月4日（満35歳）", "平成2年3月4日", "1990-03-04"),
    ("DOB: 04/12/1985", "04/12/1985", "1985-04-12"),
    ("Date of birth: 12 April 1985", "12 April 1985", "1985-04-12"),
    ("born on April 12, 1985 in Osaka", "April 12, 1985", "1985-04-12"),
    ("氏名,生年月日,電話\n山田太郎,1985/4/12,03-1234-5678\n", "1985/4/12", "1985-04-12"),
]

NEGATIVES = [
    "会議は2025-04-12に行います",
    "締切：2025年4月12日",
    "令和7年4月12日 打ち合わせ",
    "生年月日: 1985-02-30",  # no such day
    "生年月日 平成31年5月1日",  # 平成 ended on 2019-04-30
    "生年月日 昭和65年1月1日",  # 昭和 ended on 1989-01-07
    "生年月日 H1.1.7",  # still 昭和64
    "生年月日 令和元年4月30日",  # 令和 began on 2019-05-01
    "生年月日: 2099-01-01",  # the future
    "生年月日: 1985-13-01",
    "生年月日: 1985-04-12-3",
    "注文番号 2019-0412-55",
]


@pytest.mark.parametrize(("text", "value", "iso"), POSITIVES)
def test_positives(text: str, value: str, iso: str) -> None:
    found = list(det.scan(text))
    assert [(f.value, f.normalized) for f in found] == [(value, iso)]
    assert found[0].score >= 0.85
    assert found[0].explanation.validation == "calendar date"
    assert found[0].explanation.context


@pytest.mark.parametrize("text", NEGATIVES)
def test_hard_negatives(text: str) -> None:
    assert list(det.scan(text)) == []


@pytest.mark.parametrize(("text", "value", "iso"), POSITIVES)
def test_engine_value_is_the_original_text(text: str, value: str, iso: str) -> None:
    found = [f for f in default_engine().scan_text(text) if f.type == det.ENTITY_TYPE]
    assert [f.value for f in found] == [value]
    assert text[found[0].span[0] : found[0].span[1]] == value


def test_dates_go_to_this_detector_not_to_numbers() -> None:
    """A date with context is one date_of_birth finding and nothing else over the same span."""
    text = "生年月日 1985-04-12"
    found = default_engine().scan_text(text)
    assert [(f.type, f.value) for f in found] == [("date_of_birth", "1985-04-12")]


@pytest.mark.parametrize(
    ("era", "first", "last"),
    [
        ("明治", "1868-01-25", "1912-07-29"),
        ("大正", "1912-07-30", "1926-12-24"),
        ("昭和", "1926-12-25", "1989-01-07"),
        ("平成", "1989-01-08", "2019-04-30"),
    ],
)
def test_era_boundaries(era: str, first: str, last: str) -> None:
    offsets = {"明治": 1867, "大正": 1911, "昭和": 1925, "平成": 1988}
    for iso, inside in ((first, True), (last, True)):
        d = dt.date.fromisoformat(iso)
        assert det.is_valid(era, str(d.year - offsets[era]), str(d.month), str(d.day)) is inside
    before = dt.date.fromisoformat(first) - dt.timedelta(days=1)
    after = dt.date.fromisoformat(last) + dt.timedelta(days=1)
    assert not det.is_valid(era, str(before.year - offsets[era]), str(before.month), str(before.day))
    assert not det.is_valid(era, str(after.year - offsets[era]), str(after.month), str(after.day))


def test_hostile_input_is_bounded() -> None:
    for text in ("生年月日 " + "1985-" * 10_000, "昭和" * 10_000, "S60." * 10_000):
        assert all(f.normalized for f in det.scan(text))


#: One customer list in the layouts extraction produces: spreadsheet rows (a trailing tab), PDF
#: layout text (runs of spaces, blank lines between rows), CSV, and an HTML table.
TABLE_LAYOUTS = {
    "xlsx": "No\t氏名\t生年月日\t\n1\t山田 太郎\t1985-04-12\t\n2\t佐藤 花子\t昭和47年11月20日\t\n",
    "pdf": "No   氏名   生年月日\n\n1   山田 太郎   1985-04-12\n\n2   佐藤\u3000花子   昭和47年11月20日\n",
    "csv": "No,氏名,生年月日\r\n1,山田 太郎,1985-04-12\r\n2,佐藤 花子,昭和47年11月20日\r\n",
    "html": "No\t氏名\t生年月日\n1\t山田 太郎\t1985-04-12\n2\t佐藤 花子\t昭和47年11月20日\n",
}


@pytest.mark.parametrize("layout", TABLE_LAYOUTS)
def test_column_header_gives_context_in_every_table_layout(layout: str) -> None:
    def dates(text: str) -> list[str | None]:
        return [f.normalized for f in default_engine().scan_text(text) if f.type == "date_of_birth"]

    text = TABLE_LAYOUTS[layout]
    assert dates(text) == ["1985-04-12", "1972-11-20"]
    assert dates(text.replace("生年月日", "登録日")) == []  # the header is the only context
