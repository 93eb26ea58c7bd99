"""Worker processes driven straight from the event loop: the classification pool.

Why not ``concurrent.futures.ProcessPoolExecutor``: it carries every task through two helper
threads of the relay process (a manager and a queue feeder), which cost the relay ~0.3 ms of
CPU per message under load in GIL hand-offs and wake-ups, and it cannot stop a task. A worker
stuck on a hostile input stays stuck; once every worker is, every message waits out its budget.

Here each worker is one process (forkserver) with one socket to the relay. The relay writes a
length-prefixed pickle of each call and reads the replies on its own event loop; no thread is
involved. Each worker holds up to two calls (it starts the second as soon as it has answered
the first, as the executor's prefetch did); the calls' order on the socket pairs each reply
with its call. A call that runs longer than its ``kill_after`` kills its worker; a worker that
dies is replaced, and a call it had not started yet goes to another worker.

Slow calls (oversized or hostile messages) must not hold up the others. A call still running
after ``slow_after`` seconds turns its worker *slow*: the call it had queued goes to another
worker, the slow worker drops to the lowest CPU priority (nice 19) and leaves the pool once it
has answered, and a fresh worker takes its place at once, so the pool keeps ``size`` workers
for everyone else. At most ``slow_slots`` calls may be slow at once; a call that turns slow
beyond that is asked to stop (``stop_signal``: the scan ends at its next check and answers with
what it found, marked as cut short by time) rather than wait or take a slot.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import multiprocessing
import os
import pickle
import signal
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from typing import Any

log = logging.getLogger(__name__)

_LENGTH = struct.Struct("!Q")
#: Calls a worker holds at once: the one it runs and the next, so it never waits for the relay.
DEPTH = 2
#: A worker that has not started (run its initializer) within this many seconds is given up.
START_TIMEOUT = 60.0


def _ready() -> None:
    """The first call every worker answers: it has started."""


class WorkerError(Exception):
    """The called function raised in the worker (the worker itself is fine)."""


class WorkerLost(Exception):
    """The worker died during the call (it is being replaced)."""


def _recv_exactly(sock: socket.socket, n: int) -> bytes | None:
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = sock.recv_into(view[got:])
        if k == 0:
            return None
        got += k
    return bytes(buf)


def _serve(sock: socket.socket, initializer: Callable[[], None] | None) -> None:
    """A worker's whole life: run ``initializer``, then answer calls until the relay hangs up.

    Ctrl-C in a terminal reaches the whole process group: the relay decides when workers stop
    (it closes their sockets), so a worker ignores SIGINT. SIGUSR1 (the pool's default
    ``stop_signal``) is ignored unless the initializer installs a handler that stops a call.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)  # "stop early": the initializer may handle it
    if initializer is not None:
        initializer()
    with sock:
        while True:
            head = _recv_exactly(sock, _LENGTH.size)
            if head is None:
                return
            body = _recv_exactly(sock, _LENGTH.unpack(head)[0])
            if body is None:
                return
            fn, args = pickle.loads(body)  # noqa: S301 - from the relay over a private socketpair
            try:
                reply: tuple[bool, Any] = (True, fn(*args))
            except Exception as exc:  # reported to the caller; the worker goes on
                reply = (False, f"{type(exc).__name__}: {exc}")
            out = pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
            try:
                sock.sendall(_LENGTH.pack(len(out)) + out)
            except OSError:  # the relay hung up
                return


@dataclass(eq=False)
class _Call:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kill_after: float
    future: asyncio.Future[Any]


@dataclass(eq=False)
class _Worker:
    process: BaseProcess
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    #: Calls sent and not answered yet, in the order sent; the first is running.
    inflight: collections.deque[_Call] = field(default_factory=collections.deque)
    timer: asyncio.TimerHandle | None = None
    timed_out: bool = False
    reading: asyncio.Task[None] | None = None
    slow_timer: asyncio.TimerHandle | None = None
    #: Its call turned slow: it takes no more calls and leaves once it has answered.
    slow: bool = False
    #: It was asked to stop its call early (the slow slots were taken).
    stopped: bool = False


