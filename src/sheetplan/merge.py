"""`sheetplan merge`: a map over files, then a reduce.

Map: :func:`read_one` reads and checks one file and returns a compact,
picklable :class:`FileResult` (row tuples, not objects) — a pure function
that parallel processes run. Reduce: :func:`combine` settles double
submissions, joins the roster, applies the cross-school rules and counts
every row: read = merged + rejected, per table.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import multiprocessing
import operator
import os
import pickle
import secrets
import shutil
import signal
import stat
import tempfile
import threading
import time
import weakref
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import IntegrityError, UsageError
from .fieldtypes import show
from .files import display_path
from .inputs import not_a_file
from .layout import Layout
from .problems import Problem, problem
from .roster import RosterEntry, read_roster
from .sniff import is_ignored_name
from .workers import collect_garbage_rarely, exit_with_parent, yield_to_parent

STATUS = {"submitted": ("已提交", "submitted"), "missing": ("未提交", "not submitted"),
          "unreadable": ("无法读取", "unreadable"), "superseded": ("已被替代", "superseded"),
          "not_school": ("区级汇总表，未汇总", "district workbook, not merged")}
FILE_TIMEOUT = 120  # seconds one file may take before it is given up (a pathological file cannot hang a merge)


@dataclass
class FileResult:
    """What reading one file gives the reduce step (compact and picklable)."""

    path: str
    source_file: str
    sha256: str = ""
    size: int = 0
    modified: str = ""
    readable: bool = False
    layout: str | None = None
    layout_version: str | None = None
    org_code: str | None = None
    org_name: str | None = None
    year: int | None = None
    prepared_on: str | None = None
    info: dict[str, float | None] = field(default_factory=dict)  # 基本信息 figures that 汇总 shows (info columns)
    index: int = -1  # the input's position: how the program knows it (source_file is for people)
    # accepted rows as merged: org_code, org_name, field values…, source_file, source_row
    rows: dict[str, list[tuple]] = field(default_factory=dict)
    packed: dict[str, bytes] = field(default_factory=dict)  # the same rows pickled by the worker (see pack)
    csv: dict[str, bytes] = field(default_factory=dict)  # the same rows as export CSV lines, when an export is made
    rejected: dict[str, list[tuple[int, dict[str, Any]]]] = field(default_factory=dict)  # (source_row, raw row)
    cells: dict[str, dict[str, str]] = field(default_factory=dict)  # table → field → column letter
    sheets: dict[str, str] = field(default_factory=dict)  # table → sheet name in the file
    problems: list[Problem] = field(default_factory=list)
    status: str = "submitted"
    seconds: float = 0.0
    n_rows: dict[str, int] = field(default_factory=dict)  # accepted rows per table (kept when rows are spilled)
    figures: dict[str, float | None] = field(default_factory=dict)  # this school's 汇总 figures
    breakdowns: list[list[float]] = field(default_factory=list)  # this school's 分项统计 rows

    def read_count(self, table: str) -> int:
        return self.n_rows.get(table, 0) + len(self.rejected.get(table, ()))

    def table_rows(self, table: str) -> list[tuple]:
        """This file's accepted rows of one table (merged form), whether packed or not."""
        if table in self.packed:
            return pickle.loads(self.packed[table])  # noqa: S301 - pickled by our own worker
        return self.rows.get(table, [])

    def pack(self, tables: frozenset[str] | None = None) -> None:
        """Pickle the rows once, in the worker: the parent then stores them as bytes, without unpickling them.

        Only the rows of ``tables`` (None: all) are kept; the others are counted in ``n_rows`` and dropped.
        """
        self.packed = {k: pickle.dumps(v, protocol=pickle.HIGHEST_PROTOCOL) for k, v in self.rows.items()
                       if tables is None or k in tables}
        self.rows = {}


@dataclass(frozen=True)
class ReadPlan:
    """How workers read each file, and what they send back besides its facts, figures and problems."""

    csv: bool = False  # the accepted rows as export CSV lines
    rows: frozenset[str] | None = None  # tables whose rows come back (None: every table); others only count them
    # What reads and checks one file: sheetplan.check.check_file unless given. A module-level function, so
    # that workers of every start method (fork, forkserver, spawn) can be handed it.
    check: Callable[..., Any] | None = None
    # Seconds past the per-file timeout after which a worker stuck outside Python (where the alarm cannot
    # reach) is ended by faulthandler's watchdog.
    grace: int = 15


