"""Kinds capping amounts and counts: cap_per_row, cap_sum, cap_count, cap_distinct.

The unit of an amount is that of the fields' type (元 for money); nouns the layout has no place for yet
(本校, 人) come from :data:`.text.VOCABULARY`.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

from .base import CAPS, FILE, LIST, MAPPING, NOT_YET, NUMBER, ONE, Param, RuleKind
from .context import FileContext, values_of
from .text import Msg, Text, labels, measured, name, names, num, plain, spaced, unit, word

if TYPE_CHECKING:
    from ..layout import Layout, Rule, Sheet
    from ..reading.workbook import Record


def _sum(rec: Record, keys: list[str]) -> float | None:
    """The total of ``keys`` in ``rec``; None when none of them is filled."""
    vals = [rec.values.get(k) for k in keys]
    if all(v is None for v in vals):
        return None
    return sum(v for v in vals if isinstance(v, (int, float)))


def _condition_values(rule_params: Any) -> str:
    """The values of a ``when``, run together (节日慰问): what a cap over a selection of rows is about."""
    return "".join(str(v) for v in (rule_params.get("when") or {}).values())


class CapPerRow(RuleKind):
    """A cap on the total of some amounts of one row, by the value of another field: 生日 ≤ 500 元."""

    name = "cap_per_row"
    scope = FILE
    params = {
        "fields": Param(names=LIST),
        "by": Param(names=ONE),
        "caps": Param(value=CAPS, of="by"),
    }
    messages = {
        "over": Msg("{by}“{reason}”：{fields}合计 {total}，超过每次上限 {cap}。",
                    "{by} {reason}: {fields} total {total}, over the cap of {cap} each time."),
    }
    formula = NOT_YET

    def check(self, ctx: FileContext) -> None:
        keys, by, caps = ctx.p["fields"], ctx.p["by"], ctx.p["caps"]
        summed = names(ctx.layout, ctx.sheet, keys)
        money = unit(ctx.layout, ctx.sheet, keys)
        for rec in ctx.records():
            cap = caps.get(rec.values.get(by))
            total = _sum(rec, keys)
            if cap is not None and total is not None and total > cap:
                ctx.report(rec, ctx.first(keys), self.messages["over"].format(
                    by=ctx.name(by), reason=rec.values.get(by), fields=summed, total=measured(total, money),
                    cap=measured(cap, money)))

    def description(self, rule: Rule, sheet: Sheet | None, layout: Layout) -> Text:
        p = rule.params
        money = spaced(unit(layout, sheet, p["fields"]))
        # Values sharing a cap are named together, in the layout's order: 生日 500 元；结婚、生育 … 2000 元.
        by_cap: dict[float, list[str]] = {}
        for value, cap in p["caps"].items():
            by_cap.setdefault(cap, []).append(str(value))
        caps = Text("；".join(f"{'、'.join(vs)} {plain(c)}{money.zh}" for c, vs in by_cap.items()),
                    "; ".join(f"{', '.join(vs)} {plain(c)}{money.en}" for c, vs in by_cap.items()))
        return Text("按{by}，每次{fields}合计不超过：{caps}", "{fields} together each time, by {by}, at most: {caps}").format(
            fields=names(layout, sheet, p["fields"]), by=name(layout, sheet, p["by"]), caps=caps)


class CapSum(RuleKind):
    """A cap on the year's total of some amounts per person (or other group), over the rows meeting ``when``."""

    name = "cap_sum"
    scope = FILE
    params = {
        "fields": Param(names=LIST),
        "group_by": Param(names=LIST),
        "when": Param(required=False, names=MAPPING),
        "cap": Param(value=NUMBER),
    }
    messages = {
        "over": Msg("{who}全年{condition}的{fields}累计 {total}，超过全年上限 {cap}。",
                    "{who}: {condition} {fields} this year total {total}, over the yearly cap of {cap}."),
    }
    formula = NOT_YET

    def check(self, ctx: FileContext) -> None:
        keys, group, cap = ctx.p["fields"], ctx.p["group_by"], float(ctx.p["cap"])
        running: dict[tuple, float] = defaultdict(float)
        pick = values_of(group)
        cond = _condition_values(ctx.p)
        summed = names(ctx.layout, ctx.sheet, keys)
        money = unit(ctx.layout, ctx.sheet, keys)
        for rec in ctx.records():
            gkey = pick(rec.values)
            total = _sum(rec, keys)
            if None in gkey or total is None or not ctx.when(rec):
                continue
            running[gkey] += total
            if running[gkey] > cap:
                ctx.report(rec, ctx.first(keys), self.messages["over"].format(
                    who="、".join(str(g) for g in gkey), condition=cond, fields=summed,
                    total=measured(running[gkey], money), cap=measured(cap, money)))

    def description(self, rule: Rule, sheet: Sheet | None, layout: Layout) -> Text:
        p = rule.params
        return Text("{condition}：同一{group}全年{fields}合计不超过 {cap}{unit}",
                    "{condition}: {fields} together per {group} and year at most {cap}{unit}").format(
            condition=_condition_values(p), group=labels(layout, sheet, p["group_by"]),
            fields=names(layout, sheet, p["fields"]), cap=plain(p["cap"]), unit=spaced(unit(layout, sheet, p["fields"])))


