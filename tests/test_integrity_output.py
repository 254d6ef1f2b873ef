"""§9 integrity of outputs, as a clerk meets it on the command line.

Outputs that cannot be written, internal errors, `--annotate` next to its inputs, permissions of new
files, what killed runs leave behind, and file names that are not UTF-8.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from sheetplan.cli import cli

ROOT = Path(__file__).parents[1]
SAMPLES = ROOT / "samples"
SUBMITTED = SAMPLES / "submitted"
ROSTER = SAMPLES / "roster.csv"
XQ001 = SUBMITTED / "城区片" / "XQ001_新桥区第一实验小学_2025.xlsx"
XQ004 = SUBMITTED / "城南片" / "XQ004_新桥区城南中学_2025.xlsx"
SHEETPLAN = Path(sys.executable).with_name("sheetplan")
NEW = ["new", "--org-name", "测试学校", "--org-code", "XQ001", "--year", "2025"]


def run(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args])


def sheetplan(*args: str | Path, env: dict[str, str] | None = None, umask: int | None = None,
              **kw) -> subprocess.CompletedProcess[bytes]:
    """Run the installed command as a user does (bytes out: names that are not UTF-8 must survive)."""
    def child() -> None:
        if umask is not None:
            os.umask(umask)

    return subprocess.run([str(SHEETPLAN), *(os.fsencode(a) if isinstance(a, Path) else a for a in args)],
                          capture_output=True, env={**os.environ, **(env or {})}, preexec_fn=child, timeout=120, **kw)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob(".~sheetplan-*"))


def _no_traceback(text: str) -> None:
    assert "Traceback" not in text and "File \"" not in text, text


def _roster(path: Path, n: int) -> Path:
    path.write_text("单位代码,单位名称\n" + "".join(f"XQ{i:04d},测试学校{i}\n" for i in range(n)), encoding="utf-8")
    return path


# ----------------------------------------------------------------------------- small file systems


def _mount_tmpfs(folder: Path, options: str) -> bool:
    folder.mkdir(parents=True, exist_ok=True)
    if sys.platform != "linux" or os.geteuid() != 0:
        return False
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True)
    return r.returncode == 0


def _unmount(folder: Path) -> None:
    subprocess.run(["umount", "-l", str(folder)], capture_output=True)


class Disk:
    """A small disk: a real 2 MB tmpfs where it can be mounted, else writes that fail with ENOSPC past a budget."""

    def __init__(self, folder: Path, real: bool, monkeypatch: pytest.MonkeyPatch) -> None:
        self.folder, self.real, self._mp = folder, real, monkeypatch

    def fill(self, leave: int = 8 * 1024) -> None:
        """Leave only ``leave`` bytes free."""
        if self.real:
            st = os.statvfs(self.folder)
            free = st.f_bavail * st.f_frsize
            with open(self.folder / "filler.bin", "wb") as fh:
                fh.write(b"\0" * max(0, free - leave))
        else:
            self.budget(leave)

    def budget(self, nbytes: int) -> None:
        """Simulated: every output write fails once ``nbytes`` have been written in this process."""
        import sheetplan.files as files

        left = [nbytes]
        real_write = files._RawOutput.write

        def write(raw, b):  # type: ignore[no-untyped-def]
            left[0] -= len(b)
            if left[0] < 0:
                raw.failure = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                raise raw.failure
            return real_write(raw, b)

        self._mp.setattr(files._RawOutput, "write", write)


@pytest.fixture
def small_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Disk]:
    folder = tmp_path / "disk"
    real = _mount_tmpfs(folder, "size=2m,mode=0755")
    try:
        yield Disk(folder, real, monkeypatch)
    finally:
        if real:
            _unmount(folder)


@pytest.fixture
def read_only_disk(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "ro"
    if not _mount_tmpfs(folder, "ro,size=1m"):
        pytest.skip("a read-only file system cannot be mounted here (needs root on Linux)")
    try:
        yield folder
    finally:
        _unmount(folder)


def _without_root_powers() -> None:
    """In the child: give up root's right to ignore file permissions (so permission tests mean something)."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP: gone after exec
            os._exit(99)


def _can_drop_root_powers() -> bool:
    if os.geteuid() != 0:
        return True
    r = subprocess.run([sys.executable, "-c", "pass"], preexec_fn=_without_root_powers)
    return r.returncode == 0


