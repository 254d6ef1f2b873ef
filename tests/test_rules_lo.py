"""Every rule of §2, table-driven, on a workbook typed into through LibreOffice.

Each case is one data row (or a few rows for rules over several rows) and
the problems it must produce as (field, code, severity); rows that must be
clean expect nothing. The whole set is typed into one template with
xlsx-fill, then `check` must report exactly these problems at these cells.
"""

from __future__ import annotations

from collections import defaultdict

import pytest

from sheetplan.layout.geometry import data_cell, form_cell
from sheetplan.report.check import check_file
from sheetplan.write import Org, write_template

T = {"text": None}  # marker: see _typed


def txt(s: str) -> dict:
    """A value entered as literal text (as after a leading apostrophe)."""
    return {"text": s}


INFO = {"opening_balance": 100000, "members": 80, "staff": 60, "phone": "0755-12345678"}
INFO_EXPECT = [("members", "members_exceed_staff", "warning")]

LEDGER = [
    ({"date": "2025-01-05", "summary": "一月会费", "category": "会费收入", "income": 1000}, []),
    ({"date": "2025-01-06", "summary": "会费", "category": "会费收入", "income": txt("一千")}, [("income", "not_a_number", "error")]),
    ({"date": "2025-01-07", "summary": "两栏都填", "category": "会费收入", "income": 10, "expense": 10},
     [("income", "income_expense_both_or_none", "error")]),
    ({"date": "2025-01-08", "summary": "两栏都空", "category": "会费收入"}, [("income", "income_expense_both_or_none", "error")]),
    ({"date": "2025-01-09", "summary": "方向错", "category": "会费收入", "expense": 100}, [("expense", "direction_mismatch", "error")]),
    ({"date": "2025-01-10", "summary": "明细不符", "category": "职工活动支出", "subcategory": "培训费", "expense": 100},
     [("subcategory", "subcategory_mismatch", "error")]),
    ({"date": "2025-01-11", "voucher": "V1", "summary": "凭证一", "category": "其他收入", "income": 5}, []),
    ({"date": "2025-01-12", "voucher": "V1", "summary": "凭证重复", "category": "其他收入", "income": 5}, [("voucher", "duplicate", "error")]),
    ({"date": "2025-01-02", "summary": "倒记", "category": "其他收入", "income": 5}, [("date", "date_order", "warning")]),
    ({"date": "2025-02-01", "summary": "文体活动", "category": "职工活动支出", "subcategory": "文体活动支出", "expense": txt("1200元")},
     [("expense", "stored_as_text", "warning")]),
    ({"date": "2026-02-01", "summary": "跨年", "category": "其他收入", "income": 5}, [("date", "out_of_year", "error")]),
    ({"date": "2025-02-03", "category": "其他收入", "income": 5}, [("summary", "required", "error")]),
    ({"date": "2025-02-04", "summary": "科目不存在", "category": "饭费", "expense": 5}, [("category", "not_in_list", "error")]),
    ({"date": txt("2025年2月5日"), "summary": "文字日期", "category": "其他收入", "income": 5}, [("date", "normalized", "info")]),
    ({"date": "2025-02-06", "voucher": "001", "summary": "前导零", "category": "其他收入", "income": 5}, []),
]
PLAN = [
    ({"category": "文体活动", "task": "三八节活动", "status": "已完成", "done_on": "2025-03-08"}, []),
    ({"category": "文体活动", "task": "教工踏青", "status": "已完成"}, [("done_on", "required", "error")]),
    ({"category": "打球", "task": "羽毛球比赛"}, [("category", "not_in_list", "error")]),
    ({"category": "维权服务", "task": "法律咨询", "due": txt("3月底前")}, [("due", "normalized", "info")]),
    ({"category": "经费管理", "task": "年度决算", "status": "已完成", "done_on": "2026-01-20"}, []),
    ({"category": "经费管理", "owner": "张三"}, [("task", "required", "error")]),
]
SCHEDULE = [
    ({"month": 3, "date": "2025-03-08", "activity": "三八节"}, []),
    ({"month": 4, "date": "2025-03-08", "activity": "踏青"}, [("month", "month_mismatch", "error")]),
    ({"month": txt("三月"), "activity": "座谈"}, [("month", "stored_as_text", "warning")]),
    ({"month": 13, "activity": "十三月"}, [("month", "out_of_range", "error")]),
    ({"month": 5, "activity": "运动会", "actual_people": 100}, [("actual_people", "over_members", "warning")]),
    ({"month": 6, "activity": "端午", "budget": 1000, "spent": 1300}, [("spent", "over_budget", "warning")]),
    ({"month": 7, "kind": "会议"}, [("activity", "required", "error")]),
]
CARE = [
    ({"date": "2025-02-01", "member": "王老师", "reason": "生日", "amount": 400, "goods_value": 200}, [("amount", "cap_exceeded", "error")]),
    ({"date": "2025-02-02", "member": "李老师", "reason": "结婚", "amount": 2000}, []),
    ({"date": "2025-01-10", "member": "张老师", "reason": "节日慰问", "amount": 1500}, []),
    ({"date": "2025-09-10", "member": "张老师", "reason": "节日慰问", "amount": 800}, [("amount", "cap_exceeded", "error")]),
    ({"date": "2025-03-01", "member": "赵老师", "reason": "生病住院", "amount": 500}, []),
    ({"date": "2025-03-20", "member": "赵老师", "reason": "生病住院", "amount": 500}, [("date", "repeat_visit", "warning")]),
    ({"date": "2025-04-01", "member": "钱老师", "amount": 100}, [("reason", "required", "error")]),
]
ENTRIES = [
    ({"event": "羽毛球", "group": "男子组", "name": "陈明", "gender": "男", "age": 30, "phone": "13812345678"}, []),
    ({"event": "羽毛球", "group": "男子组", "name": "陈明", "gender": "男"}, [("event", "duplicate", "error")]),
    ({"event": "乒乓球", "group": "女子组", "name": "王强", "gender": "男"}, [("group", "gender_group_mismatch", "error")]),
    ({"event": "跳绳", "group": "青年组(35岁以下)", "name": "林芳", "gender": "女", "age": 40}, [("age", "out_of_range", "error")]),
    *[({"event": "教学技能比武", "name": n, "gender": "女"}, []) for n in ("甲", "乙", "丙")],
    ({"event": "教学技能比武", "name": "丁", "gender": "女"}, [("event", "cap_exceeded", "error")]),
    ({"event": "篮球", "name": "周杰", "gender": "男"}, []),
    ({"event": "排球", "name": "周杰", "gender": "男"}, []),
    ({"event": "拔河", "name": "周杰", "gender": "男"}, [("event", "cap_exceeded", "error")]),
    ({"event": "合唱", "name": "吴红", "gender": "女", "age": 71, "phone": "12345"},
     [("age", "out_of_range", "error"), ("phone", "invalid_phone", "error")]),
]
TABLES = {"ledger": LEDGER, "plan": PLAN, "schedule": SCHEDULE, "care": CARE, "entries": ENTRIES}


