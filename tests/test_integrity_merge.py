"""Nothing double-counted, nothing lost, no traceback: the merge's integrity points (§9).

Each test names the point of the integrity issue it holds (the defects found by trying the tool as a
district, a clerk and an attacker would). The folder cases run through the command line, as a user runs it.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

import sheetplan.merge as merge_module
import standins
from sheetplan.cli import cli
from sheetplan.merge import FileResult, combine, merge, read_all, read_one
from sheetplan.problems import problem
from sheetplan.report.check import check_file

SAMPLES = Path(__file__).parents[1] / "samples"
SUBMITTED = SAMPLES / "submitted"
ROSTER = SAMPLES / "roster.csv"
DRAFT = SUBMITTED / "城南片" / "XQ002_新桥区实验中学_2025_初稿.xlsx"
FINAL = SUBMITTED / "城南片" / "XQ002_新桥区实验中学_2025.xlsx"
XQ001 = SUBMITTED / "城区片" / "XQ001_新桥区第一实验小学_2025.xlsx"
XQ003 = SUBMITTED / "城区片" / "XQ003_新桥区育才小学_2025.xlsx"
SHEETPLAN = Path(sys.executable).with_name("sheetplan")


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def _csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.read_text(encoding="utf-8-sig").splitlines()))


def _accepted(path: Path, layout, table: str) -> int:
    data = check_file(path, layout)
    return sum(1 for r in data.tables[table].records if not r.rejected)


def _summary_rows(path: Path) -> dict[str, dict[str, object]]:
    ws = openpyxl.load_workbook(path, data_only=True)["汇总"]
    head = [c.value for c in ws[2]]
    return {row[0]: dict(zip(head, row, strict=True)) for row in ws.iter_rows(min_row=3, values_only=True) if row[0] != "合计"}


# ----------------------------------------------------------------------------- point 1


def test_same_file_name_in_two_folders_is_counted_once(tmp_path, layout):
    """Issue point 1: a draft in a/报送.xlsx and the final version in b/报送.xlsx are two inputs; only the final
    version's rows are in the detail, the totals and the export."""
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    shutil.copy(DRAFT, a / "报送.xlsx")
    shutil.copy(FINAL, b / "报送.xlsx")
    r = run("merge", str(a), str(b), "-o", str(tmp_path / "d.xlsx"), "--export", str(tmp_path / "exp"))
    assert r.exit_code in (0, 1), r.output
    subs = {s["source_file"]: s["status"] for s in _csv(tmp_path / "exp" / "submissions.csv")}
    assert subs == {"a/报送.xlsx": "已被替代", "b/报送.xlsx": "已提交"}
    want = _accepted(FINAL, layout, "plan")
    plan = _csv(tmp_path / "exp" / "plan.csv")
    assert len(plan) == want and {p["source_file"] for p in plan} == {"b/报送.xlsx"}
    assert _summary_rows(tmp_path / "d.xlsx")["XQ002"]["计划事项"] == want
    detail = openpyxl.load_workbook(tmp_path / "d.xlsx")["工作计划"]
    assert detail.max_row - 1 == want


def test_two_schools_with_the_same_file_name_are_both_merged(tmp_path, layout):
    """Issue point 1: s1/b.xlsx and s2/b.xlsx of two different schools crashed the merge
    ("detail rows written differ from the merged rows"); both are merged, each under its own name."""
    for folder, src in (("s1", XQ001), ("s2", XQ003)):
        (tmp_path / folder).mkdir()
        shutil.copy(src, tmp_path / folder / "b.xlsx")
    r = run("merge", str(tmp_path / "s1"), str(tmp_path / "s2"), "-o", str(tmp_path / "d.xlsx"))
    assert r.exit_code in (0, 1) and "Traceback" not in r.output, r.output
    wb = openpyxl.load_workbook(tmp_path / "d.xlsx")
    rows = list(wb["经费台账"].iter_rows(min_row=2, values_only=True))
    sources = [row[-2] for row in rows]
    assert sources.count("s1/b.xlsx") == _accepted(XQ001, layout, "ledger")
    assert sources.count("s2/b.xlsx") == _accepted(XQ003, layout, "ledger")
    assert len(rows) == _accepted(XQ001, layout, "ledger") + _accepted(XQ003, layout, "ledger")


