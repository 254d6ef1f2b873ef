"""Layout files: the built-in layout, export, and contradictions refused at load."""

from __future__ import annotations

import pytest
import yaml

from sheetplan.errors import LayoutError
from sheetplan.layout import builtin_layouts, builtin_source, load_layout, parse_layout


def test_builtin_school_layout_holds_the_spec(layout):
    assert builtin_layouts() == ["school"]
    assert (layout.id, layout.version) == ("school", 1)
    assert [s.name["zh"] for s in layout.sheets] == ["基本信息", "工作计划", "月度安排", "慰问记录", "经费台账", "比赛报名"]
    assert [f.key for f in layout.sheet("ledger").fields] == [
        "date", "voucher", "summary", "category", "subcategory", "income", "expense", "balance", "handler", "note"]
    assert layout.sheet("ledger").rows >= 500
    assert all(s.rows >= 300 for s in layout.tables)
    assert layout.lists["ledger_subcategory"].children["上级补助收入"] == ("回拨补助", "专项补助", "超收补助")
    assert len(layout.lists["ledger_category"].values) == 13
    caps = next(r for r in layout.sheet("care").rules if r.kind == "cap_per_row").params["caps"]
    assert caps["生日"] == 500 and caps["结婚"] == 2000
    assert next(r for r in layout.sheet("entries").rules if r.kind == "cap_count").params["caps"] == {"教学技能比武": 3}


def _school() -> dict:
    return yaml.safe_load(builtin_source("school"))


def _dump(data: dict) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def test_export_round_trips(layout):
    again = parse_layout(builtin_source("school"), "copy.yaml")
    assert again.sheets == layout.sheets and again.lists == layout.lists


def _mutated(path: list, value) -> dict:
    data = _school()
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return data


@pytest.mark.parametrize(("path", "value", "words"), [
    (["sheets", 4, "rules", 2, "fields"], ["voucher_no"], ["sheets[4].rules[2].fields", "voucher_no"]),
    (["lists", "gender"], [], ["lists.gender", "列表为空"]),
    (["lists", "gender"], ["男", "男"], ["lists.gender[1]", "重复"]),
    (["lists", "gender"], ["x" * 256], ["lists.gender[0]", "255"]),
    (["lists", "gender"], [f"v{i}" for i in range(32768)], ["lists.gender", "32767"]),
    (["sheets", 1, "fields", 0, "list"], "no_such_list", ["sheets[1].fields[0].list", "no_such_list"]),
    (["sheets", 1, "fields", 5, "default"], "完成了", ["sheets[1].fields[5].default", "完成了"]),
    (["sheets", 1, "name", "zh"], "计划/2025", ["sheets[1].name.zh"]),
    (["sheets", 1, "fields", 0, "type"], "colour", ["sheets[1].fields[0].type", "colour"]),
    (["sheets", 3, "rules", 0, "caps"], {"生日": 500, "升职": 100}, ["sheets[3].rules[0].caps.升职"]),
    (["sheets", 1, "summary", 0, "formula"], "COUNTA({tasks})", ["sheets[1].summary.count", "tasks"]),
    (["sheets", 1, "rows"], 0, ["sheets[1].rows"]),
])
def test_contradictions_are_refused_with_the_key_path(path, value, words):
    with pytest.raises(LayoutError) as exc:
        parse_layout(_dump(_mutated(path, value)), "mine.yaml")
    message = exc.value.text("zh")
    assert message.startswith("版式文件 mine.yaml 的 ")
    for w in words:
        assert w in message
    assert "mine.yaml" in exc.value.text("en")


def test_duplicate_keys_are_refused():
    text = builtin_source("school").replace("  gender: [男, 女]\n", "  gender: [男, 女]\n  gender: [男]\n")
    with pytest.raises(LayoutError) as exc:
        parse_layout(text, "dup.yaml")
    assert "duplicate key 'gender'" in exc.value.text("zh")


def test_duplicate_field_labels_are_refused():
    data = _school()
    data["sheets"][1]["fields"][1]["label"]["zh"] = "工作类别"
    with pytest.raises(LayoutError, match="表头“工作类别”重复"):
        parse_layout(_dump(data), "mine.yaml")


def test_not_yaml_and_missing_file(tmp_path):
    with pytest.raises(LayoutError, match="不是有效的 YAML"):
        parse_layout("sheets: [", "bad.yaml")
    with pytest.raises(LayoutError, match="找不到版式文件"):
        load_layout(tmp_path / "nope.yaml")
    with pytest.raises(LayoutError, match="没有名为“county”的内置版式"):
        load_layout("county")
