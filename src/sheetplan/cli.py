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
import re
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
                    help="界面、提示和报告的语言（Language of labels, messages and reports）")
LAYOUT = click.option("--layout", "layout_name", default="school", show_default=True,
                      help="版式：内置版式的名称，或版式 YAML 文件（Built-in layout name or a layout YAML file）")


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
        return _command_line_lang(ctx)
    return "zh"


def lang_in(argv: list[str] | None) -> str:
    """The language the command line asks for (``--lang en`` / ``--lang=en``), zh when it asks for none.

    Read from the words typed rather than from the parsed option: a mistyped command is refused before its
    options are parsed, and its message must already be in the clerk's language.
    """
    words = list(argv or [])
    for i, w in enumerate(words):
        if w == "--":
            break
        value = words[i + 1] if w == "--lang" and i + 1 < len(words) else w[len("--lang="):] if w.startswith("--lang=") else None
        if value in ("zh", "en"):
            return value
    return "zh"


def _command_line_lang(ctx: click.Context) -> str:
    """The language of the command line the top-level command of ``ctx`` was started with."""
    root = ctx.find_root().command
    return getattr(root, "_lang", "zh")


# --------------------------------------------------------------------------- help and usage errors in Chinese

# The words click writes around the help texts, in Chinese: headings, the usage line, option tags.
ZH_HEADINGS = {"Options": "选项", "Commands": "命令", "Positional arguments": "参数", "Arguments": "参数"}
ZH_USAGE = "用法："
ZH_USAGE_WORDS = {"[OPTIONS]": "[选项]", "COMMAND [ARGS]...": "命令 [参数]..."}
HELP_OPTION_TEXT = "显示本帮助并退出（Show this message and exit）"
_TAGS = re.compile(r"\s*\[([^\[\]]*)\]\s*$")  # the [default: zh; required] click appends to an option's help
_RANGE = re.compile(r"^(?:(?P<lo>[-\d.]+)(?P<lop><=?))?x(?:(?P<hip><=?)(?P<hi>[-\d.]+))?$|^x(?P<gop>>=?)(?P<g>[-\d.]+)$")


def _zh_range(tag: str) -> str | None:
    """A range click writes as 1<=x<=64 (or x>=1) in words: 1–64, 不小于 1; None when ``tag`` is not a range."""
    m = _RANGE.match(tag.replace(" ", ""))
    if m is None:
        return None
    if m["g"] is not None:
        return f"大于 {m['g']}" if m["gop"] == ">" else f"不小于 {m['g']}"
    lo, hi = m["lo"], m["hi"]
    if lo is not None and hi is not None and m["lop"] == "<=" and m["hip"] == "<=":
        return f"{lo}–{hi}"
    parts = []
    if lo is not None:
        parts.append(f"不小于 {lo}" if m["lop"] == "<=" else f"大于 {lo}")
    if hi is not None:
        parts.append(f"不大于 {hi}" if m["hip"] == "<=" else f"小于 {hi}")
    return "，".join(parts) or None


def _zh_tags(help_text: str) -> str:
    """The tags click appends to an option's help ([default: zh; required], [1<=x<=64]) in Chinese."""
    m = _TAGS.search(help_text)
    if m is None:
        return help_text
    out = []
    for tag in m.group(1).split(";"):
        tag = tag.strip()
        if tag.startswith("default:"):
            out.append("默认：" + tag[len("default:"):].strip())
        elif tag == "required":
            out.append("必填")
        else:
            out.append(_zh_range(tag) or tag)
    return help_text[:m.start()] + f"  [{'；'.join(out)}]"


