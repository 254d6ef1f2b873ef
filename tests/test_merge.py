"""`sheetplan merge` on the sample submissions (typed in through LibreOffice) and on edge cases."""

from __future__ import annotations

import csv
import hashlib
import shutil
import zipfile
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

import sheetplan.merge.run as merge_run
import sheetplan.merge.stream as detail_stream
from sheetplan.cli import cli
from sheetplan.merge import merge
from sheetplan.report.check import check_file

SAMPLES = Path(__file__).parents[1] / "samples"
SUBMITTED = SAMPLES / "submitted"
ROSTER = SAMPLES / "roster.csv"


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def _csv(path: Path) -> csv.DictReader:
    return csv.DictReader(path.read_text(encoding="utf-8-sig").splitlines())


def _hashes(folder: Path) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def merged(tmp_path_factory):
    out = tmp_path_factory.mktemp("merge")
    before = _hashes(SUBMITTED)
    r = run("merge", str(SUBMITTED), "--roster", str(ROSTER), "-o", str(out / "区汇总.xlsx"), "--export", str(out / "export"),
            "--jobs", "2")
    assert _hashes(SUBMITTED) == before, "inputs are never modified"
    return out, r


def test_merge_exit_code_and_accounting_printed(merged):
    out, r = merged
    assert r.exit_code == 1  # written, but a file is unreadable and rows were rejected
    assert "读取 = 汇总 + 退回" in r.output
    assert "读取文件 7 个（其中已被替代 1 个），无法读取 1 个，未提交学校 1 所" in r.output
    assert "城南片/说明.docx" in r.output and "新桥区职业技术学校（XQ006）" in r.output  # named, not only counted
    assert (out / "区汇总.xlsx").exists()


def test_accounting_identity_per_table(layout):
    result = merge([SUBMITTED], ROSTER, jobs=1)
    accepted = [f for f in result.files if f.status == "submitted"]
    for t in layout.tables:
        c = result.counts[t.key]
        assert c["read"] == c["merged"] + c["rejected"]
        # independently: every non-empty row of every accepted file, as `check` reads it
        rows = rejected = 0
        for f in accepted:
            data = check_file(f.path, layout)
            rows += len(data.tables[t.key].records)
            rejected += sum(r.rejected for r in data.tables[t.key].records)
        assert (c["read"], c["rejected"]) == (rows, rejected)
    assert sum(c["rejected"] for c in result.counts.values()) == 5
    assert result.exit_code == 1


def test_summary_sheet(merged, layout):
    out, _ = merged
    ws = openpyxl.load_workbook(out / "区汇总.xlsx", data_only=True)["汇总"]
    head = [c.value for c in ws[2]]
    assert head[:3] == ["单位代码", "单位名称", "提交状态"]
    assert head[3:] == [c.label["zh"] for c in layout.district.columns] + ["错误数", "警告数", "退回行数", "来源文件"]
    rows = {ws.cell(r, 1).value: [c.value for c in ws[r]] for r in range(3, ws.max_row + 1)}
    col = {h: i for i, h in enumerate(head)}
    assert [k for k in rows] == ["XQ001", "XQ002", "XQ003", "XQ004", "XQ005", "XQ006", "XQ101", "合计"]
    assert rows["XQ006"][col["提交状态"]] == "未提交"
    assert rows["XQ006"][col["计划事项"]] is None and rows["XQ006"][col["慰问金额"]] is None  # blank, not 0
    assert rows["XQ006"][col["错误数"]] in (None, "") and rows["XQ004"][col["错误数"]] == 6  # no file, no count
    assert rows["XQ002"][col["提交状态"]] == "已提交"
    assert rows["XQ002"][col["来源文件"]] == "城南片/XQ002_新桥区实验中学_2025.xlsx"
    assert rows["XQ004"][col["错误数"]] == 6
    assert rows["XQ001"][col["计划事项"]] == 13 and rows["XQ001"][col["完成率"]] == pytest.approx(10 / 13)
    total = rows["合计"]
    assert total[col["慰问金额"]] == pytest.approx(sum(rows[k][col["慰问金额"]] or 0 for k in rows if k != "合计"))
    done = sum(rows[k][col["已完成"]] or 0 for k in rows if k != "合计")
    items = sum(rows[k][col["计划事项"]] or 0 for k in rows if k != "合计")
    cancelled = sum(rows[k][col["已取消"]] or 0 for k in rows if k != "合计")
    assert total[col["完成率"]] == pytest.approx(done / (items - cancelled))
    closing = rows["XQ003"][col["上年结余"]] + rows["XQ003"][col["收入合计"]] - rows["XQ003"][col["支出合计"]]
    assert rows["XQ003"][col["期末余额"]] == pytest.approx(closing)


