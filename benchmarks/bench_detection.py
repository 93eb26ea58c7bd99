"""Detection quality on the harder corpus: precision and recall per type, records per file.

The hand-written documents of ``tests/classifiers/harder/`` (see
:mod:`tests.classifiers.harder_corpus`), scanned as ``sekimori scan`` scans files. The same
figures are asserted by ``tests/classifiers/test_harder_corpus.py`` at the acceptance thresholds
of issue 13 (precision >= 0.98 and recall >= 0.95 for every type with at least 20 labelled
values, records within 5 % on every file of ten people or more). Then the same figures for the
held-out-like set of ``tests/classifiers/heldout_like/`` (asserted by
``tests/classifiers/test_heldout_like_corpus.py``), scored through ``sekimori scan --format jsonl``.

Run with ``make bench`` or ``python benchmarks/bench_detection.py``.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.classifiers import corpus, harder_corpus, heldout_like_corpus


def heldout_like() -> None:
    """The held-out-like set (:mod:`tests.classifiers.heldout_like_corpus`), scored through
    ``sekimori scan --format jsonl`` as the customer scores its held-out corpus."""
    items = heldout_like_corpus.build_items()
    with tempfile.TemporaryDirectory() as folder:
        outcomes = heldout_like_corpus.scan_items(items, Path(folder))
    scores = heldout_like_corpus.score(outcomes)
    labelled = sum(len(o.item.truth) for o in outcomes)
    print(
        f"held-out-like set (sekimori scan --format jsonl): {len(items)} documents, {labelled} labelled values"
    )
    print(corpus.table(scores))
    print()
    print(heldout_like_corpus.records_report(outcomes))


def main() -> int:
    items = harder_corpus.build_items()
    with tempfile.TemporaryDirectory() as folder:
        outcomes = harder_corpus.scan_items(items, Path(folder))
    scores = harder_corpus.score(outcomes)
    labelled = sum(len(o.item.truth) for o in outcomes)
    print(f"harder corpus: {len(items)} documents, {labelled} labelled values")
    print(corpus.table(scores))
    print()
    print(harder_corpus.records_report(outcomes))
    print()
    heldout_like()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
