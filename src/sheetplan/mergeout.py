"""Run a whole merge for the command line: progress, outputs, the accounting table."""

from __future__ import annotations

import contextlib
import os
import stat
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from .errors import UsageError
from .files import atomic_output
from .layout import Layout
from .merge import FileResult, MergeResult, Spill, combine, find_inputs, read_all
from .roster import read_roster

EXCEL_MAX_DATA_ROWS = 1_048_576 - 1  # one header row
PROJECT_AFTER = 50  # files read before their rows are taken to say how large the whole detail will be
# Above this many inputs the detail is not written while reading: looking at every identity first would cost
# seconds, and so many schools' detail does not fit in a sheet anyway (150 ledger rows each fill one at 7,000).
STREAM_MAX_FILES = 10_000


def _regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def too_big(result: MergeResult) -> list[str]:
    """Tables whose merged detail does not fit in one sheet."""
    return [k for k, rows in result.rows.items() if len(rows) > EXCEL_MAX_DATA_ROWS]


def too_many_problems(result: MergeResult) -> bool:
    """Whether 问题清单 cannot list every problem (then only the export has them all)."""
    from .writer.district import problem_rows

    return len(result.problems) > problem_rows()


class DetailStream:
    """The district workbook's detail rows, written while the files are still being read.

    Writing the detail is most of a full merge's work, and only one process can write a workbook; done as
    files arrive it overlaps the reading instead of following it. A file's rows go in at once only when
    nothing can supersede it: the 单位代码 of its identity is that of no other input, and it was read with
    that code. The others' rows wait until the merge is settled, and follow (so the detail sheets list the
    schools that sent several files last). If the settled merge disagrees with what was written — a streamed
    file superseded after all, a table too big for a sheet — the workbook is written again from the stored
    rows, exactly as without streaming.
    """

    def __init__(self, layout: Layout, files: Sequence[tuple[Path, str]], target: IO[bytes], lang: str = "zh") -> None:
        from .reader import identity_code
        from .writer.district import DistrictStream

        # By input position: names are for people. Only regular files are opened (a pipe would block).
        codes = [identity_code(path) if _regular(path) else None for path, _ in files]
        counts = Counter(c for c in codes if c)
        self._alone = {i: c for i, c in enumerate(codes) if c and counts[c] == 1}
        self.layout = layout
        self.writer = DistrictStream(layout, target, lang)
        self.streamed: set[int] = set()  # input positions whose rows are written
        self.failed = False
        self._files, self._seen = len(files), 0

    def take(self, r: FileResult) -> None:
        """One file's result as it arrives (in input order): write its rows now if that is safe."""
        self._seen += 1
        if self.failed or r.status != "submitted" or not r.org_code or self._alone.get(r.index) != r.org_code:
            return
        tables = {key: r.table_rows(key) for key in r.n_rows}
        if any(self.writer.rows(key) + len(rows) > EXCEL_MAX_DATA_ROWS for key, rows in tables.items()):
            self._give_up()  # the detail will not fit in the workbook anyway
            return
        for key, rows in tables.items():
            self.writer.add(key, rows)
        self.streamed.add(r.index)
        # A province's detail cannot fit in a sheet: once the files seen so far say so, stop writing it
        # (rather than write a million rows for nothing).
        if self._seen >= PROJECT_AFTER and any(self.writer.rows(t.key) * self._files > EXCEL_MAX_DATA_ROWS * self._seen
                                               for t in self.layout.tables):
            self._give_up()

    def _give_up(self) -> None:
        self.failed = True
        self.writer.abandon()  # frees its temporary files now; the target is written afresh at the end

    def usable(self, result: MergeResult) -> bool:
        """Whether what was written agrees with the settled merge."""
        return not self.failed and self.streamed <= {f.index for f in result.files if f.status == "submitted"}

    def finish(self, result: MergeResult) -> None:
        """Add the rows that waited, then everything else, and close the workbook."""
        waited = {f.index for f in result.files if f.status == "submitted"} - self.streamed
        for t in self.layout.tables:
            self.writer.add(t.key, result.rows[t.key].rows_of(waited))
        self.writer.finish(result)

    def abandon(self) -> None:
        """Close the workbook without using it (a no-op once finished)."""
        self.writer.abandon()