# ----------------------------------------------------------------------------- point 8: outputs that cannot be written


def test_new_over_a_folder_says_so_and_exits_2(tmp_path):
    """Issue point 8: `new -o d.xlsx --force` with a folder d.xlsx/ is a message naming the path, exit 2."""
    (tmp_path / "d.xlsx").mkdir()
    (tmp_path / "d.xlsx" / "keep.txt").write_text("x")
    r = run(*NEW, "-o", tmp_path / "d.xlsx", "--force")
    assert r.exit_code == 2, r.output
    assert "d.xlsx" in r.output and "文件夹" in r.output
    _no_traceback(r.output)
    assert (tmp_path / "d.xlsx" / "keep.txt").read_text() == "x"
    assert _leftovers(tmp_path) == []


def test_check_annotate_onto_a_folder_says_so_and_exits_2(tmp_path):
    """Issue point 8: `check a.xlsx --annotate d.xlsx` where d.xlsx/ is a folder: exit 2, the path named."""
    a = tmp_path / "a.xlsx"
    shutil.copy(XQ001, a)
    (tmp_path / "d.xlsx").mkdir()
    r = run("check", a, "--annotate", tmp_path / "d.xlsx", "--lang", "en")
    assert r.exit_code == 2, r.output
    assert "d.xlsx" in r.output and "folder" in r.output
    _no_traceback(r.output)
    assert list((tmp_path / "d.xlsx").iterdir()) == [] and _leftovers(tmp_path) == []


def test_annotate_of_several_files_into_an_existing_file(tmp_path):
    """Issue point 8: `--annotate notes` with two inputs, where notes is a file: exit 2, the file untouched."""
    a, b = tmp_path / "a.xlsx", tmp_path / "b.xlsx"
    shutil.copy(XQ001, a)
    shutil.copy(XQ004, b)
    notes = tmp_path / "notes"
    notes.write_text("mine")
    r = run("check", a, b, "--annotate", notes)
    assert r.exit_code == 2, r.output
    assert "notes" in r.output and "不是文件夹" in r.output
    _no_traceback(r.output)
    assert notes.read_text() == "mine"


def test_output_under_a_regular_file(tmp_path):
    """Issue point 8: an output path that runs through a regular file (ENOTDIR) names the file in the way."""
    (tmp_path / "f").write_text("a file")
    for args in ([*NEW, "-o", tmp_path / "f" / "x.xlsx"],
                 ["merge", XQ001, "-o", tmp_path / "f" / "sub" / "区汇总.xlsx"],
                 ["new", "--roster", ROSTER, "--year", "2025", "-o", tmp_path / "f" / "out"]):
        r = run(*args)
        assert r.exit_code == 2, (args, r.output)
        assert "“" in r.output and "不是文件夹" in r.output and str(tmp_path / "f") in r.output, r.output
        _no_traceback(r.output)
    assert (tmp_path / "f").read_text() == "a file"


def test_full_disk_keeps_the_old_file(small_disk):
    """Issue point 8: a full disk while writing one workbook: 磁盘已满 with the path, exit 2, the old file intact."""
    out = small_disk.folder / "a.xlsx"
    assert run(*NEW, "-o", out).exit_code == 0
    before = _sha(out)
    small_disk.fill()
    r = run(*NEW, "--org-name", "另一所学校", "-o", out, "--force")
    assert r.exit_code == 2, r.output
    assert "磁盘已满" in r.output and str(out) in r.output
    _no_traceback(r.output)
    assert _sha(out) == before
    assert _leftovers(small_disk.folder) == []
    r = run("check", out, "--annotate", small_disk.folder / "标注" / "a.xlsx")
    assert r.exit_code == 2 and "磁盘已满" in r.output, r.output
    assert not (small_disk.folder / "标注").exists()  # the folder made for it goes too
    r = run("merge", XQ001, "-o", small_disk.folder / "区汇总.xlsx")
    assert r.exit_code == 2 and "磁盘已满" in r.output, r.output
    _no_traceback(r.output)
    assert not (small_disk.folder / "区汇总.xlsx").exists() and _leftovers(small_disk.folder) == []


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_full_disk_during_a_roster_run_writes_nothing(small_disk, tmp_path, jobs):
    """Issue point 8: `new --roster` of 200 schools on a disk with room for ~50: all or nothing, in every process count."""
    out = small_disk.folder / "out"
    out.mkdir()
    own = out / "学校自己的文件.xlsx"
    own.write_bytes(b"not ours")
    if not small_disk.real:
        small_disk.budget(50 * 37_000)
        if jobs != "1":
            pytest.skip("a simulated full disk reaches worker processes only on a real small file system")
    r = run("new", "--roster", _roster(tmp_path / "r.csv", 200), "--year", "2025", "-o", out, "--jobs", jobs)
    assert r.exit_code == 2, r.output
    assert "磁盘已满" in r.output and str(out) in r.output
    _no_traceback(r.output)
    assert sorted(p.name for p in out.iterdir()) == ["学校自己的文件.xlsx"]  # no template, no temporary folder
    assert own.read_bytes() == b"not ours"


