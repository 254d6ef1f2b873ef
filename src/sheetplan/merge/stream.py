"""The district workbook's detail rows, written while the files are still being read."""

from __future__ import annotations

import os
import stat
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from ..layout import Layout
from .reduce import MergeResult
from .results import FileResult

EXCEL_MAX_DATA_ROWS = 1_048_576 - 1  # one header row
PROJECT_AFTER = 50  # files read before their rows are taken to say how large the whole detail will be
# Above this many inputs the detail is not written while reading: looking at every identity first would cost
# seconds, and so many schools' detail does not fit in a sheet anyway (150 ledger rows each fill one at 7,000).
STREAM_MAX_FILES = 10_000


def _regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


class DetailStream:
    """The district workbook's detail rows, written while the files are still being read.

    Writing the detail is most of a full merge's work, and only one process can write a workbook; done as
    files arrive it overlaps the reading instead of following it. A file's rows go in at once only when
    nothing can supersede it: the 单位代码 of its identity is that of no other input, and it was read with
    that code. The others' rows wait until the merge is settled, and follow (so the detail sheets list the
    schools that sent several files last). If the settled merge disagrees with what was written — a streamed
    file superseded after all, a table too big for a sheet — the workbook is written again from the stored
    rows, exactly as without streaming.
    """

    def __init__(self, layout: Layout, files: Sequence[tuple[Path, str]], target: IO[bytes], lang: str = "zh") -> None:
        from ..reading.workbook import identity_code
        from ..write.district import DistrictStream

        # By input position: names are for people. Only regular files are opened (a pipe would block).
        codes = [identity_code(path) if _regular(path) else None for path, _ in files]
        counts = Counter(c for c in codes if c)
        self._alone = {i: c for i, c in enumerate(codes) if c and counts[c] == 1}
        self.layout = layout
        self.writer = DistrictStream(layout, target, lang)
        self.streamed: set[int] = set()  # input positions whose rows are written
        self.failed = False
        self._files, self._seen = len(files), 0

    def take(self, r: FileResult) -> None:
        """One file's result as it arrives (in input order): write its rows now if that is safe."""
        self._seen += 1
        if self.failed or r.status != "submitted" or not r.org_code or self._alone.get(r.index) != r.org_code:
            return
        tables = {key: r.table_rows(key) for key in r.n_rows}
        if any(self.writer.rows(key) + len(rows) > EXCEL_MAX_DATA_ROWS for key, rows in tables.items()):
            self._give_up()  # the detail will not fit in the workbook anyway
            return
        for key, rows in tables.items():
            self.writer.add(key, rows)
        self.streamed.add(r.index)
        # A province's detail cannot fit in a sheet: once the files seen so far say so, stop writing it
        # (rather than write a million rows for nothing).
        if self._seen >= PROJECT_AFTER and any(self.writer.rows(t.key) * self._files > EXCEL_MAX_DATA_ROWS * self._seen
                                               for t in self.layout.tables):
            self._give_up()

    def _give_up(self) -> None:
        self.failed = True
        self.writer.abandon()  # frees its temporary files now; the target is written afresh at the end

    def usable(self, result: MergeResult) -> bool:
        """Whether what was written agrees with the settled merge."""
        return not self.failed and self.streamed <= {f.index for f in result.files if f.status == "submitted"}

    def finish(self, result: MergeResult) -> None:
        """Add the rows that waited, then everything else, and close the workbook."""
        waited = {f.index for f in result.files if f.status == "submitted"} - self.streamed
        for t in self.layout.tables:
            self.writer.add(t.key, result.merged[t.key].rows_of(waited))
        self.writer.finish(result)

    def abandon(self) -> None:
        """Close the workbook without using it (a no-op once finished)."""
        self.writer.abandon()
