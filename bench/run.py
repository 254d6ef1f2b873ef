"""Benchmark: sheetplan merge/new against the naive pandas baseline and the calamine+xlsxwriter floor.

    python bench/run.py                 # N = 1,000, 3 alternating runs, scaling at 100/1,000/5,000
    python bench/run.py --quick         # N = 50, one run, no scaling (a test runs this)
    python bench/run.py --province      # also 30,000 schools with --export --format parquet

Every task runs as its own process; wall seconds and peak RSS of the whole
process tree (sampled from /proc) are recorded. Runs alternate between tasks
and the median is reported. Results: a table on stdout and JSON in --out.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from corpus import make_corpus  # noqa: E402

BASELINE = r'''
import sys, glob, pandas as pd
files = sorted(glob.glob(sys.argv[1] + "/*.xlsx"))
mode = sys.argv[3]
frames = {}
for f in files:
    # header=1: every sheet opens with a title row naming the school; with the default header=0 that title
    # becomes a column name, a new one per school, and concat builds a frame a thousand columns wide.
    for name, df in pd.read_excel(f, sheet_name=None, engine="openpyxl", header=1).items():
        frames.setdefault(name, []).append(df)
if mode == "read":
    sys.exit(0)
combined = {name: pd.concat(dfs, ignore_index=True) for name, dfs in frames.items()}
with pd.ExcelWriter(sys.argv[2]) as w:  # pandas picks its default engine, as an analyst would
    for name, df in combined.items():
        df.to_excel(w, sheet_name=name[:31], index=False)
'''

FLOOR = r'''
import sys, glob, xlsxwriter
from python_calamine import CalamineWorkbook
files = sorted(glob.glob(sys.argv[1] + "/*.xlsx"))
mode, tables = sys.argv[3], sys.argv[4].split(",")
if mode == "read":
    for f in files:
        wb = CalamineWorkbook.from_path(f)
        for name in wb.sheet_names:
            wb.get_sheet_by_name(name).to_python()
    sys.exit(0)
# Read every cell the same way, and write the data rows of the table sheets as they are read, with the
# four provenance cells a merged row carries, one sheet per table: the cells merge writes, nothing else.
out = xlsxwriter.Workbook(sys.argv[2], {"constant_memory": True})
sheets = {name: out.add_worksheet(name) for name in tables}
next_row = dict.fromkeys(tables, 0)
for f in files:
    wb = CalamineWorkbook.from_path(f)
    for name in wb.sheet_names:
        rows = wb.get_sheet_by_name(name).to_python()
        if name not in sheets or len(rows) < 2:
            continue
        header = rows[1]
        width = header.index("") if "" in header else len(header)  # the table ends at the first empty header
        ws = sheets[name]
        for i, row in enumerate(rows[2:], start=3):
            cells = row[:width]
            if cells.count("") == width:
                continue
            ws.write_row(next_row[name], 0, ["code", "school", *cells, f, i])
            next_row[name] += 1
out.close()
print(sum(next_row.values()))
'''


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _children(pid: int) -> list[int]:
    """Direct children of a process: from its threads' ``children`` lists (cheap), else by scanning /proc."""
    try:
        out: list[int] = []
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as fh:
                out.extend(int(c) for c in fh.read().split())
        return out
    except FileNotFoundError:  # a kernel without the children lists, or the process has just ended
        if not os.path.exists(f"/proc/{pid}"):
            return []
    except OSError:
        return []
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as fh:
                    if int(fh.read().rsplit(b")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    return found


def _tree_rss(root: int) -> int:
    """Resident memory (bytes) of a process and all its descendants.

    Sampled every 50 ms while the measured command runs on the same cores, so it reads only the tree's own
    files, not all of /proc: the measuring must not slow down what it measures.
    """
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo.extend(_children(pid))
        try:
            with open(f"/proc/{pid}/statm", "rb") as fh:
                total += int(fh.read().split()[1]) * _PAGE
        except (OSError, IndexError, ValueError):
            continue
    return total


def measure(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, int]:
    """(wall seconds, peak RSS of the process tree in bytes) of one command."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss(proc.pid))
            time.sleep(0.05)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    _, err = proc.communicate()
    wall = time.perf_counter() - start
    done.set()
    t.join()
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"{cmd[:3]} exited {proc.returncode}: {err.decode(errors='replace')[-800:]}")
    return wall, peak


def merged_cells(export: Path) -> int:
    """How many cells the merged detail tables hold (for the floor's write)."""
    total = 0
    for csv_file in export.glob("*.csv"):
        if csv_file.name in ("problems.csv", "submissions.csv"):
            continue
        with csv_file.open(encoding="utf-8-sig") as fh:
            header = fh.readline().count(",") + 1
            rows = sum(1 for _ in fh)
        total += header * rows
    return total


def tasks(corpus: Path, work: Path, n: int, roster: Path) -> dict[str, list[str]]:
    from sheetplan.layout import load_layout

    py = sys.executable
    tables = ",".join(t.name["zh"] for t in load_layout("school").tables)
    sp = [py, "-m", "sheetplan.cli"]
    cores = str(os.cpu_count() or 1)
    return {
        "merge → xlsx": [*sp, "merge", str(corpus), "-o", str(work / "merge.xlsx"), "--jobs", cores],
        "merge --export": [*sp, "merge", str(corpus), "--export", str(work / "export"), "--jobs", cores],
        "baseline read loop": [py, "-c", BASELINE, str(corpus), str(work / "baseline.xlsx"), "read"],
        "baseline end to end": [py, "-c", BASELINE, str(corpus), str(work / "baseline.xlsx"), "all"],
        "floor read": [py, "-c", FLOOR, str(corpus), str(work / "floor.xlsx"), "read", tables],
        "floor read + write": [py, "-c", FLOOR, str(corpus), str(work / "floor.xlsx"), "all", tables],
        "new --roster, 1 process": [*sp, "new", "--roster", str(roster), "--year", "2025", "-o", str(work / "new1"), "--force", "--jobs", "1"],
        f"new --roster, {cores} processes": [*sp, "new", "--roster", str(roster), "--year", "2025", "-o", str(work / "newN"), "--force", "--jobs", cores],
        "check one workbook": [*sp, "check", str(next(iter(sorted(corpus.glob("*.xlsx")))))],
    }


def write_roster(path: Path, n: int) -> None:
    with path.open("w", encoding="utf-8") as fh:
        fh.write("单位代码,单位名称\n")
        for i in range(n):
            fh.write(f"B{i:06d},基准测试第{i}学校\n")


def run_main(n: int, runs: int, root: Path, skip_baseline_write: bool = False, baseline_runs: int | None = None) -> dict:
    corpus = make_corpus(root / f"corpus-{n}", n)
    work = Path(tempfile.mkdtemp(prefix="bench-", dir=root))
    roster = work / "roster.csv"
    write_roster(roster, n)
    measure([sys.executable, "-m", "sheetplan.cli", "merge", str(corpus), "--export", str(work / "export")])  # warm caches
    cells = merged_cells(work / "export")
    todo = tasks(corpus, work, n, roster)
    if skip_baseline_write:
        todo.pop("baseline end to end")
    results: dict[str, list[tuple[float, int]]] = {k: [] for k in todo}
    for round_no in range(runs):  # alternate: every task once per round
        for name, cmd in todo.items():
            if name.startswith("baseline") and baseline_runs is not None and round_no >= baseline_runs:
                continue  # the naive baseline takes many minutes a run at N = 1,000
            results[name].append(measure(cmd))
    shutil.rmtree(work, ignore_errors=True)
    table = {}
    for name, samples in results.items():
        wall = statistics.median(s[0] for s in samples)
        table[name] = {"seconds": round(wall, 3), "files_per_s": round(n / wall, 1), "peak_rss_mb": round(max(s[1] for s in samples) / 2**20, 1),
                       "runs": [round(s[0], 3) for s in samples]}
    ratios = {
        "merge --export / baseline read loop": table["merge --export"]["seconds"] / table["baseline read loop"]["seconds"],
        "merge --export / floor read": table["merge --export"]["seconds"] / table["floor read"]["seconds"],
        "merge → xlsx / floor read + write": table["merge → xlsx"]["seconds"] / table["floor read + write"]["seconds"],
    }
    if "baseline end to end" in table:
        ratios["merge → xlsx / baseline end to end"] = table["merge → xlsx"]["seconds"] / table["baseline end to end"]["seconds"]
    return {"n": n, "merged_cells": cells, "runs": runs, "cores": os.cpu_count(), "tasks": table,
            "ratios": {k: round(v, 3) for k, v in ratios.items()}}


def run_scaling(sizes: list[int], root: Path, parquet: bool = False) -> list[dict]:
    out = []
    for n in sizes:
        corpus = make_corpus(root / f"corpus-{n}", n)
        work = Path(tempfile.mkdtemp(prefix="scale-", dir=root))
        row = {"n": n}
        if parquet:
            wall, rss = measure([sys.executable, "-m", "sheetplan.cli", "merge", str(corpus), "-o", str(work / "d.xlsx"),
                                 "--export", str(work / "export"), "--format", "parquet"])
            row["merge --export parquet + summary xlsx"] = {"seconds": round(wall, 2), "peak_rss_mb": round(rss / 2**20, 1)}
        else:
            for name, extra in (("merge --export", ["--export", str(work / "export")]), ("merge → xlsx", ["-o", str(work / "d.xlsx")])):
                wall, rss = measure([sys.executable, "-m", "sheetplan.cli", "merge", str(corpus), *extra])
                row[name] = {"seconds": round(wall, 2), "peak_rss_mb": round(rss / 2**20, 1), "files_per_s": round(n / wall, 1)}
        shutil.rmtree(work, ignore_errors=True)
        out.append(row)
        print(json.dumps(row, ensure_ascii=False), flush=True)
    return out


def print_table(result: dict) -> None:
    print(f"\nN = {result['n']} workbooks, {result['merged_cells']:,} merged cells, {result['cores']} cores, median of {result['runs']} runs")
    print(f"{'task':34} {'seconds':>9} {'files/s':>9} {'peak RSS MB':>12} {'runs':>5}")
    for name, row in result["tasks"].items():
        print(f"{name:34} {row['seconds']:9.2f} {row['files_per_s']:9.1f} {row['peak_rss_mb']:12.1f} {len(row['runs']):5d}")
    for name, value in result["ratios"].items():
        print(f"{name:50} {value:8.3f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--baseline-runs", type=int, default=None, help="run the (slow) baseline tasks only this many rounds")
    ap.add_argument("--quick", action="store_true", help="N = 50, one run, no scaling")
    ap.add_argument("--scaling", default="100,1000,5000", help="sizes for the scaling runs ('' for none)")
    ap.add_argument("--province", action="store_true", help="also merge 30,000 schools with --export --format parquet")
    ap.add_argument("--work", type=Path, default=HERE / "results", help="folder for corpora and results")
    ap.add_argument("--out", type=Path, default=None, help="JSON results file")
    args = ap.parse_args()
    if args.quick:
        args.n, args.runs, args.scaling = 50, 1, ""
    args.work.mkdir(parents=True, exist_ok=True)
    result = run_main(args.n, args.runs, args.work, baseline_runs=args.baseline_runs)
    print_table(result)
    sizes = [int(s) for s in args.scaling.split(",") if s.strip()]
    if sizes:
        print("\nScaling (one run each):")
        result["scaling"] = run_scaling(sizes, args.work)
    if args.province:
        print("\nProvince (30,000 schools, detail to Parquet/CSV only):")
        result["province"] = run_scaling([30000], args.work, parquet=True)
    out = args.out or args.work / f"bench-{args.n}.json"
    out.write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
    print(f"\nJSON: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