def test_full_disk_during_a_forced_roster_run_keeps_the_old_templates(small_disk, tmp_path):
    """Issue point 8: `new --roster --force` over earlier templates on a full disk leaves every earlier file as it was."""
    out = small_disk.folder / "out"
    roster = _roster(tmp_path / "r.csv", 20)
    assert run("new", "--roster", roster, "--year", "2025", "-o", out, "--jobs", "1").exit_code == 0
    before = {p.name: _sha(p) for p in out.iterdir()}
    small_disk.fill(leave=64 * 1024)
    r = run("new", "--roster", roster, "--year", "2025", "-o", out, "--jobs", "1", "--force", "--lang", "en")
    assert r.exit_code == 2, r.output
    assert "disk is full" in r.output
    assert {p.name: _sha(p) for p in out.iterdir()} == before


def test_read_only_disk(read_only_disk):
    """Issue point 8: a read-only file system: 只读 with the path, exit 2, for one template, a roster and a merge."""
    for args in ([*NEW, "-o", read_only_disk / "a.xlsx"],
                 ["new", "--roster", ROSTER, "--year", "2025", "-o", read_only_disk / "out"],
                 ["merge", SUBMITTED, "-o", read_only_disk / "区汇总.xlsx"]):
        r = run(*args)
        assert r.exit_code == 2, (args, r.output)
        assert "只读" in r.output and str(read_only_disk) in r.output
        _no_traceback(r.output)


def test_no_permission_to_write(tmp_path):
    """Issue point 8: a folder the user may not write into: 没有写入权限 with the path, exit 2, nothing written."""
    if not _can_drop_root_powers():
        pytest.skip("running as root without the right to drop its file-permission powers")
    locked = tmp_path / "locked"
    locked.mkdir()
    os.chmod(locked, 0o555)
    try:
        for args in ([*NEW, "-o", locked / "a.xlsx"],
                     ["new", "--roster", ROSTER, "--year", "2025", "-o", locked],
                     ["check", XQ001, "--annotate", locked / "a.xlsx"],
                     ["merge", XQ001, "-o", locked / "区汇总.xlsx"]):
            r = subprocess.run([str(SHEETPLAN), *map(str, args)], capture_output=True, text=True,
                               preexec_fn=_without_root_powers, timeout=120)
            assert r.returncode == 2, (args, r.stdout, r.stderr)
            assert "没有写入权限" in r.stderr and str(locked) in r.stderr, r.stderr
            _no_traceback(r.stderr)
        assert list(locked.iterdir()) == []
    finally:
        os.chmod(locked, 0o755)


# ----------------------------------------------------------------------------- point 14: internal errors

BUG = """
import sheetplan.report.check as check
def bug(*args, **kwargs):
    raise RuntimeError("a bug in the report")
check.format_text = bug
from sheetplan.cli import main
main({argv!r})
"""


def _with_bug(argv: list[str], tmp: Path, umask: int = 0o022, **env: str) -> subprocess.CompletedProcess[str]:
    def child() -> None:
        os.umask(umask)

    return subprocess.run([sys.executable, "-c", BUG.format(argv=argv)], capture_output=True, text=True,
                          env={**os.environ, "TMPDIR": str(tmp), **env}, preexec_fn=child, timeout=120)


