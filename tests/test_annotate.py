"""`check --annotate`: the school's own file back with its problems marked, nothing else touched."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import openpyxl
import pytest

from sheetplan.errors import UsageError
from sheetplan.problems import problem
from sheetplan.report.annotate import COMMENT_MARK, annotate_workbook
from sheetplan.report.check import check_file
from sheetplan.write import Org, write_template

XQ004 = Path(__file__).parents[1] / "samples" / "submitted" / "城南片" / "XQ004_新桥区城南中学_2025.xlsx"


def _p(code: str, sheet: str, cell: str | None, severity: str | None = None, value=None):
    return problem(code, f"{cell} 有问题（{code}）", f"{cell} is wrong ({code})", severity, sheet=sheet, cell=cell,
                   row=int(cell[1:]) if cell else None, value=value)


def _validations(path: Path, sheet_part: str) -> str:
    with zipfile.ZipFile(path) as z:
        xml = z.read(sheet_part).decode()
    m = re.search(r"<dataValidations.*?</dataValidations>", xml, re.S)
    return m.group(0) if m else ""


def _dv_set(path: Path, sheet: str) -> set[tuple[str, str]]:
    ws = openpyxl.load_workbook(path)[sheet]
    return {(str(d.sqref), d.formula1) for d in ws.data_validations.dataValidation}


@pytest.fixture
def template(tmp_path, layout) -> Path:
    path = tmp_path / "t.xlsx"
    write_template(layout, Org("标注小学", "A001", 2025), path)
    return path


def test_marks_comments_and_problem_sheet(template, tmp_path):
    out = tmp_path / "a.xlsx"
    problems = [_p("not_a_number", "经费台账", "F5", value="一千"), _p("date_order", "经费台账", "F5", "warning"),
                _p("required", "经费台账", "C10"), _p("stored_as_text", "工作计划", "E3", "warning", value="=SUM(1)"),
                _p("missing_sheet", "比赛报名", None)]
    annotate_workbook(template, out, problems)
    wb = openpyxl.load_workbook(out)
    ledger = wb["经费台账"]
    assert ledger["F5"].fill.fgColor.rgb == "FFFFC7CE"  # the most serious problem of the cell wins
    assert ledger["F5"].comment.text.startswith(COMMENT_MARK)
    assert "F5 有问题（not_a_number）" in ledger["F5"].comment.text and "date_order" in ledger["F5"].comment.text
    assert ledger["C10"].fill.fgColor.rgb == "FFFFC7CE" and ledger["C10"].protection.locked is False  # the input style is kept
    assert ledger["F5"].number_format == "#,##0.00"
    assert wb["工作计划"]["E3"].fill.fgColor.rgb == "FFFFEB9C"
    sheet = wb["问题清单"]
    assert wb.sheetnames[0] == "问题清单"
    rows = [[c.value for c in r] for r in sheet.iter_rows()]
    assert rows[0][0] == "标注小学 2025年度 问题清单"
    assert rows[1] == ["严重程度", "问题类型", "代码", "工作表", "单元格", "字段", "原值", "说明"]
    assert len(rows) == 7 and rows[2][0] == "错误"
    links = {sheet.cell(r, 5).value: sheet.cell(r, 5).hyperlink.location for r in range(3, 8) if sheet.cell(r, 5).hyperlink}
    assert links["F5"] == "'经费台账'!F5" and links["C10"] == "'经费台账'!C10"
    value_cell = next(sheet.cell(r, 7) for r in range(3, 8) if sheet.cell(r, 7).value == "=SUM(1)")
    assert value_cell.data_type == "s"  # a raw value is text, never a formula


def test_everything_else_is_byte_identical(template, tmp_path):
    out = tmp_path / "a.xlsx"
    annotate_workbook(template, out, [_p("required", "经费台账", "C10")])
    with zipfile.ZipFile(template) as a, zipfile.ZipFile(out) as b:
        changed = {n for n in a.namelist() if a.read(n) != b.read(n)}
        # the sheet the template opened on is no longer selected: that attribute is all that changes in it
        unselected = {n for n in changed if n.startswith("xl/worksheets/")
                      and re.sub(rb'\s+tabSelected="(?:1|true)"', b"", a.read(n)) == b.read(n)}
    assert changed - unselected <= {"[Content_Types].xml", "xl/workbook.xml", "xl/_rels/workbook.xml.rels", "xl/styles.xml",
                                    "docProps/custom.xml", "xl/worksheets/sheet6.xml"}
    assert len(unselected) <= 1
    assert _validations(template, "xl/worksheets/sheet6.xml") == _validations(out, "xl/worksheets/sheet6.xml")
    assert _dv_set(template, "经费台账") == _dv_set(out, "经费台账")


def test_annotating_again_replaces_the_marks(template, tmp_path):
    first, second = tmp_path / "a.xlsx", tmp_path / "b.xlsx"
    annotate_workbook(template, first, [_p("required", "经费台账", "C10"), _p("not_a_number", "经费台账", "F5")])
    annotate_workbook(first, second, [_p("required", "经费台账", "C11")])
    wb = openpyxl.load_workbook(second)
    ws = wb["经费台账"]
    orig = openpyxl.load_workbook(template)["经费台账"]
    assert ws["C10"].comment is None and ws["F5"].comment is None
    assert ws["F5"].fill.fgColor.rgb == orig["F5"].fill.fgColor.rgb
    assert ws["C11"].comment is not None and ws["C11"].fill.fgColor.rgb == "FFFFC7CE"
    assert [n for n in wb.sheetnames if n.startswith("问题清单")] == ["问题清单"]
    assert wb["问题清单"].max_row == 3  # title, header, the one problem


def test_check_of_an_annotated_file_reports_the_same(tmp_path, layout):
    out = tmp_path / "a.xlsx"
    before = check_file(XQ004, layout)
    annotate_workbook(XQ004, out, before.report.problems)
    after = check_file(out, layout)
    key = lambda d: sorted((p.code, p.sheet, p.cell, p.severity) for p in d.report)  # noqa: E731
    assert key(after) == key(before)


def test_libreoffice_keeps_everything(lo, tmp_path, layout):
    """A file saved by LibreOffice is annotated, then opened and saved by LibreOffice again."""
    data = check_file(XQ004, layout)
    out, saved = tmp_path / "a.xlsx", tmp_path / "saved.xlsx"
    annotate_workbook(XQ004, out, data.report.problems)
    lo.recalc(out, saved, check_errors=True)
    wb = openpyxl.load_workbook(saved)
    ws = wb["经费台账"]
    assert ws["F19"].comment is not None and ws["F19"].comment.text.startswith(COMMENT_MARK)
    assert ws["F19"].fill.fgColor.rgb.endswith("FFC7CE")
    assert ws["H5"].value.startswith("=IF(")
    assert _dv_set(saved, "经费台账") == _dv_set(XQ004, "经费台账")
    assert "问题清单" in wb.sheetnames
    # and annotating the LibreOffice-saved copy again removes the old marks
    again = tmp_path / "again.xlsx"
    annotate_workbook(saved, again, [_p("required", "经费台账", "C3")])
    ws = openpyxl.load_workbook(again)["经费台账"]
    assert ws["F19"].comment is None and ws["F19"].fill.fgColor.rgb in ("00000000", None, "FFFFFFFF")
    assert ws["C3"].comment is not None
    computed = openpyxl.load_workbook(saved, data_only=True)["经费台账"]
    assert isinstance(computed["H5"].value, float)


def test_school_comments_are_kept(tmp_path, template):
    wb = openpyxl.load_workbook(template)
    wb["经费台账"]["F5"].comment = openpyxl.comments.Comment("会计：此笔待核", "王会计")
    own = tmp_path / "own.xlsx"
    wb.save(own)
    out = tmp_path / "a.xlsx"
    annotate_workbook(own, out, [_p("not_a_number", "经费台账", "F5"), _p("required", "经费台账", "C6")])
    ws = openpyxl.load_workbook(out)["经费台账"]
    assert ws["F5"].comment.text.startswith("会计：此笔待核")
    assert ws["C6"].comment.text.startswith(COMMENT_MARK)


def test_not_an_xlsx(tmp_path):
    bad = tmp_path / "bad.xlsx"
    bad.write_text("x", encoding="utf-8")
    with pytest.raises(UsageError, match="无法标注"):
        annotate_workbook(bad, tmp_path / "o.xlsx", [])


def _edit_part(src: Path, dst: Path, part: str, edit) -> Path:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == part:
                data = edit(data.decode()).encode()
            if data is not None:
                zout.writestr(info, data)
    return dst


def _part(path: Path, name: str) -> str:
    with zipfile.ZipFile(path) as z:
        return z.read(name).decode()


def _sheet_part(path: Path, sheet: str) -> str:
    wb = openpyxl.load_workbook(path)
    return f"xl/worksheets/sheet{wb.sheetnames.index(sheet) + 1}.xml"


def test_legacy_drawing_is_a_child_of_the_worksheet_not_of_a_nested_extlst(template, tmp_path):
    # A conditional format whose rule carries its own <extLst> (as Excel writes for data bars) comes before
    # where <legacyDrawing> belongs; the drawing must still go among the worksheet's own children.
    part = _sheet_part(template, "工作计划")
    rule = ('<conditionalFormatting sqref="A3:A10"><cfRule type="dataBar" priority="1"><dataBar><cfvo type="min"/>'
            '<cfvo type="max"/><color rgb="FF638EC6"/></dataBar><extLst><ext uri="{B025F937-C7B1-47D3-B67F-A62EFF666E3E}">'
            '<id>{00000000-0000-0000-0000-000000000001}</id></ext></extLst></cfRule></conditionalFormatting>')

    def add_rule(xml: str) -> str:
        at = xml.index("<dataValidations") if "<dataValidations" in xml else xml.index("<pageMargins")
        return xml[:at] + rule + xml[at:]

    src = _edit_part(template, tmp_path / "cf.xlsx", part, add_rule)
    out = tmp_path / "a.xlsx"
    annotate_workbook(src, out, [_p("required", "工作计划", "C3")])
    from xml.etree import ElementTree as ET

    root = ET.fromstring(_part(out, part))
    main = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
    children = [c.tag.removeprefix(main) for c in root]
    assert "legacyDrawing" in children
    assert not root.findall(f".//{main}cfRule/{main}legacyDrawing")
    assert children.index("conditionalFormatting") < children.index("legacyDrawing")
    comments = next(n for n in zipfile.ZipFile(out).namelist() if n.startswith("xl/comments"))
    assert 'ref="C3"' in _part(out, comments)


def test_re_annotating_keeps_the_school_comment_shape(tmp_path, template):
    wb = openpyxl.load_workbook(template)
    wb["经费台账"]["F5"].comment = openpyxl.comments.Comment("会计：此笔待核", "王会计")
    own = tmp_path / "own.xlsx"
    wb.save(own)
    first, second = tmp_path / "a.xlsx", tmp_path / "b.xlsx"
    annotate_workbook(own, first, [_p("not_a_number", "经费台账", "F5"), _p("required", "经费台账", "C6")])
    annotate_workbook(first, second, [_p("not_a_number", "经费台账", "F5")])
    ws = openpyxl.load_workbook(second)["经费台账"]
    assert ws["F5"].comment.text.startswith("会计：此笔待核") and ws["C6"].comment is None
    vml = next(n for n in zipfile.ZipFile(second).namelist() if n.endswith(".vml"))
    shapes = re.findall(r"<(?:\w+:)?Row>(\d+)</(?:\w+:)?Row>\s*<(?:\w+:)?Column>(\d+)</", _part(second, vml))
    assert shapes == [("4", "5")]  # F5's note shape (row 4, column 5, 0-based) stays; C6's is gone


def test_vml_with_other_prefixes(tmp_path, template):
    wb = openpyxl.load_workbook(template)
    wb["经费台账"]["F5"].comment = openpyxl.comments.Comment("会计：此笔待核", "王会计")
    own = tmp_path / "own.xlsx"
    wb.save(own)
    vml = next(n for n in zipfile.ZipFile(own).namelist() if n.endswith(".vml"))
    # openpyxl binds the VML namespaces to ns0/ns1/ns2, not Excel's o/v/x.
    assert "<v:shape" not in _part(own, vml) and re.search(r"<ns\d:shape\b", _part(own, vml))
    out = tmp_path / "a.xlsx"
    annotate_workbook(own, out, [_p("required", "经费台账", "C6")])
    from xml.etree import ElementTree as ET

    root = ET.fromstring(_part(out, vml))  # well-formed: every prefix it uses is declared
    shapes = root.findall("{urn:schemas-microsoft-com:vml}shape")
    rows = sorted(s.find("{urn:schemas-microsoft-com:office:excel}ClientData/{urn:schemas-microsoft-com:office:excel}Row").text
                  for s in shapes)
    assert rows == ["4", "5"]


@pytest.mark.parametrize(("part", "edit"), [
    ("xl/styles.xml", lambda t: t.replace("cellXfs", "cellXfz")),
    ("xl/workbook.xml", lambda t: t[: len(t) // 2]),
    ("xl/worksheets/sheet6.xml", lambda t: t.replace("sheetData", "sheetDat")),
    ("xl/_rels/workbook.xml.rels", lambda t: "<Relationships"),
])
def test_a_damaged_package_is_a_usage_error_not_a_traceback(template, tmp_path, part, edit):
    bad = _edit_part(template, tmp_path / "坏.xlsx", part, edit)
    with pytest.raises(UsageError, match="无法标注 坏.xlsx"):
        annotate_workbook(bad, tmp_path / "o.xlsx", [_p("required", "经费台账", "C10")])
    assert not (tmp_path / "o.xlsx").exists()


def test_an_empty_properties_part_keeps_the_record(template, tmp_path):
    src = _edit_part(template, tmp_path / "p.xlsx", "docProps/custom.xml",
                     lambda t: re.sub(r"<Properties\b([^>]*)>.*</Properties>", r"<Properties\1/>", t, flags=re.S))
    assert "<property" not in _part(src, "docProps/custom.xml")
    first, second = tmp_path / "a.xlsx", tmp_path / "b.xlsx"
    annotate_workbook(src, first, [_p("required", "经费台账", "C10")])
    annotate_workbook(first, second, [_p("required", "经费台账", "C11")])
    ws = openpyxl.load_workbook(second)["经费台账"]
    assert ws["C10"].comment is None and ws["C11"].comment is not None
    assert openpyxl.load_workbook(second).sheetnames.count("问题清单") == 1


def test_many_problems_are_all_marked_and_the_record_fits_excel(template, tmp_path):
    # Every input cell of 3,000 ledger rows: the record runs to far more than the 255 characters Excel keeps
    # in one property, so it is stored in pieces.
    problems = [_p("required", "经费台账", f"{col}{row}") for row in range(3, 1003) for col in "CDE"]
    out, again = tmp_path / "a.xlsx", tmp_path / "b.xlsx"
    annotate_workbook(template, out, problems)
    custom = _part(out, "docProps/custom.xml")
    pieces = re.findall(r'name="sheetplan\.annotations\.\d+"[^>]*><vt:lpwstr>(.*?)</vt:lpwstr>', custom, re.S)
    assert len(pieces) > 100
    from html import unescape

    assert max(len(unescape(p)) for p in pieces) <= 255
    ws = openpyxl.load_workbook(out)["经费台账"]
    assert all(ws[p.cell].fill.fgColor.rgb == "FFFFC7CE" for p in problems[::97])
    annotate_workbook(out, again, [_p("required", "经费台账", "C3")])
    ws = openpyxl.load_workbook(again)["经费台账"]
    assert ws["C3"].fill.fgColor.rgb == "FFFFC7CE" and ws["D3"].comment is None
    assert ws["E1002"].fill.fgColor.rgb != "FFFFC7CE"


def test_info_marks_do_not_look_like_template_headers(template, tmp_path):
    out = tmp_path / "a.xlsx"
    annotate_workbook(template, out, [_p("normalized", "经费台账", "C3", "info")])
    ws = openpyxl.load_workbook(out)["经费台账"]
    assert ws["C3"].fill.fgColor.rgb == "FFE2EFDA"
    assert ws["A2"].fill.fgColor.rgb != ws["C3"].fill.fgColor.rgb


def test_check_annotate_on_the_command_line(tmp_path, template):
    from click.testing import CliRunner

    from sheetplan.cli import cli

    good = tmp_path / "好.xlsx"
    good.write_bytes(XQ004.read_bytes())
    broken = _edit_part(template, tmp_path / "坏.xlsx", "xl/styles.xml", lambda t: t.replace("cellXfs", "cellXfz"))
    with zipfile.ZipFile(XQ004) as zin, zipfile.ZipFile(tmp_path / "宏.xlsm", "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "[Content_Types].xml":
                data = data.replace(b"spreadsheetml.sheet.main+xml", b"sheet.macroEnabled.main+xml")
            zout.writestr(info, data)
    out = tmp_path / "标注"
    r = CliRunner().invoke(cli, ["check", str(good), str(broken), str(tmp_path / "宏.xlsm"), "--annotate", str(out)])
    assert r.exit_code == 2, r.output  # the damaged file could not be annotated; the others were
    assert "无法标注 坏.xlsx" in r.output and "Traceback" not in r.output
    assert sorted(p.name for p in out.iterdir()) == ["好_问题标注.xlsx", "宏_问题标注.xlsm"]
    wb = openpyxl.load_workbook(out / "好_问题标注.xlsx")
    assert wb["经费台账"]["F19"].comment.text.startswith(COMMENT_MARK)
    listed = {(r[3], r[4]): r[5] for r in wb["问题清单"].iter_rows(min_row=3, values_only=True)}
    assert listed[("经费台账", "F19")] == "收入(元)" and listed[("工作计划", "G6")] == "完成日期"  # labels, not keys
    single = tmp_path / "single.xlsx"
    r = CliRunner().invoke(cli, ["check", str(good), "--annotate", str(single)])
    assert r.exit_code == 1 and single.exists(), r.output
