"""A loaded layout is what its file says now, and nobody can change it: the cache, read-only values, rule scopes."""

from __future__ import annotations

import dataclasses
import os
import pickle

import openpyxl
import pytest
import yaml

import sheetplan.layout.load as layout_loading
from sheetplan.errors import LayoutError
from sheetplan.layout import (
    CROSS_CHECKS_KEY,
    MERGE_RULES_KEY,
    RULES_KEY,
    builtin_source,
    load_layout,
    parse_layout,
)
from sheetplan.layout.geometry import data_cell
from sheetplan.rules.registry import KINDS

BIRTHDAY_CAP = "caps: {生日: 500, "


def _school_text(birthday_cap: int = 500) -> str:
    text = builtin_source("school")
    assert BIRTHDAY_CAP in text
    return text.replace(BIRTHDAY_CAP, f"caps: {{生日: {birthday_cap}, ")


def _birthday_cap(layout) -> float:
    return next(r for r in layout.sheet("care").rules if r.kind == "cap_per_row").params["caps"]["生日"]


# --------------------------------------------------------------------------- the cache


def test_an_edited_layout_file_is_loaded_again(tmp_path):
    """Issue point 22: after editing mine.yaml (a cap changed, same size, same second), load_layout gives the new cap."""
    path = tmp_path / "mine.yaml"
    path.write_text(_school_text(500), encoding="utf-8")
    assert _birthday_cap(load_layout(path)) == 500
    path.write_text(_school_text(600), encoding="utf-8")  # same size, and most likely the same clock tick
    assert _birthday_cap(load_layout(path)) == 600
    path.write_text(_school_text(1200), encoding="utf-8")
    assert _birthday_cap(load_layout(str(path))) == 1200


def test_an_unchanged_old_file_is_parsed_once_and_a_changed_one_again(tmp_path, monkeypatch):
    """Issue point 22: the cache still serves an unchanged file, keyed on modification time and size."""
    parsed = []
    real = layout_loading.parse_layout
    monkeypatch.setattr(layout_loading, "parse_layout", lambda text, source: parsed.append(source) or real(text, source))
    path = tmp_path / "old.yaml"
    path.write_text(_school_text(500), encoding="utf-8")
    os.utime(path, ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000))  # long settled
    first = load_layout(path)
    assert load_layout(path) is first and load_layout(str(path)) is first
    assert parsed == ["old.yaml"]
    path.write_text(_school_text(5000), encoding="utf-8")
    os.utime(path, ns=(1_600_000_001_000_000_000, 1_600_000_001_000_000_000))
    assert _birthday_cap(load_layout(path)) == 5000
    assert parsed == ["old.yaml", "old.yaml"]


def test_the_same_relative_name_in_two_folders_gives_two_layouts(tmp_path, monkeypatch):
    """Issue point 22: ./mine.yaml in another folder (after chdir) is that folder's file, not the cached one."""
    for folder, cap in (("a", 500), ("b", 800)):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "mine.yaml").write_text(_school_text(cap), encoding="utf-8")
    monkeypatch.chdir(tmp_path / "a")
    assert _birthday_cap(load_layout("mine.yaml")) == 500
    monkeypatch.chdir(tmp_path / "b")
    assert _birthday_cap(load_layout("mine.yaml")) == 800
    assert _birthday_cap(load_layout("./mine.yaml")) == 800


def test_a_file_that_became_invalid_is_refused_not_served_from_the_cache(tmp_path):
    """Issue point 22: a layout broken after it was loaded is reported, not replaced by the old version."""
    path = tmp_path / "mine.yaml"
    path.write_text(_school_text(500), encoding="utf-8")
    load_layout(path)
    path.write_text(_school_text(500).replace("gender: [男, 女]", "gender: [男, 男]"), encoding="utf-8")
    with pytest.raises(LayoutError, match="lists.gender\\[1\\]"):
        load_layout(path)


# --------------------------------------------------------------------------- read-only layouts


