"""Plain-language descriptions of fields and rules, built from the layout.

The template's input prompts, error alerts and 填写说明 sheet all say what a
field expects in the words generated here, so a limit changed in a layout
changes every text that mentions it.
"""

from __future__ import annotations

from .layout import Field, Layout, Rule

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


def _num(x: float | None) -> str:
    if x is None:
        return ""
    return str(int(x)) if float(x).is_integer() else str(x)


def type_name(f: Field, lang: str) -> str:
    """The kind of value a field takes, in words."""
    zh, en = TYPE_NAMES[f.type]
    return en if lang == "en" else zh


def field_limits(f: Field, year: int | None, lang: str) -> list[str]:
    """The limits of one field as short phrases (range, length, date window …)."""
    en = lang == "en"
    out: list[str] = []
    if f.type in ("int", "money"):
        lo = f.min if f.min is not None else (None if f.allow_negative or f.type == "int" else 0)
        if lo is not None and f.max is not None:
            out.append(f"{_num(lo)}–{_num(f.max)}")
        elif lo is not None:
            out.append(f"≥ {_num(lo)}" if en else f"不小于 {_num(lo)}")
        elif f.max is not None:
            out.append(f"≤ {_num(f.max)}" if en else f"不大于 {_num(f.max)}")
        if f.type == "money" and f.allow_negative:
            out.append("may be negative" if en else "可为负数")
    if f.type == "date":
        y = str(year) if year else ("the workbook's year" if en else "本年度")
        if f.within == "year":
            out.append(f"within {y}" if en else f"须在 {y} 年内")
        elif f.within == "year_plus_january":
            out.append(f"within {y} or up to 31 January of the next year" if en else f"须在 {y} 年内或次年 1 月 31 日前")
        if f.month_end_text:
            out.append("a month such as 3月 or 3月底 means its last day" if en else "可填“3月”“3月底前”，按该月最后一天计")
    if f.max_length:
        out.append(f"at most {f.max_length} characters" if en else f"不超过 {f.max_length} 字")
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
    parts.extend(field_limits(f, year, lang))
    sep = "; " if en else "；"
    return sep.join(parts) + ("." if en else "。")


def _labels(layout: Layout, sheet_key: str, keys: list[str] | str, lang: str) -> str:
    sheet = layout.sheet(sheet_key)
    names = [keys] if isinstance(keys, str) else list(keys)
    out = []
    for k in names:
        if "." in k:
            s, f = k.split(".", 1)
            out.append(layout.sheet(s).field(f).label[lang])
        else:
            out.append(sheet.field(k).label[lang])
    return ("、" if lang == "zh" else ", ").join(out)


def describe_rule(rule: Rule, layout: Layout, lang: str) -> str:
    """A rule of the layout in plain words, with its limits."""
    en = lang == "en"
    p = rule.params
    lab = lambda k: _labels(layout, rule.sheet, k, lang)  # noqa: E731
    kind = rule.kind
    if kind == "compare":
        factor = f"{_num(p['factor'])} × " if p.get("factor") else ""
        text = (f"{lab(p['field'])} should be {p['op']} {factor}{lab(p['other'])}" if en
                else f"{lab(p['field'])}应 {p['op']} {factor}{lab(p['other'])}")
    elif kind == "required_if":
        cond = "、".join(f"{lab(k)}为“{v}”" for k, v in p["when"].items())
        cond_en = ", ".join(f"{lab(k)} is {v}" for k, v in p["when"].items())
        text = f"{lab(p['field'])} is required when {cond_en}" if en else f"{cond}时必须填写{lab(p['field'])}"
    elif kind == "same_month":
        text = f"{lab(p['field'])} must fall in {lab(p['month_field'])}" if en else f"{lab(p['field'])}须在{lab(p['month_field'])}所填的月份内"
    elif kind == "cap_per_row":
        caps = ("; " if en else "，").join(f"{k} ≤ {_num(v)}" for k, v in p["caps"].items())
        text = (f"{lab(p['fields'])} per row, by {lab(p['by'])}: {caps} yuan" if en
                else f"每次{lab(p['fields'])}合计按{lab(p['by'])}不超过：{caps} 元")
    elif kind == "cap_sum":
        cond = "".join(f"{v}" for v in (p.get("when") or {}).values())
        text = (f"{cond}: {lab(p['fields'])} per {lab(p['group_by'])} per year ≤ {_num(p['cap'])} yuan" if en
                else f"{cond}：同一{lab(p['group_by'])}全年{lab(p['fields'])}合计不超过 {_num(p['cap'])} 元")
    elif kind == "repeat_within":
        text = (f"the same {lab(p['fields'])} twice within {p['days']} days is flagged" if en
                else f"同一{lab(p['fields'])}在 {p['days']} 天内重复出现会提示")
    elif kind == "exactly_one":
        text = f"fill exactly one of {lab(p['fields'])}, greater than 0" if en else f"{lab(p['fields'])}只填一栏，且大于 0"
    elif kind == "direction":
        text = (f"income categories go in {lab(p['income'])}, expense categories in {lab(p['expense'])}" if en
                else f"收入类科目填在{lab(p['income'])}栏，支出类科目填在{lab(p['expense'])}栏")
    elif kind in ("unique", "unique_across"):
        where = " across schools" if kind == "unique_across" and en else ""
        text = (f"{lab(p['fields'])} must not repeat{where}" if en
                else f"{lab(p['fields'])}不得重复" + ("（跨学校）" if kind == "unique_across" else ""))
    elif kind == "not_descending":
        text = f"{lab(p['field'])} should not go back in time" if en else f"{lab(p['field'])}应按先后顺序登记"
    elif kind == "nonnegative_balance":
        text = f"{lab(p['field'])} should not become negative" if en else f"{lab(p['field'])}不应为负数"
    elif kind == "requires_value":
        (wk, wv), = p["when"].items()
        text = (f"{lab(wk)} {wv} requires {lab(p['other'])} {p['value']}" if en
                else f"{lab(wk)}为“{wv}”时{lab(p['other'])}须为“{p['value']}”")
    elif kind == "max_when":
        (wk, wv), = p["when"].items()
        text = (f"{lab(p['field'])} ≤ {_num(p['max'])} when {lab(wk)} is {wv}" if en
                else f"{lab(wk)}为“{wv}”时{lab(p['field'])}不超过 {_num(p['max'])}")
    elif kind == "cap_count":
        extra = ", ".join(f"{k} {_num(v)}" for k, v in (p.get("caps") or {}).items())
        text = (f"at most {_num(p['cap'])} entries per {lab(p['group_by'])} per school" + (f" ({extra})" if extra else "") if en
                else f"每校每个{lab(p['group_by'])}最多报 {_num(p['cap'])} 人" + (f"（{extra}）" if extra else ""))
    elif kind == "cap_distinct":
        text = (f"one {lab(p['group_by'])} enters at most {_num(p['cap'])} {lab(p['distinct'])}" if en
                else f"每人最多报 {_num(p['cap'])} 个{lab(p['distinct'])}")
    else:  # pragma: no cover - the layout checker admits only the kinds above
        text = kind
    sev = {"error": ("错误", "error"), "warning": ("提醒", "warning"), "info": ("说明", "info")}[rule.severity]
    return f"{text} ({sev[1]})" if en else f"{text}（{sev[0]}）"