def find_inputs(inputs: Iterable[str | Path], skip: Iterable[str | Path] = ()) -> list[tuple[Path, str]]:
    """Every entry to read, in input order, with its ``source_file`` name (§6).

    ``source_file`` is the path relative to the nearest folder that holds every input, so two folders
    ``a/`` and ``b/`` with the same file name give ``a/报送.xlsx`` and ``b/报送.xlsx``; a name that is not
    valid UTF-8 is shown with its bytes escaped. It is for people: inside the program an input is known by
    its position in this list. Entries that are not regular files (pipes, devices, broken links, folders
    that cannot be opened) are listed too, so that reading reports them (nothing is skipped silently);
    hidden and temporary files are not. Paths in ``skip`` (the merge's own outputs) are left out.
    """
    items = [Path(i) for i in inputs]
    for p in items:
        if not os.path.lexists(p):
            raise UsageError(f"找不到输入：{display_path(p)}", f"Input not found: {display_path(p)}")
    skipped = {os.path.realpath(s) for s in skip}
    seen: set[str] = set()
    found: list[Path] = []

    def add(f: Path) -> None:
        real = os.path.realpath(f)
        if real in seen or real in skipped or any(real.startswith(s + os.sep) for s in skipped):
            return
        seen.add(real)
        found.append(f)

    for p in items:
        if p.is_dir():
            for f in _walk(p):
                add(f)
        else:
            add(p)
    bases = [os.path.abspath(p if p.is_dir() else p.parent) for p in items]
    try:
        root = os.path.commonpath(bases)
    except ValueError:  # different drives (Windows): absolute names are unique too
        root = ""
    names: set[str] = set()
    out: list[tuple[Path, str]] = []
    for f in found:
        name = display_path(os.path.relpath(os.path.abspath(f), root) if root else os.path.abspath(f)).replace(os.sep, "/")
        unique, n = name, 1
        while unique in names:  # only escaped names could collide; still, two inputs never share a name
            n += 1
            unique = f"{name} ({n})"
        names.add(unique)
        out.append((f, unique))
    return out


def _walk(folder: Path) -> Iterator[Path]:
    """Everything below ``folder`` in name order, hidden and temporary names left out; a sub-folder that
    cannot be opened is yielded itself (reading then reports it)."""
    unreadable: list[Path] = []

    def failed(exc: OSError) -> None:
        if exc.filename is not None:
            unreadable.append(Path(os.fsdecode(exc.filename)))

    entries: list[Path] = []
    for here, dirs, files in os.walk(folder, onerror=failed):
        dirs[:] = sorted(d for d in dirs if not is_ignored_name(d))
        base = Path(here)
        for name in files:
            if not is_ignored_name(name):
                entries.append(base / name)
        # os.walk lists a link to a folder among the folders and does not follow it: read it as an entry
        # (a link to a folder is reported, not followed, so a loop of links cannot hang a merge).
        entries.extend(base / d for d in dirs if os.path.islink(base / d))
    entries.extend(unreadable)
    return iter(sorted(entries))


# ----------------------------------------------------------------------------- map

_LAYOUT: Layout | None = None


_MARKERS: Path | None = None
_PLAN = ReadPlan()
_DEVNULL: Any = None


_IN_WORKER = False  # set in the merge's own worker processes, whose signals are ours to use


def _init(layout: Layout, markers: Path | None = None, plan: ReadPlan = _PLAN) -> None:
    global _LAYOUT, _MARKERS, _PLAN, _DEVNULL, _IN_WORKER
    _IN_WORKER = True
    exit_with_parent()
    yield_to_parent()
    collect_garbage_rarely()
    _LAYOUT, _MARKERS, _PLAN = layout, markers, plan
    _DEVNULL = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the worker


def _read_chunk(chunk: list[tuple[int, tuple[str, str]]], timeout: int) -> list[tuple[int, FileResult]]:
    """Worker side of :func:`read_all`: read a few files, leaving a marker of the one in hand.

    SIGALRM (in :func:`read_one`) cannot interrupt a call stuck inside the Rust reader, which holds the
    interpreter; faulthandler's watchdog is a C thread that needs nothing from it, and ends the worker.
    The parent then sees a broken pool and learns from the marker which file did it.
    """
    import faulthandler

    out = []
    marker = _MARKERS / str(os.getpid()) if _MARKERS else None
    # One open marker per chunk, overwritten in place for each file: no open and close per file.
    fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600) if marker else None
    try:
        for index, task in chunk:
            if fd is not None:
                _mark(fd, index)
            if timeout > 0:
                faulthandler.dump_traceback_later(timeout + _PLAN.grace, exit=True, file=_DEVNULL)
            try:
                res = read_one(task, None, timeout, csv=_PLAN.csv, check=_PLAN.check)
                res.pack(_PLAN.rows)
                out.append((index, res))
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


class _Timeout(BaseException):
    """Raised by the alarm inside whatever the reader is doing: a BaseException, so that no ``except
    Exception`` on the way (the reader's guard against damaged files) can take it for a damaged file."""


def _may_use_alarm() -> bool:
    """Whether this process's alarm may time a file: always in our own workers; in the caller's process only
    from its main thread (signals work nowhere else) and when the host program has no alarm of its own."""
    if not hasattr(signal, "SIGALRM") or threading.current_thread() is not threading.main_thread():
        return False
    if _IN_WORKER:
        return True
    return signal.getsignal(signal.SIGALRM) in (signal.SIG_DFL, signal.SIG_IGN) and signal.getitimer(signal.ITIMER_REAL)[0] == 0


def _alarm(signum: int, frame: Any) -> None:
    raise _Timeout


