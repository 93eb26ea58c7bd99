"""The classification pool: worker processes scheduled as batch work, warmed up, classifying."""

from __future__ import annotations

import os
from pathlib import Path

from gateway.pipeline import Inspector
from policies import PolicyHolder
from tests.gateway.conftest import make_mail

ROOT = Path(__file__).resolve().parents[2]


async def test_workers_run_as_batch_work_and_classify() -> None:
    inspector = Inspector(PolicyHolder(ROOT / "policies" / "default.yaml"), scan_time=10, workers=1)
    try:
        # A worker process as the pool starts it: its initializer has run.
        assert inspector._pool is not None
        policy = await inspector._pool.call(os.sched_getscheduler, 0, kill_after=30)
        assert policy == os.SCHED_BATCH
        assert os.sched_getscheduler(0) != os.SCHED_BATCH, "the relay itself keeps its policy"
        scan = await inspector.classify(make_mail(to=["a@example.co.jp"], body="個人番号 1234 5678 9018\n"))
        assert [f.type for f in scan.findings] == ["my_number"]
    finally:
        inspector.close()
