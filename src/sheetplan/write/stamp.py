"""`sheetplan new`: one template, or one pre-filled template per roster school."""

from __future__ import annotations

import errno
import io
import multiprocessing
import os
import re
import signal
import time
import zipfile
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import IO

from ..errors import OutputError, UsageError
from ..files import OutputBatch, display_path, inside, safe_part, write_atomic, write_new
from ..layout import Layout
from ..layout.fields import field_spec
from ..reading.roster import RosterEntry, read_roster
from ..workers import exit_with_parent
from . import Org, write_template

NAME_MARK = "⟦sheetplan-org-name⟧"
CODE_MARK = "⟦sheetplan-org-code⟧"


class Stamp:
    """A template built once, stamped with each school's name and code.

    A roster run differs between schools only in a few strings (the titles,
    the 基本信息 name and code, the identity). Building every workbook from
    scratch costs ~50 ms; copying the built parts and replacing two marks in
    the few parts that hold them costs a fraction of that. A test checks that
    a stamped file equals a freshly built one.
    """

    def __init__(self, layout: Layout, year: int, lang: str = "zh") -> None:
        buf = io.BytesIO()
        write_template(layout, Org(NAME_MARK, CODE_MARK, year), buf, lang)
        marks = (NAME_MARK.encode(), CODE_MARK.encode())
        with zipfile.ZipFile(buf) as zf:
            self.parts = [(info, zf.read(info)) for info in zf.infolist()]
        self.variable = {info.filename for info, data in self.parts if any(m in data for m in marks)}

    def write(self, org: Org, fh: IO[bytes]) -> None:
        """Write ``org``'s workbook to a binary file object."""
        name, code = escape(org.name, quote=False).encode(), escape(org.code, quote=False).encode()
        with zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED) as zout:
            for info, data in self.parts:
                if info.filename in self.variable:
                    data = data.replace(NAME_MARK.encode(), name).replace(CODE_MARK.encode(), code)
                zout.writestr(info, data)


def check_org(layout: Layout, org: Org) -> None:
    """Refuse an organisation the layout's 基本信息 rules would reject."""
    info = layout.sheet("info")
    code_f, year_f, name_f = info.field("org_code"), info.field("year"), info.field("org_name")
    # The same limits the reader applies to these cells, derived once per field.
    code_s, year_s, name_s = (field_spec(f, org.year, layout) for f in (code_f, year_f, name_f))
    if not org.name.strip():
        raise UsageError("单位名称不能为空（--org-name）。", "The organisation name must not be empty (--org-name).")
    if name_s.max_length and len(org.name) > name_s.max_length:
        raise UsageError(f"单位名称超过 {name_s.max_length} 字。", f"The organisation name is longer than {name_s.max_length} characters.")
    if re.search(r"[\x00-\x1f\x7f]", org.name):
        raise UsageError("单位名称含有不可见的控制字符。", "The organisation name contains control characters.")
    if code_s.pattern is not None and not code_s.pattern.match(org.code):
        hint = code_f.pattern_hint or {"zh": code_f.pattern, "en": code_f.pattern}
        raise UsageError(f"单位代码“{org.code}”无效，应为{hint['zh']}。", f"The organisation code '{org.code}' is invalid: expected {hint['en']}.")
    lo, hi = int(year_s.low if year_s.low is not None else 2000), int(year_s.high if year_s.high is not None else 2100)
    if not lo <= org.year <= hi:
        raise UsageError(f"年度 {org.year} 不在 {lo}–{hi} 之间。", f"The year {org.year} is not between {lo} and {hi}.")


def new_workbook(layout: Layout, org: Org, path: str | Path, lang: str = "zh", force: bool = False) -> Path:
    """Write one template to ``path`` (refusing to overwrite unless ``force``)."""
    check_org(layout, org)
    target = Path(path)
    shown = display_path(target)
    if target.suffix.lower() != ".xlsx":
        raise UsageError(f"输出文件须以 .xlsx 结尾：{shown}", f"The output file must end in .xlsx: {shown}")
    if target.is_dir():  # --force cannot help: say what is in the way
        raise OutputError.writing(target, errno.EISDIR)
    if target.exists() and not force:
        raise UsageError(f"{shown} 已存在；如要覆盖，请加 --force。", f"{shown} exists; add --force to overwrite it.")
    write_atomic(target, lambda fh: write_template(layout, org, fh, lang))
    return target


def roster_file_name(entry: RosterEntry, year: int) -> str:
    """``<单位代码>_<单位名称>_<年度>.xlsx``, safe on every file system."""
    return f"{safe_part(entry.code)}_{safe_part(entry.name)}_{year}.xlsx"


