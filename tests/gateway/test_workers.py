"""The worker pool: calls over real processes and sockets; stuck and dying workers replaced."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import pickle
import time
from collections.abc import AsyncIterator, Callable

import pytest

from classifiers import ScanResult, scan_message
from classifiers.model import _FINDING_FIELDS
from gateway.workers import WorkerError, WorkerLost, WorkerPool
from tests.gateway.conftest import eventually


def sent(pool: WorkerPool) -> int:
    """Calls handed to a worker and not answered yet."""
    return sum(len(w.inflight) for w in pool._workers)


async def until(condition: Callable[[], bool]) -> None:
    """Wait for the pool to reach a state (not for a time that is usually enough)."""

    async def check() -> bool:
        return condition()

    await eventually(check)


def echo(value: object) -> tuple[int, object]:
    return os.getpid(), value


def hang(seconds: float) -> None:
    time.sleep(seconds)


def die() -> None:
    os._exit(3)


def fail() -> None:
    raise ValueError("no good")


def _refuse() -> None:
    raise RuntimeError("cannot be loaded")


class _Unloadable:
    def __reduce__(self) -> tuple[object, tuple[()]]:
        return (_refuse, ())


def unloadable() -> _Unloadable:
    return _Unloadable()


def mark() -> None:
    os.environ["SEKIMORI_TEST_INIT"] = "done"


def marked() -> str | None:
    return os.environ.get("SEKIMORI_TEST_INIT")


@dataclasses.dataclass(frozen=True, slots=True)
class _Checked:
    value: int
    doubled: int = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "doubled", 2 * self.value)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _Named:
    a: int
    b: tuple[int, ...] = ()


def scan_of_names() -> ScanResult:
    return scan_message(
        "Subject: 連絡先\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        "担当: 山田 太郎 (taro.yamada@example.co.jp, 090-1234-5678)\r\n".encode()
    )


def test_a_reply_reads_back_equal_however_its_dataclasses_are_pickled() -> None:
    scan = scan_of_names()
    found = [f for p in scan.parts for f in p.findings]
    assert found, "the scan has findings, each a frozen dataclass holding another"
    for value in (scan, (True, scan), _Checked(3), _Named(a=1, b=(2,)), [_Named(a=0)] * 2):
        again = pickle.loads(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
        assert again == value and type(again) is type(value)


def test_equal_explanations_cross_once_and_a_wrong_state_is_refused() -> None:
    intro = "いつもお世話になっております。株式会社サンプルの山田です。\r\n"
    scan = scan_message(
        f"Subject: 議事録\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{intro * 5}".encode()
    )
    found = [f for p in scan.parts for f in p.findings]
    assert len(found) > 1 and len({f.explanation for f in found}) == 1
    again = pickle.loads(pickle.dumps(scan, protocol=pickle.HIGHEST_PROTOCOL))
    assert again == scan
    assert len({id(f.explanation) for p in again.parts for f in p.findings}) == 1
    state: tuple[object, ...] = _FINDING_FIELDS(found[0])
    with pytest.raises(ValueError):
        getattr(found[0], "__setstate__")(state[:-1])  # noqa: B009 - not in the class's stub


async def test_a_scan_comes_back_from_a_worker_as_it_was_made(pool_of: Callable[..., WorkerPool]) -> None:
    pool = pool_of(1)
    assert await pool.call(scan_of_names, kill_after=30) == scan_of_names()


@pytest.fixture
async def pool_of() -> AsyncIterator[Callable[..., WorkerPool]]:
    """Pools made by a test, closed after it."""
    made: list[WorkerPool] = []

    def make(size: int) -> WorkerPool:
        made.append(WorkerPool(size))
        return made[-1]

    yield make
    for pool in made:
        pool.close()


async def test_calls_spread_over_the_workers_and_return_their_values(
    pool_of: Callable[..., WorkerPool],
) -> None:
    pool = pool_of(2)
    results = await asyncio.gather(*(pool.call(echo, n, kill_after=30) for n in range(20)))
    assert [value for _, value in results] == list(range(20))
    pids = {pid for pid, _ in results}
    assert len(pids) == 2 and os.getpid() not in pids
    big = b"x" * 3_000_000  # larger than any socket buffer: sent and answered whole
    assert (await pool.call(echo, big, kill_after=30))[1] == big


async def test_a_stuck_call_kills_its_worker_and_the_pool_keeps_its_size(
    pool_of: Callable[..., WorkerPool],
) -> None:
    pool = pool_of(1)
    (first, _) = await pool.call(echo, None, kill_after=30)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await pool.call(hang, 60, kill_after=0.5)
    assert time.monotonic() - started < 10
    (second, value) = await pool.call(echo, "after", kill_after=30)
    assert value == "after" and second != first
    with pytest.raises(ProcessLookupError):
        os.kill(first, 0)  # the stuck worker is gone, not left running


async def test_a_call_queued_behind_a_stuck_one_runs_on_the_replacement(
    pool_of: Callable[..., WorkerPool],
) -> None:
    pool = pool_of(1)
    stuck = asyncio.create_task(pool.call(hang, 60, kill_after=0.5))
    await asyncio.sleep(0)  # the stuck call is sent first; the next one waits behind it
    queued = asyncio.create_task(pool.call(echo, "queued", kill_after=30))
    with pytest.raises(TimeoutError):
        await stuck
    assert (await asyncio.wait_for(queued, 30))[1] == "queued"


async def test_a_dying_worker_is_reported_and_replaced(pool_of: Callable[..., WorkerPool]) -> None:
    pool = pool_of(1)
    with pytest.raises(WorkerLost, match="died"):
        await pool.call(die, kill_after=30)
    assert (await pool.call(echo, 1, kill_after=30))[1] == 1


async def test_an_unreadable_reply_costs_that_worker_only(pool_of: Callable[..., WorkerPool]) -> None:
    pool = pool_of(1)
    (pid, _) = await pool.call(echo, 0, kill_after=30)
    with pytest.raises(WorkerLost):
        await pool.call(unloadable, kill_after=30)
    (after, value) = await pool.call(echo, 1, kill_after=30)
    assert value == 1 and after != pid


async def test_an_exception_is_reported_and_the_worker_goes_on(pool_of: Callable[..., WorkerPool]) -> None:
    pool = pool_of(1)
    (pid, _) = await pool.call(echo, 0, kill_after=30)
    with pytest.raises(WorkerError, match="ValueError: no good"):
        await pool.call(fail, kill_after=30)
    assert (await pool.call(echo, 0, kill_after=30))[0] == pid


async def test_a_cancelled_caller_does_not_leave_a_reply_for_the_next_one(
    pool_of: Callable[..., WorkerPool],
) -> None:
    pool = pool_of(1)
    task = asyncio.create_task(pool.call(hang, 0.5, kill_after=30))
    await until(lambda: sent(pool) == 1)  # the call is with the worker: its reply will come
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (await pool.call(echo, "next", kill_after=30))[1] == "next"


async def test_the_initializer_runs_in_every_worker_and_close_stops_them() -> None:
    pool = WorkerPool(2, initializer=mark)
    results = await asyncio.gather(*(pool.call(marked, kill_after=30) for _ in range(6)))
    pids = {pid for pid, _ in await asyncio.gather(*(pool.call(echo, 0, kill_after=30) for _ in range(6)))}
    assert results == ["done"] * 6
    pool.close()
    for pid in pids:
        with pytest.raises((ProcessLookupError, ChildProcessError)):
            os.kill(pid, 0)
    with pytest.raises(RuntimeError):
        await pool.call(echo, 0, kill_after=30)


async def test_a_failed_start_is_tried_again_by_the_next_call(
    pool_of: Callable[..., WorkerPool], monkeypatch: pytest.MonkeyPatch
) -> None:
    pool = pool_of(2)
    spawn = pool._spawn
    failures = [OSError("fork refused")]

    async def flaky() -> object:
        if failures:
            raise failures.pop()
        return await spawn()

    monkeypatch.setattr(pool, "_spawn", flaky)
    with pytest.raises(OSError, match="fork refused"):
        await pool.call(echo, 0, kill_after=30)
    results = await asyncio.gather(*(pool.call(echo, n, kill_after=30) for n in range(6)))
    assert [v for _, v in results] == list(range(6))
    assert len({pid for pid, _ in results}) == 2, "the retry started the whole pool, no more"


async def test_calls_cut_short_by_close_are_cancelled_not_failed() -> None:
    """The relay leaves such a message ``received`` (decided again at the next start) instead
    of treating it as uninspectable."""
    pool = WorkerPool(1)
    running = asyncio.create_task(pool.call(hang, 30, kill_after=60))
    waiting = asyncio.create_task(pool.call(hang, 30, kill_after=60))
    behind = asyncio.create_task(pool.call(hang, 30, kill_after=60))  # not even sent yet
    await until(lambda: sent(pool) == 2 and len(pool._pending) == 1)
    started = time.monotonic()
    pool.close()
    for task in (running, waiting, behind):
        with pytest.raises(asyncio.CancelledError):
            await task
    assert time.monotonic() - started < 5, "the busy worker was killed, not waited for"


async def test_when_no_worker_can_be_started_waiting_calls_fail_and_the_next_starts_again(
    pool_of: Callable[..., WorkerPool], monkeypatch: pytest.MonkeyPatch
) -> None:
    pool = pool_of(1)
    await pool.call(echo, 0, kill_after=30)
    spawn = pool._spawn
    gate = asyncio.Event()
    refused: list[bool] = []

    async def refuse_once() -> object:
        if not refused:
            await gate.wait()
            refused.append(True)
            raise OSError("fork refused")
        return await spawn()

    monkeypatch.setattr(pool, "_spawn", refuse_once)
    with pytest.raises(WorkerLost):
        await pool.call(die, kill_after=30)
    waiting = asyncio.create_task(pool.call(echo, 1, kill_after=30))  # no worker to run it yet
    await until(lambda: len(pool._pending) == 1)
    gate.set()  # the replacement fails: nobody is left to run the waiting call
    with pytest.raises(WorkerLost, match="could be started"):
        await asyncio.wait_for(waiting, 20)
    assert (await pool.call(echo, 2, kill_after=30))[1] == 2


_STOP = {"now": False}


def _stop_handler(signum: int, frame: object) -> None:
    _STOP["now"] = True


def stoppable_worker() -> None:
    """Initializer: SIGUSR1 asks the running call to stop early (as the classifiers do)."""
    import signal

    signal.signal(signal.SIGUSR1, _stop_handler)


def until_stopped(seconds: float) -> str:
    """Work until asked to stop (then say so) or until ``seconds`` have passed."""
    _STOP["now"] = False
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if _STOP["now"]:
            return "stopped"
        time.sleep(0.01)
    return "finished"


async def test_a_slow_call_leaves_the_pool_and_the_call_behind_it_is_served_at_once() -> None:
    # The initializer, a function of this module, has each worker import it before it takes
    # calls: the import is not counted against the first call's time.
    pool = WorkerPool(1, initializer=mark, slow_after=0.2, slow_slots=2)
    try:
        (first, _) = await pool.call(echo, 0, kill_after=30)
        slow = asyncio.create_task(pool.call(hang, 60, kill_after=120))
        await asyncio.sleep(0)  # the slow call is sent first; the next one is queued behind it
        behind = asyncio.create_task(pool.call(echo, "behind", kill_after=30))
        (pid, value) = await asyncio.wait_for(behind, 30)
        assert value == "behind" and pid != first, "served by the replacement, not after the slow call"
        assert not slow.done() and pool.slow_calls == 1
        assert os.getpriority(os.PRIO_PROCESS, first) == 19, "the slow worker runs at the lowest priority"
        results = await asyncio.gather(*(pool.call(echo, n, kill_after=30) for n in range(5)))
        assert [v for _, v in results] == list(range(5)) and first not in {p for p, _ in results}
    finally:
        pool.close()


async def test_a_call_that_turns_slow_beyond_the_slots_is_stopped_and_answers() -> None:
    pool = WorkerPool(1, initializer=stoppable_worker, slow_after=0.2, slow_slots=1)
    try:
        holder = asyncio.create_task(pool.call(until_stopped, 60, kill_after=120))
        await asyncio.sleep(0)
        # Queued behind it, this call is answered once the first call has turned slow (taking
        # the one slot) and moved it to the replacement.
        await pool.call(echo, "behind", kill_after=30)
        assert pool.slow_calls == 1
        second = await asyncio.wait_for(pool.call(until_stopped, 60, kill_after=120), 30)
        assert second == "stopped", "beyond the slot the call is asked to stop, and answers"
        assert not holder.done() and pool.slow_calls == 1
        assert (await pool.call(echo, "still serving", kill_after=30))[1] == "still serving"
    finally:
        pool.close()
