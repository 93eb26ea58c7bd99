"""Regenerate the IPAdic vocabularies of ``classifiers/data/`` from IPAdic as shipped in Janome.

- ``common_words.txt``: common words of two or three kanji (関連, 中心, 多大, 文章, 一連...) that a
  run of kanji must never be read as a name;
- ``surnames_cued.txt``: surnames of IPAdic (人名,姓) and place names (固有名詞,地域,一般: most
  Japanese surnames are place names, 轟木, 梶谷, 蕨野) of two or three kanji that
  ``surnames.txt`` does not hold: a surname only where something says "name" (an honorific,
  a title, a label, a self-introduction), never on their own;
- ``names_kana_cued.txt``: readings of IPAdic surnames and given names (``sei``/``mei`` in the
  first column), for names written in kana with a space (スガワラ ダイチ, たかぎ そうた).

Source: IPAdic 2.7.0 inside Janome 0.5.0 (``janome/sysdic/entries_extra*``: POS,
conjugation, base form, reading); licences in ``classifiers/data/NOTICE``. Words that
``classifiers/data/surnames.txt`` lists as a surname (大和, 長谷) are left out of the first two.

``pip install janome==0.5.0`` (a build-time download only), then run this script.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "classifiers" / "data"
POS = (
    "名詞,一般,*,*",
    "名詞,サ変接続,*,*",
    "名詞,形容動詞語幹,*,*",
    "名詞,副詞可能,*,*",
    "名詞,ナイ形容詞語幹,*,*",
    "名詞,代名詞,一般,*",
    "名詞,接尾,助数詞,*",
    "副詞,一般,*,*",
)
PLACE = "名詞,固有名詞,地域,一般"
SURNAME = "名詞,固有名詞,人名,姓"
GIVEN = "名詞,固有名詞,人名,名"
HEADER = """\
# Common words written in two or three kanji: a run of kanji that is one of these is never read
# as a name (関連, 中心, 多大, 文章, 一連 are not a one-kanji surname + given name).
# Words listed as surnames in surnames.txt (大和, 長谷) are left out.
# Source: IPAdic 2.7.0 (mecab-ipadic) as shipped in Janome 0.5.0 (janome/sysdic), parts of speech
# 名詞 一般 / サ変接続 / 形容動詞語幹 / 副詞可能 / ナイ形容詞語幹 / 代名詞 / 接尾,助数詞 and
# 副詞,一般; kanji only, two or three characters. Built by tools/build_word_data.py.
# Licence: the IPAdic licence (classifiers/data/NOTICE).
"""
CUED_HEADER = """\
# Surnames that are a name only where something says so (an honorific, a title, a label, a
# self-introduction): IPAdic surnames (名詞,固有名詞,人名,姓) and place names (名詞,固有名詞,地域,一般;
# most surnames are place names) of two or three kanji, less surnames.txt and common_words.txt.
# Source: IPAdic 2.7.0 (mecab-ipadic) as shipped in Janome 0.5.0 (janome/sysdic). Built by
# tools/build_word_data.py. Licence: the IPAdic licence (classifiers/data/NOTICE).
"""
KANA_HEADER = """\
# Readings (katakana) of IPAdic surnames (sei) and given names (mei), for names written in kana
# with a space between surname and given name. Source: IPAdic 2.7.0 (mecab-ipadic) as shipped in
# Janome 0.5.0 (janome/sysdic), 名詞,固有名詞,人名,姓 / 名; two to six kana. Built by
# tools/build_word_data.py. Licence: the IPAdic licence (classifiers/data/NOTICE).
"""


def main() -> int:
    kanji = re.compile(r"^[\u4e00-\u9fff々ヶ]{2,3}$")
    kana = re.compile(r"^[ァ-ヶー]{2,6}$")
    surnames = set((DATA / "surnames.txt").read_text(encoding="utf-8").split())
    words: set[str] = set()
    cued: set[str] = set()
    readings: set[tuple[str, str]] = set()
    for i in range(10):
        module = importlib.import_module(f"janome.sysdic.entries_extra{i}")
        for entry in module.DATA.values():
            pos, base, reading = entry[0], entry[3], entry[4]
            if pos in POS and kanji.match(base):
                words.add(base)
            elif pos.startswith((PLACE, SURNAME)) and kanji.match(base):
                cued.add(base)
            if pos.startswith((SURNAME, GIVEN)) and kana.match(reading) and not base.isascii():
                readings.add(("sei" if pos.startswith(SURNAME) else "mei", reading))
    common = sorted(words - surnames)
    (DATA / "common_words.txt").write_text(HEADER + "\n".join(common) + "\n", encoding="utf-8")
    cued_out = sorted(cued - surnames - words)
    (DATA / "surnames_cued.txt").write_text(CUED_HEADER + "\n".join(cued_out) + "\n", encoding="utf-8")
    kana_out = sorted(readings)
    (DATA / "names_kana_cued.txt").write_text(
        KANA_HEADER + "\n".join(f"{k}\t{r}" for k, r in kana_out) + "\n", encoding="utf-8"
    )
    print(f"{len(common)} common words, {len(cued_out)} cued surnames, {len(kana_out)} readings")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