def test_submissions_and_double_submission(merged):
    out, _ = merged
    ws = openpyxl.load_workbook(out / "区汇总.xlsx")["提交情况"]
    rows = {ws.cell(r, 1).value: [c.value for c in ws[r]] for r in range(2, ws.max_row + 1)}
    head = [c.value for c in ws[1]]
    assert rows["城南片/XQ002_新桥区实验中学_2025_初稿.xlsx"][-1] == "已被替代"
    assert rows["城南片/XQ002_新桥区实验中学_2025.xlsx"][-1] == "已提交"
    assert rows["城南片/说明.docx"][-1] == "无法读取"
    sha = hashlib.sha256((SUBMITTED / "城区片/XQ001_新桥区第一实验小学_2025.xlsx").read_bytes()).hexdigest()
    assert rows["城区片/XQ001_新桥区第一实验小学_2025.xlsx"][head.index("SHA-256")] == sha
    details = openpyxl.load_workbook(out / "区汇总.xlsx")["工作计划"]
    sources = {details.cell(r, details.max_column - 1).value for r in range(2, details.max_row + 1)}
    assert "城南片/XQ002_新桥区实验中学_2025_初稿.xlsx" not in sources


def test_not_on_roster_is_included_with_a_warning(merged):
    out, _ = merged
    probs = list(_csv(out / "export" / "problems.csv"))
    nor = [p for p in probs if p["code"] == "not_on_roster"]
    assert len(nor) == 1 and nor[0]["org_code"] == "XQ101" and nor[0]["severity"] == "warning"


def test_rejected_rows_are_kept_raw_in_problems(merged):
    out, _ = merged
    ws = openpyxl.load_workbook(out / "区汇总.xlsx")["问题清单"]
    head = [c.value for c in ws[1]]
    rows = [dict(zip(head, [c.value for c in r], strict=True)) for r in ws.iter_rows(min_row=2)]
    both = next(r for r in rows if r["代码"] == "income_expense_both_or_none")
    assert both["单位代码"] == "XQ004" and "摘要：退回多收会费" in both["原始行（已退回）"]
    assert both["单元格"] == "F19" and both["严重程度"] == "错误"


