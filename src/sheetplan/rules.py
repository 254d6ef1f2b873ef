"""The layout's rules, applied to what the reader read.

Each rule kind is one function over the typed records of a table (or the
基本信息 form). A rule never sees an unreadable value: those already have a
problem of their own, and the rule skips them rather than report twice.
Where a problem points follows §6 of the spec: the first field of the rule
in column order, except where the rule says otherwise.
"""

from __future__ import annotations

import operator
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from .layout import Layout, Rule, Sheet
from .reader import Record, Table, WorkbookData

OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt, "==": operator.eq}


def _num(x: float) -> str:
    return f"{x:,.2f}".rstrip("0").rstrip(".") if isinstance(x, float) and not x.is_integer() else f"{x:,.0f}"


class _Ctx:
    """One rule applied to one table of one workbook."""

    def __init__(self, data: WorkbookData, sheet: Sheet, table: Table | None, rule: Rule) -> None:
        self.data, self.sheet, self.table, self.rule = data, sheet, table, rule
        self.p = rule.params

    def label(self, key: str, lang: str) -> str:
        if "." in key:
            s, f = key.split(".", 1)
            return self.data.layout.sheet(s).field(f).label[lang]
        return self.sheet.field(key).label[lang]

    def value(self, rec: Record | None, key: str) -> Any:
        if "." in key:
            return self.data.info.get(key.split(".", 1)[1])
        return rec.values.get(key) if rec is not None else self.data.info.get(key)

    def first(self, keys: list[str]) -> str:
        """The key of ``keys`` standing first in the sheet's column order."""
        cols = self.table.columns if self.table is not None else {}
        order = {f.key: i for i, f in enumerate(self.sheet.fields)}
        local = [k for k in keys if "." not in k]
        return min(local, key=lambda k: (cols.get(k, 10_000 + order.get(k, 0))))

    def report(self, rec: Record | None, key: str, zh: str, en: str) -> None:
        if rec is not None and key not in rec.cells:
            return  # the column is missing altogether: reported once as missing_column
        if rec is not None:
            cell, row, raw = rec.cells.get(key), rec.row, rec.raw.get(key)
            sheet = self.table.sheet_name if self.table else None
        else:
            cell, row, raw = self.data.info_cells.get(key), None, self.data.info_raw.get(key)
            sheet = self.data.info_sheet
        from .fieldtypes import show

        self.data.add(self.rule.code, zh, en, self.rule.severity, sheet=sheet, cell=cell, row=row, field=key,
                      value=show(raw) if raw is not None else None, table=self.sheet.key)

    def records(self) -> list[Record]:
        return self.table.records if self.table is not None else []


def _when(ctx: _Ctx, rec: Record) -> bool:
    return all(ctx.value(rec, k) == v for k, v in (ctx.p.get("when") or {}).items())


def _compare(ctx: _Ctx) -> None:
    p = ctx.p
    op, factor = p["op"], float(p.get("factor", 1))
    targets: list[Record | None] = list(ctx.records()) if ctx.table is not None else [None]
    for rec in targets:
        v, o = ctx.value(rec, p["field"]), ctx.value(rec, p["other"])
        if not isinstance(v, (int, float)) or not isinstance(o, (int, float)):
            continue
        if not OPS[op](v, factor * o):
            f_zh, o_zh = ctx.label(p["field"], "zh"), ctx.label(p["other"], "zh")
            f_en, o_en = ctx.label(p["field"], "en"), ctx.label(p["other"], "en")
            times = f"{_num(factor)} × " if factor != 1 else ""
            ctx.report(rec, p["field"], f"{f_zh} {_num(v)} 不满足 {op} {times}{o_zh}（{_num(o)}）。",
                       f"{f_en} {_num(v)} is not {op} {times}{o_en} ({_num(o)}).")


