"""Check a parsed layout and build its model, or refuse it naming the file and the key path.

The checker sees the mapping the YAML gave (see :mod:`sheetplan.layout.load`) and builds the objects of
:mod:`sheetplan.layout.model` from it. A layout that contradicts itself (an unknown list, a rule naming a
field its sheet lacks, a sheet name Excel refuses, a problem code outside the catalogue …) is refused with a
:class:`~sheetplan.errors.LayoutError` whose message says where, in both languages.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from typing import Any

from ..errors import LayoutError
from ..problems import CATALOGUE, SEVERITIES
from ..rules import registry as _registry
from ..rules.base import CAPS, CHOICE, LIST, LIST_NAME, MAPPING, NUMBER, ONE, SIDE, VALUE_OF, Param, RuleKind, misplaced
from ..rules.text import orgs_word
from .model import (
    DATE_WITHIN,
    FIELD_TYPES,
    LANGS,
    PLACEHOLDER,
    Breakdown,
    District,
    DistrictColumn,
    Field,
    Layout,
    ListDef,
    ReadOnlyDict,
    Rule,
    Sheet,
    SummaryColumn,
    SummaryItem,
    read_only,
)

# Excel's own limits that a layout must respect, or the template is broken.
EXCEL_SHEET_NAME_MAX = 31
EXCEL_LIST_ITEMS_MAX = 32767
EXCEL_LIST_ITEM_CHARS_MAX = 255
EXCEL_ROWS_MAX = 1_048_576
EXCEL_BAD_SHEET_CHARS = set("[]:*?/\\")
RESERVED_SHEET_KEYS = ("readme", "lists", "meta")

# Rule kinds are declared once, in the registry of sheetplan.rules: their parameters (and which name fields),
# their scope and hence the list of the layout they are written under — rules (each file, by check and by merge),
# merge_rules (across schools, by merge only) or the top-level cross_checks (across the tables of one file).
# The registry imports neither this module nor the reader, so it can be read here while this module loads.
RULES_KEY, MERGE_RULES_KEY, CROSS_CHECKS_KEY = _registry.RULES_KEY, _registry.MERGE_RULES_KEY, _registry.CROSS_CHECKS_KEY
# Separators that, typed inside a YAML flow list ([羽毛球，乒乓球，篮球, 排球]), silently make one item of several.
# None of them is allowed in a list item, although a real choice could in principle contain one: the 填写说明 and
# every message show the choices joined by "、" (zh) or ", " (en), so an item holding one of these cannot be told
# from two items there, and in practice it is nearly always this typing mistake.
LIST_ITEM_SEPARATORS = "，、；;,"
# Types of the 基本信息 fields a district 汇总 column may show: a figure per school, summed in the total row.
DISTRICT_INFO_TYPES = ("int", "money")

_KEY = re.compile(r"^[a-z][a-z0-9_]*$")
# ``derived_from: school@1``: the id and version of the layout an edited copy started from.
_DERIVED_FROM = re.compile(r"^([a-z][a-z0-9_]*)@([1-9][0-9]*)$")
# The root key that records where a copy came from: the only one outside the fingerprint (see layout_fingerprint).
DERIVED_FROM_KEY = "derived_from"
FINGERPRINT_DIGITS = 12
_SEPARATOR_RUN = re.compile(f"\\s*[{LIST_ITEM_SEPARATORS}]\\s*")


def _formula_keys(sheets: list[Sheet], sheet: Sheet) -> frozenset[str]:
    """Keys of ``sheet``'s fields that the workbook's own formulas read, on its own sheet or any other."""
    keys = set(sheet.formula_fields())
    prefix = sheet.key + "."
    for s in sheets:
        texts = [i.formula or "" for i in s.summary] + [c.formula for i in s.summary for c in i.columns]
        texts += [str(f.formula) for f in s.fields if f.formula]
        for t in texts:
            keys.update(m[len(prefix):] for m in re.findall(r"[a-z_]+\.[a-z_]+", t) if m.startswith(prefix))
    return frozenset(keys)


class _Checker:
    """Builds the layout objects, collecting the key path for messages."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, path: str, zh: str, en: str) -> LayoutError:
        return LayoutError(
            f"版式文件 {self.source} 的 {path}：{zh}", f"Layout file {self.source}, {path}: {en}"
        )

    # -- primitives
    def mapping(self, value: Any, path: str) -> dict:
        if not isinstance(value, dict):
            raise self.fail(path, "应为键值表", "must be a mapping")
        return value

    def seq(self, value: Any, path: str) -> list:
        if not isinstance(value, list):
            raise self.fail(path, "应为列表", "must be a list")
        return value

    def text(self, value: Any, path: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(path, "应为非空文字", "must be non-empty text")
        return value

    def key(self, value: Any, path: str) -> str:
        if not isinstance(value, str) or not _KEY.match(value):
            raise self.fail(
                path,
                f"键名“{value}”须为小写英文字母开头的 snake_case",
                f"key '{value}' must be snake_case starting with a letter",
            )
        return value

    def i18n(self, value: Any, path: str) -> dict[str, str]:
        m = self.mapping(value, path)
        for lang in LANGS:
            if lang not in m:
                raise self.fail(f"{path}.{lang}", "缺少此语言的文字", "text for this language is missing")
            self.text(m[lang], f"{path}.{lang}")
        extra = set(m) - set(LANGS)
        if extra:
            raise self.fail(path, f"未知语言 {sorted(extra)}", f"unknown languages {sorted(extra)}")
        return ReadOnlyDict({lang: m[lang] for lang in LANGS})

    def number(self, value: Any, path: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(path, "应为数字", "must be a number")
        return value

    def only(self, m: dict, allowed: set[str], path: str) -> None:
        extra = set(m) - allowed
        if extra:
            raise self.fail(path, f"未知的键 {sorted(extra)}", f"unknown keys {sorted(extra)}")

    # -- whole layout
    def layout(self, data: Any) -> Layout:
        root = self.mapping(data, "(根)")
        self.only(root, {"id", "version", DERIVED_FROM_KEY, "title", "lists", "sheets", "cross_checks", "district"}, "(根)")
        layout_id = self.key(root.get("id"), "id")
        version = root.get("version")
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise self.fail("version", "应为正整数", "must be a positive integer")
        derived_from = root.get(DERIVED_FROM_KEY)
        if derived_from is not None and (not isinstance(derived_from, str) or not _DERIVED_FROM.match(derived_from)):
            raise self.fail(DERIVED_FROM_KEY, f"应写成“版式id@版本”，例如 school@1，而不是“{derived_from}”",
                            f"must read '<layout id>@<version>', e.g. school@1, not '{derived_from}'")
        title = self.i18n(root.get("title"), "title")
        lists = self.lists(self.mapping(root.get("lists"), "lists"))
        sheets_raw = self.seq(root.get("sheets"), "sheets")
        sheets: list[Sheet] = []
        seen_keys: set[str] = set()
        seen_names: dict[str, set[str]] = {lang: set() for lang in LANGS}
        for i, s in enumerate(sheets_raw):
            sheet = self.sheet(s, f"sheets[{i}]", lists)
            if sheet.key in seen_keys or sheet.key in RESERVED_SHEET_KEYS:
                raise self.fail(f"sheets[{i}].key", f"工作表键“{sheet.key}”重复或保留", f"sheet key '{sheet.key}' is duplicated or reserved")
            seen_keys.add(sheet.key)
            for lang in LANGS:
                n = sheet.name[lang]
                if n in seen_names[lang]:
                    raise self.fail(f"sheets[{i}].name.{lang}", f"工作表名“{n}”重复", f"sheet name '{n}' is duplicated")
                seen_names[lang].add(n)
            sheets.append(sheet)
        if "info" not in seen_keys:
            raise self.fail("sheets", "须有键为 info 的基本信息表", "a form sheet with key 'info' is required")
        info = next(s for s in sheets if s.key == "info")
        if info.kind != "form":
            raise self.fail("sheets", "info 表须为 form", "sheet 'info' must be a form")
        for required in ("org_name", "org_code", "year"):
            if required not in {f.key for f in info.fields}:
                raise self.fail("sheets.info.fields", f"缺少字段 {required}", f"field '{required}' is missing")
        by_key = {s.key: s for s in sheets}
        for i, s in enumerate(sheets):
            self.check_cross_refs(s, by_key, f"sheets[{i}]")
        sheets = [dataclasses.replace(s, formula_keys=_formula_keys(sheets, s)) for s in sheets]
        by_key = {s.key: s for s in sheets}
        cross = tuple(
            self.cross_check(c, f"cross_checks[{j}]", by_key, lists)
            for j, c in enumerate(self.seq(root.get("cross_checks", []), "cross_checks"))
        )
        district = self.district(root["district"], by_key, lists) if "district" in root else None
        return Layout(layout_id, version, title, ReadOnlyDict(lists), tuple(sheets), cross, self.source, district,
                      fingerprint=layout_fingerprint(root), derived_from=derived_from)

    def district(self, raw: Any, sheets: dict[str, Sheet], lists: dict[str, ListDef]) -> District:
        m = self.mapping(raw, "district")
        self.only(m, {"title", "columns", "breakdowns", "entry_lists", "charts"}, "district")
        title = self.i18n(m.get("title"), "district.title")

        def table_field(ref: str, path: str) -> tuple[str, str | None]:
            t, _, f = str(ref).partition(".")
            if t not in sheets or sheets[t].kind != "table":
                raise self.fail(path, f"未知表格“{t}”", f"unknown table '{t}'")
            if f and f not in {x.key for x in sheets[t].fields}:
                raise self.fail(path, f"表 {t} 没有字段“{f}”", f"table {t} has no field '{f}'")
            return t, f or None

        cols: list[DistrictColumn] = []
        for i, c in enumerate(self.seq(m.get("columns"), "district.columns")):
            path = f"district.columns[{i}]"
            cm = self.mapping(c, path)
            self.only(cm, {"key", "label", "count", "sum", "info", "ratio", "add", "subtract", "where", "format"}, path)
            key = self.key(cm.get("key"), f"{path}.key")
            if key in {x.key for x in cols}:
                raise self.fail(f"{path}.key", f"键“{key}”重复", f"key '{key}' is duplicated")
            label = self.i18n(cm.get("label"), f"{path}.label")
            kinds = [k for k in ("count", "sum", "info", "ratio", "add") if k in cm]
            if len(kinds) != 1:
                raise self.fail(path, "须且只须有 count、sum、info、ratio、add 之一", "needs exactly one of count, sum, info, ratio, add")
            kind = kinds[0]
            known = {x.key for x in cols}
            kw: dict[str, Any] = {"key": key, "label": label, "format": cm.get("format")}
            if kind in ("count", "sum"):
                t, f = table_field(cm[kind], f"{path}.{kind}")
                if (kind == "sum") != (f is not None):
                    raise self.fail(f"{path}.{kind}", "count 写表名，sum 写 表.字段", "count names a table, sum a table.field")
                where = self.mapping(cm.get("where", {}), f"{path}.where")
                for wk, wv in where.items():
                    if wk not in {x.key for x in sheets[t].fields}:
                        raise self.fail(f"{path}.where.{wk}", f"表 {t} 没有字段“{wk}”", f"table {t} has no field '{wk}'")
                    self.value_in_field_list(sheets[t].field(wk), wv, f"{path}.where.{wk}", lists)
                kw.update(kind=kind, table=t, field=f, where=read_only(where))
            elif kind == "info":
                kw.update(kind="info", field=self.district_info_field(cm["info"], f"{path}.info", sheets["info"]))
            else:
                refs = tuple(self.seq(cm[kind], f"{path}.{kind}"))
                minus = tuple(self.seq(cm.get("subtract", []), f"{path}.subtract"))
                if kind == "ratio" and len(refs) not in (2, 3):
                    raise self.fail(f"{path}.ratio", "应为 [分子, 分母] 或 [分子, 分母, 减数]", "must be [numerator, denominator] or [.., .., minus]")
                for r in refs + minus:
                    if r not in known:
                        raise self.fail(path, f"“{r}”须是此前定义的列", f"'{r}' must be a column defined before")
                kw.update(kind="ratio" if kind == "ratio" else "arith", refs=refs, minus=minus)
            cols.append(DistrictColumn(**kw))
        breakdowns = []
        for i, b in enumerate(self.seq(m.get("breakdowns", []), "district.breakdowns")):
            path = f"district.breakdowns[{i}]"
            bm = self.mapping(b, path)
            self.only(bm, {"label", "table", "by", "sum"}, path)
            t, _ = table_field(bm.get("table"), f"{path}.table")
            by = sheets[t].field(str(bm.get("by"))) if bm.get("by") in {x.key for x in sheets[t].fields} else None
            if by is None or by.type not in ("list", "month"):
                raise self.fail(f"{path}.by", "须是该表的列表或月份字段", "must be a list or month field of the table")
            sums = tuple(bm.get("sum", []))
            for f in sums:
                table_field(f"{t}.{f}", f"{path}.sum")
            breakdowns.append(Breakdown(self.i18n(bm.get("label"), f"{path}.label"), t, by.key, sums))
        el = self.mapping(m.get("entry_lists", {}), "district.entry_lists")
        entry_table = entry_by = None
        entry_fields: tuple[str, ...] = ()
        if el:
            entry_table, _ = table_field(el.get("table"), "district.entry_lists.table")
            entry_by = el.get("by")
            entry_fields = tuple(el.get("fields", []))
            for f in (entry_by, *entry_fields):
                table_field(f"{entry_table}.{f}", "district.entry_lists")
        charts = tuple(self.seq(m.get("charts", []), "district.charts"))
        for c in charts:
            if c not in {x.key for x in cols}:
                raise self.fail("district.charts", f"未知列“{c}”", f"unknown column '{c}'")
        return District(title, tuple(cols), tuple(breakdowns), entry_table, entry_by, entry_fields, charts)

    def district_info_field(self, value: Any, path: str, info: Sheet) -> str:
        """The key of the 基本信息 field an ``info:`` column of 汇总 shows: a number field of the info form."""
        numeric = [f.key for f in info.fields if f.type in DISTRICT_INFO_TYPES]
        choices = ", ".join(numeric)
        if not isinstance(value, str) or value not in {f.key for f in info.fields}:
            hint_zh = hint_en = ""
            if isinstance(value, str) and value.startswith("info."):
                hint_zh, hint_en = f"（只写字段键，如 {value[5:]}）", f" (write the field key alone, e.g. {value[5:]})"
            raise self.fail(path, f"基本信息表没有字段“{value}”{hint_zh}；可用：{choices}",
                            f"the info sheet has no field '{value}'{hint_en}; choose one of: {choices}")
        fld = info.field(value)
        if fld.type not in DISTRICT_INFO_TYPES:
            raise self.fail(path, f"基本信息字段“{value}”是 {fld.type} 类型，汇总列须为数字字段：{choices}",
                            f"info field '{value}' is of type {fld.type}; a 汇总 column needs a number field: {choices}")
        return value

    def lists(self, raw: dict) -> dict[str, ListDef]:
        plain: dict[str, tuple[str, ...]] = {}
        deferred: dict[str, Any] = {}
        for name, value in raw.items():
            path = f"lists.{name}"
            self.key(name, path)
            if isinstance(value, list):
                plain[name] = self.values(value, path)
            else:
                deferred[name] = self.mapping(value, path)
        out = {k: ListDef(k, v) for k, v in plain.items()}
        # Joins first (they may be a dependent list's parent), then dependent lists.
        for name, spec in deferred.items():
            if "join" in spec:
                path = f"lists.{name}.join"
                self.only(spec, {"join"}, f"lists.{name}")
                vals: list[str] = []
                for part in self.seq(spec["join"], path):
                    if part not in plain:
                        raise self.fail(path, f"未知列表“{part}”", f"unknown list '{part}'")
                    vals.extend(plain[part])
                out[name] = ListDef(name, self.values(vals, path))
        for name, spec in deferred.items():
            if "join" in spec:
                continue
            path = f"lists.{name}"
            self.only(spec, {"parent", "children"}, path)
            parent = spec.get("parent")
            if parent not in out:
                raise self.fail(f"{path}.parent", f"未知列表“{parent}”", f"unknown list '{parent}'")
            children_raw = self.mapping(spec.get("children"), f"{path}.children")
            if not children_raw:
                raise self.fail(f"{path}.children", "列表为空", "the list is empty")
            children: dict[str, tuple[str, ...]] = {}
            for p, kids in children_raw.items():
                if p not in out[parent].values:
                    raise self.fail(f"{path}.children.{p}", f"“{p}”不在上级列表 {parent} 中", f"'{p}' is not in the parent list {parent}")
                children[p] = self.values(self.seq(kids, f"{path}.children.{p}"), f"{path}.children.{p}")
            flat: list[str] = []
            for kids in children.values():
                flat.extend(k for k in kids if k not in flat)
            out[name] = ListDef(name, tuple(flat), parent, ReadOnlyDict(children))
        return out

    def values(self, raw: list, path: str) -> tuple[str, ...]:
        if not raw:
            raise self.fail(path, "列表为空", "the list is empty")
        if len(raw) > EXCEL_LIST_ITEMS_MAX:
            raise self.fail(path, f"列表有 {len(raw)} 项，超过 Excel 下拉列表上限 {EXCEL_LIST_ITEMS_MAX}", f"{len(raw)} items exceed Excel's dropdown limit of {EXCEL_LIST_ITEMS_MAX}")
        out: list[str] = []
        for i, v in enumerate(raw):
            if isinstance(v, bool) or not isinstance(v, (str, int)):
                raise self.fail(f"{path}[{i}]", "列表项应为文字", "list items must be text")
            s = str(v).strip()
            if not s:
                raise self.fail(f"{path}[{i}]", "列表项为空", "empty list item")
            if len(s) > EXCEL_LIST_ITEM_CHARS_MAX:
                raise self.fail(f"{path}[{i}]", f"列表项超过 {EXCEL_LIST_ITEM_CHARS_MAX} 个字符", f"list item longer than {EXCEL_LIST_ITEM_CHARS_MAX} characters")
            sep = next((c for c in s if c in LIST_ITEM_SEPARATORS), None)
            if sep is not None:
                example = ", ".join(part for part in _SEPARATOR_RUN.split(s) if part)
                raise self.fail(
                    f"{path}[{i}]",
                    f"列表项“{s}”含有“{sep}”，像是几项写成了一项：列表各项之间请用半角逗号加空格分隔，如 [{example}]",
                    f"list item '{s}' contains '{sep}', as if several items were written as one: separate the items "
                    f"of a list with a half-width comma and a space, e.g. [{example}]",
                )
            if s in out:
                raise self.fail(f"{path}[{i}]", f"列表项“{s}”重复", f"list item '{s}' is duplicated")
            out.append(s)
        return tuple(out)

    def sheet(self, raw: Any, path: str, lists: dict[str, ListDef]) -> Sheet:
        m = self.mapping(raw, path)
        self.only(m, {"key", "kind", "name", "help", "rows", "fields", "rules", "merge_rules", "summary"}, path)
        key = self.key(m.get("key"), f"{path}.key")
        kind = m.get("kind")
        if kind not in ("form", "table"):
            raise self.fail(f"{path}.kind", "应为 form 或 table", "must be 'form' or 'table'")
        name = self.i18n(m.get("name"), f"{path}.name")
        for lang, n in name.items():
            if len(n) > EXCEL_SHEET_NAME_MAX or set(n) & EXCEL_BAD_SHEET_CHARS or n.startswith("'"):
                raise self.fail(f"{path}.name.{lang}", "不是 Excel 允许的工作表名（≤31 字，不含 []:*?/\\）", "is not a valid Excel sheet name (≤31 chars, none of []:*?/\\)")
        help_text = self.i18n(m.get("help"), f"{path}.help")
        rows = 0
        if kind == "table":
            rows = m.get("rows")
            if isinstance(rows, bool) or not isinstance(rows, int) or not 1 <= rows <= EXCEL_ROWS_MAX - 100:
                raise self.fail(f"{path}.rows", "应为 1 到 1,048,000 之间的整数", "must be a whole number from 1 to 1,048,000")
        fields: list[Field] = []
        for i, f in enumerate(self.seq(m.get("fields"), f"{path}.fields")):
            fields.append(self.field(f, f"{path}.fields[{i}]", lists))
        if not fields:
            raise self.fail(f"{path}.fields", "至少要有一个字段", "needs at least one field")
        keys = [f.key for f in fields]
        for k in keys:
            if keys.count(k) > 1:
                raise self.fail(f"{path}.fields", f"字段键“{k}”重复", f"field key '{k}' is duplicated")
        for lang in LANGS:
            labels = [f.label[lang] for f in fields]
            for lab in labels:
                if labels.count(lab) > 1:
                    raise self.fail(f"{path}.fields", f"表头“{lab}”重复", f"label '{lab}' is duplicated")
        by_key = {f.key: f for f in fields}
        for i, f in enumerate(fields):
            if f.depends_on is not None:
                parent = by_key.get(f.depends_on)
                if parent is None or parent.type != "list" or lists[f.list].parent != parent.list:  # type: ignore[index]
                    raise self.fail(f"{path}.fields[{i}].depends_on", f"“{f.depends_on}”不是本表中作为上级列表的字段", f"'{f.depends_on}' is not a field of this sheet holding the parent list")
            if f.type == "formula" and kind != "table":
                raise self.fail(f"{path}.fields[{i}].type", "公式字段只能用于表格", "formula fields are only for tables")
        rules = tuple(self.rule(r, f"{path}.rules[{j}]", key, by_key, lists, RULES_KEY)
                      for j, r in enumerate(self.seq(m.get("rules", []), f"{path}.rules")))
        if kind == "form" and m.get("merge_rules"):
            raise self.fail(f"{path}.merge_rules", "跨学校规则只用于表格（合并时比较的是各校表格的行）",
                            "rules across schools are only for tables (a merge compares the rows of the schools' tables)")
        merge_rules = tuple(self.rule(r, f"{path}.merge_rules[{j}]", key, by_key, lists, MERGE_RULES_KEY)
                            for j, r in enumerate(self.seq(m.get("merge_rules", []), f"{path}.merge_rules")))
        summary = tuple(self.summary(s, f"{path}.summary[{j}]", lists) for j, s in enumerate(self.seq(m.get("summary", []), f"{path}.summary")))
        if kind == "form" and summary:
            raise self.fail(f"{path}.summary", "表单不能有汇总块", "a form has no summary block")
        return Sheet(key, kind, name, help_text, tuple(fields), rules, merge_rules, summary, rows)

    def field(self, raw: Any, path: str, lists: dict[str, ListDef]) -> Field:
        m = self.mapping(raw, path)
        allowed = {"key", "label", "type", "required", "list", "default", "depends_on", "min", "max", "max_length",
                   "allow_negative", "within", "pattern", "pattern_hint", "prefill", "width", "month_end_text",
                   "strict", "formula", "aliases"}
        self.only(m, allowed, path)
        key = self.key(m.get("key"), f"{path}.key")
        label = self.i18n(m.get("label"), f"{path}.label")
        ftype = m.get("type")
        if ftype not in FIELD_TYPES:
            raise self.fail(f"{path}.type", f"未知类型“{ftype}”，可用：{', '.join(FIELD_TYPES)}", f"unknown type '{ftype}'; known: {', '.join(FIELD_TYPES)}")
        kw: dict[str, Any] = {"key": key, "label": label, "type": ftype}
        for b in ("required", "allow_negative", "month_end_text", "strict"):
            if b in m:
                if not isinstance(m[b], bool):
                    raise self.fail(f"{path}.{b}", "应为 true 或 false", "must be true or false")
                kw[b] = m[b]
        for n in ("min", "max", "width"):
            if n in m:
                kw[n] = self.number(m[n], f"{path}.{n}")
        if "min" in kw and "max" in kw and kw["min"] > kw["max"]:
            raise self.fail(path, "min 大于 max", "min is greater than max")
        if "max_length" in m:
            ml = m["max_length"]
            if isinstance(ml, bool) or not isinstance(ml, int) or not 1 <= ml <= 32767:
                raise self.fail(f"{path}.max_length", "应为 1–32767 的整数", "must be a whole number 1–32767")
            kw["max_length"] = ml
        if ftype == "list":
            lst = m.get("list")
            if lst not in lists:
                raise self.fail(f"{path}.list", f"未知列表“{lst}”", f"unknown list '{lst}'")
            kw["list"] = lst
            if "default" in m:
                if m["default"] not in lists[lst].values:
                    raise self.fail(f"{path}.default", f"默认值“{m['default']}”不在列表 {lst} 中", f"default '{m['default']}' is not in list {lst}")
                kw["default"] = m["default"]
            if lists[lst].parent is not None and "depends_on" not in m:
                raise self.fail(f"{path}.depends_on", "从属列表须指明 depends_on", "a dependent list needs depends_on")
            if "depends_on" in m:
                kw["depends_on"] = self.key(m["depends_on"], f"{path}.depends_on")
        else:
            for n in ("list", "default", "depends_on"):
                if n in m:
                    raise self.fail(f"{path}.{n}", "只用于 list 类型", "only for type 'list'")
        if "within" in m:
            if ftype != "date" or m["within"] not in DATE_WITHIN:
                raise self.fail(f"{path}.within", f"只用于 date，取值 {', '.join(DATE_WITHIN)}", f"only for dates, one of {', '.join(DATE_WITHIN)}")
            kw["within"] = m["within"]
        if "pattern" in m:
            try:
                re.compile(m["pattern"])
            except (re.error, TypeError) as exc:
                raise self.fail(f"{path}.pattern", f"正则表达式无效：{exc}", f"invalid regular expression: {exc}") from exc
            kw["pattern"] = m["pattern"]
            kw["pattern_hint"] = self.i18n(m.get("pattern_hint"), f"{path}.pattern_hint")
        if "prefill" in m:
            if m["prefill"] not in ("org_name", "org_code", "year"):
                raise self.fail(f"{path}.prefill", "只能是 org_name、org_code 或 year", "must be org_name, org_code or year")
            kw["prefill"] = m["prefill"]
        if "aliases" in m:
            kw["aliases"] = tuple(self.text(a, f"{path}.aliases") for a in self.seq(m["aliases"], f"{path}.aliases"))
        if ftype == "formula":
            fm = self.mapping(m.get("formula"), f"{path}.formula")
            if set(fm) != {"running_balance"}:
                raise self.fail(f"{path}.formula", "目前只支持 running_balance", "only running_balance is supported")
            rb = self.mapping(fm["running_balance"], f"{path}.formula.running_balance")
            self.only(rb, {"opening", "plus", "minus"}, f"{path}.formula.running_balance")
            for n in ("opening", "plus", "minus"):
                self.text(rb.get(n), f"{path}.formula.running_balance.{n}")
            kw["formula"] = read_only(fm)
        elif "formula" in m:
            raise self.fail(f"{path}.formula", "只用于 formula 类型", "only for type 'formula'")
        return Field(**kw)

    def rule(self, raw: Any, path: str, sheet_key: str, fields: dict[str, Field], lists: dict[str, ListDef],
             written_under: str) -> Rule:
        m = dict(self.mapping(raw, path))
        kind = self.rule_kind(m.pop("kind", None), f"{path}.kind", written_under)
        code, severity = self.rule_code_severity(m, path, kind)
        self.rule_params(kind, m, path, fields, lists, written_under)
        return Rule(kind.name, code, severity, sheet_key, read_only(m))

    # -- rules, through the registry of rule kinds
    def rule_kind(self, name: Any, path: str, written_under: str) -> RuleKind:
        """The registered kind ``name``, refused unless it is written under the list of its scope."""
        kind = _registry.KINDS.get(name) if isinstance(name, str) else None
        if kind is None:
            raise self.fail(path, f"未知规则“{name}”", f"unknown rule kind '{name}'")
        if kind.list_key != written_under:
            words = misplaced(kind.name, kind.scope, written_under)
            raise self.fail(path, words.zh, words.en)
        return kind

    def rule_code_severity(self, m: dict, path: str, kind: RuleKind) -> tuple[str, str]:
        code = self.problem_code(m.pop("code", kind.name), f"{path}.code")
        severity = m.pop("severity", kind.default_severity)
        if severity not in SEVERITIES:
            raise self.fail(f"{path}.severity", f"应为 {', '.join(SEVERITIES)}", f"must be one of {', '.join(SEVERITIES)}")
        return code, severity

    def rule_params(self, kind: RuleKind, m: dict, path: str, fields: dict[str, Field], lists: dict[str, ListDef],
                    written_under: str, sheets: dict[str, Sheet] | None = None) -> None:
        """Check a rule's parameters ``m`` against what ``kind`` declares of them."""
        for p in kind.required:
            if p not in m:
                raise self.fail(f"{path}.{p}", "缺少此参数", "this parameter is missing")
        unknown = sorted(set(m) - set(kind.params))
        if unknown:
            known = ", ".join(kind.params)
            raise self.fail(f"{path}.{unknown[0]}", f"规则“{kind.name}”没有此参数（可用：{known}）",
                            f"rule kind '{kind.name}' has no such parameter (known: {known})")
        for p, spec in kind.params.items():
            if p in m and spec.names:
                self.rule_field_param(m[p], spec.names, f"{path}.{p}", fields, lists, written_under)
                if spec.single and len(m[p]) != 1:
                    raise self.fail(f"{path}.{p}", "此规则须且只须有一个条件", "this rule takes exactly one condition")
        for p, spec in kind.params.items():
            if p in m:
                self.rule_value_param(m, p, spec, f"{path}.{p}", fields, lists, sheets)

    def rule_field_param(self, value: Any, names: str, path: str, fields: dict[str, Field],
                         lists: dict[str, ListDef], written_under: str) -> None:
        """A parameter naming fields: its shape (one key, a list of keys, field: value), and the fields it names."""
        if names == LIST and (not isinstance(value, list) or not value):
            # the rules iterate it: a single key written without brackets would be read letter by letter
            raise self.fail(path, "应为字段键的列表，如 [name]", "must be a list of field keys, e.g. [name]")
        if names == MAPPING and (not isinstance(value, dict) or not value):
            raise self.fail(path, "应为“字段: 值”的键值表", "must be a mapping of field: value")
        if names == ONE and not isinstance(value, str):
            raise self.fail(path, "应为一个字段键", "must be one field key")
        refs = list(value) if isinstance(value, (list, dict)) else [value]
        for n in refs:
            self.field_ref(n, path, fields)
        if written_under == MERGE_RULES_KEY and any("." in n for n in refs):
            # merge compares the rows of the schools' tables, which hold no other sheet's values
            raise self.fail(path, f"跨{orgs_word('zh')}规则只能用本表的字段",
                            f"a rule across {orgs_word('en')} can only use fields of its own table")
        if names == MAPPING:
            for fk, val in value.items():
                if fk in fields:  # another sheet's field ("sheet.field") is a form value, not a dropdown of this table
                    self.value_in_field_list(fields[fk], val, f"{path}.{fk}", lists)

    def rule_value_param(self, m: dict, p: str, spec: Param, path: str, fields: dict[str, Field],
                         lists: dict[str, ListDef], sheets: dict[str, Sheet] | None) -> None:
        """A parameter holding something else than field keys: a number, a choice, a list's name, caps …"""
        value, what = m[p], spec.value
        if what == NUMBER:
            self.number(value, path)
        elif what == CHOICE and value not in spec.choices:
            zh = " ".join(spec.choices) if len(spec.choices) > 2 else " 或 ".join(spec.choices)
            en = f"one of {' '.join(spec.choices)}" if len(spec.choices) > 2 else " or ".join(spec.choices)
            raise self.fail(path, f"应为 {zh}", f"must be {en}")
        elif what == LIST_NAME and value not in lists:
            raise self.fail(path, f"未知列表“{value}”", f"unknown list '{value}'")
        elif what in (CAPS, VALUE_OF):
            of = m.get(spec.of)
            target = fields.get(of[0] if isinstance(of, list) else of) if of else None
            if what == VALUE_OF:
                if target is not None:
                    self.value_in_field_list(target, value, path, lists)
                return
            for val, cap in self.mapping(value, path).items():
                if target is not None:
                    self.value_in_field_list(target, val, f"{path}.{val}", lists)
                self.number(cap, f"{path}.{val}")
        elif what == SIDE:
            assert sheets is not None, "a SIDE parameter compares tables: only for the layout's cross_checks"
            self.cross_side(value, path, sheets, lists)

    def problem_code(self, value: Any, path: str) -> str:
        """A rule's problem code: one of the catalogue, which every reported problem must use."""
        code = self.key(value, path)
        if code not in CATALOGUE:
            raise self.fail(path, f"问题代码“{code}”不在问题代码表中（见 README 的问题代码表），如 duplicate、cap_exceeded、out_of_range",
                            f"problem code '{code}' is not in the catalogue (see README's table of problem codes), e.g. duplicate, cap_exceeded, out_of_range")
        return code

    def field_ref(self, name: Any, path: str, fields: dict[str, Field]) -> None:
        if not isinstance(name, str):
            raise self.fail(path, "应为字段键", "must be a field key")
        if "." in name:  # another sheet's field, checked once all sheets are known
            return
        if name not in fields:
            raise self.fail(path, f"本表没有字段“{name}”", f"this sheet has no field '{name}'")

    def value_in_field_list(self, fld: Field, value: Any, path: str, lists: dict[str, ListDef]) -> None:
        if fld.type == "list" and value not in lists[fld.list].values:  # type: ignore[index]
            raise self.fail(path, f"“{value}”不在字段 {fld.key} 的列表中", f"'{value}' is not in the list of field {fld.key}")

    def check_cross_refs(self, sheet: Sheet, sheets: dict[str, Sheet], path: str) -> None:
        def ref(name: str, p: str) -> None:
            if "." not in name:
                return
            s, f = name.split(".", 1)
            if s not in sheets or f not in {x.key for x in sheets[s].fields}:
                raise self.fail(p, f"“{name}”不是已知的 表.字段", f"'{name}' is not a known sheet.field")
            if sheets[s].kind != "form":
                raise self.fail(p, f"跨表引用只能指向表单字段：“{name}”", f"a reference to another sheet must name a form field: '{name}'")

        for under, rules in ((RULES_KEY, sheet.rules), (MERGE_RULES_KEY, sheet.merge_rules)):
            for j, r in enumerate(rules):
                for p, n in _registry.kind_of(r).field_refs(r.params):
                    ref(n, f"{path}.{under}[{j}].{p}")
        for f in sheet.fields:
            if f.formula:
                rb = f.formula["running_balance"]
                ref(rb["opening"], f"{path}.fields.{f.key}.formula")
                for n in (rb["plus"], rb["minus"]):
                    if n not in {x.key for x in sheet.fields}:
                        raise self.fail(f"{path}.fields.{f.key}.formula", f"本表没有字段“{n}”", f"this sheet has no field '{n}'")
        items = {s.key for s in sheet.summary}
        field_keys = {x.key for x in sheet.fields}
        for s in sheet.summary:
            formulas = [s.formula] if s.formula else [c.formula for c in s.columns]
            for fm in formulas:
                for ph in PLACEHOLDER.findall(fm or ""):
                    p = f"{path}.summary.{s.key}"
                    if ph.startswith("@"):
                        if ph[1:] not in items:
                            raise self.fail(p, f"未知汇总项“{ph}”", f"unknown summary item '{ph}'")
                    elif ph in ("item", "parent"):
                        if s.rows is None or (ph == "parent" and "pairs" not in s.rows):
                            raise self.fail(p, f"“{{{ph}}}”只用于分项表", f"'{{{ph}}}' is only for breakdown tables")
                    elif "." in ph:
                        ref(ph, p)
                    elif ph not in field_keys:
                        raise self.fail(p, f"本表没有字段“{ph}”", f"this sheet has no field '{ph}'")

    def summary(self, raw: Any, path: str, lists: dict[str, ListDef]) -> SummaryItem:
        m = self.mapping(raw, path)
        self.only(m, {"key", "label", "formula", "format", "rows", "columns", "total"}, path)
        key = self.key(m.get("key"), f"{path}.key")
        label = self.i18n(m.get("label"), f"{path}.label")
        fmt = m.get("format")
        if fmt not in (None, "money", "percent", "int"):
            raise self.fail(f"{path}.format", "应为 money、percent 或 int", "must be money, percent or int")
        if "formula" in m:
            if "rows" in m or "columns" in m:
                raise self.fail(path, "formula 与 rows/columns 只能取其一", "use either formula or rows/columns")
            return SummaryItem(key, label, formula=self.text(m["formula"], f"{path}.formula"), format=fmt)
        rows = self.mapping(m.get("rows"), f"{path}.rows")
        if len(rows) == 0 or not set(rows) <= {"list", "values", "pairs", "format"}:
            raise self.fail(f"{path}.rows", "应为 list、values 或 pairs 之一", "must be one of list, values or pairs")
        for lk in ("list", "pairs"):
            if lk in rows and rows[lk] not in lists:
                raise self.fail(f"{path}.rows.{lk}", f"未知列表“{rows[lk]}”", f"unknown list '{rows[lk]}'")
        if "pairs" in rows and lists[rows["pairs"]].parent is None:
            raise self.fail(f"{path}.rows.pairs", "pairs 须为从属列表", "pairs must name a dependent list")
        if "values" in rows:
            for i, v in enumerate(self.seq(rows["values"], f"{path}.rows.values")):
                self.number(v, f"{path}.rows.values[{i}]")
        cols = []
        for i, c in enumerate(self.seq(m.get("columns"), f"{path}.columns")):
            cm = self.mapping(c, f"{path}.columns[{i}]")
            self.only(cm, {"label", "formula", "format"}, f"{path}.columns[{i}]")
            cols.append(SummaryColumn(self.i18n(cm.get("label"), f"{path}.columns[{i}].label"), self.text(cm.get("formula"), f"{path}.columns[{i}].formula"), cm.get("format")))
        if not cols:
            raise self.fail(f"{path}.columns", "至少要有一列", "needs at least one column")
        return SummaryItem(key, label, format=fmt, rows=read_only(rows), columns=tuple(cols), total=bool(m.get("total", False)))

    def cross_check(self, raw: Any, path: str, sheets: dict[str, Sheet], lists: dict[str, ListDef]) -> Rule:
        m = dict(self.mapping(raw, path))
        kind = self.rule_kind(m.pop("kind", None), f"{path}.kind", CROSS_CHECKS_KEY)
        code, severity = self.rule_code_severity(m, path, kind)
        self.rule_params(kind, m, path, {}, lists, CROSS_CHECKS_KEY, sheets)
        return Rule(kind.name, code, severity, "", read_only(m))

    def cross_side(self, raw: Any, path: str, sheets: dict[str, Sheet], lists: dict[str, ListDef]) -> None:
        """One side of a comparison of two tables: {sheet, sum, any_of}."""
        sm = self.mapping(raw, path)
        sk = sm.get("sheet")
        if sk not in sheets or sheets[sk].kind != "table":
            raise self.fail(f"{path}.sheet", f"未知表格“{sk}”", f"unknown table '{sk}'")
        fkeys = {f.key for f in sheets[sk].fields}
        if sm.get("sum") not in fkeys:
            raise self.fail(f"{path}.sum", f"表 {sk} 没有字段“{sm.get('sum')}”", f"table {sk} has no field '{sm.get('sum')}'")
        for i, cond in enumerate(self.seq(sm.get("any_of", []), f"{path}.any_of")):
            cm = self.mapping(cond, f"{path}.any_of[{i}]")
            if cm.get("field") not in fkeys or not ({"in", "contains"} & set(cm)):
                raise self.fail(f"{path}.any_of[{i}]", "须有本表字段 field 及 in 或 contains", "needs a field of the table and 'in' or 'contains'")
            if "in" in cm:
                # a value that is not a choice never matches: most often several choices typed as one
                for v in self.seq(cm["in"], f"{path}.any_of[{i}].in"):
                    self.value_in_field_list(sheets[sk].field(cm["field"]), v, f"{path}.any_of[{i}].in", lists)


def _canonical(value: Any) -> Any:
    """``value`` in a form whose JSON text depends only on what it means.

    Keys become text (a YAML key may be a number) and a whole float becomes an int: ``500`` and ``500.0`` are the
    same cap to the checker, so they are the same to the fingerprint. Anything else YAML gives (a date) is its text.
    """
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def layout_fingerprint(data: Any) -> str:
    """A short hash of what a layout file says (the parsed mapping), comments and formatting aside.

    Everything counts except ``derived_from``, which says where a copy came from and not what it is: an
    exported built-in layout that only gained that line keeps the built-in's fingerprint. Lists keep their
    order (it is the order of the dropdowns); mappings do not (key order means nothing in YAML).
    """
    content = dict(data) if isinstance(data, dict) else data
    if isinstance(content, dict):
        content.pop(DERIVED_FROM_KEY, None)
    text = json.dumps(_canonical(content), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:FINGERPRINT_DIGITS]


def check_layout(data: Any, source: str) -> Layout:
    """The layout that ``data`` (the mapping parsed from the file ``source``) describes, checked completely."""
    return _Checker(source).layout(data)
