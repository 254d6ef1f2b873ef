"""§9 "Interruption": kill -9, SIGTERM and Ctrl+C at any moment of a real run of the installed command.

Each run gets a temporary folder of its own (TMPDIR), so only this test's leftovers are looked at.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import openpyxl
import pytest

ROOT = Path(__file__).parents[1]
SUBMITTED = ROOT / "samples" / "submitted"
ROSTER = ROOT / "samples" / "roster.csv"
SHEETPLAN = Path(sys.executable).with_name("sheetplan")

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def _start(args: list[str | Path], tmp: Path) -> subprocess.Popen[str]:
    # A session of its own: Ctrl+C in a terminal reaches the whole process group, as killpg does here.
    return subprocess.Popen([str(SHEETPLAN), *map(str, args)], env={**os.environ, "TMPDIR": str(tmp)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def _finish(proc: subprocess.Popen[str]) -> tuple[int, str]:
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err


def _wait_until(proc: subprocess.Popen[str], ready: Callable[[], bool], timeout: float = 60) -> bool:
    """Poll (every 2 ms) until ``ready()`` or the process ends; True when ``ready()`` came first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            if ready():
                return True
        except OSError:
            pass
        time.sleep(0.002)
    return False


def _ours(folder: Path, prefix: str, pid: int) -> Callable[[], bool]:
    """A moment: an entry named ``<prefix><pid>-…`` appeared in ``folder`` (a run folder, a temporary output)."""
    return lambda: any(n.startswith(f"{prefix}{pid}-") for n in os.listdir(folder))


def _after(seconds: float) -> Callable[[], bool]:
    start = time.monotonic()
    return lambda: time.monotonic() - start >= seconds


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _temporary(out: Path, tmp: Path, export_folders: bool = True) -> list[str]:
    """Temporary files and folders of any run left in ``out`` and in the run's own temporary folder.

    ``export_folders=False`` leaves out the temporary folders an export is written in (the only folders a
    merge makes next to its outputs): their clearing is checked by the export test.
    """
    found = [p for p in out.rglob(".~sheetplan-*") if export_folders or not p.is_dir()]
    return sorted([str(p.relative_to(out)) for p in found] + [n for n in os.listdir(tmp) if n.startswith("sheetplan-")])


def _workbook_ok(path: Path, old: str) -> None:
    """The district workbook is the old one, byte for byte, or a complete new one."""
    if _sha(path) != old:
        wb = openpyxl.load_workbook(path, read_only=True)
        assert "汇总" in wb.sheetnames
        wb.close()


def _merge_args(out: Path) -> list[str | Path]:
    return ["merge", SUBMITTED, "--roster", ROSTER, "-o", out / "区汇总.xlsx", "--export", out / "export"]


def _complete_run(out: Path, tmp: Path) -> float:
    start = time.monotonic()
    rc, err = _finish(_start(_merge_args(out), tmp))
    assert rc in (0, 1), err
    return time.monotonic() - start


def _moments(proc: subprocess.Popen[str], out: Path, tmp: Path, seconds: float) -> dict[str, Callable[[], bool]]:
    return {
        "started": _ours(tmp, "sheetplan-run-", proc.pid),  # its own temporary folder is there
        "writing": _ours(out, ".~sheetplan-", proc.pid),  # a temporary output is being written
        "half-way": _after(seconds * 0.5),
        "near the end": _after(seconds * 0.9),
    }


MOMENTS = ["started", "writing", "half-way", "near the end"]


def test_a_killed_merge_leaves_the_old_output_or_a_new_complete_one(tmp_path):
    """Issue point 17: kill -9 at several moments of a merge: the old workbook stays intact (or a complete new one
    is in place), and the next complete run clears every temporary file and folder the killed runs left."""
    out, tmp = tmp_path / "OUT", tmp_path / "tmp"
    tmp.mkdir()
    seconds = _complete_run(out, tmp)
    killed_mid_run = 0
    for moment in MOMENTS:
        old = _sha(out / "区汇总.xlsx")
        proc = _start(_merge_args(out), tmp)
        if _wait_until(proc, _moments(proc, out, tmp, seconds)[moment]) and proc.poll() is None:
            proc.kill()
            killed_mid_run += 1
        _finish(proc)
        _workbook_ok(out / "区汇总.xlsx", old)
    assert killed_mid_run >= 2, "the merge ended before it could be interrupted: the test proves nothing"
    _complete_run(out, tmp)
    assert _temporary(out, tmp, export_folders=False) == []


def test_sigterm_ends_a_merge_with_143_and_no_temporary_files(tmp_path):
    """Issue point 17: SIGTERM at several moments of a merge: exit 143, a short message, no temporary file or
    folder left (without waiting for a later run), and the old workbook intact or a complete new one."""
    out, tmp = tmp_path / "OUT", tmp_path / "tmp"
    tmp.mkdir()
    seconds = _complete_run(out, tmp)
    stopped = 0
    for moment in MOMENTS[:3]:
        old = _sha(out / "区汇总.xlsx")
        proc = _start(_merge_args(out), tmp)
        signalled = _wait_until(proc, _moments(proc, out, tmp, seconds)[moment]) and proc.poll() is None
        if signalled:
            proc.send_signal(signal.SIGTERM)
        rc, err = _finish(proc)
        if signalled and rc not in (0, 1):  # 0/1: the run had just finished when the signal came
            assert rc == 143, (moment, rc, err)
            assert "终止" in err and "Traceback" not in err, err
            stopped += 1
        _workbook_ok(out / "区汇总.xlsx", old)
        assert _temporary(out, tmp, export_folders=False) == [], moment
    assert stopped >= 2, "the merge ended before it could be stopped: the test proves nothing"


