"""Write the annual template workbook.

Everything on the sheets comes from the layout: titles, headers, widths,
formats, validations, prompts, dropdown lists, formulas and summaries.
Output is deterministic: the same layout, organisation and language give a
byte-identical file (fixed document dates; xlsxwriter fixes zip times).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import xlsxwriter
from xlsxwriter.worksheet import Worksheet

from .. import __version__
from ..layout import Field, Layout, Sheet, SummaryItem
from ..layout.fields import field_spec
from ..layout.geometry import (
    FIRST_DATA_ROW,
    FORM_HELP_COL,
    FORM_LABEL_COL,
    FORM_VALUE_COL,
    HEADER_ROW,
    LISTS_SHEET,
    META_SHEET,
    PROPERTY_PREFIX,
    README_SHEET,
    TITLE_ROW,
    a1,
    col_letter,
    column_of,
    form_row_of,
    last_data_row,
    quote_sheet,
    summary_col,
)
from ..reading.cells import balance_opening, running_balances
from ..rules.describe import describe_field, describe_rule
from ..rules.registry import kind_of

NUMBER_FORMATS = {
    "text": "@", "code": "@", "phone": "@", "list": "@",
    "int": "0", "month": "0", "money": "#,##0.00", "date": "yyyy-mm-dd", "formula": "#,##0.00",
}
SUMMARY_FORMATS = {None: "0", "int": "0", "money": "#,##0.00", "percent": "0.0%"}
DEFAULT_WIDTHS = {"date": 12, "money": 13, "int": 9, "month": 7, "phone": 14, "code": 12, "text": 12, "formula": 13}
FONT = "等线"  # the default Chinese UI font of Excel; falls back cleanly elsewhere
# The sheet-level name holding a table's print area when that area follows the filled rows. Not ASCII: openpyxl
# reads any run of ASCII letters in a print area as a column and warns on every load of the file; it takes a
# name without them for what it is, a print area it cannot resolve.
PRINT_NAME = "本表打印范围"


class TemplateError(Exception):
    """xlsxwriter refused something (a validation, a name): the layout is unusable."""


@dataclass(frozen=True)
class Org:
    """The organisation a template is made for."""

    name: str
    code: str
    year: int


def display_width(text: str) -> int:
    """Width in Excel character units: CJK and full-width characters count two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def field_width(layout: Layout, f: Field, lang: str) -> float:
    """Column width that fits the header label and typical values of a field."""
    if f.width:
        return f.width
    width = DEFAULT_WIDTHS.get(f.type, 12)
    if f.type == "list":
        width = min(30, max(display_width(v) for v in layout.lists[f.list].values) + 3)  # type: ignore[index]
    label = f.label[lang]
    return max(width, min(30, display_width(label) + 3 if lang == "zh" else len(label) * 1.1 + 2))


