"""The kind forbidding repeated values within one table: unique."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import FILE, LIST, NOT_YET, Param, RuleKind
from .context import FileContext, values_of
from .text import Msg, Text, labels, pairs

if TYPE_CHECKING:
    from ..layout import Layout, Rule, Sheet


class Unique(RuleKind):
    """The values of some fields together appear once; every later occurrence is reported."""

    name = "unique"
    scope = FILE
    params = {
        "fields": Param(names=LIST),
    }
    messages = {
        "repeat": Msg("{what}与第 {first_row} 行重复。", "{what} repeats row {first_row}."),
    }
    formula = NOT_YET

    def check(self, ctx: FileContext) -> None:
        keys = ctx.p["fields"]
        first: dict[tuple, int] = {}
        pick = values_of(keys)
        for rec in ctx.records():
            k = pick(rec.values)
            if None in k:
                continue
            if k in first:
                ctx.report(rec, ctx.first(keys), self.messages["repeat"].format(
                    what=pairs(ctx.layout, ctx.sheet, keys, k), first_row=first[k]))
            else:
                first[k] = rec.row

    def description(self, rule: Rule, sheet: Sheet | None, layout: Layout) -> Text:
        return Text("{fields}不得重复", "{fields} must not repeat").format(fields=labels(layout, sheet, rule.params["fields"]))


KINDS: tuple[RuleKind, ...] = (Unique(),)