class SheetplanFormatter(click.HelpFormatter):
    """click's help formatter, writing its own words (headings, usage, option tags) in the user's language."""

    def __init__(self, lang: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lang = lang

    def write_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:
        if self.lang == "zh" and prefix is None:
            for en, zh in ZH_USAGE_WORDS.items():
                args = args.replace(en, zh)
            prefix = ZH_USAGE
        super().write_usage(prog, args, prefix)

    def write_heading(self, heading: str) -> None:
        if self.lang == "zh":
            self.write(f"{'':>{self.current_indent}}{ZH_HEADINGS.get(heading, heading)}：\n")
        else:
            super().write_heading(heading)

    def write_dl(self, rows: Any, col_max: int = 30, col_spacing: int = 2) -> None:
        if self.lang == "zh":
            rows = [(term, _zh_tags(text)) for term, text in rows]
        super().write_dl(rows, col_max, col_spacing)


class SheetplanContext(click.Context):
    """A context whose help and usage lines are written in the language of the command line."""

    def make_formatter(self) -> click.HelpFormatter:
        return SheetplanFormatter(_command_line_lang(self), width=self.terminal_width, max_width=self.max_content_width)


class _Bilingual:
    """What every sheetplan command shares: its context, and the help option's text in both languages."""

    context_class = SheetplanContext

    def get_help_option(self, ctx: click.Context) -> click.Option | None:
        option = super().get_help_option(ctx)  # type: ignore[misc]
        if option is not None:
            option.help = HELP_OPTION_TEXT
        return option


class SheetplanCommand(_Bilingual, click.Command):
    """A sub-command of sheetplan."""


class SheetplanSubgroup(_Bilingual, click.Group):
    """A group of sub-commands under sheetplan (``layout``)."""

    command_class = SheetplanCommand


def _param_name(exc: click.UsageError) -> str:
    """The option or argument a usage error is about, as typed (--year, FILES)."""
    hint = getattr(exc, "param_hint", None)
    if hint is not None:
        return hint if isinstance(hint, str) else " / ".join(hint)
    param = getattr(exc, "param", None)
    if param is None:
        return ""
    if isinstance(param, click.Argument):
        return param.human_readable_name
    return " / ".join(param.opts)


def _did_you_mean(possibilities: list[str] | None) -> str:
    return f"您是不是要用 {'、'.join(sorted(possibilities))}？" if possibilities else ""


def _zh_bad_value(exc: click.BadParameter) -> str:
    """Why a value of an option was refused, in Chinese, from what the option accepts."""
    name, param = _param_name(exc), getattr(exc, "param", None)
    kind = getattr(param, "type", None)
    typed = re.match(r"^'?(?P<v>.*?)'? is not", exc.message)
    shown = f"“{typed['v']}”" if typed else "这个值"
    if isinstance(kind, click.Choice):
        return f"{name} 不能是{shown}，只能是：{'、'.join(map(str, kind.choices))}。"
    if isinstance(kind, click.IntRange):
        lo, hi = kind.min, kind.max
        within = f" {lo} 到 {hi} 之间的" if lo is not None and hi is not None else (
            f"不小于 {lo} 的" if lo is not None else f"不大于 {hi} 的")
        return f"{name} 不能是{shown}，应为{within}整数。"
    if isinstance(kind, click.types.IntParamType):
        return f"{name} 不能是{shown}，应为整数。"
    path = re.match(r"^\S+ '(?P<f>.+)' (?P<why>is a directory|is a file|does not exist|is not readable|is not writable)",
                    exc.message)
    if path:
        why = {"is a directory": "是文件夹，这里要的是文件", "is a file": "是文件，这里要的是文件夹", "does not exist": "不存在",
               "is not readable": "无法读取", "is not writable": "无法写入"}[path["why"]]
        return f"{name}：“{path['f']}”{why}。"
    return f"{name} 的值不对：{exc.message}"


def zh_usage_message(exc: click.UsageError) -> str:
    """A usage error of click in Chinese: what was wrong with the command line, and what it should have been."""
    if isinstance(exc, click.MissingParameter):
        name = _param_name(exc)
        what = "参数" if isinstance(exc.param, click.Argument) or exc.param_type == "argument" else "选项"
        return f"缺少{what} {name}。" if name else f"缺少{what}。"
    if isinstance(exc, click.NoSuchOption):
        return f"没有这个选项：{exc.option_name}。{_did_you_mean(exc.possibilities)}"
    command = getattr(exc, "command_name", None)  # NoSuchCommand (click 8.4 and later)
    words = re.match(r"^No such command '(?P<c>.+)'\.", exc.message)
    if command is not None or words:
        listed = ""
        if exc.ctx is not None and isinstance(exc.ctx.command, click.Group):
            listed = "可用的命令：" + "、".join(exc.ctx.command.list_commands(exc.ctx)) + "。"
        return f"没有这个命令：{command or words['c']}。{_did_you_mean(getattr(exc, 'possibilities', None))}{listed}"
    if isinstance(exc, click.BadOptionUsage):
        name = exc.option_name
        if "requires an argument" in exc.message:
            return f"选项 {name} 后面要跟一个值。"
        needs = re.search(r"requires (\d+) arguments", exc.message)
        if needs:
            return f"选项 {name} 后面要跟 {needs.group(1)} 个值。"
        if "does not take a value" in exc.message:
            return f"选项 {name} 后面不能跟值。"
        return f"选项 {name} 的用法不对：{exc.message}"
    if isinstance(exc, click.BadParameter):
        return _zh_bad_value(exc)
    extra = re.match(r"^Got unexpected extra arguments? \((?P<a>.*)\)", exc.message)
    if extra:
        return f"多出了参数：{extra['a']}。"
    if exc.message.startswith("Missing command"):
        return "缺少命令。"
    return f"命令用法不对：{exc.message}"


class ZhUsageError(click.UsageError):
    """One of click's usage errors, shown in Chinese (the usage line, where to find help, what was wrong)."""

    def __init__(self, original: click.UsageError) -> None:
        super().__init__(zh_usage_message(original), original.ctx)
        self.original = original

    def show(self, file: Any = None) -> None:
        ctx = self.ctx
        if ctx is not None:
            lines = [ctx.get_usage()]
            if ctx.command.get_help_option(ctx) is not None:
                names = ctx.command.get_help_option_names(ctx)
                lines.append(f"查看帮助：{ctx.command_path} {max(names, key=len)}")
            click.echo("\n".join(lines) + "\n", file=file, err=file is None, color=ctx.color)
        click.echo(f"错误：{self.format_message()}", file=file, err=file is None)


# click 8.2 and later show the help for a command given no arguments by raising this usage error.
_HELP_SHOWN: tuple[type[Exception], ...] = tuple(
    c for c in (getattr(click.exceptions, "NoArgsIsHelpError", None),) if c is not None)


def in_users_language(exc: click.UsageError, lang: str) -> click.UsageError:
    """``exc`` as the user should read it: in Chinese for ``zh``; click's own English otherwise."""
    if lang != "zh" or isinstance(exc, (ZhUsageError, *_HELP_SHOWN)):
        return exc  # the help shown for a bare command is already in the user's language
    return ZhUsageError(exc)


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


class SheetplanGroup(_Bilingual, click.Group):
    """The top-level command: every way a command can end maps to a message and an exit code.

    Data problems, unusable input and outputs that cannot be written are the library's exceptions
    (exit 1 or 2); click's own usage errors keep click's exit code 2, told in Chinese unless the command
    line asks for English; Ctrl+C exits 130 and SIGTERM 143 after every temporary file is removed;
    anything else is a bug: exit 3 with a saved report.
    """

    command_class = SheetplanCommand
    group_class = SheetplanSubgroup
    _argv: list[str] | None = None
    _lang = "zh"  # the language the command line asks for, before its options are parsed

    def main(self, *args: Any, **kwargs: Any) -> Any:
        """Run a command with SIGTERM handled and every temporary file inside one private folder."""
        argv = kwargs.get("args", args[0] if args else None)
        self._argv = list(argv) if argv is not None else sys.argv[1:]
        self._lang = lang_in(self._argv)
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
            click.echo(INTERRUPTED[self._lang], err=True)
            sys.exit(130)
        except Terminated as exc:
            if not standalone:
                raise
            click.echo(_terminated_message(exc, self._lang), err=True)
            sys.exit(exc.exit_code)
        finally:
            ending = sys.exc_info()[1]
            if ending is not None and not (isinstance(ending, SystemExit) and ending.code in (0, None)):
                # Objects a failed write left behind (a zip writer whose file is closed) are collected now,
                # while their complaints are still kept from the user.
                gc.collect()
            sys.unraisablehook = old_hook
            _restore_signal_handlers(old)

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        """Parse the top-level command line; a usage error in it is told in the user's language."""
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as exc:
            raise in_users_language(exc, self._lang) from None

    def invoke(self, ctx: click.Context) -> Any:
        """Invoke the command, mapping every exception that is not click's own."""
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:  # a sub-command's command line: told in the user's language
            raise in_users_language(exc, _command_line_lang(ctx)) from None
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
@click.version_option(__version__, prog_name="sheetplan", message="%(prog)s %(version)s",
                      help="显示版本号并退出（Show the version and exit）")
def cli() -> None:
    """sheetplan — 学校工会年度工作台账：生成模板、检查填报、区级汇总。

    Annual workbooks for school trade unions: generate templates, check
    filled workbooks, and roll them up for the district.
    """


@cli.command("new")
@click.option("--org-name", help="单位名称，生成一个工作簿时用（Organisation name, for a single workbook）")
@click.option("--org-code", help="单位代码，生成一个工作簿时用（Organisation code, for a single workbook）")
@click.option("--year", type=int, required=True, help="年度（The workbook's year）")
@click.option("--roster", type=click.Path(dir_okay=False, path_type=Path),
              help="名册 CSV（单位代码,单位名称）：每所学校生成一个工作簿，放进 -o 指定的文件夹"
                   "（Roster CSV: one workbook per school into the -o folder）")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="生成的 .xlsx 文件；用 --roster 时是文件夹（Output .xlsx file, or a folder with --roster）")
