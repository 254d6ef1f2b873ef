"""The template in a real spreadsheet engine: typed into, recalculated, read back.

Values are typed through LibreOffice (xlsx-fill) into input cells only — a
locked input cell makes xlsx-fill fail — then every formula is recalculated
(xlsx-recalc --check-errors fails on any error value) and the running
balance and every summary block are compared with figures computed here.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import openpyxl
import pytest

from sheetplan.layout.geometry import data_cell, form_cell
from sheetplan.reading.identity import read_identity_properties
from sheetplan.write import Org, summary_cells, write_template

YEAR = 2025
OPENING = 3250.5

LEDGER = [  # date, voucher, summary, category, subcategory, income, expense
    ("2025-01-06", "001", "收取一月会费", "会费收入", None, 1860, None),
    ("2025-02-20", "002", "行政拨付工会经费", "拨缴经费收入", None, 12000, None),
    ("2025-03-07", "003", "三八节女教工活动", "职工活动支出", "文体活动支出", None, 2400.8),
    None,  # a blank row between entries
    ("2025-04-12", "004", "教工踏青交通费", "职工活动支出", "职工集体福利支出", None, 1800),
    ("2025-05-30", "005", "上级工会回拨", "上级补助收入", "回拨补助", 3000, None),
    ("2025-06-18", "006", "慰问生病住院教师", "维权支出", "送温暖费", None, 1000),
    ("2025-09-10", "007", "教师节慰问", "职工活动支出", "职工集体福利支出", None, 6500.25),
    ("2025-10-01", "008", "工会干部培训", "业务支出", "培训费", None, 680),
]
PLAN = [  # category, task, status, done_on
    ("民主管理与校务公开", "召开第五届教代会第三次会议", "已完成", "2025-03-20"),
    ("文体活动", "组织三八节女教工活动", "已完成", "2025-03-08"),
    ("文体活动", "羽毛球比赛分四组进行", "进行中", None),
    ("送温暖与帮扶", "开展送温暖慰问", None, None),
    ("工会自身建设", "换届选举筹备", "已取消", None),
    ("师德建设与素质提升", "师德标兵评选", "延期", None),
]
SCHEDULE = [  # month, activity, status, budget, spent
    (3, "三八节活动", "已完成", 2500, 2400.8),
    (4, "教工踏青", "已完成", 2000, 1800),
    (4, "工会例会", "计划中", None, None),
    (10, "国庆登山", "计划中", 3000, None),
    (12, "迎新年联欢", "已取消", 1500, 0),
]
CARE = [  # date, member, reason, amount, goods_value
    ("2025-01-20", "王老师", "节日慰问", 500, 100),
    ("2025-06-18", "李老师", "生病住院", 1000, None),
    ("2025-09-10", "张老师", "节日慰问", 300, 50.5),
    ("2025-11-02", "赵老师", "生日", None, 200),
]
ENTRIES = [("羽毛球", "男子组", "陈明", "男"), ("羽毛球", "女子组", "林芳", "女"), ("合唱", "不分组", "林芳", "女")]


def _cells(layout) -> dict:
    info, ledger = layout.sheet("info"), layout.sheet("ledger")
    plan, sched, care, entries = (layout.sheet(k) for k in ("plan", "schedule", "care", "entries"))
    cells: dict[str, dict] = defaultdict(dict)
    cells[info.name["zh"]].update({form_cell(info, "opening_balance"): OPENING, form_cell(info, "members"): 86,
                                   form_cell(info, "staff"): 90, form_cell(info, "phone"): "13812345678"})
    for i, row in enumerate(LEDGER):
        if row is None:
            continue
        date, voucher, summary, cat, sub, inc, exp = row
        c = cells[ledger.name["zh"]]
        c[data_cell(ledger, "date", i)] = date
        c[data_cell(ledger, "voucher", i)] = voucher  # a text-formatted column keeps the leading zeros
        c[data_cell(ledger, "summary", i)] = summary
        c[data_cell(ledger, "category", i)] = cat
        if sub:
            c[data_cell(ledger, "subcategory", i)] = sub
        if inc is not None:
            c[data_cell(ledger, "income", i)] = inc
        if exp is not None:
            c[data_cell(ledger, "expense", i)] = exp
    for i, (cat, task, status, done) in enumerate(PLAN):
        c = cells[plan.name["zh"]]
        c[data_cell(plan, "category", i)] = cat
        c[data_cell(plan, "task", i)] = task
        if status:
            c[data_cell(plan, "status", i)] = status
        if done:
            c[data_cell(plan, "done_on", i)] = done
    for i, (month, act, status, budget, spent) in enumerate(SCHEDULE):
        c = cells[sched.name["zh"]]
        c[data_cell(sched, "month", i)] = month
        c[data_cell(sched, "activity", i)] = act
        c[data_cell(sched, "status", i)] = status
        if budget is not None:
            c[data_cell(sched, "budget", i)] = budget
        if spent is not None:
            c[data_cell(sched, "spent", i)] = spent
    for i, (date, member, reason, amount, goods) in enumerate(CARE):
        c = cells[care.name["zh"]]
        c[data_cell(care, "date", i)] = date
        c[data_cell(care, "member", i)] = member
        c[data_cell(care, "reason", i)] = reason
        if amount is not None:
            c[data_cell(care, "amount", i)] = amount
        if goods is not None:
            c[data_cell(care, "goods_value", i)] = goods
    for i, (event, group, name, gender) in enumerate(ENTRIES):
        c = cells[entries.name["zh"]]
        c[data_cell(entries, "event", i)] = event
        c[data_cell(entries, "group", i)] = group
        c[data_cell(entries, "name", i)] = name
        c[data_cell(entries, "gender", i)] = gender
    return dict(cells)


def _summary_values(ws, layout, sheet) -> dict:
    return {c.key: ws.cell(c.row + 1, c.col + 1).value
            for c in summary_cells(layout, sheet, "zh") if c.kind in ("formula", "total")}


@pytest.fixture(scope="module")
def computed(tmp_path_factory, lo, layout) -> Path:
    tmp = tmp_path_factory.mktemp("tpl")
    template, filled, final = tmp / "t.xlsx", tmp / "filled.xlsx", tmp / "final.xlsx"
    write_template(layout, Org("测试小学", "T001", YEAR), template)
    # xlsx-fill refuses to type into a locked cell: every cell above is an input cell.
    lo.fill(template, filled, _cells(layout))
    lo.recalc(filled, final, check_errors=True)  # exit 6 on any #VALUE!/#NAME?/… cell
    return final


def test_running_balance(computed, layout):
    ledger = layout.sheet("ledger")
    ws = openpyxl.load_workbook(computed, data_only=True)[ledger.name["zh"]]
    balance = OPENING
    for i, row in enumerate(LEDGER):
        value = ws[data_cell(ledger, "balance", i)].value
        if row is None:
            assert value in (None, ""), "a blank row shows no balance"
            continue
        balance += (row[5] or 0) - (row[6] or 0)
        assert value == pytest.approx(balance, abs=1e-9)
    # Rows nobody typed into stay blank.
    assert ws[data_cell(ledger, "balance", len(LEDGER) + 5)].value in (None, "")
    assert ws[data_cell(ledger, "voucher", 0)].value == "001"


def test_ledger_summary(computed, layout):
    ledger = layout.sheet("ledger")
    ws = openpyxl.load_workbook(computed, data_only=True)[ledger.name["zh"]]
    got = _summary_values(ws, layout, ledger)
    rows = [r for r in LEDGER if r]
    income = sum(r[5] or 0 for r in rows)
    expense = sum(r[6] or 0 for r in rows)
    assert got[("opening",)] == pytest.approx(OPENING)
    assert got[("income",)] == pytest.approx(income)
    assert got[("expense",)] == pytest.approx(expense)
    assert got[("closing",)] == pytest.approx(OPENING + income - expense)
    for cat in layout.lists["ledger_category"].values:
        assert got[("by_category", cat, 0)] == pytest.approx(sum(r[5] or 0 for r in rows if r[3] == cat))
        assert got[("by_category", cat, 1)] == pytest.approx(sum(r[6] or 0 for r in rows if r[3] == cat))
    for parent, kids in layout.lists["ledger_subcategory"].children.items():
        for kid in kids:
            want = sum((r[5] or 0) + (r[6] or 0) for r in rows if r[3] == parent and r[4] == kid)
            assert got[("by_subcategory", (parent, kid), 0)] == pytest.approx(want)
    assert got[("by_subcategory", ("职工活动支出", "职工集体福利支出"), 0)] == pytest.approx(8300.25)


def test_plan_summary(computed, layout):
    plan = layout.sheet("plan")
    ws = openpyxl.load_workbook(computed, data_only=True)[plan.name["zh"]]
    got = _summary_values(ws, layout, plan)
    done = sum(1 for p in PLAN if p[2] == "已完成")
    cancelled = sum(1 for p in PLAN if p[2] == "已取消")
    assert got[("count",)] == len(PLAN) == 6
    assert got[("done",)] == done == 2
    assert got[("cancelled",)] == cancelled == 1
    assert got[("rate",)] == pytest.approx(done / (len(PLAN) - cancelled))
    for cat in layout.lists["plan_category"].values:
        assert got[("by_category", cat, 0)] == sum(1 for p in PLAN if p[0] == cat)
        assert got[("by_category", cat, 1)] == sum(1 for p in PLAN if p[0] == cat and p[2] == "已完成")


def test_schedule_summary(computed, layout):
    sched = layout.sheet("schedule")
    ws = openpyxl.load_workbook(computed, data_only=True)[sched.name["zh"]]
    got = _summary_values(ws, layout, sched)
    for m in range(1, 13):
        rows = [s for s in SCHEDULE if s[0] == m]
        assert got[("by_month", m, 0)] == len(rows)
        assert got[("by_month", m, 1)] == sum(1 for s in rows if s[2] == "已完成")
        assert got[("by_month", m, 2)] == pytest.approx(sum(s[3] or 0 for s in rows))
        assert got[("by_month", m, 3)] == pytest.approx(sum(s[4] or 0 for s in rows))
    assert got[("by_month", "合计", 0)] == len(SCHEDULE)
    assert got[("by_month", "合计", 3)] == pytest.approx(4200.8)


def test_care_and_entries_summary(computed, layout):
    care, entries = layout.sheet("care"), layout.sheet("entries")
    wb = openpyxl.load_workbook(computed, data_only=True)
    got = _summary_values(wb[care.name["zh"]], layout, care)
    assert got[("count",)] == len(CARE)
    assert got[("amount",)] == pytest.approx(1800)
    assert got[("goods_value",)] == pytest.approx(350.5)
    for reason in layout.lists["care_reason"].values:
        assert got[("by_reason", reason, 0)] == sum(1 for c in CARE if c[2] == reason)
        assert got[("by_reason", reason, 1)] == pytest.approx(sum(c[3] or 0 for c in CARE if c[2] == reason))
    got = _summary_values(wb[entries.name["zh"]], layout, entries)
    assert got[("count",)] == 3
    assert got[("by_event", "羽毛球", 0)] == 2
    assert got[("by_event", "合唱", 0)] == 1


def test_no_formula_evaluates_to_an_error(computed):
    wb = openpyxl.load_workbook(computed, data_only=True)
    bad = [f"{ws.title}!{c.coordinate}={c.value}" for ws in wb.worksheets for row in ws.iter_rows()
           for c in row if isinstance(c.value, str) and c.value.startswith("#")
           and c.value.rstrip("!?0/").upper() in ("#VALUE", "#NAME", "#REF", "#DIV", "#N/A", "#NUM", "#NULL")]
    assert bad == []


def test_identity_survives_libreoffice(tmp_path, lo, layout):
    template, saved = tmp_path / "t.xlsx", tmp_path / "saved.xlsx"
    write_template(layout, Org("测试小学", "T001", YEAR), template)
    lo.recalc(template, saved)
    ident = read_identity_properties(saved)
    assert ident["layout"] == "school"
    assert ident["layout_version"] == "1"
    assert ident["org_code"] == "T001"
    assert ident["year"] == str(YEAR)
    assert ident["generator"].startswith("sheetplan ")
    # The hidden identity sheet is there too (LibreOffice turns very hidden into hidden).
    wb = openpyxl.load_workbook(saved)
    meta = wb["_sheetplan"]
    assert meta.sheet_state in ("hidden", "veryHidden")
    assert {meta.cell(r, 1).value: meta.cell(r, 2).value for r in range(2, 9)}["org_code"] == "T001"


def test_validations_refuse_what_the_layout_refuses(tmp_path, lo, layout):
    """LibreOffice's Mark Invalid Data flags exactly the bad values typed below."""
    template, filled = tmp_path / "t.xlsx", tmp_path / "f.xlsx"
    write_template(layout, Org("测试小学", "T001", YEAR), template)
    ledger, info, entries, sched = (layout.sheet(k) for k in ("ledger", "info", "entries", "schedule"))
    good = {
        ledger.name["zh"]: {data_cell(ledger, "date", 0): "2025-03-08", data_cell(ledger, "category", 0): "职工活动支出",
                            data_cell(ledger, "subcategory", 0): "文体活动支出", data_cell(ledger, "expense", 0): 100},
        info.name["zh"]: {form_cell(info, "phone"): "0755-12345678", form_cell(info, "members"): 12},
        entries.name["zh"]: {data_cell(entries, "phone", 0): "13912345678", data_cell(entries, "age", 0): 35},
        sched.name["zh"]: {data_cell(sched, "month", 0): 12},
    }
    lo.fill(template, filled, good, "--check-validation")
    bad = {
        ledger.name["zh"]: {data_cell(ledger, "date", 1): "2024-12-31", data_cell(ledger, "category", 1): "职工活动支出",
                            data_cell(ledger, "subcategory", 1): "培训费", data_cell(ledger, "expense", 1): -5,
                            data_cell(ledger, "category", 2): "饭费"},
        info.name["zh"]: {form_cell(info, "phone"): "12345", form_cell(info, "members"): -1},
        entries.name["zh"]: {data_cell(entries, "age", 0): 71},
        sched.name["zh"]: {data_cell(sched, "month", 0): 13},
    }
    proc = lo.fill(template, filled, bad, "--check-validation", ok=(5,))
    flagged = {x.strip() for x in proc.stderr.split("anyway):", 1)[1].split(",")}
    valid = {f"{ledger.name['zh']}!{data_cell(ledger, 'category', 1)}"}  # there for the sub-category's sake
    expected = {f"{sheet}!{cell}" for sheet, cells in bad.items() for cell in cells} - valid
    assert flagged == expected


