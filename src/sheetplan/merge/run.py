"""The `merge` command: read, combine, write the district workbook and the export, and say what was done."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from ..errors import UsageError
from ..files import atomic_output, display_path
from ..layout import Layout
from ..reading.roster import read_roster
from . import stream as detail_stream
from .fileread import read_all
from .inputs import find_inputs
from .reduce import MergeResult, combine
from .results import FileResult
from .spill import Spill
from .stream import DetailStream


def too_big(result: MergeResult) -> list[str]:
    """Tables whose merged detail does not fit in one sheet."""
    return [k for k, rows in result.merged.items() if len(rows) > detail_stream.EXCEL_MAX_DATA_ROWS]


def too_many_problems(result: MergeResult) -> bool:
    """Whether 问题清单 (errors and warnings) or 说明清单 (notes) cannot list every problem (then only the
    export has them all)."""
    from ..write.district import problem_rows

    notes = sum(p.severity == "info" for p in result.problems)
    return max(notes, len(result.problems) - notes) > problem_rows()


def write_outputs(result: MergeResult, output: Path | None, export_dir: Path | None, parquet: bool = False,
                  lang: str = "zh", stream: DetailStream | None = None,
                  target: IO[bytes] | None = None, header: str = "key") -> bool:
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
        write_export(result, export_dir, lang, parquet, workbook=output, header=header)
    if output is not None:
        from ..write.district import write_district  # xlsxwriter: only when there is a workbook to write

        note = None
        if not detail:
            where = display_path(export_dir) if export_dir else "--export"
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


NAMED = 10  # files and schools named in the report; more are counted ("等 N 所")


def named(items: Sequence[str], unit: str, lang: str) -> str:
    """Up to :data:`NAMED` names, then how many there are in all."""
    sep = "、" if lang == "zh" else ", "
    shown = sep.join(items[:NAMED])
    if len(items) <= NAMED:
        return shown
    return f"{shown}等 {len(items)} {unit}" if lang == "zh" else f"{shown} and {len(items) - NAMED} more"


def report_lines(result: MergeResult, output: Path | None, export_dir: Path | None, detail: bool,
                 lang: str = "zh") -> list[str]:
    """What the command says after the 行数核对 table, in one language: what was read, which files could not
    be read and which schools have not submitted (by name), where the outputs are, and what the exit code means."""
    en = lang == "en"
    files, schools = result.files, result.schools
    n_read = sum(f.status in ("submitted", "superseded") for f in files)
    n_super = sum(f.status == "superseded" for f in files)
    bad = [_with_reason(f, lang) for f in files if f.status == "unreadable"]
    missing = [f"{s.name}（{s.code}）" if not en else f"{s.name} ({s.code})" for s in schools if s.status == "missing"]
    off = [f"{s.name}（{s.code}）" if not en else f"{s.name} ({s.code})" for s in schools
           if not s.on_roster and s.status == "submitted"] if any(s.on_roster for s in schools) else []
    errors = sum(p.severity == "error" for p in result.problems)
    warnings = sum(p.severity == "warning" for p in result.problems)
    rejected = sum(c["rejected"] for c in result.counts.values())
    def say(zh: str, en_text: str) -> None:
        lines.append(en_text if en else zh)

    lines: list[str] = []
    say(f"读取文件 {n_read} 个（其中已被替代 {n_super} 个），无法读取 {len(bad)} 个，未提交学校 {len(missing)} 所；"
        f"错误 {errors} 个，提醒 {warnings} 个。",
        f"Files read: {n_read} (superseded {n_super}), unreadable: {len(bad)}, schools missing: {len(missing)}; "
        f"{errors} errors, {warnings} warnings.")
    if bad:
        say(f"无法读取的文件 {len(bad)} 个：{named(bad, '个', lang)}。详见提交情况和问题清单。",
            f"Unreadable ({len(bad)}): {named(bad, '', lang)}. More on Submissions and Problems.")
    if missing:
        say(f"未提交的学校 {len(missing)} 所：{named(missing, '所', lang)}。",
            f"Not submitted ({len(missing)}): {named(missing, '', lang)}.")
    if off:
        say(f"不在名册中、已一并汇总的学校 {len(off)} 所：{named(off, '所', lang)}。",
            f"Not on the roster, merged all the same ({len(off)}): {named(off, '', lang)}.")
    if rejected:
        say(f"有错误的 {rejected} 行已退回，不计入汇总数字，见问题清单。",
            f"{rejected} rows with errors were rejected: they are left out of the figures and listed on Problems.")
    if output is not None:
        shown = display_path(output)
        say(f"汇总工作簿：{shown}" + ("" if detail else "（明细只在导出文件夹中）"),
            f"District workbook: {shown}" + ("" if detail else " (the detail is only in the export)"))
    if export_dir is not None:
        say(f"导出文件夹：{display_path(export_dir)}", f"Export folder: {display_path(export_dir)}")
    lines.append(outcome(result, lang))
    return lines


def _with_reason(f: FileResult, lang: str) -> str:
    """A file's name with what kind of problem made it unreadable (the catalogue's words for its first error)."""
    from ..problems import CATALOGUE

    code = next((p.code for p in f.problems if p.severity == "error" and p.code in CATALOGUE), None)
    if code is None:
        return f.source_file
    meaning = CATALOGUE[code][1 if lang == "zh" else 2]
    return f"{f.source_file}（{meaning}）" if lang == "zh" else f"{f.source_file} ({meaning})"


def outcome(result: MergeResult, lang: str = "zh") -> str:
    """The closing line: what the exit code says, in words."""
    code = result.exit_code
    if result.merged_nothing:
        return ("结果：还没有可以汇总的文件，只写出了提交情况（退出码 1）。" if lang == "zh" else
                "Result: nothing could be merged yet; only who has submitted was written (exit code 1).")
    if code == 0:
        return "结果：全部文件已汇总，没有错误（退出码 0）。" if lang == "zh" else "Result: every file merged, no errors (exit code 0)."
    return ("结果：已写出汇总，但有文件无法读取或有行因错误被退回，请查看问题清单（退出码 1）。" if lang == "zh" else
            "Result: written, but some files could not be read or some rows were rejected; see Problems (exit code 1).")


def accounting_table(result: MergeResult, lang: str = "zh", width: int = 80) -> str:
    """The 行数核对 table (read = merged + rejected per table) as text, for the same stream as the rest."""
    import io

    from rich.console import Console
    from rich.table import Table

    en = lang == "en"
    table = Table(title="Rows (read = merged + rejected)" if en else "行数核对（读取 = 汇总 + 退回）")
    for h in (("Table", "Read", "Merged", "Rejected") if en else ("表", "读取", "汇总", "退回")):
        table.add_column(h, justify="left" if h in ("Table", "表") else "right")
    for name, read, merged, rejected in accounting_lines(result, lang):
        table.add_row(name, str(read), str(merged), str(rejected))
    buf = io.StringIO()
    Console(file=buf, width=width, color_system=None, force_terminal=False, highlight=False).print(table)
    return buf.getvalue().rstrip("\n")


def run_merge(inputs: Sequence[Path], layout: Layout, output: Path | None, roster: Path | None,
              export_dir: Path | None, parquet: bool, jobs: int | None, lang: str, console: Any,
              echo: Callable[[str], None], header: str = "key") -> int:
    """The `merge` command: returns the exit code.

    Everything it reports goes through ``echo`` (one stream); ``console`` only shows the progress bar.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    en = lang == "en"
    if output is not None and output.suffix.lower() != ".xlsx":
        raise UsageError(f"输出文件须以 .xlsx 结尾：{display_path(output)}", f"The output must end in .xlsx: {display_path(output)}")
    entries = read_roster(roster, layout) if roster is not None else None
    # The merge's own outputs may lie inside an input folder (a district keeps 区汇总.xlsx in the inbox): never
    # read them as a school's file.
    files = find_inputs(inputs, skip=[p for p in (output, export_dir) if p is not None])
    if not files and entries is None:  # with a roster, who has not submitted is worth writing from day one
        raise UsageError("输入中没有找到任何文件。", "No files found in the inputs.")
    # An export alone needs the rows of a table only where a cross-school rule reads them: the CSV lines come
    # ready from the workers.
    spill = Spill(layout, csv=export_dir is not None, rows=output is not None or parquet)
    with contextlib.ExitStack() as stack:
        stack.callback(spill.close)
        stream, target = None, None
        if output is not None:
            target = stack.enter_context(atomic_output(output))
            if 0 < len(files) <= detail_stream.STREAM_MAX_FILES:
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
        detail = write_outputs(result, output, export_dir, parquet, lang, stream=stream, target=target, header=header)
    if not result.merged_nothing:  # a table of zeros would say nothing the lines below do not
        echo(accounting_table(result, lang))
    for line in report_lines(result, output, export_dir, detail, lang):
        echo(line)
    return result.exit_code
