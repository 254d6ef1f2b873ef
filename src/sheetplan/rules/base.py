"""What every rule kind declares: its parameters, its scope, its messages and its formula form.

A kind is one subclass of :class:`RuleKind`, instantiated once in :mod:`.registry`. Everything that
needs to know about a kind — the layout checker, the reader, ``check``, the 填写说明 and ``merge`` —
reads these declarations instead of keeping a table of its own.

Nothing here imports :mod:`sheetplan.layout` or :mod:`sheetplan.reading.workbook` at run time (see the package
docstring): the layout checker imports the registry while the layout module is still loading.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from .text import Msg, Text, orgs_word

if TYPE_CHECKING:
    from ..layout import Layout, Rule, Sheet

# --------------------------------------------------------------------------- scopes

FILE = "file"  # each workbook on its own, by `check` and by `merge` for every file
MERGE = "merge"  # across the schools of a merge, by `merge` only
WORKBOOK = "workbook"  # across the sheets of one workbook, after its rows are read and rejected ones marked
SCOPES = (FILE, MERGE, WORKBOOK)


@dataclass(frozen=True)
class Scope:
    """Where a kind is applied, hence the list of the layout it is written under."""

    key: str
    list_key: str  # the layout's list holding rules of this scope
    what: Text  # what a rule of this scope compares, for the message refusing it elsewhere
    where: Text  # where in the layout that list is
    applied: Text  # who applies it ("" when it goes without saying)


SCOPE_OF: dict[str, Scope] = {
    FILE: Scope(FILE, "rules", Text("检查的是单个文件", "checks one file"), Text("rules", "rules"),
                Text("（check 和 merge 都对每个文件应用）", " (applied to each file by check and merge)")),
    MERGE: Scope(MERGE, "merge_rules", Text(f"比较的是各{orgs_word('zh')}之间的数据", f"compares {orgs_word('en')} with each other"),
                 Text("merge_rules", "merge_rules"), Text("（由 merge 应用）", " (applied by merge)")),
    WORKBOOK: Scope(WORKBOOK, "cross_checks", Text("比较的是同一文件的几张表", "compares the tables of one file"),
                    Text("顶层的 cross_checks", "the top-level cross_checks"), Text("", "")),
}


def misplaced(kind: str, scope: str, written_under: str) -> Text:
    """The message refusing a rule of ``kind`` (whose scope is ``scope``) written under ``written_under``."""
    s = SCOPE_OF[scope]
    return Text(f"规则“{kind}”{s.what.zh}，须写在 {s.where.zh} 下{s.applied.zh}，不能写在 {written_under} 下",
                f"rule kind '{kind}' {s.what.en}: it belongs under {s.where.en}{s.applied.en}, not {written_under}")


# --------------------------------------------------------------------------- parameters

# How a parameter names fields of its sheet ("sheet.field" names a 基本信息 value instead).
ONE = "one"  # one field key
LIST = "list"  # a list of field keys (a single key without brackets would be read letter by letter)
MAPPING = "mapping"  # field key → value, as `when`

# What other value a parameter holds (checked by the layout checker).
NUMBER = "number"
CHOICE = "choice"  # one of Param.choices
LIST_NAME = "list_name"  # the name of a list of the layout
CAPS = "caps"  # choice → number, the choices being those of the field Param.of names
VALUE_OF = "value_of"  # a value of the field Param.of names (one of its choices, if it is a list field)
SIDE = "side"  # {sheet, sum, any_of}: one side of a comparison of two tables
ANY = "any"


@dataclass(frozen=True)
class Param:
    """One parameter of a rule kind.

    ``names`` says whether (and how) it names fields, ``value`` what else it holds. ``of`` is the parameter
    whose field gives the choices of a CAPS or VALUE_OF parameter (its first field, for a list). ``single``:
    a mapping with exactly one entry.
    """

    required: bool = True
    names: str | None = None
    value: str = ANY
    choices: tuple[str, ...] = ()
    of: str | None = None
    single: bool = False


# --------------------------------------------------------------------------- formula form


@dataclass(frozen=True)
class NoFormula:
    """A kind without a formula form: the workbook cannot check it itself, only ``sheetplan check`` does.

    ``reason`` says why, in the words 填写说明 and ``layout check`` will show.
    """

    reason: Text


NOT_YET = NoFormula(Text("暂无表格公式，只由 sheetplan check 检查", "no spreadsheet formula yet; only sheetplan check applies it"))
ACROSS_FILES = NoFormula(Text(f"比较各{orgs_word('zh')}的文件，单个工作簿无法自查，只由 sheetplan merge 检查",
                              f"compares the files of several {orgs_word('en')}: one workbook cannot check it; only sheetplan merge applies it"))

FormulaForm = Callable[..., Any] | NoFormula


# --------------------------------------------------------------------------- the base class


class RuleKind:
    """A kind of rule: declarations (class attributes) and behaviour (``check``, ``describe``).

    Subclasses set ``name``, ``scope``, ``params``, ``messages`` and ``formula``, and implement ``check``
    and ``describe``. Which fields a rule names is derived here, once, from ``params``.
    """

    name: ClassVar[str]
    scope: ClassVar[str]
    params: ClassVar[Mapping[str, Param]]
    messages: ClassVar[Mapping[str, Msg]]
    formula: ClassVar[FormulaForm]
    default_severity: ClassVar[str] = "error"

    # -- declarations derived from the parameters
    @property
    def list_key(self) -> str:
        """The layout list this kind is written under (rules, merge_rules, cross_checks)."""
        return SCOPE_OF[self.scope].list_key

    @property
    def required(self) -> tuple[str, ...]:
        """Names of the parameters a rule of this kind must have."""
        return tuple(n for n, p in self.params.items() if p.required)

    @property
    def field_params(self) -> tuple[str, ...]:
        """Names of the parameters that name fields."""
        return tuple(n for n, p in self.params.items() if p.names)

    def field_refs(self, params: Mapping[str, Any]) -> list[tuple[str, str]]:
        """(parameter, field) for every field a rule with ``params`` names, in parameter order.

        Fields of its own sheet are keys; a 基本信息 value is "sheet.field"; a SIDE parameter names fields
        of another table, given as "table.field".
        """
        out: list[tuple[str, str]] = []
        for name, spec in self.params.items():
            value = params.get(name)
            if value is None:
                continue
            if spec.names == ONE:
                out.append((name, value))
            elif spec.names in (LIST, MAPPING):
                out.extend((name, k) for k in value)
            elif spec.value == SIDE:
                sheet = value.get("sheet")
                out.append((name, f"{sheet}.{value.get('sum')}"))
                out.extend((name, f"{sheet}.{c.get('field')}") for c in value.get("any_of") or [])
        return out

    def fields(self, rule: Rule) -> list[str]:
        """Every field ``rule`` names (see :meth:`field_refs`), each once, in parameter order."""
        return list(dict.fromkeys(k for _, k in self.field_refs(rule.params)))

    def local_fields(self, rule: Rule) -> list[str]:
        """The fields of its own sheet that ``rule`` reads: without their columns it cannot run."""
        if self.scope == WORKBOOK:
            return []
        return [k for k in self.fields(rule) if "." not in k]

    # -- behaviour
    def check(self, ctx: Any) -> None:
        """Apply one rule; ``ctx`` is the context of the kind's scope (see :mod:`.context`)."""
        raise NotImplementedError

    def describe(self, rule: Rule, sheet: Sheet | None, layout: Layout, lang: str) -> str:
        """The rule in plain words with its limits, for input prompts and 填写说明 (without its severity)."""
        return self.description(rule, sheet, layout)[lang]

    def description(self, rule: Rule, sheet: Sheet | None, layout: Layout) -> Text:
        """:meth:`describe` in both languages."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<rule kind {self.name} ({self.scope})>"
