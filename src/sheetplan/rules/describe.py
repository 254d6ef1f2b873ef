"""Plain-language descriptions of fields and rules, built from the layout.

The template's input prompts, error alerts and 填写说明 sheet all say what a
field expects in the words generated here, so a limit changed in a layout
changes every text that mentions it.
"""

from __future__ import annotations

from ..layout import Field, Layout, Rule
from ..layout.fields import FieldSpec, field_spec
from ..problems import SEVERITY_WORDS
from .registry import kind_of
from .text import plain

TYPE_NAMES = {
    "text": ("文字", "text"),
    "code": ("代码（按文本保存）", "code (kept as text)"),
    "int": ("整数", "whole number"),
    "money": ("金额（元，两位小数）", "amount in yuan, two decimals"),
    "date": ("日期，如 2025-03-08", "date, e.g. 2025-03-08"),
    "month": ("月份 1–12", "month 1–12"),
    "list": ("从下拉列表中选择", "choose from the dropdown"),
    "phone": ("手机号（11 位）或座机（如 0755-12345678）", "mobile (11 digits) or landline (e.g. 0755-12345678)"),
    "formula": ("自动计算，请勿改动", "computed automatically, do not change"),
}


def type_name(f: Field, lang: str) -> str:
    """The kind of value a field takes, in words."""
    zh, en = TYPE_NAMES[f.type]
    return en if lang == "en" else zh


def field_limits(f: Field, spec: FieldSpec, lang: str) -> list[str]:
    """The limits of field ``f`` as short phrases (range, date window, length, form, default).

    The figures come from the field's :class:`FieldSpec` — the ones the reader enforces and the template's
    validations use; the rest is what the layout says in words (the code's form, the default).
    """
    en = lang == "en"
    out: list[str] = []
    if spec.type in ("int", "money"):  # a month's range is in its type name
        lo, hi = spec.low, spec.high
        if lo is not None and hi is not None:
            out.append(f"{plain(lo)}–{plain(hi)}")
        elif lo is not None:
            out.append(f"at least {plain(lo)}" if en else f"不小于 {plain(lo)}")
        elif hi is not None:
            out.append(f"at most {plain(hi)}" if en else f"不大于 {plain(hi)}")
        if spec.signed:
            out.append("may be negative" if en else "可为负数")
    if spec.type == "date":
        # In words rather than as the window's days: the same sentence serves a workbook whose year is not known.
        y = str(spec.year) if spec.year else ("the workbook's year" if en else "本年度")
        if spec.within == "year":
            out.append(f"within {y}" if en else f"须在 {y} 年内")
        elif spec.within == "year_plus_january":
            out.append(f"within {y} or up to 31 January of the next year" if en else f"须在 {y} 年内或次年 1 月 31 日前")
        if f.month_end_text:
            out.append("a month such as 3月 or 3月底 means its last day" if en else "可填“3月”“3月底前”，按该月最后一天计")
    if spec.max_length:
        out.append(f"at most {spec.max_length} characters" if en else f"不超过 {spec.max_length} 字")
    if f.pattern_hint:
        out.append(f.pattern_hint["en" if en else "zh"])
    if f.default:
        out.append(f"empty means {f.default}" if en else f"空白视为“{f.default}”")
    return out


def describe_field(f: Field, layout: Layout, year: int | None, lang: str) -> str:
    """One sentence saying what a field expects (used for prompts and the 填写说明)."""
    en = lang == "en"
    parts = []
    if f.required:
        parts.append("Required" if en else "必填")
    parts.append(type_name(f, lang))
    if f.depends_on:
        parent = f.depends_on
        parts.append(f"must belong to the chosen {parent}" if en else "须属于所选的上级科目")
    parts.extend(field_limits(f, field_spec(f, year, layout), lang))
    sep = "; " if en else "；"
    return sep.join(parts) + ("." if en else "。")


def describe_rule(rule: Rule, layout: Layout, lang: str) -> str:
    """A rule of the layout in plain words, with its limits and its severity.

    The words are the rule kind's own (its ``describe`` in :mod:`sheetplan.rules`); a rule of the layout's
    ``cross_checks`` has no sheet of its own.
    """
    sheet = layout.sheet(rule.sheet) if rule.sheet else None
    text = kind_of(rule).describe(rule, sheet, layout, lang)
    word = SEVERITY_WORDS[lang][rule.severity]
    return f"{text} ({word})" if lang == "en" else f"{text}（{word}）"
