"""The kind comparing two tables of one workbook: cross_sum (the layout's ``cross_checks``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import CHOICE, NOT_YET, SIDE, WORKBOOK, Param, RuleKind
from .context import WorkbookContext
from .text import Msg, Text, joined, measured, name, num, row_measure, unit

if TYPE_CHECKING:
    from ..layout import Layout, Rule, Sheet
    from ..reading.workbook import Record

COMPARISONS = ("equal", "left_not_greater")
SHOWN_ROWS = 5  # rows left out that a message names one by one; more are counted


def _rows(rows: list[int]) -> Text:
    """Row numbers as a clerk reads them: 第 7、9 行 / rows 7 and 9, the first few and a count of the rest."""
    shown = [str(r) for r in rows[:SHOWN_ROWS]]
    more = len(rows) - len(shown)
    listed = joined(Text(r, r) for r in shown)
    zh = f"第 {'、'.join(shown)} 行" + (f"等 {len(rows)} 行" if more else "")
    en = ("row " if len(rows) == 1 else "rows ") + listed.en + (f" and {more} more" if more else "")
    return Text(zh, en)


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
    A sheet's own totals (慰问金合计) count every row, so when rows with errors were left out the message
    names them and what they hold: otherwise the figures it gives would not match what the clerk sees.
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
        "equal": Msg("{left_sheet}的{left_field}合计 {left}，与{right_sheet}中相应的{right_field} {right}不一致。",
                     "The {left_field} total of {left_sheet}, {left}, differs from the matching {right_field} "
                     "in {right_sheet}, {right}."),
        "left_not_greater": Msg("{left_sheet}的{left_field}合计 {left}，多于{right_sheet}中相应的{right_field} {right}。",
                                "The {left_field} total of {left_sheet}, {left}, is more than the matching {right_field} "
                                "in {right_sheet}, {right}."),
        # added when rows with errors were left out: {sides} lists, per table, the rows and what they hold
        "left_out": Msg("有错误的行未计入比较：{sides}。", "Rows with errors are left out of the comparison: {sides}."),
        "side": Msg("{sheet}{rows}（共 {total}）", "{sheet} {rows} ({total} in all)"),
    }
    formula = NOT_YET

    def check(self, ctx: WorkbookContext) -> None:
        data, p = ctx.data, ctx.p
        sums: list[float] = []
        left_out: list[tuple[str, list[int], float]] = []  # per side: its sheet, the rejected rows, their total
        for side in ("left", "right"):
            spec = p[side]
            table = data.tables.get(spec["sheet"])
            if table is None or not table.found:
                return
            recs = list(table.records)
            conds = spec.get("any_of") or []
            if conds:
                chosen: set[int] = set()  # a row counts once, whichever conditions it meets
                for c in conds:
                    chosen.update(i for i, r in enumerate(recs) if _matches(r, c))
                recs = [recs[i] for i in sorted(chosen)]
            key = spec["sum"]
            sums.append(sum(v for r in recs if not r.rejected and (v := r.values.get(key))))
            rejected = [(r.row, v) for r in recs if r.rejected and (v := r.values.get(key))]
            if rejected:
                left_out.append((spec["sheet"], [row for row, _ in rejected], sum(v for _, v in rejected)))
        left, right = sums
        ok = abs(left - right) < 0.005 if p["compare"] == "equal" else left <= right + 0.005
        if ok:
            return
        layout = ctx.layout
        ls, rs = layout.sheet(p["left"]["sheet"]), layout.sheet(p["right"]["sheet"])
        lk, rk = p["left"]["sum"], p["right"]["sum"]
        message = self.messages[p["compare"]].format(
            left_sheet=_sheet_name(ls), left_field=name(layout, ls, lk), left=measured(left, unit(layout, ls, [lk])),
            right_sheet=_sheet_name(rs), right_field=name(layout, rs, rk), right=measured(right, unit(layout, rs, [rk])))
        if left_out:
            sides = []
            for sheet_key, rows, total in left_out:
                sheet = layout.sheet(sheet_key)
                summed = p["left"]["sum"] if sheet_key == ls.key else p["right"]["sum"]
                sides.append(self.messages["side"].format(sheet=_sheet_name(sheet), rows=_rows(rows),
                                                          total=measured(total, unit(layout, sheet, [summed]))))
            note = self.messages["left_out"].format(sides=Text("；".join(t.zh for t in sides), "; ".join(t.en for t in sides)))
            message = Text(message.zh + note.zh, f"{message.en} {note.en}")
        ctx.report(ls.key, message, value=f"{num(left)} / {num(right)}")

    # The rule in words: which total should match (or not exceed) which, and which rows of the other table count.
    def description(self, rule: Rule, sheet: Sheet | None, layout: Layout) -> Text:
        p = rule.params
        left, right = p["left"], p["right"]
        ls, rs = layout.sheet(left["sheet"]), layout.sheet(right["sheet"])
        # The rule in words: which total should match (or not exceed) which, over which rows of the other table.
        asked = {
            "equal": Text("{left_sheet}的{left_field}合计应与{right_sheet}{which}{right_field}合计相符",
                          "The {left_field} total of {left_sheet} should equal the {right_field} total of "
                          "{right_sheet}{which}"),
            "left_not_greater": Text("{left_sheet}的{left_field}合计不应超过{right_sheet}{which}{right_field}合计",
                                     "The {left_field} total of {left_sheet} should not exceed the {right_field} total of "
                                     "{right_sheet}{which}"),
        }[p["compare"]]
        conds = []
        for c in right.get("any_of") or []:
            field = name(layout, rs, c["field"])
            if "in" in c:
                values = joined((Text(str(v), str(v)) for v in c["in"]), zh_last="或", en_last=" or ")
                conds.append(Text("{field}是{values}", "{field} is {values}").format(field=field, values=values))
            else:
                conds.append(Text("{field}含有“{text}”", "{field} contains “{text}”").format(field=field, text=c["contains"]))
        which = Text("的", "")  # every row of the other table
        if conds:
            # A row meeting any one of the conditions counts: 或 / or between them.
            either = Text("，或".join(t.zh for t in conds), "; or ".join(t.en for t in conds))
            which = Text("中{conditions}的各{row}", " over the rows where {conditions}").format(
                conditions=either, row=row_measure(rs))
        return asked.format(left_sheet=_sheet_name(ls), left_field=name(layout, ls, left["sum"]),
                            right_sheet=_sheet_name(rs), right_field=name(layout, rs, right["sum"]), which=which)


def _sheet_name(sheet: Sheet) -> Text:
    """A sheet's name in both languages."""
    return Text(sheet.name["zh"], sheet.name["en"])


KINDS: tuple[RuleKind, ...] = (CrossSum(),)