@click.option("--force", is_flag=True, help="覆盖已有的文件（Overwrite existing files）")
@click.option("--jobs", type=click.IntRange(1, 64), default=None,
              help="用 --roster 时同时运行的进程数，默认每个处理器核一个（Parallel processes for --roster; default: one per core）")
@LAYOUT
@LANG
@handles_errors
def new_cmd(org_name: str | None, org_code: str | None, year: int, roster: Path | None, output: Path,
            force: bool, jobs: int | None, layout_name: str, lang: str) -> None:
    """生成年度工作簿模板（Generate an annual workbook）"""
    from .layout import load_layout
    from .write import Org
    from .write.stamp import new_from_roster, new_workbook

    layout = load_layout(layout_name)
    _show_notices(layout, lang)
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
              help="报告的格式：text 是便于阅读的表格，json 供其他程序读取（Report as a readable table, or as JSON for programs）")
@click.option("--annotate", "annotate_to", type=click.Path(path_type=Path),
              help="另存一份标注副本（.xlsx）：有问题的单元格标上颜色和批注，并附“问题清单”表。检查多个文件或文件夹时，"
                   "这里给一个文件夹，副本名为“<原文件名>_问题标注.xlsx”，同名的依次加 _2、_3；不会覆盖被检查的文件"
                   "（Write a marked copy with every problem cell coloured and commented and a 问题清单 sheet; with "
                   "several files or a folder, a folder of <name>_问题标注.xlsx copies; never writes over a checked file）")