def test_source_file_is_relative_to_the_common_folder(tmp_path):
    """Issue point 1 (§6 source_file): names are relative to the nearest folder holding every input, unique."""
    (tmp_path / "x" / "a").mkdir(parents=True)
    (tmp_path / "y").mkdir()
    shutil.copy(XQ001, tmp_path / "x" / "a" / "报送.xlsx")
    shutil.copy(XQ003, tmp_path / "y" / "报送.xlsx")
    found = merge_module.find_inputs([tmp_path / "x", tmp_path / "y" / "报送.xlsx"])
    assert [s for _, s in found] == ["x/a/报送.xlsx", "y/报送.xlsx"]
    assert [s for _, s in merge_module.find_inputs([tmp_path / "x"])] == ["a/报送.xlsx"]


def test_a_broken_accounting_stops_the_merge_before_anything_is_written(tmp_path, monkeypatch):
    """Issue point 1: read = merged + rejected is checked before writing; if it does not hold, exit 2 and no output."""
    real = merge_module.RowStore.__len__
    monkeypatch.setattr(merge_module.RowStore, "__len__", lambda self: real(self) + 1)  # one row too many
    r = CliRunner().invoke(cli, ["merge", str(SUBMITTED), "-o", str(tmp_path / "d.xlsx"), "--export", str(tmp_path / "e")])
    assert r.exit_code == 2 and "行数核对不成立" in r.output, r.output
    assert not (tmp_path / "d.xlsx").exists() and not (tmp_path / "e" / "manifest.json").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".~")] == []


# ----------------------------------------------------------------------------- point 5


def _file(index: int, code: str, year: int | None, prepared: str | None, modified: str = "2026-01-01T00:00:00",
          problems: list | None = None) -> FileResult:
    r = FileResult(f"/in/{index}.xlsx", f"{index}.xlsx", readable=True, org_code=code, org_name=code, year=year,
                   prepared_on=prepared, modified=modified, index=index)
    r.problems = problems or []
    return r


def test_a_file_of_an_earlier_year_never_replaces_a_later_one(layout):
    """Issue point 5: a 2024 file with a later 填报日期 does not replace the school's 2025 file."""
    files = [_file(0, "S1", 2025, "2025-12-01"), _file(1, "S1", 2024, "2026-01-10", "2026-02-01T00:00:00")]
    result = combine(files, layout)
    try:
        assert [f.status for f in result.files] == ["submitted", "superseded"]
        assert result.schools[0].source_file == "0.xlsx"
    finally:
        result.spill.close()


def test_problems_of_a_superseded_file_are_not_counted(layout):
    """Issue point 5: exit code and counts follow the kept file only: a clean final version exits 0."""
    bad = [problem("required", "必填", "required", file="0.xlsx") for _ in range(5)]
    files = [_file(0, "S1", 2025, "2025-03-01", problems=bad), _file(1, "S1", 2025, "2025-12-01")]
    result = combine(files, layout)
    try:
        assert result.exit_code == 0
        assert [p.code for p in result.problems] == ["superseded"]
        assert result.schools[0].errors == 0
    finally:
        result.spill.close()


def test_the_merge_summary_counts_only_the_kept_files(tmp_path, layout):
    """Issue point 5, through the command line: the 错误 count printed is the kept file's."""
    r = run("merge", str(DRAFT), str(FINAL), "-o", str(tmp_path / "d.xlsx"))
    kept = check_file(FINAL, layout)
    errors = kept.report.count("error")
    assert f"错误 {errors} 个" in r.output, r.output
    assert r.exit_code == (1 if errors else 0)


