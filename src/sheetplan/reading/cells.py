"""Parse one cell value for one field, the way a person typed it.

A value comes from the spreadsheet reader as str, float, int, bool, date or
datetime; a cell that holds an error value, or a formula into another
workbook without a saved result, comes as a :class:`CellError` or an
:class:`ExternalFormula` (strings), and is always a finding, never a blank.
:func:`parse` returns the typed value and the findings about it
(codes of :mod:`sheetplan.problems` with zh/en text, no location: the reader
adds that). Blank stays blank (``None``), never 0. Every normalisation that
changed what was typed is reported, so nothing is guessed silently.

There is one parser per field type (:func:`parse_full`, which :func:`parse`
names), and one shortcut, :func:`fast_column`, which the reader runs over
whole columns and which takes only the cells that parser would read as they
are. What a field accepts (bounds, date window, length, choices) comes from
its :class:`~sheetplan.layout.fields.FieldSpec`, the same object the template's
validations and the descriptions use.

The last section says what the workbook's own formulas see in a cell
(:func:`sum_value`, :func:`running_balances`): the template's pre-filled
balances and the reader's check of the 余额 column share it.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..layout.fields import TEXT_TYPES, FieldSpec, field_spec
from ..rules.text import Text, unbracketed

if TYPE_CHECKING:
    from ..layout import Field, Layout

EXCEL_EPOCH = dt.date(1899, 12, 30)
MAX_SERIAL = 2958465  # 9999-12-31
CN_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10,
             "十一": 11, "十二": 12, "正": 1, "冬": 11, "腊": 12}
_DATE_YMD = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")
_DATE_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_DATE_MD = re.compile(r"^(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]?$")
_MONTH_END = re.compile(r"^(?:(\d{4})\s*年\s*)?(\d{1,2}|[一二三四五六七八九十]{1,2})\s*月\s*(?:份)?\s*(?:底|末|中旬|下旬)?\s*(?:前|之前|以前)?$")
_MONTH = re.compile(r"^(\d{1,2}|[一二三四五六七八九十正冬腊]{1,2})\s*(?:月份|月)?$")
_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_LANDLINE = re.compile(r"^0\d{2,3}-\d{7,8}(?:-\d{1,6})?$")
_LANDLINE_DIGITS = re.compile(r"^0\d{9,11}$")
_NUMBER = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")

# The error values a spreadsheet shows in a cell. They are data about the cell (a formula that fails, a
# reference to something deleted), never a blank: a row holding one is rejected, not merged as if empty.
ERROR_VALUES = frozenset({"#N/A", "#REF!", "#DIV/0!", "#VALUE!", "#NAME?", "#NUM!", "#NULL!"})


class CellError(str):
    """An error value the file stores as such (an Excel ``t="e"`` cell, a cached formula error): its text."""

    __slots__ = ()


class ExternalFormula(str):
    """A formula that points at another workbook and has no saved result: its text (there is no value)."""

    __slots__ = ()


@dataclass
class Finding:
    """Something to report about a value: a problem code and its text."""

    code: str
    zh: str
    en: str


@dataclass
class Parsed:
    """The typed value (``None`` when blank or unreadable) and the findings."""

    value: Any = None
    findings: list[Finding] = field(default_factory=list)
    blank: bool = False


def is_blank(raw: Any) -> bool:
    """True for a cell a person left empty: nothing (``None``, or ``""`` as the reader gives an empty cell), or only spaces.

    The one test of blankness for the reader, the rules and the writer. A formula sees such a cell differently
    (spaces are not ``""`` to it): see :func:`formula_empty`.
    """
    return raw is None or raw == "" or (isinstance(raw, str) and not raw.strip())


def is_number(raw: Any) -> bool:
    """True for a cell holding a number (a boolean is not one, though Python counts it as an int)."""
    return isinstance(raw, (int, float)) and not isinstance(raw, bool)


def show(raw: Any) -> str:
    """A raw value as the user would recognise it in a message."""
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    if isinstance(raw, dt.datetime) and raw.time() == dt.time(0):
        return raw.date().isoformat()
    if isinstance(raw, dt.date):
        return raw.isoformat()
    return str(raw)


def _norm(s: str) -> str:
    # NFKC turns full-width digits and letters (１２００, ＡＢ) into ASCII; only
    # used for numbers, dates, codes and list matching, never for free text.
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", s))


def _bound_text(x: float) -> str:
    """A bound of a range in a message: 0, 100000, 0.5 (no needless decimals)."""
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _without_text_prefix(text: str) -> str | None:
    """``text`` without the apostrophe a spreadsheet takes as "keep this as text" ('004 → 004), or None.

    In a cell of the General format Excel, WPS and LibreOffice hide that apostrophe; in a cell formatted as
    text (as the template's codes and phone numbers are) LibreOffice keeps it as part of the value. Only a
    leading apostrophe followed by something is such a prefix: a lone ' stays what it is.
    """
    if text[:1] != "'":
        return None
    bare = text[1:].strip()
    return bare or None


class _Reading:
    """The reading of one cell for one field: the field, what it accepts, and the result built up."""

    def __init__(self, f: Field, spec: FieldSpec, year: int | None, in_formulas: bool) -> None:
        self.f = f
        self.spec = spec
        self.in_formulas = in_formulas
        self.year = year
        self.label = f.label
        self.out = Parsed()

    def bad(self, code: str, zh: str, en: str) -> Parsed:
        # A rejected value needs no note about how it was read.
        self.out.findings = [x for x in self.out.findings if x.code not in ("normalized", "stored_as_text")]
        self.out.findings.append(Finding(code, zh, en))
        self.out.value = None
        return self.out

    def note(self, raw: Any, value: Any, how_zh: str = "", how_en: str = "") -> None:
        if isinstance(raw, str) and not isinstance(value, str) and show(raw) == show(value) and not how_zh:
            # Only the kind changed (text that looks exactly like a date or number): say that, not "X read as X".
            kind_zh, kind_en = ("日期", "a date") if isinstance(value, dt.date) else ("数字", "a number")
            zh = f"{self.label['zh']}“{show(raw)}”是以文字保存的{kind_zh}，已按{kind_zh}读取。"
            en = f"{self.label['en']} '{show(raw)}' is {kind_en} stored as text; read as {kind_en}."
        else:
            zh = f"{self.label['zh']}“{show(raw)}”按“{show(value)}”读取{how_zh}。"
            en = f"{self.label['en']} '{show(raw)}' read as '{show(value)}'{how_en}."
        self.out.findings.append(Finding("normalized", zh, en))

    def as_text_warning(self, raw: Any, value: Any) -> None:
        if not self.in_formulas:
            self.note(raw, value)
            return
        # Say what the cell should hold — a date for a date field, a number otherwise — and name the field as a
        # clerk says it: 支出“1200元”, not 支出(元)“1200元”, whose unit the value itself repeats.
        kind_zh, kind_en = ("日期", "a date") if isinstance(value, dt.date) else ("数字", "a number")
        name = unbracketed(Text(self.label["zh"], self.label["en"]))
        self.out.findings.append(Finding(
            "stored_as_text",
            f"{name.zh}“{show(raw)}”是文字，已按“{show(value)}”读取；工作簿自身的合计和公式不计入它，请改填为{kind_zh}。",
            f"{name.en} '{show(raw)}' is text, read as '{show(value)}'; the workbook's own totals ignore it "
            f"until it is retyped as {kind_en}.",
        ))

    def without_prefix(self, raw: Any, text: str) -> str:
        """``text`` without a leading text-prefix apostrophe ('004 → 004), noting the change with the original."""
        bare = _without_text_prefix(text)
        if bare is None:
            return text
        lab = self.label
        self.out.findings.append(Finding(
            "normalized",
            f"{lab['zh']}“{show(raw)}”前面的单引号是表格软件“按文字保存”的标记，不算内容，已按“{bare}”读取。",
            f"{lab['en']} '{show(raw)}' starts with the apostrophe a spreadsheet uses to keep a value as text, "
            f"which is not part of it: read as '{bare}'.",
        ))
        return bare


def parse_full(f: Field, raw: Any, year: int | None, layout: Layout, in_formulas: bool = True) -> Parsed:
    """Parse ``raw`` for field ``f`` of a workbook of ``year``: the type's own parser, the only one.

    ``in_formulas`` says whether the workbook's own formulas use the field:
    then a number or date typed as text is a warning (the totals ignore it),
    otherwise only an ``info`` note. :func:`fast_column` is held to agree with this
    function on every cell it takes (tests/test_fieldtypes.py).
    """
    ctx = _Reading(f, field_spec(f, year, layout), year, in_formulas)
    if isinstance(raw, str):
        if isinstance(raw, ExternalFormula):
            return ctx.bad("external_reference",
                           f"{f.label['zh']}的公式“{raw}”引用了另一个工作簿，文件里没有保存它的计算结果，读不到数值。"
                           "请在表格软件中更新链接后保存，或把它改为数值（复制后“选择性粘贴—数值”）。",
                           f"{f.label['en']} is the formula '{raw}', which refers to another workbook, and the file holds "
                           "no saved result for it: there is no value to read. Update the link and save, or paste it as a value.")
        shown = raw.strip()
        if isinstance(raw, CellError) or shown in ERROR_VALUES:
            # Also as plain text: formats that lose the cell type (an .ods from another program, pasted text)
            # keep the error's text, and a clerk sees the same error either way.
            return ctx.bad("error_value",
                           f"{f.label['zh']}是错误值“{shown}”，不是数据（通常是公式出错，或引用的单元格已删除）。请改正公式或改填数值。",
                           f"{f.label['en']} holds the error value '{shown}', not data (usually a formula that fails or "
                           "refers to a deleted cell). Correct the formula or type the value.")
    if is_blank(raw):
        ctx.out.blank = True
        if f.default is not None:
            ctx.out.value = f.default
        return ctx.out
    parser = _PARSERS[f.type]
    result = parser(ctx, raw)
    if result.value is not None:
        _check_limits(ctx, raw)
    return ctx.out


# The name callers use: one value, one parser. A single cell gains nothing from the column shortcut.
parse = parse_full


SLOW = object()  # "take the full parser": the cell is not one the shortcut may take


def fast_column(f: Field, year: int | None, layout: Layout, if_blank: Any) -> Callable[[Sequence[Any]], list[Any]]:
    """The reader's shortcut, the only one: a function from a column of raw cells to their values.

    An empty cell (``""``, as the reader gives it) becomes ``if_blank``; a cell that :func:`parse_full` reads
    as it is, without a finding (tidy text, a number within the bounds, a date inside the window, one of the
    dropdown's own values …), becomes that value; every other cell becomes :data:`SLOW`, for
    :func:`parse_full` to read and report. Built once per column of a table from the field's
    :class:`~sheetplan.layout.fields.FieldSpec`, so that the bulk of a district's cells cost no call of
    their own: each type's test is written once, in the comprehension below or the function it calls.
    """
    spec = field_spec(f, year, layout)
    # By identity: 0, 0.0 and False are equal keys, yet a column of each must give its own.
    key = (id(spec), id(if_blank))
    hit = _COLUMNS.get(key)
    if hit is not None:
        return hit[2]
    if len(_COLUMNS) >= 4096:
        _COLUMNS.clear()
    column = _shortcut(spec, if_blank)
    _COLUMNS[key] = (spec, if_blank, column)  # both kept alive, so that their identities are not reused meanwhile
    return column


# Each column of each table of each workbook asks for its shortcut; the functions are built once per spec.
_COLUMNS: dict[tuple[int, int], tuple[FieldSpec, Any, Callable[[Sequence[Any]], list[Any]]]] = {}


def _shortcut(spec: FieldSpec, if_blank: Any) -> Callable[[Sequence[Any]], list[Any]]:
    """:func:`fast_column`'s function for ``spec``."""
    t = spec.type
    if t in TEXT_TYPES and spec.pattern is None:
        # Text that is already tidy is taken as it is: not empty, not too long, no space to strip at either end
        # (str.strip and str.isspace agree on what a space is), and not starting with "#" — the error values'
        # text (#N/A …) goes to the full parser, which reports it. A code must also be plain ASCII: a full-width
        # one (００１) is folded and noted by the full parser, and so is a text-prefix apostrophe ('004). A str
        # subclass is a cell error or a formula into another workbook, never text.
        limit = spec.max_length or 10**9
        if t == "code":
            return lambda column: [v if v.__class__ is str and v and len(v) <= limit and v.isascii() and not v[0].isspace()
                                   and not v[-1].isspace() and v[0] not in "#'" else if_blank if v == "" else SLOW for v in column]
        return lambda column: [v if v.__class__ is str and v and len(v) <= limit and not v[0].isspace() and not v[-1].isspace()
                               and v[0] not in "#'" else if_blank if v == "" else SLOW for v in column]
    if t in ("money", "int"):
        lo = spec.low if spec.low is not None else -math.inf
        hi = spec.high if spec.high is not None else math.inf
        money = t == "money"

        def number(raw: Any) -> Any:
            tr = raw.__class__
            if (tr is float or tr is int) and lo <= raw <= hi:  # NaN fails both comparisons
                if money:
                    # Two decimals at most: anything finer is rounded by the full parser, with a note.
                    r = round(raw + 0.0, 2)
                    return r if abs(r - raw) < 1e-9 else SLOW
                if tr is int:
                    return raw
                # is_integer() is False for inf (1e999 in a cell), which int() cannot convert: the full parser
                # reports it as not_a_number, like NaN (a cell cannot hold either as a number).
                return int(raw) if raw.is_integer() else SLOW
            return SLOW
        return lambda column: [if_blank if v == "" else number(v) for v in column]
    if t == "date":
        start = spec.start or dt.date.min
        end = spec.end or dt.date.max
        day, moment = dt.date, dt.datetime

        def timestamp(raw: Any) -> Any:
            # A date with a time of day (how some applications store a date): its day, if inside the window.
            if raw.__class__ is moment:
                d = raw.date()
                return d if start <= d <= end else SLOW
            return SLOW
        return lambda column: [v if v.__class__ is day and start <= v <= end else if_blank if v == "" else timestamp(v)
                               for v in column]
    if t == "list":
        members = spec.choice_set

        def padded(raw: Any) -> Any:
            # One of the dropdown's values with spaces around it, which the full parser strips without a note.
            if raw.__class__ is str:
                v = raw.strip()
                if v in members:
                    return v
            return SLOW
        return lambda column: [v if v in members and v.__class__ is str else if_blank if v == "" else padded(v)
                               for v in column]
    if t == "month":
        return lambda column: [int(v) if (v.__class__ is float or v.__class__ is int) and v in _MONTHS
                               else if_blank if v == "" else SLOW for v in column]
    if t == "phone":
        mobile = _MOBILE_EXACT.fullmatch
        return lambda column: [v if v.__class__ is str and mobile(v) else if_blank if v == "" else SLOW for v in column]
    return lambda column: [if_blank if v == "" else SLOW for v in column]


_MONTHS = frozenset(range(1, 13))
# A mobile number typed as text, nothing to tidy. ASCII digits only: \d would also take full-width ones (１３９…),
# which the full parser folds to ASCII and notes.
_MOBILE_EXACT = re.compile(r"1[3-9][0-9]{9}")


def _check_limits(ctx: _Reading, raw: Any) -> None:
    spec, v = ctx.spec, ctx.out.value
    lab = ctx.f.label
    if spec.low is not None or spec.high is not None:  # int, money, month
        lo, hi = spec.low, spec.high
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            # The range in words, as the 填写说明 says it: 应为 0–100000, 应不小于 0, 应不大于 12.
            if lo is not None and hi is not None:
                rng_zh, rng_en = f"应为 {_bound_text(lo)}–{_bound_text(hi)}", f"{_bound_text(lo)}–{_bound_text(hi)}"
            elif lo is not None:
                rng_zh, rng_en = f"应不小于 {_bound_text(lo)}", f"at least {_bound_text(lo)}"
            else:
                rng_zh, rng_en = f"应不大于 {_bound_text(hi)}", f"at most {_bound_text(hi)}"  # type: ignore[arg-type]
            ctx.bad("out_of_range", f"{lab['zh']}“{show(raw)}”超出范围（{rng_zh}）。",
                    f"{lab['en']} '{show(raw)}' is out of range (expected {rng_en}).")
    elif spec.start is not None and spec.end is not None:  # a date with a window
        start, end = spec.start, spec.end
        if not start <= v <= end:
            hint_zh, hint_en = "", ""
            if v.year == dt.date.today().year and v.year != ctx.year:
                hint_zh = "。如果输入时没写年份（如“3月8日”），表格软件会按今年补全，请写明年份"
                hint_en = "; a date typed without a year (3月8日) gets the current year from the spreadsheet application, please type the year"
            window_zh = f"{start.isoformat()} 至 {end.isoformat()}"
            ctx.bad("out_of_year", f"{lab['zh']} {v.isoformat()} 不在 {window_zh} 之内{hint_zh}。",
                    f"{lab['en']} {v.isoformat()} is not within {start.isoformat()} – {end.isoformat()}{hint_en}.")
    elif spec.max_length and len(v) > spec.max_length:  # text, code
        ctx.bad("too_long", f"{lab['zh']}有 {len(v)} 字，超过上限 {spec.max_length} 字。",
                f"{lab['en']} has {len(v)} characters, more than {spec.max_length}.")


def _text(ctx: _Reading, raw: Any) -> Parsed:
    if isinstance(raw, str):
        ctx.out.value = ctx.without_prefix(raw, raw.strip())
    else:
        ctx.out.value = show(raw)
    return ctx.out


def _code(ctx: _Reading, raw: Any) -> Parsed:
    lab = ctx.f.label
    if isinstance(raw, bool):
        return ctx.bad("invalid_code", f"{lab['zh']}“{raw}”不是代码。", f"{lab['en']} '{raw}' is not a code.")
    if isinstance(raw, (int, float)):
        value = show(raw)
        ctx.out.value = value
        ctx.out.findings.append(Finding(
            "normalized", f"{lab['zh']}以数字 {value} 保存，已按文本读取；若原有前导 0 已丢失，请改为文本格式重填。",
            f"{lab['en']} was stored as the number {value} and read as text; leading zeros, if any, were lost."))
    else:
        value = ctx.without_prefix(raw, raw.strip()) if isinstance(raw, str) else show(raw)
        folded = unicodedata.normalize("NFKC", value)
        if folded != value:
            ctx.note(raw, folded, "（全角字符已转为半角）", " (full-width characters converted)")
            value = folded
        ctx.out.value = value
    if ctx.spec.pattern is not None and not ctx.spec.pattern.match(value):
        hint = ctx.f.pattern_hint or {"zh": ctx.f.pattern, "en": ctx.f.pattern}
        return ctx.bad("invalid_code", f"{lab['zh']}“{value}”格式不对，应为{hint['zh']}。",
                       f"{lab['en']} '{value}' has the wrong form: expected {hint['en']}.")
    return ctx.out


def _to_number(ctx: _Reading, raw: Any, units: str) -> float | int | None:
    """A float from a number or from text like ¥1,200.00 / 1200元 / 1.2万 / （100）; an int cell stays an exact int."""
    lab = ctx.f.label
    if isinstance(raw, bool) or isinstance(raw, (dt.date, dt.time, dt.timedelta)):
        ctx.bad("not_a_number", f"{lab['zh']}“{show(raw)}”不是数字。", f"{lab['en']} '{show(raw)}' is not a number.")
        return None
    if isinstance(raw, (int, float)):
        # inf and NaN (a cell stored as 1e999) are no number a spreadsheet can show: not_a_number, at the cell,
        # rather than out_of_range, which would suggest a range that some value could meet.
        try:
            value = float(raw)
        except OverflowError:  # an integer beyond any float
            value = math.inf
        if not math.isfinite(value):
            ctx.bad("not_a_number", f"{lab['zh']}“{show(raw)}”不是有效数字（超出表格软件能表示的范围），请改填数字。",
                    f"{lab['en']} '{show(raw)}' is not a valid number (beyond what a spreadsheet can hold); type a number.")
            return None
        # An int (a 64-bit cell of an .xls or .ods) is kept exact: through a float, 2**53 + 1 would change.
        return raw if type(raw) is int else value
    s = _norm(str(raw))
    negative = False
    if s.startswith("(") and s.endswith(")"):
        negative, s = True, s[1:-1]
    s = re.sub(r"^(RMB|CNY|¥|￥)", "", s, flags=re.I)
    scale = 1.0
    if s.endswith("万元") or s.endswith("万"):
        scale, s = 10000.0, s.rstrip("元").rstrip("万")
    for u in units:
        s = s.removesuffix(u)
    s = s.replace(",", "")
    if not _NUMBER.match(s):
        expected = "金额" if ctx.f.type == "money" else "数字"
        ctx.bad("not_a_number", f"{lab['zh']}“{show(raw)}”无法识别为{expected}，请填写数字，如 1200 或 1200.50。",
                f"{lab['en']} '{show(raw)}' cannot be read as a number; type a number such as 1200 or 1200.50.")
        return None
    value = float(s) * scale * (-1 if negative else 1)
    if not math.isfinite(value):
        ctx.bad("not_a_number", f"{lab['zh']}“{show(raw)}”不是有效数字。", f"{lab['en']} '{show(raw)}' is not a valid number.")
        return None
    return value


def _money(ctx: _Reading, raw: Any) -> Parsed:
    value = _to_number(ctx, raw, "元")
    if value is None:
        return ctx.out
    rounded = round(value + 0.0, 2)
    ctx.out.value = rounded
    if isinstance(raw, str):
        ctx.as_text_warning(raw, rounded)
    elif abs(rounded - value) > 1e-9:
        ctx.note(raw, rounded, "（保留两位小数）", " (rounded to two decimals)")
    return ctx.out


def _int(ctx: _Reading, raw: Any) -> Parsed:
    value = _to_number(ctx, raw, "人名个次岁位")
    if value is None:
        return ctx.out
    if not float(value).is_integer():
        lab = ctx.f.label
        return ctx.bad("not_an_integer", f"{lab['zh']}“{show(raw)}”应为整数。", f"{lab['en']} '{show(raw)}' must be a whole number.")
    ctx.out.value = int(value)
    if isinstance(raw, str):
        ctx.as_text_warning(raw, int(value))
    return ctx.out


def _month(ctx: _Reading, raw: Any) -> Parsed:
    lab = ctx.f.label
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        if float(raw).is_integer():
            ctx.out.value = int(raw)
            return ctx.out
    elif isinstance(raw, str):
        m = _MONTH.match(_norm(raw))
        if m:
            token = m.group(1)
            month = int(token) if token.isdigit() else CN_DIGITS.get(token)
            if month is not None:
                ctx.out.value = month
                ctx.as_text_warning(raw, month)
                return ctx.out
    return ctx.bad("invalid_month", f"{lab['zh']}“{show(raw)}”应为 1–12 的月份。", f"{lab['en']} '{show(raw)}' must be a month 1–12.")


def _date(ctx: _Reading, raw: Any) -> Parsed:
    lab = ctx.f.label
    if isinstance(raw, dt.datetime):
        ctx.out.value = raw.date()
        return ctx.out
    if isinstance(raw, dt.date):
        ctx.out.value = raw
        return ctx.out
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        if 1 <= raw <= MAX_SERIAL:
            value = EXCEL_EPOCH + dt.timedelta(days=int(raw))
            ctx.out.value = value
            ctx.note(raw, value, "（按 Excel 日期序号）", " (as an Excel date serial)")
            return ctx.out
    elif isinstance(raw, str):
        value = _text_date(ctx, raw)
        if value is not None:
            ctx.out.value = value
            ctx.as_text_warning(raw, value)
            return ctx.out
    example = f"{ctx.year or 2025}-03-08"
    return ctx.bad("not_a_date", f"{lab['zh']}“{show(raw)}”无法识别为日期，请按 {example} 的格式填写。",
                   f"{lab['en']} '{show(raw)}' cannot be read as a date; type it like {example}.")


def _text_date(ctx: _Reading, raw: str) -> dt.date | None:
    s = _norm(raw)
    try:
        m = _DATE_YMD.match(s) or _DATE_COMPACT.match(s)
        if m:
            return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        m = _DATE_MD.match(s)
        if m and ctx.year:
            return dt.date(ctx.year, int(m.group(1)), int(m.group(2)))
        if ctx.f.month_end_text and ctx.year:
            m = _MONTH_END.match(s)
            if m:
                year = int(m.group(1)) if m.group(1) else ctx.year
                token = m.group(2)
                month = int(token) if token.isdigit() else CN_DIGITS.get(token, 0)
                if 1 <= month <= 12:
                    return dt.date(year, month, calendar.monthrange(year, month)[1])
    except ValueError:  # 2025-02-30 and the like
        return None
    return None


def _list(ctx: _Reading, raw: Any) -> Parsed:
    f, choices = ctx.f, ctx.spec.choices
    text = show(raw).strip() if not isinstance(raw, str) else raw.strip()
    if text in ctx.spec.choice_set:
        ctx.out.value = text
        return ctx.out
    folded = _norm(text)
    for v in choices:
        if _norm(v) == folded:
            ctx.out.value = v
            ctx.note(raw, v)
            return ctx.out
    shown = "、".join(choices[:12]) + ("…" if len(choices) > 12 else "")
    return ctx.bad("not_in_list", f"{f.label['zh']}“{text}”不在下拉列表中（可选：{shown}）。",
                   f"{f.label['en']} '{text}' is not in the dropdown list (choices: {', '.join(choices[:12])}).")


def _phone(ctx: _Reading, raw: Any) -> Parsed:
    lab = ctx.f.label
    if isinstance(raw, (int, float)) and not isinstance(raw, bool) and float(raw).is_integer():
        text = str(int(raw))
    else:
        text = ctx.without_prefix(raw, str(raw).strip())
    s = unicodedata.normalize("NFKC", text).strip()
    s = re.sub(r"^\((0\d{2,3})\)", r"\1-", s)
    compact = re.sub(r"[\s-]", "", s)
    dashed = re.sub(r"\s*-\s*|\s+", "-", s)
    if _MOBILE.match(compact):
        value = compact
    elif _LANDLINE.match(dashed):
        value = dashed
    elif _LANDLINE_DIGITS.match(compact):
        value = compact
    else:
        return ctx.bad("invalid_phone", f"{lab['zh']}“{text}”不是有效的电话号码（11 位手机号，或座机如 0755-12345678）。",
                       f"{lab['en']} '{text}' is not a valid phone number (11-digit mobile, or a landline like 0755-12345678).")
    ctx.out.value = value
    if value != text:
        ctx.note(raw, value)
    return ctx.out


def _formula(ctx: _Reading, raw: Any) -> Parsed:
    ctx.out.value = raw if isinstance(raw, (int, float)) and not isinstance(raw, bool) else None
    return ctx.out


_PARSERS = {"text": _text, "code": _code, "int": _int, "money": _money, "date": _date, "month": _month,
            "list": _list, "phone": _phone, "formula": _formula}


# --------------------------------------------------------------------------- what the workbook's own formulas see
#
# The template writes the 余额 column as the spreadsheet's formula
#     =IF(AND(plus="",minus=""),"",opening+SUM(plus$first:plus)-SUM(minus$first:minus))
# and two places need to know what that formula gives without a spreadsheet application: the template, to store
# the values an application would save in a pre-filled workbook, and the reader, to tell a live or stale 余额
# from one typed over. Both use the functions below; tests/test_field_specs.py compares them with LibreOffice.


def sum_value(raw: Any) -> float:
    """What a spreadsheet's SUM over a range sees in a cell: numbers count; text, blanks and booleans count 0.

    (Excel leaves booleans in a range out of SUM; LibreOffice, which has no boolean type, counts TRUE as 1.)
    Cells come as Python's own float and int, never a subclass but bool: the test is on the exact class, the
    cheapest one, as :func:`running_balances` runs it on every row of every ledger.
    """
    return float(raw) if raw.__class__ is float or raw.__class__ is int else 0.0


def formula_empty(raw: Any) -> bool:
    """What a formula's ``cell=""`` sees as empty: an empty cell or an empty text. Spaces are text, not empty."""
    return raw is None or raw == ""


def balance_opening(raw: Any, read_as: Any = None) -> float | None:
    """What ``opening+…`` in the 余额 formula takes from the opening balance's cell ``raw``, or ``None`` when the
    formula gives an error (or no figure to compare) there.

    An empty cell counts 0 and a number itself. Text is converted in arithmetic by the applications as far as it
    is a plain number: LibreOffice 7.4 (zh-CN) computes "1200", "1,200.00", "１２００", " 1200 ", "1.2E3" and "(100)"
    as numbers and gives #VALUE! for "¥1,200.00" and "1200元", and Excel converts numeric text too. ``read_as``,
    what the reader read the text as, stands in for that conversion (a value with a unit, which the reader also
    reads, makes the application's formula an error: its 余额 cells then hold live formulas, which the reader
    never reports as typed over). Anything else — an error value, a formula into another workbook, text that is
    no number, a date, a boolean — gives ``None``.
    """
    if formula_empty(raw):
        return 0.0
    if is_number(raw):
        return float(raw)
    if type(raw) is str and is_number(read_as):
        return float(read_as)
    return None


def running_balances(opening: float, plus: Iterable[Any], minus: Iterable[Any]) -> Iterator[float | None]:
    """The 余额 formula down a ledger: for each row's raw ``plus`` and ``minus`` cells, the balance it shows.

    That is ``opening`` plus the :func:`sum_value` of every plus cell so far, less that of every minus cell so
    far — or ``None`` on a row whose two cells are both :func:`formula_empty`, where the formula shows nothing
    (the sums still run on: a blank row between entries breaks nothing). The two sums are kept apart, as the
    formula's two SUMs are, rather than as a running difference whose rounding would drift from them.
    """
    plus_sum = minus_sum = 0.0
    for p, m in zip(plus, minus, strict=True):
        # sum_value and formula_empty of each cell, written out: the one loop over every ledger row of a district.
        tp, tm = p.__class__, m.__class__
        if tp is float or tp is int:
            plus_sum += p
        if tm is float or tm is int:
            minus_sum += m
        yield None if (p is None or p == "") and (m is None or m == "") else opening + plus_sum - minus_sum
