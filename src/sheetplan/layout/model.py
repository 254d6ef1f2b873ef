"""The layout model: what a checked layout file says, as read-only objects.

Every dataclass here is frozen and every mapping or list inside it is a :class:`ReadOnlyDict` or a
:class:`ReadOnlyList`, because one loaded layout is shared by every caller of
:func:`sheetplan.layout.load_layout` (it is cached) and sent to worker processes. The checker
(:mod:`sheetplan.layout.check`) builds them from a layout file, and it is what makes them agree with each
other: nothing here checks anything.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

# What a layout file may say: field types, date windows for dates, languages of every text.
FIELD_TYPES = ("text", "code", "int", "money", "date", "month", "list", "phone", "formula")
DATE_WITHIN = ("year", "year_plus_january", "any")
LANGS = ("zh", "en")

# A ``{placeholder}`` in a summary formula: a field key, ``sheet.field``, ``@item``, ``item`` or ``parent``.
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")

# --------------------------------------------------------------------------- read-only containers
#
# A loaded layout is shared by every caller of load_layout (it is cached), so nothing in it may change.
# Mappings and lists taken from the YAML are kept as these two classes rather than MappingProxyType and tuples:
# they stay a dict and a list for the code that tells a list of field keys from a single key with
# isinstance(value, (list, dict)) and for json.dumps, and they pickle (the layout is sent to worker processes,
# which on Windows and macOS start by unpickling it; a MappingProxyType cannot be pickled).


def _refuse_change(self: Any, *args: Any, **kwargs: Any) -> NoReturn:
    raise TypeError(f"{type(self).__name__}: a loaded layout is read-only; change a copy (dict(x), list(x)) instead")


class ReadOnlyDict(dict):  # type: ignore[type-arg]
    """A dict that refuses every change after it is built."""

    __slots__ = ()
    __setitem__ = __delitem__ = __ior__ = _refuse_change
    clear = pop = popitem = setdefault = update = _refuse_change

    def __reduce__(self) -> tuple[Any, ...]:
        # The default reduction of a dict subclass refills the new object item by item, which this class refuses.
        return (type(self), (dict(self),))


class ReadOnlyList(list):  # type: ignore[type-arg]
    """A list that refuses every change after it is built."""

    __slots__ = ()
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse_change
    append = extend = insert = pop = remove = clear = sort = reverse = _refuse_change

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (list(self),))


def read_only(value: Any) -> Any:
    """``value`` with every dict and list in it, at any depth, made read-only."""
    if isinstance(value, dict):
        return ReadOnlyDict({k: read_only(v) for k, v in value.items()})
    if isinstance(value, list):
        return ReadOnlyList(read_only(v) for v in value)
    return value


@dataclass(frozen=True)
class ListDef:
    """A list of allowed values; a dependent list also maps parent → children.

    ``value_set`` holds the values as a set, for fast membership tests.
    """

    key: str
    values: tuple[str, ...]
    parent: str | None = None
    children: Mapping[str, tuple[str, ...]] = field(default_factory=ReadOnlyDict)
    value_set: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # A field derived from another can only be set here on a frozen dataclass. It is computed once (every
        # dropdown cell read is looked up in it) and, not being a parameter, can never disagree with ``values``.
        object.__setattr__(self, "value_set", frozenset(self.values))


@dataclass(frozen=True)
class Field:
    """One input (or formula) column of a table, or one line of a form."""

    key: str
    label: Mapping[str, str]
    type: str
    required: bool = False
    list: str | None = None
    default: str | None = None
    depends_on: str | None = None
    min: float | None = None
    max: float | None = None
    max_length: int | None = None
    allow_negative: bool = False
    within: str = "year"
    pattern: str | None = None
    pattern_hint: Mapping[str, str] | None = None
    prefill: str | None = None
    width: float | None = None
    month_end_text: bool = False
    strict: bool = True
    formula: Mapping[str, Any] | None = None
    aliases: tuple[str, ...] = ()

    def text(self, lang: str) -> str:
        """The field's label in ``lang``."""
        return self.label[lang]


@dataclass(frozen=True)
class Rule:
    """A check over one or more fields; ``params`` holds the kind's parameters."""

    kind: str
    code: str
    severity: str
    sheet: str
    params: Mapping[str, Any]


@dataclass(frozen=True)
class SummaryColumn:
    """One column of a breakdown table in a summary block."""

    label: Mapping[str, str]
    formula: str
    format: str | None = None


@dataclass(frozen=True)
class SummaryItem:
    """A summary line (``formula``) or a breakdown table (``rows`` + ``columns``)."""

    key: str
    label: Mapping[str, str]
    formula: str | None = None
    format: str | None = None
    rows: Mapping[str, Any] | None = None
    columns: tuple[SummaryColumn, ...] = ()
    total: bool = False


