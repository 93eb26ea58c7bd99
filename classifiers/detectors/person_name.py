"""Person name (氏名).

Japanese personal names in kanji (山田 太郎), katakana (ヤマダ タロウ), hiragana (やまだ たろう)
and Latin script (Taro Yamada, YAMADA Taro), found with a name dictionary and context.

Dictionary: ``classifiers/data/`` — surnames from gimei and mimesis (with variant kanji such
as 渡邊, 齋藤), given names and readings from gimei, romanised readings via jaconv; built by
``tools/build_name_data.py``, licences in ``classifiers/data/NOTICE``.

Context: an honorific after the name (様, さん, 殿, 氏, 君, 先生...), a job title (部長, 課長...),
a label before it (氏名, 名前, 担当, 担当者, お客様名, 契約者, 宛名...), or the header of its
table column (氏名, Name...). In a table without a name header, the column itself: where at
least three of its cells, and two thirds of those not empty, are full names the dictionary
knows, a cell shaped like a full name (a dictionary surname, a space or none, a given name of
one to three kanji or two to four kana, nothing else) is a name too, even when its given name
is also a word (篠原 勇気 among 伊東 聡, 大塚 雅美...). Each table is read once per text.

How it matches: Japanese text is unsegmented, so the pattern only marks where a run of one
script starts — a look-ahead captures the run and the match itself consumes one character, so
it never hides an address or a number from the other detectors (and PRIORITY 90 tries it
last) — and :func:`check` splits the run against the dictionary with set look-ups. Only runs
that can hold a name become candidates, decided by character classes built from the
dictionary (a surname's first two characters, a cue at the run's end; see ``_KANJI_START``):
on the benchmark's mail mix 2,863 of 22,790 run starts reach Python. (The ``regex`` module's
``\\L<name>`` named lists were measured at 20-70 µs per attempt with lists of this size: too
slow to try at the start of every run of kanji.)

Scoring (precision first: surnames such as 中, 林, 森 are ordinary words):

=========================================  ==========  ===========================
form                                       no context  with honorific/label/header
=========================================  ==========  ===========================
surname + given name (dictionary, kanji)   0.5 / 0.6¹  1.0
surname + unknown given name + honorific   -           0.85
surname, space, unknown given name         0.4³        0.85
same, a whole cell in a column of names⁴   -           0.55
surname + given name in hiragana (dict.)   0.5 / 0.6¹  1.0
surname + kana and kanji (くみ子) shape     0.4         0.85
surname alone                              -           0.85 (job title: 0.7)
unknown kanji + strong honorific²          -           0.6
katakana / hiragana surname + given name   0.5 / 0.6¹  1.0
hiragana surname + given name, no space    -           1.0 (an honorific only)
romanised surname + given name             0.5         0.9
romanised surname + Mr./-san               -           0.85
=========================================  ==========  ===========================

A kana or Latin name on the same line as a kanji name (a roster's フリガナ column) is that
person's reading: it scores 0.45, reported but not counted twice in ``records``.

¹ 0.6 when written with a space between surname and given name. A pair whose surname or given
name is a single kanji (中学, 森林) scores 0.4 without context: reported, not counted. A
single-kanji surname that is also a common noun (神, 王, 奥...) never counts on its own.
³ After a one-kanji surname only where the name ends (whitespace, punctuation, an honorific or
title, the end of a cell or line): 林 千代、 is a name, 林 千代に is not. A given name in kana
ends there too (山本さゆり, 森 くみ子); readings that are mostly particles or honorifics
(との, より, さん) never are one.
² 様 or さん after 2-5 kanji that are not a word known to take them (お客様, 担当者様...).
⁴ Below a name the dictionary vouches for on its own (0.6), above the counting threshold. Not
after a one-kanji surname that is a common noun (南, 東); without a space, only after a surname
of two kanji or more. A column headed as an organisation's (会社名, 部署) is none.

The value is the name without the honorific; the normalised form has no spaces and puts the
surname first (``Taro Yamada`` → ``yamadataro``).

>>> [(f.value, f.score) for f in scan("山田 太郎様、いつもお世話になっております。")]
[('山田 太郎', 1.0)]
>>> [f.normalized for f in scan("Dear Mr. Taro Yamada,")]
['yamadataro']
>>> [f.value for f in scan("営業部田中様、お世話様です")]
['田中']
>>> list(scan("中山道を歩く"))
[]
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from functools import cache, lru_cache
from importlib import resources

import regex

from classifiers.detectors._base import Document, Hit, required_words, scan_with, words_pattern
from classifiers.detectors._table import column_header, column_tally, line_fact, row_label
from classifiers.detectors._vocab import lines as _vocabulary_lines
from classifiers.detectors._vocab import rows as _vocabulary_rows
from classifiers.model import Explanation, Finding

ENTITY_TYPE = "person_name"
#: Identifies or describes a natural person: counts towards ``records``.
PERSONAL = True
#: Only a natural person has one: whoever holds the data, it is a person's (classifiers.holders).
PERSON_ONLY = True

_HAN = r"\p{Han}々〆ヶ"
_KATA = r"\p{Katakana}ー"


@cache
def load(name: str) -> frozenset[str]:
    """One dictionary file of ``classifiers/data/`` (one name per line)."""
    text = resources.files("classifiers").joinpath("data", name).read_text(encoding="utf-8")
    return frozenset(line for line in text.splitlines() if line)


def load_vocabulary(name: str) -> frozenset[str]:
    return frozenset(_vocabulary_lines(name))


def _hiragana(katakana: Iterable[str]) -> frozenset[str]:
    return frozenset("".join(chr(ord(c) - 0x60) if "ァ" <= c <= "ヶ" else c for c in k) for k in katakana)


#: Words of two or three kanji that are never a name on their own (関連, 中心, 多大, 文章, 一連).
COMMON_WORDS = load_vocabulary("common_words.txt")
SURNAMES = load("surnames.txt")
GIVEN_NAMES = load("given_names.txt")
SURNAMES_KANA = load("surnames_kana.txt") | _hiragana(load("surnames_kana.txt"))
GIVEN_NAMES_KANA = load("given_names_kana.txt") | _hiragana(load("given_names_kana.txt"))
SURNAMES_ROMAJI = load("surnames_romaji.txt")
GIVEN_NAMES_ROMAJI = load("given_names_romaji.txt")
#: Surnames (IPAdic surnames and place names: 轟木, 梶谷, 羽生田) that are a name only where
#: something says so: an honorific, a title, a label, a self-introduction, a given name after a
#: space where the name ends. Never on their own: most are place names.
SURNAMES_CUED = load_vocabulary("surnames_cued.txt")
_KANA_CUED = _vocabulary_rows("names_kana_cued.txt")
#: Readings of IPAdic names, for two kana words with a space (スガワラ ダイチ, たかぎ そうた).
_SEI_CUED = frozenset(r for kind, r in _KANA_CUED if kind == "sei")
_MEI_CUED = frozenset(r for kind, r in _KANA_CUED if kind == "mei")
SURNAMES_KANA_WIDE = SURNAMES_KANA | _SEI_CUED | _hiragana(_SEI_CUED)
GIVEN_NAMES_KANA_WIDE = GIVEN_NAMES_KANA | _MEI_CUED | _hiragana(_MEI_CUED)

FULL_CONTEXT_SCORE = 1.0
FULL_SPACED_SCORE = 0.6
FULL_SCORE = 0.5
WEAK_PAIR_SCORE = 0.4
UNKNOWN_GIVEN_SCORE = 0.85
SURNAME_HONORIFIC_SCORE = 0.85
SURNAME_TITLE_SCORE = 0.7
UNKNOWN_SCORE = 0.6
ROMAJI_CONTEXT_SCORE = 0.9
CELL_SCORE = 0.9  # a whole cell under a name column (氏名, お届け先氏名...)
READING_SCORE = 0.45  # a reading or Latin spelling next to the kanji name: reported, not counted
COLUMN_SCORE = 0.55  # a cell shaped like a name in a column of names that has no name header

#: Honorifics written in kanji end the kanji run (田中様), as do job titles (田中部長); kana
#: honorifics follow it (田中さん).
_HON_KANJI = ("先生", "様", "殿", "氏", "君", "宛")
_ROLES = tuple(
    sorted(
        [
            "副社長",
            "社長",
            "会長",
            "副部長",
            "部長",
            "次長",
            "課長",
            "係長",
            "主任",
            "室長",
            "所長",
            "支店長",
            "店長",
            "専務",
            "常務",
            "取締役",
            "理事長",
            "院長",
            "校長",
            "教授",
            "准教授",
            "医師",
            "弁護士",
            "税理士",
            "先輩",
            "委員長",
        ],
        key=len,
        reverse=True,
    )
)
_TAIL_LAST = frozenset(w[-1] for w in _HON_KANJI + _ROLES)


def _char_class(chars: Iterable[str]) -> str:
    return "[" + "".join(regex.escape(c) for c in sorted(set(chars))) + "]"


def _prefix_trie(words: Iterable[str]) -> str:
    """The first two characters of ``words`` as one alternation grouped by the first one."""
    seconds: dict[str, set[str]] = {}
    for word in words:
        seconds.setdefault(word[0], set()).add(word[1])
    return "(?:" + "|".join(regex.escape(f) + _char_class(s) for f, s in sorted(seconds.items())) + ")"


_KATA_SURNAMES = [n for n in SURNAMES_KANA if len(n) >= 2 and regex.fullmatch(rf"[{_KATA}]+", n)]
#: IPAdic readings start a candidate only as the first of two words (スガワラ ダイチ): most
#: katakana runs are loanwords.
_KATA_SURNAMES_WIDE = [n for n in SURNAMES_KANA_WIDE if len(n) >= 2 and regex.fullmatch(rf"[{_KATA}]+", n)]
_HIRA_SURNAMES = [n for n in SURNAMES_KANA_WIDE if len(n) >= 2 and regex.fullmatch(r"\p{Hiragana}+", n)]

#: Where a candidate starts, decided inside the regex so that most runs never reach Python: a
#: run of kanji only where a dictionary surname can start (a one-kanji surname, or the first
#: and second characters of longer ones) or a cue (an honorific or title at
#: or after its end) can make it a name; a run of kana only where a kana surname can start (its
#: first two characters: most katakana runs are loanwords). :func:`check` decides the rest.
_ONE_KANJI_SURNAMES = frozenset(n for n in SURNAMES if len(n) == 1)
_KANJI_START = (
    f"(?={_char_class(_ONE_KANJI_SURNAMES)}"
    f"|{_char_class(n[0] for n in SURNAMES if len(n) >= 2)}{_char_class(n[1] for n in SURNAMES if len(n) >= 2)}"
    # or a cue where the run of at most 16 kanji ends (read once, atomically: only its end can
    # be followed by what is not a kanji): a title or honorific at its end or after it, or,
    # after a run of two or three, a self-introduction (梶谷です) or a given name after a
    # space where the line ends (a signature: 梶谷 美咲)
    rf"|(?>[{_HAN}]{{1,16}})(?![{_HAN}])(?:(?<={_char_class(_TAIL_LAST)})"
    r"| ?(?:さん|さま|くん|ちゃん|様|殿|氏|君|先生)"
    rf"|(?<=[{_HAN}]{{2}})(?<![{_HAN}]{{4}})"
    rf"(?:です|でございます|と申します|[ ・](?:[{_HAN}]{{1,3}}|[{_KATA}]{{2,6}})(?![{_HAN}{_KATA}]))))"
)
#: A capitalised word alone is a candidate only after a title (Mr. Suzuki): otherwise it needs
#: a second one (Taro Yamada) or -san.
_ROMAJI_CUE = "|(?(person_name_rt)|(?!)))"
_KATA_FIRST = _char_class(n[0] for n in _KATA_SURNAMES)
_HIRA_FIRST = _char_class(n[0] for n in _HIRA_SURNAMES)
#: The four kinds of candidate start with disjoint characters (kanji, katakana, hiragana, Latin),
#: so at most one branch matches at any position, and the engine may run them as separate passes
#: (``PASSES``). Three branches consume just the first character, then look back one character
#: to test what precedes it and to capture the candidate in a look-ahead from there: a pattern
#: that starts with a character class lets ``regex`` skip to the next possible start, one that
#: starts with a look-around is tried at every position (five times slower on the Latin branch).
_BRANCHES = (
    rf"[{_HAN}](?<![{_HAN}].)(?<=(?={_KANJI_START}(?P<person_name_k>[{_HAN}]{{1,16}})(?:(?P<person_name_ksp>[ ・])"
    rf"(?P<person_name_k2>[{_HAN}]{{1,6}}|\p{{Hiragana}}{{1,3}}[{_HAN}]|\p{{Hiragana}}{{2,6}}|[{_KATA}]{{2,6}}))?).)",
    rf"{_KATA_FIRST}(?<![{_KATA}].)(?<=(?={_prefix_trie(_KATA_SURNAMES)})(?=(?P<person_name_kk>[{_KATA}]{{2,12}})"
    rf"(?:(?P<person_name_kksp>[ ・])(?P<person_name_kk2>[{_KATA}]{{2,8}}))?).)",
    # Two katakana words with a space whose first is an IPAdic surname reading (スガワラ ダイチ):
    # anchored at the space, which is rare between katakana, so that loanwords cost nothing.
    rf"[ ・](?<=(?<![{_KATA}])(?P<person_name_kw>[{_KATA}]{{2,12}})[ ・])(?=(?P<person_name_kw2>[{_KATA}]{{2,8}})(?![{_KATA}]))",
    # Hiragana names are read only as two spaced words; this branch consumes them, so the
    # regex module can look for the space first (a hundred times faster than trying every kana).
    # after a particle too (班長はふじさわ ひなたちゃん)
    rf"(?:(?<!\p{{Hiragana}})|(?<=[はがをにのともへや]))(?={_prefix_trie(_HIRA_SURNAMES)})"
    r"(?P<person_name_h>\p{Hiragana}{2,6}) (?P<person_name_h2>\p{Hiragana}{2,6}?)(?:(?!\p{Hiragana})|(?=さん|さま|くん|ちゃん))",
    # A hiragana full name without a space only before an honorific (やまだたろうさん): the
    # match is the run's last character (the honorific may be claimed by the kanji branch), and
    # looks back for the run of hiragana it ends.
    r"\p{Hiragana}(?=さん|さま|くん|ちゃん|様|殿)(?<=(?<!\p{Hiragana})(?P<person_name_hn>\p{Hiragana}{4,10}))",
    r"[A-Z](?<![A-Za-z].)(?<=(?=(?P<person_name_rt>(?:Mr|Ms|Mrs|Miss|Dr|Prof)\.? )?(?P<person_name_r>[A-Z][A-Za-z]{1,14})"
    r"(?:,? (?P<person_name_r2>[A-Z][A-Za-z]{1,14})|(?P<person_name_rsan>-(?:san|sama|sensei|kun|chan))"
    + _ROMAJI_CUE
    + r"(?![A-Za-z])).)",
)
#: A whole table cell of kana or kanji (two words at most): a name when its column header says
#: so (氏名, フリガナ...), whatever the dictionary knows. It consumes only the separator before
#: the cell (starting with a character class lets the engine skip to the next one; a line
#: without a tab or a comma is no table row), so that it hides nothing from the other branches;
#: :func:`_cell` decides. A first line is never under a header.
_CELL_BRANCH = (
    rf"(?:[\t,]|\n(?=[^\n]*[\t,]))\"?(?=(?P<person_name_c>[{_HAN}\p{{Katakana}}\p{{Hiragana}}ー・]{{1,10}}"
    rf"(?: [{_HAN}\p{{Katakana}}\p{{Hiragana}}ー]{{1,10}})?)\"?(?:[\t,\r\n]|$))"
)
_ALL_BRANCHES: tuple[str, ...] = (_CELL_BRANCH, *_BRANCHES)
PATTERN = rf"(?:{_CELL_BRANCH}|(?=[{_HAN}A-Z ・\p{{Hiragana}}]|{_KATA_FIRST})(?:" + "|".join(_BRANCHES) + "))"
#: The same candidates as ``PATTERN``, one pass per branch: the ``regex`` module skips ahead to
#: a possible start only within one pattern, and the alternation costs about twice the sum.
PASSES = _ALL_BRANCHES
#: The kanji and katakana branches run on ``re`` (see :mod:`classifiers.detectors._stdre`),
#: which tests their classes of a thousand first characters in a bitmap: 22 → 7 ms and 7.8 →
#: 1.9 ms over the benchmark's mail mix. (``re`` is slower on the hiragana branch, which
#: ``regex`` runs from the space it needs, and does not compile the other two.)
RE_PASSES = _BRANCHES[:2]
PRIORITY = 90


def _is_dictionary_name(word: str) -> bool:
    return word in SURNAMES or split_name(word, SURNAMES, GIVEN_NAMES) is not None


def _first_ending(run: str, words: tuple[str, ...]) -> str | None:
    """The first of ``words`` that ends ``run`` (most runs end in none: one C call says so)."""
    if not run.endswith(words):
        return None
    return next(w for w in words if run.endswith(w))


def strip_tail(run: str) -> tuple[str, str | None, str | None]:
    """Split a kanji run into ``(name part, job title, honorific)``.

    >>> strip_tail("田中部長様")
    ('田中', '部長', '様')
    """
    if run[-1] not in _TAIL_LAST:
        return run, None, None
    if run[-2:] in WORDS_WITH_HONORIFIC_KANJI and not (len(run) >= 3 and _is_dictionary_name(run[:-1])):
        return run, None, None  # 宮殿, 模様 (but 山本殿 is 山本 + 殿)
    hon = _first_ending(run, _HON_KANJI)
    if hon:
        run = run[: -len(hon)]
    role = _first_ending(run, _ROLES)
    if role:
        run = run[: -len(role)]
    return run, role, hon


_HON_AFTER = regex.compile(r" ?(?:様|殿|氏(?![名族])|君|先生|さん|さま|くん|ちゃん)")
#: Words ending in a kanji that is otherwise an honorific (模様 is not 模 + 様).
WORDS_WITH_HONORIFIC_KANJI = frozenset(
    [
        "模様",
        "同様",
        "仕様",
        "多様",
        "異様",
        "一様",
        "紋様",
        "文様",
        "今様",
        "有様",
        "両様",
        "別様",
        "外様",
        "左様",
        "神様",
        "王様",
        "殿様",
        "奥様",
        "皆様",
        "宮殿",
        "神殿",
        "御殿",
        "貴殿",
        "湯殿",
        "拝殿",
        "本殿",
        "沈殿",
        "社殿",
        "彼氏",
        "某氏",
        "同氏",
        "両氏",
        "諸氏",
        "諸君",
        "暴君",
        "主君",
        "名君",
        "父君",
        "細君",
        "母君",
        "姫君",
        "若君",
        "夫君",
        "大君",
    ]
)
#: The honorifics that make an unknown run of kanji a name (轟木様); 氏, 君 and 殿 end words too.
_UNKNOWN_HON = frozenset({"様", "さま", "さん"})
#: A single-kanji surname takes only these (林様, 林さん): 宮殿, 某氏 and 諸君 are words.
_SINGLE_HON = frozenset({"様", "さま", "さん", "くん", "ちゃん", "先生"})
#: Honorific prefixes: お客様, お天道さま, ご主人様 are words, never names.
_HONORIFIC_PREFIX = frozenset("おご御")

#: Single kanji that are surnames but far more often words; never a name on their own (神様).
COMMON_SINGLE = frozenset("神仏王姫殿奥客皆母父兄姉弟妹子孫上下中前後先会長高金東西南北元本今")
#: Words that take an honorific but are not names (お客様, 担当者様, お世話様, 大家さん...).
NOT_NAMES = frozenset(
    [
        "大家",
        "世話",
        "苦労",
        "馳走",
        "愁傷",
        "新人",
        "本人",
        "友人",
        "主人",
        "婦人",
        "夫人",
        "知人",
        "隣人",
        "大将",
        "親方",
        "女将",
        "殿様",
        "王様",
        "神様",
        "仏様",
        "奥様",
        "旦那",
        "先輩",
        "後輩",
        "同期",
        "上司",
        "部下",
        "家族",
        "両親",
        "家内",
        "各位",
        "先方",
        "相手",
        "御社",
        "貴社",
        "弊社",
        "当社",
        "自社",
        "他社",
        "会社",
        "業者",
        "大臣",
        "首相",
        "天皇",
        "陛下",
        "殿下",
        "王子",
        "女王",
        "お客",
        "担当",
        "皆々",
        "地主",
        "主任",
        "店主",
        "家主",
        "施主",
        "喪主",
        "株主",
        "名義",
    ]
)
_NOT_NAME_END = frozenset("者員客位社屋手師士長家方様課部室局店院校所会係族生官")
_ORG = regex.compile(r"[部課室係局店院校所社]")

_CONTEXT = words_pattern(
    [
        "氏名",
        "名前",
        "お名前",
        "担当",
        "担当者",
        "お客様名",
        "顧客名",
        "契約者",
        "宛名",
        "申込者",
        "名義",
        "差出人",
        "送信者",
        "代表者",
        "責任者",
        "作成者",
        "承認者",
        "申請者",
        "受取人",
        # who is who in minutes, audits, events and schools (主査：鷲尾 直人、補助者：新田 エレナ)
        "主査",
        "補助者",
        "出席者",
        "参加者",
        "欠席者",
        "講師",
        "司会",
        "幹事",
        "発表者",
        "報告者",
        "記入者",
        "記録者",
        "依頼者",
        "保護者",
        "担任",
        "同行者",
        "応募者",
        "候補者",
        "紹介者",
        "フリガナ",
        "ふりがな",
        "Name",
        "Dear",
        "Attn",
        "Contact",
    ]
)
_HEADER = regex.compile(
    r"(?i)氏名|名前|name|担当|顧客|お客様|契約者|宛名|フリガナ|ふりがな|カナ|社員|会員|申込者|(?<![法業])[者員人]名"
)
_AFTER_TITLE = regex.compile(r"(?<![A-Za-z])(?:Mr|Ms|Mrs|Miss|Dr|Prof)\.? $")

_HAN_CHAR = regex.compile(rf"[{_HAN}]")
_KATA_CHAR = regex.compile(rf"[{_KATA}]")
_KATA_WORD = regex.compile(rf"[{_KATA}]+")
_GIVEN_RUN = regex.compile(rf"[{_HAN}]{{1,5}}(?![{_HAN}])|[{_KATA}]{{2,6}}(?![{_KATA}])")
_HAN_RUN = regex.compile(rf"(?<![{_HAN}])[{_HAN}]{{2,8}}(?![{_HAN}])")
_READING_WINDOW = 200
_HIRAGANA_CHAR = regex.compile(r"\p{Hiragana}")
_KANA_HONORIFICS = ("さん", "さま", "くん", "ちゃん")
_PARTICLES = ("です", "は", "が", "の", "に", "を", "と", "へ", "も", "や", "より", "から")
#: Kanji that end given names written in kana and kanji (くみ子, さち代, はる香).
_GIVEN_KANJI_END = frozenset("子美代江恵香奈乃枝里世")
_HIRAGANA_RUN = regex.compile(r"\p{Hiragana}{1,12}")
#: Readings in the dictionary that are far more often honorifics or function words (田中との,
#: 山田より, 鈴木さん): never a given name after a surname.
_NOT_GIVEN_KANA = frozenset(
    ["さん", "さま", "くん", "ちゃん", "との", "より", "から", "まで", "など", "その", "この", "かな", "まあ",
     "もの", "こと", "とき", "よう", "みな", "なお", "ここ", "まえ", "なか", "きょう", "あす", "いま", "ほか",
     "しか", "とか", "あり"]
)  # fmt: skip
#: Where a given name ends: whitespace, punctuation, a table cell end, the end of the text, an
#: honorific or a job title.
_NAME_END = regex.compile(
    r"(?:$|[\s\p{P}\p{S}]|様|殿|氏|君|先生|さん|さま|くん|ちゃん|" + "|".join(_ROLES) + ")"
)


#: A surname introducing its writer: 総務の福田です, 保険サービスの宮本でございます.
_SELF_INTRODUCTION = regex.compile(r"(?:です|でございます|と申します)")
#: A surname the reader is to contact: ご不明な点は、五味までお問い合わせください.
_CONTACT_ME = regex.compile(
    r"まで(?:お問い合わせ|お問合せ|お問い合せ|ご連絡|お知らせ|お申し付け|ご一報|お気軽に)"
)
#: Who a writer introduces himself as part of: 株式会社東邦メディカルの梶谷です, 総務部の福田です
#: (but not 東京の新宿です).
_INTRO_ORG = regex.compile(
    r"(?:会社|[部課室係局店院校所社]|センター|グループ|チーム|事務所|事務局|法人|組合|協会"
    r"|[\p{Katakana}ー]{2,}|[A-Za-z]{2,})の$"
)
#: A title before a surname: 代表取締役社長の前川は, 担当の佐藤が.
_TITLE_BEFORE = regex.compile(
    r"(?:社長|会長|部長|課長|係長|室長|所長|支店長|取締役|代表|担当|教授|理事長|院長)の$"
)


def _kana_given(doc: Document, pos: int, particles: bool = False) -> tuple[int, bool] | None:
    """A given name written in hiragana (さゆり) or kana + a name kanji (くみ子) at ``pos``,
    ending where a name ends (or, with ``particles``, before a particle: 佐藤 さくらです):
    (its end, whether the dictionary knows it).

    >>> from classifiers.normalize import normalize
    >>> _kana_given(Document(normalize("山本さゆりさん")), 2), _kana_given(Document(normalize("森くみ子、")), 1)
    ((5, True), (4, False))
    >>> _kana_given(Document(normalize("田中からの連絡")), 2), _kana_given(Document(normalize("森の木陰")), 1)
    (None, None)
    """
    run = _HIRAGANA_RUN.match(doc.text, pos)
    if run is None:
        return None
    kana, end = run.group(0), run.end()
    if (
        2 <= len(kana) <= 3
        and doc.text[end : end + 1] in _GIVEN_KANJI_END
        and _NAME_END.match(doc.text, end + 1)
    ):
        return end + 1, False
    for i in range(min(len(kana), 4), 1, -1):
        given, rest = kana[:i], kana[i:]
        if given in _NOT_GIVEN_KANA or (given not in GIVEN_NAMES_KANA and given not in GIVEN_NAMES):
            continue
        if (
            (rest and rest.startswith(_KANA_HONORIFICS))  # さくらさん, さくらさんに
            or (not rest and _NAME_END.match(doc.text, end))
            or (particles and rest.startswith(_PARTICLES))
        ):
            return pos + i, True
    return None


def _given_after_surname(doc: Document, start: int, word: str) -> bool:
    """Whether the kanji run at ``start`` is the given name of ``<surname> <run>``.

    The candidate at the surname already reported the whole name (山田 太郎), so the candidate
    at the second run must not report it again. Decided from the text alone, the same way
    :func:`_kanji_spaced` decides, so that concurrent scans need no shared state.
    """
    if start < 2 or doc.text[start - 1] not in " ・":
        return False
    i = start - 1
    while i > 0 and start - 1 - i < 16 and _HAN_CHAR.match(doc.text, i - 1):
        i -= 1
    if i > 0 and _HAN_CHAR.match(doc.text, i - 1):
        return False
    if doc.text[i : start - 1] not in SURNAMES:
        return False
    return word in GIVEN_NAMES or word not in SURNAMES


def _context(doc: Document, start: int, end: int) -> tuple[str, ...]:
    found = doc.context(start, end, _CONTEXT, before=12, after=0)
    if found:
        return found
    header = column_header(doc, start)
    if header is not None and _HEADER.search(header):
        return (f"column {header}",)
    return ()


def split_name(
    name: str, surnames: frozenset[str], given: frozenset[str], shortest: int = 1
) -> tuple[str, str] | None:
    """``surname + given name`` when both halves are in the dictionary (longest surname first).

    >>> split_name("佐藤健太", SURNAMES, GIVEN_NAMES)
    ('佐藤', '健太')
    """
    for i in range(min(len(name) - shortest, 5), shortest - 1, -1):
        if name[:i] in surnames and name[i:] in given:
            return name[:i], name[i:]
    return None


def _hit(
    start: int, end: int, score: float, normalized: str, pattern: str, base: float, context: Iterable[str]
) -> Hit:
    validation = "dictionary" if "dictionary" in pattern else "keyword"
    return Hit(start, end, score, normalized, Explanation(pattern, validation, base, tuple(context)))


#: What may follow a surname written alone in a sentence (佐藤の携帯, 井上との, 佐藤が): a particle,
#: punctuation, the end of a line. Not katakana or kanji (中島アンナ is a name of its own).
_ALONE_END = regex.compile(r"(?:$|[\s\p{P}\p{S}]|まで|より|から|[のとがはにへもでや])")
_ECHO_SPAN = 3000  # how far from a lone surname its full name is looked for, either side
_ECHO_TRIES = 16


def _full_name_nearby(doc: Document, sei: str, start: int, end: int) -> bool:
    """Whether a surname written alone (担当の佐藤, 佐藤の携帯まで, 「井上との打合せ」) repeats the
    surname of a full name written nearby (佐藤 健一 in the signature): the same person.

    Looked for only when a dictionary surname of two kanji or more stands alone without any
    other cue, within :data:`_ECHO_SPAN` characters (a mail, a page of a document).

    >>> from classifiers.normalize import normalize
    >>> doc = Document(normalize("担当は佐藤です。佐藤の携帯へ。\\n佐藤 健一"))
    >>> _full_name_nearby(doc, "佐藤", 8, 10)
    True
    >>> _full_name_nearby(Document(normalize("佐藤の携帯へ")), "佐藤", 0, 2)
    False
    """
    if len(sei) < 2 or sei in COMMON_WORDS or not _ALONE_END.match(doc.text, end):
        return False
    lo, hi = max(0, start - _ECHO_SPAN), min(len(doc.text), end + _ECHO_SPAN)
    i = doc.text.find(sei, lo, hi)
    tries = 0
    while i >= 0 and tries < _ECHO_TRIES:
        tries += 1
        j = i + len(sei)
        if i != start and (i == 0 or not _HAN_CHAR.match(doc.text, i - 1)):
            if doc.text[j : j + 1] in (" ", "・"):
                j += 1
            given = _GIVEN_RUN.match(doc.text, j)
            if given is not None:
                mei = strip_tail(given.group(0))[0] if _HAN_CHAR.match(given.group(0)) else given.group(0)
                if mei in GIVEN_NAMES or mei in GIVEN_NAMES_KANA:
                    return True
        i = doc.text.find(sei, j, hi)
    return False


def _is_not_name(word: str) -> bool:
    return word in NOT_NAMES or word[-1] in _NOT_NAME_END or bool(_ORG.search(word[1:]))


def _kanji(match: regex.Match[str], doc: Document) -> Iterator[Hit]:
    start, run_end = match.span("person_name_k")
    run = match.group("person_name_k")
    if run_end < len(doc.text) and _HAN_CHAR.match(doc.text, run_end):
        return  # a run too long to be a name
    word, role, hon = strip_tail(run)
    if not word or _given_after_surname(doc, start, word) or word in COMMON_WORDS or word.endswith("円"):
        return
    if start and doc.text[start - 1] in _HONORIFIC_PREFIX:
        return
    if word in SURNAMES_CUED:
        yield from _cued_surname(match, doc, word, role, hon)
        return
    second = match.group("person_name_k2")
    if second is not None and second[0] in "様殿" and not role and not hon:
        hon, second = second[0], None  # 伊藤舞 様名義, 山田 様方: the honorific starts a word
    if second is not None:
        _, second_role, second_hon = strip_tail(second)
        if strip_tail(second)[0] or not (second_role or second_hon) or word in SURNAMES:
            yield from _kanji_spaced(match, doc, run, second)
            return
        role, hon = role or second_role, hon or second_hon  # 伊藤舞 様: the run, then its honorific
    elif not role and not hon and word in SURNAMES and word not in COMMON_SINGLE:
        context: tuple[str, ...]
        intro = _SELF_INTRODUCTION.match(doc.text, run_end) or (
            _CONTACT_ME.match(doc.text, run_end) if len(word) >= 2 else None
        )
        titled = _TITLE_BEFORE.search(doc.before(start, 8))
        echo = not intro and not titled and _full_name_nearby(doc, word, start, run_end)
        if (intro and (start == 0 or doc.text[start - 1] in "の、 \n")) or titled or echo:
            if echo:
                context = ("full name in the text",)
            else:
                context = ("self-introduction",) if intro else (titled.group(0) if titled else "",)
            yield _hit(
                start,
                run_end,
                SURNAME_HONORIFIC_SCORE,
                word,
                "surname (dictionary)",
                SURNAME_HONORIFIC_SCORE,
                context,
            )
            return
    if word == run and word in SURNAMES and word not in COMMON_SINGLE:
        given = _kana_given(doc, run_end)  # 山本さゆり, 山本くみ子: the given name in kana
        if given is not None:
            yield from _kana_given_hit(doc, start, word, *given)
            return
    end = start + len(word)
    if not hon and not role:
        after = _HON_AFTER.match(doc.text, end)
        hon = after.group(0).strip() if after else None
    cues = tuple(c for c in (role, hon) if c)
    if not cues and not any(word[:i] in SURNAMES for i in range(1, min(len(word), 5) + 1)):
        return  # most runs of kanji: no surname starts here and nothing says "name"
    pair = split_name(word, SURNAMES, GIVEN_NAMES)
    if pair is not None:
        sei, mei = pair
        base = FULL_SCORE if len(sei) >= 2 and len(mei) >= 2 else WEAK_PAIR_SCORE
        context = cues or _context(doc, start, end)
        if not context and _KATA_CHAR.match(doc.text, end):
            return  # the kanji start a company's name (丸和トレーディング, 東和スチール)
        score = FULL_CONTEXT_SCORE if context else base
        yield _hit(start, end, score, word, "surname + given name (dictionary)", base, context)
        return
    if word in SURNAMES:
        if len(word) == 1 and hon is not None and hon not in _SINGLE_HON:
            return
        context = cues or _context(doc, start, end)
        if context and word not in COMMON_SINGLE:
            score = SURNAME_TITLE_SCORE if role and not hon else SURNAME_HONORIFIC_SCORE
            yield _hit(start, end, score, word, "surname (dictionary)", score, context)
        return
    if "様" in word or "殿" in word:
        return
    if not cues:
        for i in range(min(len(word) - 1, 4), 1, -1):  # 氏名: 佐藤花子 (known surname, unknown given)
            if 3 <= len(word) <= 6 and word[:i] in SURNAMES and len(word) - i <= 3:
                context = () if _is_not_name(word) else _context(doc, start, end)
                pattern = "surname (dictionary) + given name"
                if context:
                    yield _hit(start, end, UNKNOWN_GIVEN_SCORE, word, pattern, WEAK_PAIR_SCORE, context)
                elif not _is_not_name(word) and word[:i] not in COMMON_WORDS:
                    column = _column_of_names(doc, start, end)  # 篠原勇気 among 伊東聡, 大塚雅美...
                    if column:
                        yield _hit(start, end, COLUMN_SCORE, word, pattern, WEAK_PAIR_SCORE, column)
                return
        return
    for i in range(1, len(word) - 1):  # 営業部田中様: the name ends the run
        suffix = word[i:]
        if suffix in SURNAMES or split_name(suffix, SURNAMES, GIVEN_NAMES) is not None:
            score = FULL_CONTEXT_SCORE if suffix not in SURNAMES else SURNAME_HONORIFIC_SCORE
            yield _hit(start + i, end, score, suffix, "name (dictionary) + honorific", score, cues)
            return
    for i in range(min(len(word) - 1, 4), 0, -1):  # 佐藤花子様: known surname, unknown given name
        if word[:i] in SURNAMES and len(word) - i <= 3 and hon and not _is_not_name(word[i:]):
            pattern = "surname (dictionary) + given name + honorific"
            yield _hit(start, end, UNKNOWN_GIVEN_SCORE, word, pattern, UNKNOWN_GIVEN_SCORE, cues)
            return
    if hon in _UNKNOWN_HON and not role and 2 <= len(word) <= 5 and not _is_not_name(word):
        yield _hit(start, end, UNKNOWN_SCORE, word, "kanji + honorific", UNKNOWN_SCORE, cues)


def _cued_surname(
    match: regex.Match[str], doc: Document, sei: str, role: str | None, hon: str | None
) -> Iterator[Hit]:
    """A surname that is also a place name (轟木, 梶谷, 羽生田): a name only where something says so.

    An honorific or a job title after it (梶谷様, 沢渡氏, 羽生田 透教授), a self-introduction
    (東邦メディカルの梶谷です), a title before it, or a dictionary given name after a space where
    the name ends (a signature line: 梶谷 美咲).
    """
    start, run_end = match.span("person_name_k")
    end = start + len(sei)
    second = match.group("person_name_k2")
    cues: tuple[str, ...] = tuple(c for c in (role, hon) if c)
    if second is not None and not cues:
        second_start = match.start("person_name_k2")
        second_end = match.end("person_name_k2")
        if second[0] in "様殿" or second in _ROLES:
            cues = (second,)  # 梶谷 様, 梶谷 部長
        else:
            mei, second_role, second_hon = strip_tail(second)
            if second_end < len(doc.text) and (
                _HAN_CHAR.match(doc.text, second_end) or _KATA_CHAR.match(doc.text, second_end)
            ):
                return
            name_end = second_start + len(mei)
            after = _HON_AFTER.match(doc.text, name_end)
            name_cues = tuple(c for c in (second_role, second_hon, after and after.group(0).strip()) if c)
            is_given = mei in GIVEN_NAMES or mei in GIVEN_NAMES_KANA_WIDE
            # a one-kanji given name (透) only with an honorific or title after it
            ends_alone = (
                is_given
                and (len(mei) >= 2 or not _HAN_CHAR.match(mei))
                and _NAME_END.match(doc.text, name_end)
            )
            read = () if name_cues or ends_alone else _row_reading(doc, start, name_end)
            if mei and (name_cues or ends_alone or read):
                context = name_cues or read or _context(doc, start, name_end)
                yield _hit(
                    start,
                    name_end,
                    UNKNOWN_GIVEN_SCORE,
                    sei + mei,
                    "surname + given name",
                    WEAK_PAIR_SCORE,
                    context,
                )
            return
    if not cues:
        after = _HON_AFTER.match(doc.text, end)
        if after:
            cues = (after.group(0).strip(),)
    if not cues:
        intro = _SELF_INTRODUCTION.match(doc.text, run_end)
        if intro and (start == 0 or doc.text[start - 1] == "\n" or _INTRO_ORG.search(doc.before(start, 30))):
            cues = ("self-introduction",)
        elif _CONTACT_ME.match(doc.text, run_end) and start and doc.text[start - 1] in "、 \n":
            cues = ("contact",)
        titled = _TITLE_BEFORE.search(doc.before(start, 8))
        if titled:
            cues = (titled.group(0),)
    if not cues:
        cues = doc.context(start, end, _CONTEXT, before=12, after=0)
    if cues:
        score = SURNAME_TITLE_SCORE if role and not hon else SURNAME_HONORIFIC_SCORE
        yield _hit(start, end, score, sei, "surname (dictionary)", score, cues)


def _kana_given_hit(doc: Document, start: int, sei: str, end: int, known: bool) -> Iterator[Hit]:
    """``<surname>[ ]<given name in kana>`` (山本さゆり, 森 くみ子, 鈴木 あすか)."""
    after = _HON_AFTER.match(doc.text, end)
    context = (after.group(0).strip(),) if after else _context(doc, start, end)
    spaced = doc.text[start + len(sei)] == " "
    value = sei + doc.text[start + len(sei) : end].lstrip(" ・")
    if known:
        base = FULL_SPACED_SCORE if spaced else FULL_SCORE
        score = FULL_CONTEXT_SCORE if context else base
        pattern = "surname + given name in kana (dictionary)"
    else:
        base = WEAK_PAIR_SCORE
        score = UNKNOWN_GIVEN_SCORE if context else base
        pattern = "surname (dictionary) + given name in kana and kanji"
    yield _hit(start, end, score, value, pattern, base, context)


def _kanji_spaced(match: regex.Match[str], doc: Document, sei: str, second: str) -> Iterator[Hit]:
    """Surname, space, second run: a given name, an honorific or title, or something else."""
    start = match.start("person_name_k")
    end_of_run = match.end("person_name_k2")
    if _HAN_CHAR.match(second[-1]) and end_of_run < len(doc.text) and _HAN_CHAR.match(doc.text, end_of_run):
        return  # the second run of kanji goes on: not a name (a given name in kana ends where _kana_given says)
    if _HIRAGANA_CHAR.match(second[0]):  # a given name in kana (あすか, くみ子), maybe with さん
        given = _kana_given(doc, match.start("person_name_k2"), particles=True) if sei in SURNAMES else None
        if given is not None and sei not in COMMON_SINGLE:
            yield from _kana_given_hit(doc, start, sei, *given)
        elif given is None and sei in SURNAMES and sei not in COMMON_SINGLE:
            yield from _column_kana_given(doc, start, sei, match.start("person_name_k2"))
        return
    mei, role, hon = strip_tail(second)
    end = match.start("person_name_k2") + len(mei)
    if not hon and not role:
        after = _HON_AFTER.match(doc.text, end)
        hon = after.group(0).strip() if after else None
    cues = tuple(c for c in (role, hon) if c)
    if sei not in SURNAMES:
        return
    if not mei:  # 田中 様: the second run is only the honorific or title
        if sei not in COMMON_SINGLE and cues:
            score = SURNAME_TITLE_SCORE if role and not hon else SURNAME_HONORIFIC_SCORE
            yield _hit(start, start + len(sei), score, sei, "surname (dictionary)", score, cues)
        return
    if mei in GIVEN_NAMES:
        context = cues or _context(doc, start, end)
        score = FULL_CONTEXT_SCORE if context else FULL_SPACED_SCORE
        pattern = "surname + given name (dictionary)"
        yield _hit(start, end, score, sei + mei, pattern, FULL_SPACED_SCORE, context)
        return
    if mei in SURNAMES:
        return  # two surnames in a row: the look-ahead at the second one decides about it
    context = cues or _context(doc, start, end) or _row_reading(doc, start, end)
    katakana = bool(_KATA_WORD.fullmatch(mei))  # 山口 ルカ, 小池 ジョージ: with a cue (not 森 ビル)
    column: tuple[str, ...] = ()
    if not context and len(mei) <= (_COLUMN_KANA_GIVEN if katakana else 3) and sei not in COMMON_SINGLE:
        column = _column_of_names(doc, start, end)  # 篠原 勇気 among 伊東 聡, 大塚 雅美...
    single_ok = sei not in COMMON_SINGLE and (bool(context) or bool(_NAME_END.match(doc.text, end)))
    if katakana and not context and not column and mei not in GIVEN_NAMES_KANA:
        return
    if (
        (len(mei) <= 3 or katakana)
        and not _is_not_name(mei)
        and (context or column or mei not in COMMON_WORDS)  # 上野 動物園, 安田 講堂
        and (len(sei) >= 2 or single_ok)
    ):
        # 佐藤 花子, 林 千代、: a known surname, a space and a short run of kanji is written like
        # a name (after a one-kanji surname, only where a name ends: 林 千代に is not)
        score = UNKNOWN_GIVEN_SCORE if context else COLUMN_SCORE if column else WEAK_PAIR_SCORE
        pattern = "surname (dictionary) + given name"
        yield _hit(start, end, score, sei + mei, pattern, WEAK_PAIR_SCORE, context or column)
    elif sei not in COMMON_SINGLE:
        context = _context(doc, start, start + len(sei))
        if context:
            score = SURNAME_HONORIFIC_SCORE
            yield _hit(start, start + len(sei), score, sei, "surname (dictionary)", score, context)


_KANA_PAIR_CELL = regex.compile(
    r"(?:^|[\t,])\"?(?:[\p{Katakana}ー]{2,8}[ ・][\p{Katakana}ー]{1,8}|\p{Hiragana}{2,8} \p{Hiragana}{1,8})\"?(?=[\t,]|$)"
)


_SPACED_KANJI_NAME = regex.compile(rf"(?<![{_HAN}])[{_HAN}]{{1,4}} [{_HAN}]{{1,3}}(?![{_HAN}])")
_KANJI_PAIR_CELL = regex.compile(rf"(?:^|[\t,])\"?[{_HAN}]{{1,4}} [{_HAN}]{{1,3}}\"?(?=[\t,]|$)")


_READING_LABEL = regex.compile(r"(フリガナ|ふりがな|よみがな|読み仮名|カナ氏名|氏名カナ|カナ)\s*[:：]?\s*$")


def _reading_label(doc: Document, start: int) -> str | None:
    """The label that says the kana at ``start`` is a reading: its column header (フリガナ,
    Kana), the first cell of its key-value row (フリガナ | ウサミ サオリ) or the label before it
    on its line (ふりがな：さかい みずき)."""
    for label in (column_header(doc, start), row_label(doc, start)):
        if label is not None and _READING_COLUMN.search(label):
            return label
    # a form's line (ふりがな：さかい みずき) above or below the line of the kanji name
    before = _READING_LABEL.search(doc.before(start, 16).rpartition("\n")[2])
    return before.group(1) if before and _kanji_name_next_line(doc, start) else None


def _row_reading(doc: Document, start: int, end: int) -> tuple[str, ...]:
    """``("reading on its row",)`` when the kanji name at ``start:end`` is a whole cell of a
    table row that holds a reading too (宗像 葵 | むなかた あおい | 070-...): a roster without
    a header, where the dictionary does not know the given name."""
    if (start and doc.text[start - 1] not in '\t,\n"') or (
        end < len(doc.text) and doc.text[end] not in '\t,\r\n"'
    ):
        return ()
    return ("reading on its row",) if line_fact(doc, start, _has_kana_pair_cell) else ()


def _has_kana_pair_cell(doc: Document, start: int, end: int) -> bool:
    """Whether the line ``start:end`` has a cell of two kana words (むなかた あおい)."""
    return bool(_KANA_PAIR_CELL.search(doc.text[start:end]))


#: A column of a table without a name header is a column of names when at least this many of
#: its cells, and two thirds of those not empty, are full names the dictionary knows.
_COLUMN_MIN_NAMES = 3
#: The longest given name in kana (ゆうこ, ちひろ, カオリ) read from a column of names alone.
_COLUMN_KANA_GIVEN = 4
_KANA_GIVEN_CELL = regex.compile(rf"\p{{Hiragana}}{{2,{_COLUMN_KANA_GIVEN}}}")


def _dictionary_name_cell(cell: str) -> bool:
    """Whether a whole table cell is a full name that the dictionary knows, as the detector
    reports it with nothing else to vouch for it (伊東 聡, 大塚雅美, 鈴木 あすか, ヤマダ タロウ):
    what makes a column without a header a column of names.

    >>> [_dictionary_name_cell(c) for c in ("伊東 聡", "大塚雅美", "篠原 勇気", "総務部", "ヤマダ タロウ")]
    [True, True, False, False, True]
    """
    if len(cell) > 16:
        return False
    sei, space, mei = cell.partition(" ")
    if space:
        if sei in SURNAMES and sei not in COMMON_WORDS:
            return mei in GIVEN_NAMES or (mei in GIVEN_NAMES_KANA and mei not in _NOT_GIVEN_KANA)
        return sei in SURNAMES_KANA and mei in GIVEN_NAMES_KANA
    if cell in COMMON_WORDS:
        return False
    pair = split_name(cell, SURNAMES, GIVEN_NAMES)
    return pair is not None and len(pair[0]) >= 2 and len(pair[1]) >= 2


def _column_of_names(doc: Document, start: int, end: int) -> tuple[str, ...]:
    """``("column of names",)`` when ``start:end`` is a whole cell of a table column whose
    other cells are names (a Word table of attendees without a header row: 伊東 聡, 大塚
    雅美, 篠原 勇気...): at least :data:`_COLUMN_MIN_NAMES` of its cells, and two thirds of
    those not empty, are full names the dictionary knows. A column headed as an
    organisation's (会社名, 部署) is none, whatever its cells look like.

    >>> from classifiers.normalize import normalize
    >>> rows = ["伊東 聡\\t総務部", "大塚 雅美\\t経理部", "篠原 勇気\\t経営企画室", "桜井 美穂\\t営業部"]
    >>> doc = Document(normalize("\\n".join(rows)))
    >>> _column_of_names(doc, doc.text.index("篠原"), doc.text.index("\\t経営"))
    ('column of names',)
    >>> _column_of_names(doc, doc.text.index("篠原"), doc.text.index(" 勇気"))  # not a whole cell
    ()
    """
    text = doc.text
    if (start and text[start - 1] not in '\t,\n" ') or (end < len(text) and text[end] not in '\t,\r\n" '):
        return ()  # not a whole cell: no need to read the table
    tally = column_tally(doc, start, end, _dictionary_name_cell)
    if tally is None:
        return ()
    named, filled = tally
    if named < _COLUMN_MIN_NAMES or 3 * named < 2 * filled:
        return ()
    header = column_header(doc, start)
    if header is not None and _ORG_COLUMN.search(header):
        return ()
    return ("column of names",)


def _column_kana_given(doc: Document, start: int, sei: str, given_start: int) -> Iterator[Hit]:
    """``<surname> <given name in hiragana>`` that the dictionary does not know (篠原 ゆうき),
    as a whole cell of a column of names."""
    given = _KANA_GIVEN_CELL.match(doc.text, given_start)
    if given is None or given.group(0) in _NOT_GIVEN_KANA:
        return
    column = _column_of_names(doc, start, given.end())
    if column:
        value = sei + given.group(0)
        pattern = "surname (dictionary) + given name in kana"
        yield _hit(start, given.end(), COLUMN_SCORE, value, pattern, WEAK_PAIR_SCORE, column)


def _kanji_name_next_line(doc: Document, pos: int) -> bool:
    """Whether the line above or below the one holding ``pos`` holds a kanji name (a form whose
    ふりがな line heads its 氏名 line)."""
    return line_fact(doc, pos, _kanji_name_around)


def _kanji_name_around(doc: Document, line_start: int, line_end: int) -> bool:
    """Whether the line above or below the line ``line_start:line_end`` holds a kanji name."""
    if line_end == len(doc.text):
        line_end = -1  # the last line
    above = doc.text.rfind("\n", 0, max(0, line_start - 1)) + 1 if line_start else line_start
    below = doc.text.find("\n", line_end + 1) if line_end >= 0 else -1
    for a, b in ((above, line_start), (line_end + 1 if line_end >= 0 else len(doc.text), below)):
        text = doc.text[a : min(b if b >= 0 else len(doc.text), a + _READING_WINDOW)]
        for run in _HAN_RUN.finditer(text):
            word = strip_tail(run.group(0))[0]
            if word and split_name(word, SURNAMES, GIVEN_NAMES) is not None:
                return True
        if _KANJI_PAIR_CELL.search(text) or _SPACED_KANJI_NAME.search(text):
            return True
    return False


def _line_has_kanji_name(doc: Document, start: int, end: int) -> bool:
    """Whether the kana or Latin name at ``start:end`` sits on a line with a kanji name.

    A roster row ``山田太郎,ヤマダタロウ,Taro Yamada`` is one person: the reading and the Latin
    spelling are reported, but below the counting threshold, so ``records`` counts the row once.
    """
    line_start = max(
        doc.text.rfind("\n", max(0, start - _READING_WINDOW), start) + 1, start - _READING_WINDOW
    )
    line_end = doc.text.find("\n", end, end + _READING_WINDOW)
    line = doc.text[line_start : line_end if line_end >= 0 else end + _READING_WINDOW]
    if "、" in line and not any(sep in line for sep in "\t,/（("):
        return False  # a list of people (補助者：新田 エレナ、Kevin Tanaka), not a name and its reading
    if _KANJI_PAIR_CELL.search(line):
        return True  # a table row with the name as a cell of two kanji words (宗像 葵)
    for run in _HAN_RUN.finditer(line):
        word = strip_tail(run.group(0))[0]
        if word and (
            split_name(word, SURNAMES, GIVEN_NAMES) is not None or (len(word) >= 2 and word in SURNAMES)
        ):
            return True
    return False


def _hiragana_before_honorific(match: regex.Match[str], doc: Document) -> Iterator[Hit]:
    """A hiragana full name without a space before an honorific (やまだたろうさん, 班長は
    さとうはなこさん): a dictionary surname and given name only, never a surname alone, since
    hiragana words take さん and さま too (おかあさん, みなさま, ごくろうさま)."""
    run = match.group("person_name_hn")
    start, end = match.span("person_name_hn")
    pair = split_name(run, SURNAMES_KANA, GIVEN_NAMES_KANA, shortest=2)
    if pair is None and run[0] in "はがをにのともへや":  # a particle before the name
        pair = split_name(run[1:], SURNAMES_KANA, GIVEN_NAMES_KANA, shortest=2)
        start += 1
    if pair is None:
        return
    after = _HON_AFTER.match(doc.text, end)
    context = (after.group(0).strip(),) if after else ()
    pattern = "kana surname + given name (dictionary)"
    yield _hit(start, end, FULL_CONTEXT_SCORE, "".join(pair), pattern, FULL_SCORE, context)


def _kana(match: regex.Match[str], doc: Document) -> Iterator[Hit]:
    groups = match.re.groupindex
    if "person_name_hn" in groups and match.group("person_name_hn") is not None:
        yield from _hiragana_before_honorific(match, doc)
        return
    if "person_name_kk" in groups and match.group("person_name_kk") is not None:
        first, second = match.group("person_name_kk"), match.group("person_name_kk2")
        start, end = match.span("person_name_kk")
        if second is not None:
            end = match.end("person_name_kk2")
    elif "person_name_kw" in groups and match.group("person_name_kw") is not None:
        first, second = match.group("person_name_kw"), match.group("person_name_kw2")
        if first in SURNAMES_KANA and second in GIVEN_NAMES_KANA:
            return  # the candidate at the surname reported it
        start, end = match.start("person_name_kw"), match.end("person_name_kw2")
    else:
        first, second = match.group("person_name_h"), match.group("person_name_h2")
        start, end = match.start("person_name_h"), match.end("person_name_h2")
        if (
            first[0] in "はがをにのともへや"
            and first not in SURNAMES_KANA_WIDE
            and first[1:] in SURNAMES_KANA_WIDE
        ):
            first, start = first[1:], start + 1  # 班長はふじさわ ひなた: the particle is not the name
    after = _HON_AFTER.match(doc.text, end)
    hon = after.group(0).strip() if after else None
    pair: tuple[str, str] | None
    if second is not None:
        spaced = True
        pair = (first, second) if first in SURNAMES_KANA and second in GIVEN_NAMES_KANA else None
        if pair is None and first in SURNAMES_KANA_WIDE and second in GIVEN_NAMES_KANA_WIDE:
            # readings of IPAdic names: only where the two words stand alone (a cell, a list
            # item, a line) or something says "name"
            alone = (start == 0 or not doc.text[start - 1].isalnum()) and bool(_NAME_END.match(doc.text, end))
            if hon or alone or _context(doc, start, end):
                pair = (first, second)
    else:
        spaced = False
        pair = split_name(first, SURNAMES_KANA, GIVEN_NAMES_KANA, shortest=2)
    if pair is not None:
        context = (hon,) if hon else _context(doc, start, end)
        base = FULL_SPACED_SCORE if spaced else FULL_SCORE
        score = FULL_CONTEXT_SCORE if context else base
        pattern = "kana surname + given name (dictionary)"
        label = None if hon else _reading_label(doc, start)
        if label is not None:
            score, pattern = READING_SCORE, pattern + f", reading ({label})"
        elif not hon and _line_has_kanji_name(doc, start, end):
            score, pattern = READING_SCORE, pattern + ", reading of the kanji name on its line"
        yield _hit(start, end, score, "".join(pair), pattern, base, context)
        return
    if second is None and hon and first in SURNAMES_KANA:
        score = SURNAME_HONORIFIC_SCORE
        yield _hit(start, end, score, first, "kana surname (dictionary)", score, (hon,))


def _romaji(match: regex.Match[str], doc: Document) -> Iterator[Hit]:
    first, second = match.group("person_name_r"), match.group("person_name_r2")
    start = match.start("person_name_r")
    title = match.group("person_name_rt")
    if title is None and _AFTER_TITLE.search(doc.before(start, 8)):
        return  # the candidate at the title (Mr. Taro Yamada) reported this name
    if second is None:
        cue = (title or "").strip() or (match.group("person_name_rsan") or "").lstrip("-")
        if cue and first.lower() in SURNAMES_ROMAJI:
            end = match.end("person_name_r")
            score = SURNAME_HONORIFIC_SCORE
            yield _hit(start, end, score, first.lower(), "romanised surname (dictionary)", score, (cue,))
        return
    end = match.end("person_name_r2")
    a, b = first.lower(), second.lower()
    if a in SURNAMES_ROMAJI and b in GIVEN_NAMES_ROMAJI:
        normalized = a + b
    elif a in GIVEN_NAMES_ROMAJI and b in SURNAMES_ROMAJI:
        normalized = b + a
    elif b in SURNAMES_ROMAJI and (title or _context(doc, start, end)):
        normalized = b + a  # a given name the dictionary lacks (Kevin Tanaka), with a label or title
    else:
        return
    context = _context(doc, start, end)
    if title:
        context = (*context, title.strip())
    score = ROMAJI_CONTEXT_SCORE if context else FULL_SCORE
    pattern = "romanised surname + given name (dictionary)"
    if _line_has_kanji_name(doc, start, end):
        score, pattern = READING_SCORE, pattern + ", reading of the kanji name on its line"
    yield _hit(start, end, score, normalized, pattern, FULL_SCORE, context)


#: Column headers that name a person in every cell below, and the readings among them.
_NAME_COLUMN = regex.compile(
    r"(?i)氏名|名前|お名前|name|フリガナ|ふりがな|カナ|かな|よみ|受取人|会員名|顧客名|契約者|申込者|宛名|担当者"
    r"|(?<![法業])[者員人]名"  # a person's name, whoever they are to the list: 参加者名, 受講者名, 社員名, 届出人名
)
#: Every match of :data:`_NAME_COLUMN` holds one of these (lower case): a text without any has
#: no name column.
NAME_COLUMN_WORDS = (
    "氏名", "名前", "お名前", "name", "フリガナ", "ふりがな", "カナ", "かな", "よみ", "受取人", "会員名", "顧客名",
    "契約者", "申込者", "宛名", "担当者", "者名", "員名", "人名",
)  # fmt: skip
_READING_COLUMN = regex.compile(r"(?i)フリガナ|ふりがな|カナ|かな|よみ|読み|kana")
#: Headers of columns that name an organisation, even with 名/カナ in them (取引先名カナ).
_ORG_COLUMN = regex.compile(
    r"会社|取引先|仕入先|得意先|社名|法人|企業|店|部署|団体|事業者|施設|銀行|支店|company|vendor"
)
_ORG_IN_CELL = regex.compile(
    r"株式|有限|合同会社|会社|法人|組合|協会|カブシキ|ユウゲン|ガイシャ|ガイシヤ|[部課店局]$"
)


def _name_header(doc: Document, pos: int) -> str | None:
    header = column_header(doc, pos)
    return header if header is not None and _names_a_person(header) else None


@lru_cache(maxsize=1024)  # a table has a few header cells, asked about for each of its cells
def _names_a_person(header: str) -> bool:
    """Whether a column headed ``header`` holds a person's name in each cell."""
    return bool(_NAME_COLUMN.search(header)) and not _ORG_COLUMN.search(header)


