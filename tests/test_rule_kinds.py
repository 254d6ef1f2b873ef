"""Every rule kind of the school layout over records built in memory: no workbook, no LibreOffice.

For each kind: a row that breaks the rule is reported (code, severity, message, the cell it points at),
a row that keeps it is not. The records are the reader's own classes, placed where the template puts
each field, so a cell here is the cell of the same row in a real workbook. tests/test_rules_lo.py is the
end-to-end proof through LibreOffice.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

from sheetplan.layout import Layout, Rule, builtin_source, load_layout, parse_layout
from sheetplan.layout.geometry import FIRST_DATA_ROW, col_letter, column_of, data_cell, form_cell
from sheetplan.reading.workbook import Columns, Record, Table, WorkbookData
from sheetplan.rules import KINDS, apply_rules, check_across
from sheetplan.rules.apply import check_dependent_lists
from sheetplan.rules.context import FileContext, WorkbookContext

D = dt.date.fromisoformat


# --------------------------------------------------------------------------- records in memory


def _records(layout: Layout, key: str, rows: list[dict[str, Any]], raw: dict[int, dict[str, Any]] | None = None,
             leave_out: tuple[str, ...] = ()) -> Table:
    """Table ``key`` holding ``rows`` (typed values) in the template's columns; ``raw`` overrides cells as typed.

    ``leave_out``: fields whose columns the sheet lacks.
    """
    sheet = layout.sheet(key)
    keys = [f.key for f in sheet.fields if f.key not in leave_out]
    cols = {k: column_of(sheet, k) for k in keys}
    where = Columns(tuple(cols.items()), tuple((k, col_letter(c)) for k, c in cols.items()))
    width = max(cols.values()) + 1
    records = []
    for i, values in enumerate(rows):
        line: list[Any] = [""] * width
        typed = {**values, **(raw or {}).get(i, {})}
        for k, v in typed.items():
            if k in cols and v is not None:
                line[cols[k]] = v
        records.append(Record(FIRST_DATA_ROW + 1 + i, {k: values.get(k) for k in keys}, line, where))
    return Table(key, sheet.name["zh"], FIRST_DATA_ROW, cols, records)


def workbook(layout: Layout, tables: dict[str, list[dict[str, Any]]] | None = None,
             info: dict[str, Any] | None = None, **table_kw: Any) -> WorkbookData:
    """A read workbook of ``layout`` holding ``tables`` (key → rows) and the 基本信息 values ``info``."""
    data = WorkbookData(Path("memory.xlsx"), "memory.xlsx", layout, kind="xlsx")
    form = layout.sheet("info")
    data.info = {"org_name": "规则小学", "org_code": "R001", "year": 2025, **(info or {})}
    data.info_raw = dict(data.info)
    data.info_cells = {f.key: form_cell(form, f.key) for f in form.fields}
    data.info_sheet = form.name["zh"]
    data.tables = {k: _records(layout, k, rows, **table_kw) for k, rows in (tables or {}).items()}
    return data


def run(layout: Layout, rule: Rule, data: WorkbookData) -> list:
    """The problems one rule reports on ``data``."""
    sheet = layout.sheet(rule.sheet) if rule.sheet else None
    kind = KINDS[rule.kind]
    if kind.scope == "workbook":
        kind.check(WorkbookContext(data, rule))
    else:
        kind.check(FileContext(data, sheet, data.tables.get(rule.sheet) if sheet.kind == "table" else None, rule))
    return list(data.report)


def school_rule(layout: Layout, sheet: str, kind: str, nth: int = 0) -> Rule:
    return [r for r in layout.sheet(sheet).rules if r.kind == kind][nth]


def where(layout: Layout, sheet: str, key: str, index: int) -> str:
    return data_cell(layout.sheet(sheet), key, index)


def one(problems: list) -> Any:
    assert len(problems) == 1, [(p.code, p.cell, p.message_zh) for p in problems]
    return problems[0]


@pytest.fixture(scope="module")
def school() -> Layout:
    return load_layout("school")


# --------------------------------------------------------------------------- compare


def test_compare_on_the_form_fires_at_its_first_field(school):
    rule = school_rule(school, "info", "compare")
    p = one(run(school, rule, workbook(school, info={"members": 80, "staff": 60})))
    assert (p.code, p.severity, p.sheet, p.cell, p.field, p.row) == ("members_exceed_staff", "warning", "基本信息",
                                                                     form_cell(school.sheet("info"), "members"), "members", None)
    assert p.message_zh == "会员人数 80 人，多于在职职工人数 60 人。"
    assert p.message_en == "Members 80 is more than Staff 60."
    assert run(school, rule, workbook(school, info={"members": 60, "staff": 60})) == []
    assert run(school, rule, workbook(school, info={"members": 80})) == []  # nothing to compare with


def test_compare_with_a_factor_is_over_budget(school):
    rule = school_rule(school, "schedule", "compare", 1)
    rows = [{"month": 6, "activity": "端午", "budget": 1000.0, "spent": 1300.0},
            {"month": 6, "activity": "端午", "budget": 1000.0, "spent": 1200.0}]  # exactly 1.2 ×: kept
    p = one(run(school, rule, workbook(school, {"schedule": rows})))
    assert (p.code, p.severity, p.cell, p.row) == ("over_budget", "warning", where(school, "schedule", "spent", 0), 3)
    assert p.message_zh == "实际支出 1,300 元，超过预算 1,000 元的 1.2 倍（1,200 元）。"
    assert p.message_en == "Spent 1,300 yuan is more than 1.2 times Budget 1,000 yuan (1,200 yuan)."


def test_compare_with_a_form_value(school):
    rule = school_rule(school, "schedule", "compare", 0)
    rows = [{"month": 5, "activity": "运动会", "actual_people": 100}, {"month": 5, "activity": "会", "actual_people": 80}]
    p = one(run(school, rule, workbook(school, {"schedule": rows}, info={"members": 80})))
    assert (p.code, p.cell) == ("over_members", where(school, "schedule", "actual_people", 0))
    assert p.message_zh == "实际人数 100 人，多于会员人数 80 人。"


# --------------------------------------------------------------------------- required_if, requires_value, max_when


def test_required_if(school):
    rule = school_rule(school, "plan", "required_if")
    rows = [{"category": "文体活动", "task": "踏青", "status": "已完成"},
            {"category": "文体活动", "task": "三八节", "status": "已完成", "done_on": D("2025-03-08")},
            {"category": "文体活动", "task": "座谈", "status": "进行中"},
            {"category": "文体活动", "task": "读书会", "status": "已完成"}]
    # the last row's 完成日期 is text that could not be read: it has its own problem, not this one
    p = one(run(school, rule, workbook(school, {"plan": rows}, raw={3: {"done_on": "上个月"}})))
    assert (p.code, p.severity, p.cell, p.field) == ("required", "error", where(school, "plan", "done_on", 0), "done_on")
    assert p.message_zh == "完成情况为“已完成”时必须填写完成日期。"
    assert p.message_en == "Done on is required when Status is 已完成."


def test_requires_value_is_gender_group_mismatch(school):
    rule = school_rule(school, "entries", "requires_value", 1)  # 女子组 → 女
    rows = [{"event": "乒乓球", "group": "女子组", "name": "王强", "gender": "男"},
            {"event": "乒乓球", "group": "女子组", "name": "林芳", "gender": "女"},
            {"event": "乒乓球", "group": "男子组", "name": "陈明", "gender": "男"},
            {"event": "乒乓球", "group": "女子组", "name": "某某"}]  # no gender: nothing to compare
    p = one(run(school, rule, workbook(school, {"entries": rows})))
    assert (p.code, p.severity, p.cell, p.field) == ("gender_group_mismatch", "error", where(school, "entries", "group", 0), "group")
    assert p.message_zh == "组别是“女子组”，性别应为“女”，这里填的是“男”。"
    assert p.message_en == "Group is 女子组, so Gender should be 女, not 男."


def test_max_when(school):
    rule = school_rule(school, "entries", "max_when")
    rows = [{"event": "跳绳", "group": "青年组(35岁以下)", "name": "林芳", "gender": "女", "age": 40},
            {"event": "跳绳", "group": "青年组(35岁以下)", "name": "张三", "gender": "男", "age": 35},
            {"event": "跳绳", "group": "不分组", "name": "李四", "gender": "男", "age": 60}]
    p = one(run(school, rule, workbook(school, {"entries": rows})))
    assert (p.code, p.cell) == ("out_of_range", where(school, "entries", "age", 0))
    assert p.message_zh == "组别为“青年组(35岁以下)”时，年龄不能超过 35 岁，这里填的是 40 岁。"
    assert p.message_en == "When Group is 青年组(35岁以下), Age may be at most 35; it is 40."


# --------------------------------------------------------------------------- dates


def test_same_month_is_month_mismatch_at_the_first_column(school):
    rule = school_rule(school, "schedule", "same_month")
    rows = [{"month": 4, "date": D("2025-03-08"), "activity": "踏青"}, {"month": 3, "date": D("2025-03-08"), "activity": "三八节"},
            {"month": 4, "activity": "没有日期"}]
    p = one(run(school, rule, workbook(school, {"schedule": rows})))
    assert (p.code, p.severity, p.cell, p.field) == ("month_mismatch", "error", where(school, "schedule", "month", 0), "month")
    assert p.message_zh == "活动日期 2025-03-08 不在 4 月，与所填月份不符。"
    assert p.message_en == "Date 2025-03-08 is not in month 4, the Month given."


def test_repeat_within(school):
    rule = school_rule(school, "care", "repeat_within")
    rows = [{"date": D("2025-03-01"), "member": "赵老师", "reason": "生病住院", "amount": 500.0},
            {"date": D("2025-03-20"), "member": "赵老师", "reason": "生病住院", "amount": 500.0},
            {"date": D("2025-05-20"), "member": "赵老师", "reason": "生病住院", "amount": 500.0},
            {"date": D("2025-03-21"), "member": "赵老师", "reason": "生日", "amount": 200.0}]
    p = one(run(school, rule, workbook(school, {"care": rows})))
    assert (p.code, p.severity, p.cell) == ("repeat_visit", "warning", where(school, "care", "date", 1))
    assert p.message_zh == ("慰问对象“赵老师”、慰问事由“生病住院”在 30 天内又登记了一次（上次 2025-03-01，这次 2025-03-20），"
                            "请核对是否重复。")


def test_not_descending(school):
    rule = school_rule(school, "ledger", "not_descending")
    rows = [{"date": D("2025-01-12"), "summary": "a", "category": "其他收入", "income": 5.0},
            {"date": D("2025-01-02"), "summary": "b", "category": "其他收入", "income": 5.0},
            {"date": D("2025-01-03"), "summary": "c", "category": "其他收入", "income": 5.0}]
    p = one(run(school, rule, workbook(school, {"ledger": rows})))
    assert (p.code, p.severity, p.cell) == ("date_order", "warning", where(school, "ledger", "date", 1))
    assert p.message_zh == "日期 2025-01-02 早于上一笔（第 3 行 2025-01-12），请按先后顺序登记。"


# --------------------------------------------------------------------------- caps


def test_cap_per_row(school):
    rule = school_rule(school, "care", "cap_per_row")
    rows = [{"date": D("2025-02-01"), "member": "王老师", "reason": "生日", "amount": 400.0, "goods_value": 200.0},
            {"date": D("2025-02-02"), "member": "李老师", "reason": "结婚", "amount": 2000.0},
            {"date": D("2025-02-03"), "member": "张老师", "reason": "节日慰问", "amount": 9000.0}]  # no cap per row
    p = one(run(school, rule, workbook(school, {"care": rows})))
    assert (p.code, p.severity, p.cell) == ("cap_exceeded", "error", where(school, "care", "amount", 0))
    assert p.message_zh == "慰问事由“生日”：慰问金和慰问品价值合计 600 元，超过每次上限 500 元。"
    assert p.message_en == "Reason 生日: Cash and Goods value total 600 yuan, over the cap of 500 yuan each time."


def test_cap_sum(school):
    rule = school_rule(school, "care", "cap_sum")
    rows = [{"date": D("2025-01-10"), "member": "张老师", "reason": "节日慰问", "amount": 1500.0},
            {"date": D("2025-02-10"), "member": "张老师", "reason": "生日", "amount": 500.0},
            {"date": D("2025-09-10"), "member": "张老师", "reason": "节日慰问", "goods_value": 800.0},
            {"date": D("2025-09-10"), "member": "李老师", "reason": "节日慰问", "amount": 2200.0}]
    p = one(run(school, rule, workbook(school, {"care": rows})))
    assert (p.code, p.cell) == ("cap_exceeded", where(school, "care", "amount", 2))
    assert p.message_zh == "张老师全年节日慰问的慰问金和慰问品价值累计 2,300 元，超过全年上限 2,200 元。"


def test_cap_count(school):
    rule = school_rule(school, "entries", "cap_count")
    rows = [{"event": "教学技能比武", "name": n, "gender": "女"} for n in "甲乙丙丁"]
    rows += [{"event": "羽毛球", "name": n, "gender": "男"} for n in "一二三四五六七八"]  # 8: the general cap
    p = one(run(school, rule, workbook(school, {"entries": rows})))
    assert (p.code, p.severity, p.cell) == ("cap_exceeded", "error", where(school, "entries", "event", 3))
    assert p.message_zh == "“教学技能比武”本校已报 4 人，超过每校限报 3 人。"
    assert p.message_en == "'教学技能比武': this school has entered 4, over the limit of 3 per school."
    rows.append({"event": "羽毛球", "name": "九", "gender": "男"})
    assert [p.cell for p in run(school, rule, workbook(school, {"entries": rows}))] == [
        where(school, "entries", "event", 3), where(school, "entries", "event", 12)]


def test_cap_distinct(school):
    rule = school_rule(school, "entries", "cap_distinct")
    rows = [{"event": e, "name": "周杰", "gender": "男"} for e in ("篮球", "排球", "篮球", "拔河")]
    p = one(run(school, rule, workbook(school, {"entries": rows})))
    # the same event twice counts once; 比赛项目 stands before 姓名
    assert (p.code, p.cell) == ("cap_exceeded", where(school, "entries", "event", 3))
    assert p.message_zh == "周杰已报 3 个比赛项目（篮球、排球、拔河），每人最多 2 个。"
    assert p.message_en == "周杰 has entered 3 of Event (篮球, 排球, 拔河); at most 2 per person."


# --------------------------------------------------------------------------- the ledger


def _ledger(**values: Any) -> dict[str, Any]:
    return {"date": D("2025-01-05"), "summary": "一笔", "category": "会费收入", **values}


def test_exactly_one(school):
    rule = school_rule(school, "ledger", "exactly_one")
    rows = [_ledger(income=10.0, expense=10.0), _ledger(), _ledger(income=0.0), _ledger(income=10.0), _ledger(),
            _ledger(expense=5.0, category="业务支出")]
    found = run(school, rule, workbook(school, {"ledger": rows}, raw={4: {"expense": "一千"}}))  # unreadable: skipped
    assert [(p.code, p.cell) for p in found] == [("income_expense_both_or_none", where(school, "ledger", "income", i))
                                                 for i in range(3)]
    assert [p.message_zh for p in found] == ["收入和支出都填了，一笔只能填其中一栏。",
                                             "收入和支出都没有填，请填其中一栏。",
                                             "收入填的是 0，金额应大于 0。"]
    assert [p.message_en for p in found] == ["Both Income and Expense are filled: one entry fills only one of them.",
                                             "Income and Expense are empty: fill one of them.",
                                             "Income is 0: the amount must be more than 0."]


def test_direction_points_at_the_filled_amount(school):
    rule = school_rule(school, "ledger", "direction")
    rows = [_ledger(expense=100.0), _ledger(category="职工活动支出", income=100.0), _ledger(income=100.0),
            _ledger(category="职工活动支出", expense=100.0)]
    found = run(school, rule, workbook(school, {"ledger": rows}))
    assert [(p.code, p.severity, p.cell) for p in found] == [
        ("direction_mismatch", "error", where(school, "ledger", "expense", 0)),
        ("direction_mismatch", "error", where(school, "ledger", "income", 1))]
    assert found[0].message_zh == "“会费收入”是收入科目，金额应填在收入栏，却填在了支出栏。"
    assert found[1].message_zh == "“职工活动支出”是支出科目，金额应填在支出栏，却填在了收入栏。"
    assert found[0].message_en == "'会费收入' is an income category: the amount belongs in Income, not Expense."


def test_unique(school):
    rule = school_rule(school, "ledger", "unique")
    rows = [_ledger(voucher="V1", income=5.0), _ledger(voucher="V2", income=5.0), _ledger(voucher="V1", income=5.0),
            _ledger(income=5.0), _ledger(income=5.0), _ledger(voucher="V1", income=5.0)]
    found = run(school, rule, workbook(school, {"ledger": rows}))
    assert [(p.code, p.cell) for p in found] == [("duplicate", where(school, "ledger", "voucher", i)) for i in (2, 5)]
    assert found[0].message_zh == "凭证号“V1”与第 3 行重复。"
    assert found[0].message_en == "Voucher no. 'V1' repeats row 3."


def test_unique_over_two_fields(school):
    rule = school_rule(school, "entries", "unique")
    rows = [{"event": "羽毛球", "name": "陈明", "gender": "男"}, {"event": "乒乓球", "name": "陈明", "gender": "男"},
            {"event": "羽毛球", "name": "陈明", "gender": "男"}]
    p = one(run(school, rule, workbook(school, {"entries": rows})))
    assert (p.cell, p.message_zh) == (where(school, "entries", "event", 2), "比赛项目“羽毛球”、姓名“陈明”与第 3 行重复。")


def test_nonnegative_balance_once_per_dip(school):
    rule = school_rule(school, "ledger", "nonnegative_balance")
    rows = [_ledger(income=5.0, balance=b) for b in (100.0, -50.0, -20.0, 10.0, -3572.46)]
    found = run(school, rule, workbook(school, {"ledger": rows}))
    assert [(p.code, p.severity, p.cell) for p in found] == [
        ("negative_balance", "warning", where(school, "ledger", "balance", i)) for i in (1, 4)]
    assert found[1].message_zh == "记入这一笔后，余额为 -3,572.46 元，成了负数，请核对收支。"
    assert found[1].message_en == "After this entry the balance is -3,572.46 yuan, below zero: check the entries."


def test_dependent_lists_are_subcategory_mismatch(school):
    rows = [_ledger(category="职工活动支出", subcategory="培训费", expense=1.0),
            _ledger(category="职工活动支出", subcategory="文体活动支出", expense=1.0),
            _ledger(category="会费收入", subcategory="培训费", income=1.0)]
    data = workbook(school, {"ledger": rows})
    check_dependent_lists(data, school.sheet("ledger"), data.tables["ledger"])
    found = list(data.report)
    assert [(p.code, p.severity, p.cell) for p in found] == [
        ("subcategory_mismatch", "error", where(school, "ledger", "subcategory", i)) for i in (0, 2)]
    assert found[0].message_zh == ("明细科目“培训费”不属于收支科目“职工活动支出”，"
                                   "可选：职工教育支出、文体活动支出、宣传活动支出、职工集体福利支出、其他活动支出。")
    assert found[1].message_zh == "明细科目“培训费”不属于收支科目“会费收入”；“会费收入”没有明细科目，请留空。"
    assert found[1].message_en == ("Sub-category '培训费' does not belong to Category '会费收入', which has none: "
                                   "leave it empty.")
    records = data.tables["ledger"].records
    assert records[0].values["subcategory"] is None and records[1].values["subcategory"] == "文体活动支出"


# --------------------------------------------------------------------------- across tables and across schools


def test_cross_sum_compares_accepted_rows(school):
    rule = school.cross_checks[0]  # 慰问金 = the ledger's care expenses
    care = [{"date": D("2025-02-01"), "member": "王老师", "reason": "结婚", "amount": 2000.0},
            {"date": D("2025-02-02"), "member": "李老师", "reason": "生日", "amount": 500.0}]
    ledger = [_ledger(category="维权支出", subcategory="送温暖费", expense=2000.0),
              _ledger(category="其他支出", summary="慰问李老师", expense=500.0)]
    assert run(school, rule, workbook(school, {"care": care, "ledger": ledger})) == []
    data = workbook(school, {"care": care, "ledger": ledger[:1]})
    p = one(run(school, rule, data))
    assert (p.code, p.severity, p.sheet, p.cell, p.table, p.value) == (
        "care_ledger_mismatch", "warning", "慰问记录", None, "care", "2,500 / 2,000")
    assert p.message_zh == "慰问记录的慰问金合计 2,500 元，与经费台账中相应的支出 2,000 元不一致。"
    assert p.message_en == ("The Cash total of Care visits, 2,500 yuan, differs from the matching Expense in Fund ledger, "
                            "2,000 yuan.")
    data = workbook(school, {"care": care, "ledger": ledger[:1]})
    data.tables["care"].records[1].rejected = True  # a rejected row is left out of the total
    assert run(school, rule, data) == []


def test_cross_sum_left_not_greater(school):
    rule = school.cross_checks[1]
    schedule = [{"month": 6, "activity": "端午", "spent": 1300.0}]
    ledger = [_ledger(category="职工活动支出", expense=1200.0)]
    p = one(run(school, rule, workbook(school, {"schedule": schedule, "ledger": ledger})))
    assert p.message_zh == "月度安排的实际支出合计 1,300 元，多于经费台账中相应的支出 1,200 元。"
    ledger[0]["expense"] = 1300.0
    assert run(school, rule, workbook(school, {"schedule": schedule, "ledger": ledger})) == []


# --------------------------------------------------------------------------- tables left empty


def _filled(school: Layout, empty: tuple[str, ...] = ()) -> dict[str, list[dict[str, Any]]]:
    """One row in every table of the school layout, none in the tables named in ``empty``."""
    one_row = {"plan": {"category": "文体活动", "task": "教工踏青"}, "schedule": {"month": 4, "activity": "踏青"},
               "care": {"date": D("2025-02-01"), "member": "王老师", "reason": "生日", "amount": 200.0},
               "ledger": _ledger(), "entries": {"event": "跳绳", "name": "陈明", "gender": "男"}}
    return {s.key: [] if s.key in empty else [one_row[s.key]] for s in school.tables}


def test_empty_tables_flags_a_table_without_rows(school):
    """Issue point 6: a table without a single row is flagged at its sheet, unless 基本信息 says it had nothing."""
    rule = school_rule(school, "info", "empty_tables")
    assert run(school, rule, workbook(school, _filled(school))) == []
    p = one(run(school, rule, workbook(school, _filled(school, ("entries",)))))
    assert (p.code, p.severity, p.sheet, p.cell, p.table) == ("empty_table", "warning", "比赛报名", None, "entries")
    assert p.message_zh == "比赛报名一行也没有填写。本年度确实没有的，请在基本信息的“本年度无此项”中写上“比赛报名”。"
    assert p.message_en == ("Competition entries has no rows. If there was nothing this year, write 'Competition entries' "
                            "under 'Nothing to report this year' on Basic info.")
    # said on 基本信息 (in either language, with any separator, width-folded): no warning
    for said in ("比赛报名", " 慰问记录、比赛报名 ", "Competition entries", "ｅｎｔｒｉｅｓ;care"):
        data = workbook(school, _filled(school, ("entries", "care")), info={"nothing_to_report": said})
        found = run(school, rule, data)
        assert "entries" not in [p.table for p in found], said
        assert not any("不是表名" in p.message_zh for p in found), said  # every word was understood
    data = workbook(school, _filled(school, ("care",)), info={"nothing_to_report": "比赛报名"})
    assert [p.table for p in run(school, rule, data)] == ["care"]  # only the table it names is excused


def test_empty_tables_names_the_words_it_did_not_understand(school):
    """Issue point 6: a name that is no table's (a typo) is quoted back with the names to choose from."""
    rule = school_rule(school, "info", "empty_tables")
    data = workbook(school, _filled(school, ("care",)), info={"nothing_to_report": "慰问纪录"})
    p = one(run(school, rule, data))
    assert p.table == "care"
    assert p.message_zh.endswith("（“本年度无此项”中的“慰问纪录”不是表名，可填：工作计划、月度安排、慰问记录、经费台账、比赛报名。）")


