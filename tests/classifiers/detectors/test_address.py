"""Addresses: whole addresses with block numbers, not pieces; normalised for counting."""

from __future__ import annotations

import pytest

from classifiers.detectors import address as det
from classifiers.detectors._japan import PREFECTURES
from classifiers.engine import default_engine

POSITIVES: list[tuple[str, str, str, float]] = [
    (
        "住所：東京都千代田区丸の内1-2-3",
        "東京都千代田区丸の内1-2-3",
        "東京都千代田区丸の内1-2-3",
        1.0,
    ),
    (
        "〒100-0005 東京都千代田区丸の内一丁目２番３号　丸の内ビル５Ｆ",
        "東京都千代田区丸の内一丁目２番３号　丸の内ビル５Ｆ",
        "東京都千代田区丸の内1-2-3丸の内ビル5F",
        1.0,
    ),
    ("大阪府大阪市北区梅田3丁目1番3号", "大阪府大阪市北区梅田3丁目1番3号", "大阪府大阪市北区梅田3-1-3", 0.8),
    (
        "神奈川県横浜市西区みなとみらい2-2-1 ランドマークタワー45F",
        "神奈川県横浜市西区みなとみらい2-2-1 ランドマークタワー45F",
        "神奈川県横浜市西区みなとみらい2-2-1ランドマークタワ-45F",
        0.8,
    ),
    (
        "北海道虻田郡倶知安町字山田123番地",
        "北海道虻田郡倶知安町字山田123番地",
        "北海道虻田郡倶知安町字山田123",
        0.8,
    ),
    (
        "京都府京都市左京区吉田本町36番地1",
        "京都府京都市左京区吉田本町36番地1",
        "京都府京都市左京区吉田本町36-1",
        0.8,
    ),
    (
        "千葉県市川市八幡1-1-1 メゾン八幡101号室",
        "千葉県市川市八幡1-1-1 メゾン八幡101号室",
        "千葉県市川市八幡1-1-1メゾン八幡101号室",
        0.8,
    ),
    (
        "送付先 埼玉県さいたま市浦和区高砂3-15-1",
        "埼玉県さいたま市浦和区高砂3-15-1",
        "埼玉県さいたま市浦和区高砂3-15-1",
        1.0,
    ),
    (
        "東京都港区虎ノ門1-17-1 虎ノ門ヒルズ森タワー 25F",
        "東京都港区虎ノ門1-17-1 虎ノ門ヒルズ森タワー 25F",
        "東京都港区虎ノ門1-17-1虎ノ門ヒルズ森タワー25F",
        0.8,
    ),
    (
        "東京都港区虎ノ門1-17-1 メゾン八幡101",
        "東京都港区虎ノ門1-17-1 メゾン八幡101",
        "東京都港区虎ノ門1-17-1メゾン八幡101",
        0.8,
    ),
    ("横浜市中区山下町1-1にて", "横浜市中区山下町1-1", "横浜市中区山下町1-1", 0.7),
    ("港区六本木6-10-1", "港区六本木6-10-1", "港区六本木6-10-1", 0.7),
    ("沖縄県那覇市泉崎1丁目2番2号", "沖縄県那覇市泉崎1丁目2番2号", "沖縄県那覇市泉崎1-2-2", 0.8),
    # without the prefecture: any municipality of the closed list, not only designated cities
    ("白井市堀込2丁目5番地の8です", "白井市堀込2丁目5番地の8", "白井市堀込2-5-8", 0.7),
    ("送付先：所沢市並木2-4-3", "所沢市並木2-4-3", "所沢市並木2-4-3", 1.0),
    (
        "つくば市吾妻1-8-10 つくばビル3F",
        "つくば市吾妻1-8-10 つくばビル3F",
        "つくば市吾妻1-8-10つくばビル3F",
        0.7,
    ),
    ("東村山市本町1-2-3", "東村山市本町1-2-3", "東村山市本町1-2-3", 0.7),
    ("町田市原町田6-1-6", "町田市原町田6-1-6", "町田市原町田6-1-6", 0.7),  # starts with 町
    ("上北郡横浜町字林ノ脇79-2", "上北郡横浜町字林ノ脇79-2", "上北郡横浜町字林ノ脇79-2", 0.7),
    # a bare lot number where the address ends
    ("神奈川県横浜市中区山下町27、", "神奈川県横浜市中区山下町27", "神奈川県横浜市中区山下町27", 0.8),
    ("柏市若柴175 TEL 04-1234-5678", "柏市若柴175", "柏市若柴175", 0.7),
    # Hokkaido's grid towns, Kyoto's streets, a Latin building name
    ("札幌市北区北7条西5丁目8-1", "札幌市北区北7条西5丁目8-1", "札幌市北区北7条西5-8-1", 0.7),
    (
        "京都市下京区四条通烏丸東入長刀鉾町20",
        "京都市下京区四条通烏丸東入長刀鉾町20",
        "京都市下京区四条通烏丸東入長刀鉾町20",
        0.7,
    ),
    (
        "東京都品川区大崎2-1-1 ThinkPark Tower 15F",
        "東京都品川区大崎2-1-1 ThinkPark Tower 15F",
        "東京都品川区大崎2-1-1ThinkParkTower15F",
        0.8,
    ),
    # a run of kanji before the address is not part of it
    ("本社東京都港区六本木6-10-1にて", "東京都港区六本木6-10-1", "東京都港区六本木6-10-1", 0.8),
]