#: Passes worth running only on a text that holds one of these words, in any case (see the
#: engine): the cell branch finds a name only under a header cell that :data:`_NAME_COLUMN`
#: matches, and a header cell is a piece of the text; the separators it consumes are no start
#: of another branch.
PASS_REQUIRES = {_CELL_BRANCH: NAME_COLUMN_WORDS}
_NAME_COLUMN_WORDS = required_words(NAME_COLUMN_WORDS)


def _has_name_column(doc: Document) -> bool:
    """Whether ``doc`` can have a column that :func:`_name_header` accepts (answered once per
    text, with the engine's check of ``PASS_REQUIRES``)."""
    return doc.has_any(_NAME_COLUMN_WORDS)


def _in_name_column(doc: Document, pos: int) -> bool:
    """Whether the cell branch reads the cell at ``pos`` (tab- or comma-separated rows only:
    PDF layout text splits cells by runs of spaces, where the dictionary branches decide)."""
    if not _has_name_column(doc):
        return False
    return line_fact(doc, pos, _is_csv_line) and _name_header(doc, pos) is not None


def _is_csv_line(doc: Document, start: int, end: int) -> bool:
    """Whether the line ``start:end`` has a tab or a comma."""
    return doc.text.find("\t", start, end) >= 0 or doc.text.find(",", start, end) >= 0


