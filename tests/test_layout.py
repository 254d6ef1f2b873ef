"""Layout files: the built-in layout, export, and contradictions refused at load."""

from __future__ import annotations

import re

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
    line = text.splitlines().index("  gender: [男]") + 1
    with pytest.raises(LayoutError) as exc:
        parse_layout(text, "dup.yaml")
    assert exc.value.text("zh").startswith(f"版式文件 dup.yaml 第 {line} 行第 3 列：YAML 格式错误。")
    assert "键“gender”在同一层出现了两次" in exc.value.text("zh")
    assert f"line {line}, column 3" in exc.value.text("en") and "'gender' appears twice" in exc.value.text("en")


def test_duplicate_field_labels_are_refused():
    data = _school()
    data["sheets"][1]["fields"][1]["label"]["zh"] = "工作类别"
    with pytest.raises(LayoutError, match="表头“工作类别”重复"):
        parse_layout(_dump(data), "mine.yaml")


def test_not_yaml_and_missing_file(tmp_path):
    with pytest.raises(LayoutError, match="YAML 格式错误"):
        parse_layout("sheets: [", "bad.yaml")
    with pytest.raises(LayoutError, match="找不到版式文件"):
        load_layout(tmp_path / "nope.yaml")
    with pytest.raises(LayoutError, match="没有名为“county”的内置版式"):
        load_layout("county")


# --------------------------------------------------------------------------- district info columns


def _with_district_column(column: dict) -> dict:
    data = _school()
    data["district"]["columns"].append(column)
    return data


def test_info_columns_accept_number_fields_of_the_info_sheet_and_refuse_the_rest():
    """Issue point 6: an info column names a number field of 基本信息 (any of them), exposed as column.field."""
    data = _school()
    for key in ("members", "staff"):
        data["district"]["columns"].append({"key": f"info_{key}", "label": {"zh": key, "en": key}, "info": key})
    loaded = parse_layout(_dump(data), "mine.yaml")
    info_columns = {c.key: c for c in loaded.district.columns if c.kind == "info"}
    assert {k: (c.field, c.table) for k, c in info_columns.items()} == {
        "opening": ("opening_balance", None), "info_members": ("members", None), "info_staff": ("staff", None)}
    refused = [
        ("no_such_field", ["district.columns[14].info", "基本信息表没有字段“no_such_field”", "members"]),
        ("info.members", ["district.columns[14].info", "只写字段键，如 members"]),
        (["members"], ["district.columns[14].info", "基本信息表没有字段"]),
        ("chair", ["district.columns[14].info", "“chair”是 text 类型", "opening_balance"]),
    ]
    for value, words in refused:
        with pytest.raises(LayoutError) as exc:
            parse_layout(_dump(_with_district_column({"key": "x", "label": {"zh": "x", "en": "x"}, "info": value})), "mine.yaml")
        for w in words:
            assert w in exc.value.text("zh"), (value, exc.value.text("zh"))


# --------------------------------------------------------------------------- rule kinds in their list


def test_a_rule_across_schools_under_rules_is_refused_by_layout_check(tmp_path):
    """Issue point 11: unique_across under a sheet's rules crashed check; `layout check` now refuses it."""
    from click.testing import CliRunner

    from sheetplan.cli import cli

    data = _school()
    data["sheets"][5]["rules"].append({"kind": "unique_across", "code": "duplicate", "fields": ["name"]})
    path = tmp_path / "mine.yaml"
    path.write_text(_dump(data), encoding="utf-8")
    result = CliRunner().invoke(cli, ["layout", "check", str(path)])
    assert result.exit_code == 2, result.output
    assert "sheets[5].rules[6].kind" in result.output and "须写在 merge_rules 下" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("kind", ["unique", "cap_sum", "compare", "cap_count"])
