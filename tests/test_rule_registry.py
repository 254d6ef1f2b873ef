"""The registry of rule kinds: every kind a layout uses is registered and declares everything about itself,
and `layout check` goes through it (a kind in the wrong list, a parameter it does not know)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from sheetplan.errors import LayoutError
from sheetplan.layout import (
    MERGE_RULES_KEY,
    RULES_KEY,
    builtin_layouts,
    builtin_source,
    load_layout,
    parse_layout,
)
from sheetplan.rules import KINDS, NoFormula, RuleKind
from sheetplan.rules.base import (
    CAPS,
    CHOICE,
    LIST,
    MAPPING,
    ONE,
    SCOPE_OF,
    SCOPES,
    VALUE_OF,
    Param,
)
from sheetplan.rules.describe import describe_rule
from sheetplan.rules.registry import CROSS_CHECKS_KEY, fields_read_by_rules, kinds_in
from sheetplan.rules.text import Text

LISTS = (RULES_KEY, MERGE_RULES_KEY, CROSS_CHECKS_KEY)
ENTRIES = 5  # sheets[5] of the school layout: 比赛报名, a table with rules and merge_rules


def _used_kinds() -> dict[str, set[str]]:
    """Kind → the built-in layouts using it."""
    used: dict[str, set[str]] = {}
    for name in builtin_layouts():
        layout = load_layout(name)
        rules = [r for s in layout.sheets for r in (*s.rules, *s.merge_rules)] + list(layout.cross_checks)
        for r in rules:
            used.setdefault(r.kind, set()).add(name)
    return used


# --------------------------------------------------------------------------- walking the registry


def test_every_kind_used_by_a_layout_is_registered():
    used = _used_kinds()
    assert used, "the built-in layouts use no rule at all"
    assert set(used) <= set(KINDS), sorted(set(used) - set(KINDS))


@pytest.mark.parametrize("name", sorted(KINDS))
def test_every_kind_declares_everything(name):
    kind = KINDS[name]
    assert isinstance(kind, RuleKind) and kind.name == name
    assert kind.scope in SCOPES and kind.list_key == SCOPE_OF[kind.scope].list_key
    assert kind.default_severity in ("error", "warning", "info")
    # parameters: a schema, with field-naming ones and the others well formed
    assert kind.params and all(isinstance(p, Param) for p in kind.params.values())
    assert kind.required, "a kind without a required parameter cannot say what it checks"
    for pname, spec in kind.params.items():
        assert spec.names in (None, ONE, LIST, MAPPING), pname
        if spec.value == CHOICE:
            assert spec.choices, pname
        if spec.value in (CAPS, VALUE_OF):
            assert spec.of in kind.params and kind.params[spec.of].names, pname
        if spec.single:
            assert spec.names == MAPPING, pname
    # behaviour of its own, and which fields it names derived once in the base class
    assert type(kind).check is not RuleKind.check
    assert type(kind).description is not RuleKind.description
    for derived in ("field_refs", "fields", "local_fields", "required", "field_params", "list_key", "describe"):
        assert getattr(type(kind), derived) is getattr(RuleKind, derived), f"{name} overrides {derived}"
    # messages in both languages
    assert kind.messages
    for key, msg in kind.messages.items():
        assert isinstance(msg, Text) and msg.zh.strip() and msg.en.strip(), key
        assert msg.placeholders("en") <= msg.placeholders("zh"), key  # the English says nothing the Chinese lacks
    # a formula form, or an explicit "none" that says why
    if isinstance(kind.formula, NoFormula):
        assert kind.formula.reason.zh.strip() and kind.formula.reason.en.strip()
    else:
        assert callable(kind.formula)


def test_every_scope_has_kinds_and_a_list_of_its_own():
    assert {k.scope for k in KINDS.values()} == set(SCOPES)
    assert len({SCOPE_OF[s].list_key for s in SCOPES}) == len(SCOPES)
    assert all(KINDS[n].list_key == MERGE_RULES_KEY for n in kinds_in("merge"))


def test_no_table_of_rule_kinds_outside_the_registry():
    """Issue 14: the layout keeps no second table of the kinds' parameters or lists (the reader asks the registry)."""
    import sheetplan.layout as layout_module

    assert not [n for n in dir(layout_module) if n.startswith("RULE_")]


def test_the_fields_a_rule_names_are_derived_from_its_parameters():
    layout = load_layout("school")
    entries, ledger = layout.sheet("entries"), layout.sheet("ledger")
    rule = next(r for r in entries.rules if r.kind == "requires_value")
    assert KINDS["requires_value"].fields(rule) == ["group", "gender"]
    compare = next(r for r in layout.sheet("schedule").rules if r.kind == "compare")
    assert KINDS["compare"].fields(compare) == ["actual_people", "info.members"]
    assert KINDS["compare"].local_fields(compare) == ["actual_people"]
    assert KINDS["cross_sum"].fields(layout.cross_checks[1]) == ["schedule.spent", "ledger.expense", "ledger.category"]
    assert KINDS["cross_sum"].local_fields(layout.cross_checks[1]) == []
    # what the reader needs to know of a missing column: is it read by a rule of its sheet?
    assert fields_read_by_rules(entries) == {"event", "name", "group", "gender", "age"}
    assert fields_read_by_rules(ledger) == {"income", "expense", "category", "voucher", "date", "balance"}
    assert "phone" not in fields_read_by_rules(entries)  # read only across schools, by merge