def _timeout_problem(source: str, timeout: int) -> Problem:
    return problem("timeout", f"读取 {source} 超过 {timeout} 秒，已放弃。", f"Reading {source} took over {timeout} s; given up.",
                   file=source)


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
                    h = hashlib.sha256()
                    for chunk in iter(lambda: fh.read(1 << 20), b""):
                        h.update(chunk)
                    res.sha256 = h.hexdigest()
        except OSError as exc:
            bad = problem("unreadable_file", f"文件 {res.source_file} 无法打开：{exc.strerror}。",
                          f"The file {res.source_file} cannot be opened: {exc.strerror}.", file=res.source_file)
    if bad is not None:
        res.problems.append(bad)
        res.status = "unreadable"
        return False
    return True


def read_one(task: tuple[str, str], layout: Layout | None = None, timeout: int = FILE_TIMEOUT,
             csv: bool = False, check: Callable[..., Any] | None = None) -> FileResult:
    """Read and check one file into a compact result. Never raises for a bad file.

    With ``csv``, the accepted rows are also rendered as the export's CSV lines here, so that
    this work runs in parallel and the export only has to join the pieces. ``timeout`` applies where
    an alarm may be used (see :func:`_may_use_alarm`); worker processes also have a hard limit.
    """
    if check is None:
        from .check import check_file as check

    lay = layout or _LAYOUT
    assert lay is not None
    path, source = task
    start = time.perf_counter()
    res = FileResult(path, source)
    if not _file_facts(res):
        return res
    use_alarm = timeout > 0 and _may_use_alarm()
    old = signal.signal(signal.SIGALRM, _alarm) if use_alarm else None
    try:
        if use_alarm:
            signal.alarm(timeout)
        data = check(path, lay, source)
    except _Timeout:
        res.problems.append(_timeout_problem(source, timeout))
        res.status = "unreadable"
        return res
    except Exception as exc:  # the last line of defence: one file never stops a merge
        res.problems.append(problem("unreadable_file", f"文件 {source} 无法读取：{type(exc).__name__}。", f"The file {source} cannot be read: {type(exc).__name__}.", file=source))
        res.status = "unreadable"
        return res
    finally:
        if use_alarm:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, old)
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
    res.org_code = data.org_code if isinstance(data.org_code, str) else None
    res.org_name = data.org_name if isinstance(data.org_name, str) else None
    res.year = data.year
    prepared = data.info.get("prepared_on")
    res.prepared_on = prepared.isoformat() if isinstance(prepared, dt.date) else None
    res.info = {k: float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None
                for k, v in data.info.items() if k in _info_keys(lay)}
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
    if csv:
        from .export import csv_lines

        res.csv = {key: csv_lines(rows, lay.sheet(key).fields) for key, rows in res.rows.items()}
    return res


class BlobStore:
    """Pieces of one table (one per input file, known by its position), spilled to a temporary file as files are read.

    Memory then grows with the files' metadata and problems, not with their
    rows. Pieces are kept per source file, so that a file found superseded only
    at the end is simply skipped when the pieces are read back.
    """

    def __init__(self, folder: str, suffix: str) -> None:
        self._fh = tempfile.NamedTemporaryFile(prefix="rows-", suffix=suffix, dir=folder, delete=False)  # noqa: SIM115
        self.path = self._fh.name
        self._pieces: list[tuple[int, int, int]] = []  # input position, rows, bytes
        self._accepted: set[int] | None = None

    def add(self, index: int, blob: bytes, rows: int) -> None:
        self._fh.write(blob)
        self._pieces.append((index, rows, len(blob)))

    def seal(self, accepted: set[int]) -> None:
        """No more pieces; from now on only those of ``accepted`` files are seen."""
        if not self._fh.closed:
            self._fh.close()
        self._accepted = accepted

    def __len__(self) -> int:
        return sum(n for s, n, _ in self._pieces if self._accepted is None or s in self._accepted)

    def blobs(self) -> Iterator[bytes]:
        """The accepted pieces, in the order they were added."""
        if not self._fh.closed:
            self._fh.flush()
        with open(self.path, "rb") as fh:
            for source, _, size in self._pieces:
                if self._accepted is None or source in self._accepted:
                    yield fh.read(size)
                else:
                    fh.seek(size, os.SEEK_CUR)


    def blobs_of(self, sources: set[int]) -> Iterator[bytes]:
        """The accepted pieces of the inputs at positions ``sources`` only, in the order they were added."""
        if not self._fh.closed:
            self._fh.flush()
        with open(self.path, "rb") as fh:
            for source, _, size in self._pieces:
                if source in sources and (self._accepted is None or source in self._accepted):
                    yield fh.read(size)
                else:
                    fh.seek(size, os.SEEK_CUR)