def test_empty_tables_says_once_that_the_whole_workbook_is_empty(school):
    """Issue point 6: the template sent back untouched is one empty_submission at the 基本信息 line, not a warning
    per table; a table it names as having nothing still leaves the others flagged one by one."""
    rule = school_rule(school, "info", "empty_tables")
    everything = tuple(s.key for s in school.tables)
    p = one(run(school, rule, workbook(school, _filled(school, everything))))
    assert (p.code, p.severity, p.sheet, p.cell, p.field) == (
        "empty_submission", "warning", "基本信息", form_cell(school.sheet("info"), "nothing_to_report"), "nothing_to_report")
    assert p.message_zh.startswith("各表都没有填写，这像是一份没有填过的空白工作簿。")
    data = workbook(school, _filled(school, everything), info={"nothing_to_report": "比赛报名"})
    assert sorted(p.table for p in run(school, rule, data)) == ["care", "ledger", "plan", "schedule"]
    assert {p.code for p in run(school, rule, workbook(school, _filled(school, everything),
                                                       info={"nothing_to_report": "比赛报名"}))} == {"empty_table"}


def test_empty_tables_leaves_a_missing_sheet_to_missing_sheet(school):
    """Issue point 6: a table the file lacks is reported as missing_sheet by the reader, not as empty here."""
    rule = school_rule(school, "info", "empty_tables")
    tables = _filled(school)
    del tables["entries"]
    assert run(school, rule, workbook(school, tables)) == []