def test_every_rule_of_the_school_layout_is_described_by_its_kind():
    layout = load_layout("school")
    rules = [r for s in layout.sheets for r in (*s.rules, *s.merge_rules)] + list(layout.cross_checks)
    for r in rules:
        for lang, severity in (("zh", "（"), ("en", " (")):
            text = describe_rule(r, layout, lang)
            assert text and severity in text, (r.kind, lang, text)
    cross = describe_rule(layout.cross_checks[0], layout, "zh")
    assert cross == ("慰问记录的慰问金合计应与经费台账中明细科目是职工集体福利支出、送温暖费或困难职工帮扶费，"
                     "或摘要含有“慰问”的各笔支出合计相符（提醒）")


def test_importing_the_registry_loads_neither_the_layout_nor_the_reader():
    """The layout checker imports the registry while the layout module loads: no cycle back into it."""
    code = ("import sys, sheetplan.rules; "
            "print(sorted(m for m in ('sheetplan.layout', 'sheetplan.reading.workbook', 'sheetplan.reading.cells') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# --------------------------------------------------------------------------- layout check goes through the registry


def _school() -> dict:
    return yaml.safe_load(builtin_source("school"))


def _dump(data: dict) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def _put(data: dict, under: str, rule: dict) -> str:
    """Insert ``rule`` first in list ``under`` (of the entries table, or the top-level cross_checks); its path."""
    if under == CROSS_CHECKS_KEY:
        data.setdefault(under, []).insert(0, rule)
        return f"{under}[0]"
    data["sheets"][ENTRIES].setdefault(under, []).insert(0, rule)
    return f"sheets[{ENTRIES}].{under}[0]"


@pytest.mark.parametrize(("name", "wrong"), [(n, w) for n in sorted(KINDS) for w in LISTS if w != KINDS[n].list_key])
def test_layout_check_refuses_each_kind_in_each_wrong_list(name, wrong):
    right = SCOPE_OF[KINDS[name].scope]
    data = _school()
    path = _put(data, wrong, {"kind": name})
    with pytest.raises(LayoutError) as exc:
        parse_layout(_dump(data), "mine.yaml")
    zh, en = exc.value.text("zh"), exc.value.text("en")
    assert zh.startswith(f"版式文件 mine.yaml 的 {path}.kind：规则“{name}”")
    assert f"须写在 {right.where.zh} 下" in zh and f"不能写在 {wrong} 下" in zh
    assert f"it belongs under {right.where.en}" in en and f"not {wrong}" in en


@pytest.mark.parametrize("under", LISTS)
def test_layout_check_refuses_an_unknown_kind_in_every_list(under):
    data = _school()
    path = _put(data, under, {"kind": "no_such_rule"})
    with pytest.raises(LayoutError) as exc:
        parse_layout(_dump(data), "mine.yaml")
    assert f"{path}.kind：未知规则“no_such_rule”" in exc.value.text("zh")


def test_layout_check_refuses_a_parameter_the_kind_does_not_have():
    data = _school()
    data["sheets"][2]["rules"][2]["factr"] = 1.5  # a typo of factor was silently ignored
    with pytest.raises(LayoutError) as exc:
        parse_layout(_dump(data), "mine.yaml")
    assert "sheets[2].rules[2].factr：规则“compare”没有此参数（可用：field, op, other, factor）" in exc.value.text("zh")


@pytest.mark.parametrize(("path", "value", "words"), [
    (["sheets", 3, "rules", 1, "cap"], "2200元", ["sheets[3].rules[1].cap", "应为数字"]),
    (["sheets", 2, "rules", 0, "month_field"], ["month"], ["sheets[2].rules[0].month_field", "一个字段键"]),
    (["sheets", 4, "rules", 1, "income_list"], "no_list", ["sheets[4].rules[1].income_list", "未知列表"]),
    (["sheets", 5, "rules", 1, "value"], "男性", ["sheets[5].rules[1].value", "不在字段 gender 的列表中"]),
    (["sheets", 5, "rules", 4, "caps"], {"不存在": 3}, ["sheets[5].rules[4].caps.不存在", "不在字段 event 的列表中"]),
    (["cross_checks", 0, "compare"], "same", ["cross_checks[0].compare", "应为 equal 或 left_not_greater"]),
    (["sheets", 2, "rules", 2, "op"], "=<", ["sheets[2].rules[2].op", "应为 <= < >= > =="]),
])
def test_layout_check_reads_the_parameter_schema(path, value, words):
    data = _school()
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(LayoutError) as exc:
        parse_layout(_dump(data), "mine.yaml")
    for w in words:
        assert w in exc.value.text("zh"), exc.value.text("zh")


def test_a_rule_across_tables_keeps_its_default_severity():
    layout = load_layout("school")
    assert all(r.severity == KINDS["cross_sum"].default_severity == "warning" for r in layout.cross_checks)
    data = _school()
    del data["sheets"][1]["rules"][0]["severity"]
    assert parse_layout(_dump(data), "mine.yaml").sheet("plan").rules[0].severity == "error"


def test_the_kind_for_empty_tables_reports_catalogue_codes_as_warnings():
    """Issue point 6: empty_tables is registered like every kind, written under 基本信息's rules of the school
    layout, and both codes it reports (the rule's, and empty_submission for a blank workbook) are in the catalogue."""
    from sheetplan.problems import CATALOGUE
    from sheetplan.rules.empty import EMPTY_SUBMISSION

    kind = KINDS["empty_tables"]
    assert kind.scope == "file" and kind.default_severity == "warning" and isinstance(kind.formula, NoFormula)
    rule = next(r for r in load_layout("school").sheet("info").rules if r.kind == "empty_tables")
    assert (rule.code, rule.severity, dict(rule.params)) == ("empty_table", "warning", {"field": "nothing_to_report"})
    assert CATALOGUE[rule.code][0] == CATALOGUE[EMPTY_SUBMISSION][0] == "warning"