@dataclass(frozen=True)
class RosterResult:
    """What a roster run wrote."""

    folder: Path
    files: list[Path]
    seconds: float
    jobs: int


_STAMP: Stamp | None = None


def _init_worker(layout: Layout, year: int, lang: str, worker: bool = False, parent: int | None = None) -> None:
    """Set a process up to write templates: the run's own (``worker=False``) or a pool worker.

    ``parent``: the run's pid when the worker is its direct child (fork, spawn; a forkserver's workers
    are the server's children, and the server ends with the run).
    """
    global _STAMP
    if worker:
        exit_with_parent()
        if parent is not None and os.getppid() != parent:  # the run was killed before this worker watched it
            os._exit(1)
        # A worker asked to stop just stops, and Ctrl+C is the parent's to handle (it stops handing out
        # work and waits for the files in hand): the parent owns the temporary folder and removes it.
        if hasattr(signal, "SIGTERM"):
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    _STAMP = Stamp(layout, year, lang)


def _write_one(args: tuple[str, str, int, str, str, str]) -> str:
    """Write one school's template to its temporary path (``target`` is the name the user will see)."""
    code, name, year, lang, temp, target = args
    assert _STAMP is not None
    org = Org(name, code, year)
    write_new(Path(temp), lambda fh: _STAMP.write(org, fh), shown=target)  # type: ignore[union-attr]
    return target


def new_from_roster(
    layout: Layout,
    roster: str | Path,
    year: int,
    folder: str | Path,
    lang: str = "zh",
    force: bool = False,
    jobs: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> RosterResult:
    """Write one pre-filled template per roster school into ``folder``, all or nothing.

    The roster is checked completely first, and every target name is known
    before anything is written: a bad roster or an existing file (without
    ``force``) writes nothing.

    Every template is first written into one temporary folder inside ``folder`` (see
    :class:`sheetplan.files.OutputBatch`) and the files are moved into place only when all of them are
    written. A failure on the way — a full disk, no permission, a worker process that dies, Ctrl+C —
    removes the temporary folder and leaves ``folder`` as it was; a write failure is an
    :class:`OutputError` naming the file.
    """
    start = time.perf_counter()
    entries = read_roster(roster, layout)
    for e in entries:
        check_org(layout, Org(e.name, e.code, year))
    out = Path(folder)
    if out.exists() and not out.is_dir():
        raise UsageError(f"{display_path(out)} 不是文件夹。", f"{display_path(out)} is not a folder.")
    names = [roster_file_name(e, year) for e in entries]
    if out.is_dir():
        in_the_way = [out / n for n in names if (out / n).is_dir()]
        if in_the_way:  # --force cannot help: say what is in the way before anything is written
            raise OutputError.writing(in_the_way[0], errno.EISDIR)
        existing = [n for n in names if (out / n).exists()]
        if existing and not force:
            shown = "、".join(display_path(n) for n in existing[:5]) + (" …" if len(existing) > 5 else "")
            raise UsageError(
                f"{len(existing)} 个文件已存在（{shown}）；如要覆盖，请加 --force。未写入任何文件。",
                f"{len(existing)} files exist ({shown}); add --force to overwrite. Nothing was written.",
            )
    jobs = max(1, jobs or os.cpu_count() or 1)
    with OutputBatch(out) as batch:  # makes the folder (or says why it cannot)
        targets = [inside(out, n) for n in names]
        tasks = [(e.code, e.name, year, lang, str(batch.path_for(t)), str(t)) for e, t in zip(entries, targets, strict=True)]
        _write_all(tasks, layout, year, lang, jobs, progress)
        batch.commit(targets)
    return RosterResult(out, targets, time.perf_counter() - start, jobs)


def _write_all(tasks: list[tuple[str, str, int, str, str, str]], layout: Layout, year: int, lang: str, jobs: int,
               progress: Callable[[int, int], None] | None) -> None:
    """Write every task's template, in this process (``jobs == 1``) or in a pool of ``jobs`` processes."""
    done = 0
    if jobs == 1:
        _init_worker(layout, year, lang)
        for task in tasks:
            _write_one(task)
            done += 1
            if progress:
                progress(done, len(tasks))
        return
    context = multiprocessing.get_context()
    parent = os.getpid() if context.get_start_method() in ("fork", "spawn") else None
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_init_worker,
                               initargs=(layout, year, lang, True, parent))
    try:
        for _ in pool.map(_write_one, tasks, chunksize=max(1, len(tasks) // (jobs * 8))):
            done += 1
            if progress:
                progress(done, len(tasks))
    except BaseException:
        # Stop handing out work and wait for the files in hand: once this returns no worker writes into the
        # temporary folder any more, so removing it removes everything.
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