def test_a_per_file_rule_under_merge_rules_is_refused(kind):
    """Issue point 11: a per-file rule kind under merge_rules crashed merge; it is refused, naming `rules`."""
    data = _school()
    data["sheets"][5]["merge_rules"].append({"kind": kind, "fields": ["name"]})
    with pytest.raises(LayoutError) as exc:
        parse_layout(_dump(data), "mine.yaml")
    zh, en = exc.value.text("zh"), exc.value.text("en")
    assert "sheets[5].merge_rules[1].kind" in zh and f"规则“{kind}”检查的是单个文件，须写在 rules 下" in zh
    assert "it belongs under rules" in en


def test_cross_sum_under_rules_points_at_cross_checks():
    """Issue point 11: a layout-level rule kind under a sheet's rules says where it belongs."""
    data = _school()
    data["sheets"][4]["rules"].append(data["cross_checks"][0])
    with pytest.raises(LayoutError, match="sheets\\[4\\].rules\\[5\\].kind.*cross_checks"):
        parse_layout(_dump(data), "mine.yaml")


@pytest.mark.parametrize(("rule", "words"), [
    ({"kind": "unique_across", "code": "duplicate_across_schools", "fields": ["name", "info.org_name"]},
     ["merge_rules[1].fields", "本表的字段"]),
    ({"kind": "unique_across", "code": "duplicate_across_schools", "fields": "name"}, ["merge_rules[1].fields", "字段键的列表"]),
])
def test_merge_rules_that_would_crash_merge_are_refused(rule, words):
    """Issue point 11: merge_rules that merge cannot apply (another sheet's field, a key without brackets)."""
    data = _school()
    data["sheets"][5]["merge_rules"].append(rule)
    with pytest.raises(LayoutError) as exc:
        parse_layout(_dump(data), "mine.yaml")
    for w in words:
        assert w in exc.value.text("zh")


def test_merge_rules_on_a_form_are_refused():
    """Issue point 11: merge only compares table rows, so merge_rules on the info form would never run."""
    data = _school()
    data["sheets"][0]["merge_rules"] = [{"kind": "unique_across", "code": "duplicate_across_schools", "fields": ["chair"]}]
    with pytest.raises(LayoutError, match="sheets\\[0\\].merge_rules.*只用于表格"):
        parse_layout(_dump(data), "mine.yaml")


@pytest.mark.parametrize(("path", "value", "words"), [
    (["sheets", 4, "rules", 2, "fields"], "voucher", ["sheets[4].rules[2].fields", "字段键的列表"]),
    (["sheets", 5, "rules", 1, "when"], {"group": "男子组", "gender": "男"}, ["sheets[5].rules[1].when", "一个条件"]),
    (["sheets", 3, "rules", 0, "by"], ["reason"], ["sheets[3].rules[0].by", "一个字段键"]),
])
def test_rule_parameters_of_the_wrong_shape_are_refused_not_crashed_on(path, value, words):
    """Issue point 11: rule parameters the rules cannot read are refused with their key path (no KeyError)."""
    with pytest.raises(LayoutError) as exc:
        parse_layout(_dump(_mutated(path, value)), "mine.yaml")
    for w in words:
        assert w in exc.value.text("zh")


def test_a_condition_on_an_info_value_is_checked_without_crashing():
    """Issue point 11: `when: {info.year: 2025}` (a 基本信息 value, which the rules read) raised KeyError in layout check."""
    layout = parse_layout(_dump(_mutated(["sheets", 1, "rules", 0, "when"], {"info.year": 2025})), "mine.yaml")
    assert layout.sheet("plan").rules[0].params["when"] == {"info.year": 2025}
    with pytest.raises(LayoutError, match="sheets\\[1\\].rules\\[0\\].when.*info.no_such"):
        parse_layout(_dump(_mutated(["sheets", 1, "rules", 0, "when"], {"info.no_such": 1})), "mine.yaml")


# --------------------------------------------------------------------------- separators typed into a list


