"""Kinds of a ledger of amounts: exactly_one, direction, nonnegative_balance.

Their words come from the layout: the unit and the noun of an amount from the fields' type (元, 金额),
what a row is counted in from the sheet (一笔 in a table of amounts), income and expense from the labels
of the two amount columns (收入 out of 收入(元)).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import FILE, LIST, LIST_NAME, NOT_YET, ONE, Param, RuleKind
from .context import FileContext, blank
from .text import Msg, Text, bare_label, measured, name, names, row_measure, unit, value_noun, with_article

if TYPE_CHECKING:
    from ..layout import Layout, Rule, Sheet


class ExactlyOne(RuleKind):
    """Exactly one of some amounts is filled, and it is above 0: 收入 or 支出, never both or neither."""

    name = "exactly_one"
    scope = FILE
    params = {
        "fields": Param(names=LIST),
    }
    messages = {
        "none": Msg("{fields}都没有填，请填其中一栏。", "{fields} are empty: fill one of them."),
        "both": Msg("{fields}都填了，一{row}只能填其中一栏。", "Both {fields} are filled: one {row} fills only one of them."),
        "zero": Msg("{field}填的是 0，{noun}应大于 0。", "{field} is 0: {noun} must be more than 0."),
    }
    formula = NOT_YET

    def check(self, ctx: FileContext) -> None:
        keys = ctx.p["fields"]
        filled_in = names(ctx.layout, ctx.sheet, keys)
        for rec in ctx.records():
            filled = [k for k in keys if rec.values.get(k) is not None]
            if len(filled) == 1 and rec.values[filled[0]] > 0:
                continue  # the usual row: exactly one amount, and positive
            if any(rec.values.get(k) is None and not blank(rec.raw_of(k)) for k in keys):
                continue  # an unreadable amount already has its own problem
            positive = [k for k in filled if rec.values[k] > 0]
            if len(filled) == 1 and len(positive) == 1:
                continue
            if not filled:
                message = self.messages["none"].format(fields=filled_in)
            elif len(filled) > 1:
                message = self.messages["both"].format(fields=filled_in, row=row_measure(ctx.sheet))
            else:
                message = self.messages["zero"].format(field=ctx.name(filled[0]),
                                                       noun=value_noun(ctx.layout, ctx.sheet, [filled[0]]))
            ctx.report(rec, ctx.first(keys), message)

    def description(self, rule: Rule, sheet: Sheet | None, layout: Layout) -> Text:
        return Text("{fields}只填一栏，且大于 0", "fill exactly one of {fields}, more than 0").format(
            fields=names(layout, sheet, rule.params["fields"]))


class Direction(RuleKind):
    """An income category's amount goes in the income column, an expense category's in the expense column."""

    name = "direction"
    scope = FILE
    params = {
        "field": Param(names=ONE),
        "income_list": Param(value=LIST_NAME),
        "expense_list": Param(value=LIST_NAME),
        "income": Param(names=ONE),
        "expense": Param(names=ONE),
    }
    messages = {
        "wrong_column": Msg("“{category}”是{direction}科目，{noun}应填在{right}栏，却填在了{wrong}栏。",
                            "'{category}' is {direction} category: {noun} belongs in {right}, not {wrong}."),
    }
    formula = NOT_YET

    def check(self, ctx: FileContext) -> None:
        p, lists = ctx.p, ctx.layout.lists
        income_cats, expense_cats = set(lists[p["income_list"]].values), set(lists[p["expense_list"]].values)
        for rec in ctx.records():
            cat = rec.values.get(p["field"])
            inc, exp = rec.values.get(p["income"]), rec.values.get(p["expense"])
            if cat in income_cats and exp is not None and inc is None:
                wrong, right = p["expense"], p["income"]
            elif cat in expense_cats and inc is not None and exp is None:
                wrong, right = p["income"], p["expense"]
            else:
                continue
            direction = bare_label(ctx.layout, ctx.sheet, right)
            ctx.report(rec, wrong, self.messages["wrong_column"].format(
                category=cat, direction=Text(direction.zh, with_article(direction.en)),
                noun=value_noun(ctx.layout, ctx.sheet, [right]), right=ctx.name(right), wrong=ctx.name(wrong)))

    def description(self, rule: Rule, sheet: Sheet | None, layout: Layout) -> Text:
        p = rule.params
        return Text("{income_noun}类科目填在{income}栏，{expense_noun}类科目填在{expense}栏",
                    "{income_noun} categories go in {income}, {expense_noun} categories in {expense}").format(
            income_noun=bare_label(layout, sheet, p["income"]), income=name(layout, sheet, p["income"]),
            expense_noun=bare_label(layout, sheet, p["expense"]), expense=name(layout, sheet, p["expense"]))


class NonnegativeBalance(RuleKind):
    """A running balance never goes below 0 (reported once where it first does)."""

    name = "nonnegative_balance"
    scope = FILE
    params = {
        "field": Param(names=ONE),
    }
    messages = {
        "negative": Msg("记入这一{row}后，{field}为 {value}，成了负数，请核对收支。",
                        "After this {row} the {field} is {value}, below zero: check the entries."),
    }
    formula = NOT_YET

    def check(self, ctx: FileContext) -> None:
        key = ctx.p["field"]
        money, row_word = unit(ctx.layout, ctx.sheet, [key]), row_measure(ctx.sheet)
        was_negative = False
        for rec in ctx.records():
            v = rec.values.get(key)
            if not isinstance(v, (int, float)):
                continue
            if v < 0 and not was_negative:
                ctx.report(rec, key, self.messages["negative"].format(
                    row=row_word, field=bare_label(ctx.layout, ctx.sheet, key), value=measured(v, money)))
            was_negative = v < 0

    def description(self, rule: Rule, sheet: Sheet | None, layout: Layout) -> Text:
        return Text("{field}不应为负数", "{field} should not become negative").format(
            field=name(layout, sheet, rule.params["field"]))


KINDS: tuple[RuleKind, ...] = (ExactlyOne(), Direction(), NonnegativeBalance())