def _changes(layout):
    care, ledger, entries = layout.sheet("care"), layout.sheet("ledger"), layout.sheet("entries")
    params = next(r for r in care.rules if r.kind == "cap_per_row").params
    opening = next(c for c in layout.district.columns if c.kind == "info")
    return {
        "a rule's parameter": lambda: params.__setitem__("by", "form"),
        "a cap": lambda: params["caps"].__setitem__("生日", 100_000),
        "a cap removed": lambda: params["caps"].pop("生日"),
        "the fields of a rule": lambda: params["fields"].append("note"),
        "the fields of a rule, in place": lambda: params["fields"].__iadd__(["note"]),
        "the fields of a rule, sorted": lambda: params["fields"].sort(),
        "the conditions of a rule": lambda: next(r for r in care.rules if r.kind == "cap_sum").params["when"].update(reason="生日"),
        "a cross check": lambda: layout.cross_checks[0].params["right"]["any_of"][0]["in"].clear(),
        "a label": lambda: care.field("amount").label.__setitem__("zh", "x"),
        "a sheet name": lambda: care.name.__setitem__("zh", "x"),
        "a title": lambda: layout.title.__setitem__("zh", "x"),
        "the lists": lambda: layout.lists.__delitem__("gender"),
        "a dependent list": lambda: layout.lists["ledger_subcategory"].children.__setitem__("事业支出", ("x",)),
        "a formula": lambda: ledger.field("balance").formula["running_balance"].__setitem__("plus", "expense"),
        "summary rows": lambda: care.summary[3].rows.__setitem__("list", "gender"),
        "a district condition": lambda: layout.district.columns[1].where.__setitem__("status", "进行中"),
        "a district label": lambda: opening.label.__setitem__("zh", "x"),
        "a merge rule": lambda: entries.merge_rules[0].params["fields"].remove("phone"),
    }


def test_a_loaded_layout_cannot_be_changed(layout):
    """Issue point 22: the shared cached layout is read-only: every dict and list in it refuses changes."""
    before = _birthday_cap(load_layout("school"))
    for what, change in _changes(layout).items():
        with pytest.raises(TypeError, match="read-only"):
            change()
        assert load_layout("school") is layout, what
    assert _birthday_cap(load_layout("school")) == before == 500
    with pytest.raises(dataclasses.FrozenInstanceError):
        layout.sheet("care").rules[0].params = {}  # type: ignore[misc]


def test_reading_a_layout_writes_nothing_into_it(layout):
    """Issue point 22: no value is cached inside a frozen layout object afterwards (its __dict__ holds its fields only)."""
    for s in layout.sheets:
        layout.formula_fields(s.key)
    for lst in layout.lists.values():
        assert lst.value_set == frozenset(lst.values)
        assert set(vars(lst)) == {f.name for f in dataclasses.fields(lst)}
    assert set(vars(layout)) == {f.name for f in dataclasses.fields(layout)}
    assert layout.formula_fields("ledger") == {"category", "subcategory", "income", "expense"}
    assert layout.formula_fields("info") == {"opening_balance"}


def test_a_layout_pickles_and_stays_read_only_dicts_and_lists(layout):
    """Issue point 22: an unpickled layout (worker processes start with one) is equal and still read-only, and
    its read-only values still read as the dicts and lists the rules, json and isinstance checks expect."""
    import json

    again = pickle.loads(pickle.dumps(layout, protocol=pickle.HIGHEST_PROTOCOL))
    assert again == layout
    assert again.lists["gender"].value_set == {"男", "女"}
    for change in _changes(again).values():
        with pytest.raises(TypeError):
            change()
    params = next(r for r in again.sheet("entries").rules if r.kind == "cap_count").params
    assert isinstance(params, dict) and isinstance(params["group_by"], list)
    assert params == {"group_by": ["event"], "cap": 8, "caps": {"教学技能比武": 3}}
    assert json.loads(json.dumps(params, ensure_ascii=False)) == params
    copy = dict(params)
    copy["cap"] = 9  # a copy is an ordinary dict
    assert params["cap"] == 8


# --------------------------------------------------------------------------- where each rule kind goes

# The list each kind is written under, for the kinds written under a sheet (cross_checks stand apart).
RULE_SCOPE = {n: k.list_key for n, k in KINDS.items() if k.list_key != CROSS_CHECKS_KEY}