def test_an_internal_error_exits_3_with_a_saved_report(tmp_path):
    """Issue point 14: a bug is one line in Chinese saying it is the program's fault, a saved report, exit 3."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    r = _with_bug(["check", str(XQ001)], tmp, umask=0o027)
    assert r.returncode == 3, r.stderr
    _no_traceback(r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "程序内部错误" in lines[0] and "不是您的文件的问题" in lines[0], r.stderr
    reports = list(tmp.glob("sheetplan-error-*.txt"))
    assert len(reports) == 1 and str(reports[0]) in lines[0]
    text = reports[0].read_text(encoding="utf-8")
    assert "Traceback" in text and "a bug in the report" in text and "check" in text
    assert stat.S_IMODE(reports[0].stat().st_mode) == 0o640  # an ordinary file under the user's umask
    # click's own usage errors keep their exit code 2
    assert sheetplan("check", "--no-such-option").returncode == 2
    assert sheetplan("no-such-command").returncode == 2


def test_sheetplan_debug_prints_the_traceback(tmp_path):
    """Issue point 14: SHEETPLAN_DEBUG=1 prints the traceback; the line is in the chosen language; still exit 3."""
    r = _with_bug(["check", "--lang", "en", str(XQ001)], tmp_path, SHEETPLAN_DEBUG="1")
    assert r.returncode == 3, r.stderr
    assert "Traceback" in r.stderr and "a bug in the report" in r.stderr
    assert "Internal error" in r.stderr and "not in your files" in r.stderr
    assert list(tmp_path.glob("sheetplan-error-*.txt"))


# ----------------------------------------------------------------------------- point 15: --annotate never writes over an input


def test_annotate_never_writes_over_an_input(tmp_path):
    """Issue point 15: `check a.xlsx --annotate a.xlsx` — also through a link, a hard link or another spelling — is refused."""
    a = tmp_path / "a.xlsx"
    shutil.copy(XQ001, a)
    before = _sha(a)
    (tmp_path / "sub").mkdir()
    (tmp_path / "alias.xlsx").symlink_to(a)
    os.link(a, tmp_path / "hard.xlsx")
    for target in (a, tmp_path / "sub" / ".." / "a.xlsx", tmp_path / "alias.xlsx", tmp_path / "hard.xlsx",
                   tmp_path / "a"):  # `a` gets the .xlsx suffix: a.xlsx again
        r = run("check", a, "--annotate", target)
        assert r.exit_code == 2, (target, r.output)
        assert "被检查的文件" in r.output, r.output
        _no_traceback(r.output)
        assert _sha(a) == before
    assert (tmp_path / "alias.xlsx").is_symlink()
    # with several inputs, a copy that would land on one of them is refused too
    b = tmp_path / "b.xlsx"
    shutil.copy(XQ004, b)
    (tmp_path / "out").mkdir()
    trap = tmp_path / "out" / "b_问题标注.xlsx"
    os.link(b, trap)
    r = run("check", a, b, "--annotate", tmp_path / "out")
    assert r.exit_code == 2 and "被检查的文件" in r.output, r.output
    assert _sha(b) == _sha(trap) and sorted(p.name for p in (tmp_path / "out").iterdir()) == ["b_问题标注.xlsx"]


def test_annotate_gives_same_named_inputs_distinct_copies(tmp_path):
    """Issue point 15: `check d1/a.xlsx d2/a.xlsx --annotate out/` writes two copies, a_问题标注.xlsx and a_问题标注_2.xlsx."""
    for folder, src in (("d1", XQ001), ("d2", XQ004)):
        (tmp_path / folder).mkdir()
        shutil.copy(src, tmp_path / folder / "a.xlsx")
    out = tmp_path / "out"
    r = run("check", tmp_path / "d1" / "a.xlsx", tmp_path / "d2" / "a.xlsx", "--annotate", out)
    assert r.exit_code in (0, 1), r.output
    assert sorted(p.name for p in out.iterdir()) == ["a_问题标注.xlsx", "a_问题标注_2.xlsx"]
    for name, code in (("a_问题标注.xlsx", "XQ001"), ("a_问题标注_2.xlsx", "XQ004")):
        got = json.loads(run("check", out / name, "--format", "json").stdout)
        assert got["files"][0]["org_code"] == code
    assert "a_问题标注_2.xlsx" in r.output  # the clerk is told which copy is which


# ----------------------------------------------------------------------------- point 16: permissions of outputs


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o027])
def test_new_outputs_follow_the_umask(tmp_path, umask):
    """Issue point 16: new outputs get 0666 & ~umask (one template, a roster, an annotated copy, a merge)."""
    want = 0o666 & ~umask
    one = tmp_path / "one.xlsx"
    assert sheetplan(*NEW, "-o", one, umask=umask).returncode == 0
    assert sheetplan("new", "--roster", ROSTER, "--year", "2025", "-o", tmp_path / "roster", umask=umask).returncode == 0
    assert sheetplan("check", XQ001, "--annotate", tmp_path / "marked.xlsx", umask=umask).returncode in (0, 1)
    assert sheetplan("merge", SUBMITTED, "-o", tmp_path / "区汇总.xlsx", umask=umask).returncode in (0, 1)
    made = [one, tmp_path / "marked.xlsx", tmp_path / "区汇总.xlsx", *(tmp_path / "roster").iterdir()]
    assert {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in made} == {p.name: oct(want) for p in made}


def test_a_replaced_output_keeps_its_mode(tmp_path):
    """Issue point 16: writing over an existing 0644 output keeps 0644 (whatever the umask says for new files)."""
    out = tmp_path / "a.xlsx"
    assert sheetplan(*NEW, "-o", out).returncode == 0
    os.chmod(out, 0o644)
    assert sheetplan(*NEW, "-o", out, "--force", umask=0o077).returncode == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
    roster = tmp_path / "roster"
    assert sheetplan("new", "--roster", ROSTER, "--year", "2025", "-o", roster).returncode == 0
    for p in roster.iterdir():
        os.chmod(p, 0o664)
    assert sheetplan("new", "--roster", ROSTER, "--year", "2025", "-o", roster, "--force", umask=0o077).returncode == 0
    assert {stat.S_IMODE(p.stat().st_mode) for p in roster.iterdir()} == {0o664}


def test_an_output_that_is_a_link_stays_a_link(tmp_path):
    """Issue point 16: an output path that is a symbolic link is written through: the link stays, its target is new."""
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "t.xlsx"
    target.write_bytes(b"old")
    os.chmod(target, 0o640)
    link = tmp_path / "link.xlsx"
    link.symlink_to(Path("real") / "t.xlsx")
    r = run(*NEW, "-o", link, "--force")
    assert r.exit_code == 0, r.output
    assert link.is_symlink() and os.readlink(link) == str(Path("real") / "t.xlsx")
    assert openpyxl.load_workbook(target).sheetnames and stat.S_IMODE(target.stat().st_mode) == 0o640
    marked = tmp_path / "marked.xlsx"
    marked.symlink_to(Path("real") / "m.xlsx")  # a link to a file not made yet
    assert run("check", XQ001, "--annotate", marked).exit_code in (0, 1)
    assert marked.is_symlink() and (tmp_path / "real" / "m.xlsx").is_file()


# ----------------------------------------------------------------------------- point 17: what killed runs left


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_leftovers_of_killed_runs_are_cleared_and_nothing_else(tmp_path):
    """Issue point 17: a later run removes the temporary files and folders of a dead process — only those."""
    from sheetplan.files import HOST_TAG

    dead, alive = _dead_pid(), os.getpid()
    out = tmp_path / "out"
    out.mkdir()
    gone = [f".~sheetplan-{dead}-{HOST_TAG}-0a1b2c3d.tmp", f".~sheetplan-{dead}-{HOST_TAG}-99.tmp"]
    kept = [f".~sheetplan-{alive}-{HOST_TAG}-0a1b2c3d.tmp",  # a run still going on
            f".~sheetplan-{dead}-ffffff-0a1b2c3d.tmp" if HOST_TAG != "ffffff" else f".~sheetplan-{dead}-000000-0a.tmp",
            ".~sheetplan-abc123.tmp", ".~lock.a.xlsx#", "~$a.xlsx", "a.xlsx.tmp", "sheetplan-notes.txt"]
    (out / gone[0]).write_bytes(b"x" * 1000)
    (out / gone[1]).mkdir()  # a roster run's temporary folder
    (out / gone[1] / "XQ001.xlsx").write_bytes(b"x")
    for name in kept:
        (out / name).write_bytes(b"keep")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    tmp_gone = [f"sheetplan-run-{dead}-{HOST_TAG}-abc_12x", f"sheetplan-merge-{dead}-{HOST_TAG}-k2j4h5"]
    tmp_kept = [f"sheetplan-merge-{alive}-{HOST_TAG}-k2j4h5", "sheetplan-merge-k2j4h5",
                f"sheetplan-error-20250101-120000-{dead}.txt", "other"]
    for name in tmp_gone + tmp_kept[:2]:
        (tmp / name).mkdir()
        (tmp / name / "rows.bin").write_bytes(b"x")
    for name in tmp_kept[2:]:
        (tmp / name).write_text("keep")
    r = sheetplan(*NEW, "-o", out / "a.xlsx", env={"TMPDIR": str(tmp)})
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted([*kept, "a.xlsx"])
    assert sorted(p.name for p in tmp.iterdir()) == sorted(tmp_kept)


# ----------------------------------------------------------------------------- point 9: names that are not UTF-8

GBK_NAMES = [os.fsdecode(b"\xd1\xa7\xd0\xa3.xlsx"),  # 学校 in GBK (these bytes happen to be valid UTF-8 too)
             os.fsdecode("报送".encode("gbk") + b".xlsx")]  # not valid UTF-8: surrogate escapes


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="the file system must accept any bytes in names")
def test_check_of_a_file_named_in_gbk(tmp_path):
    """Issue point 9: `check` of files named in GBK bytes: valid UTF-8 JSON and text, \\xNN in shown names, annotation works."""
    for name in GBK_NAMES:
        shutil.copy(XQ001, tmp_path / name)
    files = [tmp_path / n for n in GBK_NAMES]
    env = {"LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
    plain = sheetplan("check", XQ001, "--format", "json")
    r = sheetplan("check", *files, "--format", "json", env=env)
    assert r.returncode == plain.returncode, r.stderr
    report = json.loads(r.stdout.decode("utf-8"))  # strict: every byte is UTF-8
    paths = [f["path"] for f in report["files"]]
    assert paths == [str(tmp_path / "ѧУ.xlsx"), str(tmp_path) + "/\\xb1\\xa8\\xcb\\xcd.xlsx"]
    assert all(f["org_code"] == "XQ001" for f in report["files"])
    text = sheetplan("check", *files, "--annotate", tmp_path / "out", env=env)
    assert text.returncode == plain.returncode
    text.stdout.decode("utf-8")
    text.stderr.decode("utf-8")
    assert "\\xb1\\xa8\\xcb\\xcd.xlsx" in text.stdout.decode("utf-8")
    _no_traceback(text.stderr.decode("utf-8"))
    copies = sorted(os.listdir(os.fsencode(tmp_path / "out")))
    assert copies == sorted([b"\xd1\xa7\xd0\xa3_\xe9\x97\xae\xe9\xa2\x98\xe6\xa0\x87\xe6\xb3\xa8.xlsx",
                             "报送".encode("gbk") + "_问题标注.xlsx".encode()])


def _without_root_powers_or_sticky() -> None:
    """In the child: no right to ignore file permissions, nor the sticky bit of a shared folder."""
    _without_root_powers()
    if os.geteuid() == 0:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(24, 3, 0, 0, 0) != 0:  # CAP_FOWNER
            os._exit(99)


def test_a_roster_run_that_cannot_replace_one_file_puts_everything_back(tmp_path):
    """Issue point 8: `new --roster --force` in a shared (sticky) folder where a colleague's file cannot be
    replaced: exit 2 naming that file, and every file is as before — replaced ones restored, new ones removed."""
    if os.geteuid() != 0 or not _can_drop_root_powers():
        pytest.skip("needs root to hand a file to another account, and the right to drop root's powers")
    out = tmp_path / "shared"
    assert run("new", "--roster", ROSTER, "--year", "2025", "-o", out, "--jobs", "1").exit_code == 0
    names = sorted(p.name for p in out.iterdir())
    for i, name in enumerate(names):
        (out / name).write_bytes(f"old {i}".encode())
    os.chown(out / names[3], 12345, 12345)  # a colleague's copy
    (out / names[5]).unlink()  # a school new this year
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    os.chown(out, 23456, 23456)  # a shared folder: anyone may add files, only owners may replace them
    os.chmod(out, 0o1777)
    r = subprocess.run([str(SHEETPLAN), "new", "--roster", str(ROSTER), "--year", "2025", "-o", str(out), "--force",
                        "--jobs", "1"], capture_output=True, text=True, preexec_fn=_without_root_powers_or_sticky,
                       timeout=120)
    assert r.returncode == 2, r.stderr
    assert names[3] in r.stderr and "权限" in r.stderr, r.stderr
    _no_traceback(r.stderr)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
