"""The kind applied across the schools of a merge: unique_across, and :func:`check_across` that merge calls.

A merge keeps the accepted rows of every school as plain tuples (see :class:`.context.AcrossContext`);
these rules read nothing else, so they run on rows spilled to disk as well as on rows in memory.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable
from typing import TYPE_CHECKING

from .base import ACROSS_FILES, LIST, MERGE, Param, RuleKind
from .context import AcrossContext, AcrossProblem
from .text import Msg, Text, labels, named_values, word

if TYPE_CHECKING:
    from ..layout import Layout, Rule, Sheet


class UniqueAcross(RuleKind):
    """The values of some fields together are entered by one school only (the same person by two schools)."""

    name = "unique_across"
    scope = MERGE
    params = {
        "fields": Param(names=LIST),
    }
    messages = {
        "repeat": Msg("{what}也由{owner_name}（{owner_code}）{entered}。",
                      "{what} is also {entered} by {owner_name} ({owner_code})."),
    }
    formula = ACROSS_FILES

    def check(self, ctx: AcrossContext) -> None:
        fields = ctx.p["fields"]
        idx = [ctx.index(k) for k in fields]
        pick = operator.itemgetter(*idx) if len(idx) > 1 else lambda row, i=idx[0]: (row[i],)
        named = [ctx.name(f) for f in fields]
        first: dict[tuple, tuple] = {}  # values → (code, name) of the school that entered them first
        for row in ctx.rows:
            k = pick(row)
            if None in k:
                continue
            owner = first.setdefault(k, (row[0], row[1]))
            if owner[0] == row[0]:
                continue
            ctx.report(row, fields[0], self.messages["repeat"].format(
                what=named_values(zip(named, k, strict=True)), owner_name=owner[1], owner_code=owner[0], entered=word("entered")),
                value="、".join(map(str, k)))

    def description(self, rule: Rule, sheet: Sheet | None, layout: Layout) -> Text:
        return Text("{fields}不得重复（跨{orgs}）", "{fields} must not repeat across {orgs}").format(
            fields=labels(layout, sheet, rule.params["fields"]), orgs=word("orgs"))


def check_across(rule: Rule, sheet: Sheet, rows: Iterable[tuple]) -> list[AcrossProblem]:
    """The problems a rule of ``sheet.merge_rules`` finds in the merged rows of that table.

    ``rows`` are the stored rows of every accepted file, in input order: ``(org_code, org_name, *values in
    the order of sheet.fields, source_file, source_row)``. Each problem names the file (``org_code``,
    ``source_file``), the row of its sheet and the field to point at; the caller adds the sheet's name and
    the cell, which only it knows.
    """
    from .registry import KINDS  # the registry imports this module

    kind = KINDS[rule.kind]
    if kind.scope != MERGE:
        raise ValueError(f"rule kind {rule.kind!r} is not applied across schools")
    ctx = AcrossContext(rule, sheet, rows)
    kind.check(ctx)
    return ctx.problems


KINDS: tuple[RuleKind, ...] = (UniqueAcross(),)
