"""The command line: documented, fast to start, errors as messages."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click

from sheetplan.cli import cli

README = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")


def _commands(group: click.Group, prefix: str = "sheetplan"):
    for name, cmd in group.commands.items():
        full = f"{prefix} {name}"
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, full)
        else:
            yield full, cmd


def test_every_command_and_option_is_documented_in_readme():
    missing = []
    for name, cmd in _commands(cli):
        if f"`{name}" not in README:
            missing.append(name)
        for param in cmd.params:
            if isinstance(param, click.Option):
                for opt in param.opts:
                    if opt.startswith("--") and f"`{opt}" not in README:
                        missing.append(f"{name} {opt}")
    assert missing == []


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