def _required_if(ctx: _Ctx) -> None:
    key = ctx.p["field"]
    for rec in ctx.records():
        if _when(ctx, rec) and rec.values.get(key) is None and _blank(rec.raw_of(key)):
            cond_zh = "、".join(f"{ctx.label(k, 'zh')}为“{v}”" for k, v in ctx.p["when"].items())
            cond_en = ", ".join(f"{ctx.label(k, 'en')} is {v}" for k, v in ctx.p["when"].items())
            ctx.report(rec, key, f"{cond_zh}时必须填写{ctx.label(key, 'zh')}。", f"{ctx.label(key, 'en')} is required when {cond_en}.")


def _values_of(keys: list[str]) -> Callable[[dict[str, Any]], tuple]:
    """A record's values of ``keys`` as a tuple (None where missing), in one call."""
    if len(keys) == 1:
        (key,) = keys
        return lambda values: (values.get(key),)
    return lambda values: tuple(map(values.get, keys))


def _blank(raw: Any) -> bool:
    return raw is None or (isinstance(raw, str) and not raw.strip())


def _same_month(ctx: _Ctx) -> None:
    dk, mk = ctx.p["field"], ctx.p["month_field"]
    for rec in ctx.records():
        d, m = rec.values.get(dk), rec.values.get(mk)
        if d is not None and isinstance(m, int) and d.month != m:
            ctx.report(rec, ctx.first([dk, mk]), f"{ctx.label(dk, 'zh')} {d.isoformat()} 不在{ctx.label(mk, 'zh')}所填的 {m} 月内。",
                       f"{ctx.label(dk, 'en')} {d.isoformat()} is not in month {m} given as {ctx.label(mk, 'en')}.")


def _sum(rec: Record, keys: list[str]) -> float | None:
    vals = [rec.values.get(k) for k in keys]
    if all(v is None for v in vals):
        return None
    return sum(v for v in vals if isinstance(v, (int, float)))


def _cap_per_row(ctx: _Ctx) -> None:
    keys, by, caps = ctx.p["fields"], ctx.p["by"], ctx.p["caps"]
    names_zh = "+".join(ctx.label(k, "zh") for k in keys)
    names_en = " + ".join(ctx.label(k, "en") for k in keys)
    for rec in ctx.records():
        cap = caps.get(rec.values.get(by))
        total = _sum(rec, keys)
        if cap is not None and total is not None and total > cap:
            reason = rec.values.get(by)
            ctx.report(rec, ctx.first(keys), f"{reason}：{names_zh} 合计 {_num(total)} 元，超过每次上限 {_num(cap)} 元。",
                       f"{reason}: {names_en} total {_num(total)} yuan exceeds the cap of {_num(cap)} yuan per visit.")


def _cap_sum(ctx: _Ctx) -> None:
    keys, group, cap = ctx.p["fields"], ctx.p["group_by"], float(ctx.p["cap"])
    running: dict[tuple, float] = defaultdict(float)
    pick = _values_of(group)
    cond = "".join(str(v) for v in (ctx.p.get("when") or {}).values())
    for rec in ctx.records():
        gkey = pick(rec.values)
        total = _sum(rec, keys)
        if None in gkey or total is None or not _when(ctx, rec):
            continue
        running[gkey] += total
        if running[gkey] > cap:
            who = "、".join(str(g) for g in gkey)
            ctx.report(rec, ctx.first(keys), f"{who}全年{cond}累计 {_num(running[gkey])} 元，超过上限 {_num(cap)} 元。",
                       f"{who}: {cond} this year totals {_num(running[gkey])} yuan, over the cap of {_num(cap)} yuan.")


def _repeat_within(ctx: _Ctx) -> None:
    keys, dk, days = ctx.p["fields"], ctx.p["date"], int(ctx.p["days"])
    seen: dict[tuple, list[Any]] = defaultdict(list)
    pick = _values_of(keys)
    for rec in sorted(ctx.records(), key=lambda r: (r.values.get(dk) is None, r.values.get(dk) or 0, r.row)):
        gkey = pick(rec.values)
        d = rec.values.get(dk)
        if d is None or None in gkey:
            continue
        prev = seen[gkey]
        if prev and (d - prev[-1]).days <= days:
            who = "、".join(str(g) for g in gkey)
            ctx.report(rec, ctx.first([dk, *keys]), f"{who}在 {days} 天内重复（上次 {prev[-1].isoformat()}，本次 {d.isoformat()}）。",
                       f"{who} repeats within {days} days (last {prev[-1].isoformat()}, now {d.isoformat()}).")
        prev.append(d)


