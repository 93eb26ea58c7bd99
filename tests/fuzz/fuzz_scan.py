"""Fuzz the classifiers with atheris, coverage-guided (libFuzzer): ``make fuzz`` runs it for
``FUZZ_SECONDS`` (default 600); ``python tests/fuzz/fuzz_scan.py -help=1`` lists libFuzzer's
options (``-max_total_time``, ``-jobs``, a corpus folder to keep what it finds).

Each input is read three ways, chosen by its first byte: as a message, as a file under a name
the fuzzer picks (so names that disagree with the content are tried too), or as a recipe that
builds one of the hostile shapes of :mod:`tests.fuzz.shapes` at a size the fuzzer picks (up to
8 MiB). Every scan must return a result within twice its budget and never raise; a hostile
shape must keep the My Number planted before the trouble, or say it was not fully inspected.
A failure stops the run with the input saved as ``crash-*`` (or ``timeout-*``).
"""

from __future__ import annotations

import sys
import time

import atheris

from classifiers import Limits, scan_bytes, scan_message
from tests.fuzz import shapes

BUDGET = 2.0
NAMES = ("a.txt", "a.csv", "a.html", "a.json", "a.xml", "a.pdf", "a.zip", "a.docx", "a.xlsx", "a.pptx",
         "a.eml", "a.gif", "a.png", "noname")  # fmt: skip


def one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    mode = fdp.ConsumeIntInRange(0, 2)
    limits = Limits(max_seconds=BUDGET)
    started = time.monotonic()
    if mode == 0:
        scan_message(fdp.ConsumeBytes(fdp.remaining_bytes()), limits)
    elif mode == 1:
        name = NAMES[fdp.ConsumeIntInRange(0, len(NAMES) - 1)]
        scan_bytes(fdp.ConsumeBytes(fdp.remaining_bytes()), name, limits)
    else:
        shape = shapes.SHAPES[fdp.ConsumeIntInRange(0, len(shapes.SHAPES) - 1)]
        mib = fdp.ConsumeIntInRange(1, 8)
        raw = shapes.message(shape, mib)
        started = time.monotonic()
        result = scan_message(raw, limits)
        found = any(f.normalized == shapes.PLANTED_DIGITS for f in result.findings)
        if not (found or not result.fully_inspected):
            raise AssertionError(f"{shape} at {mib} MiB: the planted number was lost")
    took = time.monotonic() - started
    if took > 2 * BUDGET:
        raise AssertionError(f"a scan took {took:.1f}s, more than twice its {BUDGET:g}s budget")


def main() -> None:
    atheris.instrument_all()
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
