"""Problems are data: one record per finding, collected in a report.

A :class:`Problem` has a stable snake_case ``code``, a severity, where it is
(file, sheet, cell, row, field), the raw value, and its message in Chinese
and English. :data:`CATALOGUE` lists every code with what it means; README's
table of problem codes is generated from it (a test keeps it current).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

# The severities, most serious first; a layout may give a rule any of them.
SEVERITIES = ("error", "warning", "info")
SEVERITY_ORDER = {severity: rank for rank, severity in enumerate(SEVERITIES)}
# How a severity is shown to people: in the text report, the annotated copy, the district workbook and the
# descriptions of rules. English shows the code itself.
SEVERITY_WORDS = {"zh": {"error": "错误", "warning": "提醒", "info": "说明"},
                  "en": {"error": "error", "warning": "warning", "info": "info"}}

# code: (usual severity, meaning in Chinese, meaning in English)
CATALOGUE: dict[str, tuple[str, str, str]] = {
    # reading one cell
    "required": ("error", "必填项为空", "a required value is empty"),
    "not_a_number": ("error", "应为数字，无法识别", "a number was expected but cannot be read"),
    "not_an_integer": ("error", "应为整数", "a whole number was expected"),
    "not_a_date": ("error", "应为日期，无法识别", "a date was expected but cannot be read"),
    "invalid_month": ("error", "月份应为 1–12", "a month 1–12 was expected"),
    "not_in_list": ("error", "不是下拉列表中的值", "not one of the dropdown values"),
    "subcategory_mismatch": ("error", "明细科目不属于所选收支科目", "the sub-category does not belong to the category"),
    "out_of_range": ("error", "超出允许范围", "outside the allowed range"),
    "out_of_year": ("error", "日期不在本年度内", "the date is outside the workbook's year"),
    "too_long": ("error", "文字超过长度上限", "the text is too long"),
    "invalid_code": ("error", "代码格式不对", "the code has the wrong form"),
    "invalid_phone": ("error", "电话号码格式不对", "not a valid phone number"),
    "error_value": ("error", "单元格是错误值（如 #N/A、#DIV/0!）", "the cell holds an error value (such as #N/A, #DIV/0!)"),
    "external_reference": ("error", "公式引用其他工作簿，且没有保存结果", "a formula refers to another workbook and has no saved result"),
    "stored_as_text": ("warning", "数字或日期以文字形式保存，工作簿自身的合计不计入", "a number or date stored as text: the workbook's own totals ignore it"),
    "normalized": ("info", "按规范格式读取（原值已保留）", "read in normal form (the original value is kept)"),
    # rules of the layout (the layout may change each severity)
    "duplicate": ("error", "重复", "a duplicate"),
    "income_expense_both_or_none": ("error", "收入、支出须且只须填一栏并大于 0", "exactly one of income and expense must be filled and > 0"),
    "direction_mismatch": ("error", "金额填在与科目方向不符的一栏", "the amount is in the column opposite to the category's direction"),
    "formula_overwritten": ("error", "公式被改成了固定数值", "a formula was overwritten with a constant"),
    "formula_missing": ("warning", "此行余额没有公式（行在表格之外或公式被删），工作簿自身的余额和合计不含此行", "this row's balance has no formula (a row outside the table, or the formula deleted): the workbook's own balance and totals leave it out"),
    "cap_exceeded": ("error", "超过上限", "a cap is exceeded"),
    "month_mismatch": ("error", "活动日期不在所填月份内", "the date is not in the given month"),
    "repeat_visit": ("warning", "同一人同一事由 30 天内重复慰问", "the same member visited for the same reason within 30 days"),
    "date_order": ("warning", "日期比上一笔早", "the date goes back in time"),
    "negative_balance": ("warning", "余额为负数", "the running balance is negative"),
    "gender_group_mismatch": ("error", "组别与性别不符", "the group does not match the gender"),
    "over_members": ("warning", "实际人数超过会员人数", "more people than members"),
    "over_budget": ("warning", "实际支出超过预算的 1.2 倍", "spent more than 1.2 times the budget"),
    "members_exceed_staff": ("warning", "会员人数多于在职职工人数", "more members than staff"),
    "care_ledger_mismatch": ("warning", "慰问金合计与台账中慰问支出不符", "care cash total differs from the ledger's care expenses"),
    "schedule_ledger_mismatch": ("warning", "月度安排支出多于台账职工活动支出", "the schedule spends more than the ledger's activity expenses"),
    "duplicate_across_schools": ("warning", "同一人被两所学校报名", "the same person entered by two schools"),
    "empty_table": ("warning", "表中一行也没有填写，基本信息中也没有说明本年度无此项", "a table has no rows, and 基本信息 does not say it had nothing this year"),
    "empty_submission": ("warning", "各表都没有填写，像是没有填过的空白工作簿", "none of the tables has a row: a blank template sent back"),
    # the workbook as a whole
    "missing_sheet": ("error", "缺少工作表", "a sheet is missing"),
    "missing_column": ("error", "缺少栏目", "a column is missing"),
    "extra_column": ("warning", "多出的栏目，未读取", "an extra column, not read"),
    "no_identity": ("warning", "工作簿缺少版式标识，按表头识别", "the workbook has no identity; recognised by its headers"),
    "org_mismatch": ("warning", "基本信息与工作簿标识不一致", "基本信息 differs from the workbook's identity"),
    "macros_present": ("warning", "含宏的工作簿：宏不会运行", "a workbook with macros: they are never run"),
    "too_many_rows": ("error", "行数超过上限，其余未读取", "too many rows; the rest was not read"),
    "sheet_too_large": ("error", "工作表内容远超表格范围，未读取", "the sheet reaches far outside its table; not read"),
    # files that cannot be read
    "unreadable_file": ("error", "文件无法读取", "the file cannot be read"),
    "empty_file": ("error", "文件是空的", "the file is empty"),
    "wrong_format": ("error", "不是 .xlsx 工作簿", "not an .xlsx workbook"),
    "encrypted_file": ("error", "文件设有打开密码", "the file is password-protected"),
    "unsafe_file": ("error", "文件可能有害（压缩炸弹或 XML 实体）", "the file may be harmful (zip or XML bomb)"),
    "unknown_layout": ("error", "不是本版式的工作簿", "not a workbook of this layout"),
    "layout_version": ("warning", "工作簿的版式版本与当前不同", "the workbook's layout version differs"),
    "timeout": ("error", "读取超时", "reading took too long"),
    "reader_crashed": ("error", "读取此文件时读取程序异常退出", "the reader stopped abnormally on this file"),
    "not_a_file": ("error", "不是普通文件（文件夹无法打开、管道、设备或失效的链接）", "not a regular file (an unreadable folder, a pipe, a device or a broken link)"),
    "district_workbook": ("info", "这是区级汇总工作簿，不是学校的报送文件，未汇总", "a district roll-up workbook, not a school's file; not merged"),
    # merge
    "not_on_roster": ("warning", "不在名册中的学校", "a school not on the roster"),
    "layout_edition": ("warning", "工作簿用另一版本的版式生成", "the workbook was made with another edition of the layout"),
    "other_year": ("warning", "年度与其他学校的不同", "a different year from the other schools' files"),
    "superseded": ("info", "同一学校的另一文件更新，此文件已被替代", "a newer file of the same school replaces this one"),
}


@dataclass
class Problem:
    """One finding, with where it is and what it says."""

    severity: str
    code: str
    message_zh: str
    message_en: str
    file: str | None = None
    sheet: str | None = None
    cell: str | None = None
    row: int | None = None
    field: str | None = None
    value: Any = None
    table: str | None = None  # layout sheet key (not shown; used to group and to reject rows)
    input: int | None = None  # in a merge, the position of the file among the inputs (not shown)

    def message(self, lang: str = "zh") -> str:
        """The message in ``lang``."""
        return self.message_en if lang == "en" else self.message_zh

    def to_dict(self, lang: str = "zh") -> dict[str, Any]:
        """The JSON form of §4: every key present, unknown ones ``None``."""
        value = self.value
        if value is not None and not isinstance(value, (str, int, float, bool)):
            value = str(value)
        return {"severity": self.severity, "code": self.code, "sheet": self.sheet, "cell": self.cell,
                "row": self.row, "field": self.field, "value": value, "message": self.message(lang)}

    def sort_key(self) -> tuple:
        return (SEVERITY_ORDER.get(self.severity, 9), self.sheet or "", self.row or 0, self.cell or "", self.code)


@dataclass
class Report:
    """The problems of one or more files."""

    problems: list[Problem] = dataclasses.field(default_factory=list)

    def add(self, problem: Problem) -> Problem:
        self.problems.append(problem)
        return problem

    def __iter__(self) -> Iterator[Problem]:
        return iter(self.problems)

    def __len__(self) -> int:
        return len(self.problems)

    def count(self, severity: str) -> int:
        """How many problems of ``severity``."""
        return sum(1 for p in self.problems if p.severity == severity)

    @property
    def has_errors(self) -> bool:
        return any(p.severity == "error" for p in self.problems)

    def sorted(self) -> list[Problem]:
        """Most serious first, then by sheet and row."""
        return sorted(self.problems, key=Problem.sort_key)


def problem(code: str, zh: str, en: str, severity: str | None = None, **where: Any) -> Problem:
    """Build a problem; the severity defaults to the catalogue's."""
    if code not in CATALOGUE:
        raise KeyError(f"problem code {code!r} is not in the catalogue")
    return Problem(severity or CATALOGUE[code][0], code, zh, en, **where)


def catalogue_markdown() -> str:
    """README's table of problem codes, generated from :data:`CATALOGUE`."""
    lines = ["| code | severity | 含义 | meaning |", "|---|---|---|---|"]
    for code, (sev, zh, en) in CATALOGUE.items():
        lines.append(f"| `{code}` | {sev} | {zh} | {en} |")
    return "\n".join(lines)