@pytest.mark.parametrize(("yaml_list", "item", "sep"), [
    ("[羽毛球，乒乓球，篮球, 排球]", "羽毛球，乒乓球，篮球", "，"),
    ("[羽毛球、乒乓球, 篮球]", "羽毛球、乒乓球", "、"),
    ("[羽毛球；乒乓球, 篮球]", "羽毛球；乒乓球", "；"),
    ("[羽毛球;乒乓球, 篮球]", "羽毛球;乒乓球", ";"),
    ("['羽毛球,乒乓球', 篮球]", "羽毛球,乒乓球", ","),
])
def test_separators_inside_a_list_item_are_refused(yaml_list, item, sep):
    """Issue point 11: [羽毛球，乒乓球，篮球, 排球] made one dropdown item of three; the item is named and the fix shown."""
    text = builtin_source("school")
    old = "  entry_event: [羽毛球, 乒乓球, 篮球, 排球, 拔河, 跳绳, 趣味运动会, 教学技能比武, 简笔画板书设计, 合唱, 其他]\n"
    assert old in text
    text = text.replace(old, f"  entry_event: {yaml_list}\n")
    with pytest.raises(LayoutError) as exc:
        parse_layout(text, "mine.yaml")
    zh, en = exc.value.text("zh"), exc.value.text("en")
    example = ", ".join(p for p in re.split("[，、；;,]", item))
    assert f"lists.entry_event[0]：列表项“{item}”含有“{sep}”" in zh and f"如 [{example}]" in zh
    assert "half-width comma and a space" in en and f"e.g. [{example}]" in en


def test_separators_are_refused_in_dependent_lists_and_cross_check_choices():
    """Issue point 11: the same mistake in a dependent list's children, and in a cross check's `in` choices."""
    data = _school()
    data["lists"]["ledger_subcategory"]["children"]["业务支出"] = ["培训费，会议费", "专项业务费"]
    with pytest.raises(LayoutError, match="lists.ledger_subcategory.children.业务支出\\[0\\].*培训费，会议费"):
        parse_layout(_dump(data), "mine.yaml")
    data = _school()
    data["cross_checks"][0]["right"]["any_of"][0]["in"] = ["职工集体福利支出，送温暖费"]
    with pytest.raises(LayoutError, match="cross_checks\\[0\\].right.any_of\\[0\\].in.*不在字段 subcategory 的列表中"):
        parse_layout(_dump(data), "mine.yaml")


@pytest.mark.parametrize(("path", "words"), [
    (["sheets", 4, "rules", 2], ["sheets[4].rules[2].code", "问题代码“unique”不在问题代码表中"]),
    (["sheets", 5, "merge_rules", 0], ["sheets[5].merge_rules[0].code", "“unique_across”"]),
    (["cross_checks", 0], ["cross_checks[0].code", "“cross_sum”"]),
])
def test_a_rule_without_a_catalogued_problem_code_is_refused(path, words):
    """Issue point 11: a rule whose code is not a catalogued problem code (the kind, when code is left out)
    passed layout check and raised KeyError in check or merge the first time it found something."""
    data = _school()
    node = data
    for key in path:
        node = node[key]
    del node["code"]
    with pytest.raises(LayoutError) as exc:
        parse_layout(_dump(data), "mine.yaml")
    for w in words:
        assert w in exc.value.text("zh")
    data = _school()
    node = data
    for key in path:
        node = node[key]
    node["code"] = "made_up_code"
    with pytest.raises(LayoutError, match="made_up_code"):
        parse_layout(_dump(data), "mine.yaml")


# --------------------------------------------------------------------------- issue point 19: YAML errors in plain words


def _broken(line_no: int, new_line: str) -> tuple[str, str]:
    """The built-in layout with its line ``line_no`` (1-based) replaced by ``new_line``; and the line it replaced."""
    lines = builtin_source("school").splitlines()
    old = lines[line_no - 1]
    lines[line_no - 1] = new_line
    return "\n".join(lines) + "\n", old


def _line_of(prefix: str) -> int:
    return next(i for i, line in enumerate(builtin_source("school").splitlines(), start=1) if line.startswith(prefix))


