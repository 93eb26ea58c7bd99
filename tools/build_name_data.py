"""Regenerate the person-name dictionary in ``classifiers/data/`` from its upstream sources.

Sources (both MIT licensed, see ``classifiers/data/NOTICE``):

- gimei 0.2.3 ``gimei/data/names.yml``: 500 surnames and ~13,000 given names, each with its
  hiragana and katakana reading;
- mimesis 22.2.0 ``mimesis/datasets/ja/person.json``, key ``surnames``: ~2,000 surnames (kanji).

Surnames are completed with their common variant-kanji spellings (:data:`VARIANTS`).

Romanised forms come from the readings through jaconv 0.5.0 ``kana2alphabet`` (Hepburn-like),
plus the spellings people use in Latin script: long vowels dropped (``satou`` -> ``sato``,
``oono`` -> ``ono``) and ``oh`` for a final ``ou`` (``satoh``).

Install the ``data`` extra (``pip install -e .[data]``), then run ``python tools/build_name_data.py``.
The output is deterministic: one name per line, sorted, UTF-8, so a regeneration diffs cleanly.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

import jaconv
import yaml

OUT = Path(__file__).resolve().parent.parent / "classifiers" / "data"

_KANJI_NAME = re.compile(r"[\u3400-\u9fff\uf900-\ufaff\U00020000-\U0002ffff々ヶ]+")
_KANA_NAME = re.compile(r"[\u3041-\u3096\u30a1-\u30fa\u30fc]+")  # hiragana, katakana, ー
_KATAKANA = re.compile(r"[\u30a1-\u30fa\u30fc]+")
_ROMAJI = re.compile(r"[a-z]+")


def romaji_variants(hiragana: str) -> set[str]:
    """Latin spellings of a reading: jaconv's form and the common simplified ones."""
    base = jaconv.kana2alphabet(hiragana).lower()
    if not _ROMAJI.fullmatch(base):
        return set()
    out = {base}
    short = base.replace("ou", "o").replace("oo", "o").replace("uu", "u")
    out.add(short)
    if base.endswith("ou"):
        out.add(base[:-2] + "oh")
    return out


#: Old and variant forms of kanji common in surnames (異体字): people write 渡邊 and 齋藤 as often as
#: 渡辺 and 斎藤, and NFKC does not fold them.
VARIANTS = {
    "斎": "斉齋齊",
    "辺": "邊邉",
    "沢": "澤",
    "崎": "﨑嵜",
    "高": "髙",
    "浜": "濱",
    "島": "嶋嶌",
    "広": "廣",
    "桜": "櫻",
    "関": "關",
    "吉": "𠮷",
    "国": "國",
    "竜": "龍",
}


def with_variants(names: set[str]) -> set[str]:
    """Each name plus the forms with one character replaced by a variant."""
    out = set(names)
    for name in names:
        for i, ch in enumerate(name):
            for alt in VARIANTS.get(ch, ""):
                out.add(name[:i] + alt + name[i + 1 :])
    return out


def write(name: str, values: Iterable[str]) -> int:
    lines = sorted(set(values))
    (OUT / name).write_text("".join(v + "\n" for v in lines), encoding="utf-8")
    return len(lines)


def main() -> int:
    gimei_names = resources.files("gimei").joinpath("data/names.yml").read_text(encoding="utf-8")
    gimei = yaml.safe_load(gimei_names)
    mimesis_person = (
        resources.files("mimesis").joinpath("datasets/ja/person.json").read_text(encoding="utf-8")
    )
    mimesis = json.loads(mimesis_person)

    surnames: set[str] = set()
    given: set[str] = set()
    surname_kana: set[str] = set()
    given_kana: set[str] = set()
    surname_romaji: set[str] = set()
    given_romaji: set[str] = set()

    for written, hira, kata in gimei["last_name"]:
        if _KANJI_NAME.fullmatch(written):
            surnames.add(written)
        if _KATAKANA.fullmatch(kata):
            surname_kana.add(kata)
        surname_romaji |= romaji_variants(hira)
    for written in mimesis["surnames"]:
        if _KANJI_NAME.fullmatch(written):
            surnames.add(written)
    for gender in ("male", "female"):
        for written, hira, kata in gimei["first_name"][gender]:
            # Names written in kanji, kana or a mix (いく子) are all written forms of a given name.
            if (
                _KANJI_NAME.fullmatch(written)
                or _KANA_NAME.fullmatch(written)
                or re.fullmatch(r"[\u3041-\u3096\u30a1-\u30fa\u30fc\u3400-\u9fff々]+", written)
            ):
                given.add(written)
            if _KATAKANA.fullmatch(kata):
                given_kana.add(kata)
            given_romaji |= romaji_variants(hira)

    OUT.mkdir(parents=True, exist_ok=True)
    counts = {
        "surnames.txt": write("surnames.txt", with_variants(surnames)),
        "given_names.txt": write("given_names.txt", given),
        "surnames_kana.txt": write("surnames_kana.txt", surname_kana),
        "given_names_kana.txt": write("given_names_kana.txt", given_kana),
        "surnames_romaji.txt": write("surnames_romaji.txt", surname_romaji),
        "given_names_romaji.txt": write("given_names_romaji.txt", given_romaji),
    }
    for name, n in counts.items():
        print(f"{name}: {n}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