def test_prefilled_balances_are_what_libreoffice_computes(tmp_path, lo, layout):
    """A pre-filled workbook (samples, benchmark) stores the balances a spreadsheet application would save."""
    import datetime as dt

    from sheetplan.write import Filled

    ledger = layout.sheet("ledger")
    keys = ["date", "voucher", "summary", "category", "subcategory", "income", "expense"]
    rows = [None if r is None else {k: v for k, v in zip(keys, r, strict=True) if v is not None} for r in LEDGER]
    for r in rows:
        if r is not None:
            r["date"] = dt.date.fromisoformat(r["date"])
    rows[2]["expense"] = "2400.8元"  # text: SUM leaves it out, and so must the stored value
    made, final = tmp_path / "filled.xlsx", tmp_path / "final.xlsx"
    write_template(layout, Org("测试小学", "T001", YEAR), made, filled=Filled(info={"opening_balance": OPENING}, rows={"ledger": rows}))
    lo.recalc(made, final, check_errors=True)
    stored = openpyxl.load_workbook(made, data_only=True)[ledger.name["zh"]]
    computed_by_lo = openpyxl.load_workbook(final, data_only=True)[ledger.name["zh"]]
    checked = 0
    for i in range(len(LEDGER) + 3):
        cell = data_cell(ledger, "balance", i)
        want = computed_by_lo[cell].value
        got = stored[cell].value
        if want in (None, ""):
            assert got in (None, ""), cell
        else:
            assert got == pytest.approx(want, abs=1e-9), cell
            checked += 1
    assert checked == sum(1 for r in LEDGER if r is not None)
    assert stored[data_cell(ledger, "balance", 2)].value == pytest.approx(OPENING + 1860 + 12000)