def _stored(layout: Layout, org: tuple[str, str], source_row: int, values: dict[str, Any]) -> tuple:
    """A row as merge stores it: org_code, org_name, values in field order, source_file, source_row."""
    keys = [f.key for f in layout.sheet("entries").fields]
    return (*org, *(values.get(k) for k in keys), f"{org[0]}.xlsx", source_row)


def test_unique_across_over_plain_rows(school):
    rule = school.sheet("entries").merge_rules[0]
    person = {"event": "跳绳", "name": "陈明", "gender": "男", "phone": "13812345678"}
    s1, s2, s3 = ("S1", "一校"), ("S2", "二校"), ("S3", "三校")
    rows = [_stored(school, s1, 3, person), _stored(school, s1, 4, {**person, "event": "篮球"}),  # one school: fine
            _stored(school, s2, 7, person), _stored(school, s3, 3, {**person, "phone": None}),  # no phone: not compared
            _stored(school, s3, 4, {**person, "name": "李四"})]
    found = check_across(rule, school.sheet("entries"), rows)
    assert len(found) == 1
    p = found[0]
    assert (p.code, p.severity, p.org_code, p.source_file, p.row, p.field, p.value) == (
        "duplicate_across_schools", "warning", "S2", "S2.xlsx", 7, "name", "陈明、13812345678")
    assert p.zh == "姓名“陈明”、联系电话“13812345678”也由一校（S1）报名。"
    assert p.en == "Name '陈明', Phone '13812345678' is also entered by 一校 (S1)."


