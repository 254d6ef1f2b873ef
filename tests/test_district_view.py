"""The district workbook as a district staffer reads it: the points of the presentation issue.

Each test names the point it holds. The workbook is looked at as a spreadsheet does: column widths, chart axes,
print settings, sheet order and the cached values (openpyxl, ``data_only=True``), and once as LibreOffice
prints it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from sheetplan.cli import cli
from sheetplan.problems import CATALOGUE
from sheetplan.write.template import display_width

SAMPLES = Path(__file__).parents[1] / "samples"
SUBMITTED = SAMPLES / "submitted"
ROSTER = SAMPLES / "roster.csv"
SHEETPLAN = Path(sys.executable).with_name("sheetplan")
CJK = "读取汇总退回错误提醒结果文件学校工作簿导出"  # words of the Chinese report


def run(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def _csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.read_text(encoding="utf-8-sig").splitlines()))


def _table(ws) -> list[dict[str, object]]:
    """A sheet with its header in row 1, as dicts (trailing notes without a header left out)."""
    head = [c.value for c in ws[1]]
    return [dict(zip(head, row, strict=True)) for row in ws.iter_rows(min_row=2, values_only=True) if any(row)]


def _widths(ws) -> dict[str, float]:
    """Header label → column width (openpyxl's, as the file states it)."""
    out = {}
    for cell in ws[1]:
        if cell.value is not None:
            out[cell.value] = ws.column_dimensions[cell.column_letter].width
    return out


@pytest.fixture(scope="module")
def district(tmp_path_factory):
    out = tmp_path_factory.mktemp("view")
    proc = subprocess.run([str(SHEETPLAN), "merge", str(SUBMITTED), "--roster", str(ROSTER), "-o", str(out / "区汇总.xlsx"),
                           "--export", str(out / "export"), "--jobs", "2"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr
    return out, proc


@pytest.fixture(scope="module")
def books(district):
    out, _ = district
    return openpyxl.load_workbook(out / "区汇总.xlsx"), openpyxl.load_workbook(out / "区汇总.xlsx", data_only=True)


# ----------------------------------------------------------------------------- point 1


def test_every_value_axis_starts_at_zero(books):
    """Issue point 1: a value axis that starts at the smallest value makes 4,700 look a third of 4,900. Every
    chart's value axis (a bar chart's horizontal one) starts at 0."""
    wb, _ = books
    charts = wb["图表"]._charts
    assert len(charts) == 2
    for chart in charts:
        value_axes = [ax for ax in (chart.x_axis, chart.y_axis) if ax.tagname == "valAx"]
        assert value_axes and all(ax.scaling.min == 0 for ax in value_axes)
        assert chart.barDir == "bar"  # horizontal bars: the value axis is the one along the bars


# ----------------------------------------------------------------------------- point 2


def test_detail_columns_are_wide_enough_for_their_contents(books, layout):
    """Issue point 2: dates showed ### and list values (青年组(35岁以下), 教学技能比武) were cut off. A date column
    holds yyyy-mm-dd with room to spare; a list column its longest item; every column its label."""
    wb, _ = books
    date_text = len("2025-03-08")
    for t in layout.tables:
        widths = _widths(wb[t.name["zh"]])
        for f in t.fields:
            width = widths[f.label["zh"]]
            assert width >= display_width(f.label["zh"]), (t.key, f.key)
            if f.type == "date":
                assert width >= date_text + 2, (t.key, f.key, width)
            if f.type == "list":
                longest = max(display_width(v) for v in layout.lists[f.list].values)
                assert width >= longest + 1, (t.key, f.key, width)
        names = [ws_row[1] for ws_row in wb[t.name["zh"]].iter_rows(min_row=2, values_only=True)]
        assert widths["单位名称"] >= max(display_width(n) for n in names if n)
    entries = layout.sheet(layout.district.entry_table)
    lists = [n for n in wb.sheetnames if n.startswith("报名-")]
    assert lists
    for name in lists:
        ws = wb[name]
        head = {c.value: c.column_letter for c in ws[2]}  # row 1 is the list's title
        for key in layout.district.entry_fields:
            f = entries.field(key)
            width = ws.column_dimensions[head[f.label["zh"]]].width
            if f.type == "list":
                assert width >= max(display_width(v) for v in layout.lists[f.list].values) + 1, (name, key)
            assert width >= display_width(f.label["zh"]), (name, key)


@pytest.mark.lo
def test_printed_detail_shows_dates_not_hashes(district, lo, tmp_path, layout):
    """Issue point 2, as printed: LibreOffice renders the district workbook to PDF; the text of the pages holds
    the dates (2025-03-08 …) of every detail sheet's date columns, and no ### anywhere."""
    out, _ = district
    lo.render(out / "区汇总.xlsx", tmp_path / "pages")
    pdf = tmp_path / "pages" / "区汇总.pdf"
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "###" not in text
    assert "2025-03-08" in text
    for t in layout.tables:
        rows = _csv(out / "export" / f"{t.key}.csv")
        for f in t.fields:
            if f.type == "date":
                shown = [r[f.key] for r in rows if r[f.key]]
                assert shown and shown[0] in text, (t.key, f.key)
                assert all(d in text for d in shown[:20]), (t.key, f.key)


# ----------------------------------------------------------------------------- point 3


def test_detail_balance_ends_at_the_summary_closing_balance(books, district, layout):
    """Issue point 3: one balance per school. The detail's 余额 is recomputed over the accepted rows from each
    school's 上年结余, so its last 余额 per school is 汇总's 期末余额; the export says the same."""
    wb, values = books
    ledger = layout.sheet("ledger")
    summary = values["汇总"]
    head = [c.value for c in summary[2]]
    closing = {row[0]: row[head.index("期末余额")] for row in summary.iter_rows(min_row=3, values_only=True)
               if row[head.index("提交状态")] == "已提交"}
    last: dict[str, float] = {}
    for row in _table(values[ledger.name["zh"]]):
        last[row["单位代码"]] = row[ledger.field("balance").label["zh"]]
    assert set(last) == set(closing) and len(closing) == 6
    for code, value in closing.items():
        assert last[code] == pytest.approx(value, abs=0.005), code
    out, _ = district
    exported: dict[str, str] = {}
    for row in _csv(out / "export" / "ledger.csv"):
        exported[row["org_code"]] = row["balance"]
    assert {k: float(v) for k, v in exported.items()} == pytest.approx(closing, abs=0.005)
    # The header says what this 余额 is
    comment = wb[ledger.name["zh"]].cell(1, 3 + [f.key for f in ledger.fields].index("balance")).comment
    assert comment is not None and "重新计算" in comment.text and "退回" in comment.text


def test_summary_counts_rejected_rows_and_says_figures_leave_them_out(books, district):
    """Issue point 3: 汇总 has 退回行数 per school (rows left out for an error: the rows with a raw record in
    problems.csv) and its title line says that the figures count only rows that passed the checks."""
    _, values = books
    out, _ = district
    ws = values["汇总"]
    head = [c.value for c in ws[2]]
    assert head.index("退回行数") == head.index("警告数") + 1
    rows = {r[0]: r for r in ws.iter_rows(min_row=3, values_only=True)}
    rejected: dict[str, set[tuple[str, str]]] = {}
    for p in _csv(out / "export" / "problems.csv"):
        if p["raw"]:
            rejected.setdefault(p["org_code"], set()).add((p["sheet"], p["row"]))
    for code, row in rows.items():
        if code == "合计":
            assert row[head.index("退回行数")] == sum(len(v) for v in rejected.values()) == 5
        elif row[head.index("提交状态")] == "已提交":
            assert row[head.index("退回行数")] == len(rejected.get(code, ())), code
        else:
            assert row[head.index("退回行数")] is None, code
    title_line = " ".join(str(c.value) for c in ws[1] if c.value)
    assert "退回" in title_line and "问题清单" in title_line and "不计入" in title_line


def test_a_rejected_row_in_the_middle_is_left_out_of_the_balance(tmp_path, layout):
    """Issue point 3: with a rejected row between two accepted ones, the school's own sheet carries it in its
    余额 (1,800 → 2,450 → 2,350); the district's detail does not (1,800 → 1,700 = 上年结余 + 收入 − 支出)."""
    from corpus import filled_bytes
    from sheetplan.layout.geometry import data_cell, form_cell

    ledger, info = layout.sheet("ledger"), layout.sheet("info")
    wb = openpyxl.load_workbook(io.BytesIO(filled_bytes()))
    wb[info.name["zh"]][form_cell(info, "opening_balance")] = 1000
    ws = wb[ledger.name["zh"]]
    ws[data_cell(ledger, "expense", 1)] = 50  # the second row has income and expense: rejected
    for field, value in (("date", "2025-03-05"), ("summary", "活动"), ("category", "职工活动支出"), ("expense", 100)):
        ws[data_cell(ledger, field, 2)] = value
    wb.save(tmp_path / "a.xlsx")
    r = run("merge", tmp_path / "a.xlsx", "-o", tmp_path / "d.xlsx", "--export", tmp_path / "exp")
    assert r.exit_code == 1, r.output
    values = openpyxl.load_workbook(tmp_path / "d.xlsx", data_only=True)
    balances = [row["余额(元)"] for row in _table(values[ledger.name["zh"]])]
    assert balances == [1800, 1700]
    summary = values["汇总"]
    head = [c.value for c in summary[2]]
    assert summary.cell(3, head.index("期末余额") + 1).value == 1700
    assert summary.cell(3, head.index("退回行数") + 1).value == 1
    assert [float(row["balance"]) for row in _csv(tmp_path / "exp" / "ledger.csv")] == [1800, 1700]


# ----------------------------------------------------------------------------- point 4


def test_problem_list_puts_errors_first_and_notes_on_their_own_sheet(books, district):
    """Issue point 4: 问题清单 holds errors, then warnings; the notes (info) are on 说明清单, right after it.
    Nothing is lost: the two sheets together hold every problem of problems.csv."""
    wb, _ = books
    out, _ = district
    names = wb.sheetnames
    assert names.index("说明清单") == names.index("问题清单") + 1
    problems, notes = _table(wb["问题清单"]), _table(wb["说明清单"])
    severities = [p["严重程度"] for p in problems]
    assert severities and set(severities) == {"错误", "提醒"}
    assert severities == sorted(severities, key=["错误", "提醒"].index)
    assert {p["严重程度"] for p in notes} == {"说明"}
    exported = _csv(out / "export" / "problems.csv")
    by_severity = {s: sum(p["severity"] == s for p in exported) for s in ("error", "warning", "info")}
    assert (severities.count("错误"), severities.count("提醒"), len(notes)) == (
        by_severity["error"], by_severity["warning"], by_severity["info"])


def test_problem_list_names_each_code_in_words_and_shows_raw_rows_readably(books):
    """Issue point 4: beside each code its meaning in Chinese (the catalogue's); the rejected row as
    `摘要：退回多收会费；…；收入(元)：200` rather than JSON; fields by their labels."""
    wb, _ = books
    for name in ("问题清单", "说明清单"):
        head = [c.value for c in wb[name][1]]
        assert head.index("问题类型") + 1 == head.index("代码")
        for p in _table(wb[name]):
            assert p["问题类型"] == CATALOGUE[p["代码"]][1], p
    rows = _table(wb["问题清单"])
    both = next(p for p in rows if p["代码"] == "income_expense_both_or_none")
    raw = both["原始行（已退回）"]
    assert "摘要：退回多收会费" in raw and "；" in raw and "{" not in raw and '"' not in raw
    assert both["字段"] == "收入(元)"
    assert all("{" not in (p["原始行（已退回）"] or "") for p in rows)


def test_problem_list_prints_on_a4_landscape(books):
    """Issue point 4: printable — landscape A4, fitted to one page wide, the header repeated, long texts
    wrapped in columns wide enough to read, the screen-only columns (代码's 行, 来源文件) outside the print area."""
    wb, _ = books
    for name in ("问题清单", "说明清单"):
        ws = wb[name]
        setup = ws.page_setup
        assert setup.orientation == "landscape" and str(setup.paperSize) == "9"
        assert ws.sheet_properties.pageSetUpPr.fitToPage and setup.fitToWidth in (None, 1) and setup.fitToHeight == 0
        assert ws.print_title_rows == "$1:$1"
        widths = _widths(ws)
        assert widths["说明"] >= 40 and widths["问题类型"] >= 14
        head = [c.value for c in ws[1]]
        message = head.index("说明") + 1
        assert all(ws.cell(r, message).alignment.wrap_text for r in range(2, ws.max_row + 1) if ws.cell(r, message).value)
        area = ws.print_area
        assert area is not None
    area = wb["问题清单"].print_area
    head = [c.value for c in wb["问题清单"][1]]
    last = openpyxl.utils.get_column_letter(head.index("原始行（已退回）") + 1)
    assert f"$A$1:${last}$" in area  # up to 原始行: 行 and 来源文件 are for the screen
    # a wrapped row is as tall as its text needs (spreadsheets do not grow it themselves)
    ws = wb["问题清单"]
    tall = [r for r in range(2, ws.max_row + 1) if len(str(ws.cell(r, message).value or "")) > 40]
    assert tall and all((ws.row_dimensions[r].height or 0) >= 30 for r in tall)


# ----------------------------------------------------------------------------- point 5


def test_submissions_show_dates_layout_title_reason_and_roster(books, district, layout):
    """Issue point 5: 修改时间 and 填报日期 are dates with a date format (not ISO text); 版式 is the layout's title;
    a 说明 gives the reason a file could not be read (its problem's message) or was replaced; a school not on
    the roster shows 已提交（不在名册）."""
    wb, _ = books
    out, _ = district
    ws = wb["提交情况"]
    head = [c.value for c in ws[1]]
    assert head[0] == "来源文件" and head[-1] == "状态" and "说明" in head
    rows = {r[0]: dict(zip(head, r, strict=True)) for r in ws.iter_rows(min_row=2, max_row=len(_csv(out / "export" / "submissions.csv")) + 1,
                                                                        values_only=True)}
    col = {h: i + 1 for i, h in enumerate(head)}
    for r in range(2, 2 + len(rows)):
        cell = ws.cell(r, col["修改时间"])
        assert isinstance(cell.value, dt.datetime) and "yyyy" in cell.number_format and "hh" in cell.number_format
    first = rows["城区片/XQ001_新桥区第一实验小学_2025.xlsx"]
    assert isinstance(first["填报日期"], dt.datetime) and first["填报日期"].date() == dt.date(2025, 12, 26)
    assert first["版式"] == layout.title["zh"] and first["状态"] == "已提交"
    problems = {p["source_file"]: p["message"] for p in _csv(out / "export" / "problems.csv") if p["code"] == "unreadable_file"}
    docx = rows["城南片/说明.docx"]
    assert docx["状态"] == "无法读取" and docx["说明"] == problems["城南片/说明.docx"]
    draft = rows["城南片/XQ002_新桥区实验中学_2025_初稿.xlsx"]
    assert draft["状态"] == "已被替代" and "XQ002_新桥区实验中学_2025.xlsx" in draft["说明"]
    off = rows["城南片/XQ101_新桥区教师发展中心_2025.xlsx"]
    assert off["状态"] == "已提交（不在名册）" and "不在名册" in off["说明"]
    widths = _widths(ws)
    assert widths["修改时间"] >= len("2026-12-04 14:24:58") + 2 and widths["状态"] >= display_width("已提交（不在名册）")


def test_submissions_csv_keeps_its_columns_and_statuses(district):
    """Issue point 5: submissions.csv keeps §6's columns and the status values 已提交 / 已被替代 / 无法读取 (a school
    not on the roster keeps 已提交; problems.csv has its not_on_roster warning)."""
    out, _ = district
    subs = _csv(out / "export" / "submissions.csv")
    assert list(subs[0]) == ["source_file", "sha256", "size", "modified", "layout", "layout_version", "org_code",
                             "org_name", "prepared_on", "status"]
    assert {s["status"] for s in subs} == {"已提交", "已被替代", "无法读取"}
    assert next(s for s in subs if s["org_code"] == "XQ101")["status"] == "已提交"


# ----------------------------------------------------------------------------- point 7


def test_a_roster_and_no_file_yet_writes_the_status_board(tmp_path):
    """Issue point 7: in the first week of collection (a roster, an empty inbox) the workbook is written — 汇总
    with every school 未提交, 提交情况 — and the exit code is 1 (written, but nothing merged)."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    out = tmp_path / "d.xlsx"
    r = run("merge", inbox, "--roster", ROSTER, "-o", out, "--export", tmp_path / "exp")
    assert r.exit_code == 1, r.output
    assert "还没有可以汇总的文件" in r.output and "退出码 1" in r.output
    values = openpyxl.load_workbook(out, data_only=True)
    assert values.sheetnames[:2] == ["汇总", "提交情况"] and "图表" not in values.sheetnames
    ws = values["汇总"]
    roster = [row for row in csv.reader(ROSTER.read_text(encoding="utf-8-sig").splitlines())][1:]
    rows = [r for r in ws.iter_rows(min_row=3, max_row=2 + len(roster), values_only=True)]
    assert [(r[0], r[2]) for r in rows] == [(code, "未提交") for code, _ in roster]
    assert "还没有可以汇总的文件" in " ".join(str(c.value) for c in ws[1] if c.value)
    assert _csv(tmp_path / "exp" / "submissions.csv") == []


def test_a_roster_and_only_unreadable_files_writes_the_board_too(tmp_path):
    """Issue point 7: the same when every file so far is unreadable: its school shows 无法读取 with the reason
    in 提交情况; without a roster nothing is written (exit 2), as before."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "XQ003_育才.xlsx").write_text("单位代码,单位名称\n", encoding="utf-8")
    r = run("merge", inbox, "--roster", ROSTER, "-o", tmp_path / "d.xlsx")
    assert r.exit_code == 1, r.output
    wb = openpyxl.load_workbook(tmp_path / "d.xlsx")
    status = {row[0]: row[2] for row in wb["汇总"].iter_rows(min_row=3, values_only=True)}
    assert status["XQ003"] == "无法读取" and status["XQ001"] == "未提交"
    sub = _table(wb["提交情况"])[0]
    assert sub["状态"] == "无法读取" and "XQ003_育才.xlsx" in sub["说明"]
    r = run("merge", inbox, "-o", tmp_path / "e.xlsx")
    assert r.exit_code == 2 and not (tmp_path / "e.xlsx").exists()


# ----------------------------------------------------------------------------- point 8


def test_the_report_names_files_and_schools_in_one_stream_and_language(district):
    """Issue point 8: the summary names the unreadable file and the missing school, the 行数核对 table and the
    summary go to stdout together (nothing of the report on stderr), and the closing line is all Chinese."""
    _, proc = district
    out, err = proc.stdout, proc.stderr
    assert "行数核对（读取 = 汇总 + 退回）" in out and "读取文件 7 个" in out
    assert "城南片/说明.docx" in out and "新桥区职业技术学校（XQ006）" in out and "新桥区教师发展中心（XQ101）" in out
    assert "行数核对" not in err and "读取文件" not in err and "汇总工作簿" not in err
    lines = out.strip().splitlines()
    assert lines[-1].startswith("结果：") and "退出码 1" in lines[-1]
    assert not any(word in out for word in ("Rows", "Files read", "District workbook", "Export", "Result"))


def test_the_english_report_is_all_english(tmp_path):
    """Issue point 8: with --lang en every line of the report is English (school and file names aside)."""
    proc = subprocess.run([str(SHEETPLAN), "merge", str(SUBMITTED), "--roster", str(ROSTER), "-o", str(tmp_path / "d.xlsx"),
                           "--lang", "en"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr
    names = {"城南片", "说明", "新桥区", "职业技术学校", "教师发展中心", "工作计划"}
    text = proc.stdout
    for name in names:
        text = text.replace(name, "")
    assert not any(ch in text for ch in CJK), proc.stdout
    assert proc.stdout.strip().splitlines()[-1].startswith("Result:")


def test_more_than_ten_names_end_with_how_many(tmp_path):
    """Issue point 8: up to 10 names, then 等 N 所."""
    roster = tmp_path / "roster.csv"
    roster.write_text("单位代码,单位名称\n" + "".join(f"S{i:02d},学校{i:02d}\n" for i in range(1, 13)), encoding="utf-8")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    r = run("merge", inbox, "--roster", roster, "-o", tmp_path / "d.xlsx")
    assert r.exit_code == 1
    line = next(x for x in r.stdout.splitlines() if x.startswith("未提交的学校"))
    assert line.startswith("未提交的学校 12 所：学校01（S01）、") and "学校10（S10）等 12 所。" in line
    assert "S11" not in line


# ----------------------------------------------------------------------------- point 9


def test_header_zh_writes_the_chinese_labels(tmp_path, layout):
    """Issue point 9 (§5): field keys stay the default header; --header zh writes the Chinese labels, for
    every CSV of the export."""
    r = run("merge", SUBMITTED, "--export", tmp_path / "exp", "--header", "zh")
    assert r.exit_code == 1, r.output
    ledger = layout.sheet("ledger")
    rows = _csv(tmp_path / "exp" / "ledger.csv")
    assert list(rows[0]) == [f.label["zh"] for f in ledger.fields] + ["单位代码", "单位名称", "来源文件", "来源行"]
    assert rows[0]["凭证号"] == "001"
    assert list(_csv(tmp_path / "exp" / "problems.csv")[0])[:5] == ["来源文件", "单位代码", "单位名称", "严重程度", "代码"]
    assert list(_csv(tmp_path / "exp" / "submissions.csv")[0])[-1] == "状态"
    r = run("merge", SUBMITTED, "--export", tmp_path / "keys")
    assert list(_csv(tmp_path / "keys" / "ledger.csv")[0])[:2] == ["date", "voucher"]


def test_parquet_holds_problems_and_submissions_too(tmp_path):
    """Issue point 9: --format parquet writes problems.parquet and submissions.parquet beside the tables' files,
    with the CSV's columns and rows, listed in the manifest."""
    import json

    import pyarrow.parquet as pq

    r = run("merge", SUBMITTED, "--export", tmp_path / "exp", "--format", "parquet")
    assert r.exit_code == 1, r.output
    exp = tmp_path / "exp"
    for name in ("problems", "submissions"):
        table = pq.read_table(exp / f"{name}.parquet")
        rows = _csv(exp / f"{name}.csv")
        assert table.column_names == list(rows[0]) and table.num_rows == len(rows)
    subs = pq.read_table(exp / "submissions.parquet").to_pylist()
    assert isinstance(subs[0]["modified"], dt.datetime) and isinstance(subs[0]["size"], int)
    listed = {f["name"] for f in json.loads((exp / "manifest.json").read_text(encoding="utf-8"))["files"]}
    assert {"problems.parquet", "submissions.parquet"} <= listed


@pytest.mark.parametrize("option", [["--format", "parquet"], ["--header", "zh"]])
def test_export_options_without_an_export_are_a_usage_error(tmp_path, option):
    """Issue point 9: --format parquet (or --header zh) without --export was silently ignored; now exit 2 with a
    Chinese message naming --export, and nothing written."""
    r = run("merge", SUBMITTED, "-o", tmp_path / "d.xlsx", *option)
    assert r.exit_code == 2
    assert "只对导出文件起作用" in r.output and "--export" in r.output
    assert not (tmp_path / "d.xlsx").exists()
