"""Kinds about dates: same_month, repeat_within, not_descending."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

from .base import FILE, LIST, NOT_YET, NUMBER, ONE, Param, RuleKind
from .context import FileContext, values_of
from .text import Msg, Text, label, labels, pairs, row_measure

if TYPE_CHECKING:
    from ..layout import Layout, Rule, Sheet


class SameMonth(RuleKind):
    """A date that must fall in the month given in another column: 活动日期 within 月份."""

    name = "same_month"
    scope = FILE
    params = {
        "field": Param(names=ONE),
        "month_field": Param(names=ONE),
    }
    messages = {
        "outside": Msg("{field} {date} 不在 {month} 月，与所填{month_field}不符。",
                       "{field} {date} is not in month {month}, the {month_field} given."),
    }
    formula = NOT_YET

    def check(self, ctx: FileContext) -> None:
        dk, mk = ctx.p["field"], ctx.p["month_field"]
        for rec in ctx.records():
            d, m = rec.values.get(dk), rec.values.get(mk)
            if d is not None and isinstance(m, int) and d.month != m:
                ctx.report(rec, ctx.first([dk, mk]), self.messages["outside"].format(
                    field=ctx.name(dk), date=d.isoformat(), month_field=ctx.name(mk), month=m))

    def description(self, rule: Rule, sheet: Sheet | None, layout: Layout) -> Text:
        p = rule.params
        return Text("{field}须在{month_field}所填的月份内", "{field} must fall in {month_field}").format(
            field=label(layout, sheet, p["field"]), month_field=label(layout, sheet, p["month_field"]))


class RepeatWithin(RuleKind):
    """The same values again within some days: the same member visited for the same reason within 30 days."""

    name = "repeat_within"
    scope = FILE
    params = {
        "fields": Param(names=LIST),
        "date": Param(names=ONE),
        "days": Param(value=NUMBER),
    }
    messages = {
        "repeat": Msg("{who}在 {days} 天内又登记了一次（上次 {last}，这次 {date}），请核对是否重复。",
                      "{who} is entered again within {days} days (last {last}, this one {date}): check it is not a double entry."),
    }
    formula = NOT_YET

    def check(self, ctx: FileContext) -> None:
        keys, dk, days = ctx.p["fields"], ctx.p["date"], int(ctx.p["days"])
        seen: dict[tuple, list[Any]] = defaultdict(list)
        pick = values_of(keys)
        for rec in sorted(ctx.records(), key=lambda r: (r.values.get(dk) is None, r.values.get(dk) or 0, r.row)):
            gkey = pick(rec.values)
            d = rec.values.get(dk)
            if d is None or None in gkey:
                continue
            prev = seen[gkey]
            if prev and (d - prev[-1]).days <= days:
                ctx.report(rec, ctx.first([dk, *keys]), self.messages["repeat"].format(
                    who=pairs(ctx.layout, ctx.sheet, keys, gkey), days=days, last=prev[-1].isoformat(), date=d.isoformat()))
            prev.append(d)

    def description(self, rule: Rule, sheet: Sheet | None, layout: Layout) -> Text:
        p = rule.params
        return Text("同一{fields}在 {days} 天内重复出现会提示", "the same {fields} twice within {days} days is flagged").format(
            fields=labels(layout, sheet, p["fields"]), days=p["days"])


class NotDescending(RuleKind):
    """Dates entered in order: a row dated earlier than the one above is flagged."""

    name = "not_descending"
    scope = FILE
    params = {
        "field": Param(names=ONE),
    }
    messages = {
        "earlier": Msg("{field} {date} 早于上一{row}（第 {last_row} 行 {last}），请按先后顺序登记。",
                       "{field} {date} is earlier than the {row} before (row {last_row}, {last}): enter them in order."),
    }
    formula = NOT_YET

    def check(self, ctx: FileContext) -> None:
        key = ctx.p["field"]
        row_word = row_measure(ctx.sheet)
        prev = None
        for rec in ctx.records():
            d = rec.values.get(key)
            if d is None:
                continue
            if prev is not None and d < prev[0]:
                ctx.report(rec, key, self.messages["earlier"].format(
                    field=ctx.name(key), date=d.isoformat(), row=row_word, last_row=prev[1], last=prev[0].isoformat()))
            prev = (d, rec.row)

    def description(self, rule: Rule, sheet: Sheet | None, layout: Layout) -> Text:
        return Text("{field}应按先后顺序登记", "{field} should not go back in time").format(
            field=label(layout, sheet, rule.params["field"]))


KINDS: tuple[RuleKind, ...] = (SameMonth(), RepeatWithin(), NotDescending())