def test_export_csv_files(merged, layout):
    out, _ = merged
    exp = out / "export"
    assert sorted(p.name for p in exp.iterdir()) == sorted([f"{t.key}.csv" for t in layout.tables] + ["problems.csv", "submissions.csv", "manifest.json"])
    raw = (exp / "ledger.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(_csv(exp / "ledger.csv"))
    assert list(rows[0])[:3] == ["date", "voucher", "summary"]
    assert list(rows[0])[-4:] == ["org_code", "org_name", "source_file", "source_row"]
    assert rows[0]["voucher"] == "001"  # leading zeros kept
    subs = list(_csv(exp / "submissions.csv"))
    assert list(subs[0]) == ["source_file", "sha256", "size", "modified", "layout", "layout_version", "org_code",
                             "org_name", "prepared_on", "status"]
    probs = list(_csv(exp / "problems.csv"))
    assert list(probs[0]) == ["source_file", "org_code", "org_name", "severity", "code", "sheet", "cell", "row",
                              "field", "value", "message", "raw"]


def test_export_joined_from_the_workers_pieces_equals_one_rendered_from_the_rows(merged, layout, tmp_path):
    """The CLI's export joins CSV lines the workers rendered (skipping the superseded 初稿); the API renders rows."""
    from sheetplan.write.export import export_csv

    out, _ = merged
    result = merge([SUBMITTED], roster=ROSTER, jobs=1)
    try:
        assert result.spill is not None and result.spill.csv is None  # no pieces: rendered from the rows here
        export_csv(result, tmp_path / "api")
    finally:
        result.spill.close()
    assert any(f.status == "superseded" for f in result.files)
    for t in layout.tables:
        assert (tmp_path / "api" / f"{t.key}.csv").read_bytes() == (out / "export" / f"{t.key}.csv").read_bytes(), t.key
        assert len(list(_csv(out / "export" / f"{t.key}.csv"))) == result.counts[t.key]["merged"]


def test_district_workbook_recalculates_to_the_cached_values(merged, lo, tmp_path):
    out, _ = merged
    src = out / "区汇总.xlsx"
    lo.recalc(src, tmp_path / "re.xlsx", check_errors=True)
    formulas = openpyxl.load_workbook(src)
    cached = openpyxl.load_workbook(src, data_only=True)
    computed = openpyxl.load_workbook(tmp_path / "re.xlsx", data_only=True)
    n, mismatches = 0, []
    for ws in formulas.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if cell.data_type != "f":
                    continue
                n += 1
                a, b = cached[ws.title][cell.coordinate].value, computed[ws.title][cell.coordinate].value
                if a in (None, "") and b in (None, ""):
                    continue
                if not (isinstance(a, (int, float)) and isinstance(b, (int, float)) and abs(a - b) < 1e-6):
                    mismatches.append((ws.title, cell.coordinate, a, b))
    assert n > 400
    assert mismatches == []


def test_formula_injection_stays_text(lo, tmp_path, layout):
    from sheetplan.layout.geometry import data_cell
    from sheetplan.write import Org, write_template

    template, filled = tmp_path / "t.xlsx", tmp_path / "X1_注入_2025.xlsx"
    write_template(layout, Org("注入学校", "X1", 2025), template)
    ledger = layout.sheet("ledger")
    evil = '=HYPERLINK("http://example.invalid","点我")'
    lo.fill(template, filled, {"经费台账": {
        data_cell(ledger, "date", 0): "2025-03-01", data_cell(ledger, "summary", 0): {"text": evil},
        data_cell(ledger, "category", 0): "会费收入", data_cell(ledger, "income", 0): 10,
        data_cell(ledger, "handler", 0): {"text": "+1+1"}, data_cell(ledger, "note", 0): {"text": "@SUM(1)"}}})
    out = tmp_path / "d.xlsx"
    r = run("merge", str(filled), "-o", str(out), "--export", str(tmp_path / "exp"))
    assert r.exit_code == 0, r.output
    ws = openpyxl.load_workbook(out)["经费台账"]
    head = [c.value for c in ws[1]]
    row = {h: ws.cell(2, i + 1) for i, h in enumerate(head)}
    assert row["摘要"].data_type == "s" and row["摘要"].value == evil
    assert row["经办人"].data_type == "s" and row["经办人"].value == "+1+1"
    assert row["备注"].value == "@SUM(1)"
    exported = list(_csv(tmp_path / "exp" / "ledger.csv"))
    # in the CSV a leading apostrophe keeps Excel from evaluating it when a clerk double-clicks the file
    assert (exported[0]["summary"], exported[0]["handler"], exported[0]["note"]) == ("'" + evil, "'+1+1", "'@SUM(1)")
    for name in ("ledger.csv", "problems.csv", "submissions.csv"):
        for rec in _csv(tmp_path / "exp" / name):
            assert not any(v.startswith(("=", "+", "-", "@", "\t", "\r")) for v in rec.values() if v), (name, rec)


def test_unreadable_files_do_not_stop_the_others(tmp_path):
    inbox = tmp_path / "inbox"
    shutil.copytree(SUBMITTED / "城区片", inbox)
    good = next(inbox.glob("XQ001_*.xlsx"))
    (inbox / "XQ003_坏文件.xlsx").write_bytes(good.read_bytes()[:5000])  # truncated
    (inbox / "XQ005_表格.xlsx").write_text("单位代码,单位名称\nXQ005,x\n", encoding="utf-8")
    (inbox / "~$XQ001_临时.xlsx").write_bytes(b"lock")  # Excel's lock file: ignored
    result = merge([inbox], ROSTER, jobs=2)
    status = {f.source_file: f.status for f in result.files}
    assert status["XQ003_坏文件.xlsx"] == "unreadable" and status["XQ005_表格.xlsx"] == "unreadable"
    assert "~$XQ001_临时.xlsx" not in status
    assert status[good.name] == "submitted"
    assert result.exit_code == 1
    assert result.counts["plan"]["merged"] >= 13


def test_nothing_readable_exits_2_and_writes_nothing(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a.xlsx").write_text("not a workbook", encoding="utf-8")
    out = tmp_path / "d.xlsx"
    r = run("merge", str(inbox), "-o", str(out))
    assert r.exit_code == 2 and "都无法读取" in r.output
    assert not out.exists()


def test_too_many_rows_points_at_export(tmp_path, monkeypatch):
    monkeypatch.setattr(detail_stream, "EXCEL_MAX_DATA_ROWS", 20)
    out = tmp_path / "d.xlsx"
    r = run("merge", str(SUBMITTED), "-o", str(out))
    assert r.exit_code == 2 and "--export" in r.output and "1,048,576" in r.output
    assert not out.exists()
    r = run("merge", str(SUBMITTED), "-o", str(out), "--export", str(tmp_path / "exp"))
    assert r.exit_code == 1
    wb = openpyxl.load_workbook(out)
    assert "经费台账" not in wb.sheetnames and "汇总" in wb.sheetnames
    assert "导出文件夹" in wb["汇总"]["A1"].value
    assert len(list(_csv(tmp_path / "exp" / "ledger.csv"))) > 20


@pytest.mark.parametrize("where", ["sheetplan.write.district._District.finish", "sheetplan.write.district._District.add_rows"])
def test_interrupted_write_keeps_the_old_output(tmp_path, monkeypatch, where):
    """Interrupted at the end, or while the detail is being written as the files are read."""
    out = tmp_path / "d.xlsx"
    out.write_bytes(b"old output")

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(where, boom)
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))  # xlsxwriter's own temporary files must go too
    r = run("merge", str(SUBMITTED), "-o", str(out))
    assert r.exit_code != 0
    assert out.read_bytes() == b"old output"
    assert [p.name for p in tmp_path.iterdir()] == ["d.xlsx"]