class CapCount(RuleKind):
    """A cap on the number of rows per value of some fields (entries per event), some values with their own cap."""

    name = "cap_count"
    scope = FILE
    params = {
        "group_by": Param(names=LIST),
        "cap": Param(value=NUMBER),
        "caps": Param(required=False, value=CAPS, of="group_by"),
    }
    messages = {
        "over": Msg("“{what}”本{org}已报 {count} {person}，超过每{org}限报 {cap} {person}。",
                    "'{what}': this {org} has entered {count}, over the limit of {cap} per {org}."),
    }
    formula = NOT_YET

    def check(self, ctx: FileContext) -> None:
        group, cap, caps = ctx.p["group_by"], ctx.p["cap"], ctx.p.get("caps") or {}
        counts: dict[tuple, int] = defaultdict(int)
        pick = values_of(group)
        for rec in ctx.records():
            g = pick(rec.values)
            if None in g:
                continue
            counts[g] += 1
            limit = caps.get(g[0], cap)
            if counts[g] > limit:
                ctx.report(rec, ctx.first(group), self.messages["over"].format(
                    what="、".join(str(v) for v in g), org=word("org"), count=counts[g], person=word("person"),
                    cap=num(limit)))

    def description(self, rule: Rule, sheet: Sheet | None, layout: Layout) -> Text:
        p = rule.params
        own = (p.get("caps") or {}).items()
        person = word("person")
        extra = Text(f"（{'，'.join(f'{k}最多 {plain(v)} {person.zh}' for k, v in own)}）",
                     f" ({', '.join(f'{k} at most {plain(v)}' for k, v in own)})") if own else Text("", "")
        return Text("每{org}每个{group}最多报 {cap} {person}{extra}", "at most {cap} entries per {group} per {org}{extra}").format(
            org=word("org"), group=labels(layout, sheet, p["group_by"]), cap=plain(p["cap"]), person=person, extra=extra)


class CapDistinct(RuleKind):
    """A cap on the number of different values of a field per group: at most 2 events per person."""

    name = "cap_distinct"
    scope = FILE
    params = {
        "group_by": Param(names=LIST),
        "distinct": Param(names=ONE),
        "cap": Param(value=NUMBER),
    }
    messages = {
        "over": Msg("{who}已报 {count} 个{distinct}（{values}），每{person}最多 {cap} 个。",
                    "{who} has entered {count} of {distinct} ({values}); at most {cap} per {person}."),
    }
    formula = NOT_YET

    def check(self, ctx: FileContext) -> None:
        group, dk, cap = ctx.p["group_by"], ctx.p["distinct"], ctx.p["cap"]
        seen: dict[tuple, list[Any]] = defaultdict(list)
        pick = values_of(group)
        for rec in ctx.records():
            g = pick(rec.values)
            d = rec.values.get(dk)
            if None in g or d is None or d in seen[g]:
                continue
            seen[g].append(d)
            if len(seen[g]) > cap:
                ctx.report(rec, ctx.first([*group, dk]), self.messages["over"].format(
                    who="、".join(str(v) for v in g), count=len(seen[g]), distinct=ctx.name(dk),
                    values=Text("、".join(map(str, seen[g])), ", ".join(map(str, seen[g]))),
                    person=word("person"), cap=num(cap)))

    def description(self, rule: Rule, sheet: Sheet | None, layout: Layout) -> Text:
        p = rule.params
        return Text("每{person}最多报 {cap} 个{distinct}", "one {group} enters at most {cap} {distinct}").format(
            person=word("person"), cap=plain(p["cap"]), distinct=name(layout, sheet, p["distinct"]),
            group=labels(layout, sheet, p["group_by"]))


KINDS: tuple[RuleKind, ...] = (CapPerRow(), CapSum(), CapCount(), CapDistinct())
