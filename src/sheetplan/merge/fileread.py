"""Reading one file for a merge: the job each worker process runs.

:class:`FileReader` reads and checks one file and returns a compact, picklable
:class:`~sheetplan.merge.results.FileResult` (row tuples, not objects). It touches no signal and no global
state: time limits and crash recovery are the pool's (:mod:`sheetplan.merge.pool`). :func:`read_all` runs it
over every input, in parallel processes, results in input order.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import operator
import os
import stat
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..files import sha256_of
from ..layout import Layout
from ..problems import problem
from ..reading.cells import show
from ..reading.inputs import not_a_file
from . import pool
from .figures import file_figures, info_keys
from .results import FileResult, ReadPlan
from .spill import Spill

FILE_TIMEOUT = 120  # seconds one file may take before it is given up (a pathological file cannot hang a merge)


@dataclass(frozen=True)
class FileReader:
    """The job of a merge's workers: one file in, one :class:`FileResult` out. Never raises for a bad file."""

    layout: Layout
    plan: ReadPlan = ReadPlan()
    timeout: int = FILE_TIMEOUT  # only for the words of a timeout problem: the pool keeps the time

    def __call__(self, task: tuple[str, str]) -> FileResult:
        path, source = task
        start = time.perf_counter()
        lay = self.layout
        res = FileResult(path, source)
        if not _file_facts(res):
            return res
        try:
            data = self._check(path, source)
        except Exception as exc:  # the last line of defence: one file never stops a merge
            res.problems.append(problem("unreadable_file", f"文件 {source} 无法读取：{type(exc).__name__}。",
                                        f"The file {source} cannot be read: {type(exc).__name__}.", file=source))
            res.status = "unreadable"
            return res
        res.problems = list(data.report)
        res.seconds = time.perf_counter() - start
        if not data.readable:
            res.status = "unreadable"
            if data.identity.get("district"):  # a roll-up (perhaps this merge's own earlier one), not a school's file
                res.status = "not_school"
                res.problems = [problem(
                    "district_workbook", f"{source} 是区级汇总工作簿（{data.identity.get('run', '')}），不是学校的报送文件，未汇总。",
                    f"{source} is a district roll-up workbook ({data.identity.get('run', '')}), not a school's file; "
                    "it was not merged.", file=source)]
            return res
        res.readable = True
        res.layout = lay.id
        res.layout_version = data.identity.get("layout_version") or str(lay.version)
        res.layout_fingerprint = data.identity.get("layout_fingerprint")
        res.org_code = data.org_code if isinstance(data.org_code, str) else None
        res.org_name = data.org_name if isinstance(data.org_name, str) else None
        res.year = data.year
        prepared = data.info.get("prepared_on")
        res.prepared_on = prepared.isoformat() if isinstance(prepared, dt.date) else None
        res.info = {k: float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None
                    for k, v in data.info.items() if k in info_keys(lay)}
        code, name = res.org_code, res.org_name
        for key, table in data.tables.items():
            sheet = lay.sheet(key)
            keys = [f.key for f in sheet.fields]
            res.sheets[key] = table.sheet_name or sheet.name["zh"]
            res.cells[key] = {k: "".join(ch for ch in c if ch.isalpha()) for k, c in (table.records[0].cells.items() if table.records else [])}
            accepted, rejected = [], []
            # Every field has a value (None when blank) unless its column is missing from the sheet.
            whole = all(k in table.columns for k in keys)
            pick = operator.itemgetter(*keys) if len(keys) > 1 else lambda values, k=keys[0]: (values[k],)
            for rec in table.records:
                if rec.rejected:
                    rejected.append((rec.row, {k: show(v) for k, v in rec.raw.items() if v is not None}))
                else:
                    values = rec.values
                    accepted.append((code, name, *(pick(values) if whole else [values.get(k) for k in keys]), source, rec.row))
            res.rows[key] = accepted
            res.n_rows[key] = len(accepted)
            res.rejected[key] = rejected
        res.figures, res.breakdowns = file_figures(lay, res)
        if self.plan.csv:
            from ..write.export import csv_lines

            res.csv_lines = {key: csv_lines(rows, lay.sheet(key).fields) for key, rows in res.rows.items()}
        return res

    def _check(self, path: str, source: str) -> Any:
        if self.plan.check is not None:
            return self.plan.check(path, self.layout, source)
        from ..reading.workbook import read_workbook
        from ..rules import apply_rules

        data = read_workbook(path, self.layout, source)
        apply_rules(data)
        return data

    def failed(self, task: tuple[str, str], reason: str, seconds: float) -> FileResult:
        """The result of a file given up: it took too long (``timeout``) or its reader crashed."""
        path, source = task
        res = FileResult(path, source)
        res.seconds = seconds
        if not _file_facts(res):
            return res
        res.status = "unreadable"
        if reason == "timeout":
            res.problems.append(problem("timeout", f"读取 {source} 超过 {self.timeout} 秒，已放弃。",
                                        f"Reading {source} took over {self.timeout} s; given up.", file=source))
        else:
            res.problems.append(problem(
                "reader_crashed", f"读取 {source} 时读取程序异常退出（文件可能损坏或构造异常），已跳过，其他文件不受影响。"
                                  "请在 Excel 或 WPS 中打开后另存为 .xlsx 再报送。",
                f"The reader stopped abnormally on {source} (the file may be damaged or crafted); it was skipped and the "
                "other files are unaffected. Open it in Excel or WPS and save it as .xlsx.", file=source))
        return res

    def compact(self, result: FileResult) -> FileResult:
        """Pickle the rows once, in the worker: the parent stores them as bytes without unpickling them."""
        result.pack(self.plan.rows)
        return result


