"""The layout's rules: a registry of rule kinds, and applying them to what the reader read.

Each kind of rule is one class declaring everything about it — its parameters (and which of them name
fields), its scope, its messages and its formula form — and implementing ``check`` and ``describe``:

- :mod:`.base`     the base class :class:`RuleKind`, :class:`Param`, the scopes, :class:`NoFormula`;
- :mod:`.text`     message templates (:class:`Text`) and the words filling them, taken from the layout;
- :mod:`.context`  what a rule sees: a table of one file, the tables of one file, the rows of a merge;
- :mod:`.compare`, :mod:`.dates`, :mod:`.caps`, :mod:`.ledger`, :mod:`.unique` — kinds applied to each file;
- :mod:`.across`   kinds applied across the schools of a merge, and :func:`check_across` that merge calls;
- :mod:`.cross`    kinds comparing the tables of one file (the layout's ``cross_checks``);
- :mod:`.registry` :data:`KINDS`, every kind by name;
- :mod:`.apply`    :func:`apply_rules` and :func:`mark_rejected`, as ``check`` and ``merge`` call them.

Imports: the layout checker reads the registry while :mod:`sheetplan.layout` is still loading, and the
reader imports the layout. So no module of this package imports :mod:`sheetplan.layout` or
:mod:`sheetplan.reading.workbook` at run time: their classes appear in type hints only (under ``TYPE_CHECKING``),
and the objects a rule is given are used by their attributes. What a module needs at run time from a
module that imports the layout (``reading.cells.show``) it imports inside the function using it.
tests/test_rule_registry.py checks that importing this package loads neither module.
"""

from __future__ import annotations

from .across import check_across
from .apply import apply_rules, mark_rejected
from .base import FILE, MERGE, WORKBOOK, NoFormula, Param, RuleKind
from .context import AcrossProblem
from .registry import KINDS, kind_of, kinds_in

# Per-file kind → its check, kept for tests/test_integrity_layout.py until it walks KINDS.
RULES = {name: kind.check for name, kind in kinds_in(FILE).items()}

__all__ = [
    "FILE", "KINDS", "MERGE", "RULES", "WORKBOOK", "AcrossProblem", "NoFormula", "Param", "RuleKind",
    "apply_rules", "check_across", "kind_of", "kinds_in", "mark_rejected",
]