def test_an_apostrophe_typed_before_a_code_is_read_away(tmp_path, lo, layout):
    """Issue point 13: '004 typed into 凭证号 (a text-formatted column) is stored by LibreOffice with its
    apostrophe — a General cell would have hidden it — and read back as 004, with an info note keeping '004."""
    from sheetplan.reading.workbook import read_workbook

    template, typed = tmp_path / "t.xlsx", tmp_path / "typed.xlsx"
    write_template(layout, Org("测试小学", "T001", YEAR), template)
    ledger, info = layout.sheet("ledger"), layout.sheet("info")
    voucher, phone = data_cell(ledger, "voucher", 0), form_cell(info, "phone")
    lo.fill(template, typed, {
        ledger.name["zh"]: {data_cell(ledger, "date", 0): "2025-03-08", voucher: "'004",
                            data_cell(ledger, "summary", 0): "收取会费", data_cell(ledger, "category", 0): "会费收入",
                            data_cell(ledger, "income", 0): 100},
        info.name["zh"]: {phone: "'13812345678"}})
    wb = openpyxl.load_workbook(typed)
    assert wb[ledger.name["zh"]][voucher].value == "'004"  # what LibreOffice stores, apostrophe and all
    assert wb[info.name["zh"]][phone].value == "'13812345678"
    data = read_workbook(typed, layout)
    assert data.tables["ledger"].records[0].values["voucher"] == "004"
    assert data.info["phone"] == "13812345678"
    notes = {p.field: p for p in data.report if p.code == "normalized"}
    assert (notes["voucher"].severity, notes["voucher"].cell, notes["voucher"].value) == ("info", voucher, "'004")
    assert notes["voucher"].message_zh == "凭证号“'004”前面的单引号是表格软件“按文字保存”的标记，不算内容，已按“004”读取。"
    assert notes["phone"].value == "'13812345678"
