"""Applying the layout's rules to what the reader read, and marking the rows they reject."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .context import FileContext, WorkbookContext
from .registry import KINDS
from .text import LANGS, Msg, Text, unbracketed

if TYPE_CHECKING:
    from ..layout import Rule, Sheet
    from ..reading.workbook import Table, WorkbookData


# A value of a dependent list that does not belong to the value chosen in its parent column.
MISMATCH: dict[str, Msg] = {
    "choose": Msg("{child}“{sub}”不属于{parent_field}“{parent}”，可选：{allowed}。",
                  "{child} '{sub}' does not belong to {parent_field} '{parent}'; choose one of: {allowed}."),
    "none": Msg("{child}“{sub}”不属于{parent_field}“{parent}”；“{parent}”没有{child}，请留空。",
                "{child} '{sub}' does not belong to {parent_field} '{parent}', which has none: leave it empty."),
}


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
        child = unbracketed(Text(f.label["zh"], f.label["en"]))
        parent_name = unbracketed(Text(*(sheet.field(f.depends_on).label[lang] for lang in LANGS)))
        for rec in table.records:
            sub, parent = rec.values.get(f.key), rec.values.get(f.depends_on)
            if sub is None or parent is None or sub in children.get(parent, ()):
                continue
            allowed = children.get(parent, ())
            # Said with what to do: choose one of the parent's children, or leave it empty when it has none.
            if allowed:
                message = MISMATCH["choose"].format(child=child, sub=sub, parent_field=parent_name, parent=parent,
                                                    allowed=Text("、".join(allowed), ", ".join(allowed)))
            else:
                message = MISMATCH["none"].format(child=child, sub=sub, parent_field=parent_name, parent=parent)
            data.add("subcategory_mismatch", message.zh, message.en,
                     sheet=table.sheet_name, cell=rec.cells.get(f.key), row=rec.row, field=f.key, value=str(rec.raw.get(f.key)),
                     table=sheet.key)
            rec.values[f.key] = None


def mark_rejected(data: WorkbookData) -> None:
    """A row with any error-severity problem is rejected (left out of totals, kept raw)."""
    bad = {(p.table, p.row) for p in data.report if p.severity == "error" and p.row is not None and p.table}
    for key, table in data.tables.items():
        for rec in table.records:
            rec.rejected = (key, rec.row) in bad
