"""Postal address (住所).

A whole Japanese address, not its pieces: prefecture (都道府県, the 47 of the Local Autonomy
Act's annex, 地方自治法 別表) + municipality (市・区・町・村, with 郡 and the wards of designated
cities) + town (町域, 大字・字) + block numbers (住居表示: 丁目・番・号, or 地番: 番地, or the
``1-2-3`` shorthand, or a bare lot number where the address ends: 山下町27) + optional
building and room. Addresses written without the prefecture (横浜市港南区…, 白井市…) count when
they start with a municipality of the closed list (``classifiers/data/municipalities.tsv``:
Japan Post's 1,892 市区町村, with designated cities without their ward and towns without their
郡) and carry block numbers.

A prefecture and a municipality alone (``東京都港区在住``) locate no one and are not findings.

The normalised form, for counting distinct addresses, drops spaces and writes the block
numbers as ``1-2-3`` (``一丁目2番3号`` → ``1-2-3``).

>>> [f.normalized for f in scan("住所：東京都千代田区丸の内一丁目２番３号 丸の内ビル５F")]
['東京都千代田区丸の内1-2-3丸の内ビル5F']
>>> list(scan("東京都港区在住の方"))
[]
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator

import regex

from classifiers.detectors._base import Document, Hit, scan_with, words_pattern
from classifiers.detectors._japan import PREFECTURES, municipality_before
from classifiers.detectors._table import column_header
from classifiers.model import Explanation, Finding

ENTITY_TYPE = "address"
#: Identifies or describes a natural person: counts towards ``records``.
PERSONAL = True


def _alternation(words: Iterable[str]) -> str:
    words = sorted(words, key=len, reverse=True)
    first = "".join(sorted({w[0] for w in words}))
    return f"(?=[{first}])(?:{'|'.join(words)})"


_P = r"[\p{Han}\p{Hiragana}\p{Katakana}ー々ヶ・]"  # characters of place names
# Towns may hold a Latin name (JPタワー); ー before a digit is folded to - by the normaliser.
# 札幌市北区北7条西5丁目: the 条 and 線 of Hokkaido's grid towns carry a number.
_TOWN = r"(?:[\p{Han}\p{Hiragana}\p{Katakana}ー々ヶ・A-Za-z-]|\d{1,2}(?=条|線|地割))"
_KN = "[一二三四五六七八九十]{1,3}"
_BLOCK = (
    rf"(?:(?:\d{{1,3}}|{_KN})丁目 ?(?:\d{{1,5}}(?:番地?の?|-|の) ?)?(?:\d{{1,5}}号?)?"
    r"|\d{1,5}(?:番地?|-) ?\d{1,5}(?:(?:番地?|-|の) ?\d{1,5})?(?:号|番地?)?"
    r"|\d{1,5}番地?(?:の\d{1,5})?"
    # a bare lot number (山下町27, 上山口2135) where the address ends
    r"|\d{1,5}(?=$|[\s,、。)）\"」』]))"
    r"(?:-\d{1,5})?(?![\d目])"  # 5番目 is "the fifth"
    r"(?![人件回位勝敗点日月年時分秒歳名個台枚円%])"  # 2-3日, 3-1で勝利: not an address
)
_NAME = r"[\p{Han}\p{Katakana}\p{Hiragana}ー々・A-Za-z0-9&'-]"  # ー before a digit is folded to -
_BLDG_SUFFIX = (
    r"(?:ビルディング|ビル|マンション|ハイツ|コーポ|荘|タワー|レジデンス|アパート|ハウス|コート|ヒルズ"
    r"|プラザ|パレス|ガーデン|テラス|メゾン|センター|会館|号館|館|棟|寮|団地|フラット|ハイム)"
)
_NOT_BUILDING = r"(?!TEL|Tel|tel|FAX|Fax|fax|電話|携帯|ファックス|ファクス|メール)"
_BUILDING = (
    rf"(?: ?{_NOT_BUILDING}(?P<address_bldg>"
    rf"(?:{_NAME}{{1,25}}? ?)?\d{{1,4}}(?:階|F|号室)"  # ...ビル 5F, 101号室
    r"|(?:[A-Z][A-Za-z0-9&'.-]* ){1,4}\d{1,3}(?:階|F)"  # ThinkPark Tower 15F
    # a name and a room number without a unit (メゾン八幡101); not a number that goes on (03-...)
    rf"|(?=[^\x00-\x7f]){_NAME}{{1,25}}?\d{{2,4}}(?![\d-])"
    rf"|{_NAME}{{1,25}}{_BLDG_SUFFIX}"  # the longest name that ends in a building word
    "))?"
)


_FIRST = "".join(sorted({w[0] for w in PREFECTURES} | set("市区町村")))
# Every PATTERN of this package starts with a look-ahead for its possible first characters: in
# the engine's combined alternation it lets most positions fail at once.
PATTERN = (
    f"(?=[{_FIRST}])(?:"
    rf"(?P<address_pref>{_alternation(PREFECTURES)}) ?(?:{_P}{{1,5}}?郡 ?)?{_P}{{1,8}}?[市区町村](?:{_P}{{1,5}}?区)?"
    # without the prefecture: the last character of a municipality; check() looks back for the
    # municipality of the closed list that ends there (a regex of 2,800 names costs far more)
    # (after a letter that can end a municipality's name: not at a word's start, not after a
    # particle, so that a surname such as 村上 or 町田 in 担当の村上の 2 名 is no candidate and
    # stays free for the name detector; たつの市, えびの市, いの町, えりも町, うきは市 end in one)
    r"|(?<=[\p{Han}\p{Katakana}ー々ヶ]|\p{Hiragana}(?<![のもはをにへがとでや])|たつの|えびの|いの|えりも|うきは)"
    r"(?P<address_city>[市区町村])"
    ")"
    rf" ?{_TOWN}{{0,20}}? ?(?P<address_block>{_BLOCK}){_BUILDING}"
)
PRIORITY = 35
#: Every match names a municipality: the prefecture branch ends in one of these, a designated
#: city in 市, a Tokyo ward in 区. A part with none of them is not scanned for addresses.
REQUIRES = ("市", "区", "町", "村")

BASE_SCORE = 0.8
NO_PREFECTURE_SCORE = 0.7
CONTEXT_SCORE = 1.0

_CONTEXT = words_pattern(
    ["住所", "所在地", "現住所", "送付先", "お届け先", "届け先", "自宅", "〒", "住まい", "address", "addr"]
)
_HEADER = regex.compile(r"(?i)住所|所在地|送付先|届け先|address")
_KANJI_DIGITS = {c: i for i, c in enumerate("〇一二三四五六七八九", start=0)}
_BLOCK_WORDS = regex.compile(r"(?: ?(?:丁目|番地|番|号|の|-) ?)+")


def kanji_number(text: str) -> int:
    """Value of a small kanji numeral (``十二`` → 12).

    >>> kanji_number("二十三")
    23
    """
    total = 0
    current = 0
    for ch in text:
        if ch == "十":
            total += (current or 1) * 10
            current = 0
        else:
            current = _KANJI_DIGITS[ch]
    return total + current


def normalize_block(block: str) -> str:
    """``一丁目2番3号`` → ``1-2-3``."""
    block = regex.sub(r"[一二三四五六七八九十]+(?=丁目)", lambda m: str(kanji_number(m.group(0))), block)
    return _BLOCK_WORDS.sub("-", block).strip("-")


#: Particles that never end or start a town name: 横浜市では2、 is a sentence, not an address.
_NOT_TOWN = regex.compile(
    r"^[でをにへはもやのがとか内外民長立営議]|[でをにへはもやのがと]$|では|には|での|から|まで|より|など|ので|にて"
)


def check(match: regex.Match[str], doc: Document) -> Iterable[Hit]:
    start, end = match.span()
    b0, b1 = match.span("address_block")
    has_prefecture = bool(match.group("address_pref"))
    if not has_prefecture:
        # the first 市区町村 character where a municipality of the list ends (町田市原町田: not
        # the 町 that starts it)
        for p in range(start, b0):
            city = municipality_before(doc.text, p + 1) if doc.text[p] in "市区町村" else None
            if city is not None and not _NOT_TOWN.search(doc.text[p + 1 : b0].strip()):
                start = p + 1 - len(city)
                break
        else:
            return
    normalized = (doc.text[start:b0] + normalize_block(doc.text[b0:b1]) + doc.text[b1:end]).replace(" ", "")
    context = doc.context(start, end, _CONTEXT, before=20, after=0)
    if not context:
        header = column_header(doc, start)
        if header is not None and _HEADER.search(header):
            context = (f"column {header}",)
    base = BASE_SCORE if has_prefecture else NO_PREFECTURE_SCORE
    score = CONTEXT_SCORE if context else base
    pattern = "prefecture+municipality+town+block" if has_prefecture else "municipality+town+block"
    yield Hit(start, end, score, normalized, Explanation(pattern, "format", base, context))


def scan(text: str) -> Iterator[Finding]:
    return scan_with(sys.modules[__name__], text)
