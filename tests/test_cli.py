"""The command line: documented, fast to start, errors as messages."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from sheetplan.cli import cli

README = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")


def _commands(group: click.Group, prefix: str = "sheetplan"):
    for name, cmd in group.commands.items():
        full = f"{prefix} {name}"
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, full)
        else:
            yield full, cmd


def test_help_does_not_import_pandas():
    code = "import sys; from sheetplan.cli import main\ntry:\n main(['--help'])\nexcept SystemExit: pass\nprint('pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "False"


def test_readme_problem_code_table_is_current():
    from sheetplan.problems import catalogue_markdown

    start, end = "<!-- problem-codes:start -->\n", "\n<!-- problem-codes:end -->"
    table = README.split(start, 1)[1].split(end, 1)[0]
    assert table == catalogue_markdown()


def test_every_rule_code_of_the_layout_is_catalogued(layout):
    from sheetplan.problems import CATALOGUE

    codes = {r.code for s in layout.sheets for r in (*s.rules, *s.merge_rules)} | {r.code for r in layout.cross_checks}
    assert codes - set(CATALOGUE) == set()


# --------------------------------------------------------------------------- Chinese help and usage errors

SAMPLES = Path(__file__).parents[1] / "samples" / "submitted"
XQ001 = SAMPLES / "城区片" / "XQ001_新桥区第一实验小学_2025.xlsx"
XQ004 = SAMPLES / "城南片" / "XQ004_新桥区城南中学_2025.xlsx"
CJK = re.compile(r"[\u4e00-\u9fff]")


def invoke(*args: str | Path):
    """The command as a clerk runs it (click's standalone mode: usage errors are shown, not raised)."""
    return CliRunner().invoke(cli, [str(a) for a in args], prog_name="sheetplan")


def _no_traceback(text: str) -> None:
    assert "Traceback" not in text and 'File "' not in text, text


def test_help_is_chinese_first_and_never_mentions_the_spec():
    """Issue point 19: `sheetplan --help` was English first and spoke of "§4 of the spec"; now Chinese first,
    English after, in click's own words (用法, 选项, 命令) as well."""
    r = invoke("--help")
    assert r.exit_code == 0, r.output
    assert r.output.startswith("用法：sheetplan [选项] 命令 [参数]...")
    assert "选项：" in r.output and "命令：" in r.output and "显示本帮助并退出" in r.output
    assert "检查填报的工作簿（Check filled workbooks）" in r.output
    for words in (["check"], ["new"], ["layouts"], ["layout", "check"]):
        text = invoke(*words, "--help").output
        assert "§" not in text and "spec" not in text.lower(), (words, text)
        assert "[默认：" in text or words != ["check"], text
    assert "[1–64]" in invoke("new", "--help").output  # a range in words, not 1<=x<=64


@pytest.mark.parametrize(("args", "says"), [
    (["check"], "错误：缺少参数 FILES。"),
    (["check", "--bogus"], "错误：没有这个选项：--bogus。"),
    (["check", "a.xlsx", "--form", "json"], "您是不是要用 --format？"),
    (["check", "a.xlsx", "--format", "xml"], "错误：--format 不能是“xml”，只能是：text、json。"),
    (["new", "--year", "去年", "-o", "x.xlsx"], "错误：--year 不能是“去年”，应为整数。"),
    (["new", "--year", "2025", "-o", "x.xlsx", "--jobs", "0"], "应为 1 到 64 之间的整数"),
    (["new", "-o", "x.xlsx"], "错误：缺少选项 --year。"),
    (["chek"], "错误：没有这个命令：chek。"),
    (["layouts", "extra"], "错误：多出了参数：extra。"),
])
def test_usage_errors_are_told_in_chinese(args, says):
    """Issue point 19: click's own usage errors ("Error: Missing argument", "No such option") were English
    under the default --lang zh; now Chinese, with the usage line and where to find help, exit 2."""
    r = invoke(*args)
    assert r.exit_code == 2, r.output
    assert says in r.output, r.output
    assert "Error:" not in r.output and "Usage:" not in r.output and "Try '" not in r.output, r.output
    _no_traceback(r.output)


def test_usage_errors_in_chinese_from_a_real_process():
    """Issue point 19: as a clerk sees it in a terminal: Chinese on stderr, exit 2, no traceback."""
    for args in (["check"], ["check", "--bogus"]):
        code = "import sys; from sheetplan.cli import main; main(sys.argv[1:])"
        r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, encoding="utf-8")
        assert r.returncode == 2, r.stderr
        assert r.stderr.startswith(f"用法：sheetplan {args[0]} [选项] FILES...") and "错误：" in r.stderr, r.stderr
        _no_traceback(r.stderr)