@LAYOUT
@LANG
@handles_errors
def check_cmd(files: tuple[Path, ...], fmt: str, annotate_to: Path | None, layout_name: str, lang: str) -> None:
    """检查填报的工作簿（Check filled workbooks）

    逐个单元格报告问题。FILES 可以是文件，也可以是文件夹：文件夹里的工作簿都会检查（包括子文件夹，与 merge 的规则相同）。

    Reports every problem at its cell. FILES are workbooks or folders: every workbook in a folder is
    checked, sub-folders included, as merge reads them.
    """
    from .layout import load_layout
    from .merge.inputs import find_inputs
    from .report.check import check_file, dumps_json, exit_code, format_text

    en = lang == "en"
    # Said before anything is read: a mistyped name, or an annotated copy that could not be written anyway.
    refuse_missing(files)
    several = len(files) > 1 or any(f.is_dir() for f in files)  # a folder holds several files, or may
    if annotate_to is not None:
        check_annotate_target(annotate_to, several)
    # A folder is read as merge reads it: every file below it, hidden and temporary ones aside, and
    # never the annotated copies this run writes into it.
    found = [path for path, _ in find_inputs(files, skip=[annotate_to] if annotate_to is not None and several else [])]
    if not found:
        shown = "、".join(display_path(f) for f in files)
        raise UsageError(f"{shown} 里没有可检查的文件。", f"There is no file to check in {', '.join(display_path(f) for f in files)}.")
    layout = load_layout(layout_name)
    _show_notices(layout, lang)
    results = [check_file(f, layout, display_path(f)) for f in found]
    if fmt == "json":
        click.echo(dumps_json(results, lang))
    else:
        click.echo(format_text(results, lang), nl=False)
    if annotate_to is not None:
        from .report.annotate import annotate_workbook

        plan = []
        unannotated = False
        for r in results:
            if not r.readable:
                continue
            if r.kind not in ("xlsx", "xlsm"):
                # Its copy cannot be written: the run fails (exit 2), like a file too damaged to annotate.
                click.echo(f"{r.display}: only .xlsx and .xlsm workbooks can be annotated; no copy was written "
                           "(save it as .xlsx in Excel or WPS first)." if en else
                           f"{r.display}：只能为 .xlsx 或 .xlsm 工作簿写标注副本，这个文件没有标注"
                           "（可先在 Excel 或 WPS 里另存为 .xlsx）。", err=True)
                unannotated = True
                continue
            plan.append(r)
        targets = annotation_targets([(r.path, r.kind == "xlsm") for r in plan], annotate_to, several=several)
        refuse_inputs_as_outputs(targets, tuple(found))
        failed = unannotated
        for r, target in zip(plan, targets, strict=True):
            try:
                annotate_workbook(r.path, target, r.report.problems, lang, layout, org_name=r.org_name, year=r.year)
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