def test_check_across_gives_what_merge_reports(school, tmp_path):
    """Over the rows a real merge stores, check_across finds the problems merge reports, at the same cells,
    in the same words: merge can call it instead of its own loop."""
    import openpyxl

    from sheetplan.merge import merge
    from sheetplan.write import Org, write_template

    entries = school.sheet("entries")
    people = [("跳绳", "陈明", "男", "13812345678"), ("篮球", "李四", "男", "13812345679")]
    inbox = tmp_path / "in"
    inbox.mkdir()
    for code, name, rows in (("S1", "一校", people), ("S2", "二校", people), ("S3", "三校", people[1:])):
        path = inbox / f"{code}.xlsx"
        write_template(school, Org(name, code, 2025), path)
        wb = openpyxl.load_workbook(path)
        for i, values in enumerate(rows):
            for key, value in zip(("event", "name", "gender", "phone"), values, strict=True):
                wb[entries.name["zh"]][data_cell(entries, key, i)] = value
        wb.save(path)
    result = merge([inbox], layout=school, jobs=1)
    files = {f.org_code: f for f in result.files}
    ours = sorted((files[p.org_code].source_file, p.code, p.severity, files[p.org_code].sheets["entries"],
                   f"{files[p.org_code].cells['entries'][p.field]}{p.row}", p.row, p.field, p.value, p.zh, p.en)
                  for p in check_across(entries.merge_rules[0], entries, list(result.merged["entries"])))
    merged = sorted((p.file, p.code, p.severity, p.sheet, p.cell, p.row, p.field, p.value, p.message("zh"), p.message("en"))
                    for p in result.problems if p.code == "duplicate_across_schools")
    assert len(ours) == 3 and ours == merged


