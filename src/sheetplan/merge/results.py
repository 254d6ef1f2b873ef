"""What crosses between a merge's processes: one file's result, and the plan that says what it holds."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..problems import Problem

STATUS = {"submitted": ("已提交", "submitted"), "missing": ("未提交", "not submitted"),
          "unreadable": ("无法读取", "unreadable"), "superseded": ("已被替代", "superseded"),
          "not_school": ("区级汇总表，未汇总", "district workbook, not merged")}


@dataclass
class FileResult:
    """What reading one file gives the reduce step (compact and picklable)."""

    path: str
    source_file: str
    sha256: str = ""
    size: int = 0
    modified: str = ""
    readable: bool = False
    layout: str | None = None
    layout_version: str | None = None
    layout_fingerprint: str | None = None  # the edition of the layout the workbook was made with (its identity)
    org_code: str | None = None
    org_name: str | None = None
    year: int | None = None
    prepared_on: str | None = None
    info: dict[str, float | None] = field(default_factory=dict)  # 基本信息 figures that 汇总 shows (info columns)
    index: int = -1  # the input's position: how the program knows it (source_file is for people)
    # accepted rows as merged: org_code, org_name, field values…, source_file, source_row
    rows: dict[str, list[tuple]] = field(default_factory=dict)
    # The rows travel to the parent in one form at a time: ``rows`` in the worker; ``rows_pickled`` once
    # :meth:`pack` has turned them into bytes for the trip; both are moved into the spill on arrival, after
    # which the result holds no rows at all. ``csv_lines`` are the same rows as export CSV lines (with --export).
    rows_pickled: dict[str, bytes] = field(default_factory=dict)
    csv_lines: dict[str, bytes] = field(default_factory=dict)
    rejected: dict[str, list[tuple[int, dict[str, Any]]]] = field(default_factory=dict)  # (source_row, raw row)
    cells: dict[str, dict[str, str]] = field(default_factory=dict)  # table → field → column letter
    sheets: dict[str, str] = field(default_factory=dict)  # table → sheet name in the file
    problems: list[Problem] = field(default_factory=list)
    status: str = "submitted"
    seconds: float = 0.0
    n_rows: dict[str, int] = field(default_factory=dict)  # accepted rows per table (kept when rows are spilled)
    figures: dict[str, float | None] = field(default_factory=dict)  # this school's 汇总 figures
    breakdowns: list[list[float]] = field(default_factory=list)  # this school's 分项统计 rows

    def read_count(self, table: str) -> int:
        return self.n_rows.get(table, 0) + len(self.rejected.get(table, ()))

    def table_rows(self, table: str) -> list[tuple]:
        """This file's accepted rows of one table (merged form), whether packed or not."""
        if table in self.rows_pickled:
            return pickle.loads(self.rows_pickled[table])  # noqa: S301 - pickled by our own worker
        return self.rows.get(table, [])

    def pack(self, tables: frozenset[str] | None = None) -> None:
        """Pickle the rows once, in the worker: the parent then stores them as bytes, without unpickling them.

        Only the rows of ``tables`` (None: all) are kept; the others are counted in ``n_rows`` and dropped.
        """
        self.rows_pickled = {k: pickle.dumps(v, protocol=pickle.HIGHEST_PROTOCOL) for k, v in self.rows.items()
                       if tables is None or k in tables}
        self.rows = {}


@dataclass(frozen=True)
class ReadPlan:
    """How workers read each file, and what they send back besides its facts, figures and problems."""

    csv: bool = False  # the accepted rows as export CSV lines
    rows: frozenset[str] | None = None  # tables whose rows come back (None: every table); others only count them
    # What reads and checks one file (None: the reader, then the layout's rules). A module-level function, so
    # that workers of every start method can be handed it.
    check: Callable[..., Any] | None = None