ANNOTATABLE = (".xlsx", ".xlsm")  # what an annotated copy can be written as


def refuse_missing(paths: tuple[Path, ...]) -> None:
    """Stop, naming them, when some of ``paths`` do not exist: a mistyped name is told before anything is read."""
    missing = [p for p in paths if not os.path.lexists(p)]  # a broken link exists: reading reports it
    if missing:
        zh, en = "、".join(display_path(p) for p in missing), ", ".join(display_path(p) for p in missing)
        raise UsageError(f"找不到文件：{zh}。请检查文件名和所在的文件夹。",
                         f"File not found: {en}. Check the name and the folder.")


def check_annotate_target(annotate_to: Path, several: bool) -> None:
    """Refuse an ``--annotate`` target that could not be written, before the (possibly long) check.

    Several files (or a folder) are annotated into a folder; one file into one workbook, which can only be
    an .xlsx (or .xlsm) file: a name without a suffix gets .xlsx.
    """
    suffix = annotate_to.suffix.lower()
    if several:
        if suffix in ANNOTATABLE:
            raise UsageError("检查多个文件或文件夹时，--annotate 须指定文件夹。",
                             "With several files or a folder, --annotate must name a folder.")
        if annotate_to.exists() and not annotate_to.is_dir():
            raise OutputError.writing(annotate_to, errno.ENOTDIR, annotate_to)
    elif suffix and suffix not in ANNOTATABLE:
        shown = display_path(annotate_to)
        raise UsageError(f"--annotate 的标注副本只能是 .xlsx 工作簿（含宏的为 .xlsm），不能写成 {shown}。"
                         "请换一个以 .xlsx 结尾的文件名。",
                         f"An annotated copy can only be an .xlsx workbook (.xlsm with macros), not {shown}. "
                         "Give --annotate a name ending in .xlsx.")


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


def _identity(path: Path) -> tuple[int, int] | str:
    """What makes a file itself: its device and inode, so that a hard link, a symbolic link or another spelling
    of the name is the same file; its resolved path when it cannot be looked at (a copy not written yet)."""
    try:
        st = os.stat(path)
    except OSError:
        return os.path.realpath(path)
    return (st.st_dev, st.st_ino)


def refuse_inputs_as_outputs(targets: list[Path], inputs: tuple[Path, ...]) -> None:
    """``--annotate`` never writes over an input: checked for every copy before any is written.

    Each file is looked at once, so that checking a folder of hundreds of workbooks stays quick.
    """
    sources: dict[tuple[int, int] | str, Path] = {}
    for source in inputs:
        sources.setdefault(_identity(source), source)
    for target in targets:
        source = sources.get(_identity(target))
        if source is not None:
            raise UsageError(
                f"--annotate 的输出 {display_path(target)} 就是被检查的文件 {display_path(source)}，"
                "为保护原文件，未写入任何标注副本。请为 --annotate 另选一个文件名或文件夹。",
                f"The --annotate output {display_path(target)} is the checked file {display_path(source)}: "
                "to keep the original safe, no annotated copy was written. Give --annotate another name or folder.")


@cli.command("merge")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="要生成的区级汇总工作簿（.xlsx）（The district workbook to write）")
@click.option("--roster", type=click.Path(dir_okay=False, path_type=Path),
              help="名册 CSV（单位代码,单位名称）：应报送的学校；还没有文件时也会写出提交情况"
                   "（Roster CSV: the schools that should submit; with no file yet, who has submitted is still written）")
@click.option("--export", "export_dir", type=click.Path(file_okay=False, path_type=Path),
              help="另把各表、问题和提交情况导出为 CSV 文件（UTF-8 带 BOM），放进这个文件夹"
                   "（Also write tidy CSV files, UTF-8 with BOM, into this folder）")
@click.option("--format", "export_format", type=click.Choice(["csv", "parquet"]), default="csv", show_default=True,
              help="与 --export 一起用：parquet 表示除 CSV 外再写 Parquet 文件（With --export: parquet writes Parquet "
                   "files as well as CSV）")