def write_outputs(result: MergeResult, output: Path | None, export_dir: Path | None, parquet: bool = False,
                  lang: str = "zh", force_no_detail: bool = False, stream: DetailStream | None = None,
                  target: IO[bytes] | None = None) -> bool:
    """Write the district workbook and/or the export; return whether detail went into the workbook.

    With ``target`` (an open file the caller renames into place) the workbook goes there, using the detail
    ``stream`` already wrote when it agrees with the settled merge; otherwise to ``output`` directly.
    """
    from .export import write_export

    big = too_big(result)
    detail = not big and not force_no_detail
    if big and output is not None and export_dir is None:
        names = "、".join(result.layout.sheet(k).name["zh"] for k in big)
        raise UsageError(
            f"{names} 合并后超过 Excel 单表 1,048,576 行的上限，无法写入一个工作簿。请加 --export 文件夹：明细写入 CSV，工作簿只保留汇总。",
            f"{', '.join(big)}: the merged rows exceed Excel's 1,048,576 rows per sheet. Add --export DIR: the detail "
            "goes to CSV and the workbook keeps the summaries.")
    if output is not None and export_dir is None and too_many_problems(result):
        raise UsageError(
            f"问题共 {len(result.problems):,} 条，超过 Excel 单表 1,048,576 行的上限，问题清单无法全部列出。请加 --export 文件夹：全部问题写入 problems.csv。",
            f"{len(result.problems):,} problems exceed Excel's 1,048,576 rows per sheet. Add --export DIR: problems.csv "
            "lists them all.")
    if export_dir is not None:
        write_export(result, export_dir, lang, parquet, workbook=output)
    if output is not None:
        from .writer.district import write_district  # xlsxwriter: only when there is a workbook to write

        note = None
        if not detail:
            where = str(export_dir) if export_dir else "--export"
            note = (f"明细行数超过工作表上限，见导出文件夹 {where}（各表 CSV）；本表为数值。" if lang == "zh" else
                    f"The detail is too large for a sheet: see the export folder {where} (one CSV per table); figures here are values.")
        if stream is not None and detail and stream.usable(result):
            stream.finish(result)
        elif target is not None:
            if stream is not None:
                stream.abandon()
                target.seek(0)
                target.truncate()
            write_district(result, target, lang, detail=detail, note=note)
        else:
            with atomic_output(output) as fh:
                write_district(result, fh, lang, detail=detail, note=note)
    return detail


def accounting_lines(result: MergeResult, lang: str = "zh") -> list[tuple[str, int, int, int]]:
    """(table, read, merged, rejected) per table."""
    return [(t.name[lang], result.counts[t.key]["read"], result.counts[t.key]["merged"], result.counts[t.key]["rejected"])
            for t in result.layout.tables]


def run_merge(inputs: Sequence[Path], layout: Layout, output: Path | None, roster: Path | None,
              export_dir: Path | None, parquet: bool, jobs: int | None, lang: str, console: Any,
              echo: Callable[[str], None]) -> int:
    """The `merge` command: returns the exit code."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    en = lang == "en"
    if output is not None and output.suffix.lower() != ".xlsx":
        raise UsageError(f"输出文件须以 .xlsx 结尾：{output}", f"The output must end in .xlsx: {output}")
    entries = read_roster(roster, layout) if roster is not None else None
    # The merge's own outputs may lie inside an input folder (a district keeps 区汇总.xlsx in the inbox): never
    # read them as a school's file.
    files = find_inputs(inputs, skip=[p for p in (output, export_dir) if p is not None])
    if not files:
        raise UsageError("输入中没有找到任何文件。", "No files found in the inputs.")
    # An export alone needs the rows of a table only where a cross-school rule reads them: the CSV lines come
    # ready from the workers.
    spill = Spill(layout, csv=export_dir is not None, rows=output is not None or parquet)
    with contextlib.ExitStack() as stack:
        stack.callback(spill.close)
        stream, target = None, None
        if output is not None:
            target = stack.enter_context(atomic_output(output))
            if len(files) <= STREAM_MAX_FILES:
                stream = DetailStream(layout, files, target, lang)
                stack.callback(stream.abandon)  # on any error: close the workbook; atomic_output then removes it
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console, transient=True) as bar:
            task = bar.add_task("Reading" if en else "正在读取", total=len(files))
            results = read_all(files, layout, jobs, progress=lambda done, total: bar.update(task, completed=done), spill=spill,
                               on_result=stream.take if stream is not None else None)
        result = combine(results, layout, entries, spill)
        if result.exit_code == 2:
            for p in result.problems:
                echo(f"  {p.file}: {p.message(lang)}")
            raise UsageError(f"{len(files)} 个文件都无法读取，未生成汇总。", f"None of the {len(files)} files could be read; nothing was written.")
        detail = write_outputs(result, output, export_dir, parquet, lang, stream=stream, target=target)
    table = Table(title="Rows" if en else "行数核对（读取 = 汇总 + 退回）")
    for h in (("Table", "Read", "Merged", "Rejected") if en else ("表", "读取", "汇总", "退回")):
        table.add_column(h, justify="right" if h not in ("Table", "表") else "left")
    for name, read, merged, rejected in accounting_lines(result, lang):
        table.add_row(name, str(read), str(merged), str(rejected))
    console.print(table)
    n_read = sum(f.status in ("submitted", "superseded") for f in result.files)
    n_bad = sum(f.status == "unreadable" for f in result.files)
    n_super = sum(f.status == "superseded" for f in result.files)
    missing = sum(s.status == "missing" for s in result.schools)
    errors = sum(p.severity == "error" for p in result.problems)
    warnings = sum(p.severity == "warning" for p in result.problems)
    if en:
        echo(f"Files read: {n_read} (superseded {n_super}), unreadable: {n_bad}, schools missing: {missing}; "
             f"{errors} errors, {warnings} warnings.")
    else:
        echo(f"读取文件 {n_read} 个（其中已被替代 {n_super} 个），无法读取 {n_bad} 个，未提交学校 {missing} 所；"
             f"错误 {errors} 个，提醒 {warnings} 个。")
    if output is not None:
        echo((f"District workbook: {output}" if en else f"汇总工作簿：{output}") + ("" if detail else (" (detail in the export only)" if en else "（明细仅在导出文件中）")))
    if export_dir is not None:
        echo(f"Export: {export_dir}" if en else f"导出文件：{export_dir}")
    return result.exit_code