@pytest.mark.parametrize(("edit", "column", "zh", "en"), [
    # a text holding ": " without quotes
    (lambda line: line.replace("title: {zh: 学校工会年度工作台账", "title: 工会: 台账 {zh: 学校工会年度工作台账"), None,
     "冒号加空格", "colon followed by a space"),
    # a list whose closing bracket was deleted
    (lambda line: line.rstrip("]"), None, "方括号", "list in [ ]"),
    # a line indented by a tab
    (lambda line: "\t" + line.lstrip(), 1, "制表符", "tab character"),
])
def test_a_yaml_syntax_error_names_file_line_and_column_in_chinese(edit, column, zh, en):
    """Issue point 19: PyYAML's syntax error (English, technical) becomes `版式文件 mine.yaml 第 N 行第 M 列：YAML 格式错误。…`
    with what is wrong in plain words; English with --lang en. LayoutError carries both."""
    prefix = {"冒号加空格": "title:", "方括号": "  gender:", "制表符": "  gender:"}[zh]
    line_no = _line_of(prefix)
    text, old = _broken(line_no, edit(builtin_source("school").splitlines()[line_no - 1]))
    with pytest.raises(LayoutError) as exc:
        parse_layout(text, "mine.yaml")
    message_zh, message_en = exc.value.text("zh"), exc.value.text("en")
    found = re.match(r"版式文件 mine\.yaml 第 (\d+) 行第 (\d+) 列：YAML 格式错误。", message_zh)
    assert found, message_zh
    assert zh in message_zh and en in message_en, (message_zh, message_en)
    assert re.search(r"Layout file mine\.yaml, line \d+, column \d+: YAML syntax error", message_en), message_en
    if column is not None:
        assert (int(found.group(1)), int(found.group(2))) == (line_no, column)
    assert int(found.group(1)) == line_no  # the broken line (for a bracket left open: where it opened)
    assert f"line {line_no}," in message_en, message_en
    assert "mapping values" not in message_zh and "expected" not in message_zh  # no PyYAML English in the Chinese


def test_layout_check_says_it_in_the_chosen_language(tmp_path):
    """Issue point 19: `layout check` on a file with a syntax error: exit 2, one line in Chinese, English with --lang en."""
    from click.testing import CliRunner

    from sheetplan.cli import cli

    path = tmp_path / "mine.yaml"
    path.write_text("id: school\nversion: 1\ntitle: {zh: a, en: b\nlists: {}\n", encoding="utf-8")
    zh = CliRunner().invoke(cli, ["layout", "check", str(path)])
    en = CliRunner().invoke(cli, ["layout", "check", str(path), "--lang", "en"])
    assert zh.exit_code == en.exit_code == 2
    assert "版式文件 mine.yaml 第 3 行第 8 列：YAML 格式错误。" in zh.output and "Traceback" not in zh.output
    assert "Layout file mine.yaml, line 3, column 8: YAML syntax error" in en.output and "格式错误" not in en.output


def test_the_line_number_is_the_line_that_lacks_its_colon():
    """Issue point 19: for a key without its colon the message points at that line, not the next one."""
    with pytest.raises(LayoutError) as exc:
        parse_layout("id: school\nversion 1\ntitle: {zh: a, en: b}\n", "mine.yaml")
    assert exc.value.text("zh").startswith("版式文件 mine.yaml 第 2 行第 1 列：YAML 格式错误。找不到应有的冒号")
    assert "“version 1”" in exc.value.text("zh")


def test_a_yaml_error_from_a_file_names_the_file(tmp_path):
    """Issue point 19: load_layout on a file gives the same message, naming the file as the user typed it."""
    path = tmp_path / "mine.yaml"
    path.write_text("id: school\nlists:\n  a: [1\n  b: 2\n", encoding="utf-8")
    with pytest.raises(LayoutError) as exc:
        load_layout(path)
    assert exc.value.text("zh").startswith("版式文件 mine.yaml 第 3 行第 6 列：YAML 格式错误。这里开始的方括号 [ ] 列表")
    assert "“a: [1”" in exc.value.text("zh")  # the line where the bracket opened
    assert exc.value.exit_code == 2