@click.option("--header", "header", type=click.Choice(["key", "zh"]), default="key", show_default=True,
              help="与 --export 一起用：CSV 的表头，key 是字段名（供程序读取），zh 是中文栏目名（便于用 Excel 打开）"
                   "（With --export: the CSV header row, field keys for scripts or the Chinese labels for Excel）")
@click.option("--jobs", type=click.IntRange(1, 64), default=None,
              help="同时读取文件的进程数，默认每个处理器核一个（Parallel processes; default: one per core）")
@LAYOUT
@LANG
@handles_errors
def merge_cmd(inputs: tuple[Path, ...], output: Path | None, roster: Path | None, export_dir: Path | None,
              export_format: str, header: str, jobs: int | None, layout_name: str, lang: str) -> None:
    """汇总各校报送的工作簿（Roll schools' workbooks up for the district）

    INPUTS 可以是文件，也可以是文件夹（包括子文件夹）。全部报告写到标准输出。

    INPUTS are workbooks or folders (sub-folders included). The whole report goes to standard output.
    """
    from .layout import load_layout
    from .merge.run import run_merge

    if output is None and export_dir is None:
        raise UsageError("请用 -o 指定汇总工作簿，或用 --export 指定导出文件夹。", "Give -o for the district workbook, or --export for a folder.")
    # Options that only mean something with an export are refused without one, rather than silently ignored.
    for given, name in ((export_format != "csv", f"--format {export_format}"), (header != "key", f"--header {header}")):
        if given and export_dir is None:
            raise UsageError(f"{name} 只对导出文件起作用，请同时用 --export 指定导出文件夹。",
                             f"{name} only applies to the export: give --export DIR as well.")
    layout = load_layout(layout_name)
    _show_notices(layout, lang)
    code = run_merge(inputs, layout, output, roster, export_dir, export_format == "parquet", jobs, lang,
                     console=_stderr_console(), echo=click.echo, header=header)
    if code:
        raise CommandFailed("", code)


@cli.command("layouts")
@LANG
@handles_errors
def layouts_cmd(lang: str) -> None:
    """列出内置版式（List the built-in layouts）"""
    from .layout import builtin_layouts, load_layout

    for name in builtin_layouts():
        lay = load_layout(name)
        sheets = "、".join(s.name[lang] for s in lay.sheets)
        click.echo(f"{name}\tv{lay.version}\t{lay.title[lang]}\t{sheets}")


@cli.group("layout")
def layout_group() -> None:
    """导出和检查版式文件（Work with layout files）"""


@layout_group.command("export")
@click.argument("name")
@LANG
@handles_errors
def layout_export_cmd(name: str, lang: str) -> None:
    """导出内置版式（Print a built-in layout as YAML）

    把内置版式输出为 YAML，修改后可用 --layout 使用。

    Print a built-in layout as YAML, to edit and use with --layout.
    """
    from .layout import parse_layout
    from .layout.load import export_source

    text = export_source(name)  # says which layout it derives from, and asks for an id of the copy's own
    parse_layout(text, f"{name}.yaml")
    sys.stdout.write(text)


@layout_group.command("check")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@LANG
@handles_errors
def layout_check_cmd(path: Path, lang: str) -> None:
    """检查版式文件并说明其内容（Check a layout file and say what it holds）"""
    from .layout import load_layout

    lay = load_layout(path)
    n_fields = sum(len(s.fields) for s in lay.sheets)
    n_rules = sum(len(s.rules) + len(s.merge_rules) for s in lay.sheets) + len(lay.cross_checks)
    shown = display_path(path)
    derived_en = f", derived from {lay.derived_from}" if lay.derived_from else ""
    derived_zh = f"，派生自 {lay.derived_from}" if lay.derived_from else ""
    click.echo(f"{shown}: layout {lay.id} v{lay.version} (fingerprint {lay.fingerprint}{derived_en}), {len(lay.sheets)} "
               f"sheets, {n_fields} fields, {n_rules} rules — OK"
               if lang == "en" else
               f"{shown}：版式 {lay.id} 第 {lay.version} 版（指纹 {lay.fingerprint}{derived_zh}），{len(lay.sheets)} 张表，"
               f"{n_fields} 个字段，{n_rules} 条规则——无误")
    _show_notices(lay, lang)


def _show_notices(layout: Any, lang: str) -> None:
    """What loading the layout had to say (an edited copy that keeps a built-in id), once, in the user's language."""
    for zh, en in layout.notices:
        click.echo(("Warning: " + en) if lang == "en" else ("提醒：" + zh), err=True)


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv, prog_name="sheetplan")


if __name__ == "__main__":
    main()
