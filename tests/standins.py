"""Stand-ins for the reader that misbehave, importable by worker processes of every start method.

A crash inside the Rust reader (an abort) or a hang there (which SIGALRM cannot interrupt) cannot be
produced on demand with a real file; these play them by file name and read every other file for real.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

CRASH = "崩溃.xlsx"
HANG = "卡死.xlsx"
SLOW = "缓慢.xlsx"


def misbehaving_check(path: str, layout: Any, display: str | None = None) -> Any:
    """Abort on ``崩溃.xlsx``, hold the interpreter for minutes on ``卡死.xlsx``, else the real check."""
    from sheetplan.report.check import check_file

    name = Path(path).name
    if name == CRASH:
        import faulthandler
        import resource

        faulthandler.disable()  # a crash report would only be noise here
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # and no core file left behind
        os.abort()
    if name == HANG:
        re.match(r"(a+)+$", "a" * 40 + "b")  # backtracks for minutes inside C, holding the interpreter
    return check_file(path, layout, display)


def exit_at_once(path: str, layout: Any, display: str | None = None) -> Any:
    """Every read kills its worker outright: workers that never finish a file."""
    os._exit(1)


class ToyJob:
    """A job for the pool alone: squares a number; -1 aborts its worker, -2 holds the interpreter for
    minutes (where no alarm reaches), -3 sleeps in Python (where the alarm does)."""

    def __call__(self, task: int) -> tuple[str, int]:
        if task == -1:
            import faulthandler
            import resource

            faulthandler.disable()
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            os.abort()
        if task == -2:
            re.match(r"(a+)+$", "a" * 40 + "b")
        if task == -3:
            import time

            time.sleep(30)
        return ("done", task * task)

    def failed(self, task: int, reason: str, seconds: float) -> tuple[str, int]:
        return (reason, task)

    def compact(self, result: tuple[str, int]) -> tuple[str, int]:
        return result
