"""Hostile input at several MiB of each shape (tests/fuzz/shapes.py): every scan returns within
twice its budget, never raises, and keeps the My Number planted before the trouble (or, where
the trouble comes first, says the item was not fully inspected).

The atheris harness in tests/fuzz/ (``make fuzz``) runs the same shapes, sized and mixed by the
fuzzer, for as long as one likes.
"""

from __future__ import annotations

import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from classifiers import Limits, scan_bytes, scan_message
from tests.fuzz import shapes

BUDGET = 2.0


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(shape=st.sampled_from(shapes.SHAPES), mib=st.integers(min_value=1, max_value=6), as_file=st.booleans())
def test_each_hostile_shape_is_bounded_and_keeps_what_was_found(shape: str, mib: int, as_file: bool) -> None:
    limits = Limits(max_seconds=BUDGET)
    if as_file and shape in shapes.FILES:
        name, build = shapes.FILES[shape]
        data = build(mib)
        started = time.monotonic()
        result = scan_bytes(data, name, limits)
    else:
        data = shapes.message(shape, mib)
        started = time.monotonic()
        result = scan_message(data, limits)
    took = time.monotonic() - started
    assert took <= 2 * BUDGET, f"{shape} at {mib} MiB took {took:.2f}s"
    found = any(f.normalized == shapes.PLANTED_DIGITS for f in result.findings)
    # Found, or the limit tripped before the planted text was reached (an archive of many
    # thousands of members is listed before any is read), and the result says so.
    assert found or not result.fully_inspected, (shape, result.truncated)
    if shape in shapes.PLANTED_FIRST:
        assert found, (shape, result.truncated)
