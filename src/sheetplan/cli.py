"""The `sheetplan` command: a thin click layer over the library.

Exit codes are carried by exceptions: 0 ok, 1 problems found in the data,
2 unusable input, usage or output, 3 a fault of the program itself (with a
saved report), 130 after Ctrl+C, 143 after SIGTERM. Heavy modules (pandas,
readers) are imported inside the commands that need them, so
`sheetplan --help` stays fast.
"""

from __future__ import annotations

import errno
import functools
import gc
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from . import __version__
from .errors import InternalError, OutputError, SheetplanError, Terminated, UsageError
from .files import display_path, run_temp_root, system_temp_dir

_LANG_KEY = "sheetplan.lang"
DEBUG_ENV = "SHEETPLAN_DEBUG"  # =1: an internal error prints its traceback as well


def _remember_lang(ctx: click.Context, param: click.Parameter, value: str) -> str:
    # Errors that happen outside a command's own code (an interruption, a bug) are told in this language too.
    ctx.meta[_LANG_KEY] = value
    return value


LANG = click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True, callback=_remember_lang,
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


def _failed(exc: SheetplanError, lang: str) -> CommandFailed:
    prefix = "Error: " if lang == "en" else "错误："
    return CommandFailed(prefix + exc.text(lang), exc.exit_code)


def handles_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn library exceptions into messages and exit codes (never a traceback)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        lang = kwargs.get("lang", "zh")
        try:
            return fn(*args, **kwargs)
        except SheetplanError as exc:
            failure = _failed(exc, lang)
        # Raised outside the handler, so nothing keeps the original error — and whatever half-built object
        # its traceback holds — alive until the process ends.
        raise failure

    return wrapper


INTERRUPTED = {
    "zh": "已中断（Ctrl+C）。没有留下写了一半的文件。",
    "en": "Interrupted (Ctrl+C). No half-written file was left.",
}
TERMINATED = {
    "zh": "已被终止（收到信号 {name}）。没有留下写了一半的文件。",
    "en": "Stopped (signal {name}). No half-written file was left.",
}


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return str(signum)


def _terminated_message(exc: Terminated, lang: str) -> str:
    return TERMINATED[lang].format(name=_signal_name(exc.signum))


_handler_pid = -1  # the process that installed the handler (worker processes inherit it when forked)


def _on_signal(signum: int, frame: Any) -> None:
    """SIGTERM / SIGHUP: unwind like Ctrl+C, so every ``with`` block removes its temporary files."""
    if os.getpid() != _handler_pid:
        # A worker process that inherited this handler: stop as the signal means, the parent cleans up.
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    # Asked once: a second signal while cleaning up is ignored so the clean-up can finish (kill -9 still stops it).
    signal.signal(signum, signal.SIG_IGN)
    raise Terminated(signum)


