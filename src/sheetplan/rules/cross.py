"""The kind comparing two tables of one workbook: cross_sum (the layout's ``cross_checks``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import CHOICE, NOT_YET, SIDE, WORKBOOK, Param, RuleKind
from .context import WorkbookContext
from .text import Msg, Text, label, measured, num, unit

if TYPE_CHECKING:
    from ..layout import Layout, Rule, Sheet
    from ..reading.workbook import Record

COMPARISONS = ("equal", "left_not_greater")


def _matches(rec: Record, cond: dict[str, Any]) -> bool:
    v = rec.values.get(cond["field"])
    if v is None:
        return False
    if "in" in cond:
        return v in cond["in"]
    return str(cond["contains"]) in str(v)


class CrossSum(RuleKind):
    """The total of a field of one table against the total of selected rows of another.

    Rejected rows are left out of both totals; a row meeting several conditions of ``any_of`` counts once.
    """

    name = "cross_sum"
    scope = WORKBOOK
    default_severity = "warning"
    params = {
        "compare": Param(value=CHOICE, choices=COMPARISONS),
        "left": Param(value=SIDE),
        "right": Param(value=SIDE),
    }
    messages = {
        "equal": Msg("{left_sheet}{left_field}合计 {left}，与{right_sheet}相应{right_field} {right}不一致。",
                     "{left_sheet} {left_field} total {left} differs from the matching {right_sheet} {right_field} {right}."),
        "left_not_greater": Msg("{left_sheet}{left_field}合计 {left}，与{right_sheet}相应{right_field} {right}多于后者。",
                                "{left_sheet} {left_field} total {left} is more than the matching {right_sheet} {right_field} {right}."),
    }
    formula = NOT_YET

    def check(self, ctx: WorkbookContext) -> None:
        data, p = ctx.data, ctx.p
        sums = []
        for side in ("left", "right"):
            spec = p[side]
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
        ok = abs(left - right) < 0.005 if p["compare"] == "equal" else left <= right + 0.005
        if ok:
            return
        layout = ctx.layout
        ls, rs = layout.sheet(p["left"]["sheet"]), layout.sheet(p["right"]["sheet"])
        lk, rk = p["left"]["sum"], p["right"]["sum"]
        ctx.report(ls.key, self.messages[p["compare"]].format(
            left_sheet=Text(ls.name["zh"], ls.name["en"]), left_field=label(layout, ls, lk),
            left=measured(left, unit(layout, ls, [lk])), right_sheet=Text(rs.name["zh"], rs.name["en"]),
            right_field=label(layout, rs, rk), right=measured(right, unit(layout, rs, [rk]))),
            value=f"{num(left)} / {num(right)}")

    def description(self, rule: Rule, sheet: Sheet | None, layout: Layout) -> Text:
        p = rule.params
        left, right = p["left"], p["right"]
        ls, rs = layout.sheet(left["sheet"]), layout.sheet(right["sheet"])
        conds = []
        for c in right.get("any_of") or []:
            lab = label(layout, rs, c["field"])
            conds.append(Text(f"{lab.zh} ∈ {'、'.join(c['in'])}", f"{lab.en} ∈ {'、'.join(c['in'])}") if "in" in c
                         else Text(f"{lab.zh} ⊃ “{c['contains']}”", f"{lab.en} ⊃ “{c['contains']}”"))
        cond = Text(*(("；" if lang == "zh" else "; ").join(c[lang] for c in conds) for lang in ("zh", "en")))
        where = Text(f"（{cond.zh}）", f" ({cond.en})") if conds else Text("", "")
        template = (Text("{left}合计应与{right}{where}相符", "{left} total should equal {right}{where}")
                    if p["compare"] == "equal"
                    else Text("{left}合计不应超过{right}{where}", "{left} total should not exceed {right}{where}"))
        return template.format(
            left=Text(f"{ls.name['zh']}·{ls.field(left['sum']).label['zh']}", f"{ls.name['en']}·{ls.field(left['sum']).label['en']}"),
            right=Text(f"{rs.name['zh']}·{rs.field(right['sum']).label['zh']}", f"{rs.name['en']}·{rs.field(right['sum']).label['en']}"),
            where=where)


KINDS: tuple[RuleKind, ...] = (CrossSum(),)