def test_check_across_refuses_a_per_file_kind(school):
    with pytest.raises(ValueError, match="unique"):
        check_across(school_rule(school, "entries", "unique"), school.sheet("entries"), [])


# --------------------------------------------------------------------------- through apply_rules


def test_a_rule_whose_column_is_missing_does_not_run(school):
    rows = [{"event": "乒乓球", "group": "女子组", "name": "王强", "gender": "男"}] * 2
    data = workbook(school, {"entries": rows}, leave_out=("gender",))
    apply_rules(data)
    # the duplicate is found; the group/gender rules, which read the missing column, do not run
    assert [p.code for p in data.report] == ["duplicate"]


def test_error_rows_are_rejected_before_the_cross_checks(school):
    care = [{"date": D("2025-02-01"), "member": "王老师", "reason": "生日", "amount": 900.0}]  # over its cap: rejected
    data = workbook(school, {"care": care, "ledger": [_ledger(category="其他支出", summary="慰问", expense=1.0)]})
    apply_rules(data)
    assert data.tables["care"].records[0].rejected
    cross = [p for p in data.report if p.code == "care_ledger_mismatch"]
    row = data.tables["care"].records[0].row
    assert [p.message_zh for p in cross] == [f"慰问记录的慰问金合计 0 元，与经费台账中相应的支出 1 元不一致。"
                                             f"有错误的行未计入比较：慰问记录第 {row} 行（共 900 元）。"]


