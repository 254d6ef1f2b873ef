"""The `sheetplan` command: a thin click layer over the library.

Exit codes are carried by exceptions: 0 ok, 1 problems found in the data,
2 unusable input or usage. Heavy modules (pandas, readers) are imported
inside the commands that need them, so `sheetplan --help` stays fast.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from . import __version__
from .errors import SheetplanError

LANG = click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True,
                    help="Language of labels and messages (界面语言).")
LAYOUT = click.option("--layout", "layout_name", default="school", show_default=True,
                      help="Built-in layout name or a layout YAML file (版式).")


class CommandFailed(click.ClickException):
    """A :class:`SheetplanError` shown in the user's language with its exit code."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code

    def show(self, file: Any = None) -> None:
        if self.message:
            click.echo(self.message, err=True)


def handles_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn library exceptions into messages and exit codes (never a traceback)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        lang = kwargs.get("lang", "zh")
        try:
            return fn(*args, **kwargs)
        except SheetplanError as exc:
            prefix = "Error: " if lang == "en" else "错误："
            raise CommandFailed(prefix + exc.text(lang), exc.exit_code) from exc

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sheetplan")
def cli() -> None:
    """sheetplan — 学校工会年度工作台账：生成模板、检查填报、区级汇总。

    Annual workbooks for school trade unions: generate templates, check
    filled workbooks, and roll them up for the district.
    """


@cli.command("new")
@click.option("--org-name", help="单位名称 (organisation name) for a single workbook.")
@click.option("--org-code", help="单位代码 (organisation code) for a single workbook.")
@click.option("--year", type=int, required=True, help="年度 (the workbook's year).")
@click.option("--roster", type=click.Path(dir_okay=False, path_type=Path),
              help="Roster CSV (单位代码,单位名称): write one workbook per school into the -o folder.")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="Output .xlsx file, or a folder with --roster.")
@click.option("--force", is_flag=True, help="Overwrite existing files.")
@click.option("--jobs", type=click.IntRange(1, 64), default=None, help="Parallel processes for --roster (default: one per core).")
@LAYOUT
@LANG
@handles_errors
def new_cmd(org_name: str | None, org_code: str | None, year: int, roster: Path | None, output: Path,
            force: bool, jobs: int | None, layout_name: str, lang: str) -> None:
    """Generate an annual workbook (生成年度工作簿模板)."""
    from .errors import UsageError
    from .generate import new_from_roster, new_workbook
    from .layout import load_layout
    from .writer import Org

    layout = load_layout(layout_name)
    en = lang == "en"
    if roster is not None:
        if org_name or org_code:
            raise UsageError("--roster 不能与 --org-name/--org-code 同时使用。", "--roster cannot be combined with --org-name/--org-code.")
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=_stderr_console(), transient=True) as bar:
            task = bar.add_task("Writing" if en else "正在生成", total=None)
            result = new_from_roster(layout, roster, year, output, lang, force, jobs,
                                     progress=lambda done, total: bar.update(task, completed=done, total=total))
        n = len(result.files)
        click.echo(f"Wrote {n} workbooks to {result.folder} in {result.seconds:.1f} s ({result.jobs} processes)." if en
                   else f"已生成 {n} 个工作簿，保存在 {result.folder}（用时 {result.seconds:.1f} 秒，{result.jobs} 个进程）。")
        return
    if not org_name or not org_code:
        raise UsageError("请给出 --org-name 和 --org-code，或用 --roster 名册。", "Give --org-name and --org-code, or a --roster.")
    path = new_workbook(layout, Org(org_name.strip(), org_code.strip(), year), output, lang, force)
    click.echo(f"Wrote {path}." if en else f"已生成 {path}。")


@cli.command("check")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Report as a readable table or as JSON (§4 of the spec).")
@click.option("--annotate", "annotate_to", type=click.Path(path_type=Path),
              help="Write a copy of the workbook with every problem cell marked and a 问题清单 sheet "
                   "(a folder when several files are checked).")