def _exactly_one(ctx: _Ctx) -> None:
    keys = ctx.p["fields"]
    names_zh, names_en = "、".join(ctx.label(k, "zh") for k in keys), " and ".join(ctx.label(k, "en") for k in keys)
    for rec in ctx.records():
        filled = [k for k in keys if rec.values.get(k) is not None]
        if len(filled) == 1 and rec.values[filled[0]] > 0:
            continue  # the usual row: exactly one amount, and positive
        if any(rec.values.get(k) is None and not _blank(rec.raw_of(k)) for k in keys):
            continue  # an unreadable amount already has its own problem
        positive = [k for k in filled if rec.values[k] > 0]
        if len(filled) == 1 and len(positive) == 1:
            continue
        if not filled:
            zh, en = f"{names_zh}都没有填写，须填其中一栏。", f"Neither {names_en} is filled; fill one of them."
        elif len(filled) > 1:
            zh, en = f"{names_zh}都填了，一笔只能填其中一栏。", f"Both {names_en} are filled; one entry fills only one."
        else:
            zh, en = f"{ctx.label(filled[0], 'zh')}为 0，金额应大于 0。", f"{ctx.label(filled[0], 'en')} is 0; the amount must be > 0."
        ctx.report(rec, ctx.first(keys), zh, en)


def _direction(ctx: _Ctx) -> None:
    p, lists = ctx.p, ctx.data.layout.lists
    income_cats, expense_cats = set(lists[p["income_list"]].values), set(lists[p["expense_list"]].values)
    for rec in ctx.records():
        cat = rec.values.get(p["field"])
        inc, exp = rec.values.get(p["income"]), rec.values.get(p["expense"])
        if cat in income_cats and exp is not None and inc is None:
            wrong, kind_zh, kind_en, right = p["expense"], "收入", "an income", p["income"]
        elif cat in expense_cats and inc is not None and exp is None:
            wrong, kind_zh, kind_en, right = p["income"], "支出", "an expense", p["expense"]
        else:
            continue
        ctx.report(rec, wrong, f"“{cat}”是{kind_zh}科目，金额应填在{ctx.label(right, 'zh')}栏，却填在了{ctx.label(wrong, 'zh')}栏。",
                   f"'{cat}' is {kind_en} category: the amount belongs in {ctx.label(right, 'en')}, not {ctx.label(wrong, 'en')}.")


def _unique(ctx: _Ctx) -> None:
    keys = ctx.p["fields"]
    first: dict[tuple, int] = {}
    pick = _values_of(keys)
    for rec in ctx.records():
        k = pick(rec.values)
        if None in k:
            continue
        if k in first:
            what = "、".join(str(v) for v in k)
            names_zh = "+".join(ctx.label(x, "zh") for x in keys)
            names_en = " + ".join(ctx.label(x, "en") for x in keys)
            ctx.report(rec, ctx.first(keys), f"{names_zh}“{what}”与第 {first[k]} 行重复。",
                       f"{names_en} '{what}' repeats row {first[k]}.")
        else:
            first[k] = rec.row


def _not_descending(ctx: _Ctx) -> None:
    key = ctx.p["field"]
    prev = None
    for rec in ctx.records():
        d = rec.values.get(key)
        if d is None:
            continue
        if prev is not None and d < prev[0]:
            ctx.report(rec, key, f"{ctx.label(key, 'zh')} {d.isoformat()} 早于上一笔（第 {prev[1]} 行 {prev[0].isoformat()}），请按先后顺序登记。",
                       f"{ctx.label(key, 'en')} {d.isoformat()} is earlier than the entry before (row {prev[1]}, {prev[0].isoformat()}).")
        prev = (d, rec.row)


