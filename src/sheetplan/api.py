"""The Python API for analysts: a workbook, or a whole merge, as pandas DataFrames (the one module importing pandas)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .layout import Field, Layout, load_layout
from .merge import MergeResult
from .merge import merge as _merge
from .problems import Report
from .reading.workbook import Table, WorkbookData
from .report.check import check_file


@dataclass
class ReadResult:
    """What :func:`read` returns."""

    tables: dict[str, pd.DataFrame]
    info: dict[str, Any]
    report: Report
    data: WorkbookData

    @property
    def problems(self) -> pd.DataFrame:
        """The problems as a DataFrame (one row per problem)."""
        rows = [{**p.to_dict(), "file": p.file} for p in self.report.sorted()]
        cols = ["file", "severity", "code", "sheet", "cell", "row", "field", "value", "message"]
        return pd.DataFrame(rows, columns=cols)


def with_field_types(frame: pd.DataFrame, fields: Sequence[Field]) -> pd.DataFrame:
    """Give each field's column the dtype its layout type means (in place; returns ``frame``).

    Dates become datetimes, money floats, whole numbers nullable Int64 (blank stays NA, never 0), and text
    stays text: codes and phone numbers keep their leading zeros.
    """
    for f in fields:
        if f.type == "date":
            frame[f.key] = pd.to_datetime(frame[f.key])
        elif f.type in ("money", "formula"):
            frame[f.key] = pd.to_numeric(frame[f.key]).astype("float64")
        elif f.type in ("int", "month"):
            frame[f.key] = frame[f.key].astype("Int64")
        else:
            frame[f.key] = frame[f.key].astype("string")
    return frame


def table_frame(layout: Layout, table: Table) -> pd.DataFrame:
    """Typed rows of one table: field keys, then ``source_row`` and ``rejected``."""
    sheet = layout.sheet(table.key)
    keys = [f.key for f in sheet.fields]
    data = {k: [r.values.get(k) for r in table.records] for k in keys}
    frame = with_field_types(pd.DataFrame(data, columns=keys), sheet.fields)
    frame["source_row"] = pd.array([r.row for r in table.records], dtype="Int64")
    frame["rejected"] = pd.array([r.rejected for r in table.records], dtype="boolean")
    return frame


def read(path: str | Path, layout: str | Path | Layout = "school") -> ReadResult:
    """Read and check one workbook: typed tables as DataFrames, 基本信息, and the report.

    >>> result = sheetplan.read("S001_第一实验小学_2025.xlsx")   # doctest: +SKIP
    >>> result.tables["ledger"][["date", "income", "expense", "balance"]]   # doctest: +SKIP
    """
    lay = layout if isinstance(layout, Layout) else load_layout(layout)
    data = check_file(path, lay)
    tables = {k: table_frame(lay, t) for k, t in data.tables.items()}
    return ReadResult(tables, dict(data.info), data.report, data)


@dataclass
class DistrictResult:
    """What :func:`merge` returns: the merge itself and DataFrame views of it."""

    result: MergeResult

    def table(self, key: str) -> pd.DataFrame:
        """Accepted rows of one table (field keys + provenance), typed by the layout."""
        sheet = self.result.layout.sheet(key)
        cols = ["org_code", "org_name", *[f.key for f in sheet.fields], "source_file", "source_row"]
        frame = with_field_types(pd.DataFrame(list(self.result.merged[key]), columns=cols), sheet.fields)
        for c in ("org_code", "org_name", "source_file"):
            frame[c] = frame[c].astype("string")
        return frame

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        """Every table as a DataFrame."""
        return {t.key: self.table(t.key) for t in self.result.layout.tables}

    @property
    def problems(self) -> pd.DataFrame:
        """problems.csv as a DataFrame."""
        return pd.DataFrame(self.result.problem_records())

    @property
    def submissions(self) -> pd.DataFrame:
        """submissions.csv as a DataFrame."""
        return pd.DataFrame(self.result.submission_records())

    @property
    def counts(self) -> dict[str, dict[str, int]]:
        """Per table: read / merged / rejected."""
        return self.result.counts


def merge(inputs: Iterable[str | Path], roster: str | Path | None = None, layout: str | Path | Layout = "school",
          jobs: int | None = None, progress: Callable[[int, int], None] | None = None) -> DistrictResult:
    """Merge every workbook under ``inputs`` (as `sheetplan merge`) and give its tables as DataFrames."""
    return DistrictResult(_merge(inputs, roster, layout, jobs, progress))