_HAN_ANY = regex.compile(rf"[{_HAN}]")


def _cell(match: regex.Match[str], doc: Document) -> Iterator[Hit]:
    """A whole cell under a name column: the name as written, whatever the dictionary knows."""
    start, end = match.span("person_name_c")
    header = _name_header(doc, start)
    if header is None:
        return
    value = match.group("person_name_c")
    if len(value.replace(" ", "")) < 2 or _ORG_IN_CELL.search(value) or value in NOT_NAMES:
        return
    normalized = value.replace(" ", "")
    context = (f"column {header}",)
    if _READING_COLUMN.search(header) and not _HAN_ANY.search(value):
        pattern = "cell under a name column, reading of the name on its row"
        yield _hit(start, end, READING_SCORE, normalized, pattern, READING_SCORE, context)
        return
    score = FULL_CONTEXT_SCORE if split_name(normalized, SURNAMES, GIVEN_NAMES) else CELL_SCORE
    yield _hit(start, end, score, normalized, "cell under a name column", CELL_SCORE, context)


def check(match: regex.Match[str], doc: Document) -> Iterable[Hit]:
    # A match comes from PATTERN or from one of PASSES, which has only its branch's groups.
    groups = match.re.groupindex
    if "person_name_c" in groups and match.group("person_name_c") is not None:
        return _cell(match, doc)
    if _in_name_column(doc, match.start()):
        return ()  # the cell branch reads it whole
    if "person_name_k" in groups and match.group("person_name_k") is not None:
        hits = _kanji(match, doc)
    elif (
        ("person_name_kk" in groups and match.group("person_name_kk") is not None)
        or ("person_name_kw" in groups and match.group("person_name_kw") is not None)
        or ("person_name_h" in groups and match.group("person_name_h") is not None)
        or ("person_name_hn" in groups and match.group("person_name_hn") is not None)
    ):
        hits = _kana(match, doc)
    else:
        hits = _romaji(match, doc)
    return hits


def scan(text: str) -> Iterator[Finding]:
    return scan_with(sys.modules[__name__], text)
