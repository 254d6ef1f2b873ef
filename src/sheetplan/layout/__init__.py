"""Layouts: the single source of truth of a workbook.

A layout (YAML) declares every sheet, field, label, list, limit, rule and summary formula. Everything else —
the template writer, the reader, the checks, the messages and the merge — reads them from the
:class:`Layout` object loaded here. A layout that contradicts itself is refused at load with a message
naming the file and the key path.

The package's modules, in the order a layout goes through them: :mod:`.load` (built-in layouts, files, the
cache, YAML), :mod:`.check` (the checker that builds the model), :mod:`.model` (the read-only objects), and
:mod:`.geometry` (where things sit in a generated template). The names below are the package's interface.
"""

from __future__ import annotations

from ..problems import SEVERITIES
from .check import (
    CROSS_CHECKS_KEY,
    DISTRICT_INFO_TYPES,
    EXCEL_BAD_SHEET_CHARS,
    EXCEL_LIST_ITEM_CHARS_MAX,
    EXCEL_LIST_ITEMS_MAX,
    EXCEL_ROWS_MAX,
    EXCEL_SHEET_NAME_MAX,
    LIST_ITEM_SEPARATORS,
    MERGE_RULES_KEY,
    RESERVED_SHEET_KEYS,
    RULES_KEY,
    check_layout,
)
from .load import (
    RACY_NS,
    builtin_dir,
    builtin_layouts,
    builtin_source,
    export_source,
    load_layout,
    parse_layout,
    yaml_error,
)
from .model import (
    DATE_WITHIN,
    FIELD_TYPES,
    LANGS,
    Breakdown,
    District,
    DistrictColumn,
    Field,
    Layout,
    ListDef,
    ReadOnlyDict,
    ReadOnlyList,
    Rule,
    Sheet,
    SummaryColumn,
    SummaryItem,
    read_only,
)

__all__ = [
    "CROSS_CHECKS_KEY",
    "DATE_WITHIN",
    "DISTRICT_INFO_TYPES",
    "EXCEL_BAD_SHEET_CHARS",
    "EXCEL_LIST_ITEMS_MAX",
    "EXCEL_LIST_ITEM_CHARS_MAX",
    "EXCEL_ROWS_MAX",
    "EXCEL_SHEET_NAME_MAX",
    "FIELD_TYPES",
    "LANGS",
    "LIST_ITEM_SEPARATORS",
    "MERGE_RULES_KEY",
    "RACY_NS",
    "RESERVED_SHEET_KEYS",
    "RULES_KEY",
    "SEVERITIES",
    "Breakdown",
    "District",
    "DistrictColumn",
    "Field",
    "Layout",
    "ListDef",
    "ReadOnlyDict",
    "ReadOnlyList",
    "Rule",
    "Sheet",
    "SummaryColumn",
    "SummaryItem",
    "builtin_dir",
    "builtin_layouts",
    "builtin_source",
    "check_layout",
    "export_source",
    "load_layout",
    "parse_layout",
    "read_only",
    "yaml_error",
]
