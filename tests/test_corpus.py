"""The corpus of broken and hostile inputs (tests/corpus.py): one clear problem each, nothing lost."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from corpus import CASES, build_corpus
from sheetplan.cli import cli
from sheetplan.merge import merge

SUBMITTED = Path(__file__).parents[1] / "samples" / "submitted"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("corpus")
    build_corpus(folder)
    return folder


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 40
    assert len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_case_gets_its_answer_in_both_languages(corpus, case):
    path = corpus / case.name
    for lang in ("zh", "en"):
        start = time.monotonic()
        r = CliRunner().invoke(cli, ["check", str(path), "--format", "json", "--lang", lang])
        assert time.monotonic() - start < 30, "bounded time"
        assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
        assert "Traceback" not in r.output
        assert r.exit_code == case.exit, r.output
        doc = json.loads(r.stdout)
        (f,) = doc["files"]
        codes = {p["code"] for p in f["problems"]}
        assert set(case.codes) <= codes, codes
        for p in f["problems"]:
            assert p["message"]
            if p["cell"] is None and p["code"] in ("unreadable_file", "empty_file", "wrong_format", "encrypted_file",
                                                    "unsafe_file", "unknown_layout"):
                assert path.name in p["message"]
                assert ("文件" in p["message"]) == (lang == "zh")
        if not case.readable:
            assert [p["cell"] for p in f["problems"] if p["severity"] == "error"] == [None]


@pytest.mark.parametrize("name", ["zip_bomb.xlsx", "billion_laughs.xlsx", "far_away_cell.xlsx", "many_entries.xlsx",
                                  "cell_100k_chars.xlsx", "huge_sparse.xlsx"])
def test_worst_cases_stay_small(corpus, name):
    """Peak memory of a fresh process checking the file (the interpreter alone is ~25 MB)."""
    # VmHWM starts afresh at exec; ru_maxrss is carried over from whatever forked us (a big pytest process).
    code = ("import resource, sys\nfrom sheetplan.cli import main\ntry:\n main(['check', sys.argv[1]])\n"
            "except SystemExit: pass\n"
            "try:\n peak = next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM:'))\n"
            "except OSError:\n peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\nprint('RSS', peak)")
    out = subprocess.run([sys.executable, "-c", code, str(corpus / name)], capture_output=True, text=True, timeout=120)
    rss_kb = int(out.stdout.rsplit("RSS", 1)[1])
    assert rss_kb < 300_000, f"{name}: {rss_kb} kB"


def test_merge_of_everything_loses_nothing(corpus, layout):
    result = merge([corpus, SUBMITTED], jobs=2)
    by_name = {Path(f.path).name: f for f in result.files}
    for case in CASES:
        status = by_name[case.name].status
        assert (status != "unreadable") == case.readable, (case.name, status)
    # the good sample schools are merged as if the corpus were not there
    alone = merge([SUBMITTED], jobs=1)
    for t in layout.tables:
        counts = result.counts[t.key]
        assert counts["read"] == counts["merged"] + counts["rejected"]
        sample_rows = [r for r in result.merged[t.key] if r[0].startswith("XQ")]
        assert len(sample_rows) == alone.counts[t.key]["merged"]
    assert result.exit_code == 1
