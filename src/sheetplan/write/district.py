"""Write the district roll-up workbook of a merge (区教育工会汇总).

Figures on 汇总 and 分项统计 are live formulas over the detail sheets, with
the values computed in Python cached in them, so a clerk who corrects a
detail row sees the totals follow, and a reader that does not recalculate
still sees the right numbers. Text from a school is always written with
``write_string``: a ``=HYPERLINK(…)`` typed by a school stays text.
Written in constant-memory mode, row by row, so memory does not grow with
the number of cells.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Iterable
from typing import IO, TYPE_CHECKING, Any

import xlsxwriter

from ..layout.geometry import PROPERTY_PREFIX, a1, col_letter, quote_sheet
from ..problems import SEVERITY_ORDER, SEVERITY_WORDS
from .template import DEFAULT_WIDTHS, display_width, field_width

if TYPE_CHECKING:  # pragma: no cover
    from ..layout import Layout
    from ..merge import MergeResult

EXCEL_MAX_ROWS = 1_048_576
FMT = {None: "0", "int": "0", "money": "#,##0.00", "percent": "0.0%", "date": "yyyy-mm-dd"}
WORDS = {
    "zh": {"code": "单位代码", "name": "单位名称", "status": "提交状态", "errors": "错误数", "warnings": "警告数",
           "rejected": "退回行数", "source": "来源文件", "row": "来源行", "total": "合计", "summary": "汇总",
           "submissions": "提交情况", "problems": "问题清单", "notes": "说明清单", "breakdowns": "分项统计", "charts": "图表",
           "entries": "报名",
           "sub_cols": {"source_file": "来源文件", "org_code": "单位代码", "org_name": "单位名称", "prepared_on": "填报日期",
                        "modified": "修改时间", "layout": "版式", "layout_version": "版式版本", "size": "大小(字节)",
                        "sha256": "SHA-256", "note": "说明", "status": "状态"},
           "off_roster": "{status}（不在名册）",
           "prob_more": "另有 {n} 条问题（均为较轻的）超出工作表行数上限未列出；全部问题见导出文件夹中的 problems.csv。",
           "prob_cols": {"org_code": "单位代码", "org_name": "单位名称", "severity": "严重程度", "meaning": "问题类型",
                         "code": "代码", "sheet": "工作表", "cell": "单元格", "field": "字段", "value": "原值",
                         "message": "说明", "raw": "原始行（已退回）", "row": "行", "source_file": "来源文件"},
           "excluded": "注：各项数字只计入通过检查的行。有错误的行已退回、不计入（行数见“{rejected}”列，内容见{problems}），"
                       "所以可能与学校自己表中的合计、余额不同。",
           "nothing_yet": "注：还没有可以汇总的文件，本表只列出各校的提交情况。",
           "recomputed": "本表的{balance}按汇总收录的行重新计算：从{opening}起，逐行加{plus}、减{minus}。有错误而退回的行"
                         "不计入（见{problems}），所以可能与学校自己表中的{balance}不同。每所学校最后一行的{balance}"
                         "＝{opening}＋{plus}合计－{minus}合计，与“{summary}”表一致。",
           "run": "汇总批次：{run}（导出文件夹 manifest.json 中的批次号与此相同，即为同一次汇总的结果）",
           "edition": "另一版本，指纹"},
    "en": {"code": "Org code", "name": "Organisation", "status": "Status", "errors": "Errors", "warnings": "Warnings",
           "rejected": "Rows rejected", "source": "Source file", "row": "Source row", "total": "Total", "summary": "Summary",
           "submissions": "Submissions", "problems": "Problems", "notes": "Notes", "breakdowns": "Breakdowns",
           "charts": "Charts", "entries": "Entries",
           "sub_cols": {"source_file": "Source file", "org_code": "Org code", "org_name": "Organisation",
                        "prepared_on": "Prepared on", "modified": "Modified", "layout": "Layout",
                        "layout_version": "Layout version", "size": "Size (bytes)", "sha256": "SHA-256", "note": "Note",
                        "status": "Status"},
           "off_roster": "{status} (not on the roster)",
           "prob_more": "{n} more problems (the least serious) do not fit in a sheet; problems.csv in the export folder has them all.",
           "prob_cols": {"org_code": "Org code", "org_name": "Organisation", "severity": "Severity", "meaning": "Problem",
                         "code": "Code", "sheet": "Sheet", "cell": "Cell", "field": "Field", "value": "Value",
                         "message": "Message", "raw": "Raw row (rejected)", "row": "Row", "source_file": "Source file"},
           "excluded": "Note: the figures count only rows that passed the checks. Rows with errors were rejected and are "
                       "left out (how many: column '{rejected}'; what: {problems}), so they may differ from the totals "
                       "and balances in a school's own workbook.",
           "nothing_yet": "Note: no file could be merged yet; this workbook only shows who has submitted.",
           "recomputed": "{balance} here is recomputed over the rows merged: from {opening}, plus {plus}, minus {minus}, "
                         "row by row. Rows rejected for an error are left out (see {problems}), so it may differ from the "
                         "{balance} in a school's own workbook. Each school's last {balance} = {opening} + total {plus} − "
                         "total {minus}, as on {summary}.",
           "run": "Merge run: {run} (an export folder whose manifest.json has the same run is from the same merge)",
           "edition": "another edition, fingerprint"},
}
# 提交情况 and 问题清单, column by column: the record key and the width (None: measured from the contents). Printed:
# 问题清单 up to 原始行 (the code's row number and the file's name are for the screen; 单位 and 单元格 say where).
SUB_COLUMNS = (("source_file", None), ("org_code", 11), ("org_name", None), ("prepared_on", 12), ("modified", 22),
               ("layout", None), ("layout_version", 8), ("size", 11), ("sha256", 12), ("note", 44), ("status", None))
PROB_COLUMNS = (("org_code", 10), ("org_name", None), ("severity", 7), ("meaning", 18), ("code", 14), ("sheet", 10),
                ("cell", 7), ("field", 12), ("value", 14), ("message", 44), ("raw", 36), ("row", 6), ("source_file", None))
PRINTED = frozenset(k for k, _ in PROB_COLUMNS[:[k for k, _ in PROB_COLUMNS].index("raw") + 1])
WRAPPED = frozenset({"note", "meaning", "code", "value", "message", "raw"})
# A date needs the width of its format's text and a margin, in the CJK font that renders it; a column narrower
# than that shows ###.
DATE_WIDTH = max(DEFAULT_WIDTHS["date"], len(FMT["date"]) + 3)
_BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")


_TEXT, _NUMBER, _DATE = "text", "number", "date"
NUMERIC = ("money", "formula", "int", "month")
_EXCEL_DAY_ZERO = dt.date(1899, 12, 30).toordinal()


def excel_date(d: dt.date) -> float:
    """A date as Excel's serial day number, what write_datetime computes, without building a datetime per cell."""
    if d.year < 1901:  # Excel's own 1900 leap-year fiction: let xlsxwriter handle the early dates
        from xlsxwriter.utility import _datetime_to_excel_datetime

        return _datetime_to_excel_datetime(dt.datetime(d.year, d.month, d.day), False, True)
    return float(d.toordinal() - _EXCEL_DAY_ZERO)


