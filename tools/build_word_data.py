"""Regenerate ``classifiers/data/common_words.txt`` from IPAdic as shipped in Janome.

Common words of two or three kanji (関連, 中心, 多大, 文章, 一連...) that a run of kanji must not
be read as a name. Source: IPAdic 2.7.0 inside Janome 0.5.0 (``janome/sysdic/entries_extra*``:
POS, conjugation, base form, reading); licences in ``classifiers/data/NOTICE``. Words that
``classifiers/data/surnames.txt`` lists as a surname (大和, 長谷) are left out.

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
    "名詞,固有名詞,地域,一般",
    "副詞,一般,*,*",
)
HEADER = """\
# Common words written in two or three kanji: a run of kanji that is one of these is never read
# as a name on its own (関連, 中心, 多大, 文章, 一連 are not a one-kanji surname + given name).
# Words listed as surnames in surnames.txt (大和, 長谷) are left out.
# Source: IPAdic 2.7.0 (mecab-ipadic) as shipped in Janome 0.5.0 (janome/sysdic), parts of speech
# 名詞 一般 / サ変接続 / 形容動詞語幹 / 副詞可能 / ナイ形容詞語幹 / 代名詞 / 接尾,助数詞 /
# 固有名詞,地域,一般 and 副詞,一般; kanji only, two or three characters. Built by
# tools/build_word_data.py. Licence: the IPAdic licence (classifiers/data/NOTICE).
"""


def main() -> int:
    kanji = re.compile(r"^[\u4e00-\u9fff々]{2,3}$")
    surnames = set((DATA / "surnames.txt").read_text(encoding="utf-8").split())
    words: set[str] = set()
    for i in range(10):
        module = importlib.import_module(f"janome.sysdic.entries_extra{i}")
        for entry in module.DATA.values():
            if entry[0] in POS and kanji.match(entry[3]):
                words.add(entry[3])
    out = sorted(words - surnames)
    (DATA / "common_words.txt").write_text(HEADER + "\n".join(out) + "\n", encoding="utf-8")
    print(f"{len(out)} words")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