@dataclass(frozen=True)
class Sheet:
    """A sheet of the workbook: a key/value ``form`` or a ``table`` of rows.

    ``formula_keys`` are the keys of its fields that the workbook's own formulas read, on any sheet.
    """

    key: str
    kind: str
    name: Mapping[str, str]
    help: Mapping[str, str]
    fields: tuple[Field, ...]
    rules: tuple[Rule, ...] = ()
    merge_rules: tuple[Rule, ...] = ()
    summary: tuple[SummaryItem, ...] = ()
    rows: int = 0
    formula_keys: frozenset[str] = frozenset()

    def field(self, key: str) -> Field:
        """The field named ``key``; KeyError if there is none."""
        for f in self.fields:
            if f.key == key:
                return f
        raise KeyError(key)

    def formula_fields(self) -> set[str]:
        """Keys of this sheet's fields that the workbook's own formulas read."""
        keys: set[str] = set()
        for item in self.summary:
            for fm in [item.formula] if item.formula else [c.formula for c in item.columns]:
                keys.update(ph for ph in PLACEHOLDER.findall(fm or "") if ph in {f.key for f in self.fields})
        for f in self.fields:
            if f.formula:
                rb = f.formula["running_balance"]
                keys.update((rb["plus"], rb["minus"]))
        return keys

    @property
    def input_fields(self) -> tuple[Field, ...]:
        """Fields a person types into (every field but formulas)."""
        return tuple(f for f in self.fields if f.type != "formula")


@dataclass(frozen=True)
class DistrictColumn:
    """One figure per school on the district 汇总 sheet.

    ``kind`` is count, sum, info, ratio or arith. ``field`` is, for ``sum``, the key of the summed field of
    ``table``; for ``info``, the key of the 基本信息 field shown (a number field of the ``info`` form, checked
    at load; ``table`` is then None); otherwise None.
    """

    key: str
    label: Mapping[str, str]
    kind: str  # count, sum, info, ratio, arith
    table: str | None = None
    field: str | None = None
    where: Mapping[str, Any] = dataclasses.field(default_factory=ReadOnlyDict)
    refs: tuple[str, ...] = ()  # ratio: (numerator, denominator, minus); arith: added columns
    minus: tuple[str, ...] = ()  # arith: subtracted columns
    format: str | None = None


@dataclass(frozen=True)
class Breakdown:
    """A cross table of 分项统计: schools × the values of one field."""

    label: Mapping[str, str]
    table: str
    by: str
    sum: tuple[str, ...] = ()  # empty: count rows


@dataclass(frozen=True)
class District:
    """What a merge writes: 汇总 columns, 分项统计, entry lists, charts."""

    title: Mapping[str, str]
    columns: tuple[DistrictColumn, ...]
    breakdowns: tuple[Breakdown, ...]
    entry_table: str | None
    entry_by: str | None
    entry_fields: tuple[str, ...]
    charts: tuple[str, ...]


@dataclass(frozen=True)
class Layout:
    """A whole checked layout.

    Its identity is ``id`` and ``version`` as the file says, plus two things that tell an edited copy from the
    layout it was copied from (see :mod:`sheetplan.layout.load` for the decision):

    * ``fingerprint`` — twelve hex digits of a hash of everything the file says except ``derived_from``. Comments,
      spacing, quoting and the order of keys do not change it; any list, cap, label, rule or row count does. A
      workbook records it in its identity (``layout_fingerprint``), so a merge can show which edition of a
      layout each school's file was made with even when two editions share an id and a version.
    * ``derived_from`` — ``<id>@<version>`` of the layout the file was copied from, when it says so.

    ``notices`` are messages (zh, en) about the layout that do not stop it from being used, e.g. a file that
    keeps the id of a built-in layout while its content differs; a command that uses the layout shows them.
    """

    id: str
    version: int
    title: Mapping[str, str]
    lists: Mapping[str, ListDef]
    sheets: tuple[Sheet, ...]
    cross_checks: tuple[Rule, ...]
    source: str
    district: District | None = None
    fingerprint: str = ""
    derived_from: str | None = None
    notices: tuple[tuple[str, str], ...] = ()

    @property
    def edition(self) -> str:
        """``<id>@<version>#<fingerprint>``: one text that names this exact layout, e.g. in a merge's 提交情况."""
        return f"{self.id}@{self.version}#{self.fingerprint}" if self.fingerprint else f"{self.id}@{self.version}"

    def sheet_rank(self, table: str | None, sheet_name: str | None = None) -> int:
        """Where a problem's sheet comes in the layout's order of sheets, for reports that follow the workbook.

        ``table`` is the layout key (a problem knows it when its sheet was recognised, even renamed); otherwise
        ``sheet_name`` is looked up among the sheets' names in every language. A problem about the whole file
        (neither) ranks before every sheet (-1); a sheet the layout does not know ranks after them all.
        """
        if table is None and sheet_name is None:
            return -1
        for i, s in enumerate(self.sheets):
            if s.key == table or (table is None and sheet_name in s.name.values()):
                return i
        return len(self.sheets)

    def sheet(self, key: str) -> Sheet:
        """The sheet named ``key``; KeyError if there is none."""
        for s in self.sheets:
            if s.key == key:
                return s
        raise KeyError(key)

    def formula_fields(self, sheet_key: str) -> frozenset[str]:
        """Keys of a sheet's fields that the workbook's own formulas read (any sheet's formulas)."""
        return self.sheet(sheet_key).formula_keys

    @property
    def tables(self) -> tuple[Sheet, ...]:
        """The table sheets, in workbook order."""
        return tuple(s for s in self.sheets if s.kind == "table")