class RowStore(BlobStore):
    """Merged rows of one table: each file's rows as one pickle.

    With ``kept=False`` the rows are only counted (an export alone needs no rows of a table that no
    cross-school rule reads); reading them is then a programming error and raises.
    """

    def __init__(self, folder: str, kept: bool = True) -> None:
        super().__init__(folder, ".pickle")
        self.kept = kept

    def add_rows(self, index: int, rows: list[tuple]) -> None:
        self.add(index, pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL) if self.kept else b"", len(rows))

    def blobs(self) -> Iterator[bytes]:
        if not self.kept:
            raise RuntimeError("the rows of this table were counted, not kept")
        return super().blobs()

    def __iter__(self) -> Iterator[tuple]:
        for blob in self.blobs():
            yield from pickle.loads(blob)  # noqa: S301 - our own temporary file

    def rows_of(self, sources: set[int]) -> Iterator[tuple]:
        """The accepted rows of the inputs at positions ``sources`` only, in input order."""
        if not self.kept:
            raise RuntimeError("the rows of this table were counted, not kept")
        for blob in self.blobs_of(sources):
            yield from pickle.loads(blob)  # noqa: S301 - our own temporary file


class Spill:
    """One :class:`RowStore` per table (and, for an export, one store of CSV lines), in a temporary folder
    removed with the object."""

    def __init__(self, layout: Layout, csv: bool = False, rows: bool = True) -> None:
        """``csv``: keep the export's CSV lines; ``rows=False``: keep rows only of the tables that cross-school
        rules read (an export alone needs no more), count the others."""
        self.folder = tempfile.mkdtemp(prefix="sheetplan-merge-")
        kept = None if rows else frozenset(t.key for t in layout.tables if t.merge_rules)
        self.plan = ReadPlan(csv, kept)
        self.stores = {t.key: RowStore(self.folder, kept is None or t.key in kept) for t in layout.tables}
        self.csv = {t.key: BlobStore(self.folder, ".csv") for t in layout.tables} if csv else None
        every = [*self.stores.values(), *(self.csv or {}).values()]
        self._cleanup = weakref.finalize(self, Spill._remove, self.folder, every)

    @staticmethod
    def _remove(folder: str, stores: list[BlobStore]) -> None:
        for store in stores:
            store.seal(set())
        shutil.rmtree(folder, ignore_errors=True)

    def close(self) -> None:
        """Remove the temporary files now (also done when the object is collected)."""
        self._cleanup()

    def seal(self, accepted: set[int]) -> None:
        """Every file is in; only the rows of the ``accepted`` positions count from now on."""
        for store in [*self.stores.values(), *(self.csv or {}).values()]:
            store.seal(accepted)

    def take(self, r: FileResult) -> None:
        """Move a file's accepted rows (and their CSV lines) into the stores."""
        for key, n in r.n_rows.items():
            if key in r.packed:
                self.stores[key].add(r.index, r.packed[key] if self.stores[key].kept else b"", n)
            elif key in r.rows:
                self.stores[key].add_rows(r.index, r.rows[key])
            else:  # counted, not kept
                self.stores[key].add(r.index, b"", n)
        if self.csv is not None:
            for key, lines in r.csv.items():
                self.csv[key].add(r.index, lines, r.n_rows[key])
        r.rows, r.packed, r.csv = {}, {}, {}


def read_all(files: Sequence[tuple[Path, str]], layout: Layout, jobs: int | None = None,
             progress: Callable[[int, int], None] | None = None, spill: Spill | None = None,
             timeout: int = FILE_TIMEOUT, on_result: Callable[[FileResult], None] | None = None,
             check: Callable[..., Any] | None = None, start_method: str | None = None,
             grace: int | None = None) -> list[FileResult]:
    """Map :func:`read_one` over files, in parallel processes (default: one per core), results in input order.

    With ``spill``, each file's rows go to disk as soon as it is read; ``on_result`` sees each result first,
    in input order, rows included. ``jobs=1`` reads in this process. ``check`` replaces the function that
    reads one file (a module-level function); ``start_method`` chooses how workers start (the platform's
    default otherwise); ``grace`` is how long past ``timeout`` a worker stuck outside Python is given.
    A file that crashes or hangs its worker process costs only itself: the files that were in hand are read
    again one by one in a process of their own, the rest go on in a new pool, and the file that did it gets
    a ``reader_crashed`` or ``timeout`` problem. A pool that breaks without any file in hand and without
    reading anything (its workers cannot start) is not started again: the rest is read in this process.
    """
    tasks = [(str(p), s) for p, s in files]
    plan = spill.plan if spill is not None else ReadPlan()
    if check is not None:
        plan = dataclasses.replace(plan, check=check)
    if grace is not None:
        plan = dataclasses.replace(plan, grace=grace)
    in_process = jobs == 1
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(tasks) or 1))
    results: list[FileResult] = []

    def collect(r: FileResult) -> None:
        r.index = len(results)  # results arrive in input order: the position is the input's identity
        if on_result is not None:
            on_result(r)
        if spill is not None:
            spill.take(r)
        results.append(r)
        if progress:
            progress(len(results), len(tasks))

    def in_this_process(indexes: Iterable[int]) -> None:
        for i in indexes:
            place(i, read_one(tasks[i], layout, timeout, csv=plan.csv, check=plan.check))

    pending: dict[int, FileResult] = {}  # results that arrived before an earlier file's
    emitted = 0

    def place(index: int, r: FileResult) -> None:
        nonlocal emitted
        pending[index] = r
        while emitted in pending:
            collect(pending.pop(emitted))
            emitted += 1

    def done(index: int) -> bool:
        return index < emitted or index in pending

    if in_process or not tasks:
        in_this_process(range(len(tasks)))
        return results
    context = multiprocessing.get_context(start_method) if start_method else None
    with tempfile.TemporaryDirectory(prefix="sheetplan-workers-") as marks:
        markers = Path(marks)
        todo = list(range(len(tasks)))
        while todo:
            before = len(todo)
            broke = _run_pool([(i, tasks[i]) for i in todo], layout, jobs, timeout, markers, place, plan, context)
            if not broke:
                break
            in_hand = sorted(i for i in _in_hand(markers) if not done(i))
            for index in in_hand:
                place(index, _read_isolated(tasks[index], layout, timeout, plan, context))
            todo = [i for i in todo if not done(i)]
            if todo and len(todo) == before:
                # Nothing read and no file to blame: the workers themselves cannot run. Going round again would
                # only start pool after pool; this process reads the rest.
                in_this_process(todo)
                todo = []
    return results


