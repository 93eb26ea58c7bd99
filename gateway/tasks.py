"""Stopping background tasks for certain.

Python 3.11's ``asyncio.wait_for`` can swallow a cancellation: when the awaited thing finishes
in the same loop iteration as the ``cancel()``, it returns the result and the task carries on
(fixed in 3.12, CPython gh-86296). A worker loop that is cancelled exactly then never ends,
and whoever awaits it waits forever. :func:`stop_task` therefore cancels again until the task
has really ended, and our own loops use ``asyncio.timeout`` rather than ``wait_for``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

log = logging.getLogger(__name__)


async def stop_tasks(tasks: Iterable[asyncio.Task[Any]], *, again_after: float = 0.5) -> None:
    """Cancel ``tasks`` and return once every one has ended, cancelling again each
    ``again_after`` seconds those that ignored it. A task that ended with an error other than
    its cancellation is logged, not raised: stopping goes on."""
    tasks = list(tasks)
    pending = {t for t in tasks if not t.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=again_after)
        if pending:
            log.warning("%d task(s) ignored a cancellation; cancelling again", len(pending))
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            log.error("task %s ended with an error", task.get_name(), exc_info=task.exception())


async def stop_task(task: asyncio.Task[Any] | None, *, again_after: float = 0.5) -> None:
    """:func:`stop_tasks` for one task (``None`` is allowed and ignored)."""
    if task is not None:
        await stop_tasks([task], again_after=again_after)