# --------------------------------------------------------------------------- issue point 20: an edited copy's identity


def test_the_fingerprint_ignores_formatting_and_follows_content():
    """Issue point 20: Layout.fingerprint (12 hex digits) is the same for the built-in layout however it is written
    (comments, spacing, key order, derived_from) and changes with any cap, list or label."""
    builtin = load_layout("school")
    assert re.fullmatch(r"[0-9a-f]{12}", builtin.fingerprint)
    reformatted = parse_layout(_dump(_school()), "copy.yaml")  # no comments, other spacing and quoting
    data = _school()
    reordered = parse_layout(_dump(dict(reversed(list(data.items())))), "copy.yaml")
    assert builtin.fingerprint == reformatted.fingerprint == reordered.fingerprint
    assert builtin.edition == f"school@1#{builtin.fingerprint}"
    for path, value in ((["sheets", 3, "rules", 0, "caps", "生日"], 600), (["lists", "gender"], ["女", "男"]),
                        (["title", "zh"], "新桥区学校工会台账")):
        assert parse_layout(_dump(_mutated(path, value)), "mine.yaml").fingerprint != builtin.fingerprint, path


def test_export_marks_the_copy_and_an_unedited_export_is_the_builtin_layout():
    """Issue point 20: `layout export` text (export_source) carries derived_from: school@1 and asks for an id of the
    district's own; unchanged, it is still the built-in layout by fingerprint, without a notice."""
    from sheetplan.layout import export_source

    text = export_source("school")
    assert "\nderived_from: school@1\n" in text and "请把 id 改成本区自己的名称" in text
    copy = parse_layout(text, "mine.yaml")
    builtin = load_layout("school")
    assert (copy.id, copy.version, copy.derived_from, copy.notices) == ("school", 1, "school@1", ())
    assert copy.fingerprint == builtin.fingerprint and builtin.derived_from is None
    renamed = parse_layout(text.replace("\nid: school\n", "\nid: xinqiao_school\n"), "mine.yaml")
    assert (renamed.id, renamed.derived_from, renamed.notices) == ("xinqiao_school", "school@1", ())
    assert renamed.fingerprint != builtin.fingerprint


def test_an_edited_copy_that_keeps_the_builtin_id_is_loaded_with_a_notice(tmp_path):
    """Issue point 20: the decision — a file keeping `id: school` while differing from the built-in layout is loaded
    (districts already sent out templates made from such copies), with a notice in both languages that names the
    file, both fingerprints and what to do; its own fingerprint keeps its workbooks apart from the built-in's."""
    path = tmp_path / "mine.yaml"
    path.write_text(builtin_source("school").replace("caps: {生日: 500, ", "caps: {生日: 600, "), encoding="utf-8")
    mine, builtin = load_layout(path), load_layout("school")
    assert mine.id == builtin.id == "school" and mine.fingerprint != builtin.fingerprint
    ((zh, en),) = mine.notices
    assert "mine.yaml" in zh and "id: school" in zh and mine.fingerprint in zh and builtin.fingerprint in zh
    assert "请在生成新模板之前，把 id 改成本区自己的名称" in zh and "derived_from: school@1" in zh
    assert "mine.yaml" in en and "keeps the id of the built-in layout" in en and builtin.fingerprint in en
    assert builtin.notices == ()
    with_origin = parse_layout(path.read_text(encoding="utf-8").replace("version: 1\n", "version: 1\nderived_from: school@1\n", 1),
                               "mine.yaml")
    assert with_origin.notices and "加上一行" not in with_origin.notices[0][0]  # it has the line already


def test_derived_from_must_name_a_layout_and_version():
    """Issue point 20: derived_from reads <id>@<version>; anything else is refused with the key path."""
    data = _school()
    data["derived_from"] = "school v1"
    with pytest.raises(LayoutError) as exc:
        parse_layout(_dump(data), "mine.yaml")
    assert exc.value.text("zh").startswith("版式文件 mine.yaml 的 derived_from：") and "school@1" in exc.value.text("zh")
