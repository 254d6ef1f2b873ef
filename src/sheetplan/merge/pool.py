"""Run one job per task in parallel processes, where one bad task costs only itself.

A task that takes too long is given up (an alarm inside the worker); one that crashes its worker, or hangs
it somewhere the alarm cannot reach (inside a library holding the interpreter), is found from the marker
its worker left, read again alone in a process of its own, and then given up. Everything else goes on.
Results come back in task order.

The job is an object the workers get once, by pickling, so any start method works (fork, forkserver,
spawn): calling it does the work; ``failed(task, reason, seconds)`` gives the result of a task that timed
out or crashed; ``compact(result)`` makes a result small for the trip back to the parent.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Protocol, TypeVar

from ..files import temp_folder
from ..workers import collect_garbage_rarely, exit_with_parent, yield_to_parent

T = TypeVar("T")
R = TypeVar("R")
GRACE = 15  # seconds past the time limit after which a worker stuck outside Python is ended


class Job(Protocol[T, R]):
    """What the pool runs."""

    def __call__(self, task: T) -> R: ...

    def failed(self, task: T, reason: str, seconds: float) -> R: ...

    def compact(self, result: R) -> R: ...


class TimeLimit(BaseException):
    """Raised by the alarm inside whatever the job is doing: a BaseException, so that no ``except
    Exception`` on the way (a reader's guard against damaged files) can take it for the job's own failure."""


_IN_WORKER = False  # set in the pool's own worker processes, whose signals are ours to use
_JOB: Any = None
_MARKERS: Path | None = None
_GRACE = GRACE
_DEVNULL: Any = None


def may_use_alarm() -> bool:
    """Whether this process's alarm may time a task: always in our own workers; in the caller's process only
    from its main thread (signals work nowhere else) and when the host program has no alarm of its own."""
    if not hasattr(signal, "SIGALRM") or threading.current_thread() is not threading.main_thread():
        return False
    if _IN_WORKER:
        return True
    return signal.getsignal(signal.SIGALRM) in (signal.SIG_DFL, signal.SIG_IGN) and signal.getitimer(signal.ITIMER_REAL)[0] == 0


def _alarm(signum: int, frame: Any) -> None:
    raise TimeLimit


@contextlib.contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    """Raise :class:`TimeLimit` after ``seconds`` (0: no limit), where an alarm may be used."""
    if seconds <= 0 or not may_use_alarm():
        yield
        return
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def call(job: Job[T, R], task: T, timeout: int) -> R:
    """Run ``job`` on ``task`` in this process, within ``timeout`` seconds where an alarm may be used."""
    start = time.perf_counter()
    try:
        with time_limit(timeout):
            return job(task)
    except TimeLimit:
        return job.failed(task, "timeout", time.perf_counter() - start)


def _init(job: Any, markers: Path | None, grace: int, parent: int | None) -> None:
    global _JOB, _MARKERS, _GRACE, _DEVNULL, _IN_WORKER
    _IN_WORKER = True
    exit_with_parent(parent=parent)
    yield_to_parent()
    collect_garbage_rarely()
    _JOB, _MARKERS, _GRACE = job, markers, grace
    _DEVNULL = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the worker


def _run_chunk(chunk: list[tuple[int, Any]], timeout: int) -> list[tuple[int, Any]]:
    """Worker side: run a few tasks, leaving a marker of the one in hand.

    The alarm cannot interrupt a call stuck inside a library that holds the interpreter; faulthandler's
    watchdog is a C thread that needs nothing from it, and ends the worker. The parent then sees a broken
    pool and learns from the marker which task did it.
    """
    import faulthandler

    out = []
    marker = _MARKERS / str(os.getpid()) if _MARKERS else None
    # One open marker per chunk, overwritten in place for each task: no open and close per task.
    fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600) if marker else None
    try:
        for index, task in chunk:
            if fd is not None:
                _mark(fd, index)
            if timeout > 0:
                faulthandler.dump_traceback_later(timeout + _GRACE, exit=True, file=_DEVNULL)
            try:
                out.append((index, _JOB.compact(call(_JOB, task, timeout))))
            finally:
                if timeout > 0:
                    faulthandler.cancel_dump_traceback_later()
    finally:
        if fd is not None:
            os.close(fd)
    if marker:
        marker.unlink(missing_ok=True)
    return out


def _mark(fd: int, index: int) -> None:
    data = f"{index:<20}".encode("ascii")  # fixed width: a shorter number fully replaces a longer one
    if hasattr(os, "pwrite"):
        os.pwrite(fd, data, 0)
    else:  # Windows
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, data)


def run(tasks: Sequence[T], job: Job[T, R], on_result: Callable[[int, R], None], jobs: int | None = None,
        timeout: int = 0, grace: int = GRACE, start_method: str | None = None) -> None:
    """Run ``job`` over ``tasks``; ``on_result(index, result)`` is called in task order.

    ``jobs=1`` runs in this process; otherwise in ``jobs`` processes (default: one per core) started by
    ``start_method`` (the platform's default when None). A pool that breaks with no task in hand and
    nothing done (its workers cannot start) is not started again: the rest runs in this process.
    """
    pending: dict[int, R] = {}  # results that arrived before an earlier task's
    emitted = 0

    def place(index: int, r: R) -> None:
        nonlocal emitted
        pending[index] = r
        while emitted in pending:
            on_result(emitted, pending.pop(emitted))
            emitted += 1

    def done(index: int) -> bool:
        return index < emitted or index in pending

    def here(indexes: Sequence[int]) -> None:
        for i in indexes:
            place(i, call(job, tasks[i], timeout))

    if jobs == 1 or not tasks:
        here(range(len(tasks)))
        return
    workers = max(1, min(jobs or os.cpu_count() or 1, len(tasks)))
    context = multiprocessing.get_context(start_method) if start_method else None
    with temp_folder("workers") as markers:
        todo = list(range(len(tasks)))
        while todo:
            before = len(todo)
            if not _run_pool([(i, tasks[i]) for i in todo], job, workers, timeout, grace, markers, place, context):
                break
            for index in sorted(i for i in _in_hand(markers) if not done(i)):
                place(index, _isolated(tasks[index], job, timeout, grace, context))
            todo = [i for i in todo if not done(i)]
            if todo and len(todo) == before:
                # Nothing done and no task to blame: the workers themselves cannot run. Going round again would
                # only start pool after pool.
                here(todo)
                todo = []


def _run_pool(work: list[tuple[int, Any]], job: Any, workers: int, timeout: int, grace: int, markers: Path,
              place: Callable[[int, Any], None], context: Any) -> bool:
    """Run ``work`` in a pool; True when the pool broke (a worker died) before all of it was done."""
    from concurrent.futures.process import BrokenProcessPool

    # Small chunks: the last ones decide how long a worker waits for the other at the end.
    size = max(1, min(8, len(work) // (workers * 4) or 1))
    chunks = [work[i:i + size] for i in range(0, len(work), size)]
    broken = False
    try:
        with ProcessPoolExecutor(max_workers=min(workers, len(chunks)), mp_context=context, initializer=_init,
                                 initargs=(job, markers, grace, _parent(context))) as pool:
            futures = []
            for c in chunks:
                try:
                    futures.append(pool.submit(_run_chunk, c, timeout))
                except BrokenProcessPool:  # a worker died while the work was still being handed out
                    broken = True
                    break
            for fut in futures:
                try:
                    for index, r in fut.result():
                        place(index, r)
                except BrokenProcessPool:
                    broken = True
    except BrokenProcessPool:  # raised again while shutting the broken pool down
        broken = True
    return broken


def _parent(context: Any) -> int | None:
    """The pid a worker's parent has when the pool starts it: ours, except under forkserver (the server's)."""
    method = context.get_start_method() if context is not None else multiprocessing.get_start_method()
    return None if method == "forkserver" else os.getpid()


def _in_hand(markers: Path) -> set[int]:
    """Indexes of the tasks workers were running when the pool broke (their markers), and clear them."""
    found = set()
    for m in markers.iterdir():
        try:
            found.add(int(m.read_text(encoding="ascii")))
        except (OSError, ValueError):
            pass
        m.unlink(missing_ok=True)
    return found


def _isolated(task: Any, job: Any, timeout: int, grace: int, context: Any) -> Any:
    """Run one task in a process of its own; if that process dies too, the task is the one that did it."""
    from concurrent.futures.process import BrokenProcessPool

    start = time.perf_counter()
    try:
        with ProcessPoolExecutor(max_workers=1, mp_context=context, initializer=_init,
                                 initargs=(job, None, grace, _parent(context))) as pool:
            ((_, r),) = pool.submit(_run_chunk, [(0, task)], timeout).result()
            return r
    except BrokenProcessPool:
        pass
    seconds = time.perf_counter() - start
    return job.failed(task, "timeout" if timeout > 0 and seconds >= timeout else "crashed", seconds)