@pytest.fixture(scope="module")
def checked(tmp_path_factory, lo, layout):
    tmp = tmp_path_factory.mktemp("rules")
    template, filled = tmp / "t.xlsx", tmp / "filled.xlsx"
    write_template(layout, Org("规则小学", "R001", 2025), template)
    cells: dict[str, dict] = defaultdict(dict)
    info = layout.sheet("info")
    for k, v in INFO.items():
        cells[info.name["zh"]][form_cell(info, k)] = v
    for key, cases in TABLES.items():
        sheet = layout.sheet(key)
        for i, (values, _) in enumerate(cases):
            for field, value in values.items():
                cells[sheet.name["zh"]][data_cell(sheet, field, i)] = value
    lo.fill(template, filled, dict(cells))
    return check_file(filled, layout)


def _expected(layout):
    want = set()
    info = layout.sheet("info")
    for field, code, sev in INFO_EXPECT:
        want.add((info.name["zh"], form_cell(info, field), code, sev))
    for key, cases in TABLES.items():
        sheet = layout.sheet(key)
        for i, (_, problems) in enumerate(cases):
            for field, code, sev in problems:
                want.add((sheet.name["zh"], data_cell(sheet, field, i), code, sev))
    return want


def test_each_rule_reports_exactly_at_its_cell(checked, layout):
    got = {(p.sheet, p.cell, p.code, p.severity) for p in checked.report if p.cell is not None}
    assert got == _expected(layout)


def test_cross_sheet_checks_give_both_figures(checked):
    cross = {p.code: p for p in checked.report if p.cell is None}
    # care cash of accepted rows: 2000 + 1500 + 500 + 500; the ledger books no care visit
    assert cross["care_ledger_mismatch"].severity == "warning"
    assert "4,500" in cross["care_ledger_mismatch"].message_zh and " 0 元" in cross["care_ledger_mismatch"].message_zh
    # schedule spends 1300; the ledger's accepted 职工活动支出 is the 1200元 row
    assert "1,300" in cross["schedule_ledger_mismatch"].message_zh and "1,200" in cross["schedule_ledger_mismatch"].message_zh
    assert set(cross) == {"care_ledger_mismatch", "schedule_ledger_mismatch"}


def test_values_read_as_typed(checked):
    ledger = checked.tables["ledger"]
    by_row = {r.row: r for r in ledger.records}
    assert by_row[3].values["income"] == 1000.0
    assert by_row[4].values["income"] is None and by_row[4].raw["income"] == "一千"
    assert by_row[12].values["expense"] == 1200.0  # "1200元"
    assert by_row[16].values["date"].isoformat() == "2025-02-05"
    assert by_row[17].values["voucher"] == "001"
    # rejected rows are the ones with errors; blank is never 0
    assert by_row[4].rejected and not by_row[3].rejected
    assert by_row[6].values["expense"] is None
    assert len(ledger.records) == len(LEDGER)
    plan = {r.row: r for r in checked.tables["plan"].records}
    assert plan[3].values["status"] == "已完成" and plan[5].values["status"] == "未开始"
    assert plan[6].values["due"].isoformat() == "2025-03-31"
    assert checked.info["members"] == 80 and checked.info["opening_balance"] == 100000.0


def test_running_balance_recomputed_from_accepted_values(checked):
    ledger = checked.tables["ledger"]
    balance = 100000.0
    for rec in ledger.records:
        balance += (rec.values.get("income") or 0) - (rec.values.get("expense") or 0)
        assert rec.values["balance"] == pytest.approx(balance)
