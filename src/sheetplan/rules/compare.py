"""Kinds comparing values of one row (or of 基本信息): compare, required_if, requires_value, max_when."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import TYPE_CHECKING

from .base import CHOICE, FILE, MAPPING, NOT_YET, NUMBER, ONE, VALUE_OF, Param, RuleKind
from .context import FileContext, blank
from .text import Msg, Text, conditions, followed, label, name, num, plain

if TYPE_CHECKING:
    from ..layout import Layout, Rule, Sheet

OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt, "==": operator.eq}
COMPARE_OPS = tuple(OPS)
# The message of each comparison when it fails: "<=" fails when the value is more, and so on.
FAILED: dict[str, str] = {"<=": "more", "<": "not_less", ">=": "less", ">": "not_more", "==": "unequal"}


class Compare(RuleKind):
    """A number against another field times a factor: 实际支出 <= 1.2 × 预算, 会员人数 <= 在职职工人数.

    The message says what is wrong as a clerk would, each number with its unit: 实际人数 120 人，多于会员人数
    86 人; with a factor, the limit it gives as well: 实际支出 6,500 元，超过预算 5,000 元的 1.2 倍（6,000 元）.
    """

    name = "compare"
    scope = FILE
    params = {
        "field": Param(names=ONE),
        "op": Param(value=CHOICE, choices=COMPARE_OPS),
        "other": Param(names=ONE),
        "factor": Param(required=False, value=NUMBER),
    }
    # One message per comparison that failed, and its form with a factor ("_times"). {value} and {other_value}
    # carry their units; {limit} is the factor times the other value.
    messages = {
        "more": Msg("{field} {value}，多于{other} {other_value}。",
                    "{field} {value} is more than {other} {other_value}."),
        "more_times": Msg("{field} {value}，超过{other} {other_value}的 {factor} 倍（{limit}）。",
                          "{field} {value} is more than {factor} times {other} {other_value} ({limit})."),
        "not_less": Msg("{field} {value}，应少于{other} {other_value}。",
                        "{field} {value} should be less than {other} {other_value}."),
        "not_less_times": Msg("{field} {value}，应少于{other} {other_value}的 {factor} 倍（{limit}）。",
                              "{field} {value} should be less than {factor} times {other} {other_value} ({limit})."),
        "less": Msg("{field} {value}，少于{other} {other_value}。",
                    "{field} {value} is less than {other} {other_value}."),
        "less_times": Msg("{field} {value}，不到{other} {other_value}的 {factor} 倍（{limit}）。",
                          "{field} {value} is less than {factor} times {other} {other_value} ({limit})."),
        "not_more": Msg("{field} {value}，应多于{other} {other_value}。",
                        "{field} {value} should be more than {other} {other_value}."),
        "not_more_times": Msg("{field} {value}，应多于{other} {other_value}的 {factor} 倍（{limit}）。",
                              "{field} {value} should be more than {factor} times {other} {other_value} ({limit})."),
        "unequal": Msg("{field} {value}，与{other} {other_value}不相等。",
                       "{field} {value} differs from {other} {other_value}."),
        "unequal_times": Msg("{field} {value}，不等于{other} {other_value}的 {factor} 倍（{limit}）。",
                             "{field} {value} is not {factor} times {other} {other_value} ({limit})."),
    }
    formula = NOT_YET

    def check(self, ctx: FileContext) -> None:
        p = ctx.p
        op, factor = p["op"], float(p.get("factor", 1))
        times = factor != 1
        key = FAILED[op] + ("_times" if times else "")
        for rec in ctx.targets():
            v, o = ctx.value(rec, p["field"]), ctx.value(rec, p["other"])
            if not isinstance(v, (int, float)) or not isinstance(o, (int, float)):
                continue
            if not OPS[op](v, factor * o):
                other_value = ctx.amount(p["other"], o)
                ctx.report(rec, p["field"], self.messages[key].format(
                    field=ctx.name(p["field"]), value=ctx.amount(p["field"], v), other=ctx.name(p["other"]),
                    other_value=followed(other_value) if times else other_value, factor=num(factor),
                    limit=ctx.amount(p["other"], round(factor * o, 2))))

    def description(self, rule: Rule, sheet: Sheet | None, layout: Layout) -> Text:
        p = rule.params
        # What each comparison asks for, in words rather than its sign; a factor is said as 预算的 1.2 倍.
        asked = {
            "<=": Text("{field}不应超过{other}", "{field} should not be more than {other}"),
            "<": Text("{field}应少于{other}", "{field} should be less than {other}"),
            ">=": Text("{field}不应少于{other}", "{field} should not be less than {other}"),
            ">": Text("{field}应多于{other}", "{field} should be more than {other}"),
            "==": Text("{field}应等于{other}", "{field} should equal {other}"),
        }[p["op"]]
        other = name(layout, sheet, p["other"])
        if p.get("factor") not in (None, 1):
            other = Text(f"{other.zh}的 {plain(p['factor'])} 倍", f"{plain(p['factor'])} times {other.en}")
        return asked.format(field=name(layout, sheet, p["field"]), other=other)


class RequiredIf(RuleKind):
    """A field that must be filled when others hold given values: 完成日期 when 完成情况 is 已完成."""

    name = "required_if"
    scope = FILE
    params = {
        "field": Param(names=ONE),
        "when": Param(names=MAPPING),
    }
    messages = {
        "missing": Msg("{conditions}时必须填写{field}。", "{field} is required when {conditions}."),
    }
    formula = NOT_YET

    def check(self, ctx: FileContext) -> None:
        key = ctx.p["field"]
        for rec in ctx.records():
            if ctx.when(rec) and rec.values.get(key) is None and blank(rec.raw_of(key)):
                ctx.report(rec, key, self.messages["missing"].format(
                    conditions=conditions(ctx.layout, ctx.sheet, ctx.p["when"]), field=ctx.name(key)))

    def description(self, rule: Rule, sheet: Sheet | None, layout: Layout) -> Text:
        p = rule.params
        return Text("{conditions}时必须填写{field}", "{field} is required when {conditions}").format(
            conditions=conditions(layout, sheet, p["when"]), field=label(layout, sheet, p["field"]))


class RequiresValue(RuleKind):
    """One value of a field requires a value of another: 组别 男子组 requires 性别 男."""

    name = "requires_value"
    scope = FILE
    params = {
        "field": Param(names=ONE),
        "when": Param(names=MAPPING, single=True),
        "other": Param(names=ONE),
        "value": Param(value=VALUE_OF, of="other"),
    }
    messages = {
        "mismatch": Msg("{when_field}是“{when_value}”，{other}应为“{value}”，这里填的是“{found}”。",
                        "{when_field} is {when_value}, so {other} should be {value}, not {found}."),
    }
    formula = NOT_YET

    def check(self, ctx: FileContext) -> None:
        p = ctx.p
        (wk, wv), = p["when"].items()
        for rec in ctx.records():
            other = rec.values.get(p["other"])
            if ctx.when(rec) and other is not None and other != p["value"]:
                ctx.report(rec, p["field"], self.messages["mismatch"].format(
                    when_field=ctx.name(wk), when_value=wv, value=p["value"], other=ctx.name(p["other"]), found=other))

    def description(self, rule: Rule, sheet: Sheet | None, layout: Layout) -> Text:
        p = rule.params
        (wk, wv), = p["when"].items()
        return Text("{when_field}为“{when_value}”时{other}须为“{value}”", "{when_field} {when_value} requires {other} {value}").format(
            when_field=label(layout, sheet, wk), when_value=wv, other=label(layout, sheet, p["other"]), value=p["value"])


class MaxWhen(RuleKind):
    """An upper limit of a number that holds only for one value of another field: 年龄 ≤ 35 in 青年组."""

    name = "max_when"
    scope = FILE
    params = {
        "field": Param(names=ONE),
        "when": Param(names=MAPPING, single=True),
        "max": Param(value=NUMBER),
    }
    messages = {
        "over": Msg("{when_field}为“{when_value}”时，{field}不能超过 {max}，这里填的是 {value}。",
                    "When {when_field} is {when_value}, {field} may be at most {max}; it is {value}."),
    }
    formula = NOT_YET

    def check(self, ctx: FileContext) -> None:
        p = ctx.p
        (wk, wv), = p["when"].items()
        for rec in ctx.records():
            v = rec.values.get(p["field"])
            if ctx.when(rec) and isinstance(v, (int, float)) and v > p["max"]:
                ctx.report(rec, p["field"], self.messages["over"].format(
                    when_field=ctx.name(wk), when_value=wv, field=ctx.name(p["field"]), value=ctx.amount(p["field"], v),
                    max=ctx.amount(p["field"], p["max"])))

    def description(self, rule: Rule, sheet: Sheet | None, layout: Layout) -> Text:
        p = rule.params
        (wk, wv), = p["when"].items()
        return Text("{when_field}为“{when_value}”时{field}不超过 {max}", "{field} at most {max} when {when_field} is {when_value}").format(
            when_field=label(layout, sheet, wk), when_value=wv, field=label(layout, sheet, p["field"]), max=plain(p["max"]))


KINDS: tuple[RuleKind, ...] = (Compare(), RequiredIf(), RequiresValue(), MaxWhen())
