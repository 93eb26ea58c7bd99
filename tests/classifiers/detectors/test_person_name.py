"""Person names: hand-written common names (not read from the dictionary files), context rules,
hard negatives, and the engine's spans.

The coverage lists are typed here on purpose: testing with lines taken from
``classifiers/data/`` would only grade the dictionary against itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from classifiers.detectors import _table as tables
from classifiers.detectors import person_name as det
from classifiers.engine import RECORD_MIN_SCORE, count_records, default_engine

COMMON_SURNAMES = [
    "佐藤",
    "鈴木",
    "高橋",
    "田中",
    "渡辺",
    "伊藤",
    "山本",
    "中村",
    "小林",
    "加藤",
    "吉田",
    "山田",
]
COMMON_GIVEN = [
    "太郎",
    "一郎",
    "健太",
    "翔太",
    "大輔",
    "美咲",
    "陽子",
    "直樹",
    "恵子",
    "由美子",
    "拓也",
    "裕子",
]
ROMAJI = [
    ("Sato", "Taro"),
    ("Suzuki", "Ichiro"),
    ("Takahashi", "Kenta"),
    ("Tanaka", "Misaki"),
    ("Watanabe", "Yoko"),
]
KATAKANA = [
    ("サトウ", "タロウ"),
    ("スズキ", "イチロウ"),
    ("タカハシ", "ケンタ"),
    ("タナカ", "ミサキ"),
    ("ワタナベ", "ヨウコ"),
]


@pytest.mark.parametrize("sei", COMMON_SURNAMES)
def test_common_surname_with_honorific(sei: str) -> None:
    for hon in ("様", "さん", "殿", "氏"):
        found = list(det.scan(f"いつも{sei}{hon}にお世話になっております"))
        assert [f.value for f in found] == [sei], hon
        assert found[0].score >= 0.85


@pytest.mark.parametrize("sei", COMMON_SURNAMES)
def test_common_full_names_count_without_context(sei: str) -> None:
    for mei in COMMON_GIVEN:
        for sep in ("", " ", "　"):
            text = f"本日、{sei}{sep}{mei}が来社した。"
            found = list(det.scan(text))
            assert [f.value for f in found] == [f"{sei}{sep}{mei}"]
            assert found[0].normalized == sei + mei
            assert found[0].score >= RECORD_MIN_SCORE


@pytest.mark.parametrize(("sei", "mei"), ROMAJI)
def test_romanised_names_in_both_orders(sei: str, mei: str) -> None:
    for text in (f"{mei} {sei}", f"{sei.upper()} {mei}", f"{sei}, {mei}"):
        found = list(det.scan(f"Attendees: {text} and others"))
        assert [f.normalized for f in found] == [(sei + mei).lower()], text


@pytest.mark.parametrize(("sei", "mei"), KATAKANA)
def test_katakana_names(sei: str, mei: str) -> None:
    for text in (f"{sei} {mei}", f"{sei}{mei}", f"{sei}・{mei}"):
        found = list(det.scan(f"フリガナ：{text}"))
        assert [f.value for f in found] == [text]
        assert found[0].score == 1.0


def test_hiragana_name_needs_a_space_or_an_honorific() -> None:
    assert [f.value for f in det.scan("ふりがな：やまだ たろう")] == ["やまだ たろう"]
    assert list(det.scan("やまだたろうは")) == []


@pytest.mark.parametrize(
    ("text", "value", "normalized"),
    [
        ("やまだたろうさん、こんにちは。", "やまだたろう", "やまだたろう"),
        ("すずきいちろう様\nいつもお世話になっております。", "すずきいちろう", "すずきいちろう"),
        ("担当: さとうはなこ殿", "さとうはなこ", "さとうはなこ"),
        ("1班の班長はさとうゆいちゃんです。", "さとうゆい", "さとうゆい"),
    ],
)
def test_a_hiragana_full_name_without_a_space_before_an_honorific(
    text: str, value: str, normalized: str
) -> None:
    found = list(det.scan(text))
    assert [(f.value, f.normalized, f.score) for f in found] == [(value, normalized, 1.0)]
    engine = [f for f in default_engine().scan_text(text) if f.type == "person_name"]
    assert [f.value for f in engine] == [value], "the engine's passes find it too"


@pytest.mark.parametrize(
    "text",
    [
        "おつかれさまです",
        "ごくろうさまでした",
        "おかあさんと話す",
        "みなさま、ごちそうさまでした",
        "おきゃくさまへ",
        "たくさんの資料",
        "おじいちゃんとおばあちゃん",
        "おひめさまとおうじさま",
        "たなかくん",  # a surname alone in hiragana: too many words take くん and さん
    ],
)
def test_hiragana_words_before_an_honorific_are_no_names(text: str) -> None:
    assert list(det.scan(text)) == []
    assert [f for f in default_engine().scan_text(text) if f.type == "person_name"] == []


@pytest.mark.parametrize("unknown", ["轟木", "鍛冶谷", "蕨野", "鬼頭原"])
def test_unknown_surname_is_found_by_honorific_only(unknown: str) -> None:
    assert unknown not in det.SURNAMES
    found = list(det.scan(f"{unknown}様\nいつもお世話になっております。"))
    assert [f.value for f in found] == [unknown]
    assert found[0].score >= 0.6
    assert "様" in found[0].explanation.context
    assert list(det.scan(f"{unknown}の件")) == []


def test_known_surname_with_unknown_given_name_and_honorific() -> None:
    assert "花子" not in det.GIVEN_NAMES
    (f,) = det.scan("佐藤花子様")
    assert (f.value, f.score) == ("佐藤花子", 0.85)


@pytest.mark.parametrize(
    ("text", "value", "min_score"),
    [
        ("山田 太郎様", "山田 太郎", 1.0),
        ("氏名：山田太郎", "山田太郎", 1.0),
        ("お名前: 鈴木 一郎", "鈴木 一郎", 1.0),
        ("担当：鈴木", "鈴木", 0.85),
        ("担当者 高橋", "高橋", 0.85),
        ("契約者 伊藤健太", "伊藤健太", 1.0),
        ("宛名 渡辺恵子", "渡辺恵子", 1.0),
        ("営業部田中様", "田中", 0.85),
        ("田中部長によろしくお伝えください", "田中", 0.7),
        ("渡邊様", "渡邊", 0.85),
        ("齋藤さん", "齋藤", 0.85),
        ("ｻﾄｳ ﾀﾛｳ 様", "ｻﾄｳ ﾀﾛｳ", 1.0),
        ("田中 様", "田中", 0.85),
        ("山田 太郎 様", "山田 太郎", 1.0),
        ("Dear Mr. Suzuki,", "Suzuki", 0.85),
        ("Tanaka-san, thank you", "Tanaka", 0.85),
        ("Dear Taro Yamada,", "Taro Yamada", 0.9),
    ],
)
def test_context_forms(text: str, value: str, min_score: float) -> None:
    found = list(det.scan(text))
    assert [f.value for f in found] == [value]
    assert found[0].score >= min_score


def test_known_surname_space_unknown_given_name() -> None:
    """Written like a name (surname, space, short kanji run): reported, counted only with context."""
    assert "花子" not in det.GIVEN_NAMES
    (weak,) = det.scan("佐藤 花子")
    assert weak.score < RECORD_MIN_SCORE
    (strong,) = det.scan("氏名: 佐藤 花子")
    assert (strong.value, strong.score) == ("佐藤 花子", 0.85)
    (single,) = det.scan("氏名: 林 京助")
    assert (single.value, single.score) == ("林 京助", 0.85)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("佐藤 さくらさん", "佐藤 さくら"),
        ("佐藤 さくらです", "佐藤 さくら"),
        ("山田 太郎と申します", "山田 太郎"),
    ],
)
def test_name_followed_by_kana(text: str, value: str) -> None:
    assert [f.value for f in det.scan(text)] == [value]


def test_scanning_the_same_text_twice_gives_the_same_findings() -> None:
    text = "Dear Mr. Suzuki, 山田 太郎様"
    first = [f.value for f in det.scan(text)]
    for _ in range(5):
        assert [f.value for f in det.scan(text)] == first == ["Suzuki", "山田 太郎"]
        assert [f.value for f in default_engine().scan_text(text) if f.type == "person_name"] == first


def test_hostile_input_is_bounded() -> None:
    for text in ("漢" * 20_000, "カ" * 20_000, "あ " * 10_000, "Abc " * 5_000, "山田 " * 5_000):
        assert all(f.value for f in det.scan(text))


def test_column_header_counts_known_surname_with_unknown_given_name() -> None:
    text = "氏名,電話\n佐藤花子,03-1111-2222\n"
    # the whole cell is the name, whatever the dictionary knows of the given name
    assert [(f.value, f.score) for f in det.scan(text)] == [("佐藤花子", det.CELL_SCORE)]
    assert list(det.scan(text.replace("氏名", "品名"))) == []


def test_reading_on_the_same_line_is_not_a_second_person() -> None:
    text = "氏名,フリガナ,ローマ字\n山田太郎,ヤマダ タロウ,Taro Yamada\nサトウ ケンタ\n"
    found = [(f.value, f.score >= RECORD_MIN_SCORE) for f in det.scan(text)]
    assert found == [
        ("山田太郎", True),
        ("ヤマダ タロウ", False),
        ("Taro Yamada", False),
        ("サトウ ケンタ", True),
    ]
    kanji = ["佐藤太郎", "鈴木一郎", "高橋健太", "田中美咲", "渡辺陽子"]
    roster = "氏名,フリガナ,ローマ字\n" + "".join(
        f"{k},{ks} {km},{rm} {rs}\n" for k, (ks, km), (rs, rm) in zip(kanji, KATAKANA, ROMAJI, strict=True)
    )
    findings = default_engine().scan_text(roster)
    assert sum(f.type == "person_name" for f in findings) == 15
    assert count_records(findings) == 5


def test_table_column_header_gives_context() -> None:
    rows = "".join(f"{n},データ{n},03-1111-{n:04d}\n" for n in range(1, 4))
    text = f"No,氏名,電話\n{rows}4,高橋,03-1111-2222\n5,佐藤健太,03-3333-4444\n"
    found = list(det.scan(text))
    # a cell under 氏名 is a name (a surname alone too); one the dictionary knows whole scores 1.0
    assert [(f.value, f.score) for f in found] == [("高橋", det.CELL_SCORE), ("佐藤健太", 1.0)]
    assert found[0].explanation.context == ("column 氏名",)
    other = list(det.scan(text.replace("氏名", "品名")))
    assert [(f.value, f.score) for f in other] == [("佐藤健太", 0.5)]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        # surnames that are also place names, with something that says "name"
        ("株式会社東邦メディカルの梶谷です。", "梶谷"),
        ("当社法務部長の沢渡氏とも協議済みです", "沢渡"),
        ("東都大学の羽生田 透教授にもご同席", "羽生田 透"),
        ("株式会社東邦メディカル 法務部\n梶谷 美咲\n", "梶谷 美咲"),
        ("轟木 様\nお世話になっております", "轟木"),
        # names in kana with a space, before さん/くん
        ("たかぎ そうたくん、もりやま けいくん", "たかぎ そうた"),
        ("スガワラ ダイチ,090-1234-5678", "スガワラ ダイチ"),
        # a kanji surname with a katakana given name
        ("お茶当番：松居 ユリアさん", "松居 ユリア"),
        ("山口 ルカくん", "山口 ルカ"),
        # the honorific starts a word: 様名義, 様方
        ("ご契約者 伊藤舞 様名義の契約が満期を迎えます", "伊藤舞"),
        # a roster without a header: a cell of two kanji words on a row with its reading
        ("宗像 葵\tむなかた あおい\t070-6612-4478", "宗像 葵"),
        # a label for who someone is in a meeting, an audit, an event
        ("補助者：新田 エレナ、Kevin Tanaka", "新田 エレナ"),
        ("補助者：Kevin Tanaka", "Kevin Tanaka"),
        # names right after a particle, given names in kana before さん + a particle
        ("1班の班長はふじさわ ひなたちゃん、", "ふじさわ ひなた"),
        ("副班長は岩永 さくらさんにお願いしました。", "岩永 さくら"),
        ("2班の班長は小池 ジョージくんです。", "小池 ジョージ"),
        # the writer's surname as the one to contact
        ("ご不明な点がございましたら、五味までお問い合わせください。", "五味"),
        ("詳細は、梶谷までご連絡ください。", "梶谷"),
    ],
)
def test_names_as_offices_write_them(text: str, value: str) -> None:
    found = [f for f in det.scan(text) if f.score >= RECORD_MIN_SCORE]
    assert [f.value for f in found][:1] == [value]


@pytest.mark.parametrize(
    "text",
    [
        "項目\t内容\nお名前\t宇佐美 沙織\nフリガナ\tウサミ サオリ\n",  # a key-value row labelled フリガナ
        "Name,Kana\n吉岡 知世,ヨシオカ トモヨ\n",  # a column headed Kana
        "宗像 葵\tむなかた あおい\t070-6612-4478\n",  # a row with the name as a cell
    ],
)
def test_a_reading_by_its_label_or_row_is_not_a_second_person(text: str) -> None:
    found = list(det.scan(text))
    assert len(found) == 2 and [f.score >= RECORD_MIN_SCORE for f in found] == [True, False]


def test_a_kana_name_with_an_honorific_is_not_the_reading_of_its_line() -> None:
    found = det.scan("お茶当番：松居 ユリアさん（まつい ゆうきくんのお母さま）")
    assert [(f.value, f.score >= RECORD_MIN_SCORE) for f in found] == [
        ("松居 ユリア", True),
        ("まつい ゆうき", True),
    ]


NEGATIVES = [
    "お客様各位",
    "皆様、ご担当者様",
    "お世話様です",
    "神様仏様",
    "大家さんに連絡",
    "東京都千代田区",
    "会議室を予約しました",
    "中村区役所",
    "田中氏名欄",  # 氏名 is not the honorific 氏
    "新宿区の高橋駅前",  # 高橋 inside a longer run of kanji
    "データベースとパスワード",
    "Strictly Confidential",
    "Go to Osaka Station",
    "森林公園",
    "旧江戸城西ノ丸が宮殿の敷地",
    "お天道さまが見ている",
    "お義姉さんと",
    "妄想彼氏",
    "幾何学模様の布",
    "同様に処理します",
    "諸君、聞きたまえ",
    # place names are surnames only where something says "name"
    "本社は東京の新宿です",
    "東京 本社にて",
    "大阪 梅田の店舗",
    "横浜の港北です",
    "これは まだ です",
    "ご不明な点は、総務部までお問い合わせください",
    "詳しくは、大阪までお越しください",
    "森 ビル、三井 住友銀行、安田 講堂",  # a surname, a space and a word
    "会議には林 千代、鈴木",  # 千代 is also a word: without a cue, not a name
]


@pytest.mark.parametrize("text", NEGATIVES)
def test_hard_negatives(text: str) -> None:
    assert list(det.scan(text)) == []


@pytest.mark.parametrize("text", ["中学の時", "林翔と話す", "森林の中"])
def test_single_kanji_pairs_do_not_count_without_context(text: str) -> None:
    assert all(f.score < RECORD_MIN_SCORE for f in det.scan(text))


def test_surname_alone_without_context_is_not_a_finding() -> None:
    assert list(det.scan("田中が来た")) == []


@pytest.mark.parametrize(
    "text",
    [
        "山田 太郎様\n住所：東京都千代田区丸の内1-2-3",
        "〒100-0005 東京都港区六本木6-10-1　山田　太郎様",
        "氏名,電話\n高橋一郎,03-1234-5678\n渡辺恵子,03-9876-5432\n",
        "Dear Mr. Taro Yamada, ＹＡＭＡＤＡ　Ｔａｒｏ",
    ],
)
def test_engine_value_is_the_original_text(text: str) -> None:
    found = [f for f in default_engine().scan_text(text) if f.type == det.ENTITY_TYPE]
    assert found
    for f in found:
        assert text[f.span[0] : f.span[1]] == f.value


def test_names_do_not_hide_addresses_from_the_engine() -> None:
    text = "本社東京都港区六本木6-10-1にて山田太郎様と面談"
    found = default_engine().scan_text(text)
    assert [(f.type, f.value) for f in found] == [
        ("address", "東京都港区六本木6-10-1"),
        ("person_name", "山田太郎"),
    ]


def test_a_spaced_name_is_one_finding() -> None:
    assert [f.value for f in det.scan("山田 太郎様")] == ["山田 太郎"]
    assert [f.value for f in det.scan("山田 太郎様、山田 太郎様")] == ["山田 太郎", "山田 太郎"]


def test_dictionary_has_thousands_of_entries() -> None:
    assert len(det.SURNAMES) > 2000
    assert len(det.GIVEN_NAMES) > 10000


def test_concurrent_scans_agree_with_sequential_ones() -> None:
    texts = [f"{sei} {mei}様、{sei}さん" for sei, mei in zip(COMMON_SURNAMES, COMMON_GIVEN, strict=True)] * 4
    expected = [[f.value for f in det.scan(t)] for t in texts]
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(lambda t: [f.value for f in det.scan(t)], texts))
    assert got == expected


@pytest.mark.parametrize(
    ("text", "value", "counted"),
    [
        ("山本さゆり", "山本さゆり", True),  # hiragana given name (gimei reading), no space
        ("鈴木 あすか", "鈴木 あすか", True),
        ("中村 あすかさん", "中村 あすか", True),
        ("有限会社伊藤電気 総務部\n森\u3000くみ子\n〒199-2459", "森\u3000くみ子", False),  # kana + 子: shape
        ("No\t氏名\n1\t山本くみ子\t090-1234-5678\n", "山本くみ子", True),  # not the surname alone
        ("会議には林 沙月、鈴木", "林 沙月", False),  # one-kanji surname, unknown given, name ends
        ("出席者: 林 千代、鈴木", "林 千代", True),  # the label 出席者 says it is a name
    ],
)
def test_given_name_in_kana_or_unknown_after_a_surname(text: str, value: str, counted: bool) -> None:
    found = [f for f in det.scan(text) if f.value == value or value in f.value]
    assert [f.value for f in found][:1] == [value]
    assert (found[0].score >= RECORD_MIN_SCORE) is counted


@pytest.mark.parametrize(
    ("text", "surname"),
    [
        ("鈴木さんに", "鈴木"),
        ("田中からの連絡", "田中"),
        ("山田との打ち合わせ", "山田"),
        ("森の木陰", "森"),
        ("山田さきほど", "山田"),
        ("林 千代に", "林"),
        ("田中 その後", "田中"),
        ("林 部長", "林"),
        ("田中しか。", "田中"),
        ("山田とか、", "山田"),
    ],
)
def test_no_given_name_where_none_ends(text: str, surname: str) -> None:
    """Honorifics, particles, titles and words after a surname are not a given name."""
    assert all(f.value == surname for f in det.scan(text))


def test_narrowed_pattern_loses_no_name() -> None:
    """The pattern's guards (surname first characters, cues, kana surname prefixes) only skip
    candidates that :func:`check` would reject: every run start tried gives the same findings."""
    import regex

    from classifiers.detectors._base import Document
    from classifiers.normalize import normalize
    from tests.classifiers import corpus

    broad = (
        det.PATTERN.replace(det._KANJI_START, "")
        .replace(f"(?={det._prefix_trie(det._KATA_SURNAMES)})", "")
        .replace(f"(?={det._prefix_trie(det._HIRA_SURNAMES)})", "")
        .replace(
            f"(?=[{det._HAN}A-Z]|{det._KATA_FIRST}|{det._HIRA_FIRST})",
            f"(?=[{det._HAN}{det._KATA}\\p{{Hiragana}}A-Z])",
        )
        .replace(det._ROMAJI_CUE, ")?")
        .replace(f"{det._KATA_FIRST}(?<![{det._KATA}].)", f"[{det._KATA}](?<![{det._KATA}].)")
    )
    assert broad != det.PATTERN
    narrow_re, broad_re = regex.compile(det.PATTERN), regex.compile(broad)
    texts = [d.text for d in corpus.make_docs(corpus.Gen(7))]
    texts.append("データベースの会議室で営業部田中様と山本さゆりさん、ヤマダ タロウ様、轟木様に会う。")
    texts.append("Dear Mr. Suzuki, Taro Yamada and Tanaka-san: Go to Osaka Station. Mr. Taro Yamada")
    tried = kept = 0
    for text in texts:
        doc = Document(normalize(text))
        broad_hits = [h for m in broad_re.finditer(doc.text) for h in det.check(m, doc)]
        narrow_hits = [h for m in narrow_re.finditer(doc.text) for h in det.check(m, doc)]
        assert narrow_hits == broad_hits
        tried += sum(1 for _ in broad_re.finditer(doc.text))
        kept += sum(1 for _ in narrow_re.finditer(doc.text))
    assert kept < tried / 2  # most run starts never reach Python


#: A table without a header row (a Word table of seminar attendees): the first column holds
#: names the dictionary knows, and one whose given name is also a word (勇気).
ATTENDEES = [
    ("伊東 聡", "株式会社ノース物流", "業務改革室"),
    ("大塚 雅美", "東邦倉庫株式会社", "総務部"),
    ("渡部 翔", "株式会社カナエ運送", "情報システム課"),
    ("篠原 勇気", "株式会社トランスワン", "経営企画室"),
    ("桜井 美穂", "有限会社サクラ便", "代表"),
]


#: The attendees the dictionary knows as names.
NAMED = [row for row in ATTENDEES if row[0] != "篠原 勇気"]


def _table(rows: Sequence[tuple[str, ...]], sep: str = "\t") -> str:
    return "セミナー参加者リスト\n" + "".join(sep.join(row) + "\n" for row in rows)


def _by_column(text: str) -> list[tuple[str, float]]:
    return [(f.value, f.score) for f in det.scan(text) if "column of names" in f.explanation.context]


@pytest.mark.parametrize(
    ("sep", "cell", "value"),
    [
        ("\t", "篠原 勇気", "篠原 勇気"),  # a Word or spreadsheet table
        (",", "篠原 勇気", "篠原 勇気"),  # a CSV export
        ("   ", "篠原 勇気", "篠原 勇気"),  # PDF layout text
        ("\t", "篠原　勇気", "篠原　勇気"),  # a full-width space
        ("\t", "工藤 希望", "工藤 希望"),
        ("\t", "工藤 りのあ", "工藤 りのあ"),  # a given name in kana the dictionary lacks
        ("\t", "工藤 ノゾミ", "工藤 ノゾミ"),
    ],
)
def test_a_column_of_names_without_a_header_vouches_for_its_cells(sep: str, cell: str, value: str) -> None:
    """A cell shaped like a full name, among cells the dictionary knows as names, is a name too
    (a lower score than theirs, but one that counts), whatever its given name also means."""
    rows = [(cell if name == "篠原 勇気" else name, *rest) for name, *rest in ATTENDEES]
    text = _table(rows, sep)
    found = {f.value: f for f in det.scan(text)}
    assert set(found) == {value if n == "篠原 勇気" else n for n, *_ in ATTENDEES}
    inferred = found[value]
    assert inferred.score == det.COLUMN_SCORE
    assert RECORD_MIN_SCORE <= det.COLUMN_SCORE < found["伊東 聡"].score
    assert inferred.explanation.context == ("column of names",)
    assert count_records(default_engine().scan_text(text)) == len(ATTENDEES)


def test_a_column_of_names_written_without_spaces() -> None:
    rows = [("大塚雅美", "総務部"), ("青木康弘", "営業部"), ("篠原勇気", "経営企画室"), ("桜井美穂", "代表")]
    assert _by_column(_table(rows)) == [("篠原勇気", det.COLUMN_SCORE)]
    # a one-kanji surname or given name is too short to vouch for a column without a space
    rows = [("伊東聡", "総務部"), ("渡部翔", "営業部"), ("篠原勇気", "経営企画室"), ("桜井美穂", "代表")]
    assert _by_column(_table(rows)) == []


def test_a_column_with_a_header_row_that_does_not_say_name() -> None:
    """A header row (参加者 is no name header) neither counts against the column nor for it."""
    rows = [("参加者", "会社", "部署"), *ATTENDEES]
    assert _by_column(_table(rows)) == [("篠原 勇気", det.COLUMN_SCORE)]


@pytest.mark.parametrize(
    ("rows", "why"),
    [
        (ATTENDEES[2:], "only two cells the dictionary knows as names"),
        (
            [
                ("伊東 聡", "A"),
                ("大塚 雅美", "B"),
                ("渡部 翔", "C"),
                ("篠原 勇気", "D"),
                ("-", "E"),
                ("未定", "F"),
            ],
            "not two thirds",
        ),
        # in a column of names (four of six cells), cells that are not one name
        (
            [*NAMED, ("篠原 勇気 (欠席)", "", ""), ("篠原 勇気 経営企画室", "", "")],
            "more than a name in the cell",
        ),
        ([*NAMED, ("経営企画室", "", ""), ("大塚 製作所", "", "")], "a department, a company"),
        ([*NAMED, ("営業部", "", ""), ("篠原 課", "", "")], "a department, a section"),
        (
            [("株式会社ノース物流", "伊東 聡"), ("東邦倉庫", "大塚 雅美"), ("山田 工業", "渡部 翔")],
            "a column of companies",
        ),
        (
            [
                ("営業部", "伊東 聡"),
                ("経営企画室", "大塚 雅美"),
                ("総務 企画", "渡部 翔"),
                ("篠原 課", "桜井 美穂"),
            ],
            "a column of departments",
        ),
        ([("千葉 幕張",), ("大阪 梅田",), ("東京 品川",), ("横浜 関内",)], "a list of places"),
        (
            [
                ("会社名", "所在地"),
                ("伊東 聡", "東京"),
                ("大塚 雅美", "大阪"),
                ("渡部 翔", "名古屋"),
                ("篠原 勇気", "福岡"),
            ],
            "a column headed as a company's",
        ),
    ],
)
def test_no_column_of_names_where_the_column_does_not_say_so(
    rows: Sequence[tuple[str, ...]], why: str
) -> None:
    text = _table(rows).replace("\n", "\t\n") if len(rows[0]) == 1 else _table(rows)
    assert _by_column(text) == [], why
    assert "篠原 勇気" not in [f.value for f in det.scan(text)], why


def test_a_column_of_names_is_read_once_per_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """The cells of a table are tested once, however many of them are candidates: the cost stays
    linear in the text (one long row too)."""
    calls = 0
    vouches = det._dictionary_name_cell

    def counted(cell: str) -> bool:
        nonlocal calls
        calls += 1
        return vouches(cell)

    monkeypatch.setattr(det, "_dictionary_name_cell", counted)
    names = ("伊東 聡", "大塚 雅美", "篠原 勇気")
    rows = [(name, str(n)) for n in range(500) for name in names]
    assert _by_column(_table(rows)) == [("篠原 勇気", det.COLUMN_SCORE)] * 500
    assert calls <= 2 * len(rows)  # every cell of the two columns once
    calls = 0
    line = "\t".join(names * 200) + "\n"  # a row of 600 cells, three times
    assert _by_column(line * 3) == []  # (each column holds one name three times over)
    assert calls <= 3 * 600


#: Names found whatever their row holds, among them some that look at the rest of their line: a
#: given name the dictionary lacks (中村 恵), a cued surname (梶谷 美咲), a reading with its
#: label (ふりがな：やまだ たろう), a quoted cell.
ROW_NAMES = (
    "佐藤 太郎",
    "鈴木 花子",
    "中村 恵",
    "梶谷 美咲",
    "山本 大輔",
    "ヤマダ タロウ",
    '"伊藤 健太"',
    "ふりがな：やまだ たろう",
)


def _counting(monkeypatch: pytest.MonkeyPatch, module: object, names: Sequence[str]) -> dict[str, int]:
    """Count the calls of ``module``'s functions ``names``."""
    calls = dict.fromkeys(names, 0)
    for name in names:
        original = getattr(module, name)

        def counted(*args: object, _name: str = name, _original: Any = original) -> Any:
            calls[_name] += 1
            return _original(*args)

        monkeypatch.setattr(module, name, counted)
    return calls


