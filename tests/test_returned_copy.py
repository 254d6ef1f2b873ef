"""The annotated copy a school gets back (`check --annotate`): it opens on its problem list, which reads and prints
like the rest of the workbook, and every mark is where a spreadsheet shows it."""

from __future__ import annotations

import re
import shutil
import subprocess
import unicodedata
import zipfile
from pathlib import Path

import openpyxl
import pytest

from sheetplan.problems import CATALOGUE, problem
from sheetplan.report.annotate import COMMENT_MARK, annotate_workbook
from sheetplan.report.check import check_file
from sheetplan.write import Org, write_template

XQ004 = Path(__file__).parents[1] / "samples" / "submitted" / "城南片" / "XQ004_新桥区城南中学_2025.xlsx"
LIST_ZH, LIST_EN = "问题清单", "Problems"


def _p(code: str, sheet: str, cell: str, severity: str | None = None):
    return problem(code, f"{cell} 有问题（{code}）", f"{cell} is wrong ({code})", severity, sheet=sheet, cell=cell,
                   row=int(re.sub(r"\D", "", cell)))


def _part(path: Path, name: str) -> str:
    with zipfile.ZipFile(path) as z:
        return z.read(name).decode()


def _table(ws) -> list[dict]:
    """The problem list's rows (from row 3) as dicts keyed by the header of row 2."""
    head = [c.value for c in ws[2]]
    return [dict(zip(head, row, strict=True)) for row in ws.iter_rows(min_row=3, values_only=True)]


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


@pytest.fixture(scope="module")
def sample_copy(tmp_path_factory, layout) -> tuple[Path, list]:
    """The sample school's file and its annotated copy, as `check --annotate` writes it."""
    data = check_file(XQ004, layout)
    out = tmp_path_factory.mktemp("copy") / "标注.xlsx"
    annotate_workbook(XQ004, out, data.report.problems, "zh", layout, org_name=data.org_name, year=data.year)
    return out, data.report.problems


@pytest.fixture
def template(tmp_path, layout) -> Path:
    path = tmp_path / "t.xlsx"
    write_template(layout, Org("标注小学", "A001", 2025), path)
    return path


# ----------------------------------------------------------------------------- point 11


def test_the_copy_opens_on_the_problem_list(sample_copy):
    """Issue point 11: 问题清单 is the first tab, the active one (workbook.xml activeTab) and the only selected one
    (each sheet's tabSelected), so the copy opens on it."""
    out, _ = sample_copy
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames[0] == LIST_ZH and wb.active.title == LIST_ZH
    assert [ws.title for ws in wb.worksheets if ws.sheet_view.tabSelected] == [LIST_ZH]
    book = _part(out, "xl/workbook.xml")
    assert re.search(r'<workbookView\b[^>]*\bactiveTab="0"', book)
    assert wb.sheetnames[1:] == openpyxl.load_workbook(XQ004).sheetnames  # the school's sheets, in their order


def test_the_title_line_names_the_school_and_the_year(sample_copy, template, tmp_path):
    """Issue point 11: a title line as on every sheet of the template: `新桥区城南中学 2025年度 问题清单`; from what
    the reader found, else from the workbook's identity; English with --lang en."""
    out, problems = sample_copy
    ws = openpyxl.load_workbook(out)[LIST_ZH]
    assert ws["A1"].value == "新桥区城南中学 2025年度 问题清单"
    assert ws["A1"].font.b and ws["A1"].font.sz >= 14
    assert ws["H1"].value == "共 6 个错误、1 个提醒、14 条说明"
    en = tmp_path / "en.xlsx"
    annotate_workbook(XQ004, en, problems, "en")  # no name given: the identity has it
    assert openpyxl.load_workbook(en)[LIST_EN]["A1"].value == "新桥区城南中学 2025 Problems"
    named = tmp_path / "named.xlsx"
    annotate_workbook(template, named, [_p("required", "经费台账", "C10")], org_name="改名小学", year=2026)
    assert openpyxl.load_workbook(named)[LIST_ZH]["A1"].value == "改名小学 2026年度 问题清单"


