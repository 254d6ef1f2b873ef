"""Merged rows on disk while files are read: memory grows with the files' facts, not with their rows."""

from __future__ import annotations

import os
import pickle
import shutil
import tempfile
import weakref
from collections.abc import Iterator

from ..files import temp_dir
from ..layout import Layout
from .results import FileResult, ReadPlan


class BlobStore:
    """Pieces of one table (one per input file, known by its position), spilled to a temporary file as files are read.

    Memory then grows with the files' metadata and problems, not with their
    rows. Pieces are kept per source file, so that a file found superseded only
    at the end is simply skipped when the pieces are read back.
    """

    def __init__(self, folder: str, suffix: str) -> None:
        self._fh = tempfile.NamedTemporaryFile(prefix="rows-", suffix=suffix, dir=folder, delete=False)  # noqa: SIM115
        self.path = self._fh.name
        self._pieces: list[tuple[int, int, int]] = []  # input position, rows, bytes
        self._accepted: set[int] | None = None

    def add(self, index: int, blob: bytes, rows: int) -> None:
        self._fh.write(blob)
        self._pieces.append((index, rows, len(blob)))

    def seal(self, accepted: set[int]) -> None:
        """No more pieces; from now on only those of ``accepted`` files are seen."""
        if not self._fh.closed:
            self._fh.close()
        self._accepted = accepted

    def __len__(self) -> int:
        return sum(n for s, n, _ in self._pieces if self._accepted is None or s in self._accepted)

    def blobs(self) -> Iterator[bytes]:
        """The accepted pieces, in the order they were added."""
        if not self._fh.closed:
            self._fh.flush()
        with open(self.path, "rb") as fh:
            for source, _, size in self._pieces:
                if self._accepted is None or source in self._accepted:
                    yield fh.read(size)
                else:
                    fh.seek(size, os.SEEK_CUR)


    def blobs_of(self, sources: set[int]) -> Iterator[bytes]:
        """The accepted pieces of the inputs at positions ``sources`` only, in the order they were added."""
        if not self._fh.closed:
            self._fh.flush()
        with open(self.path, "rb") as fh:
            for source, _, size in self._pieces:
                if source in sources and (self._accepted is None or source in self._accepted):
                    yield fh.read(size)
                else:
                    fh.seek(size, os.SEEK_CUR)


class RowStore(BlobStore):
    """Merged rows of one table: each file's rows as one pickle.

    With ``keep_rows=False`` the rows are only counted (an export alone needs no rows of a table that no
    cross-school rule reads); reading them is then a programming error and raises.
    """

    def __init__(self, folder: str, keep_rows: bool = True) -> None:
        super().__init__(folder, ".pickle")
        self.keep_rows = keep_rows

    def add_rows(self, index: int, rows: list[tuple]) -> None:
        self.add(index, pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL) if self.keep_rows else b"", len(rows))

    def blobs(self) -> Iterator[bytes]:
        if not self.keep_rows:
            raise RuntimeError("the rows of this table were counted, not kept")
        return super().blobs()

    def __iter__(self) -> Iterator[tuple]:
        for blob in self.blobs():
            yield from pickle.loads(blob)  # noqa: S301 - our own temporary file

    def rows_of(self, sources: set[int]) -> Iterator[tuple]:
        """The accepted rows of the inputs at positions ``sources`` only, in input order."""
        if not self.keep_rows:
            raise RuntimeError("the rows of this table were counted, not kept")
        for blob in self.blobs_of(sources):
            yield from pickle.loads(blob)  # noqa: S301 - our own temporary file


class Spill:
    """One :class:`RowStore` per table (and, for an export, one store of CSV lines), in a temporary folder
    removed with the object."""

    def __init__(self, layout: Layout, csv: bool = False, rows: bool = True) -> None:
        """``csv``: keep the export's CSV lines; ``rows=False``: keep rows only of the tables that cross-school
        rules read (an export alone needs no more), count the others."""
        self.folder = temp_dir("merge")
        tables_with_rows = None if rows else frozenset(t.key for t in layout.tables if t.merge_rules)
        self.plan = ReadPlan(csv, tables_with_rows)
        self.stores = {t.key: RowStore(self.folder, tables_with_rows is None or t.key in tables_with_rows)
                       for t in layout.tables}
        self.csv = {t.key: BlobStore(self.folder, ".csv") for t in layout.tables} if csv else None
        every = [*self.stores.values(), *(self.csv or {}).values()]
        self._cleanup = weakref.finalize(self, Spill._remove, self.folder, every)

    @staticmethod
    def _remove(folder: str, stores: list[BlobStore]) -> None:
        for store in stores:
            store.seal(set())
        shutil.rmtree(folder, ignore_errors=True)

    def close(self) -> None:
        """Remove the temporary files now (also done when the object is collected)."""
        self._cleanup()

    def seal(self, accepted: set[int]) -> None:
        """Every file is in; only the rows of the ``accepted`` positions count from now on."""
        for store in [*self.stores.values(), *(self.csv or {}).values()]:
            store.seal(accepted)

    def take(self, r: FileResult) -> None:
        """Move a file's accepted rows (and their CSV lines) into the stores."""
        for key, n in r.n_rows.items():
            if key in r.rows_pickled:
                self.stores[key].add(r.index, r.rows_pickled[key] if self.stores[key].keep_rows else b"", n)
            elif key in r.rows:
                self.stores[key].add_rows(r.index, r.rows[key])
            else:  # counted, not kept
                self.stores[key].add(r.index, b"", n)
        if self.csv is not None:
            for key, lines in r.csv_lines.items():
                self.csv[key].add(r.index, lines, r.n_rows[key])
        r.rows, r.rows_pickled, r.csv_lines = {}, {}, {}