def test_cross_sum_says_which_rows_with_errors_it_left_out(school):
    """Issue point 15: the sheet's own 慰问金合计 shows 5,300 while the message gave 4,900 without saying why:
    the rows with errors that were left out are named, with what they hold, on both sides of the comparison."""
    rule = school.cross_checks[0]
    care = [{"date": D("2025-02-01"), "member": "王老师", "reason": "结婚", "amount": 2000.0},
            {"date": D("2025-02-02"), "member": "李老师", "reason": "生日", "amount": 400.0},
            {"date": D("2025-03-02"), "member": "赵老师", "reason": "生病住院", "amount": 2900.0}]
    ledger = [_ledger(category="维权支出", subcategory="送温暖费", expense=5300.0),
              _ledger(category="其他支出", summary="慰问退休教师", expense=300.0),
              _ledger(category="其他支出", summary="办公用品", expense=800.0)]  # not a care expense: never counted
    data = workbook(school, {"care": care, "ledger": ledger})
    data.tables["care"].records[1].rejected = True
    data.tables["ledger"].records[1].rejected = True
    data.tables["ledger"].records[2].rejected = True
    p = one(run(school, rule, data))
    care_row, ledger_row = data.tables["care"].records[1].row, data.tables["ledger"].records[1].row
    assert p.value == "4,900 / 5,300"
    assert p.message_zh == (f"慰问记录的慰问金合计 4,900 元，与经费台账中相应的支出 5,300 元不一致。"
                            f"有错误的行未计入比较：慰问记录第 {care_row} 行（共 400 元）；经费台账第 {ledger_row} 行（共 300 元）。")
    assert p.message_en.endswith(f"Rows with errors are left out of the comparison: Care visits row {care_row} (400 yuan in all); "
                                 f"Fund ledger row {ledger_row} (300 yuan in all).")
    # without rows left out, nothing is said about them
    p = one(run(school, rule, workbook(school, {"care": care, "ledger": ledger[1:2]})))
    assert p.message_zh == "慰问记录的慰问金合计 5,300 元，与经费台账中相应的支出 300 元不一致。"
    # many rows left out: the first few by number, and how many in all
    many = [{"date": D("2025-02-01"), "member": f"老师{i}", "reason": "生日", "amount": 100.0} for i in range(7)]
    data = workbook(school, {"care": many, "ledger": ledger[:1]})
    for rec in data.tables["care"].records:
        rec.rejected = True
    rows = [r.row for r in data.tables["care"].records]
    assert one(run(school, rule, data)).message_zh.endswith(
        f"慰问记录第 {'、'.join(map(str, rows[:5]))} 行等 7 行（共 700 元）。")