class WorkerPool:
    """``size`` worker processes; :meth:`call` runs ``fn(*args)`` in one of them."""

    def __init__(
        self,
        size: int,
        *,
        initializer: Callable[[], None] | None = None,
        slow_after: float | None = None,
        slow_slots: int = 1,
        stop_signal: int = signal.SIGUSR1,
        on_restart: Callable[[], None] | None = None,
    ) -> None:
        if size < 1:
            raise ValueError("a worker pool needs at least one worker")
        if slow_slots < 1:
            raise ValueError("a worker pool needs at least one slot for slow calls")
        self.size = size
        self.slow_after = slow_after
        self.slow_slots = slow_slots
        self.stop_signal = stop_signal
        self._initializer = initializer
        #: Called each time a worker is replaced (the metrics count restarts).
        self._on_restart = on_restart
        self._context = multiprocessing.get_context("forkserver")
        self._workers: list[_Worker] = []
        self._pending: collections.deque[_Call] = collections.deque()
        self._started: asyncio.Task[None] | None = None
        self._replacing: set[asyncio.Task[None]] = set()
        self._closed = False

    # --- calls -------------------------------------------------------------------------------
    async def call(self, fn: Callable[..., Any], *args: Any, kill_after: float) -> Any:
        """``fn(*args)`` in a worker (``fn`` and the arguments must pickle). A call running
        ``kill_after`` seconds (waiting for a worker does not count) kills its worker and raises
        ``TimeoutError``; also raises :class:`WorkerLost` or :class:`WorkerError`."""
        if self._closed:
            raise RuntimeError("the worker pool is closed")
        if self._started is None:
            self._started = asyncio.get_running_loop().create_task(self._start())
        started = self._started
        try:
            await asyncio.shield(started)
        except Exception:
            if self._started is started:
                self._started = None  # the next call tries again (a passing fork failure)
            raise
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append(_Call(fn, args, kill_after, future))
        self._dispatch()
        return await future  # a cancelled caller's call is skipped, or its reply dropped

    @property
    def slow_calls(self) -> int:
        """Calls running slow now (each in a worker of its own, outside the ``size``)."""
        return sum(1 for w in self._workers if w.slow and not w.stopped)

    def _dispatch(self) -> None:
        while self._pending:
            ready = [w for w in self._workers if len(w.inflight) < DEPTH and not w.timed_out and not w.slow]
            if not ready:
                return
            worker = min(ready, key=lambda w: len(w.inflight))
            call = self._pending.popleft()
            if call.future.done():
                continue  # its caller gave up while it waited
            try:
                body = pickle.dumps((call.fn, call.args), protocol=pickle.HIGHEST_PROTOCOL)
            except Exception as exc:  # the caller's mistake: its own error, nobody else's
                call.future.set_exception(exc)
                continue
            worker.writer.write(_LENGTH.pack(len(body)) + body)
            worker.inflight.append(call)
            if len(worker.inflight) == 1:
                self._arm(worker)

    def _arm(self, worker: _Worker) -> None:
        """The worker's first call is running now: it may run ``kill_after`` seconds, and turns
        slow after ``slow_after``."""
        if worker.timer is not None:
            worker.timer.cancel()
        loop = asyncio.get_running_loop()
        worker.timer = loop.call_later(worker.inflight[0].kill_after, self._kill, worker)
        if worker.slow_timer is not None:
            worker.slow_timer.cancel()
            worker.slow_timer = None
        if self.slow_after is not None and not worker.slow:
            worker.slow_timer = loop.call_later(self.slow_after, self._turn_slow, worker, worker.inflight[0])

    def _turn_slow(self, worker: _Worker, call: _Call) -> None:
        """``call`` has run ``slow_after`` seconds on ``worker``: move the call queued behind it
        to another worker, take the worker out of the pool (a fresh one replaces it), and give
        it a slow slot, or, if all are taken, ask it to stop the call now."""
        worker.slow_timer = None
        if worker not in self._workers or not worker.inflight or worker.inflight[0] is not call:
            return
        over = self.slow_calls >= self.slow_slots
        worker.slow = True
        worker.stopped = over
        queued = list(worker.inflight)[1:]
        worker.inflight = collections.deque([call])
        self._pending.extendleft(reversed(queued))  # never started there: another worker runs them
        pid = worker.process.pid
        try:
            if over:
                log.warning("classification worker %s: slow message beyond %d slot(s), stopping it", pid,
                            self.slow_slots)  # fmt: skip
                if pid is not None:
                    os.kill(pid, self.stop_signal)
            elif pid is not None:
                os.setpriority(os.PRIO_PROCESS, pid, 19)
        except OSError:  # it has just exited; its reader replaces it
            log.debug("cannot signal or renice worker %s", pid, exc_info=True)
        self._grow()
        self._dispatch()

    def _grow(self) -> None:
        """Start workers until ``size`` of them take calls (slow ones do not count)."""
        if self._closed:
            return
        serving = sum(1 for w in self._workers if not w.slow and not w.timed_out) + len(self._replacing)
        for _ in range(self.size - serving):
            task = asyncio.get_running_loop().create_task(self._replace(None))
            self._replacing.add(task)
            task.add_done_callback(self._replacing.discard)

    def _retire(self, worker: _Worker) -> None:
        """A slow worker has answered: it leaves (its replacement is already there)."""
        for timer in (worker.timer, worker.slow_timer):
            if timer is not None:
                timer.cancel()
        with contextlib.suppress(ValueError):
            self._workers.remove(worker)
        self._pending.extendleft(reversed(worker.inflight))
        worker.inflight.clear()
        worker.writer.close()
        worker.process.kill()
        asyncio.get_running_loop().run_in_executor(None, worker.process.join, 5)

    def _kill(self, worker: _Worker) -> None:
        worker.timed_out = True
        log.warning("classification worker %s ran out of time: killed", worker.process.pid)
        worker.process.kill()  # its reader sees the socket close and replaces it

    async def _read(self, worker: _Worker) -> None:
        try:
            while True:
                (length,) = _LENGTH.unpack(await worker.reader.readexactly(_LENGTH.size))
                ok, value = pickle.loads(await worker.reader.readexactly(length))  # noqa: S301 - our worker
                call = worker.inflight.popleft()
                if not call.future.done():
                    if ok:
                        call.future.set_result(value)
                    else:
                        call.future.set_exception(WorkerError(value))
                if worker.slow:
                    self._retire(worker)
                    self._dispatch()
                    return
                if worker.inflight:
                    self._arm(worker)  # the worker has started the next call
                else:
                    for timer in (worker.timer, worker.slow_timer):
                        if timer is not None:
                            timer.cancel()
                    worker.timer = worker.slow_timer = None
                self._dispatch()
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            self._lost(worker)
        except Exception:  # a reply that does not unpickle: nothing more from it can be trusted
            log.exception("unreadable reply from classification worker %s: killed", worker.process.pid)
            worker.process.kill()
            self._lost(worker)

    def _lost(self, worker: _Worker) -> None:
        """The worker is gone (killed, crashed, or the pool closing): fail its running call,
        give the one it had not started to another worker, start a replacement (a slow
        worker's replacement is already there)."""
        for timer in (worker.timer, worker.slow_timer):
            if timer is not None:
                timer.cancel()
        worker.writer.close()
        if worker not in self._workers:
            return  # retired already
        self._workers.remove(worker)
        if worker.inflight:
            running = worker.inflight.popleft()
            if not running.future.done():
                if worker.timed_out:
                    running.future.set_exception(TimeoutError(f"killed after {running.kill_after:g}s"))
                else:
                    running.future.set_exception(WorkerLost(f"worker {worker.process.pid} died"))
            self._pending.extendleft(reversed(worker.inflight))
            worker.inflight.clear()
        if self._closed:
            return
        if self._on_restart is not None:
            self._on_restart()
        if worker.slow:
            self._dispatch()
            return
        task = asyncio.get_running_loop().create_task(self._replace(worker))
        self._replacing.add(task)
        task.add_done_callback(self._replacing.discard)

    def alive(self) -> bool:
        """No worker is missing: none has died and not yet been replaced (before the first call
        the pool has not started, which is fine)."""
        if self._closed:
            return False
        if self._started is None:
            return True
        return len(self._workers) == self.size and all(w.process.is_alive() for w in self._workers)

    # --- processes ---------------------------------------------------------------------------
    async def _start(self) -> None:
        while len(self._workers) < self.size:
            self._add(await self._spawn())

    async def _spawn(self) -> _Worker:
        ours, theirs = socket.socketpair()
        process = self._context.Process(
            target=_serve, args=(theirs, self._initializer), name="sekimori-scan", daemon=True
        )
        try:
            await asyncio.to_thread(process.start)  # blocks while the forkserver forks
        finally:
            theirs.close()
        reader, writer = await asyncio.open_connection(sock=ours)
        try:
            # A first call answered means the initializer has run (and the worker handles the
            # stop signal): only then does the worker join the pool and its calls' clocks start.
            body = pickle.dumps((_ready, ()), protocol=pickle.HIGHEST_PROTOCOL)
            writer.write(_LENGTH.pack(len(body)) + body)
            async with asyncio.timeout(START_TIMEOUT):
                (length,) = _LENGTH.unpack(await reader.readexactly(_LENGTH.size))
                await reader.readexactly(length)
        except BaseException:
            writer.close()
            process.kill()
            raise
        return _Worker(process, reader, writer)

    def _add(self, worker: _Worker) -> None:
        if self._closed:  # closed while it was starting
            worker.writer.close()
            worker.process.kill()
            return
        self._workers.append(worker)
        worker.reading = asyncio.get_running_loop().create_task(self._read(worker))
        self._dispatch()

    async def _replace(self, dead: _Worker | None) -> None:
        """Start a worker in place of ``dead`` (None: of one that turned slow)."""
        if dead is not None:
            await asyncio.to_thread(dead.process.join, 5)
        if self._closed:
            return
        if dead is not None and not dead.timed_out:
            log.error(
                "classification worker %s exited (code %s); starting another",
                dead.process.pid,
                dead.process.exitcode,
            )
        try:
            self._add(await self._spawn())
        except Exception:
            log.exception("cannot start a classification worker; the pool has one fewer")
            if not self._workers and len(self._replacing) <= 1:  # none left, none coming
                # Fail the waiting calls rather than keep them for ever; the next call starts
                # the pool afresh.
                self._started = None
                while self._pending:
                    call = self._pending.popleft()
                    if not call.future.done():
                        call.future.set_exception(WorkerLost("no classification worker could be started"))

    def close(self) -> None:
        """Stop every worker: an idle one exits when its socket closes, a busy one is killed.

        Calls not answered yet are cancelled, not failed: a message whose classification is cut
        short by a stop was not found uninspectable, it stays ``received`` and is decided again
        at the next start.
        """
        self._closed = True
        workers, self._workers = self._workers, []
        for worker in workers:
            if worker.reading is not None:
                worker.reading.cancel()
            for timer in (worker.timer, worker.slow_timer):
                if timer is not None:
                    timer.cancel()
            worker.writer.close()
        for call in (*(c for w in workers for c in w.inflight), *self._pending):
            call.future.cancel()
        self._pending.clear()
        for worker in workers:
            worker.process.join(timeout=0.5)
            if worker.process.is_alive():
                worker.process.kill()
                with contextlib.suppress(Exception):
                    worker.process.join(timeout=2)


__all__ = ["DEPTH", "WorkerError", "WorkerLost", "WorkerPool"]
