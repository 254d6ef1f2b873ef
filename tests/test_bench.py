"""The benchmark keeps working (`bench/run.py --quick`); its numbers are not asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).parents[1] / "bench" / "run.py"


def test_quick_benchmark_runs_and_reports_every_task(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, str(BENCH), "--quick", "--work", str(tmp_path), "--out", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["n"] == 50 and result["merged_cells"] > 100_000
    assert {"merge → xlsx", "merge --export", "baseline read loop", "baseline end to end", "floor read",
            "floor read + write", "new --roster, 1 process", "check one workbook"} <= set(result["tasks"])
    for row in result["tasks"].values():
        assert row["seconds"] > 0 and row["peak_rss_mb"] > 0
    assert "merge --export / baseline read loop" in result["ratios"]
    assert "files/s" in proc.stdout