def test_usage_errors_stay_english_with_lang_en():
    """Issue point 19: with --lang en the user reads click's English."""
    r = invoke("check", "--bogus", "--lang", "en")
    assert r.exit_code == 2 and "Error: No such option" in r.output and "错误" not in r.output, r.output
    assert "Usage: sheetplan check [OPTIONS]" in invoke("check", "--lang=en", "--help").output


def _help_texts(group: click.Group, path: tuple[str, ...] = ()):
    """(command path, what, text) for every help text a user can read: each command's, each option's."""
    ctx = click.Context(group)
    yield " ".join(path) or "sheetplan", "command", group.help or ""
    for param in group.get_params(ctx):
        if isinstance(param, click.Option):
            yield " ".join(path) or "sheetplan", "/".join(param.opts), param.help or ""
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            yield from _help_texts(cmd, (*path, name))
            continue
        sub = click.Context(cmd)
        yield " ".join((*path, name)), "command", cmd.help or ""
        for param in cmd.get_params(sub):
            if isinstance(param, click.Option):
                yield " ".join((*path, name)), "/".join(param.opts), param.help or ""


@pytest.mark.parametrize("command", ["sheetplan", "new", "check", "merge", "layouts", "layout", "layout export",
                                     "layout check"])
def test_every_help_text_is_chinese_first_then_english(command):
    """Issue point 19: every command's and option's help begins in Chinese and gives the English after it
    (检查填报的工作簿（Check filled workbooks）); none mentions the spec."""
    texts = [(what, text) for cmd, what, text in _help_texts(cli) if cmd == command]
    assert texts
    for what, text in texts:
        assert CJK.match(text.strip()) or text.startswith("sheetplan — "), (command, what, text)
        assert re.search(r"[A-Za-z]{3,}", text), (command, what, "no English after the Chinese")
        assert "§" not in text and "spec" not in text.lower(), (command, what, text)


# --------------------------------------------------------------------------- README: every option of every command

COMMANDS_INTRO = README.split("## Commands", 1)[1].split("\n### ", 1)[0]  # what every command takes (--lang, --layout)


def _section(command: str) -> str:
    """The README section of ``command``: from its ### heading to the next heading."""
    for part in README.split("\n### ")[1:]:
        heading, _, body = part.partition("\n")
        if f"`{command}`" in heading:
            return body.split("\n## ", 1)[0]
    return ""


def _options_in_help(words: list[str]) -> list[str]:
    """The long option names `sheetplan <words> --help` lists under 选项 (click's --help aside)."""
    out, inside = [], False
    for line in invoke(*words, "--help").output.splitlines():
        if line.strip() in ("选项：", "Options:"):
            inside = True
            continue
        if inside and line and not line.startswith(" "):
            break
        if inside and line.startswith("  -"):
            first_column = re.split(r"\s{2,}", line.strip())[0]
            out += [o for o in re.findall(r"(?<![\w-])--[a-z][a-z-]*", first_column) if o != "--help"]
    return out


def test_every_option_in_help_is_in_the_readme_table_of_its_command():
    """Issue point 19: every command has its README section, and every option `sheetplan <cmd> --help` lists is
    in it (its table of options) or among what every command takes (--lang, --layout). The group's --version
    and click's --help are the program's own and not listed."""
    missing = []
    for full, _ in _commands(cli):
        words = full.split()[1:]
        section = _section(full)
        if not section:
            missing.append(f"{full}: no section")
            continue
        for opt in _options_in_help(words):
            if f"`{opt}" not in section and f"`{opt}" not in COMMANDS_INTRO:
                missing.append(f"{full} {opt}")
    assert missing == []


# --------------------------------------------------------------------------- check: folders, missing files, annotate