def test_a_file_of_another_year_is_flagged(layout):
    """Issue point 5: a school whose only file is of another year is merged with a warning."""
    files = [_file(0, "S1", 2025, None), _file(1, "S2", 2025, None), _file(2, "S3", 2024, None)]
    result = combine(files, layout)
    try:
        assert [(p.code, p.file) for p in result.problems] == [("other_year", "2.xlsx")]
    finally:
        result.spill.close()


# ----------------------------------------------------------------------------- point 6


def test_any_info_field_can_be_a_district_column(tmp_path, layout):
    """Issue point 6: an `info:` column other than opening_balance (here 会员人数) shows each school's value."""
    from sheetplan.layout import builtin_source

    text = builtin_source("school")
    line = "    - {key: opening, label: {zh: 上年结余, en: Opening balance}, info: opening_balance, format: money}\n"
    assert line in text
    text = text.replace(line, line + "    - {key: members, label: {zh: 会员人数, en: Members}, info: members}\n")
    mine = tmp_path / "mine.yaml"
    mine.write_text(text, encoding="utf-8")
    r = run("merge", str(XQ001), str(XQ003), "--layout", str(mine), "-o", str(tmp_path / "d.xlsx"))
    assert r.exit_code in (0, 1), r.output
    summary = _summary_rows(tmp_path / "d.xlsx")
    for code, path in (("XQ001", XQ001), ("XQ003", XQ003)):
        members = check_file(path, layout).info["members"]
        assert isinstance(members, int) and members > 0
        assert summary[code]["会员人数"] == members


# ----------------------------------------------------------------------------- point 9


def test_a_file_name_that_is_not_utf8_is_read_and_shown_escaped(tmp_path):
    """Issue point 9: a GBK file name (报送.xlsx in GBK bytes) crashed the merge; it is read like any other,
    shown with its bytes escaped, and every output is valid UTF-8."""
    folder = tmp_path / "in"
    folder.mkdir()
    gbk = os.path.join(os.fsencode(folder), "报送".encode("gbk") + b".xlsx")
    with open(gbk, "wb") as fh:
        fh.write(XQ001.read_bytes())
    r = run("merge", str(folder), "-o", str(tmp_path / "d.xlsx"), "--export", str(tmp_path / "exp"))
    assert r.exit_code in (0, 1) and "Traceback" not in r.output, r.output
    shown = "\\xb1\\xa8\\xcb\\xcd.xlsx"
    subs = _csv(tmp_path / "exp" / "submissions.csv")
    assert [(s["source_file"], s["status"]) for s in subs] == [(shown, "已提交")]
    assert _csv(tmp_path / "exp" / "ledger.csv")[0]["source_file"] == shown
    assert openpyxl.load_workbook(tmp_path / "d.xlsx")["提交情况"]["A2"].value == shown


# ----------------------------------------------------------------------------- points 10 and 20


