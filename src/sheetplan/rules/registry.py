"""Every rule kind, by name: the one table the layout checker, the reader, check, describe and merge read.

A layout may only use a kind listed here, under the list of its scope (``rules``, ``merge_rules``,
``cross_checks``); a kind listed here must declare its parameters, scope, messages and formula form,
and implement ``check`` and ``describe`` (tests/test_rule_registry.py walks the table).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import across, caps, compare, cross, dates, empty, ledger, unique
from .base import FILE, MERGE, SCOPE_OF, WORKBOOK, RuleKind

if TYPE_CHECKING:
    from ..layout import Rule, Sheet

KINDS: dict[str, RuleKind] = {
    k.name: k
    for k in (*compare.KINDS, *dates.KINDS, *caps.KINDS, *ledger.KINDS, *unique.KINDS, *empty.KINDS, *across.KINDS,
              *cross.KINDS)
}

# The layout's list of each scope: rules (per file), merge_rules (across schools), cross_checks (across tables).
RULES_KEY = SCOPE_OF[FILE].list_key
MERGE_RULES_KEY = SCOPE_OF[MERGE].list_key
CROSS_CHECKS_KEY = SCOPE_OF[WORKBOOK].list_key


def kind_of(rule: Rule) -> RuleKind:
    """The kind of a loaded rule (the layout checker admits no other)."""
    return KINDS[rule.kind]


def kinds_in(scope: str) -> dict[str, RuleKind]:
    """The kinds of one scope (file, merge, workbook), by name."""
    return {n: k for n, k in KINDS.items() if k.scope == scope}


def fields_read_by_rules(sheet: Sheet) -> frozenset[str]:
    """Fields of ``sheet`` that its rules read: without their columns those rules cannot run.

    A missing column of one of these is an error of the file; a missing column no rule or formula reads is
    a warning (the reader decides, with the fields the workbook's formulas read).
    """
    return frozenset(k for rule in sheet.rules for k in kind_of(rule).local_fields(rule))