def _run_pool(work: list[tuple[int, tuple[str, str]]], layout: Layout, jobs: int, timeout: int, markers: Path,
              place: Callable[[int, FileResult], None], plan: ReadPlan = _PLAN, context: Any = None) -> bool:
    """Run ``work`` in a pool; True when the pool broke (a worker died) before all of it was done."""
    from concurrent.futures.process import BrokenProcessPool

    # Small chunks: the last ones decide how long a worker waits for the other at the end.
    size = max(1, min(8, len(work) // (jobs * 4) or 1))
    chunks = [work[i:i + size] for i in range(0, len(work), size)]
    broken = False
    try:
        with ProcessPoolExecutor(max_workers=min(jobs, len(chunks)), mp_context=context, initializer=_init,
                                 initargs=(layout, markers, plan)) as pool:
            futures = []
            for c in chunks:
                try:
                    futures.append(pool.submit(_read_chunk, c, timeout))
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


def _in_hand(markers: Path) -> set[int]:
    """Indexes of the files workers were reading when the pool broke (their markers), and clear them."""
    found = set()
    for m in markers.iterdir():
        try:
            found.add(int(m.read_text(encoding="ascii")))
        except (OSError, ValueError):
            pass
        m.unlink(missing_ok=True)
    return found


def _read_isolated(task: tuple[str, str], layout: Layout, timeout: int, plan: ReadPlan = _PLAN,
                   context: Any = None) -> FileResult:
    """Read one file in a process of its own; if that process dies too, the file is the one that did it."""
    from concurrent.futures.process import BrokenProcessPool

    path, source = task
    start = time.perf_counter()
    try:
        with ProcessPoolExecutor(max_workers=1, mp_context=context, initializer=_init, initargs=(layout, None, plan)) as pool:
            ((_, r),) = pool.submit(_read_chunk, [(0, task)], timeout).result()
            return r
    except BrokenProcessPool:
        pass
    res = FileResult(path, source)
    res.seconds = time.perf_counter() - start
    if not _file_facts(res):
        return res
    res.status = "unreadable"
    if timeout > 0 and res.seconds >= timeout:
        res.problems.append(_timeout_problem(source, timeout))
    else:
        res.problems.append(problem(
            "reader_crashed", f"读取 {source} 时读取程序异常退出（文件可能损坏或构造异常），已跳过，其他文件不受影响。"
                              "请在 Excel 或 WPS 中打开后另存为 .xlsx 再报送。",
            f"The reader stopped abnormally on {source} (the file may be damaged or crafted); it was skipped and the other "
            "files are unaffected. Open it in Excel or WPS and save it as .xlsx.", file=source))
    return res


# ----------------------------------------------------------------------------- reduce


@dataclass
class School:
    """One row of 汇总."""

    code: str
    name: str
    status: str  # a key of STATUS
    on_roster: bool
    source_file: str | None = None
    input: int | None = None  # position of that file among the inputs
    errors: int = 0
    warnings: int = 0


@dataclass
class MergeResult:
    """The combined tables, problems, submissions and schools of a merge."""

    layout: Layout
    files: list[FileResult]
    schools: list[School]
    rows: dict[str, RowStore]  # table → accepted rows: org_code, org_name, field values…, source_file, source_row
    problems: list[Problem]
    raw_rows: dict[tuple[int, str, int], dict[str, Any]]  # (input position, table, row) → raw row of a rejected row
    counts: dict[str, dict[str, int]]  # table → read / merged / rejected
    spill: Spill | None = field(default=None, repr=False)
    # Marks the district workbook and the export of one run, so that a workbook and an export folder left by
    # different runs (a run killed half-way, two runs at once) can be told apart: the time and a random part.
    run_id: str = field(default_factory=lambda: f"{dt.datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(3)}")

    # -- pandas views for analysts
    def table(self, key: str) -> Any:
        """Accepted rows of one table as a DataFrame (field keys + provenance)."""
        import pandas as pd

        from .api import with_field_types

        sheet = self.layout.sheet(key)
        cols = ["org_code", "org_name", *[f.key for f in sheet.fields], "source_file", "source_row"]
        frame = with_field_types(pd.DataFrame(list(self.rows[key]), columns=cols), sheet.fields)
        for c in ("org_code", "org_name", "source_file"):
            frame[c] = frame[c].astype("string")
        return frame

    @property
    def tables(self) -> dict[str, Any]:
        """Every table as a DataFrame."""
        return {t.key: self.table(t.key) for t in self.layout.tables}

    def problem_records(self, lang: str = "zh", labels: bool = False) -> list[dict[str, Any]]:
        """problems.csv rows: source_file, org, severity, code, sheet, cell, row, field, value, message, raw.

        ``raw`` is the rejected row as JSON, keyed by field key (or by header label with ``labels``).
        """
        out = []
        for p in self.problems:
            f = self.files[p.input] if p.input is not None else None
            code, name = (f.org_code, f.org_name) if f is not None else (None, None)
            raw = self.raw_rows.get((p.input if p.input is not None else -1, p.table or "", p.row or -1))
            if raw and labels:
                sheet = self.layout.sheet(p.table)  # type: ignore[arg-type]
                raw = {sheet.field(k).label[lang]: v for k, v in raw.items()}
            out.append({"source_file": p.file, "org_code": code, "org_name": name, "severity": p.severity,
                        "code": p.code, "sheet": p.sheet, "cell": p.cell, "row": p.row, "field": p.field,
                        "value": None if p.value is None else str(p.value), "message": p.message(lang),
                        "raw": json.dumps(raw, ensure_ascii=False) if raw else None})
        return out

    @property
    def problems_frame(self) -> Any:
        import pandas as pd

        return pd.DataFrame(self.problem_records())

    def submission_records(self, lang: str = "zh") -> list[dict[str, Any]]:
        """submissions.csv rows."""
        word = 0 if lang == "zh" else 1
        return [{"source_file": f.source_file, "sha256": f.sha256, "size": f.size, "modified": f.modified,
                 "layout": f.layout, "layout_version": f.layout_version, "org_code": f.org_code, "org_name": f.org_name,
                 "prepared_on": f.prepared_on, "status": STATUS[f.status][word]} for f in self.files]

    @property
    def submissions(self) -> Any:
        import pandas as pd

        return pd.DataFrame(self.submission_records())

    @property
    def exit_code(self) -> int:
        """§6: 2 nothing readable; 1 unreadable files or rejected rows/errors; 0 otherwise."""
        if not any(f.status == "submitted" for f in self.files):
            return 2
        if any(f.status == "unreadable" for f in self.files):
            return 1
        if any(p.severity == "error" for p in self.problems):
            return 1
        return 0


def combine(results: list[FileResult], layout: Layout, roster: list[RosterEntry] | None = None,
            spill: Spill | None = None) -> MergeResult:
    """The reduce step: supersession, roster, cross-school rules, row accounting.

    Raises :class:`IntegrityError` when the accounting does not add up (read = merged + rejected per table),
    before anything is written.
    """
    if spill is None:
        for i, r in enumerate(results):
            r.index = i
        spill = Spill(layout)
        for r in results:
            spill.take(r)
    if [r.index for r in results] != list(range(len(results))):
        raise IntegrityError("输入文件的编号与读取顺序不一致。", "The inputs' positions do not match the reading order.")
    by_code: dict[str, list[FileResult]] = defaultdict(list)
    for r in results:
        if r.readable and r.org_code:
            by_code[r.org_code].append(r)
    for files in by_code.values():
        # The year first: a file of an earlier year never replaces the school's file of a later one, whatever
        # its 填报日期. Then the later 填报日期, the later modification, the later input.
        files.sort(key=lambda f: (f.year or 0, f.prepared_on or "", f.modified, f.index), reverse=True)
        for older in files[1:]:
            older.status = "superseded"
            # What was found in a replaced file is not the district's concern: only the replacement is listed.
            older.problems = [problem(
                "superseded", f"{older.org_name or ''}（{older.org_code}）另有更新的文件 {files[0].source_file}，本文件已被替代。",
                f"{older.org_name or ''} ({older.org_code}) has a newer file {files[0].source_file}; this one is superseded.",
                file=older.source_file)]
    for r in results:
        if r.readable and not r.org_code:
            r.status = "unreadable"
            r.problems.append(problem("unreadable_file", f"文件 {r.source_file} 中没有单位代码，无法归入学校。",
                                      f"The file {r.source_file} has no organisation code; it cannot be attributed.", file=r.source_file))
    accepted = [r for r in results if r.status == "submitted"]
    _flag_other_years(accepted)
    roster_codes = {e.code: e for e in roster or []}
    schools: dict[str, School] = {}
    for e in roster or []:
        schools[e.code] = School(e.code, e.name, "missing", True)
    for r in accepted:
        s = schools.get(r.org_code)  # type: ignore[arg-type]
        if s is None:
            s = schools[r.org_code] = School(r.org_code, r.org_name or "", "submitted", False)  # type: ignore[index]
            if roster is not None:
                r.problems.append(problem("not_on_roster", f"{r.org_name}（{r.org_code}）不在名册中，已一并汇总。",
                                          f"{r.org_name} ({r.org_code}) is not on the roster; it is included.", file=r.source_file))
        s.status, s.source_file, s.input = "submitted", r.source_file, r.index
    for r in results:
        if r.status != "unreadable":
            continue
        guess = next((c for c in roster_codes if r.source_file.rsplit("/", 1)[-1].startswith(c + "_")), None)
        if guess and schools[guess].status == "missing":
            schools[guess].status, schools[guess].source_file, schools[guess].input = "unreadable", r.source_file, r.index
    spill.seal({r.index for r in accepted})
    rows = spill.stores
    _apply_merge_rules(accepted, layout, rows)
    counts: dict[str, dict[str, int]] = {}
    raw_rows: dict[tuple[int, str, int], dict[str, Any]] = {}
    for t in layout.tables:
        rejected = sum(len(r.rejected.get(t.key, ())) for r in accepted)
        counts[t.key] = {"read": sum(r.read_count(t.key) for r in accepted), "merged": len(rows[t.key]), "rejected": rejected}
        for r in accepted:
            for row_no, raw in r.rejected.get(t.key, ()):
                raw_rows[(r.index, t.key, row_no)] = raw
    for r in results:
        for p in r.problems:
            p.input = r.index
    problems = [p for r in results for p in r.problems]
    tally: dict[tuple[int | None, str], int] = defaultdict(int)
    for p in problems:
        tally[(p.input, p.severity)] += 1
    for s in schools.values():
        if s.input is not None:
            s.errors, s.warnings = tally[(s.input, "error")], tally[(s.input, "warning")]
    ordered = [schools[e.code] for e in roster or []] + sorted((s for s in schools.values() if not s.on_roster), key=lambda s: s.code)
    result = MergeResult(layout, results, ordered, rows, problems, raw_rows, counts, spill)
    check_accounting(result)
    return result


def check_accounting(result: MergeResult) -> None:
    """The invariants a roll-up rests on, checked before anything is written (§9).

    Per table, the rows read from the kept files equal the rows merged plus the rows rejected, where
    "merged" is what the row store (the source of the detail sheets, the totals and the export) holds; every
    input has one status; a school's row in 汇总 points at a kept file of that school.
    """
    kept = [f for f in result.files if f.status == "submitted"]
    for t in result.layout.tables:
        read = sum(f.read_count(t.key) for f in kept)
        merged = len(result.rows[t.key])
        rejected = sum(len(f.rejected.get(t.key, ())) for f in kept)
        if read != merged + rejected or result.counts[t.key] != {"read": read, "merged": merged, "rejected": rejected}:
            raise IntegrityError(
                f"行数核对不成立：{t.name['zh']} 读取 {read} 行，汇总 {merged} 行，退回 {rejected} 行。汇总未写出。",
                f"The row accounting does not hold: {t.name['en']} read {read}, merged {merged}, rejected {rejected}. "
                "Nothing was written.")
    if any(f.status not in STATUS for f in result.files):
        raise IntegrityError("有输入文件没有确定的状态。", "An input has no settled status.")
    codes = [f.org_code for f in kept]
    if len(codes) != len(set(codes)):
        raise IntegrityError("同一学校有多个文件被同时汇总。", "Several files of one school were kept.")
    by_index = {f.index: f for f in kept}
    for s in result.schools:
        if s.status == "submitted" and (s.input not in by_index or by_index[s.input].org_code != s.code):
            raise IntegrityError(f"汇总中 {s.code} 的来源文件不对。", f"The source file of {s.code} in the summary is wrong.")


def _flag_other_years(accepted: list[FileResult]) -> None:
    """A warning on each kept file whose 年度 differs from that of most files: its figures are another year's."""
    years = Counter(r.year for r in accepted if r.year)
    if len(years) < 2:
        return
    main = max(years, key=lambda y: (years[y], y))
    for r in accepted:
        if r.year and r.year != main:
            r.problems.append(problem(
                "other_year", f"{r.org_name or ''}（{r.org_code}）报送的是 {r.year} 年度的工作簿，其他学校是 {main} 年度；已一并汇总，请核对。",
                f"{r.org_name or ''} ({r.org_code}) sent a workbook of {r.year}; the others are of {main}. It is included; "
                "please check.", file=r.source_file))


def _apply_merge_rules(accepted: list[FileResult], layout: Layout, stores: dict[str, RowStore]) -> None:
    """Rules across schools (the same person entered by two schools …), as warnings on later files."""
    by_code = {r.org_code: r for r in accepted}  # accepted files have one code each: the others were superseded
    for sheet in layout.tables:
        keys = [f.key for f in sheet.fields]
        for rule in sheet.merge_rules:
            fields = rule.params["fields"]
            idx = [keys.index(k) + 2 for k in fields]  # stored rows start with org_code, org_name
            pick = operator.itemgetter(*idx) if len(idx) > 1 else lambda row, i=idx[0]: (row[i],)
            first: dict[tuple, str] = {}  # key → the code of the school that entered it first
            for row in stores[sheet.key]:
                k = pick(row)
                if None in k:
                    continue
                owner_code = first.setdefault(k, row[0])
                if owner_code == row[0]:
                    continue
                r, owner = by_code[row[0]], by_code[owner_code]
                labels = "+".join(sheet.field(f).label["zh"] for f in fields)
                col = r.cells.get(sheet.key, {}).get(fields[0])
                what = "、".join(map(str, k))
                r.problems.append(problem(
                    rule.code, f"{labels}“{what}”也由 {owner.org_name}（{owner.org_code}）报名。",
                    f"'{what}' is also entered by {owner.org_name} ({owner.org_code}).", rule.severity,
                    file=r.source_file, sheet=r.sheets.get(sheet.key), cell=f"{col}{row[-1]}" if col else None,
                    row=row[-1], field=fields[0], value=what, table=sheet.key))


def merge(inputs: Iterable[str | Path], roster: str | Path | None = None, layout: str | Path | Layout = "school",
          jobs: int | None = None, progress: Callable[[int, int], None] | None = None) -> MergeResult:
    """Read every workbook under ``inputs`` and combine them (the Python API of `sheetplan merge`)."""
    from .layout import load_layout

    lay = layout if isinstance(layout, Layout) else load_layout(layout)
    entries = read_roster(roster, lay) if roster is not None else None
    files = find_inputs(inputs)
    spill = Spill(lay)
    results = read_all(files, lay, jobs, progress, spill)
    return combine(results, lay, entries, spill)


# ----------------------------------------------------------------------------- figures


def _info_keys(layout: Layout) -> frozenset[str]:
    """基本信息 fields that district columns show."""
    district = layout.district
    return frozenset(c.field for c in district.columns if c.kind == "info" and c.field) if district else frozenset()



def file_figures(layout: Layout, res: FileResult) -> tuple[dict[str, float | None], list[list[float]]]:
    """One school's 汇总 figures and 分项统计 rows, from its accepted rows (computed in the worker)."""
    district = layout.district
    if district is None:
        return {}, []
    # merged rows start with org_code, org_name
    index = {t.key: {f.key: i + 2 for i, f in enumerate(t.fields)} for t in layout.tables}
    vals: dict[str, float | None] = {}
    for c in district.columns:
        if c.kind in ("count", "sum"):
            idx = index[c.table]  # type: ignore[index]
            where = [(idx[k], v) for k, v in c.where.items()]
            rows = res.rows.get(c.table, [])  # type: ignore[arg-type]
            if len(where) == 1:  # the usual case, without a generator per row
                (i, v), = where
                sel = [r for r in rows if r[i] == v]
            else:
                sel = [r for r in rows if all(r[i] == v for i, v in where)]
            vals[c.key] = float(len(sel)) if c.kind == "count" else float(sum(r[idx[c.field]] or 0 for r in sel))  # type: ignore[index]
        elif c.kind == "info":
            vals[c.key] = res.info.get(c.field)  # type: ignore[arg-type]
        elif c.kind == "ratio":
            vals[c.key] = ratio(vals, c.refs)
        else:
            vals[c.key] = sum(vals[r] or 0 for r in c.refs) - sum(vals[r] or 0 for r in c.minus)
    blocks = []
    for b in district.breakdowns:
        fields = [f.key for f in layout.sheet(b.table).fields]
        bi, si = fields.index(b.by) + 2, [fields.index(x) + 2 for x in b.sum]
        items = breakdown_items(layout, b.table, b.by)
        pos = {v: i for i, v in enumerate(items)}
        block = [0.0] * len(items)
        for row in res.rows.get(b.table, []):
            i = pos.get(row[bi])
            if i is not None:
                block[i] += (row[si[0]] or 0) if len(si) == 1 else sum(row[j] or 0 for j in si) if si else 1
        blocks.append(block)
    return vals, blocks


def school_figures(result: MergeResult) -> dict[str, dict[str, float | None]]:
    """汇总 figures per school code (the formulas' cached values): those of the school's accepted file."""
    return {s.code: result.files[s.input].figures for s in result.schools
            if s.status == "submitted" and s.input is not None}


def ratio(vals: dict[str, float | None], refs: tuple[str, ...]) -> float | None:
    """A / (B − C), or None (an empty cell) when B − C is 0."""
    num, den = vals[refs[0]] or 0, (vals[refs[1]] or 0) - (vals[refs[2]] or 0 if len(refs) > 2 else 0)
    return num / den if den else None


def breakdown_items(layout: Layout, table: str, by: str) -> list[Any]:
    """The column values of a 分项统计 block: the field's list, or the months 1–12."""
    f = layout.sheet(table).field(by)
    return list(layout.lists[f.list].values) if f.type == "list" else list(range(1, 13))  # type: ignore[index]


def breakdown_values(result: MergeResult) -> list[dict[str, list[float]]]:
    """Per 分项统计 block: school code → one figure per item."""
    district = result.layout.district
    if district is None:
        return []
    out: list[dict[str, list[float]]] = []
    for n, b in enumerate(district.breakdowns):
        items = breakdown_items(result.layout, b.table, b.by)
        block: dict[str, list[float]] = {}
        for s in result.schools:
            f = result.files[s.input] if s.input is not None else None
            block[s.code] = list(f.breakdowns[n]) if f is not None and s.status == "submitted" and f.breakdowns else [0.0] * len(items)
        out.append(block)
    return out
