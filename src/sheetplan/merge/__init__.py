"""`sheetplan merge`: read every school's workbook and roll them up for the district.

The pipeline, one module a step:

- :mod:`.inputs` — which files to read, and the names people see (inside, a file is its position);
- :mod:`.fileread` — the job of a worker: one file in, one compact :class:`FileResult` out;
- :mod:`.pool` — run that job in parallel processes, where a file that hangs or crashes costs only itself;
- :mod:`.spill` — each file's rows on disk as it arrives;
- :mod:`.reduce` — supersession, roster, rules across schools, and the accounting checked before writing;
- :mod:`.figures` — what 汇总 and 分项统计 show, as plain data for the writer;
- :mod:`.stream` — detail rows written into the workbook while files are still read;
- :mod:`.run` — the command: outputs and the report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from ..layout import Layout
from ..reading.roster import read_roster
from .fileread import FILE_TIMEOUT, FileReader, read_all, read_one
from .inputs import find_inputs
from .reduce import MergeResult, School, check_accounting, combine
from .results import STATUS, FileResult, ReadPlan
from .spill import BlobStore, RowStore, Spill

__all__ = ["FILE_TIMEOUT", "STATUS", "BlobStore", "FileReader", "FileResult", "MergeResult", "ReadPlan", "RowStore",
           "School", "Spill", "check_accounting", "combine", "find_inputs", "merge", "read_all", "read_one"]


def merge(inputs: Iterable[str | Path], roster: str | Path | None = None, layout: str | Path | Layout = "school",
          jobs: int | None = None, progress: Callable[[int, int], None] | None = None) -> MergeResult:
    """Read every workbook under ``inputs`` and combine them (the Python API of `sheetplan merge`)."""
    from ..layout import load_layout

    lay = layout if isinstance(layout, Layout) else load_layout(layout)
    entries = read_roster(roster, lay) if roster is not None else None
    files = find_inputs(inputs)
    spill = Spill(lay)
    results = read_all(files, lay, jobs, progress, spill)
    return combine(results, lay, entries, spill)