def test_python_api(layout):
    from sheetplan.api import merge as merge_frames

    district = merge_frames([SUBMITTED], roster=ROSTER, jobs=1)
    ledger = district.tables["ledger"]
    assert {"org_code", "org_name", "source_file", "source_row", "date", "income"} <= set(ledger.columns)
    assert ledger["org_code"].nunique() == 6
    assert district.problems.shape[0] == len(district.result.problems)
    assert set(district.submissions["status"]) == {"已提交", "已被替代", "无法读取"}
    assert district.counts["ledger"]["read"] == district.counts["ledger"]["merged"] + district.counts["ledger"]["rejected"]


def test_same_person_entered_by_two_schools_is_a_warning(tmp_path, layout):
    import io

    from corpus import filled_bytes
    from sheetplan.layout.geometry import data_cell, form_cell

    entries, info = layout.sheet("entries"), layout.sheet("info")
    for code in ("S1", "S2"):
        wb = openpyxl.load_workbook(io.BytesIO(filled_bytes()))
        wb[info.name["zh"]][form_cell(info, "org_code")] = code
        for p in wb.custom_doc_props.props:
            if p.name == "sheetplan.org_code":
                p.value = code
        ws = wb[entries.name["zh"]]
        for field, value in (("event", "跳绳"), ("name", "陈明"), ("gender", "男"), ("phone", "13812345678")):
            ws[data_cell(entries, field, 0)] = value
        wb.save(tmp_path / f"{code}.xlsx")
    result = merge([tmp_path], jobs=1)
    dup = [p for p in result.problems if p.code == "duplicate_across_schools"]
    assert len(dup) == 1 and dup[0].severity == "warning" and dup[0].file == "S2.xlsx"
    assert dup[0].cell == "C3" and "S1" in dup[0].message_zh
    assert result.counts["entries"]["merged"] == 2  # a warning keeps the row


def test_a_file_that_takes_too_long_is_given_up(tmp_path, monkeypatch, layout):
    import time as _time

    from sheetplan.merge import read_one

    def slow(*args, **kwargs):
        _time.sleep(5)

    good = next((SUBMITTED / "城区片").glob("XQ001_*.xlsx"))
    start = _time.monotonic()
    res = read_one((str(good), good.name), layout, timeout=1, check=slow)
    assert _time.monotonic() - start < 3
    assert res.status == "unreadable" and [p.code for p in res.problems] == ["timeout"]


