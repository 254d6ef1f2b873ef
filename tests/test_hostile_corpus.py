"""Every hostile input at once, as a district's inbox would hold them: `check` and `merge` over all of them.

Whatever the inbox holds — bombs, encrypted and damaged files, other formats, a pipe, a broken link, a name
in GBK bytes, the same name in two folders — no command prints a traceback, each exits with its documented
code, every row read is merged or rejected, the inputs are byte-identical afterwards, and the output folder
holds exactly the promised files.
"""

from __future__ import annotations

import csv
import hashlib
import inspect
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import badfiles
from sheetplan.cli import cli
from sheetplan.report.check import check_file, rows_read

SAMPLES = Path(__file__).parents[1] / "samples"
SHEETPLAN = Path(sys.executable).with_name("sheetplan")
NOT_IN_A_FOLDER = {"missing"}  # builds nothing: a path that does not exist is a usage error on the command line


def _builders() -> list:
    out = []
    for name, fn in inspect.getmembers(badfiles, inspect.isfunction):
        if fn.__module__ != badfiles.__name__ or name.startswith("_") or name in NOT_IN_A_FOLDER:
            continue
        params = list(inspect.signature(fn).parameters.values())
        if params and params[0].name == "folder" and all(p.default is not p.empty for p in params[1:]):
            out.append(fn)
    return out


def _hashes(folder: Path) -> dict[str, str]:
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file() and not p.is_symlink():
            out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@pytest.fixture(scope="module")
def inbox(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("hostile")
    inbox = root / "inbox"
    shutil.copytree(SAMPLES / "submitted", inbox / "样例")
    bad = inbox / "坏文件"
    bad.mkdir()
    for build in _builders():
        build(bad)
    os.mkfifo(bad / "管道.xlsx")
    (bad / "失效链接.xlsx").symlink_to(root / "nowhere.xlsx")
    with open(os.path.join(os.fsencode(bad), "报送".encode("gbk") + b".xlsx"), "wb") as fh:
        fh.write((SAMPLES / "submitted" / "城区片" / "XQ001_新桥区第一实验小学_2025.xlsx").read_bytes())
    (inbox / "另一片").mkdir()
    shutil.copy(SAMPLES / "submitted" / "城区片" / "XQ003_新桥区育才小学_2025.xlsx", inbox / "另一片" / "报送.xlsx")
    shutil.copy(SAMPLES / "submitted" / "城区片" / "XQ005_新桥区阳光幼儿园_2025.xlsx", inbox / "坏文件" / "报送.xlsx")
    return inbox


def _entries(inbox: Path) -> dict[str, Path]:
    """What merge reads in the inbox, by the name it shows (hidden and temporary names left out)."""
    from sheetplan.files import display_path

    return {display_path(os.path.relpath(p, inbox)): p for p in sorted(inbox.rglob("*"))
            if not any(part.startswith(("~$", ".")) for part in p.relative_to(inbox).parts)
            and (p.is_symlink() or not p.is_dir())}


def test_check_every_hostile_file(inbox, layout):
    """Integrity: `check` on each file alone — no traceback, exit 2 for a file that cannot be read, 0 or 1 otherwise."""
    before = _hashes(inbox)
    entries = list(_entries(inbox).values()) + [p for p in inbox.rglob("*.xlsx") if p.is_dir()]
    assert len(entries) > 40
    for path in entries:
        r = CliRunner().invoke(cli, ["check", str(path)])
        assert r.exception is None or isinstance(r.exception, SystemExit), (path, r.output)
        assert "Traceback" not in r.output, path
        data = check_file(path, layout)
        assert r.exit_code == (2 if not data.readable else 1 if data.report.has_errors else 0), (path, r.exit_code, r.output)
    assert _hashes(inbox) == before


def test_merge_the_whole_hostile_inbox(inbox, tmp_path, layout):
    """Integrity: `merge` over the whole inbox — exit 1 (written, some files unreadable), read = merged + rejected
    per table, every entry listed once in 提交情况, inputs unchanged, only the promised files written."""
    before = _hashes(inbox)
    out = tmp_path / "out"
    r = subprocess.run([str(SHEETPLAN), "merge", str(inbox), "-o", str(out / "区汇总.xlsx"), "--export", str(out / "export")],
                       capture_output=True, text=True, timeout=900)
    assert "Traceback" not in r.stdout + r.stderr, r.stderr
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert _hashes(inbox) == before

    def rows(name: str) -> list[dict[str, str]]:
        return list(csv.DictReader((out / "export" / name).read_text(encoding="utf-8-sig").splitlines()))

    subs = rows("submissions.csv")
    assert len({s["source_file"] for s in subs}) == len(subs)
    entries = _entries(inbox)
    assert {s["source_file"] for s in subs} == set(entries)
    kept = [s["source_file"] for s in subs if s["status"] == "已提交"]
    problems = rows("problems.csv")
    for t in layout.tables:
        read = sum(rows_read(check_file(entries[name], layout, name)).get(t.key, 0) for name in kept)
        merged = rows(f"{t.key}.csv")
        rejected = {(p["source_file"], p["row"]) for p in problems if p["raw"] and p["sheet"] == t.name["zh"]}
        assert read == len(merged) + len(rejected) > 0, t.key
    assert sorted(p.name for p in out.iterdir()) == ["export", "区汇总.xlsx"]
    assert sorted(p.name for p in (out / "export").iterdir()) == sorted(
        [f"{t.key}.csv" for t in layout.tables] + ["manifest.json", "problems.csv", "submissions.csv"])
    assert not [p for p in tmp_path.rglob(".~*")]