def _when(text: str) -> dt.datetime | None:
    """An ISO date or date-time as the datetime a spreadsheet shows with a date format, or None."""
    try:
        return dt.datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None


LINE_HEIGHT = 15.75  # points per line of 11-point text


def wrapped_height(texts: Iterable[tuple[str, float]]) -> float | None:
    """The height (points) a row needs for its wrapped ``(text, column width)`` cells, or None for one line.

    Spreadsheets do not grow a row for wrapped text they did not lay out themselves (LibreOffice keeps the
    default height), so the writer sets it: the longest text over the width it has, CJK counted double.
    """
    # A spreadsheet breaks lines a little before the full width: count on 85 % of it.
    lines = max([1] + [-(-display_width(t) // max(1, int(w * 0.85))) for t, w in texts])
    return LINE_HEIGHT * lines if lines > 1 else None


def _formula_string(text: Any) -> str:
    """A string literal inside a formula."""
    return '"' + str(text).replace('"', '""') + '"'


class _District:
    """The workbook in three steps: :meth:`open` adds every sheet known in advance (the detail sheets with their
    headers), :meth:`add_rows` appends merged rows to a detail sheet, :meth:`finish` writes the rest."""

    def __init__(self, layout: Layout, target: Any, lang: str, detail: bool, note: str | None) -> None:
        self.layout = layout
        self.district = layout.district
        self.lang = lang
        self.w = WORDS[lang]
        self.detail = detail
        self.note = note
        self.wb = xlsxwriter.Workbook(target, {
            "constant_memory": True, "strings_to_numbers": False, "strings_to_formulas": False,
            "strings_to_urls": False, "default_date_format": "yyyy-mm-dd"})
        self._fmts: dict[tuple, Any] = {}
        self.detail_names = {t.key: t.name[lang] for t in layout.tables}
        self.n_rows: dict[str, int] = {t.key: 0 for t in layout.tables}
        self._sheets: dict[str, Any] = {}
        self._plans: dict[str, list[tuple[int, str, Any]]] = {}

    def open(self) -> None:
        """Add 汇总, 提交情况 and the detail sheets (in the workbook's order) before any row arrives."""
        self._sheets["summary"] = self.wb.add_worksheet(self.w["summary"])
        self._sheets["submissions"] = self.wb.add_worksheet(self.w["submissions"])
        if self.detail:
            for t in self.layout.tables:
                self.open_detail(t)

    def finish(self, result: MergeResult) -> None:
        """Everything that needs the whole merge: 汇总, 提交情况, detail set-up, 问题清单, 分项统计, lists, charts."""
        if self.detail and any(self.n_rows[k] != len(result.merged.get(k, [])) for k in self.n_rows):
            from ..errors import IntegrityError

            raise IntegrityError("写入明细表的行数与汇总行数不一致，汇总未写出。",
                                 "The detail rows written differ from the merged rows; nothing was written.")
        self.r = result
        # The identity of a roll-up: a later merge that finds this workbook among its inputs says what it is.
        self.wb.set_custom_property(PROPERTY_PREFIX + "district", self.layout.id)
        self.wb.set_custom_property(PROPERTY_PREFIX + "run", result.run_id)
        self.status = result.status_words(self.lang)
        figures = result.figures  # plain data: the writer computes no figure of its own
        self.figures, self.totals = figures.schools, figures.totals
        self.breakdowns, self.items = figures.breakdowns, figures.items
        years = Counter(f.year for f in result.files if f.year)
        self.year = years.most_common(1)[0][0] if years else None
        records = result.problem_records(self.lang, labels=True)
        # Errors first, then warnings (问题清单); notes have their own sheet (说明清单), so that what needs doing is
        # not buried under what was only noted. Sorted by severity alone: within it, in input order.
        records.sort(key=lambda rec: SEVERITY_ORDER.get(rec["severity"], len(SEVERITY_ORDER)))
        self.serious = [rec for rec in records if rec["severity"] != "info"]
        self.notes = [rec for rec in records if rec["severity"] == "info"]
        self.listed = min(len(self.serious), problem_rows())
        self.build()

    def fmt(self, **kw: Any) -> Any:
        key = tuple(sorted(kw.items()))
        if key not in self._fmts:
            self._fmts[key] = self.wb.add_format({"font_name": "等线", "valign": "vcenter", **kw})
        return self._fmts[key]

    def header(self) -> Any:
        return self.fmt(bold=True, bg_color="#DDEBF7", border=1, text_wrap=True, align="center")

    def page(self, ws: Any, header_row: int, last_col: int) -> None:
        ws.set_landscape()
        ws.set_paper(9)
        ws.fit_to_pages(1, 0)
        ws.repeat_rows(0, header_row)
        ws.set_footer("&C&P / &N")
        ws.freeze_panes(header_row + 1, 2 if last_col > 3 else 0)

    # ------------------------------------------------------------------ ranges on detail sheets
    def rng(self, table: str, col: int) -> str:
        last = max(2, self.n_rows.get(table, 0) + 1)
        return f"{quote_sheet(self.detail_names[table])}!{a1(1, col, True)}:{a1(last - 1, col, True)}"

    def field_col(self, table: str, key: str) -> int:
        return 2 + [f.key for f in self.layout.sheet(table).fields].index(key)

    # ------------------------------------------------------------------ sheets
    def build(self) -> None:
        self.summary()
        self.submissions()
        if self.detail:
            for t in self.layout.tables:
                self.close_detail(t)
        self.problems()
        self.breakdown_sheet()
        self.entry_lists()
        self.charts()
        self.wb.close()

    def summary(self) -> None:
        w, lang = self.w, self.lang
        ws = self._sheets["summary"]
        cols = list(self.district.columns)
        head = [w["code"], w["name"], w["status"], *[c.label[lang] for c in cols], w["errors"], w["warnings"],
                w["rejected"], w["source"]]
        pos = {c.key: 3 + i for i, c in enumerate(cols)}
        err_col, warn_col, rej_col, src_col = 3 + len(cols), 4 + len(cols), 5 + len(cols), 6 + len(cols)
        title = f"{self.district.title[lang]} {self.year or ''}".strip()
        if self.note:
            title += "　" + self.note
        ws.write_string(0, 0, title, self.fmt(bold=True, font_size=14))
        # Why a figure here may differ from a school's own sheet, where the figures are read.
        ws.write_string(0, 3, w["nothing_yet"] if self.r.merged_nothing else w["excluded"].format(**w),
                        self.fmt(font_color="#C00000" if self.r.merged_nothing else "#595959"))
        ws.set_row(0, 26)
        for c, h in enumerate(head):
            ws.write_string(1, c, h, self.header())
        ws.set_row(1, 32)
        ws.set_column(0, 0, max(12, self.code_width()))
        ws.set_column(1, 1, max(16, self.name_width()))
        ws.set_column(2, 2, max([10] + [display_width(self.status[s.status]) + 2 for s in self.r.schools]))
        for c in cols:
            biggest = max([abs(v.get(c.key) or 0) for v in self.figures.values()] + [0])
            total = biggest * max(1, len(self.r.schools))
            digits = len(f"{total:,.2f}") if c.format == "money" else len(f"{total:,.0f}")
            ws.set_column(pos[c.key], pos[c.key], max(display_width(c.label[lang]) + 2, digits + 3, 8))
        ws.set_column(err_col, rej_col, 8)
        ws.set_column(src_col, src_col, self.source_width())
        text = self.fmt(border=1)
        first = 2
        prob = quote_sheet(self.w["problems"])
        last_prob = max(2, self.listed + 1)
        keys = [k for k, _ in PROB_COLUMNS]
        sc, vc = col_letter(keys.index("source_file")), col_letter(keys.index("severity"))
        psrc = f"{prob}!${sc}$2:${sc}${last_prob}"  # 来源文件
        psev = f"{prob}!${vc}$2:${vc}${last_prob}"  # 严重程度
        for i, s in enumerate(self.r.schools):
            r = first + i
            vals = self.figures.get(s.code, {})
            ws.write_string(r, 0, s.code, text)
            ws.write_string(r, 1, s.name, text)
            ws.write_string(r, 2, self.status[s.status], text)
            for c in cols:
                if s.status == "submitted":
                    self.figure(ws, r, pos[c.key], c, vals.get(c.key), pos)
                else:  # no figures for a school that sent nothing readable: blank, not 0
                    ws.write_blank(r, pos[c.key], None, self.fmt(border=1, num_format=FMT[c.format]))
            src = a1(r, src_col, False).replace(col_letter(src_col), "$" + col_letter(src_col))
            for col, sev, value in ((err_col, "error", s.errors), (warn_col, "warning", s.warnings)):
                # a school that sent no file has no problem count either: blank, not 0
                cached: Any = "" if s.source_file is None else value
                if self.detail:
                    ws.write_formula(r, col, f'=IF({src}="","",COUNTIFS({psrc},{src},{psev},{_formula_string(SEVERITY_WORDS[self.lang][sev])}))',
                                     self.fmt(border=1), cached)
                elif s.source_file is None:
                    ws.write_blank(r, col, None, self.fmt(border=1))
                else:
                    ws.write_number(r, col, value, self.fmt(border=1))
            # Rows, not problems (a row may have several): a value, as 问题清单 cannot count rows by formula.
            if s.status == "submitted":
                ws.write_number(r, rej_col, s.rejected, self.fmt(border=1, font_color="#C00000") if s.rejected else text)
            else:
                ws.write_blank(r, rej_col, None, text)
            ws.write_string(r, src_col, s.source_file or "", text)
        total_row = first + len(self.r.schools)
        bold = self.fmt(bold=True, border=1, bg_color="#F2F2F2")
        ws.write_string(total_row, 0, w["total"], bold)
        ws.write_string(total_row, 1, f"{len(self.r.schools)} 所" if lang == "zh" else f"{len(self.r.schools)} schools", bold)
        ws.write_string(total_row, 2, "", bold)
        for c in cols:
            col = pos[c.key]
            f = self.fmt(bold=True, border=1, bg_color="#F2F2F2", num_format=FMT[c.format])
            if c.kind == "ratio":
                self.write_value(ws, total_row, col, self.ratio_formula(total_row, c, pos), self.totals[c.key], f)
            else:
                rng = f"{a1(first, col)}:{a1(max(first, total_row - 1), col)}"
                self.write_value(ws, total_row, col, f"=SUM({rng})", self.totals[c.key], f)
        totals = ((err_col, sum(s.errors for s in self.r.schools)), (warn_col, sum(s.warnings for s in self.r.schools)),
                  (rej_col, sum(s.rejected for s in self.r.schools)))
        for col, value in totals:
            self.write_value(ws, total_row, col, f"=SUM({a1(first, col)}:{a1(max(first, total_row - 1), col)})", value, bold)
        ws.write_string(total_row, src_col, "", bold)
        ws.autofilter(1, 0, max(1, total_row - 1), src_col)
        self.page(ws, 1, src_col)
        ws.print_area(0, 0, total_row, rej_col)  # the source file names are for the screen
        self.summary_pos = pos
        self.summary_rows = (first, total_row - 1)

    # ------------------------------------------------------------------ widths measured from what is known early
    def code_width(self) -> float:
        """单位代码: the longest code (the roster and the files are known before any sheet is finished)."""
        return max([display_width(self.w["code"])] + [display_width(s.code) for s in self.r.schools]) + 2

    def name_width(self) -> float:
        """单位名称: the longest school name, within reason."""
        return min(40, max([display_width(self.w["name"])] + [display_width(s.name) for s in self.r.schools]) + 2)

    def source_width(self) -> float:
        """来源文件: the longest file name, within reason."""
        return min(60, max([display_width(self.w["source"])] + [display_width(f.source_file) for f in self.r.files]) + 2)

    def field_width(self, f: Any) -> float:
        """A detail column's width from the layout: a date's width, a list's longest item, the label (§2: widths
        that fit Chinese text). Rows are written as they arrive, so the cells themselves are never measured."""
        width = field_width(self.layout, f, self.lang)
        if f.type == "date":  # yyyy-mm-dd in the CJK font that renders it, or the spreadsheet shows ###
            width = max(width, DATE_WIDTH)
        return width

    def write_value(self, ws: Any, r: int, c: int, formula: str, value: float | None, fmt: Any) -> None:
        if self.detail:
            ws.write_formula(r, c, formula, fmt, "" if value is None else value)
        elif value is None:
            ws.write_blank(r, c, None, fmt)
        else:
            ws.write_number(r, c, value, fmt)

    def ratio_formula(self, r: int, c: Any, pos: dict[str, int]) -> str:
        num, den = a1(r, pos[c.refs[0]]), a1(r, pos[c.refs[1]])
        sub = f"-{a1(r, pos[c.refs[2]])}" if len(c.refs) > 2 else ""
        return f'=IF({den}{sub}>0,{num}/({den}{sub}),"")'

    def figure(self, ws: Any, r: int, col: int, c: Any, value: float | None, pos: dict[str, int]) -> None:
        f = self.fmt(border=1, num_format=FMT[c.format])
        code = f"$A{r + 1}"
        if c.kind == "info":
            if value is None:
                ws.write_blank(r, col, None, f)
            else:
                ws.write_number(r, col, value, f)
            return
        if c.kind == "ratio":
            formula = self.ratio_formula(r, c, pos)
        elif c.kind == "arith":
            plus = "+".join(a1(r, pos[k]) for k in c.refs)
            minus = "".join(f"-{a1(r, pos[k])}" for k in c.minus)
            formula = f"={plus}{minus}"
        else:
            conds = [f"{self.rng(c.table, 0)},{code}"]
            conds += [f"{self.rng(c.table, self.field_col(c.table, k))},{_formula_string(v)}" for k, v in c.where.items()]
            if c.kind == "count":
                formula = f"=COUNTIFS({','.join(conds)})"
            else:
                formula = f"=SUMIFS({self.rng(c.table, self.field_col(c.table, c.field))},{','.join(conds)})"
        self.write_value(ws, r, col, formula, value, f)

    def submissions(self) -> None:
        ws = self._sheets["submissions"]
        words = self.w["sub_cols"]
        for c, (key, _) in enumerate(SUB_COLUMNS):
            ws.write_string(0, c, words[key], self.header())
        # Every cell of a row aligned to the top: a row grown for a wrapped 说明 then still reads as one line.
        date_f = self.fmt(num_format="yyyy-mm-dd", valign="top")
        time_f = self.fmt(num_format="yyyy-mm-dd hh:mm:ss", valign="top")
        plain, wrap = self.fmt(valign="top"), self.fmt(text_wrap=True, valign="top")
        records = self.r.submission_records(self.lang, board=True)
        for rec in records:
            if rec["on_roster"] is False:
                rec["status"] = self.w["off_roster"].format(status=rec["status"])
            if rec["layout"] == self.layout.id:  # people know a layout by its title
                rec["layout"] = self.layout.title[self.lang]
            if rec["layout_fingerprint"] and rec["layout_fingerprint"] != self.layout.fingerprint:
                rec["layout"] = f"{rec['layout']}（{self.w['edition']} {rec['layout_fingerprint']}）"
        for i, rec in enumerate(records, start=1):
            height = wrapped_height((str(rec[k]), w) for k, w in SUB_COLUMNS if k in WRAPPED and w and rec[k])
            if height:  # before the row's cells: constant-memory mode writes a row once the next one starts
                ws.set_row(i, height)
            for c, (key, _) in enumerate(SUB_COLUMNS):
                v = rec[key]
                if v is None or v == "":
                    continue
                if key == "size" or key == "layout_version" and str(v).isdigit():
                    ws.write_number(i, c, int(v), plain)
                elif key in ("modified", "prepared_on"):
                    when = _when(v)
                    if when is None:
                        ws.write_string(i, c, str(v), plain)
                    else:
                        ws.write_datetime(i, c, when, time_f if key == "modified" else date_f)
                else:
                    ws.write_string(i, c, str(v), wrap if key in WRAPPED else plain)
        n = len(self.r.files)
        ws.write_string(n + 2, 0, self.w["run"].format(run=self.r.run_id))
        measured = {"source_file": self.source_width(), "org_name": self.name_width(),
                    "layout": max([0] + [display_width(str(r["layout"] or "")) + 2 for r in records]),
                    "status": max([0] + [display_width(r["status"]) + 2 for r in records])}
        for c, (key, width) in enumerate(SUB_COLUMNS):
            ws.set_column(c, c, max(width or measured[key], display_width(words[key]) + 2))
        ws.autofilter(0, 0, max(1, n), len(SUB_COLUMNS) - 1)
        self.page(ws, 0, len(SUB_COLUMNS) - 1)

    def open_detail(self, sheet: Any) -> None:
        lang = self.lang
        ws = self._sheets[sheet.key] = self.wb.add_worksheet(sheet.name[lang])
        fields = list(sheet.fields)
        head = [self.w["code"], self.w["name"], *[f.label[lang] for f in fields], self.w["source"], self.w["row"]]
        for c, h in enumerate(head):
            ws.write_string(0, c, h, self.header())
        for j, f in enumerate(fields):
            rb = (f.formula or {}).get("running_balance")
            if rb:  # say what this balance is, where it is read: not the school's own figure
                labels = {k: sheet.field(rb[k]).label[lang] for k in ("plus", "minus")}
                form, key = rb["opening"].split(".", 1)
                opening = self.layout.sheet(form).field(key).label[lang]
                # With the header: in constant-memory mode a comment written after its row is lost.
                ws.write_comment(0, 2 + j, self.w["recomputed"].format(balance=f.label[lang], opening=opening,
                                                                       problems=self.w["problems"],
                                                                       summary=self.w["summary"], **labels),
                                 {"x_scale": 2.4, "y_scale": 2.2, "font_name": "等线"})
        date_f = self.fmt(num_format="yyyy-mm-dd")
        money_f = self.fmt(num_format="#,##0.00")
        # Per column, once: how its values are written. The sheet's columns are the merged row's positions.
        self._plans[sheet.key] = [
            (2 + j, _DATE if f.type == "date" else _NUMBER if f.type in NUMERIC else _TEXT,
             date_f if f.type == "date" else money_f if f.type in ("money", "formula") else None)
            for j, f in enumerate(fields)]

    def add_rows(self, table: str, rows: Iterable[tuple]) -> None:
        """Append merged rows (org_code, org_name, field values…, source_file, source_row) to a detail sheet."""
        ws, plan = self._sheets[table], self._plans[table]
        n = len(plan)
        write_string, write_number = ws.write_string, ws.write_number
        i = self.n_rows[table]
        for row in rows:
            i += 1
            write_string(i, 0, row[0] or "")
            write_string(i, 1, row[1] or "")
            for c, how, f in plan:
                v = row[c]
                if v is None:
                    continue
                if how is _TEXT:
                    write_string(i, c, v if type(v) is str else str(v))
                elif how is _NUMBER:
                    write_number(i, c, v, f)
                else:
                    write_number(i, c, excel_date(v), f)
            write_string(i, 2 + n, row[2 + n])
            write_number(i, 3 + n, row[3 + n])
        self.n_rows[table] = i

    def close_detail(self, sheet: Any) -> None:
        ws = self._sheets[sheet.key]
        fields = list(sheet.fields)
        n = len(fields)
        ws.set_column(0, 0, self.code_width())
        ws.set_column(1, 1, self.name_width())
        for j, f in enumerate(fields):
            ws.set_column(2 + j, 2 + j, self.field_width(f))
        ws.set_column(2 + n, 2 + n, self.source_width())
        ws.set_column(3 + n, 3 + n, max(8, display_width(self.w["row"]) + 2))
        ws.autofilter(0, 0, max(1, self.n_rows[sheet.key]), 3 + n)
        self.page(ws, 0, 3 + n)

    def problems(self) -> None:
        """问题清单 (errors, then warnings) and 说明清单 (notes): readable on screen and on paper."""
        self.problem_sheet(self.w["problems"], self.serious)
        self.problem_sheet(self.w["notes"], self.notes, full=False)

    def problem_sheet(self, name: str, records: list[dict[str, Any]], full: bool = True) -> None:
        """One list of problems; ``full=False`` leaves out 原始行 when no problem listed has a rejected row."""
        ws = self.wb.add_worksheet(name)
        words = self.w["prob_cols"]
        columns = [(k, w) for k, w in PROB_COLUMNS if full or k != "raw" or any(rec["raw"] for rec in records)]
        printed = max(i for i, (k, _) in enumerate(columns) if k in PRINTED)
        for c, (key, _) in enumerate(columns):
            ws.write_string(0, c, words[key], self.header())
        sev = SEVERITY_WORDS[self.lang]
        red = self.fmt(font_color="#C00000", valign="top")
        shown = {"error": red, "warning": self.fmt(font_color="#9C5700", valign="top")}
        plain, wrap = self.fmt(valign="top"), self.fmt(text_wrap=True, valign="top")
        room = problem_rows()
        left = max(0, len(records) - room)  # the most serious come first, so what does not fit matters least
        for i, rec in enumerate(records[:room], start=1):
            height = wrapped_height((str(rec[k]), w) for k, w in columns if k in WRAPPED and w and rec[k] is not None)
            if height:  # before the row's cells: constant-memory mode writes a row once the next one starts
                ws.set_row(i, height)
            for c, (key, _) in enumerate(columns):
                v = rec[key]
                if v is None:
                    continue
                if key == "row":
                    ws.write_number(i, c, v, plain)
                elif key == "severity":
                    ws.write_string(i, c, sev.get(v, v), shown.get(v, plain))
                else:
                    ws.write_string(i, c, str(v), wrap if key in WRAPPED else plain)
        if left:  # after the rows: constant-memory mode writes rows in order
            ws.write_string(min(len(records), room) + 1, 0, self.w["prob_more"].format(n=left), red)
        measured = {"org_name": self.name_width(), "source_file": self.source_width()}
        for c, (key, width) in enumerate(columns):
            ws.set_column(c, c, max(width or measured[key], display_width(words[key]) + 2 if key not in WRAPPED else 0))
        last = len(columns) - 1
        ws.autofilter(0, 0, max(1, min(len(records), room)), last)
        self.page(ws, 0, last)
        ws.print_area(0, 0, max(1, min(len(records), room) + (1 if left else 0)), printed)

    def breakdown_sheet(self) -> None:
        lang = self.lang
        ws = self.wb.add_worksheet(self.w["breakdowns"])
        schools = self.r.schools
        row = 0
        max_items = 0
        for b, block, items in zip(self.district.breakdowns, self.breakdowns, self.items, strict=True):
            max_items = max(max_items, len(items))
            ws.write_string(row, 0, b.label[lang], self.fmt(bold=True, font_size=12))
            row += 1
            with_total = len(b.sum) <= 1  # a row total over income and expense together would mean nothing
            head = [self.w["code"], self.w["name"], *[f"{v}月" if isinstance(v, int) and lang == "zh" else str(v) for v in items]]
            head += [self.w["total"]] if with_total else []
            for c, h in enumerate(head):
                ws.write_string(row, c, h, self.header())
            ws.set_row(row, 30)
            row += 1
            first = row
            fmt = self.fmt(num_format="#,##0.00" if b.sum else "0")
            # One formula per school and item, the same but for the school's row: build the text once per item.
            code_rng, by_rng = self.rng(b.table, 0), self.rng(b.table, self.field_col(b.table, b.by))
            sum_rngs = [self.rng(b.table, self.field_col(b.table, k)) for k in b.sum]
            shapes = []  # each formula's text split where the school's row number goes
            for item in items:
                crit = str(item) if isinstance(item, int) else _formula_string(item)
                conds = [f"{code_rng},$A", f",{by_rng},{crit})"]
                if sum_rngs:
                    pieces = ["="]
                    for n, r in enumerate(sum_rngs):
                        pieces[-1] += f"{'+' if n else ''}SUMIFS({r},{conds[0]}"
                        pieces.append(conds[1])
                else:
                    pieces = [f"=COUNTIFS({conds[0]}", conds[1]]
                shapes.append(pieces)
            for s in schools:
                ws.write_string(row, 0, s.code)
                ws.write_string(row, 1, s.name)
                values = block.get(s.code, [0.0] * len(items))
                if s.status != "submitted":
                    row += 1
                    continue
                number = str(row + 1)
                for j, pieces in enumerate(shapes):
                    self.write_value(ws, row, 2 + j, number.join(pieces), values[j], fmt)
                tc = 2 + len(items)
                if with_total:
                    self.write_value(ws, row, tc, f"=SUM({a1(row, 2)}:{a1(row, tc - 1)})", sum(values), fmt)
                row += 1
            ws.write_string(row, 0, self.w["total"], self.fmt(bold=True))
            ws.write_string(row, 1, "", self.fmt(bold=True))
            column_totals = [sum(block[s.code][j] for s in schools if s.status == "submitted") for j in range(len(items))]
            for j, value in enumerate([*column_totals, sum(column_totals)] if with_total else column_totals):
                col = 2 + j
                self.write_value(ws, row, col, f"=SUM({a1(first, col)}:{a1(max(first, row - 1), col)})", value,
                                 self.fmt(bold=True, num_format="#,##0.00" if b.sum else "0"))
            row += 2
        ws.set_column(0, 0, 12)
        ws.set_column(1, 1, 20)
        ws.set_column(2, 2 + max_items, 14)
        ws.set_landscape()
        ws.set_paper(9)
        ws.fit_to_pages(1, 0)

    def entry_lists(self) -> None:
        d = self.district
        if not d.entry_table or not self.detail:
            return
        lang = self.lang
        sheet = self.layout.sheet(d.entry_table)
        keys = [f.key for f in sheet.fields]
        bi = keys.index(d.entry_by) + 2  # type: ignore[arg-type]
        idx = [keys.index(k) + 2 for k in d.entry_fields]
        rows = sorted(self.r.merged.get(d.entry_table, []), key=lambda r: (str(r[bi]), r[0] or "", r[-1]))
        groups: dict[str, list[tuple]] = {}
        for row in rows:
            groups.setdefault(str(row[bi]), []).append(row)
        used: set[str] = set()
        for event, members in groups.items():
            name = _BAD_SHEET_CHARS.sub("_", f"{self.w['entries']}-{event}")[:31]
            while name in used:
                name = name[:29] + f"~{len(used)}"
            used.add(name)
            ws = self.wb.add_worksheet(name)
            head = [self.w["code"], self.w["name"], *[sheet.field(k).label[lang] for k in d.entry_fields]]
            ws.write_string(0, 0, f"{event}（{len(members)}）", self.fmt(bold=True, font_size=12))
            for c, h in enumerate(head):
                ws.write_string(1, c, h, self.header())
            write_string, write_number = ws.write_string, ws.write_number
            for i, row in enumerate(members, start=2):
                write_string(i, 0, row[0] or "")
                write_string(i, 1, row[1] or "")
                for c, j in enumerate(idx, start=2):
                    v = row[j]
                    if v is None:
                        continue
                    if type(v) is str:
                        write_string(i, c, v)
                    elif isinstance(v, (int, float)):
                        write_number(i, c, v)
                    else:
                        write_string(i, c, str(v))
            ws.set_column(0, 0, self.code_width())
            ws.set_column(1, 1, self.name_width())
            for c, k in enumerate(d.entry_fields, start=2):
                ws.set_column(c, c, self.field_width(sheet.field(k)))
            self.page(ws, 1, len(head) - 1)

    def charts(self) -> None:
        d = self.district
        if not d.charts or not self.r.schools or self.r.merged_nothing:
            return  # a chart of nothing but blanks tells nobody anything
        ws = self.wb.add_worksheet(self.w["charts"])
        first, last = self.summary_rows
        n = last - first + 1
        summary = quote_sheet(self.w["summary"])
        height = max(320, 22 * n + 80)
        for i, key in enumerate(d.charts):
            col = self.summary_pos[key]
            c = next(x for x in d.columns if x.key == key)
            chart = self.wb.add_chart({"type": "bar"})
            chart.add_series({
                "name": c.label[self.lang],
                "categories": f"={summary}!$B${first + 1}:$B${last + 1}",
                "values": f"={summary}!${col_letter(col)}${first + 1}:${col_letter(col)}${last + 1}",
                "data_labels": {"value": True, "num_format": FMT[c.format]},
                "fill": {"color": ["#4472C4", "#ED7D31", "#70AD47"][i % 3]},
            })
            chart.set_title({"name": c.label[self.lang], "name_font": {"name": "等线", "size": 12}})
            chart.set_legend({"none": True})
            chart.set_y_axis({"reverse": True, "num_font": {"name": "等线"}})
            # A bar chart's value axis is its x axis. From 0, always: an axis starting at the smallest value makes
            # 4,700 look a third of 4,900.
            chart.set_x_axis({"min": 0, "num_format": FMT[c.format], "num_font": {"name": "等线"},
                              "major_gridlines": {"visible": True}})
            chart.set_size({"width": 620, "height": height})
            ws.insert_chart(1, i * 10, chart)
        ws.set_landscape()
        ws.set_paper(9)
        ws.fit_to_pages(1, 1)


def problem_rows() -> int:
    """How many problems 问题清单 can list: a sheet's rows less the header and a row saying what did not fit."""
    return EXCEL_MAX_ROWS - 2


def write_district(result: MergeResult, target: str | IO[bytes], lang: str = "zh", detail: bool = True,
                   note: str | None = None) -> None:
    """Write the district workbook; ``detail=False`` leaves detail to the export (values, not formulas)."""
    d = _District(result.layout, target, lang, detail, note)
    d.open()
    if detail:
        for t in result.layout.tables:
            d.add_rows(t.key, result.merged.get(t.key, []))
    d.finish(result)


class DistrictStream:
    """The district workbook written while files are still being read: detail rows go in as they arrive.

    Writing the detail is most of a merge's work and runs in one process; done while the workers read, it
    uses the time the parent would otherwise spend waiting. :meth:`finish` writes the rest once the merge
    is settled; :meth:`abandon` closes the workbook when its content cannot be used (the caller throws
    away what was written).
    """

    def __init__(self, layout: Layout, target: IO[bytes], lang: str = "zh") -> None:
        self._d = _District(layout, target, lang, True, None)
        self._d.open()

    def rows(self, table: str) -> int:
        """Rows written to a detail sheet so far."""
        return self._d.n_rows[table]

    def add(self, table: str, rows: Iterable[tuple]) -> None:
        """Append merged rows to a detail sheet."""
        self._d.add_rows(table, rows)

    def finish(self, result: MergeResult) -> None:
        """Write everything else and close; the detail sheets must hold exactly the merged rows."""
        self._d.finish(result)

    @property
    def closed(self) -> bool:
        return bool(self._d.wb.fileclosed)

    def abandon(self) -> None:
        """Close without using the content (closing removes xlsxwriter's temporary files); a no-op once closed."""
        if not self.closed:
            try:
                # In constant-memory mode xlsxwriter removes a sheet's temporary file only if the sheet has a cell.
                for ws in self._d.wb.worksheets():
                    ws.write_string(0, 0, "")
                self._d.wb.close()
            except Exception:  # noqa: S110 - already giving up on this workbook; the caller reports what went wrong
                pass