@pytest.mark.parametrize("text", ["=1+1", "+1+1", "-1+1", "@SUM(1)", "\t=1", "\r=1"])
def test_no_school_text_becomes_a_formula(tmp_path, layout, text):
    import io

    from corpus import filled_bytes
    from sheetplan.layout.geometry import data_cell

    ledger = layout.sheet("ledger")
    wb = openpyxl.load_workbook(io.BytesIO(filled_bytes()))
    cell = wb[ledger.name["zh"]][data_cell(ledger, "note", 0)]
    cell.value, cell.data_type = text, "s"
    wb.save(tmp_path / "in.xlsx")
    out = tmp_path / "d.xlsx"
    r = run("merge", str(tmp_path / "in.xlsx"), "-o", str(out))
    assert r.exit_code in (0, 1), r.output
    ws = openpyxl.load_workbook(out)["经费台账"]
    head = [c.value for c in ws[1]]
    note = ws.cell(2, head.index("备注") + 1)
    assert note.data_type == "s" and note.value == text.strip()  # surrounding whitespace is not data
    with zipfile.ZipFile(out) as z:
        assert all("<f>1+1" not in z.read(n).decode("utf-8", "replace") for n in z.namelist() if n.endswith(".xml"))


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs /proc to see worker processes")
def test_killed_merge_leaves_old_or_complete_output(tmp_path):
    import signal
    import subprocess
    import sys
    import time as _time

    out = tmp_path / "d.xlsx"
    out.write_bytes(b"old output")
    for delay in (0.4, 0.8, 1.2):
        proc = subprocess.Popen([sys.executable, "-m", "sheetplan.cli", "merge", str(SUBMITTED), "-o", str(out)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        data = out.read_bytes()
        if data != b"old output":
            assert zipfile.is_zipfile(out) and "汇总" in openpyxl.load_workbook(out).sheetnames
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "d.xlsx"]
    assert all(n.startswith(".~sheetplan-") for n in leftovers)  # a killed process cannot clean up; never under the real name
    # and its worker processes do not linger, waiting for work that will never come
    deadline = _time.monotonic() + 5
    while _orphans(str(out)) and _time.monotonic() < deadline:
        _time.sleep(0.2)
    assert _orphans(str(out)) == []


def _orphans(target: str) -> list[int]:
    """Processes still running with ``target`` on their command line."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if target.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_parquet_export(tmp_path, layout):
    import pyarrow.parquet as pq

    r = run("merge", str(SUBMITTED), "--export", str(tmp_path / "exp"), "--format", "parquet")
    assert r.exit_code == 1, r.output
    table = pq.read_table(tmp_path / "exp" / "ledger.parquet")
    csv_rows = list(_csv(tmp_path / "exp" / "ledger.csv"))
    assert table.num_rows == len(csv_rows) > 50
    assert table.schema.field("date").type.id == pq.read_schema(tmp_path / "exp" / "ledger.parquet").field("date").type.id
    assert str(table.schema.field("date").type) == "date32[day]" and str(table.schema.field("income").type) == "double"
    first = table.slice(0, 1).to_pylist()[0]
    assert first["voucher"] == csv_rows[0]["voucher"] and first["org_code"] == csv_rows[0]["org_code"]


def test_more_problems_than_a_sheet_holds(tmp_path, monkeypatch):
    """问题清单 (errors, warnings) and 说明清单 (notes) each list the most serious problems that fit and say how
    many more problems.csv holds; none dropped from the export."""
    import sheetplan.write.district as district

    full = merge([SUBMITTED])  # as the command below: no roster
    n = len(full.problems)
    serious = [p for p in full.problems if p.severity != "info"]
    notes = n - len(serious)
    assert notes > len(serious) > 4
    # room for len(serious) - 4 problems per sheet (a header row and a row saying what did not fit)
    monkeypatch.setattr(district, "EXCEL_MAX_ROWS", len(serious) - 2)
    room = len(serious) - 4
    out = tmp_path / "d.xlsx"
    r = run("merge", str(SUBMITTED), "-o", str(out))
    assert r.exit_code == 2 and "problems.csv" in r.output and not out.exists()
    r = run("merge", str(SUBMITTED), "-o", str(out), "--export", str(tmp_path / "exp"))
    assert r.exit_code == 1, r.output
    wb = openpyxl.load_workbook(out)
    for name, total in (("问题清单", len(serious)), ("说明清单", notes)):
        rows = list(wb[name].iter_rows(values_only=True))
        listed, last = rows[1:-1], rows[-1]
        assert len(listed) == room, name
        assert last[0] == f"另有 {total - room} 条问题（均为较轻的）超出工作表行数上限未列出；全部问题见导出文件夹中的 problems.csv。"
    head = [c.value for c in wb["问题清单"][1]]
    severities = [row[head.index("严重程度")] for row in list(wb["问题清单"].iter_rows(values_only=True))[1:-1]]
    assert severities == sorted(severities, key=["错误", "提醒"].index)  # errors first
    assert severities.count("错误") == min(room, sum(1 for p in full.problems if p.severity == "error"))
    assert len(list(_csv(tmp_path / "exp" / "problems.csv"))) == n


@pytest.mark.parametrize("formula_like", [True, False])
def test_csv_lines_column_by_column_match_the_cell_by_cell_rendering(layout, formula_like):
    """The workers' CSV lines, converted per column type, are exactly what _cell gives cell by cell."""
    import csv as _csv_mod
    import datetime as dt
    import io

    from sheetplan.write.export import _cell, csv_lines

    sheet = layout.sheet("ledger")
    samples = {"date": [dt.date(2025, 1, 6), None], "money": [1200.0, 714.45, None, 1e16, 0.0],
               "formula": [-3.5, 2.0, None], "int": [7, None], "month": [12, None],
               "text": ["=HYPERLINK(\"x\")", "+1", "-", "@a", "\tx", "\rx", "普通", None, "0012"]}
    if not formula_like:
        samples["text"] = ["普通", None, "0012", "", " a=b", "x\x00y"]
    rows = []
    for i in range(12):
        values = []
        for f in sheet.fields:
            pool = samples.get(f.type, samples["text"])
            values.append(pool[i % len(pool)])
        rows.append(("=B1", "学校", *values, "+f.xlsx", i + 3))
    buf = io.StringIO()
    _csv_mod.writer(buf, lineterminator="\r\n").writerows(
        [_cell(v) for v in (*r[2:-2], r[0], r[1], r[-2], r[-1])] for r in rows)
    assert csv_lines(rows, sheet.fields) == buf.getvalue().encode("utf-8")
    assert (b"'=HYPERLINK" in csv_lines(rows, sheet.fields)) is formula_like and b",1200," in csv_lines(rows, sheet.fields)


def _sheet_rows(path: Path) -> dict[str, list[tuple]]:
    wb = openpyxl.load_workbook(path)
    return {name: [tuple(c.value for c in row) for row in wb[name].iter_rows()] for name in wb.sheetnames}


def _but_the_run(sheets: dict[str, list[tuple]]) -> dict[str, list[tuple]]:
    """The sheets without 提交情况's line naming the run (each run has its own)."""
    last = sheets["提交情况"][-1]
    assert str(last[0]).startswith("汇总批次：")
    return {**sheets, "提交情况": sheets["提交情况"][:-1]}


def test_detail_written_while_reading_holds_the_same_rows(merged, tmp_path, layout):
    """The CLI writes the detail as files arrive; the schools that sent two files (XQ002) wait and come last.
    Every sheet holds what the write-at-the-end path writes, the detail sheets in that order."""
    from sheetplan.write.district import write_district

    out, _ = merged
    result = merge([SUBMITTED], roster=ROSTER, jobs=1)
    try:
        write_district(result, str(tmp_path / "at_end.xlsx"))
    finally:
        result.spill.close()
    streamed, at_end = _sheet_rows(out / "区汇总.xlsx"), _sheet_rows(tmp_path / "at_end.xlsx")
    assert list(streamed) == list(at_end)
    details = {t.name["zh"] for t in layout.tables}
    for name in streamed:
        if name in details:
            assert streamed[name][0] == at_end[name][0] and sorted(streamed[name][1:], key=str) == sorted(at_end[name][1:], key=str)
            codes = [row[0] for row in streamed[name][1:]]
            assert "XQ002" in codes and set(codes[codes.index("XQ002"):]) == {"XQ002"}, name
        elif name == "提交情况":  # the same but for the line naming each run
            runs = [r for r in (streamed[name][-1], at_end[name][-1])]
            assert all(str(r[0]).startswith("汇总批次：") for r in runs) and runs[0] != runs[1]
            assert streamed[name][:-1] == at_end[name][:-1]
        else:
            assert streamed[name] == at_end[name], name


def test_a_streamed_file_found_superseded_means_writing_again(tmp_path, monkeypatch, layout):
    """If the identities mislead (the 初稿 looks like the only file of XQ002, the final version has no identity),
    the 初稿's rows are written early, the merge then supersedes it, and the workbook is written again."""
    import sheetplan.reading.workbook
    from sheetplan.write.district import DistrictStream, write_district

    real = sheetplan.reading.workbook.identity_code
    monkeypatch.setattr(sheetplan.reading.workbook, "identity_code",
                        lambda p: None if Path(p).name == "XQ002_新桥区实验中学_2025.xlsx" else real(p))
    calls = []
    monkeypatch.setattr(DistrictStream, "abandon", lambda self, real=DistrictStream.abandon: (calls.append("abandon"), real(self))[1])
    r = run("merge", str(SUBMITTED), "--roster", str(ROSTER), "-o", str(tmp_path / "d.xlsx"))
    assert r.exit_code == 1 and "abandon" in calls
    result = merge([SUBMITTED], roster=ROSTER, jobs=1)
    try:
        write_district(result, str(tmp_path / "at_end.xlsx"))
    finally:
        result.spill.close()
    rewritten, at_end = _sheet_rows(tmp_path / "d.xlsx"), _sheet_rows(tmp_path / "at_end.xlsx")
    assert _but_the_run(rewritten) == _but_the_run(at_end)  # the same workbook, rows in input order
    assert all("初稿" not in str(row[-2]) for t in layout.tables for row in rewritten[t.name["zh"]][1:])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["at_end.xlsx", "d.xlsx"]  # no temporary file left


def test_a_detail_that_will_not_fit_stops_being_written_early(tmp_path, monkeypatch):
    """Once the files read so far say the detail cannot fit in a sheet, the workbook stops taking it."""
    monkeypatch.setattr(detail_stream, "EXCEL_MAX_DATA_ROWS", 60)  # the samples' 经费台账 has some 90 rows
    monkeypatch.setattr(detail_stream, "PROJECT_AFTER", 1)
    seen_at = []
    real = detail_stream.DetailStream._give_up
    monkeypatch.setattr(detail_stream.DetailStream, "_give_up", lambda self: (seen_at.append(self._seen), real(self))[1])
    out = tmp_path / "d.xlsx"
    r = run("merge", str(SUBMITTED), "-o", str(out), "--export", str(tmp_path / "exp"))
    assert r.exit_code == 1
    assert seen_at and seen_at[0] <= 2  # after the first file or two, not at the end
    wb = openpyxl.load_workbook(out)
    assert "经费台账" not in wb.sheetnames and "导出文件夹" in wb["汇总"]["A1"].value
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.xlsx", "exp"]


def test_an_export_alone_keeps_only_the_rows_that_cross_school_rules_read(layout):
    from sheetplan.merge import Spill, combine, find_inputs, read_all

    spill = Spill(layout, csv=True, rows=False)
    try:
        result = combine(read_all(find_inputs([SUBMITTED]), layout, jobs=2, spill=spill), layout, None, spill)
        kept = {t.key for t in layout.tables if t.merge_rules}
        assert kept == {"entries"}
        assert len(list(result.merged["entries"])) == result.counts["entries"]["merged"] > 0
        assert len(result.merged["ledger"]) == result.counts["ledger"]["merged"] > 0  # counted all the same
        with pytest.raises(RuntimeError):
            list(result.merged["ledger"])
    finally:
        spill.close()


def test_very_many_inputs_write_the_detail_at_the_end(tmp_path, monkeypatch):
    """Above STREAM_MAX_FILES inputs nothing is written while reading: the workbook is the write-at-the-end one."""
    from sheetplan.write.district import write_district

    monkeypatch.setattr(detail_stream, "STREAM_MAX_FILES", 2)
    monkeypatch.setattr(merge_run, "DetailStream", None)  # would fail if used
    r = run("merge", str(SUBMITTED), "--roster", str(ROSTER), "-o", str(tmp_path / "d.xlsx"))
    assert r.exit_code == 1
    result = merge([SUBMITTED], roster=ROSTER, jobs=1)
    try:
        write_district(result, str(tmp_path / "at_end.xlsx"))
    finally:
        result.spill.close()
    assert _but_the_run(_sheet_rows(tmp_path / "d.xlsx")) == _but_the_run(_sheet_rows(tmp_path / "at_end.xlsx"))
