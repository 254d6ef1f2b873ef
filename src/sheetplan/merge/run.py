"""The `merge` command: read, combine, write the district workbook and the export, and say what was done."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from ..errors import UsageError
from ..files import atomic_output
from ..layout import Layout
from ..reading.roster import read_roster
from . import stream as detail_stream
from .fileread import read_all
from .inputs import find_inputs
from .reduce import MergeResult, combine
from .spill import Spill
from .stream import DetailStream


def too_big(result: MergeResult) -> list[str]:
    """Tables whose merged detail does not fit in one sheet."""
    return [k for k, rows in result.merged.items() if len(rows) > detail_stream.EXCEL_MAX_DATA_ROWS]


def too_many_problems(result: MergeResult) -> bool:
    """Whether 问题清单 cannot list every problem (then only the export has them all)."""
    from ..write.district import problem_rows

    return len(result.problems) > problem_rows()


def write_outputs(result: MergeResult, output: Path | None, export_dir: Path | None, parquet: bool = False,
                  lang: str = "zh", stream: DetailStream | None = None,
                  target: IO[bytes] | None = None) -> bool:
    """Write the district workbook and/or the export; return whether detail went into the workbook.

    With ``target`` (an open file the caller renames into place) the workbook goes there, using the detail
    ``stream`` already wrote when it agrees with the settled merge; otherwise to ``output`` directly.
    """
    from ..write.export import write_export

    big = too_big(result)
    detail = not big
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
        from ..write.district import write_district  # xlsxwriter: only when there is a workbook to write

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
            if len(files) <= detail_stream.STREAM_MAX_FILES:
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