# --------------------------------------------------------------------------- the words come from the layout


def _variant(change) -> Layout:
    data = yaml.safe_load(builtin_source("school"))
    change(data)
    return parse_layout(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), "variant.yaml")


def _care_field(data: dict, key: str) -> dict:
    return next(f for f in data["sheets"][3]["fields"] if f["key"] == key)


def test_the_unit_of_an_amount_is_that_of_the_layout():
    """Issue point 14: a number is said with its unit, taken from the layout: the unit in brackets its label ends
    with first (慰问金(元) → 元, even for whole numbers), then the unit of its type (money → 元); without either,
    a bare number, and a number that Chinese words follow keeps its space (1,000 的)."""
    care = [{"date": D("2025-02-01"), "member": "王老师", "reason": "生日", "amount": 400, "goods_value": 200}]

    def as_int(data: dict) -> None:
        for key in ("amount", "goods_value"):
            _care_field(data, key)["type"] = "int"

    layout = _variant(as_int)
    p = one(run(layout, school_rule(layout, "care", "cap_per_row"), workbook(layout, {"care": care})))
    assert p.message_zh == "慰问事由“生日”：慰问金和慰问品价值合计 600 元，超过每次上限 500 元。"

    def as_int_without_unit(data: dict) -> None:
        as_int(data)
        _care_field(data, "amount")["label"] = {"zh": "慰问金", "en": "Cash"}
        _care_field(data, "goods_value")["label"] = {"zh": "慰问品价值", "en": "Goods value"}

    layout = _variant(as_int_without_unit)
    p = one(run(layout, school_rule(layout, "care", "cap_per_row"), workbook(layout, {"care": care})))
    assert p.message_zh == "慰问事由“生日”：慰问金和慰问品价值合计 600，超过每次上限 500。"
    assert p.message_en == "Reason 生日: Cash and Goods value total 600, over the cap of 500 each time."

    def money_without_brackets(data: dict) -> None:
        _care_field(data, "amount")["label"] = {"zh": "慰问金", "en": "Cash"}
        _care_field(data, "goods_value")["label"] = {"zh": "慰问品价值", "en": "Goods value"}

    layout = _variant(money_without_brackets)
    p = one(run(layout, school_rule(layout, "care", "cap_per_row"), workbook(layout, {"care": care})))
    assert p.message_zh == "慰问事由“生日”：慰问金和慰问品价值合计 600 元，超过每次上限 500 元。"

    def plain_numbers(data: dict) -> None:
        fields = data["sheets"][2]["fields"]
        for key, zh in (("budget", "预算"), ("spent", "实际支出")):
            f = next(f for f in fields if f["key"] == key)
            f["type"], f["label"] = "int", {"zh": zh, "en": zh}

    layout = _variant(plain_numbers)
    rows = [{"month": 6, "activity": "端午", "budget": 1000, "spent": 1300}]
    p = one(run(layout, school_rule(layout, "schedule", "compare", 1), workbook(layout, {"schedule": rows})))
    assert p.message_zh == "实际支出 1,300，超过预算 1,000 的 1.2 倍（1,200）。"


