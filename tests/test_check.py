"""`sheetplan check` on workbooks changed the way offices change them."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

import sheetplan
from sheetplan.cli import cli
from sheetplan.report.check import check_file, format_text
from sheetplan.write import Org, write_template


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
def template(tmp_path, layout) -> Path:
    path = tmp_path / "t.xlsx"
    write_template(layout, Org("检查小学", "C001", 2025), path)
    return path


def _edit(path: Path, out: Path, edits: dict) -> Path:
    wb = openpyxl.load_workbook(path)
    for sheet, cells in edits.items():
        for cell, value in cells.items():
            wb[sheet][cell] = value
    wb.save(out)
    return out


def test_an_untouched_template_is_an_empty_submission(template, layout):
    """Presentation issue point 6: a template sent back untouched is flagged once, not merged as zeros silently."""
    data = check_file(template, layout)
    assert data.readable
    assert [(p.code, p.severity) for p in data.report if p.severity != "info"] == [("empty_submission", "warning")]
    assert all(len(t.records) == 0 for t in data.tables.values())


def test_json_report_has_the_spec_shape(template, tmp_path):
    f = _edit(template, tmp_path / "f.xlsx", {"经费台账": {"A3": "2025-03-08", "C3": "会费", "D3": "会费收入", "F3": "一千"}})
    r = run("check", str(f), "--format", "json")
    assert r.exit_code == 1
    doc = json.loads(r.output)
    (file,) = doc["files"]
    assert (file["layout"], file["layout_version"], file["org_code"], file["org_name"], file["year"]) == (
        "school", 1, "C001", "检查小学", 2025)
    assert file["rows"] == {"plan": 0, "schedule": 0, "care": 0, "ledger": 1, "entries": 0}
    p = next(p for p in file["problems"] if p["code"] == "not_a_number")
    assert p == {"severity": "error", "code": "not_a_number", "sheet": "经费台账", "cell": "F3", "row": 3,
                 "field": "income", "value": "一千", "message": p["message"]}
    assert "一千" in p["message"]
    # a text date typed as text: read, with the original kept in an info/warning
    assert file["problems"][0]["severity"] == "error"


def test_exit_codes_and_english(template, tmp_path):
    assert run("check", str(template)).exit_code == 0
    f = _edit(template, tmp_path / "f.xlsx", {"工作计划": {"A3": "文体活动"}})
    r = run("check", str(f), "--lang", "en")
    assert r.exit_code == 1
    assert "'Task' is required." in r.output and "1 errors" in r.output
    bad = tmp_path / "bad.xlsx"
    bad.write_text("单位代码,单位名称\n", encoding="utf-8")
    r = run("check", str(bad), str(template))
    assert r.exit_code == 2 and "bad.xlsx" in r.output


def test_many_problems_of_one_kind_are_grouped(template, tmp_path, layout):
    edits = {"经费台账": {f"A{r}": "2025-03-08" for r in range(3, 303)}}
    f = _edit(template, tmp_path / "f.xlsx", edits)
    data = check_file(f, layout)
    assert sum(1 for p in data.report if p.code == "required" and p.field == "summary") == 300
    text = format_text([data])
    assert "C3、C4、C5 等共 300 处" in text
    assert text.count("“摘要”必须填写") == 1


def test_formula_typed_over_is_reported(template, tmp_path, layout):
    f = _edit(template, tmp_path / "f.xlsx", {
        "基本信息": {"B12": 1000},
        "经费台账": {"A3": "2025-01-05", "C3": "会费", "D3": "会费收入", "F3": 500,
                 "A4": "2025-01-06", "C4": "活动", "D4": "职工活动支出", "G4": 200, "H4": 9999,
                 "A5": "2025-01-07", "C5": "活动", "D5": "职工活动支出", "G5": 100, "H5": 1200}})
    data = check_file(f, layout)
    over = [(p.cell, p.severity) for p in data.report if p.code == "formula_overwritten"]
    # H4 is a constant that differs from 1000+500-200; H5 is a constant equal to the computed 1200: harmless
    assert over == [("H4", "error")]
    assert [r.values["balance"] for r in data.tables["ledger"].records] == [1500.0, 1300.0, 1200.0]


def test_moved_columns_extra_columns_blank_rows_and_renamed_sheets(tmp_path, layout):
    """A workbook rebuilt by hand: no identity, columns shuffled, an extra column, blank rows."""
    wb = openpyxl.Workbook()
    info = wb.active
    info.title = "基本信息"
    for r, (label, value) in enumerate([("单位名称", "手工学校"), ("单位代码", "H001"), ("年度", 2025)], start=5):
        info.cell(r, 2, label)
        info.cell(r, 3, value)
    ws = wb.create_sheet("台账2025")  # renamed: found by its headers
    ws.append([])
    ws.append(["备注", "支出(元)", "收入(元)", "日期", "摘要", "收支科目", "我们自己加的列"])
    ws.append(["", None, 300, "2025-2-1", "会费", "会费收入", "x"])
    ws.append([])
    ws.append([])
    ws.append(["", "１２０", None, "2025年3月1日", "活动", "职工活动支出", "y"])
    plan = wb.create_sheet("工作计划")
    plan.append(["工作内容", "工作类别", "完成情况"])
    plan.append(["教代会", "民主管理与校务公开", "已完成"])
    path = tmp_path / "hand.xlsx"
    wb.save(path)
    data = check_file(path, layout)
    codes = {(p.code, p.sheet, p.cell) for p in data.report}
    assert ("no_identity", None, None) in codes
    assert ("extra_column", "台账2025", "G2") in codes
    assert ("missing_column", "台账2025", None) in codes  # 余额 and the others
    # 完成日期 is required for 已完成, but its column is missing: reported once, as missing_column
    assert not any(p.code == "required" for p in data.report)
    ledger = data.tables["ledger"]
    assert ledger.sheet_name == "台账2025"
    assert [(r.row, r.values["date"].isoformat(), r.values["income"], r.values["expense"]) for r in ledger.records] == [
        (3, "2025-02-01", 300.0, None), (6, "2025-03-01", None, 120.0)]
    as_text = {(p.code, p.cell) for p in data.report if p.sheet == "台账2025" and p.code in ("stored_as_text", "normalized")}
    assert as_text == {("stored_as_text", "B6"), ("normalized", "D3"), ("normalized", "D6")}
    assert data.tables["schedule"].found is False
    assert {p.sheet for p in data.report if p.code == "missing_sheet"} == {"月度安排", "慰问记录", "比赛报名"}


def test_another_layout_is_refused(template, tmp_path, layout):
    wb = openpyxl.load_workbook(template)
    for p in wb.custom_doc_props.props:
        if p.name == "sheetplan.layout":
            p.value = "county"
    other = tmp_path / "other.xlsx"
    wb.save(other)
    data = check_file(other, layout)
    assert not data.readable
    assert [(p.code, p.cell) for p in data.report] == [("unknown_layout", None)]
    assert run("check", str(other)).exit_code == 2


def test_missing_sheet_is_an_error_but_the_rest_is_read(template, tmp_path, layout):
    wb = openpyxl.load_workbook(template)
    del wb["比赛报名"]
    wb["工作计划"]["A3"] = "文体活动"
    wb["工作计划"]["B3"] = "拔河"
    path = tmp_path / "m.xlsx"
    wb.save(path)
    data = check_file(path, layout)
    assert [(p.code, p.sheet, p.severity) for p in data.report if p.code == "missing_sheet"] == [("missing_sheet", "比赛报名", "error")]
    assert len(data.tables["plan"].records) == 1


def test_python_api_returns_dataframes(template, tmp_path):
    f = _edit(template, tmp_path / "f.xlsx", {
        "经费台账": {"A3": "2025-01-05", "B3": "007", "C3": "会费", "D3": "会费收入", "F3": 500},
        "比赛报名": {"A3": "羽毛球", "C3": "陈明", "D3": "男", "G3": "13812345678"}})
    result = sheetplan.read(f)
    ledger = result.tables["ledger"]
    assert list(ledger.columns)[:3] == ["date", "voucher", "summary"]
    assert ledger.loc[0, "voucher"] == "007" and ledger.loc[0, "income"] == 500.0
    assert ledger.loc[0, "source_row"] == 3 and not ledger.loc[0, "rejected"]
    assert str(ledger["date"].dtype).startswith("datetime64")
    assert result.tables["entries"].loc[0, "phone"] == "13812345678"
    assert result.info["org_code"] == "C001"
    assert result.problems.shape[1] == 9


@pytest.mark.parametrize("fmt", ["ods", "xls"])
def test_ods_and_xls_are_read(lo, template, tmp_path, layout, fmt):
    filled = tmp_path / "filled.xlsx"
    lo.fill(template, filled, {"经费台账": {"A3": "2025-03-08", "C3": "会费", "D3": "会费收入", "F3": 800}})
    filter_name = {"ods": "ods", "xls": "xls:MS Excel 97"}[fmt]
    subprocess.run(["soffice", "--headless", "--convert-to", filter_name, "--outdir", str(tmp_path), str(filled)],
                   check=True, capture_output=True, timeout=180, env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    converted = tmp_path / f"filled.{fmt}"
    data = check_file(converted, layout)
    assert data.readable
    rec = data.tables["ledger"].records[0]
    assert rec.values["income"] == 800.0 and rec.values["date"].isoformat() == "2025-03-08"
    assert not data.report.has_errors, [p.message_zh for p in data.report if p.severity == "error"]


def test_check_does_not_modify_the_file(template, tmp_path):
    copy = tmp_path / "copy.xlsx"
    shutil.copy(template, copy)
    before = copy.read_bytes()
    run("check", str(copy))
    assert copy.read_bytes() == before


def test_formula_lookup_row_by_row_agrees_with_the_whole_column():
    """FormulaLookup finds rows from where it last stopped; it must say what formula_cells says, whatever the order."""
    import random

    from sheetplan.reading.sheetxml import FormulaLookup, formula_cells

    cells = []
    for row in range(3, 80):
        if row % 7 == 0:
            continue  # no cell at all
        sep = "\t" if row % 5 == 0 else " "
        if row % 3 == 0:
            cells.append(f'<row r="{row}"><c{sep}r="H{row}" s="2"><f>SUM(A1)</f><v></v></c></row>')
        elif row % 11 == 0:
            cells.append(f'<row r="{row}"><c r="H{row}" s="2"/><c r="I{row}"><f>1</f></c></row>')  # empty H, formula in I
        else:
            cells.append(f'<row r="{row}"><c{sep}r="H{row}"><v>{row}</v></c><c xr="H{row}"><f>x</f></c></row>')
    xml = ('<?xml version="1.0"?><worksheet><sheetData>' + "".join(cells) + "</sheetData></worksheet>").encode()
    column = 7  # H
    want = formula_cells(xml, column)
    assert want and 9 in want and 10 not in want and 14 not in want
    rows = list(range(1, 85))
    for order in (rows, rows[::-1], random.Random(5).sample(rows, len(rows))):
        lookup = FormulaLookup(xml, column)
        assert [r for r in order if r in lookup] == [r for r in order if r in want]


# --------------------------------------------------------------------------- issue point 16: sheets in workbook order

XQ004 = Path(__file__).parents[1] / "samples" / "submitted" / "城南片" / "XQ004_新桥区城南中学_2025.xlsx"


def _titles_in_order(text: str, titles: list[str]) -> list[str]:
    """The sheet titles of a text report, in the order they appear (each title is a line of its own)."""
    lines = [line.strip() for line in text.splitlines()]
    return [line for line in lines if line in titles]


def test_the_text_report_orders_sheets_as_the_layout_does(layout):
    """Issue point 16: sheets come in the layout's order (工作计划, 月度安排, 慰问记录, 经费台账, 比赛报名), not by
    name, whatever their severities; problems about the whole file come first; a renamed sheet keeps its place."""
    from sheetplan.problems import problem

    data = check_file(XQ004, layout)
    data.report.add(problem("no_identity", "整个文件的提醒", "whole file", file=data.display))
    data.report.add(problem("over_budget", "月度安排的提醒", "a schedule warning", sheet="月度安排", cell="J5", row=5,
                            table="schedule"))
    data.report.add(problem("members_exceed_staff", "基本信息的提醒", "an info warning", sheet="基本信息", cell="B9",
                            row=9, table="info"))
    data.report.add(problem("extra_column", "别人加的表", "someone's own sheet", sheet="附表", cell="A1", row=1))
    names = [s.name["zh"] for s in layout.sheets]
    file_title = "（整个文件）"
    order = _titles_in_order(format_text([data]), [file_title, "附表", *names])
    assert order == [file_title, "基本信息", "工作计划", "月度安排", "慰问记录", "经费台账", "比赛报名", "附表"]
    en = _titles_in_order(format_text([data], "en"), ["(file)", "附表", *names])
    assert en == ["(file)", "基本信息", "工作计划", "月度安排", "慰问记录", "经费台账", "比赛报名", "附表"]
    # a sheet renamed by the school is placed by the table its problems belong to
    for p in data.report:
        if p.table == "plan":
            p.sheet = "计划2025"
    order = _titles_in_order(format_text([data]), [file_title, "附表", "计划2025", *names])
    assert order.index("计划2025") == order.index("基本信息") + 1


def test_check_prints_the_sample_sheets_in_workbook_order():
    """Issue point 16: on the command line, the sample's sheets come as in the workbook: 工作计划 … 经费台账, 比赛报名."""
    r = run("check", str(XQ004))
    assert r.exit_code == 1
    order = _titles_in_order(r.output, ["工作计划", "月度安排", "慰问记录", "经费台账", "比赛报名"])
    assert order == ["工作计划", "慰问记录", "经费台账", "比赛报名"]