NEGATIVES = [
    "東京都港区在住の方",
    "大阪府大阪市",
    "東京都内の町で5番目",
    "千代田区役所",
    "本社は東京都にあります",
    "港区内で3件",
    "北区で会議",
    "横浜市では2、3回開催",
    "大阪市内で2-3日滞在",
    "東京都港区の人口24万",
    "千葉市民10-2で勝利",
    "新宿2-3",  # a town without its municipality
    "所沢市の会員30名",
]


@pytest.mark.parametrize(("text", "value", "normalized", "min_score"), POSITIVES)
def test_positives(text: str, value: str, normalized: str, min_score: float) -> None:
    found = list(det.scan(text))
    assert [(f.value, f.normalized) for f in found] == [(value, normalized)]
    assert found[0].score >= min_score


@pytest.mark.parametrize("text", NEGATIVES)
def test_hard_negatives(text: str) -> None:
    assert list(det.scan(text)) == []


@pytest.mark.parametrize(("text", "value", "normalized", "min_score"), POSITIVES)
def test_engine_value_is_the_original_text(text: str, value: str, normalized: str, min_score: float) -> None:
    found = [f for f in default_engine().scan_text(text) if f.type == det.ENTITY_TYPE]
    assert [f.value for f in found] == [value]
    assert text[found[0].span[0] : found[0].span[1]] == value


@pytest.mark.parametrize("phone", [" TEL 03-1234-5678", " TEL03-1234-5678", " 電話03-1234-5678"])
def test_a_phone_after_the_address_is_not_a_building(phone: str) -> None:
    (f,) = det.scan("東京都千代田区丸の内1-2-3" + phone)
    assert f.value == "東京都千代田区丸の内1-2-3"


def test_one_address_is_one_finding_and_hides_no_phone() -> None:
    text = "〒100-0005 東京都千代田区丸の内1-2-3 TEL 03-1234-5678"
    addresses = [f for f in default_engine().scan_text(text) if f.type == "address"]
    assert [f.value for f in addresses] == ["東京都千代田区丸の内1-2-3"]


def test_same_address_written_two_ways_normalises_to_one_value() -> None:
    (a,) = det.scan("東京都千代田区丸の内一丁目2番3号")
    (b,) = det.scan("東京都千代田区丸の内1-2-3")
    assert a.normalized == b.normalized


def test_every_prefecture_is_recognised() -> None:
    assert len(PREFECTURES) == 47
    for pref in PREFECTURES:
        found = list(det.scan(f"{pref}テスト市本町1-2-3"))
        assert [f.value for f in found] == [f"{pref}テスト市本町1-2-3"], pref


def test_hostile_input_is_bounded() -> None:
    text = "東京都" + "あ" * 50_000 + "区1-2-3"
    assert list(det.scan(text)) == []


def test_table_column_header_gives_context() -> None:
    rows = "".join(f"顧客{n}\t(未登録)\n" for n in range(5))
    text = f"氏名\t住所\n{rows}山田\t大阪府大阪市北区梅田3-1-3\n"
    (f,) = det.scan(text)
    assert f.score == 1.0
    assert f.explanation.context == ("column 住所",)