def test_code_names_in_chinese_beside_the_codes(sample_copy, tmp_path):
    """Issue point 11: beside each English code, what it means in plain Chinese (the catalogue's words); in
    English with --lang en."""
    out, problems = sample_copy
    ws = openpyxl.load_workbook(out)[LIST_ZH]
    head = [c.value for c in ws[2]]
    assert head == ["严重程度", "问题类型", "代码", "工作表", "单元格", "字段", "原值", "说明"]
    rows = _table(ws)
    assert len(rows) == len(problems)
    assert all(r["问题类型"] == CATALOGUE[r["代码"]][1] for r in rows)
    assert {r["严重程度"] for r in rows} == {"错误", "提醒", "说明"}
    en = tmp_path / "en.xlsx"
    annotate_workbook(XQ004, en, problems, "en")
    rows = _table(openpyxl.load_workbook(en)[LIST_EN])
    assert all(r["Problem"] == CATALOGUE[r["Code"]][2] for r in rows)


def test_the_list_follows_the_workbook(sample_copy, layout):
    """Issue points 11 and 16: errors first, then warnings, then notes; within each, the sheets in the layout's
    order and the cells by row."""
    out, _ = sample_copy
    rows = _table(openpyxl.load_workbook(out)[LIST_ZH])
    errors = [(r["工作表"], r["单元格"]) for r in rows if r["严重程度"] == "错误"]
    assert errors == [("工作计划", "G6"), ("慰问记录", "F11"), ("经费台账", "A18"), ("经费台账", "B19"),
                      ("经费台账", "F19"), ("比赛报名", "A14")]
    notes = [(r["工作表"], r["单元格"]) for r in rows if r["严重程度"] == "说明"]
    assert notes[0] == ("基本信息", None)  # a line of a newer template the file lacks: 基本信息 comes first
    assert [cell for _, cell in notes[1:]] == [f"E{n}" for n in range(3, 16)]  # E9 before E10