@pytest.mark.parametrize("sep", ["\t", ",", "  ", " ", "、"])
@pytest.mark.parametrize("header", [False, True])
def test_a_row_of_thousands_of_names_is_read_whole_a_bounded_number_of_times(
    monkeypatch: pytest.MonkeyPatch, sep: str, header: bool
) -> None:
    """A line of 2,000 name cells (a hostile table row, or a long list of names) is split and
    searched as a whole a few times per scan, not once per name: its cost stays linear. The
    names found are those found with each cell on its own line."""
    cells = [ROW_NAMES[n % len(ROW_NAMES)] for n in range(2000)]
    row = sep.join(cells)
    text = sep.join(["氏名"] * len(cells)) + "\n" + row if header else row
    per_line = _counting(monkeypatch, det, ["_has_kana_pair_cell", "_is_csv_line", "_kanji_name_around"])
    whole = _counting(monkeypatch, tables, ["_split", "_quoted_starts", "_cells", "_Line"])
    found = [f.value for f in default_engine().scan_text(text) if f.type == "person_name"]
    lines = text.count("\n") + 1
    assert whole["_Line"] >= lines  # (what is counted is what the scan uses)
    assert sum(whole.values()) + sum(per_line.values()) <= 10 * lines, (whole, per_line)
    if not header:
        apart = [f.value for f in default_engine().scan_text("\n".join(cells)) if f.type == "person_name"]
        assert sorted(found) == sorted(apart)
        assert len(found) == len(cells)
