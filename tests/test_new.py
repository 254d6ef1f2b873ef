"""`sheetplan new`: one workbook, roster runs, safety of names, determinism."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import openpyxl
import pytest
import yaml
from click.testing import CliRunner

from sheetplan.cli import cli
from sheetplan.errors import RosterError, UsageError
from sheetplan.layout import builtin_source, load_layout
from sheetplan.layout.load import export_source
from sheetplan.reading.roster import RosterEntry, read_roster
from sheetplan.write import Org, write_template
from sheetplan.write.stamp import new_from_roster, new_workbook, roster_file_name

GOLDEN = Path(__file__).parent / "data" / "golden_school_2025.xlsx"


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_inputs_give_a_byte_identical_file(tmp_path, layout):
    a, b = tmp_path / "a.xlsx", tmp_path / "b.xlsx"
    write_template(layout, Org("测试小学", "T001", 2025), a)
    write_template(layout, Org("测试小学", "T001", 2025), b)
    assert _sha(a) == _sha(b)
    c = tmp_path / "c.xlsx"
    write_template(layout, Org("测试小学", "T002", 2025), c)
    assert _sha(a) != _sha(c)


def test_matches_the_known_good_workbook(tmp_path, layout):
    """Every part of the zip equals the reviewed file (refresh: python tests/make_golden.py)."""
    out = tmp_path / "t.xlsx"
    write_template(layout, Org("新桥区第一实验小学", "XQ001", 2025), out)
    with zipfile.ZipFile(GOLDEN) as want, zipfile.ZipFile(out) as got:
        assert sorted(got.namelist()) == sorted(want.namelist())
        for name in want.namelist():
            if name == "docProps/custom.xml":  # carries the generator version
                continue
            assert got.read(name) == want.read(name), name


def test_new_single_workbook_via_cli(tmp_path):
    out = tmp_path / "x.xlsx"
    r = run("new", "--org-name", "第一实验小学", "--org-code", "S001", "--year", "2025", "-o", str(out))
    assert r.exit_code == 0, r.output
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames[:7] == ["填写说明", "基本信息", "工作计划", "月度安排", "慰问记录", "经费台账", "比赛报名"]
    info = wb["基本信息"]
    assert [info["B3"].value, info["B4"].value, info["B5"].value] == ["第一实验小学", "S001", 2025]
    assert wb["经费台账"]["A1"].value == "第一实验小学 2025年度 经费台账"
    # not overwritten without --force
    r = run("new", "--org-name", "别的学校", "--org-code", "S001", "--year", "2025", "-o", str(out))
    assert r.exit_code == 2 and "已存在" in r.output and "--force" in r.output
    assert openpyxl.load_workbook(out)["基本信息"]["B3"].value == "第一实验小学"
    r = run("new", "--org-name", "别的学校", "--org-code", "S001", "--year", "2025", "-o", str(out), "--force")
    assert r.exit_code == 0
    assert openpyxl.load_workbook(out)["基本信息"]["B3"].value == "别的学校"


@pytest.mark.parametrize(("args", "words"), [
    (["--org-name", "X", "--org-code", "a/b", "--year", "2025"], "单位代码“a/b”无效"),
    (["--org-name", " ", "--org-code", "A1", "--year", "2025"], "单位名称不能为空"),
    (["--org-name", "X", "--org-code", "A1", "--year", "1999"], "年度 1999 不在 2000–2100 之间"),
    (["--org-code", "A1", "--year", "2025"], "--org-name"),
])
def test_new_bad_arguments_exit_2_with_a_message(tmp_path, args, words):
    r = run("new", *args, "-o", str(tmp_path / "x.xlsx"))
    assert r.exit_code == 2
    assert words in r.output
    assert "Traceback" not in r.output
    assert not (tmp_path / "x.xlsx").exists()


def test_english_labels(tmp_path):
    out = tmp_path / "en.xlsx"
    r = run("new", "--org-name", "No. 1 School", "--org-code", "S001", "--year", "2025", "-o", str(out), "--lang", "en")
    assert r.exit_code == 0 and "Wrote" in r.output
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames[:7] == ["How to fill in", "Basic info", "Work plan", "Monthly schedule", "Care visits",
                                 "Fund ledger", "Competition entries"]
    ws = wb["Fund ledger"]
    assert ws["A1"].value == "No. 1 School 2025 Fund ledger"
    assert [c.value for c in ws[2][:3]] == ["Date", "Voucher no.", "Description"]
    dv = next(d for d in ws.data_validations.dataValidation if "A3" in str(d.sqref))
    assert dv.promptTitle == "Date" and "within 2025" in dv.prompt


def _roster(tmp_path: Path, text: str, encoding: str = "utf-8") -> Path:
    p = tmp_path / "roster.csv"
    p.write_bytes(text.encode(encoding))
    return p


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk"])
def test_roster_encodings(tmp_path, layout, encoding):
    p = _roster(tmp_path, "单位代码,单位名称\r\nXQ001,新桥区第一实验小学\r\n\r\nXQ002, 新桥区 实验中学 \r\n", encoding)
    assert read_roster(p, layout) == [RosterEntry("XQ001", "新桥区第一实验小学", 2), RosterEntry("XQ002", "新桥区 实验中学", 4)]


def test_roster_with_english_header_and_moved_columns(tmp_path, layout):
    p = _roster(tmp_path, "Organisation,Organisation code\n一中,A-1\n")
    assert read_roster(p, layout) == [RosterEntry("A-1", "一中", 2)]


def test_bad_roster_lines_reported_and_nothing_written(tmp_path, layout):
    p = _roster(tmp_path, "单位代码,单位名称\nS1,甲\nS1,乙\n,丙\nS 3,丁\nS4,\nS5,戊\x00校\n")
    out = tmp_path / "out"
    with pytest.raises(RosterError) as exc:
        new_from_roster(layout, p, 2025, out)
    msg = exc.value.text("zh")
    assert "有 5 行有误，未生成任何文件" in msg
    for line in ("第 3 行：单位代码“S1”与第 2 行重复", "第 4 行：单位代码为空", "第 5 行：单位代码“S 3”无效",
                 "第 6 行：单位名称为空", "第 7 行：单位名称含有不可见的控制字符"):
        assert line in msg
    assert not out.exists() or list(out.iterdir()) == []
    r = run("new", "--roster", str(p), "--year", "2025", "-o", str(out), "--lang", "en")
    assert r.exit_code == 2 and "line 3: the code 'S1' repeats line 2" in r.output


def test_roster_header_missing_or_empty(tmp_path, layout):
    with pytest.raises(RosterError, match="第 1 行应为表头"):
        read_roster(_roster(tmp_path, "code,name\nS1,甲\n"), layout)
    with pytest.raises(RosterError, match="是空的"):
        read_roster(_roster(tmp_path, "\n\n"), layout)
    with pytest.raises(RosterError, match="不是 UTF-8 或 GBK"):
        read_roster(_bin(tmp_path, b"\xff\xfe\x00\x00\x81"), layout)


def _bin(tmp_path: Path, data: bytes) -> Path:
    p = tmp_path / "binary.csv"
    p.write_bytes(data)
    return p


@pytest.mark.parametrize("name", ["../../etc/passwd", "a\\b\\..\\c", "C:\\Windows", "学校*?<>|\"", "CON", "  ..  ",
                                  "很长的名字" * 40, "中学/附属小学"])
def test_file_names_are_safe_and_stay_in_the_folder(tmp_path, name):
    fname = roster_file_name(RosterEntry("S001", name, 2), 2025)
    assert fname.startswith("S001_") and fname.endswith("_2025.xlsx")
    assert not any(ch in fname for ch in '<>:"/\\|?*\x00')
    assert ".." not in fname
    assert len(fname) <= 80
    target = (tmp_path / fname).resolve()
    assert target.parent == tmp_path.resolve()


def test_roster_run_with_hostile_names(tmp_path, layout):
    p = _roster(tmp_path, '单位代码,单位名称\nS1,../../逃出去\nS2,"a\\b:c*d"\nS3,' + "长" * 100 + "\n")
    out = tmp_path / "out"
    result = new_from_roster(layout, p, 2025, out, jobs=2)
    names = sorted(f.name for f in out.iterdir())
    assert names == sorted(f.name for f in result.files)
    assert len(names) == 3 and all(n.endswith("_2025.xlsx") for n in names)
    assert list(tmp_path.glob("*.xlsx")) == [] and not (tmp_path.parent / "逃出去_2025.xlsx").exists()
    # the name inside the workbook is the roster's, unchanged
    wb = openpyxl.load_workbook(next(out.glob("S1_*")))
    assert wb["基本信息"]["B3"].value == "../../逃出去"


def test_roster_run_writes_one_prefilled_workbook_per_school(tmp_path, layout):
    p = Path(__file__).parents[1] / "samples" / "roster.csv"
    out = tmp_path / "out"
    r = run("new", "--roster", str(p), "--year", "2026", "-o", str(out), "--jobs", "2")
    assert r.exit_code == 0, r.output
    assert "已生成 6 个工作簿" in r.output
    files = sorted(out.iterdir())
    assert [f.name for f in files][0] == "XQ001_新桥区第一实验小学_2026.xlsx"
    wb = openpyxl.load_workbook(files[1])
    assert [wb["基本信息"][c].value for c in ("B3", "B4", "B5")] == ["新桥区实验中学", "XQ002", 2026]
    # an existing file stops the whole run before anything is written
    stale = files[0].read_bytes()
    files[0].write_bytes(b"old")
    files[2].unlink()
    with pytest.raises(UsageError, match="已存在"):
        new_from_roster(layout, p, 2026, out)
    assert files[0].read_bytes() == b"old" and not files[2].exists()
    new_from_roster(layout, p, 2026, out, force=True, jobs=1)
    assert files[0].read_bytes() != b"old" and files[2].exists() and len(stale) > 1000


def test_custom_layout_used_everywhere(tmp_path):
    data = yaml.safe_load(builtin_source("school"))
    data["lists"]["entry_event"].append("飞盘")
    care_caps = data["sheets"][3]["rules"][0]["caps"]
    care_caps["生日"] = 300
    mine = tmp_path / "mine.yaml"
    mine.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    assert run("layout", "check", str(mine)).exit_code == 0
    out = tmp_path / "x.xlsx"
    r = run("new", "--org-name", "甲", "--org-code", "A1", "--year", "2025", "-o", str(out), "--layout", str(mine))
    assert r.exit_code == 0, r.output
    wb = openpyxl.load_workbook(out)
    lists = wb["代码表"]
    col = next(c for c in lists[1] if c.value == "entry_event").column
    values = [lists.cell(r, col).value for r in range(2, 14)]
    assert values[-1] == "飞盘"
    readme = " ".join(str(c.value) for row in wb["填写说明"].iter_rows() for c in row if c.value)
    assert "生日 300 元" in readme and "飞盘" in readme
    assert load_layout(mine).sheet("care").rules[0].params["caps"]["生日"] == 300


def test_layout_commands():
    r = run("layouts")
    assert r.exit_code == 0 and r.output.startswith("school\tv1\t学校工会年度工作台账")
    r = run("layout", "export", "school")
    assert r.exit_code == 0 and r.output == export_source("school")
    r = run("layout", "export", "nope")
    assert r.exit_code == 2 and "没有名为“nope”的内置版式" in r.output


def test_new_workbook_refuses_non_xlsx(tmp_path, layout):
    with pytest.raises(UsageError, match=r"\.xlsx"):
        new_workbook(layout, Org("甲", "A1", 2025), tmp_path / "x.xls")


@pytest.mark.parametrize(("name", "code"), [("新桥区第一实验小学", "XQ001"), ('A&B <学校> "x" \'y\'', "Z-9"),
                                            ("⟦ ⟧ =SUM(1)", "0012"), ("合计", "T1")])
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_stamped_workbook_equals_a_fresh_one(layout, name, code, lang):
    import io

    from sheetplan.write.stamp import Stamp

    stamped, fresh = io.BytesIO(), io.BytesIO()
    Stamp(layout, 2025, lang).write(Org(name, code, 2025), stamped)
    write_template(layout, Org(name, code, 2025), fresh, lang)
    if stamped.getvalue() != fresh.getvalue():
        # only a shared string that the name happens to repeat may be stored twice: compare cell for cell
        a, b = openpyxl.load_workbook(stamped), openpyxl.load_workbook(fresh)
        assert a.sheetnames == b.sheetnames
        for ws in a.worksheets:
            other = b[ws.title]
            assert [(c.coordinate, c.value, c.style_id) for r in ws.iter_rows() for c in r] == [
                (c.coordinate, c.value, c.style_id) for r in other.iter_rows() for c in r]
            assert [(str(d.sqref), d.formula1) for d in ws.data_validations.dataValidation] == [
                (str(d.sqref), d.formula1) for d in other.data_validations.dataValidation]
        assert {p.name: p.value for p in a.custom_doc_props.props} == {p.name: p.value for p in b.custom_doc_props.props}


def test_an_untouched_template_is_one_empty_submission_warning(tmp_path, layout):
    """Issue point 6: a template sent back as it came counted as submitted with zeros and no word; now `check`
    says so once, at 基本信息's 本年度无此项 line, as a warning (the file is still read and merged)."""
    from sheetplan.layout.geometry import form_cell
    from sheetplan.report.check import check_file

    path = tmp_path / "t.xlsx"
    write_template(layout, Org("测试小学", "T001", 2025), path)
    data = check_file(path, layout)
    assert [(p.code, p.severity, p.sheet, p.cell) for p in data.report] == [
        ("empty_submission", "warning", "基本信息", form_cell(layout.sheet("info"), "nothing_to_report"))]
    assert not data.report.has_errors


def test_a_school_says_which_tables_it_had_nothing_for(tmp_path, layout):
    """Issue point 6: filled tables and the empty ones named under 本年度无此项 give no warning; an empty table it
    does not name is one empty_table warning at that sheet."""
    import datetime as dt

    from sheetplan.report.check import check_file
    from sheetplan.write import Filled

    rows = {"plan": [{"category": "文体活动", "task": "教工踏青"}], "schedule": [{"month": 4, "activity": "踏青"}],
            "ledger": [{"date": dt.date(2025, 1, 5), "summary": "会费", "category": "会费收入", "income": 100.0}]}
    path = tmp_path / "t.xlsx"
    write_template(layout, Org("测试小学", "T001", 2025), path,
                   filled=Filled(info={"nothing_to_report": "慰问记录、比赛报名"}, rows=rows))
    assert [p.code for p in check_file(path, layout).report if p.severity != "info"] == []
    write_template(layout, Org("测试小学", "T001", 2025), path, filled=Filled(info={"nothing_to_report": "比赛报名"}, rows=rows))
    found = [(p.code, p.sheet, p.cell) for p in check_file(path, layout).report if p.severity != "info"]
    assert found == [("empty_table", "慰问记录", None)]