def _nonnegative_balance(ctx: _Ctx) -> None:
    key = ctx.p["field"]
    was_negative = False
    for rec in ctx.records():
        v = rec.values.get(key)
        if not isinstance(v, (int, float)):
            continue
        if v < 0 and not was_negative:
            ctx.report(rec, key, f"此笔之后{ctx.label(key, 'zh')}为 {_num(v)} 元，出现负数。",
                       f"After this entry the {ctx.label(key, 'en')} is {_num(v)} yuan: negative.")
        was_negative = v < 0


def _requires_value(ctx: _Ctx) -> None:
    p = ctx.p
    (wk, wv), = p["when"].items()
    for rec in ctx.records():
        other = rec.values.get(p["other"])
        if rec.values.get(wk) == wv and other is not None and other != p["value"]:
            ctx.report(rec, p["field"], f"{ctx.label(wk, 'zh')}“{wv}”须为{p['value']}，{ctx.label(p['other'], 'zh')}却是“{other}”。",
                       f"{ctx.label(wk, 'en')} {wv} requires {ctx.label(p['other'], 'en')} {p['value']}, found {other}.")


def _max_when(ctx: _Ctx) -> None:
    p = ctx.p
    (wk, wv), = p["when"].items()
    for rec in ctx.records():
        v = rec.values.get(p["field"])
        if rec.values.get(wk) == wv and isinstance(v, (int, float)) and v > p["max"]:
            ctx.report(rec, p["field"], f"{wv}：{ctx.label(p['field'], 'zh')} {_num(v)} 超过 {_num(p['max'])}。",
                       f"{wv}: {ctx.label(p['field'], 'en')} {_num(v)} is over {_num(p['max'])}.")


def _cap_count(ctx: _Ctx) -> None:
    group, cap, caps = ctx.p["group_by"], ctx.p["cap"], ctx.p.get("caps") or {}
    counts: dict[tuple, int] = defaultdict(int)
    pick = _values_of(group)
    for rec in ctx.records():
        g = pick(rec.values)
        if None in g:
            continue
        counts[g] += 1
        limit = caps.get(g[0], cap)
        if counts[g] > limit:
            what = "、".join(str(v) for v in g)
            ctx.report(rec, ctx.first(group), f"“{what}”本校已报 {counts[g]} 人，超过每校限报 {_num(limit)} 人。",
                       f"'{what}': entry {counts[g]} of this school, over the limit of {_num(limit)} per school.")


def _cap_distinct(ctx: _Ctx) -> None:
    group, dk, cap = ctx.p["group_by"], ctx.p["distinct"], ctx.p["cap"]
    seen: dict[tuple, list[Any]] = defaultdict(list)
    pick = _values_of(group)
    for rec in ctx.records():
        g = pick(rec.values)
        d = rec.values.get(dk)
        if None in g or d is None or d in seen[g]:
            continue
        seen[g].append(d)
        if len(seen[g]) > cap:
            who = "、".join(str(v) for v in g)
            ctx.report(rec, ctx.first([*group, dk]), f"{who}已报 {len(seen[g])} 个{ctx.label(dk, 'zh')}（{'、'.join(map(str, seen[g]))}），每人最多 {_num(cap)} 个。",
                       f"{who} enters {len(seen[g])} events ({', '.join(map(str, seen[g]))}); at most {_num(cap)} per person.")


def _dependent_lists(data: WorkbookData, sheet: Sheet, table: Table) -> None:
    for f in sheet.fields:
        if not f.depends_on:
            continue
        children = data.layout.lists[f.list].children  # type: ignore[index]
        for rec in table.records:
            sub, parent = rec.values.get(f.key), rec.values.get(f.depends_on)
            if sub is None or parent is None or sub in children.get(parent, ()):
                continue
            allowed = "、".join(children.get(parent, ())) or "（无明细科目）"
            data.add("subcategory_mismatch", f"{f.label['zh']}“{sub}”不属于“{parent}”（可选：{allowed}）。",
                     f"{f.label['en']} '{sub}' does not belong to '{parent}' (choices: {', '.join(children.get(parent, ())) or 'none'}).",
                     sheet=table.sheet_name, cell=rec.cells.get(f.key), row=rec.row, field=f.key, value=str(rec.raw.get(f.key)),
                     table=sheet.key)
            rec.values[f.key] = None