def test_rule_scope_table_agrees_with_the_rules_and_their_parameters():
    """Issue point 11: each kind of the registry has one list; the per-file kinds are exactly those apply_rules runs."""
    from sheetplan.rules import RULES

    assert set(RULE_SCOPE.values()) == {RULES_KEY, MERGE_RULES_KEY}
    assert {k for k, scope in RULE_SCOPE.items() if scope == RULES_KEY} == set(RULES)


# One valid rule of each kind applied across schools, on the entries table of the school layout.
MERGE_SAMPLES = {"unique_across": {"fields": ["name", "phone"]}}


@pytest.mark.parametrize("kind", sorted(k for k, scope in RULE_SCOPE.items() if scope == MERGE_RULES_KEY))
def test_every_kind_declared_across_schools_is_applied_by_merge(kind, tmp_path):
    """Issue point 11: each kind RULE_SCOPE puts under merge_rules is one merge applies (it reports the duplicate)."""
    from sheetplan.merge import merge
    from sheetplan.write import Org, write_template

    assert set(MERGE_SAMPLES) == {k for k, scope in RULE_SCOPE.items() if scope == MERGE_RULES_KEY}
    data = yaml.safe_load(builtin_source("school"))
    data["sheets"][5]["merge_rules"] = [{"kind": kind, "code": "duplicate_across_schools", "severity": "info", **MERGE_SAMPLES[kind]}]
    layout_path = tmp_path / "probe.yaml"
    layout_path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    layout = load_layout(layout_path)
    entries = layout.sheet("entries")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for code, name in (("S1", "一校"), ("S2", "二校")):
        path = inbox / f"{code}.xlsx"
        write_template(layout, Org(name, code, 2025), path)
        wb = openpyxl.load_workbook(path)
        ws = wb[entries.name["zh"]]
        for key, value in (("event", "跳绳"), ("name", "陈明"), ("gender", "男"), ("phone", "13812345678")):
            ws[data_cell(entries, key, 0)] = value
        wb.save(path)
    result = merge([inbox], layout=layout, jobs=1)
    probes = [p for p in result.problems if p.code == "duplicate_across_schools"]
    assert [(p.file, p.severity) for p in probes] == [("S2.xlsx", "info")]


@pytest.mark.parametrize("kind", sorted(RULE_SCOPE))
def test_every_kind_is_refused_in_the_other_list(kind):
    """Issue point 11: a rule kind written under the wrong list is refused, naming the list it belongs to."""
    data = yaml.safe_load(builtin_source("school"))
    right = RULE_SCOPE[kind]
    wrong = MERGE_RULES_KEY if right == RULES_KEY else RULES_KEY
    data["sheets"][5].setdefault(wrong, []).insert(0, {"kind": kind})
    with pytest.raises(LayoutError) as exc:
        parse_layout(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), "mine.yaml")
    zh, en = exc.value.text("zh"), exc.value.text("en")
    assert zh.startswith(f"版式文件 mine.yaml 的 sheets[5].{wrong}[0].kind：")
    assert f"须写在 {right} 下" in zh and f"不能写在 {wrong} 下" in zh
    assert f"belongs under {right}" in en


def test_a_renamed_copy_reads_the_workbooks_made_before_the_rename(tmp_path):
    """Presentation issue point 20: a district that gives its copy its own id (as layout export asks) still reads the
    workbooks its schools were given with the built-in layout, with a warning, not as another layout's file."""
    from sheetplan.layout.load import export_source
    from sheetplan.report.check import check_file
    from sheetplan.write import Org, write_template

    text = export_source("school").replace("\nid: school\n", "\nid: xq_district\n", 1)
    assert "derived_from: school@1" in text and "id: xq_district" in text
    mine = tmp_path / "xq.yaml"
    mine.write_text(text, encoding="utf-8")
    lay = load_layout(mine)
    assert lay.id == "xq_district" and lay.derived_from == "school@1"
    made = tmp_path / "S1.xlsx"
    write_template(load_layout("school"), Org("一校", "S1", 2025), made)
    data = check_file(made, lay)
    assert data.readable
    assert [p.code for p in data.report if p.severity != "info"] == ["layout_edition", "empty_submission"]