def test_a_fifo_on_the_command_line_is_reported_not_waited_on(tmp_path):
    """Issue point 10: `check f.xlsx` and `merge f.xlsx …` on a named pipe hung for ever; now one problem each."""
    fifo = tmp_path / "f.xlsx"
    os.mkfifo(fifo)
    shutil.copy(XQ001, tmp_path / "good.xlsx")
    r = subprocess.run([str(SHEETPLAN), "check", str(fifo)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "管道" in r.stdout and "Traceback" not in r.stderr, (r.stdout, r.stderr)
    r = subprocess.run([str(SHEETPLAN), "merge", str(fifo), str(tmp_path / "good.xlsx"), "-o", str(tmp_path / "d.xlsx")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "Traceback" not in r.stderr, (r.stdout, r.stderr)
    subs = openpyxl.load_workbook(tmp_path / "d.xlsx")["提交情况"]
    assert [(row[0], row[-1]) for row in subs.iter_rows(min_row=2, max_row=3, values_only=True)] == [
        ("f.xlsx", "无法读取"), ("good.xlsx", "已提交")]


def test_nothing_in_a_folder_is_skipped_silently(tmp_path, monkeypatch, layout):
    """Issue point 20: a dangling link, a FIFO and a sub-folder that cannot be opened are each reported."""
    inbox = tmp_path / "inbox"
    (inbox / "锁住").mkdir(parents=True)
    shutil.copy(XQ001, inbox / "a.xlsx")
    shutil.copy(XQ003, inbox / "锁住" / "c.xlsx")
    (inbox / "失效.xlsx").symlink_to(tmp_path / "nowhere.xlsx")
    os.mkfifo(inbox / "管道.xlsx")
    real_scandir = os.scandir
    locked = str(inbox / "锁住")

    def scandir(path="."):  # root reads any folder: play the permission error os.walk would meet
        if isinstance(path, (str, os.PathLike)) and os.fspath(path) == locked:
            raise PermissionError(13, "Permission denied", locked)
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    result = merge([inbox], layout=layout, jobs=1)
    try:
        status = {f.source_file: f.status for f in result.files}
        assert status == {"a.xlsx": "submitted", "失效.xlsx": "unreadable", "管道.xlsx": "unreadable", "锁住": "unreadable"}
        codes = {p.file: p.code for p in result.problems if p.code == "not_a_file"}
        assert codes == {"失效.xlsx": "not_a_file", "管道.xlsx": "not_a_file", "锁住": "not_a_file"}
        messages = {p.file: p.message_zh for p in result.problems if p.code == "not_a_file"}
        assert "失效的链接" in messages["失效.xlsx"] and "管道" in messages["管道.xlsx"] and "文件夹" in messages["锁住"]
    finally:
        result.spill.close()


# ----------------------------------------------------------------------------- point 12


def test_a_timeout_inside_the_reader_is_a_timeout(monkeypatch, layout):
    """Issue point 12: the alarm fires inside the reader's own ``except Exception`` guard; it is reported as
    ``timeout``, not as a damaged file ("Reading … failed: _Timeout")."""
    import sheetplan.reading.workbook as reader

    real = reader._place_sheets

    def slow(*args, **kwargs):
        time.sleep(5)
        return real(*args, **kwargs)

    monkeypatch.setattr(reader, "_place_sheets", slow)
    start = time.monotonic()
    res = read_one((str(XQ001), XQ001.name), layout, timeout=1)
    assert time.monotonic() - start < 4
    assert [p.code for p in res.problems] == ["timeout"] and res.status == "unreadable"


# ----------------------------------------------------------------------------- point 13


@pytest.mark.parametrize("method", ["fork", "forkserver", "spawn"])
def test_a_file_that_kills_or_hangs_its_worker_costs_only_itself_under_every_start_method(tmp_path, layout, method):
    """Issue point 13: crash recovery works whatever the start method (Python 3.14 defaults to forkserver)."""
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.xlsx", standins.CRASH, standins.HANG, "b.xlsx"):
        shutil.copy(XQ001, folder / name)
    files = [(p, p.name) for p in sorted(folder.iterdir())]
    results = read_all(files, layout, jobs=2, timeout=1, grace=1, check=standins.misbehaving_check, start_method=method)
    assert [r.source_file for r in results] == [s for _, s in files]
    by_name = {r.source_file: r for r in results}
    assert [p.code for p in by_name[standins.CRASH].problems] == ["reader_crashed"]
    assert [p.code for p in by_name[standins.HANG].problems] == ["timeout"]
    assert by_name["a.xlsx"].readable and by_name["b.xlsx"].readable
    assert by_name["a.xlsx"].n_rows == by_name["b.xlsx"].n_rows and by_name["a.xlsx"].n_rows["ledger"] > 0


def test_workers_that_all_die_still_give_every_file_a_result(tmp_path, layout):
    """Issue point 13: a pool that breaks while work is still being handed out (submit raising
    BrokenProcessPool) is not a traceback: every file gets its result, in order."""
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(12):
        shutil.copy(XQ001, folder / f"{i:02}.xlsx")
    files = [(p, p.name) for p in sorted(folder.iterdir())]
    results = read_all(files, layout, jobs=2, check=standins.exit_at_once, start_method="fork")
    assert [r.source_file for r in results] == [s for _, s in files]
    assert all([p.code for p in r.problems] == ["reader_crashed"] for r in results)


def test_merge_in_one_process_from_a_thread_leaves_the_hosts_alarm_alone(layout):
    """Issue point 13: merge(jobs=1) from a thread failed (signal only works in main thread), and in the main
    thread it replaced the host program's SIGALRM handler."""
    def host(signum, frame):
        pass

    old = signal.signal(signal.SIGALRM, host)
    try:
        out: list = []
        t = threading.Thread(target=lambda: out.append(merge([XQ001], layout=layout, jobs=1)))
        t.start()
        t.join(120)
        assert out and out[0].files[0].readable
        out[0].spill.close()
        result = merge([XQ001], layout=layout, jobs=1)
        result.spill.close()
        assert result.files[0].readable and signal.getsignal(signal.SIGALRM) is host
    finally:
        signal.signal(signal.SIGALRM, old)


# ----------------------------------------------------------------------------- point 18


def _run_of_workbook(path: Path) -> str:
    from sheetplan.reading.identity import read_identity_properties

    return read_identity_properties(path)["run"]


def test_workbook_and_export_of_one_run_say_so(tmp_path):
    """Issue point 18: a run id in 提交情况, in the workbook's properties and in the export's manifest; the
    manifest names every file with its SHA-256."""
    import hashlib

    r = run("merge", str(SUBMITTED), "-o", str(tmp_path / "d.xlsx"), "--export", str(tmp_path / "exp"))
    assert r.exit_code == 1, r.output
    manifest = json.loads((tmp_path / "exp" / "manifest.json").read_text(encoding="utf-8"))
    run_id = _run_of_workbook(tmp_path / "d.xlsx")
    assert manifest["run"] == run_id and manifest["workbook"] == "d.xlsx"
    subs = openpyxl.load_workbook(tmp_path / "d.xlsx")["提交情况"]
    assert run_id in [row[0] for row in subs.iter_rows(values_only=True)][-1]
    for f in manifest["files"]:
        assert hashlib.sha256((tmp_path / "exp" / f["name"]).read_bytes()).hexdigest() == f["sha256"]
    assert {f["name"] for f in manifest["files"]} | {"manifest.json"} == {p.name for p in (tmp_path / "exp").iterdir()}
    r = run("merge", str(SUBMITTED), "-o", str(tmp_path / "d.xlsx"), "--export", str(tmp_path / "exp"))
    assert json.loads((tmp_path / "exp" / "manifest.json").read_text(encoding="utf-8"))["run"] != run_id


def test_an_export_that_fails_half_way_is_marked_as_not_one_run(tmp_path, monkeypatch):
    """Issue point 18: when moving the new files in fails half-way, the folder has no manifest (so it is not
    taken for one run's export), the old workbook stays, and no temporary folder is left."""
    out = tmp_path / "out"
    r = run("merge", str(SUBMITTED), "-o", str(out / "d.xlsx"), "--export", str(out / "exp"))
    before = (out / "d.xlsx").read_bytes()
    real = os.replace
    calls = []

    def failing(src, dst, *args, **kwargs):
        if Path(dst).parent == out / "exp":
            calls.append(dst)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", failing)
    r = CliRunner().invoke(cli, ["merge", str(SUBMITTED), "-o", str(out / "d.xlsx"), "--export", str(out / "exp")])
    assert r.exit_code == 2 and "Traceback" not in r.output, r.output
    assert not (out / "exp" / "manifest.json").exists()
    assert (out / "d.xlsx").read_bytes() == before
    assert [p.name for p in out.iterdir() if p.name.startswith(".~")] == []


# ----------------------------------------------------------------------------- point 19


def test_the_merges_own_output_inside_the_inbox_is_not_read(tmp_path):
    """Issue point 19: with -o and --export inside an input folder, a second run reads what the first read."""
    inbox = tmp_path / "inbox"
    shutil.copytree(SUBMITTED, inbox)
    args = ["merge", str(inbox), "--roster", str(ROSTER), "-o", str(inbox / "区汇总.xlsx"), "--export", str(inbox / "导出")]
    first = run(*args)
    second = run(*args)
    assert first.exit_code == second.exit_code == 1
    summary = [line for line in first.output.splitlines() if line.startswith("读取文件")]
    assert summary and summary == [line for line in second.output.splitlines() if line.startswith("读取文件")]
    subs = _csv(inbox / "导出" / "submissions.csv")
    assert not any("区汇总" in s["source_file"] or "导出" in s["source_file"] for s in subs)


def test_a_district_workbook_among_the_inputs_is_recognised(tmp_path):
    """Issue point 19: an earlier roll-up in the inbox is reported as a district workbook, not a broken school
    file, and changes neither the figures nor the exit code."""
    first = tmp_path / "first"
    run("merge", str(XQ001), "-o", str(first / "区汇总.xlsx"))
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(XQ001, inbox / "a.xlsx")
    shutil.copy(first / "区汇总.xlsx", inbox / "上次汇总.xlsx")
    r = run("merge", str(inbox), "-o", str(tmp_path / "d.xlsx"), "--export", str(tmp_path / "exp"))
    alone = run("merge", str(XQ001), "-o", str(tmp_path / "alone.xlsx"))
    assert r.exit_code == alone.exit_code, r.output
    subs = {s["source_file"]: s["status"] for s in _csv(tmp_path / "exp" / "submissions.csv")}
    assert subs == {"a.xlsx": "已提交", "上次汇总.xlsx": "区级汇总表，未汇总"}
    probs = [p for p in _csv(tmp_path / "exp" / "problems.csv") if p["source_file"] == "上次汇总.xlsx"]
    assert [(p["code"], p["severity"]) for p in probs] == [("district_workbook", "info")]
    assert _summary_rows(tmp_path / "d.xlsx")["XQ001"]["收入合计"] == _summary_rows(tmp_path / "alone.xlsx")["XQ001"]["收入合计"]


def test_the_district_workbook_carries_its_identity(tmp_path):
    """Issue point 19: the roll-up records what it is in its document properties."""
    run("merge", str(XQ001), "-o", str(tmp_path / "d.xlsx"))
    with zipfile.ZipFile(tmp_path / "d.xlsx") as zf:
        custom = zf.read("docProps/custom.xml").decode()
    assert "sheetplan.district" in custom and "sheetplan.run" in custom


def test_a_file_made_with_another_edition_of_the_layout_is_flagged(layout):
    """Presentation issue point 20: merge shows which layout each file used — a file whose identity carries
    another fingerprint than the merging layout's gets a warning naming both; one without a fingerprint (made
    before workbooks carried one) is left alone."""
    same = _file(0, "S1", 2025, None)
    same.layout_fingerprint = layout.fingerprint
    other = _file(1, "S2", 2025, None)
    other.layout_fingerprint = "0123456789ab"
    old = _file(2, "S3", 2025, None)
    result = combine([same, other, old], layout)
    try:
        found = [(p.code, p.file, p.value) for p in result.problems]
        assert found == [("layout_edition", "1.xlsx", "0123456789ab")]
        assert layout.fingerprint in result.problems[0].message_zh
    finally:
        result.spill.close()
