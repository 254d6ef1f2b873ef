"""The process pool on its own: order, time limits, crash recovery, start methods, and the progress guard."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

import sheetplan.merge.pool as pool
from standins import ToyJob


def _run(tasks, **kw):
    out: list = []
    pool.run(tasks, ToyJob(), lambda i, r: out.append((i, r)), **kw)
    return out


@pytest.mark.parametrize("method", ["fork", "forkserver", "spawn"])
def test_results_in_task_order_and_bad_tasks_cost_only_themselves(method):
    """A crash, a hang the alarm cannot reach and a slow task each get their own result; the rest is done."""
    tasks = [1, 2, -1, 3, -2, 4, -3, 5]
    start = time.monotonic()
    out = _run(tasks, jobs=2, timeout=1, grace=1, start_method=method)
    assert time.monotonic() - start < 60
    assert [i for i, _ in out] == list(range(len(tasks)))
    assert [r for _, r in out] == [("done", 1), ("done", 4), ("crashed", -1), ("done", 9), ("timeout", -2),
                                   ("done", 16), ("timeout", -3), ("done", 25)]


def test_in_this_process_with_a_time_limit():
    """jobs=1 runs here; the alarm still gives up a slow task (main thread, no alarm of the host's)."""
    start = time.monotonic()
    assert _run([2, -3, 3], jobs=1, timeout=1) == [(0, ("done", 4)), (1, ("timeout", -3)), (2, ("done", 9))]
    assert time.monotonic() - start < 5


def test_the_hosts_alarm_is_left_alone():
    """With a SIGALRM handler of the host program's, a task in this process gets no alarm, and the handler stays."""
    def host(signum, frame):
        pass

    old = signal.signal(signal.SIGALRM, host)
    try:
        assert not pool.may_use_alarm()
        assert _run([3], jobs=1, timeout=1) == [(0, ("done", 9))]
        assert signal.getsignal(signal.SIGALRM) is host
    finally:
        signal.signal(signal.SIGALRM, old)


def test_from_a_thread_no_alarm_is_used():
    """Signals work only in the main thread: from another thread the pool runs without them, and does not fail."""
    out: list = []
    t = threading.Thread(target=lambda: out.append(_run([2, 3], jobs=1, timeout=1)))
    t.start()
    t.join(30)
    assert out == [[(0, ("done", 4)), (1, ("done", 9))]]


def test_a_time_limit_is_not_taken_for_the_jobs_own_failure():
    """TimeLimit is a BaseException: a job's ``except Exception`` cannot swallow it."""
    class Guarded(ToyJob):
        def __call__(self, task):
            try:
                time.sleep(5)
            except Exception:  # noqa: BLE001 - what a reader's guard against damaged files does
                return ("swallowed", task)
            return ("done", task)

    out: list = []
    pool.run([7], Guarded(), lambda i, r: out.append(r), jobs=1, timeout=1)
    assert out == [("timeout", 7)]


def test_workers_that_cannot_start_are_not_started_again(monkeypatch):
    """Integrity issue point 13: workers that die before taking a task made the retry loop start 20 pools in 10 s
    with nothing done; now such a pool starts once and the tasks run here."""
    started = []
    real = pool.ProcessPoolExecutor

    class Counting(real):  # type: ignore[misc, valid-type]
        def __init__(self, *args, **kwargs):
            started.append(1)
            super().__init__(*args, **kwargs)

    def dies(*args, **kwargs):
        os._exit(3)

    monkeypatch.setattr(pool, "ProcessPoolExecutor", Counting)
    monkeypatch.setattr(pool, "_init", dies)
    assert _run([1, 2, 3], jobs=2, start_method="fork") == [(0, ("done", 1)), (1, ("done", 4)), (2, ("done", 9))]
    assert len(started) == 1
