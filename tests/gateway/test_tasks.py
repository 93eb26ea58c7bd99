"""Stopping background tasks ends them even when a cancellation is swallowed."""

from __future__ import annotations

import asyncio
import logging

import pytest

from gateway.tasks import stop_task, stop_tasks


async def test_a_task_that_swallows_one_cancellation_is_still_stopped() -> None:
    ticks = 0

    async def stubborn() -> None:
        nonlocal ticks
        swallowed = False
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                if swallowed:
                    raise
                swallowed = True  # what Python 3.11's wait_for does in a race
            ticks += 1

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    async with asyncio.timeout(10):
        await stop_task(task, again_after=0.05)
    assert task.cancelled() and ticks == 1


async def test_the_wait_for_race_of_python_3_11_does_not_hang_the_stop() -> None:
    """A worker waiting in ``wait_for(queue.get())`` when an item arrives in the same loop
    iteration as its cancellation: on 3.11 the cancellation is lost and the worker waits again."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    got: list[int] = []

    async def worker() -> None:
        while True:
            got.append(await asyncio.wait_for(queue.get(), timeout=3600))

    task = asyncio.create_task(worker())
    await asyncio.sleep(0.01)
    queue.put_nowait(1)
    async with asyncio.timeout(10):
        await stop_tasks([task], again_after=0.05)
    assert task.done()


async def test_an_error_a_task_ended_with_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    async def broken() -> None:
        raise RuntimeError("boom")

    task = asyncio.create_task(broken(), name="broken-one")
    await asyncio.sleep(0)
    with caplog.at_level(logging.ERROR, logger="gateway.tasks"):
        await stop_tasks([task, asyncio.create_task(asyncio.sleep(3600))])
    assert "broken-one ended with an error" in caplog.text
    await stop_task(None)