def test_check_reads_a_folder_as_merge_does(tmp_path):
    """Issue point 18: `check <folder>` said 无法打开：Is a directory; now every file below the folder is checked,
    sub-folders included, hidden and temporary files left out, anything else reported — as merge reads it."""
    inbox = tmp_path / "收件箱"
    (inbox / "城南片").mkdir(parents=True)
    shutil.copy(XQ001, inbox / "a.xlsx")
    shutil.copy(XQ004, inbox / "城南片" / "b.xlsx")
    (inbox / "~$a.xlsx").write_bytes(b"lock")  # Excel's lock file: ignored, as by merge
    r = invoke("check", inbox, "--format", "json")
    assert r.exit_code == 1, r.output  # XQ004 has errors; both read
    paths = [f["path"] for f in json.loads(r.stdout)["files"]]
    assert paths == [f"{inbox}/a.xlsx", f"{inbox}/城南片/b.xlsx"]
    (inbox / "说明.docx").write_bytes(b"PK\x03\x04 not a workbook")
    r = invoke("check", inbox)
    assert r.exit_code == 2 and "说明.docx" in r.output and "Is a directory" not in r.output, r.output
    empty = tmp_path / "空"
    empty.mkdir()
    r = invoke("check", empty)
    assert r.exit_code == 2 and "没有可检查的文件" in r.output, r.output


def test_check_of_a_missing_file_says_so_in_chinese_before_reading_anything(tmp_path):
    """Issue point 18: a mistyped path gave "No such file or directory" in English inside Chinese; now
    找不到文件：…, exit 2, and the files given with it are not read at all."""
    shutil.copy(XQ001, tmp_path / "a.xlsx")
    r = invoke("check", tmp_path / "a.xlsx", tmp_path / "错字.xlsx")
    assert r.exit_code == 2, r.output
    assert f"找不到文件：{tmp_path / '错字.xlsx'}。" in r.output and "No such file" not in r.output, r.output
    assert "新桥区第一实验小学" not in r.output  # nothing was read
    r = invoke("check", tmp_path / "错字.xlsx", "--lang", "en")
    assert r.exit_code == 2 and "File not found" in r.output, r.output


def test_an_annotate_target_that_cannot_be_written_is_exit_2(tmp_path, monkeypatch):
    """Issue point 18: `check f.xls --annotate x.xls` exited 1; an annotated copy can only be an .xlsx (.xlsm)
    workbook, so another name is refused before reading (exit 2), and a checked file that is not .xlsx
    cannot be annotated (exit 2, named)."""
    source = tmp_path / "f.xlsx"
    shutil.copy(XQ001, source)
    r = invoke("check", source, "--annotate", tmp_path / "x.xls")
    assert r.exit_code == 2 and ".xlsx" in r.output and "x.xls" in r.output, r.output
    assert "新桥区第一实验小学" not in r.output and not (tmp_path / "x.xls").exists()
    r = invoke("check", source, "--annotate", tmp_path / "x.csv", "--lang", "en")
    assert r.exit_code == 2 and "only be an .xlsx workbook" in r.output, r.output

    import sheetplan.report.check as report_check

    real = report_check.check_file

    def as_ods(*args, **kwargs):  # a workbook read from an .ods: readable, but no annotated copy can be made
        data = real(*args, **kwargs)
        data.kind = "ods"
        return data

    monkeypatch.setattr(report_check, "check_file", as_ods)
    r = invoke("check", source, "--annotate", tmp_path / "x.xlsx")
    assert r.exit_code == 2 and "只能为 .xlsx 或 .xlsm 工作簿写标注副本" in r.output, r.output
    assert not (tmp_path / "x.xlsx").exists()


def test_annotate_a_folder_into_a_folder_never_reads_the_copies_back(tmp_path):
    """Issue point 18: a folder is several files, so --annotate names a folder; copies written inside the checked
    folder are not checked as inputs the next time."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(XQ001, inbox / "a.xlsx")
    r = invoke("check", inbox, "--annotate", inbox / "标注.xlsx")
    assert r.exit_code == 2 and "须指定文件夹" in r.output, r.output
    for _ in range(2):
        r = invoke("check", inbox, "--annotate", inbox / "标注", "--format", "json")
        assert r.exit_code == 0, r.output
        assert [f["path"] for f in json.loads(r.stdout)["files"]] == [f"{inbox}/a.xlsx"]
    assert sorted(p.name for p in (inbox / "标注").iterdir()) == ["a_问题标注.xlsx"]