def test_income_and_expense_are_named_by_the_labels_of_their_columns():
    def relabel(data: dict) -> None:
        ledger = data["sheets"][4]["fields"]
        next(f for f in ledger if f["key"] == "income")["label"] = {"zh": "进账(元)", "en": "Receipts (yuan)"}

    layout = _variant(relabel)
    p = one(run(layout, school_rule(layout, "ledger", "direction"), workbook(layout, {"ledger": [_ledger(expense=1.0)]})))
    assert p.message_zh == "“会费收入”是进账科目，金额应填在进账栏，却填在了支出栏。"
    assert p.message_en == "'会费收入' is a receipts category: the amount belongs in Receipts, not Expense."


# --------------------------------------------------------------------------- every kind of the layout is covered here


def test_every_kind_of_the_school_layout_has_a_test_here(school):
    used = {r.kind for s in school.sheets for r in (*s.rules, *s.merge_rules)} | {r.kind for r in school.cross_checks}
    source = Path(__file__).read_text(encoding="utf-8")
    tested = {k for k in KINDS if f"def test_{k}" in source}
    assert used <= tested, sorted(used - tested)


# --------------------------------------------------------------------------- the sample workbooks, before and after

SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "submitted"
SNAPSHOT = Path(__file__).parent / "data" / "sample_problems.json"
SNAPSHOT_ZH = Path(__file__).parent / "data" / "sample_problems_zh.json"


def sample_problems() -> tuple[list[list], list[list]]:
    """What `check` reports on every sample workbook: [file, code, severity, sheet, cell, field], and the same
    with the Chinese message."""
    from sheetplan.report.check import check_file

    layout = load_layout("school")
    plain, worded = [], []
    for path in sorted(SAMPLES.rglob("*.xlsx")):
        name = path.relative_to(SAMPLES).as_posix()
        for p in check_file(path, layout).report.sorted():
            plain.append([name, p.code, p.severity, p.sheet, p.cell, p.field])
            worded.append([name, p.code, p.severity, p.sheet, p.cell, p.field, p.message("zh")])
    return plain, worded


def test_check_reports_on_the_samples_what_it_reported_before_the_registry():
    """The snapshot was taken before the rule kinds moved into the registry: the same problems at the same
    cells, in the same words (refresh after a reviewed change: python tests/test_rule_kinds.py)."""
    import json

    plain, worded = sample_problems()
    assert plain == json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    assert worded == json.loads(SNAPSHOT_ZH.read_text(encoding="utf-8"))


if __name__ == "__main__":
    import json

    for target, rows in zip((SNAPSHOT, SNAPSHOT_ZH), sample_problems(), strict=True):  # one problem a line
        target.write_text("[\n" + ",\n".join(" " + json.dumps(r, ensure_ascii=False) for r in rows) + "\n]\n",
                          encoding="utf-8")