def _interrupt(args: list[str | Path], tmp: Path, ready: Callable[[subprocess.Popen[str]], Callable[[], bool]],
               send: Callable[[subprocess.Popen[str]], None], pause: float = 0.0) -> tuple[int, str]:
    """Start a run, signal it at the moment ``ready`` says (after ``pause``); return its exit code and stderr.

    On a busy machine a run can end before the signal is sent: that attempt proves nothing and is repeated.
    """
    for _ in range(5):
        proc = _start(args, tmp)
        if _wait_until(proc, ready(proc)):
            time.sleep(pause)
            if proc.poll() is None:
                send(proc)
                return _finish(proc)
        _finish(proc)
    raise AssertionError("the run always ended before it could be interrupted: the test proves nothing")


def _ctrl_c(proc: subprocess.Popen[str]) -> None:
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal does: the whole process group


def test_ctrl_c_ends_a_merge_with_130_and_no_temporary_files(tmp_path):
    """Issue point 17: Ctrl+C (SIGINT to the whole process group, workers included) exits 130, not 1, and leaves
    no temporary file or folder and no traceback."""
    out, tmp = tmp_path / "OUT", tmp_path / "tmp"
    tmp.mkdir()
    _complete_run(out, tmp)
    old = _sha(out / "区汇总.xlsx")
    rc, err = _interrupt(_merge_args(out), tmp, lambda proc: _ours(out, ".~sheetplan-", proc.pid), _ctrl_c)
    assert rc == 130, err
    assert "中断" in err and "Traceback" not in err, err
    _workbook_ok(out / "区汇总.xlsx", old)
    assert _temporary(out, tmp) == []


def _export_consistent(export: Path) -> None:
    """The export folder is one run's (its manifest matches every file) or says it is not (no manifest)."""
    manifest = export / "manifest.json"
    if not manifest.exists():
        return
    listed = json.loads(manifest.read_text(encoding="utf-8"))
    for f in listed["files"]:
        assert _sha(export / f["name"]) == f["sha256"], f["name"]
    ours = {p.name for p in export.iterdir() if p.suffix in (".csv", ".parquet")}
    assert ours == {f["name"] for f in listed["files"]}


def test_a_killed_merge_leaves_an_export_of_one_run_or_one_marked_as_not(tmp_path):
    """Issue point 17: after kill -9 at any moment, the --export folder is one run's export or is marked as not,
    and the next complete run clears the temporary folder a killed export was being written in."""
    out, tmp = tmp_path / "OUT", tmp_path / "tmp"
    tmp.mkdir()
    seconds = _complete_run(out, tmp)
    for moment in MOMENTS:
        proc = _start(_merge_args(out), tmp)
        if _wait_until(proc, _moments(proc, out, tmp, seconds)[moment]):
            proc.kill()
        _finish(proc)
        _export_consistent(out / "export")
    _complete_run(out, tmp)
    assert _temporary(out, tmp) == []


def _wait_for_the_group(pgid: int, timeout: float = 10) -> None:
    """Wait until no process of the killed run's group is left (orphaned workers end within a second)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise AssertionError("worker processes of a killed run are still running")


def _roster(path: Path, n: int) -> Path:
    path.write_text("单位代码,单位名称\n" + "".join(f"XQ{i:04d},测试学校{i}\n" for i in range(n)), encoding="utf-8")
    return path


@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT to the group", "SIGKILL"])
def test_an_interrupted_roster_run_writes_nothing(tmp_path, how):
    """Issue points 8 and 17: `new --roster` (two worker processes) interrupted while writing: nothing of it in the
    folder (143 / 130), or — after kill -9 — only its temporary folder, which the next run clears."""
    out, tmp = tmp_path / "OUT", tmp_path / "tmp"
    out.mkdir()
    tmp.mkdir()
    (out / "学校自己的文件.xlsx").write_bytes(b"not ours")
    args: list[str | Path] = ["new", "--roster", _roster(tmp_path / "r.csv", 3000), "--year", "2025", "-o", out, "--jobs", "2"]
    sent: list[int] = []

    def send(proc: subprocess.Popen[str]) -> None:
        sent.append(proc.pid)
        if how == "SIGTERM":
            proc.send_signal(signal.SIGTERM)
        elif how == "SIGKILL":
            proc.kill()
        else:
            _ctrl_c(proc)

    # well inside the writing: some templates are done
    rc, err = _interrupt(args, tmp, lambda proc: _ours(out, ".~sheetplan-", proc.pid), send, pause=0.1)
    names = sorted(p.name for p in out.iterdir())
    if how == "SIGKILL":
        assert len(names) == 2 and names[0].startswith(".~sheetplan-"), names
        _wait_for_the_group(sent[-1])  # its workers notice their parent is gone and stop
        rc2, err2 = _finish(_start(args, tmp))
        assert rc2 == 0, err2
        assert len(list(out.iterdir())) == 3001 and _temporary(out, tmp) == []
        return
    assert rc == (143 if how == "SIGTERM" else 130), err
    assert "Traceback" not in err, err
    assert names == ["学校自己的文件.xlsx"]
    assert _temporary(out, tmp) == []