def _file_facts(res: FileResult) -> bool:
    """Size, time and SHA-256 of the file for 提交情况; False (with the problem) when it is not a regular
    file or cannot be opened. Never waits on a pipe: it is looked at before it is opened, and opened
    without blocking."""
    bad = not_a_file(res.path, res.source_file)
    if bad is None:
        try:
            fd = os.open(res.path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
            with open(fd, "rb") as fh:
                st = os.fstat(fh.fileno())
                if not stat.S_ISREG(st.st_mode):  # swapped for something else since it was looked at
                    bad = not_a_file(res.path, res.source_file)
                else:
                    res.size = st.st_size
                    res.modified = dt.datetime.fromtimestamp(st.st_mtime).isoformat(timespec="seconds")
                    res.sha256 = sha256_of(fh)
        except OSError as exc:
            bad = problem("unreadable_file", f"文件 {res.source_file} 无法打开：{exc.strerror}。",
                          f"The file {res.source_file} cannot be opened: {exc.strerror}.", file=res.source_file)
    if bad is not None:
        res.problems.append(bad)
        res.status = "unreadable"
        return False
    return True


def read_one(task: tuple[str, str], layout: Layout, timeout: int = FILE_TIMEOUT, csv: bool = False,
             check: Callable[..., Any] | None = None) -> FileResult:
    """Read and check one file in this process (within ``timeout`` seconds where an alarm may be used)."""
    return pool.call(FileReader(layout, ReadPlan(csv=csv, check=check), timeout), task, timeout)


def read_all(files: Sequence[tuple[Path, str]], layout: Layout, jobs: int | None = None,
             progress: Callable[[int, int], None] | None = None, spill: Spill | None = None,
             timeout: int = FILE_TIMEOUT, on_result: Callable[[FileResult], None] | None = None,
             check: Callable[..., Any] | None = None, start_method: str | None = None,
             grace: int = pool.GRACE) -> list[FileResult]:
    """Read every file, in parallel processes (default: one per core; ``jobs=1`` in this one), in input order.

    With ``spill``, each file's rows go to disk as soon as it is read; ``on_result`` sees each result first,
    rows included. ``check`` replaces what reads one file (a module-level function); ``start_method`` and
    ``grace`` are the pool's (:func:`sheetplan.merge.pool.run`). A file that crashes or hangs its worker
    costs only itself: it gets a ``reader_crashed`` or ``timeout`` problem.
    """
    tasks = [(str(p), s) for p, s in files]
    plan = spill.plan if spill is not None else ReadPlan()
    if check is not None:
        plan = dataclasses.replace(plan, check=check)
    results: list[FileResult] = []

    def collect(index: int, r: FileResult) -> None:
        r.index = index  # the position is the input's identity inside the program
        if on_result is not None:
            on_result(r)
        if spill is not None:
            spill.take(r)
        results.append(r)
        if progress:
            progress(len(results), len(tasks))

    pool.run(tasks, FileReader(layout, plan, timeout), collect, jobs, timeout, grace, start_method)
    return results