RULES: dict[str, Callable[[_Ctx], None]] = {
    "compare": _compare, "required_if": _required_if, "same_month": _same_month, "cap_per_row": _cap_per_row,
    "cap_sum": _cap_sum, "repeat_within": _repeat_within, "exactly_one": _exactly_one, "direction": _direction,
    "unique": _unique, "not_descending": _not_descending, "nonnegative_balance": _nonnegative_balance,
    "requires_value": _requires_value, "max_when": _max_when, "cap_count": _cap_count, "cap_distinct": _cap_distinct,
}


def _matches(rec: Record, cond: dict[str, Any]) -> bool:
    v = rec.values.get(cond["field"])
    if v is None:
        return False
    if "in" in cond:
        return v in cond["in"]
    return str(cond["contains"]) in str(v)


def _cross_sum(data: WorkbookData, rule: Rule) -> None:
    layout: Layout = data.layout
    sums = []
    for side in ("left", "right"):
        spec = rule.params[side]
        table = data.tables.get(spec["sheet"])
        if table is None or not table.found:
            return
        recs = [r for r in table.records if not r.rejected]
        conds = spec.get("any_of") or []
        if conds:
            chosen: set[int] = set()  # a row counts once, whichever conditions it meets
            for c in conds:
                chosen.update(i for i, r in enumerate(recs) if _matches(r, c))
            recs = [recs[i] for i in sorted(chosen)]
        key = spec["sum"]
        sums.append(sum(v for r in recs if (v := r.values.get(key))))
    left, right = sums
    ok = abs(left - right) < 0.005 if rule.params["compare"] == "equal" else left <= right + 0.005
    if ok:
        return
    ls, rs = layout.sheet(rule.params["left"]["sheet"]), layout.sheet(rule.params["right"]["sheet"])
    lf, rf = ls.field(rule.params["left"]["sum"]), rs.field(rule.params["right"]["sum"])
    verb_zh = "不一致" if rule.params["compare"] == "equal" else "多于后者"
    verb_en = "differs from" if rule.params["compare"] == "equal" else "is more than"
    data.add(rule.code, f"{ls.name['zh']}{lf.label['zh']}合计 {_num(left)} 元，与{rs.name['zh']}相应{rf.label['zh']} {_num(right)} 元{verb_zh}。",
             f"{ls.name['en']} {lf.label['en']} total {_num(left)} yuan {verb_en} the matching {rs.name['en']} {rf.label['en']} {_num(right)} yuan.",
             rule.severity, sheet=data.tables[ls.key].sheet_name, table=ls.key, value=f"{_num(left)} / {_num(right)}")


def apply_rules(data: WorkbookData) -> None:
    """Apply every rule of the layout to a read workbook, then mark rejected rows."""
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
            _dependent_lists(data, sheet, table)
        for rule in sheet.rules:
            if table is not None and not _columns_present(rule, table):
                continue  # a missing column is reported once, as missing_column; its rules cannot run
            RULES[rule.kind](_Ctx(data, sheet, table, rule))
    mark_rejected(data)
    for rule in layout.cross_checks:
        _cross_sum(data, rule)


def _columns_present(rule: Rule, table: Table) -> bool:
    from .layout import RULE_FIELD_PARAMS

    for param in RULE_FIELD_PARAMS[rule.kind]:
        value = rule.params.get(param)
        names = list(value) if isinstance(value, (list, dict)) else ([value] if value else [])
        if any("." not in n and n not in table.columns for n in names):
            return False
    return True


def mark_rejected(data: WorkbookData) -> None:
    """A row with any error-severity problem is rejected (left out of totals, kept raw)."""
    bad = {(p.table, p.row) for p in data.report if p.severity == "error" and p.row is not None and p.table}
    for key, table in data.tables.items():
        for rec in table.records:
            rec.rejected = (key, rec.row) in bad
