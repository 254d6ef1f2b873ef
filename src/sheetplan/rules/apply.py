"""Applying the layout's rules to what the reader read, and marking the rows they reject."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .context import FileContext, WorkbookContext
from .registry import KINDS

if TYPE_CHECKING:
    from ..layout import Rule, Sheet
    from ..reading.workbook import Table, WorkbookData


def apply_rules(data: WorkbookData) -> None:
    """Apply every rule of the layout to a read workbook, then mark rejected rows.

    Rules of each sheet run first (dependent lists, then the sheet's ``rules``); the workbook's
    ``cross_checks`` run after rejected rows are marked, as they leave those out of their totals.
    """
    if not data.readable:
        return
    layout = data.layout
    for sheet in layout.sheets:
        table = data.tables.get(sheet.key) if sheet.kind == "table" else None
        if sheet.kind == "table" and (table is None or not table.found):
            continue
        if sheet.kind == "form" and data.info_sheet is None:
            continue
        if table is not None:
            check_dependent_lists(data, sheet, table)
        for rule in sheet.rules:
            if table is not None and not columns_present(rule, table):
                continue  # a missing column is reported once, as missing_column; its rules cannot run
            KINDS[rule.kind].check(FileContext(data, sheet, table, rule))
    mark_rejected(data)
    for rule in layout.cross_checks:
        KINDS[rule.kind].check(WorkbookContext(data, rule))


def columns_present(rule: Rule, table: Table) -> bool:
    """Whether every column of its own sheet that ``rule`` reads was found."""
    return all(k in table.columns for k in KINDS[rule.kind].local_fields(rule))


def check_dependent_lists(data: WorkbookData, sheet: Sheet, table: Table) -> None:
    """A value of a dependent list must belong to the value chosen in its parent column (明细科目 under 收支科目).

    A value that does not is an error at its cell, and is read as blank.
    """
    for f in sheet.fields:
        if not f.depends_on:
            continue
        children = data.layout.lists[f.list].children  # type: ignore[index]
        for rec in table.records:
            sub, parent = rec.values.get(f.key), rec.values.get(f.depends_on)
            if sub is None or parent is None or sub in children.get(parent, ()):
                continue
            allowed = "、".join(children.get(parent, ())) or f"（无{f.label['zh']}）"
            data.add("subcategory_mismatch", f"{f.label['zh']}“{sub}”不属于“{parent}”（可选：{allowed}）。",
                     f"{f.label['en']} '{sub}' does not belong to '{parent}' (choices: {', '.join(children.get(parent, ())) or 'none'}).",
                     sheet=table.sheet_name, cell=rec.cells.get(f.key), row=rec.row, field=f.key, value=str(rec.raw.get(f.key)),
                     table=sheet.key)
            rec.values[f.key] = None


def mark_rejected(data: WorkbookData) -> None:
    """A row with any error-severity problem is rejected (left out of totals, kept raw)."""
    bad = {(p.table, p.row) for p in data.report if p.severity == "error" and p.row is not None and p.table}
    for key, table in data.tables.items():
        for rec in table.records:
            rec.rejected = (key, rec.row) in bad