def test_the_list_prints_on_a4_landscape_one_page_wide(sample_copy):
    """Issue point 11: print set-up — A4 landscape, fitted to one page wide, title and header repeated on every page
    and frozen on screen, page numbers in the footer; columns wide enough for their Chinese text, long texts
    wrapped in rows tall enough to show them."""
    out, _ = sample_copy
    ws = openpyxl.load_workbook(out)[LIST_ZH]
    setup = ws.page_setup
    assert setup.orientation == "landscape" and str(setup.paperSize) == "9"
    assert ws.sheet_properties.pageSetUpPr.fitToPage and setup.fitToWidth == 1 and setup.fitToHeight == 0
    assert ws.print_title_rows == "$1:$2" and ws.freeze_panes == "A3"
    assert "&P" in ws.oddFooter.right.text and "&N" in ws.oddFooter.right.text
    head = [c.value for c in ws[2]]
    widths = {h: ws.column_dimensions[openpyxl.utils.get_column_letter(i + 1)].width for i, h in enumerate(head)}
    assert widths["说明"] >= 40 and widths["问题类型"] >= 14
    for i, h in enumerate(head):  # columns that do not wrap show their whole text
        if h in ("严重程度", "单元格"):
            longest = max(_width(str(ws.cell(r, i + 1).value or "")) for r in range(2, ws.max_row + 1))
            assert widths[h] >= longest, h
    message = head.index("说明") + 1
    for r in range(3, ws.max_row + 1):
        cell = ws.cell(r, message)
        assert cell.alignment.wrap_text
        lines = -(-_width(cell.value) // int(widths["说明"] - 1))
        assert ws.row_dimensions[r].height >= 16 * lines, (r, cell.value)


def test_the_cells_are_still_linked(sample_copy):
    """Issue point 11: every cell address on the list links to that cell of its sheet."""
    out, problems = sample_copy
    wb = openpyxl.load_workbook(out)
    ws = wb[LIST_ZH]
    col = [c.value for c in ws[2]].index("单元格") + 1
    linked = 0
    for r in range(3, ws.max_row + 1):
        sheet, ref = ws.cell(r, col - 1).value, ws.cell(r, col).value
        if sheet and ref:
            link = ws.cell(r, col).hyperlink
            assert link is not None and link.location == f"'{sheet}'!{ref}", (r, sheet, ref)
            assert sheet in wb.sheetnames
            linked += 1
    assert linked == sum(1 for p in problems if p.sheet and p.cell)


def _print_names(path: Path) -> dict[str, tuple[str | None, str | None]]:
    wb = openpyxl.load_workbook(path)
    return {ws.title: (ws.print_title_rows, ws.print_area) for ws in wb.worksheets if ws.title not in (LIST_ZH, LIST_EN)}


def test_the_schools_sheets_keep_their_print_set_up(sample_copy):
    """Issue point 11: the list goes first, so the sheet-local names that hold each sheet's print area and print
    titles (numbered by position) move with their sheets."""
    out, _ = sample_copy
    assert _print_names(out) == _print_names(XQ004)
    book = _part(out, "xl/workbook.xml")
    assert "<definedName name=\"_xlnm.Print_Titles\" localSheetId=\"0\">" in book


def test_annotating_the_copy_again_keeps_one_list_in_front(sample_copy, tmp_path, layout):
    """Issue point 11: checking and annotating the copy again replaces the list (one, in front, active) and leaves
    every other sheet's print set-up as the school had it."""
    out, _ = sample_copy
    again = tmp_path / "again.xlsx"
    annotate_workbook(out, again, [_p("required", "经费台账", "C3")], "zh", layout)
    wb = openpyxl.load_workbook(again)
    assert wb.sheetnames == [LIST_ZH, *openpyxl.load_workbook(XQ004).sheetnames]
    assert wb.active.title == LIST_ZH and [ws.title for ws in wb.worksheets if ws.sheet_view.tabSelected] == [LIST_ZH]
    assert _print_names(again) == _print_names(XQ004)
    assert len(_table(wb[LIST_ZH])) == 1
    assert wb[LIST_ZH].print_title_rows == "$1:$2"
    assert _part(again, "xl/workbook.xml").count("_xlnm.Print_Titles") == _part(out, "xl/workbook.xml").count("_xlnm.Print_Titles")


def test_a_workbook_without_defined_names_or_views_gets_both(template, tmp_path):
    """Issue point 11: a workbook.xml without <bookViews> or <definedNames> (as some generators write) still opens on
    the list and repeats its header."""
    src = tmp_path / "bare.xlsx"
    with zipfile.ZipFile(template) as zin, zipfile.ZipFile(src, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "xl/workbook.xml":
                text = data.decode()
                text = re.sub(r"<bookViews>.*?</bookViews>", "", text, flags=re.S)
                text = re.sub(r"<definedNames>.*?</definedNames>", "", text, flags=re.S)
                data = text.encode()
            zout.writestr(info, data)
    out = tmp_path / "a.xlsx"
    annotate_workbook(src, out, [_p("required", "经费台账", "C10")])
    wb = openpyxl.load_workbook(out)
    assert wb.active.title == LIST_ZH and wb[LIST_ZH].print_title_rows == "$1:$2"


def test_the_copy_renders_with_the_list_first(lo, sample_copy, tmp_path):
    """Issue point 11: in LibreOffice the copy prints the list first, its title on top; a copy LibreOffice saved
    still opens on it, and annotating that copy again keeps one list in front."""
    out, _ = sample_copy
    lo.render(out, tmp_path / "pages")
    pdf = tmp_path / "pages" / f"{out.stem}.pdf"
    assert pdf.exists()
    if shutil.which("pdftotext"):
        first = subprocess.run(["pdftotext", "-f", "1", "-l", "1", str(pdf), "-"], capture_output=True, text=True).stdout
        assert first.lstrip().startswith("新桥区城南中学 2025年度 问题清单")
        assert "问题类型" in first and "必填项为空" in first
    saved = tmp_path / "saved.xlsx"
    lo.recalc(out, saved, check_errors=False)
    wb = openpyxl.load_workbook(saved)
    assert wb.sheetnames[0] == LIST_ZH and wb.active.title == LIST_ZH
    again = tmp_path / "again.xlsx"
    annotate_workbook(saved, again, [_p("required", "经费台账", "C3")])
    wb = openpyxl.load_workbook(again)
    assert [n for n in wb.sheetnames if n.startswith(LIST_ZH)] == [LIST_ZH] and wb.active.title == LIST_ZH
    assert wb["经费台账"].print_title_rows == "$1:$2" and wb["经费台账"]["C3"].comment is not None


# ----------------------------------------------------------------------------- point 12


def _merged(template: Path, out: Path, sheet: str, ranges: list[str], values: dict[str, str] | None = None) -> Path:
    wb = openpyxl.load_workbook(template)
    ws = wb[sheet]
    for ref, value in (values or {}).items():
        ws[ref] = value
    for r in ranges:
        ws.merge_cells(r)
    wb.save(out)
    return out


def test_a_mark_inside_a_merged_range_goes_to_its_first_cell(template, tmp_path):
    """Issue point 12: a problem on A4 of a merged A3:A5 is marked on A3 — the cell Excel and LibreOffice show —
    and so is one on D3 of a merged B3:D3; the list still names the cell the problem is about and links to the
    merged range."""
    src = _merged(template, tmp_path / "m.xlsx", "经费台账", ["A3:A5", "B3:D3"])
    out = tmp_path / "a.xlsx"
    annotate_workbook(src, out, [_p("required", "经费台账", "A4"), _p("required", "经费台账", "D3")])
    ws = openpyxl.load_workbook(out)["经费台账"]
    assert ws["A3"].fill.fgColor.rgb == "FFFFC7CE" and ws["A3"].comment.text.startswith(COMMENT_MARK)
    assert "A4 有问题" in ws["A3"].comment.text
    assert ws["B3"].fill.fgColor.rgb == "FFFFC7CE" and "D3 有问题" in ws["B3"].comment.text
    for hidden in ("A4", "A5", "C3", "D3"):
        assert ws[hidden].comment is None, hidden
    listed = openpyxl.load_workbook(out)[LIST_ZH]
    col = [c.value for c in listed[2]].index("单元格") + 1
    links = {listed.cell(r, col).value: listed.cell(r, col).hyperlink.location for r in range(3, listed.max_row + 1)}
    assert links == {"A4": "'经费台账'!A3", "D3": "'经费台账'!B3"}


def test_problems_in_one_merged_range_share_its_mark(template, tmp_path):
    """Issue point 12: two problems inside one merged range make one mark on its first cell — the most serious
    colour, both messages — and annotating again takes it off."""
    src = _merged(template, tmp_path / "m.xlsx", "经费台账", ["C3:C5"])
    out, again = tmp_path / "a.xlsx", tmp_path / "b.xlsx"
    annotate_workbook(src, out, [_p("date_order", "经费台账", "C4", "warning"), _p("required", "经费台账", "C5"),
                                 _p("required", "经费台账", "C8")])
    ws = openpyxl.load_workbook(out)["经费台账"]
    assert ws["C3"].fill.fgColor.rgb == "FFFFC7CE"
    assert "C4 有问题" in ws["C3"].comment.text and "C5 有问题" in ws["C3"].comment.text
    assert ws["C8"].comment is not None  # outside any merged range: marked where it is
    annotate_workbook(out, again, [_p("required", "经费台账", "C10")])
    ws = openpyxl.load_workbook(again)["经费台账"]
    assert ws["C3"].comment is None and ws["C3"].fill.fgColor.rgb != "FFFFC7CE"


def test_a_required_cell_hidden_by_a_merge_is_marked_where_it_shows(template, tmp_path, layout):
    """Issue point 12: a school merged 工作内容 over two rows; the second row's task is empty to the reader
    (`required` at B4) and the mark lands on B3, the merged cell the clerk sees."""
    src = _merged(template, tmp_path / "m.xlsx", "工作计划", ["B3:B4"],
                  {"A3": "文体活动", "B3": "教职工羽毛球赛", "A4": "文体活动"})
    data = check_file(src, layout)
    assert [(p.code, p.cell) for p in data.report if p.severity == "error"] == [("required", "B4")]
    out = tmp_path / "a.xlsx"
    annotate_workbook(src, out, data.report.problems, "zh", layout)
    ws = openpyxl.load_workbook(out)["工作计划"]
    assert ws["B3"].comment is not None and "工作内容" in ws["B3"].comment.text
    assert ws["B4"].comment is None
