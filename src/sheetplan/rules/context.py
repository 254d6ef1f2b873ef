"""What a rule sees while it checks, one context per scope.

:class:`FileContext` — one rule over one table (or the 基本信息 form) of one workbook;
:class:`WorkbookContext` — one rule over the tables of one workbook;
:class:`AcrossContext` — one rule over the rows of one table from every school of a merge.

A rule never sees an unreadable value: those already have a problem of their own, and the rule skips
them rather than report twice. Where a problem points follows §6 of the spec: the first field of the rule
in column order, except where the rule says otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .text import Text, amount, unbracketed
from .text import label as _label
from .text import name as _name

if TYPE_CHECKING:
    from ..layout import Rule, Sheet
    from ..reading.workbook import Record, Table, WorkbookData


def values_of(keys: list[str]) -> Callable[[dict[str, Any]], tuple]:
    """A record's values of ``keys`` as a tuple (None where missing), in one call."""
    if len(keys) == 1:
        (key,) = keys
        return lambda values: (values.get(key),)
    return lambda values: tuple(map(values.get, keys))


def blank(raw: Any) -> bool:
    """An empty cell, or one holding only spaces: the reader's own test."""
    from ..reading.cells import is_blank  # here, not above: reading.cells loads the layout, which loads rules

    return is_blank(raw)


class FileContext:
    """One rule applied to one table (``table`` None: the 基本信息 form) of one workbook."""

    def __init__(self, data: WorkbookData, sheet: Sheet, table: Table | None, rule: Rule) -> None:
        self.data, self.sheet, self.table, self.rule = data, sheet, table, rule
        self.p = rule.params
        self.layout = data.layout

    def label(self, key: str) -> Text:
        """The label of field ``key`` (or of a "sheet.field" reference)."""
        return _label(self.layout, self.sheet, key)

    def name(self, key: str) -> Text:
        """Field ``key`` as a message names it: its label without the unit in brackets (预算 of 预算(元))."""
        return _name(self.layout, self.sheet, key)

    def amount(self, key: str, x: float) -> Text:
        """A number of field ``key`` with that field's unit (5,000 元, 86 人)."""
        return amount(self.layout, self.sheet, key, x)

    def value(self, rec: Record | None, key: str) -> Any:
        """The value of ``key`` in ``rec``; a "sheet.field" reference (and any key of the form) reads 基本信息."""
        if "." in key:
            return self.data.info.get(key.split(".", 1)[1])
        return rec.values.get(key) if rec is not None else self.data.info.get(key)

    def when(self, rec: Record) -> bool:
        """Whether ``rec`` meets every condition of the rule's ``when`` (none: always)."""
        return all(self.value(rec, k) == v for k, v in (self.p.get("when") or {}).items())

    def first(self, keys: list[str]) -> str:
        """The key of ``keys`` standing first in the sheet's column order."""
        cols = self.table.columns if self.table is not None else {}
        order = {f.key: i for i, f in enumerate(self.sheet.fields)}
        local = [k for k in keys if "." not in k]
        return min(local, key=lambda k: (cols.get(k, 10_000 + order.get(k, 0))))

    def records(self) -> list[Record]:
        """The rows the rule runs over (none for the form: its rules read :meth:`value` of None)."""
        return self.table.records if self.table is not None else []

    def targets(self) -> list[Record | None]:
        """The rows of a table, or the form itself (None) for a rule of 基本信息."""
        return list(self.records()) if self.table is not None else [None]

    def report(self, rec: Record | None, key: str, message: Text) -> None:
        """A problem of this rule at field ``key`` of ``rec`` (of the form, when ``rec`` is None)."""
        if rec is not None and key not in rec.cells:
            return  # the column is missing altogether: reported once as missing_column
        if rec is not None:
            cell, row, raw = rec.cells.get(key), rec.row, rec.raw.get(key)
            sheet = self.table.sheet_name if self.table else None
        else:
            cell, row, raw = self.data.info_cells.get(key), None, self.data.info_raw.get(key)
            sheet = self.data.info_sheet
        from ..reading.cells import show  # reading.cells imports the layout, which imports this package

        self.data.add(self.rule.code, message.zh, message.en, self.rule.severity, sheet=sheet, cell=cell, row=row,
                      field=key, value=show(raw) if raw is not None else None, table=self.sheet.key)


class WorkbookContext:
    """One rule comparing tables of one workbook (rows already marked rejected are left out)."""

    def __init__(self, data: WorkbookData, rule: Rule) -> None:
        self.data, self.rule, self.p, self.layout = data, rule, rule.params, data.layout

    def report(self, table_key: str, message: Text, value: str | None = None) -> None:
        """A problem of this rule about table ``table_key`` as a whole (no cell)."""
        self.data.add(self.rule.code, message.zh, message.en, self.rule.severity,
                      sheet=self.data.tables[table_key].sheet_name, table=table_key, value=value)


@dataclass(frozen=True)
class AcrossProblem:
    """A problem a rule across schools found in one stored row.

    ``org_code`` and ``source_file`` say whose file it belongs to, ``row`` is the row of that file's
    sheet and ``field`` the field to point at; the caller knows the sheet's name and the column in that
    file, and turns this into a problem of the file.
    """

    code: str
    severity: str
    zh: str
    en: str
    org_code: str
    source_file: str
    row: int
    field: str
    value: str


@dataclass
class AcrossContext:
    """One rule applied to the stored rows of one table from every school of a merge.

    A stored row is ``(org_code, org_name, *values in the order of sheet.fields, source_file, source_row)``.
    """

    rule: Rule
    sheet: Sheet
    rows: Iterable[tuple]
    problems: list[AcrossProblem] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.p = self.rule.params
        self._index = {f.key: i + 2 for i, f in enumerate(self.sheet.fields)}  # after org_code, org_name

    def index(self, key: str) -> int:
        """Position of field ``key``'s value in a stored row."""
        return self._index[key]

    def label(self, key: str) -> Text:
        """The label of field ``key`` of the table."""
        lab = self.sheet.field(key).label
        return Text(lab["zh"], lab["en"])

    def name(self, key: str) -> Text:
        """Field ``key`` as a message names it: its label without the unit in brackets."""
        return unbracketed(self.label(key))

    def report(self, row: tuple, key: str, message: Text, value: str) -> None:
        """A problem of this rule at field ``key`` of the stored ``row``."""
        self.problems.append(AcrossProblem(self.rule.code, self.rule.severity, message.zh, message.en,
                                           row[0], row[-2], row[-1], key, value))