def _install_signal_handlers() -> dict[int, Any]:
    """Handle SIGTERM and SIGHUP in this process; return the handlers to put back."""
    global _handler_pid
    if threading.current_thread() is not threading.main_thread():
        return {}
    _handler_pid = os.getpid()
    old: dict[int, Any] = {}
    for name in ("SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is None:
            continue
        current = signal.getsignal(sig)
        if current == signal.SIG_IGN:  # started under nohup or similar: the user asked for it to be ignored
            continue
        old[sig] = signal.signal(sig, _on_signal)
    return old


def _restore_signal_handlers(old: dict[int, Any]) -> None:
    for sig, handler in old.items():
        try:
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        except (ValueError, OSError):
            pass


def _quiet_unraisable(info: Any) -> None:
    """Errors Python can only ignore (in a ``__del__``): shown with SHEETPLAN_DEBUG=1, otherwise kept quiet.

    After a failed write, a library's half-built zip writer complains when it is collected that its file is
    closed; a clerk has already been told what failed, and must not see a traceback. A Ctrl+C or SIGTERM
    that happened to land inside such a finaliser would be dropped by Python: it is sent again instead.
    """
    exc = info.exc_value
    if isinstance(exc, (KeyboardInterrupt, Terminated)) and os.getpid() == _handler_pid:
        signum = exc.signum if isinstance(exc, Terminated) else signal.SIGINT
        if isinstance(exc, Terminated):
            signal.signal(signum, _on_signal)  # it was set to ignore repeats
        # Sent a moment later from another thread: sent from here it would land in this finaliser again.
        timer = threading.Timer(0.01, os.kill, (os.getpid(), signum))
        timer.daemon = True
        timer.start()
        return
    if os.environ.get(DEBUG_ENV, "") not in ("", "0"):
        sys.__unraisablehook__(info)


def _lang_of(ctx: click.Context | None) -> str:
    if ctx is not None:
        lang = ctx.meta.get(_LANG_KEY)
        if lang in ("zh", "en"):
            return lang
    return "zh"


def save_error_report(exc: BaseException, argv: list[str] | None = None) -> Path | None:
    """Write the traceback of an internal error to ``sheetplan-error-<time>-<pid>.txt``; return its path.

    The report goes to the system's temporary folder (else the home folder), as an ordinary new file (the
    user's umask applies). None when it could not be written anywhere.
    """
    stamp = time.strftime("%Y%m%d-%H%M%S")
    text = "\n".join([
        f"sheetplan {__version__}",
        f"Python {sys.version.split()[0]} on {sys.platform}",
        "command: sheetplan " + " ".join(display_path(a) for a in (argv if argv is not None else sys.argv[1:])),
        f"time: {time.strftime('%Y-%m-%d %H:%M:%S %z')}",
        "",
        "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
    ])
    for folder in (system_temp_dir(), str(Path.home())):
        for n in range(100):
            name = f"sheetplan-error-{stamp}-{os.getpid()}" + (f"-{n}" if n else "") + ".txt"
            try:
                with open(os.path.join(folder, name), "x", encoding="utf-8", errors="backslashreplace") as fh:
                    fh.write(text)
                return Path(folder) / name
            except FileExistsError:
                continue
            except OSError:
                break
    return None


def _internal_failure(exc: BaseException, lang: str, argv: list[str] | None) -> CommandFailed:
    """An unexpected exception: one line saying it is the program's fault, and where the report is."""
    report = save_error_report(exc, argv)
    kind = type(exc).__name__
    if report is not None:
        where = display_path(report)
        msg = (f"Internal error (a fault in sheetplan, not in your files): {kind}. A report was saved to {where}; "
               "please send that file to whoever supports sheetplan for you." if lang == "en" else
               f"程序内部错误（不是您的文件的问题）：{kind}。错误报告已保存到 {where}，请把这个文件发给技术支持人员。")
    else:
        msg = (f"Internal error (a fault in sheetplan, not in your files): {kind}. The report could not be saved; "
               "it follows." if lang == "en" else
               f"程序内部错误（不是您的文件的问题）：{kind}。错误报告无法保存，内容如下。")
    if report is None or os.environ.get(DEBUG_ENV, "") not in ("", "0"):
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    return CommandFailed(msg, InternalError.exit_code)


class SheetplanGroup(click.Group):
    """The top-level command: every way a command can end maps to a message and an exit code.

    Data problems, unusable input and outputs that cannot be written are the library's exceptions
    (exit 1 or 2); click's own usage errors keep click's exit code 2; Ctrl+C exits 130 and SIGTERM 143
    after every temporary file is removed; anything else is a bug: exit 3 with a saved report.
    """

    _argv: list[str] | None = None

    def main(self, *args: Any, **kwargs: Any) -> Any:
        """Run a command with SIGTERM handled and every temporary file inside one private folder."""
        argv = kwargs.get("args", args[0] if args else None)
        self._argv = list(argv) if argv is not None else sys.argv[1:]
        standalone = kwargs.get("standalone_mode", True)
        old = _install_signal_handlers()
        old_hook = sys.unraisablehook
        sys.unraisablehook = _quiet_unraisable
        try:
            with run_temp_root():
                return super().main(*args, **kwargs)
        except KeyboardInterrupt:  # outside a command (while parsing, or clearing up at the very end)
            if not standalone:
                raise
            click.echo(INTERRUPTED["zh"], err=True)
            sys.exit(130)
        except Terminated as exc:
            if not standalone:
                raise
            click.echo(_terminated_message(exc, "zh"), err=True)
            sys.exit(exc.exit_code)
        finally:
            ending = sys.exc_info()[1]
            if ending is not None and not (isinstance(ending, SystemExit) and ending.code in (0, None)):
                # Objects a failed write left behind (a zip writer whose file is closed) are collected now,
                # while their complaints are still kept from the user.
                gc.collect()
            sys.unraisablehook = old_hook
            _restore_signal_handlers(old)

    def invoke(self, ctx: click.Context) -> Any:
        """Invoke the command, mapping every exception that is not click's own."""
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except SheetplanError as exc:
            failure = _failed(exc, _lang_of(ctx))
        except KeyboardInterrupt:
            raise CommandFailed(INTERRUPTED[_lang_of(ctx)], 130) from None
        except Terminated as exc:
            raise CommandFailed(_terminated_message(exc, _lang_of(ctx)), exc.exit_code) from None
        except OSError as exc:
            if exc.errno == errno.EPIPE:  # output piped into `head`: click ends quietly
                raise
            raise _internal_failure(exc, _lang_of(ctx), self._argv) from None
        except Exception as exc:
            raise _internal_failure(exc, _lang_of(ctx), self._argv) from None
        raise failure


@click.group(cls=SheetplanGroup, context_settings={"help_option_names": ["-h", "--help"]})
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
    from .layout import load_layout
    from .write import Org
    from .write.stamp import new_from_roster, new_workbook

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
        n, folder = len(result.files), display_path(result.folder)
        click.echo(f"Wrote {n} workbooks to {folder} in {result.seconds:.1f} s ({result.jobs} processes)." if en
                   else f"已生成 {n} 个工作簿，保存在 {folder}（用时 {result.seconds:.1f} 秒，{result.jobs} 个进程）。")
        return
    if not org_name or not org_code:
        raise UsageError("请给出 --org-name 和 --org-code，或用 --roster 名册。", "Give --org-name and --org-code, or a --roster.")
    path = new_workbook(layout, Org(org_name.strip(), org_code.strip(), year), output, lang, force)
    click.echo(f"Wrote {display_path(path)}." if en else f"已生成 {display_path(path)}。")


@cli.command("check")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Report as a readable table or as JSON (§4 of the spec).")
@click.option("--annotate", "annotate_to", type=click.Path(path_type=Path),
              help="Write a copy of the workbook with every problem cell marked and a 问题清单 sheet. With several "
                   "files, a folder: each copy is <name>_问题标注.xlsx, and when two inputs share a name the later "
                   "ones get _2, _3 … in command-line order. Never writes over a checked file "
                   "(标注副本；多个文件时为文件夹，同名时依次加 _2、_3；不会覆盖被检查的文件).")
@LAYOUT
@LANG
@handles_errors
def check_cmd(files: tuple[Path, ...], fmt: str, annotate_to: Path | None, layout_name: str, lang: str) -> None:
    """Check filled workbooks and report every problem at its cell (检查填报的工作簿)."""
    from .layout import load_layout
    from .report.check import check_file, dumps_json, exit_code, format_text

    en = lang == "en"
    if annotate_to is not None and len(files) > 1:
        # Said before the (possibly long) check, since nothing could be annotated anyway.
        if annotate_to.suffix.lower() in (".xlsx", ".xlsm"):
            raise UsageError("检查多个文件时，--annotate 须指定文件夹。", "With several files, --annotate must name a folder.")
        if annotate_to.exists() and not annotate_to.is_dir():
            raise OutputError.writing(annotate_to, errno.ENOTDIR, annotate_to)
    layout = load_layout(layout_name)
    results = [check_file(f, layout, display_path(f)) for f in files]
    if fmt == "json":
        click.echo(dumps_json(results, lang))
    else:
        click.echo(format_text(results, lang), nl=False)
    if annotate_to is not None:
        from .report.annotate import annotate_workbook

        plan = []
        for r in results:
            if not r.readable:
                continue
            if r.kind not in ("xlsx", "xlsm"):
                click.echo(f"{r.display}: only .xlsx files can be annotated." if en else f"{r.display}：只能标注 .xlsx 文件。", err=True)
                continue
            plan.append(r)
        targets = annotation_targets([(r.path, r.kind == "xlsm") for r in plan], annotate_to, several=len(files) > 1)
        refuse_inputs_as_outputs(targets, files)
        failed = False
        for r, target in zip(plan, targets, strict=True):
            try:
                annotate_workbook(r.path, target, r.report.problems, lang, layout)
            except SheetplanError as exc:  # one damaged file, or one that cannot be written, does not stop the others
                click.echo(exc.text(lang), err=True)
                failed = True
                continue
            shown = display_path(target)
            click.echo(f"Annotated copy of {r.display}: {shown}" if en else f"已写出 {r.display} 的标注副本：{shown}", err=True)
        if failed:
            raise CommandFailed("", 2)
    code = exit_code(results)
    if code:
        raise CommandFailed("", code)


def annotation_targets(sources: list[tuple[Path, bool]], annotate_to: Path, several: bool) -> list[Path]:
    """Where each annotated copy goes: ``(path, has_macros)`` of each source, in command-line order.

    One file: ``annotate_to`` itself (``.xlsm`` for a workbook with macros: Excel refuses macro content
    under an .xlsx name). Several: ``annotate_to/<name>_问题标注.xlsx``; two sources of the same name
    (``d1/a.xlsx``, ``d2/a.xlsx``) must not write over each other, so the later ones get ``_2``, ``_3`` …
    Names are compared without case, as Windows and macOS do.
    """
    out: list[Path] = []
    used: set[str] = set()
    for path, macros in sources:
        suffix = ".xlsm" if macros else ".xlsx"
        if not several:
            out.append(annotate_to.with_suffix(suffix))
            continue
        stem, n = f"{path.stem}_问题标注", 1
        name = stem + suffix
        while name.casefold() in used:
            n += 1
            name = f"{stem}_{n}{suffix}"
        used.add(name.casefold())
        out.append(annotate_to / name)
    return out


def _same_file(a: Path, b: Path) -> bool:
    """Whether two paths are one file: through links (symbolic or hard) and case-insensitive names."""
    try:
        return os.path.samefile(a, b)  # (st_dev, st_ino): also a hard link, a symbolic link, another spelling
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def refuse_inputs_as_outputs(targets: list[Path], inputs: tuple[Path, ...]) -> None:
    """§9: ``--annotate`` never writes over an input. Checked for every copy before any is written."""
    for target in targets:
        for source in inputs:
            if _same_file(target, source):
                raise UsageError(
                    f"--annotate 的输出 {display_path(target)} 就是被检查的文件 {display_path(source)}，"
                    "为保护原文件，未写入任何标注副本。请为 --annotate 另选一个文件名或文件夹。",
                    f"The --annotate output {display_path(target)} is the checked file {display_path(source)}: "
                    "to keep the original safe, no annotated copy was written. Give --annotate another name or folder.")


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
    from .merge.run import run_merge

    if output is None and export_dir is None:
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
    shown = display_path(path)
    click.echo(f"{shown}: layout {lay.id} v{lay.version}, {len(lay.sheets)} sheets, {n_fields} fields, {n_rules} rules — OK"
               if lang == "en" else
               f"{shown}：版式 {lay.id} 第 {lay.version} 版，{len(lay.sheets)} 张表，{n_fields} 个字段，{n_rules} 条规则——无误")


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv, prog_name="sheetplan")


if __name__ == "__main__":
    main()
