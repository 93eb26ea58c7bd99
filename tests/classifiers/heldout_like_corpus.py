"""A held-out-like evaluation set: documents written apart from both of our corpora, scored
through the contract the customer judges with (``sekimori scan --format jsonl``).

The generated corpus (:mod:`tests.classifiers.corpus`) and the harder corpus
(:mod:`tests.classifiers.harder_corpus`) were written by the people who tuned the detectors.
This set was written afterwards, by another hand, to read like a different writer's documents:
business mail (お世話になっております…), tables with and without headers (csv, xlsx, docx and
HTML), header names the other corpora do not use (お名前, ご住所, 連絡先, 携帯, 〒, 生年月日(西暦),
誕生日, 免許証番号, 会員番号, 社員番号, 取引先コード, 伝票番号), 和暦 dates (昭和・平成・令和,
``S55.3.1``, ``H2/4/5``), full-width digits and hyphens, addresses without the prefecture,
names without spaces, with full-width spaces, in hiragana, with katakana given names, a surname
alone after the full name (担当の佐藤), supplier masters, newsletter footers, press-release
contact blocks, shipping notices, HR mail about マイナンバー with none in it, security prose,
invoices with T-numbers, and prose with no personal data.

Sources live in ``tests/classifiers/heldout_like/`` in the harder corpus's format (``%%`` front
matter, ``{{type|value}}`` labels, ``columns:`` for labelled table columns; see
:mod:`tests.classifiers.harder_corpus`) and are rendered by its renderers.

Labelling decisions (how a reader of the customer's corpus would label):

- every occurrence of a person's name is a ``person_name``, a surname alone with 様/先生/氏 or
  after 担当の included; a reading (フリガナ) is a ``person_name`` too;
- a date is a ``date_of_birth`` only with a person/birth cue: a birth label or column header
  (生年月日, 誕生日, 生年月日(西暦)), 生 or an age after it. A date in a column **without** a
  header, with nothing else saying it is a birth date, is not labelled: it may be an order,
  sign-up or move-in date just as well (``customers_noheader.csv``, ``residents_noheader.tsv``);
- 12-digit numbers under 社員番号, 会員番号, 伝票番号, 注文番号 that pass the My Number check
  are not My Numbers (and not labelled).
"""

from __future__ import annotations

import contextlib
import io
import json
from collections import Counter
from pathlib import Path

from tests.classifiers import harder_corpus
from tests.classifiers.corpus import Entity, TypeScore
from tests.classifiers.harder_corpus import HardItem, Outcome

SOURCES = Path(__file__).resolve().parent / "heldout_like"


def build_items() -> list[HardItem]:
    """Every document of the set, rendered, in file-name order."""
    return harder_corpus.build_items(SOURCES)


def scan_items(items: list[HardItem], folder: Path) -> list[Outcome]:
    """Write the documents to ``folder`` and scan them with ``sekimori scan --format jsonl``:
    every finding of the output counts (mail headers included), ``records`` as printed."""
    from gateway.cli import main

    paths = {}
    for item in items:
        path = folder / item.name
        path.write_bytes(item.data)
        paths[str(path)] = item
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main(["scan", "--format", "jsonl", *paths])
    if rc != 0:
        raise RuntimeError(f"sekimori scan exited with {rc}")
    outcomes: list[Outcome] = []
    for line in out.getvalue().splitlines():
        row = json.loads(line)
        item = paths[row["path"]]
        found = tuple((f["type"], f["value"]) for f in row["findings"])
        outcomes.append(Outcome(item, found, int(row["records"])))
    return outcomes


def score(outcomes: list[Outcome]) -> dict[str, TypeScore]:
    return harder_corpus.score(outcomes)


def records_report(outcomes: list[Outcome]) -> str:
    return harder_corpus.records_report(outcomes)


def forms(outcomes: list[Outcome]) -> Counter[str]:
    """How many documents of each rendered kind (eml, csv, xlsx, docx, html, txt)."""
    return Counter(o.item.name.rsplit(".", 1)[1] for o in outcomes)


__all__ = ["SOURCES", "Entity", "build_items", "forms", "records_report", "scan_items", "score"]