@LAYOUT
@LANG
@handles_errors
def check_cmd(files: tuple[Path, ...], fmt: str, annotate_to: Path | None, layout_name: str, lang: str) -> None:
    """Check filled workbooks and report every problem at its cell (检查填报的工作簿)."""
    from .check import check_file, dumps_json, exit_code, format_text
    from .errors import UsageError
    from .layout import load_layout

    layout = load_layout(layout_name)
    results = [check_file(f, layout, str(f)) for f in files]
    if fmt == "json":
        click.echo(dumps_json(results, lang))
    else:
        click.echo(format_text(results, lang), nl=False)
    if annotate_to is not None:
        from .annotate import annotate_workbook

        readable = [r for r in results if r.readable]
        if len(files) > 1 and annotate_to.suffix.lower() == ".xlsx":
            raise UsageError("检查多个文件时，--annotate 须指定文件夹。", "With several files, --annotate must name a folder.")
        failed = False
        for r in readable:
            if r.kind not in ("xlsx", "xlsm"):
                click.echo(f"{r.display}: only .xlsx files can be annotated." if lang == "en" else f"{r.display}：只能标注 .xlsx 文件。", err=True)
                continue
            # A workbook with macros stays .xlsm: Excel refuses macro content under an .xlsx name.
            suffix = ".xlsm" if r.kind == "xlsm" else ".xlsx"
            target = annotate_to / f"{r.path.stem}_问题标注{suffix}" if len(files) > 1 else annotate_to.with_suffix(suffix)
            try:
                annotate_workbook(r.path, target, r.report.problems, lang, layout)
            except UsageError as exc:  # one damaged file does not stop the others' annotation
                click.echo(exc.text(lang), err=True)
                failed = True
                continue
            click.echo(f"Annotated copy: {target}" if lang == "en" else f"已写出标注副本：{target}", err=True)
        if failed:
            raise CommandFailed("", 2)
    code = exit_code(results)
    if code:
        raise CommandFailed("", code)


@cli.command("merge")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="The district workbook (.xlsx) to write.")
@click.option("--roster", type=click.Path(dir_okay=False, path_type=Path), help="Roster CSV: schools that should submit.")
@click.option("--export", "export_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Also write tidy CSV files (UTF-8 with BOM) into this folder.")
@click.option("--format", "export_format", type=click.Choice(["csv", "parquet"]), default="csv", show_default=True,
              help="With --export: parquet writes Parquet files as well as CSV.")
@click.option("--jobs", type=click.IntRange(1, 64), default=None, help="Parallel processes (default: one per core).")
@LAYOUT
@LANG
@handles_errors
def merge_cmd(inputs: tuple[Path, ...], output: Path | None, roster: Path | None, export_dir: Path | None,
              export_format: str, jobs: int | None, layout_name: str, lang: str) -> None:
    """Roll schools' workbooks up into one district workbook (区级汇总)."""
    from .layout import load_layout
    from .mergeout import run_merge

    if output is None and export_dir is None:
        from .errors import UsageError

        raise UsageError("请用 -o 指定汇总工作簿，或用 --export 指定导出文件夹。", "Give -o for the district workbook, or --export for a folder.")
    layout = load_layout(layout_name)
    code = run_merge(inputs, layout, output, roster, export_dir, export_format == "parquet", jobs, lang,
                     console=_stderr_console(), echo=click.echo)
    if code:
        raise CommandFailed("", code)


@cli.command("layouts")
@LANG
@handles_errors
def layouts_cmd(lang: str) -> None:
    """List the built-in layouts (列出内置版式)."""
    from .layout import builtin_layouts, load_layout

    for name in builtin_layouts():
        lay = load_layout(name)
        sheets = "、".join(s.name[lang] for s in lay.sheets)
        click.echo(f"{name}\tv{lay.version}\t{lay.title[lang]}\t{sheets}")


@cli.group("layout")
def layout_group() -> None:
    """Work with layout files (版式文件)."""


@layout_group.command("export")
@click.argument("name")
@LANG
@handles_errors
def layout_export_cmd(name: str, lang: str) -> None:
    """Print a built-in layout as YAML, to edit and use with --layout (导出版式)."""
    from .layout import builtin_source, parse_layout

    text = builtin_source(name)
    parse_layout(text, f"{name}.yaml")
    sys.stdout.write(text)


@layout_group.command("check")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@LANG
@handles_errors
def layout_check_cmd(path: Path, lang: str) -> None:
    """Check a layout file and say what it holds (检查版式文件)."""
    from .layout import load_layout

    lay = load_layout(path)
    n_fields = sum(len(s.fields) for s in lay.sheets)
    n_rules = sum(len(s.rules) + len(s.merge_rules) for s in lay.sheets) + len(lay.cross_checks)
    click.echo(f"{path}: layout {lay.id} v{lay.version}, {len(lay.sheets)} sheets, {n_fields} fields, {n_rules} rules — OK"
               if lang == "en" else
               f"{path}：版式 {lay.id} 第 {lay.version} 版，{len(lay.sheets)} 张表，{n_fields} 个字段，{n_rules} 条规则——无误")


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv, prog_name="sheetplan")


if __name__ == "__main__":
    main()