def _height(text: str, width: float) -> float:
    """Row height (points) for wrapped text in a column ``width`` characters wide."""
    lines = max(1, -(-display_width(text) // int(width * 0.95)))
    return 18 * lines


def list_name(key: str) -> str:
    """Defined name of a dropdown list."""
    return f"sp_{key}"


def title_text(org: Org, sheet_name: str, lang: str) -> str:
    """The title row of a sheet: ``<单位名称> <年度>年度 <sheet title>``."""
    if lang == "en":
        return f"{org.name} {org.year} {sheet_name}"
    return f"{org.name} {org.year}年度 {sheet_name}"


# ----------------------------------------------------------------------------- summaries


@dataclass(frozen=True)
class SummaryCell:
    """One placed cell of a summary block: a label, or a formula with its key."""

    row: int
    col: int
    kind: str  # "heading", "label", "formula", "item"
    text: str | float
    key: tuple[Any, ...] = ()
    format: str | None = None


def summary_lines(sheet: Sheet) -> list[SummaryItem]:
    """The summary items of a table that are one line each (a label and a formula): its totals."""
    return [item for item in sheet.summary if item.formula is not None]


def summary_cells(layout: Layout, sheet: Sheet, lang: str) -> list[SummaryCell]:
    """Place a table's summary block; formulas are templates (resolved by the writer).

    The lines (the totals: 收入合计, 期末余额 …) stand under a 汇总 heading beside the first rows of the table,
    where they are printed with it (see :meth:`_Builder.print_area`); the breakdown tables stand one under the
    other to the right of the lines, for the screen. Keys: ``(item,)`` for a summary line;
    ``(item, row_value, column_index)`` for a breakdown cell, where row_value is the list item, the number, or
    ``(parent, child)`` for pairs, and ``"合计"`` for a total row.
    """
    col = summary_col(sheet)
    out: list[SummaryCell] = []
    lines = summary_lines(sheet)
    if lines:
        out.append(SummaryCell(HEADER_ROW, col, "heading", "汇总" if lang == "zh" else "Summary"))
        for row, item in enumerate(lines, start=HEADER_ROW + 1):
            out.append(SummaryCell(row, col, "label", item.label[lang]))
            out.append(SummaryCell(row, col + 1, "formula", item.formula, (item.key,), item.format))  # type: ignore[arg-type]
        col += 3  # the label and value columns, and an empty column between the blocks
    row = HEADER_ROW
    for item in sheet.summary:
        if item.formula is not None:
            continue
        rows = item.rows or {}
        pairs = "pairs" in rows
        first_value_col = col + (2 if pairs else 1)
        out.append(SummaryCell(row, col, "heading", item.label[lang]))
        for j, c in enumerate(item.columns):
            out.append(SummaryCell(row, first_value_col + j, "heading", c.label[lang]))
        row += 1
        first = row
        for value in _breakdown_rows(layout, item):
            if pairs:
                parent, child = value
                out.append(SummaryCell(row, col, "item", parent, ("parent",)))
                out.append(SummaryCell(row, col + 1, "item", child, ("item",)))
            else:
                out.append(SummaryCell(row, col, "item", value, ("item",), rows.get("format")))
            for j, c in enumerate(item.columns):
                out.append(SummaryCell(row, first_value_col + j, "formula", c.formula, (item.key, value, j), c.format))
            row += 1
        if item.total:
            out.append(SummaryCell(row, col, "label", "合计" if lang == "zh" else "Total"))
            for j, c in enumerate(item.columns):
                rng = f"{a1(first, first_value_col + j)}:{a1(row - 1, first_value_col + j)}"
                out.append(SummaryCell(row, first_value_col + j, "total", f"SUM({rng})", (item.key, "合计", j), c.format))
            row += 1
        row += 1  # an empty row before the next breakdown
    return out


def _breakdown_rows(layout: Layout, item: SummaryItem) -> Iterator[Any]:
    rows = item.rows or {}
    if "list" in rows:
        yield from layout.lists[rows["list"]].values
    elif "values" in rows:
        yield from rows["values"]
    else:
        lst = layout.lists[rows["pairs"]]
        for parent, kids in lst.children.items():
            for kid in kids:
                yield (parent, kid)


_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def resolve_formula(template: str, layout: Layout, sheet: Sheet, lang: str,
                    item_cells: dict[str, str], row_cells: dict[str, str]) -> str:
    """Replace ``{field}``, ``{info.x}``, ``{@item}``, ``{item}``, ``{parent}`` by A1 references."""

    def repl(m: re.Match[str]) -> str:
        ph = m.group(1)
        if ph.startswith("@"):
            return item_cells[ph[1:]]
        if ph in row_cells:
            return row_cells[ph]
        if "." in ph:
            s, f = ph.split(".", 1)
            other = layout.sheet(s)
            return f"{quote_sheet(other.name[lang])}!{a1(form_row_of(other, f), FORM_VALUE_COL, True)}"
        c = column_of(sheet, ph)
        return f"{a1(FIRST_DATA_ROW, c, True)}:{a1(last_data_row(sheet), c, True)}"

    return _PLACEHOLDER.sub(repl, template)


# ----------------------------------------------------------------------------- the workbook


@dataclass
class Filled:
    """Values to write into the input cells (for sample and benchmark workbooks).

    ``rows[table]`` is a list of data rows (field key → value; ``None`` for a
    blank row); ``info`` overrides 基本信息 values.
    """

    info: dict[str, Any] = dataclasses.field(default_factory=dict)
    rows: dict[str, list[dict[str, Any] | None]] = dataclasses.field(default_factory=dict)


class _Builder:
    def __init__(self, layout: Layout, org: Org, lang: str, target: str | Path | IO[bytes],
                 filled: Filled | None = None) -> None:
        self.layout = layout
        self.org = org
        self.lang = lang
        self.filled = filled or Filled()
        self.wb = xlsxwriter.Workbook(
            target,
            {"strings_to_numbers": False, "strings_to_formulas": False, "strings_to_urls": False},
        )
        self._formats: dict[tuple, Any] = {}

    # -- formats are shared: one object per distinct look
    def fmt(self, **props: Any) -> Any:
        key = tuple(sorted(props.items()))
        if key not in self._formats:
            base = {"font_name": FONT, "font_size": 11, "valign": "vcenter"}
            base.update(props)
            self._formats[key] = self.wb.add_format(base)
        return self._formats[key]

    def title_fmt(self) -> Any:
        return self.fmt(bold=True, font_size=14, align="left")

    def header_fmt(self) -> Any:
        return self.fmt(bold=True, bg_color="#DDEBF7", border=1, align="center", text_wrap=True)

    def input_fmt(self, f: Field) -> Any:
        return self.fmt(locked=False, num_format=NUMBER_FORMATS[f.type])

    def locked_fmt(self, num_format: str = "General", bold: bool = False) -> Any:
        return self.fmt(locked=True, num_format=num_format, bg_color="#F2F2F2", bold=bold)

    def check(self, result: int, what: str) -> None:
        # xlsxwriter returns -1/-2 and only warns when it refuses something.
        if result not in (0, None):
            raise TemplateError(f"xlsxwriter refused {what} (code {result})")

    # -- identity
    def identity(self) -> dict[str, str]:
        return {
            "layout": self.layout.id,
            "layout_version": str(self.layout.version),
            "org_code": self.org.code,
            "org_name": self.org.name,
            "year": str(self.org.year),
            "generator": f"sheetplan {__version__}",
            "lang": self.lang,
        }

    def build(self) -> None:
        lang = self.lang
        wb = self.wb
        ident = self.identity()
        fixed = dt.datetime(self.org.year, 1, 1)
        wb.set_properties({
            "title": f"{self.org.name} {self.layout.title[lang]}",
            "subject": self.layout.title[lang],
            "author": "sheetplan",
            "company": self.org.name,
            "comments": f"sheetplan {self.layout.id} v{self.layout.version}",
            "created": fixed,
        })
        for k, v in ident.items():
            wb.set_custom_property(PROPERTY_PREFIX + k, v)
        self.readme()
        lists_ws_name = LISTS_SHEET[lang]
        sheets = {}
        for sheet in self.layout.sheets:
            sheets[sheet.key] = wb.add_worksheet(sheet.name[lang])
        lists_ws = wb.add_worksheet(lists_ws_name)
        meta_ws = wb.add_worksheet(META_SHEET)
        self.code_lists(lists_ws)
        for sheet in self.layout.sheets:
            ws = sheets[sheet.key]
            if sheet.kind == "form":
                self.form(ws, sheet)
            else:
                self.table(ws, sheet)
        lists_ws.hide()
        lists_ws.protect()
        meta_ws.write_string(0, 0, "key")
        meta_ws.write_string(0, 1, "value")
        for i, (k, v) in enumerate(ident.items(), start=1):
            meta_ws.write_string(i, 0, k)
            meta_ws.write_string(i, 1, v)
        meta_ws.very_hidden()
        meta_ws.protect()
        sheets[self.layout.sheets[0].key].activate()
        wb.close()

    def protect(self, ws: Worksheet) -> None:
        # No password: the office must be able to unprotect the sheet itself.
        ws.protect("", {
            "select_locked_cells": True, "select_unlocked_cells": True,
            "format_columns": True, "format_rows": True, "autofilter": True,
        })

    def page(self, ws: Worksheet, repeat: bool = True) -> None:
        """Every sheet prints on A4 landscape, one page wide, with page numbers (and its title rows on each page)."""
        ws.set_landscape()
        ws.set_paper(9)  # A4
        ws.set_margins(left=0.4, right=0.4, top=0.6, bottom=0.6)
        ws.center_horizontally()
        if repeat:
            ws.repeat_rows(TITLE_ROW, HEADER_ROW)
        ws.fit_to_pages(1, 0)
        ws.set_footer("&C&P / &N")

    def print_area(self, ws: Worksheet, sheet: Sheet) -> None:
        """The print area of a table: its filled rows, across the table and the summary lines (its totals).

        Excel, WPS and LibreOffice leave out the pages at the end of a print area that hold no cell content, so a
        table whose prepared rows are empty prints as many pages as it has filled rows with a fixed print area
        over all of them. A formula is content even while it shows nothing: a fixed print area over the 500 rows
        of a ledger, each holding its 余额 formula, printed 17 pages. A table with a formula column therefore gets
        a print area that is itself a formula, which Excel and WPS evaluate when they print: from A1 down to the
        last row holding anything (at least the title, the header and the summary lines). It is kept in a name
        of the sheet's own (:data:`PRINT_NAME`) that the print area names: a reader which only understands a
        fixed range (openpyxl) then finds no print area rather than a formula it warns about, and LibreOffice
        keeps it when it saves the file (a print area written as the formula itself, it drops). LibreOffice (7.4)
        does not print by it, though: it prints the used area, every row holding a formula included.
        """
        lines = len(summary_lines(sheet))
        last_col = summary_col(sheet) + 1 if lines else len(sheet.fields) - 1
        if not any(f.type == "formula" for f in sheet.fields):
            ws.print_area(TITLE_ROW, 0, last_data_row(sheet), last_col)
            return
        ref = quote_sheet(ws.name)
        data = f"{ref}!{a1(FIRST_DATA_ROW, 0, True)}:{a1(last_data_row(sheet), len(sheet.fields) - 1, True)}"
        least = HEADER_ROW + 1 + lines  # rows: the title, the header, and the summary lines beside the first rows
        last_filled = f'SUMPRODUCT(MAX(({data}<>"")*ROW({data})))'
        self.define(f"{ref}!{PRINT_NAME}", f"=OFFSET({ref}!$A$1,0,0,MAX({least},{last_filled}),{last_col + 1})")
        self.define(f"{ref}!_xlnm.Print_Area", f"={ref}!{PRINT_NAME}")

    # -- sheets
    def readme(self) -> None:
        lang = self.lang
        en = lang == "en"
        ws = self.wb.add_worksheet(README_SHEET[lang])
        text_w = 132  # with the label column, about the width of an A4 landscape page, as every page prints
        ws.set_column(0, 0, 20)
        ws.set_column(1, 1, text_w)
        ws.set_default_row(18)
        wrap = self.fmt(text_wrap=True, valign="top")
        body = self.fmt(text_wrap=True, valign="top", border=1)
        section = self.fmt(bold=True, font_size=12, bg_color="#FCE4D6")
        row = 0
        ws.merge_range(row, 0, row, 1, title_text(self.org, README_SHEET[lang], lang), self.title_fmt())
        ws.set_row(row, 28)
        row += 1

        def para(text: str, fmt: Any = wrap) -> None:
            nonlocal row
            ws.merge_range(row, 0, row, 1, text, fmt)
            ws.set_row(row, _height(text, text_w + 20))
            row += 1

        para(
            "This workbook is generated by sheetplan. Type only into the white cells; grey cells are computed. "
            "Choose from the dropdowns where a column has one. Keep the sheet names and header rows as they are: "
            "the district reads the workbook back by them. Before sending it, you may run `sheetplan check` on it. "
            "The sheets are protected without a password (Review → Unprotect Sheet) if you really must change them."
            if en else
            "本工作簿由 sheetplan 生成。只在白色单元格中填写，灰色单元格为自动计算。有下拉列表的列请从列表中选择。"
            "请勿改动工作表名称和表头行：区里汇总时按它们读取。报送前可用 sheetplan check 自查。"
            "各表已设保护但没有密码，确需调整时可在“审阅—撤消工作表保护”中解除。"
        )
        row += 1
        head = self.header_fmt()
        for sheet in self.layout.sheets:
            para(sheet.name[lang], section)
            para(sheet.help[lang])
            for c, h in enumerate(("Column", "What to enter") if en else ("栏目", "填写要求")):
                ws.write_string(row, c, h, head)
            row += 1
            lines: list[tuple[str, str]] = []
            for f in sheet.fields:
                text = describe_field(f, self.layout, self.org.year, lang)
                if f.type == "list" and not f.depends_on:
                    text += (" Choices: " if en else "可选：") + "、".join(self.layout.lists[f.list].values)  # type: ignore[index]
                lines.append((f.label[lang], text))
            rules = list(sheet.rules) + list(sheet.merge_rules)
            lines += [("Rule" if en else "规则", describe_rule(r, self.layout, lang)) for r in rules]
            for label, text in lines:
                ws.write_string(row, 0, label, body)
                ws.write_string(row, 1, text, body)
                ws.set_row(row, _height(text, text_w))
                row += 1
            row += 1
        if self.layout.cross_checks:
            para("Checks across sheets" if en else "跨表核对", section)
            for r in self.layout.cross_checks:
                para(describe_rule(r, self.layout, lang))
        self.protect(ws)
        self.page(ws, repeat=False)
        ws.print_area(0, 0, row, 1)

    def code_lists(self, ws: Worksheet) -> None:
        col = 0
        sheet_ref = quote_sheet(LISTS_SHEET[self.lang])
        for key, lst in self.layout.lists.items():
            ws.write_string(0, col, key)
            if lst.parent is None:
                for i, v in enumerate(lst.values, start=1):
                    ws.write_string(i, col, v)
                self.define(list_name(key), f"={sheet_ref}!{a1(1, col, True)}:{a1(len(lst.values), col, True)}")
                col += 1
            else:
                # Dependent list: (parent, child) pairs, grouped by parent, so that
                # OFFSET/MATCH/COUNTIF can cut out the children of one parent.
                ws.write_string(0, col + 1, key + ".child")
                i = 1
                for parent, kids in lst.children.items():
                    for kid in kids:
                        ws.write_string(i, col, parent)
                        ws.write_string(i, col + 1, kid)
                        i += 1
                self.define(list_name(key) + "_parent", f"={sheet_ref}!{a1(1, col, True)}:{a1(i - 1, col, True)}")
                self.define(list_name(key), f"={sheet_ref}!{a1(1, col + 1, True)}:{a1(i - 1, col + 1, True)}")
                col += 2
        ws.set_column(0, col, 16)

    def define(self, name: str, ref: str) -> None:
        self.check(self.wb.define_name(name, ref), f"the defined name {name}")

    def validation(self, ws: Worksheet, first_row: int, last_row: int, col: int, f: Field, sheet: Sheet) -> None:
        lang = self.lang
        en = lang == "en"
        spec = field_spec(f, self.org.year, self.layout)
        desc = describe_field(f, self.layout, self.org.year, lang)
        v: dict[str, Any] = {}
        top = a1(first_row, col)
        if f.type == "list":
            if f.depends_on:
                parent_cell = "$" + col_letter(column_of(sheet, f.depends_on)) + str(first_row + 1)
                pname = list_name(f.list) + "_parent"  # type: ignore[operator]
                v = {"validate": "list", "source": (
                    f"=OFFSET(INDEX({list_name(f.list)},1),MATCH({parent_cell},{pname},0)-1,0,"  # type: ignore[arg-type]
                    f"MAX(1,COUNTIF({pname},{parent_cell})),1)")}
            else:
                v = {"validate": "list", "source": f"={list_name(f.list)}"}  # type: ignore[arg-type]
        elif f.type in ("int", "month", "money"):
            # The bounds the reader enforces, with far limits where the layout sets none (a validation needs both).
            lo, hi = spec.validation_bounds()
            v = {"validate": "decimal" if f.type == "money" else "integer", "criteria": "between", "minimum": lo, "maximum": hi}
        elif f.type == "date":
            start, end = spec.validation_window()
            v = {"validate": "date", "criteria": "between", "minimum": start, "maximum": end}
        elif f.type == "phone":
            c = top
            v = {"validate": "custom", "value": (
                f'=OR(AND(LEN({c})=11,LEFT({c},1)="1",ISNUMBER(FIND(MID({c},2,1),"3456789")),ISNUMBER(--{c})),'
                f'AND(LEFT({c},1)="0",ISNUMBER(FIND("-",{c})),LEN({c})>=11,LEN({c})<=13))')}
        elif spec.max_length:
            v = {"validate": "length", "criteria": "<=", "value": spec.max_length}
        else:
            v = {"validate": "any"}
        v["input_title"] = f.label[lang][:32]
        v["input_message"] = desc[:255]
        v["ignore_blank"] = True
        if v["validate"] != "any":
            v["error_title"] = ("Please check" if en else "请核对")[:32]
            v["error_message"] = desc[:255]
            # A due date may be typed as a month (3月底): warn, do not refuse.
            v["error_type"] = "warning" if not f.strict else "stop"
        self.check(ws.data_validation(first_row, col, last_row, col, v), f"the validation of {sheet.key}.{f.key}")

    def form(self, ws: Worksheet, sheet: Sheet) -> None:
        lang = self.lang
        en = lang == "en"
        label_w = max(display_width(f.label[lang]) for f in sheet.fields) + 4
        ws.set_column(FORM_LABEL_COL, FORM_LABEL_COL, max(16, label_w))
        ws.set_column(FORM_VALUE_COL, FORM_VALUE_COL, 36)
        help_w = 64
        ws.set_column(FORM_HELP_COL, FORM_HELP_COL, help_w)
        ws.set_default_row(20)
        ws.merge_range(TITLE_ROW, 0, TITLE_ROW, FORM_HELP_COL, title_text(self.org, sheet.name[lang], lang), self.title_fmt())
        ws.set_row(TITLE_ROW, 28)
        for c, h in enumerate(("Item", "Value", "Notes") if en else ("项目", "填写内容", "说明")):
            ws.write_string(HEADER_ROW, c, h, self.header_fmt())
        label_fmt = self.fmt(bold=True, border=1, bg_color="#F2F2F2", locked=True)
        help_fmt = self.fmt(border=1, font_color="#595959", locked=True, font_size=10, text_wrap=True)
        prefill = {"org_name": self.org.name, "org_code": self.org.code, "year": self.org.year}
        for f in sheet.fields:
            r = form_row_of(sheet, f.key)
            ws.write_string(r, FORM_LABEL_COL, f.label[lang], label_fmt)
            cell_fmt = self.fmt(locked=False, num_format=NUMBER_FORMATS[f.type], border=1, align="left")
            value = prefill.get(f.prefill) if f.prefill else None  # type: ignore[arg-type]
            value = self.filled.info.get(f.key, value)
            if value is None:
                ws.write_blank(r, FORM_VALUE_COL, None, cell_fmt)
            else:
                self.value(ws, r, FORM_VALUE_COL, value, cell_fmt)
            help_text = describe_field(f, self.layout, self.org.year, lang)
            # A line a rule points at says that rule too: what to write under 本年度无此项 is said there.
            said = [describe_rule(rule, self.layout, lang) for rule in sheet.rules if kind_of(rule).fields(rule)[:1] == [f.key]]
            if said:
                help_text += (" " + "; ".join(t[:1].upper() + t[1:] for t in said) + ".") if en else "；".join(said) + "。"
            ws.set_row(r, max(20, _height(help_text, help_w * 1.1)))  # the notes' font is smaller, and they wrap
            ws.write_string(r, FORM_HELP_COL, help_text, help_fmt)
            self.validation(ws, r, r, FORM_VALUE_COL, f, sheet)
        last = form_row_of(sheet, sheet.fields[-1].key)
        ws.freeze_panes(HEADER_ROW + 1, 0)
        self.protect(ws)
        self.page(ws)
        ws.print_area(0, 0, last, FORM_HELP_COL)

    def table(self, ws: Worksheet, sheet: Sheet) -> None:
        lang = self.lang
        first, last = FIRST_DATA_ROW, last_data_row(sheet)
        ncols = len(sheet.fields)
        ws.set_default_row(18)
        for c, f in enumerate(sheet.fields):
            ws.set_column(c, c, field_width(self.layout, f, lang), self.input_fmt(f) if f.type != "formula" else None)
        ws.merge_range(TITLE_ROW, 0, TITLE_ROW, ncols - 1, title_text(self.org, sheet.name[lang], lang), self.title_fmt())
        ws.set_row(TITLE_ROW, 28)
        ws.set_row(HEADER_ROW, 32)
        for c, f in enumerate(sheet.fields):
            ws.write_string(HEADER_ROW, c, f.label[lang], self.header_fmt())
            if f.type == "formula":
                self.formula_column(ws, sheet, c, f)
            else:
                self.validation(ws, first, last, c, f, sheet)
        for i, row in enumerate(self.filled.rows.get(sheet.key, [])):
            for c, f in enumerate(sheet.fields):
                v = (row or {}).get(f.key)
                if v is not None and f.type != "formula":
                    self.value(ws, FIRST_DATA_ROW + i, c, v, self.input_fmt(f))
        ws.freeze_panes(HEADER_ROW + 1, 0)
        ws.autofilter(HEADER_ROW, 0, last, ncols - 1)
        self.summary(ws, sheet)
        self.protect(ws)
        self.page(ws)
        self.print_area(ws, sheet)
        ws.hide_gridlines(0)  # print the grid too: the table is often printed

    def value(self, ws: Worksheet, row: int, col: int, v: Any, fmt: Any) -> None:
        """One typed value; text always as text, never as a formula."""
        if isinstance(v, bool):
            ws.write_boolean(row, col, v, fmt)
        elif isinstance(v, (int, float)):
            ws.write_number(row, col, v, fmt)
        elif isinstance(v, dt.datetime):
            ws.write_datetime(row, col, v, fmt)
        elif isinstance(v, dt.date):
            ws.write_datetime(row, col, dt.datetime(v.year, v.month, v.day), fmt)
        else:
            ws.write_string(row, col, str(v), fmt)

    def formula_column(self, ws: Worksheet, sheet: Sheet, col: int, f: Field) -> None:
        rb = f.formula["running_balance"]  # type: ignore[index]
        s, k = rb["opening"].split(".", 1)
        other = self.layout.sheet(s)
        opening = f"{quote_sheet(other.name[self.lang])}!{a1(form_row_of(other, k), FORM_VALUE_COL, True)}"
        pc, mc = column_of(sheet, rb["plus"]), column_of(sheet, rb["minus"])
        fmt = self.locked_fmt(NUMBER_FORMATS["formula"])
        top_p, top_m = col_letter(pc) + "$" + str(FIRST_DATA_ROW + 1), col_letter(mc) + "$" + str(FIRST_DATA_ROW + 1)
        cached = self.filled_balances(sheet, rb)
        for r in range(FIRST_DATA_ROW, last_data_row(sheet) + 1):
            p, m = a1(r, pc), a1(r, mc)
            # Cumulative sums, not "previous balance + …", so blank rows between
            # entries neither break the chain nor show a balance of their own.
            formula = f'=IF(AND({p}="",{m}=""),"",{opening}+SUM({top_p}:{p})-SUM({top_m}:{m}))'
            ws.write_formula(r, col, formula, fmt, cached.get(r, ""))
        ws.set_column(col, col, field_width(self.layout, f, self.lang), fmt)

    def filled_balances(self, sheet: Sheet, rb: dict[str, str]) -> dict[int, float]:
        """Row → the balance a spreadsheet application would store for pre-filled rows.

        Filled workbooks then carry the cached values a file saved by Excel, WPS or
        LibreOffice has, not xlsxwriter's blanks: what the formula gives, as
        :func:`~sheetplan.reading.cells.running_balances` computes it (the reader checks
        a workbook's 余额 with the same function). For an opening balance given as text
        nothing is stored: an application that does not convert it saves errors there.
        """
        rows = self.filled.rows.get(sheet.key) or []
        opening = balance_opening(self.filled.info.get(rb["opening"].split(".", 1)[1]))
        if not rows or opening is None:
            return {}
        plus = [(row or {}).get(rb["plus"]) for row in rows]
        minus = [(row or {}).get(rb["minus"]) for row in rows]
        return {FIRST_DATA_ROW + i: balance for i, balance in enumerate(running_balances(opening, plus, minus))
                if balance is not None}

    def summary(self, ws: Worksheet, sheet: Sheet) -> None:
        lang = self.lang
        cells = summary_cells(self.layout, sheet, lang)
        # Each column as wide as its labels (a value column at least 12), the empty ones between blocks left alone.
        widths: dict[int, float] = {}
        for c in cells:
            text = str(c.text) if c.kind in ("heading", "label", "item") else ""
            widths[c.col] = max(widths.get(c.col, 12), min(30, display_width(text) + 3))
        for col, width in widths.items():
            ws.set_column(col, col, width)
        item_cells = {c.key[0]: a1(c.row, c.col, True) for c in cells if c.kind == "formula" and len(c.key) == 1}
        heading = self.header_fmt()
        label = self.fmt(bold=True, border=1, bg_color="#F2F2F2", locked=True)
        row_cells: dict[int, dict[str, str]] = {}
        for c in cells:
            if c.kind == "item":
                row_cells.setdefault(c.row, {})[c.key[0]] = f"${col_letter(c.col)}{c.row + 1}"
        for c in cells:
            if c.kind == "heading":
                ws.write_string(c.row, c.col, str(c.text), heading)
            elif c.kind == "label":
                ws.write_string(c.row, c.col, str(c.text), label)
            elif c.kind == "item":
                if isinstance(c.text, str):
                    ws.write_string(c.row, c.col, c.text, label)
                else:
                    ws.write_number(c.row, c.col, c.text, self.fmt(bold=True, border=1, bg_color="#F2F2F2", num_format=c.format or "General", align="left"))
            else:
                formula = resolve_formula(str(c.text), self.layout, sheet, lang, item_cells, row_cells.get(c.row, {}))
                fmt = self.fmt(border=1, locked=True, bg_color="#F2F2F2", num_format=SUMMARY_FORMATS[c.format])
                # The cached value must be right for an empty workbook: LibreOffice
                # shows cached values of xlsx files without recalculating them.
                ws.write_formula(c.row, c.col, "=" + formula, fmt, "" if c.format == "percent" else 0)


def write_template(layout: Layout, org: Org, target: str | Path | IO[bytes], lang: str = "zh",
                   filled: Filled | None = None) -> None:
    """Write the annual workbook for ``org`` to ``target`` (a path or a binary file object).

    ``filled`` pre-fills input cells (sample and benchmark data); templates leave it out.
    """
    _Builder(layout, org, lang, target, filled).build()
