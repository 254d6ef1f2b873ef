"""What a clerk gets when opening the template: protection, dropdowns, printing."""

from __future__ import annotations

import re
import zipfile
from html import unescape

import openpyxl
import pytest

from sheetplan.layout.geometry import FIRST_DATA_ROW, col_letter, column_of, last_data_row, summary_col
from sheetplan.write import Org, summary_cells, write_template
from sheetplan.write.template import PRINT_NAME, summary_lines


def _column_style(ws, index: int):
    """The <col> entry covering a 1-based column (xlsxwriter groups equal neighbours)."""
    return next(d for d in ws.column_dimensions.values() if d.min <= index <= d.max)


@pytest.fixture(scope="module")
def wb(tmp_path_factory, layout):
    path = tmp_path_factory.mktemp("wb") / "t.xlsx"
    write_template(layout, Org("测试小学", "T001", 2025), path)
    return openpyxl.load_workbook(path)


def test_every_visible_sheet_protected_without_password(wb):
    for ws in wb.worksheets:
        assert ws.protection.sheet, ws.title
        assert not ws.protection.password, ws.title
    assert wb["代码表"].sheet_state == "hidden"
    assert wb["_sheetplan"].sheet_state == "veryHidden"


def test_inputs_unlocked_formulas_and_headers_locked(wb, layout):
    for sheet in layout.tables:
        ws = wb[sheet.name["zh"]]
        assert ws.freeze_panes == "A3"
        for f in sheet.fields:
            letter = col_letter(column_of(sheet, f.key))
            header = ws[f"{letter}2"]
            assert header.value == f.label["zh"] and header.protection.locked
            if f.type == "formula":
                cell = ws[f"{letter}{FIRST_DATA_ROW + 1}"]
                assert cell.data_type == "f" and cell.protection.locked
            else:
                # input cells take the column's style: unlocked, with the field's number format
                assert _column_style(ws, column_of(sheet, f.key) + 1).protection.locked is False, (sheet.key, f.key)
        assert ws["A1"].protection.locked


def test_dropdowns_come_from_defined_names_not_inline_lists(wb, layout):
    names = set(wb.defined_names)
    for sheet in layout.sheets:
        ws = wb[sheet.name["zh"]]
        for dv in ws.data_validations.dataValidation:
            if dv.type == "list":
                assert not dv.formula1.startswith('"'), "inline list"
                assert "sp_" in dv.formula1
    assert {"sp_plan_category", "sp_ledger_subcategory", "sp_ledger_subcategory_parent", "sp_entry_event"} <= names


def test_each_input_column_is_validated_over_all_input_rows(wb, layout):
    for sheet in layout.tables:
        ws = wb[sheet.name["zh"]]
        ranges = {str(dv.sqref): dv for dv in ws.data_validations.dataValidation}
        for f in sheet.input_fields:
            letter = col_letter(column_of(sheet, f.key))
            rng = f"{letter}{FIRST_DATA_ROW + 1}:{letter}{last_data_row(sheet) + 1}"
            assert rng in ranges, (sheet.key, f.key)
            dv = ranges[rng]
            assert dv.promptTitle == f.label["zh"] and dv.prompt
    ledger = wb["经费台账"]
    date_dv = next(d for d in ledger.data_validations.dataValidation if str(d.sqref).startswith("A3:"))
    assert (date_dv.type, date_dv.formula1, date_dv.formula2) == ("date", "45658", "46022")  # 2025-01-01..12-31
    sub = next(d for d in ledger.data_validations.dataValidation if str(d.sqref).startswith("E3:"))
    assert sub.formula1.startswith("OFFSET(") and "$D3" in sub.formula1
    assert ledger.max_row >= 502


def test_printing_a4_landscape_with_repeated_headers(wb, layout):
    for sheet in layout.sheets:
        ws = wb[sheet.name["zh"]]
        assert ws.page_setup.orientation == "landscape"
        assert ws.page_setup.paperSize == 9
        assert ws.print_title_rows == "$1:$2"
        assert ws.sheet_properties.pageSetUpPr.fitToPage
    readme = wb["填写说明"]
    assert (readme.page_setup.paperSize, readme.page_setup.orientation) == (9, "landscape")  # issue point 17


def test_a_table_without_formulas_prints_its_rows_and_totals(wb, layout):
    """Issue point 10: the print area of a table whose prepared rows hold nothing spans the table and its summary
    lines, down its rows; the applications leave out the pages at its end that hold nothing."""
    for sheet in layout.tables:
        if any(f.type == "formula" for f in sheet.fields):
            continue
        lines = summary_lines(sheet)
        last = summary_col(sheet) + 1 if lines else len(sheet.fields) - 1
        assert wb[sheet.name["zh"]].print_area == f"'{sheet.name['zh']}'!$A$1:${col_letter(last)}${last_data_row(sheet) + 1}"


def test_the_ledger_prints_down_to_its_last_filled_row(tmp_path, layout):
    """Issue point 10: every ledger row holds a 余额 formula, content to Excel, WPS and LibreOffice even while it
    shows nothing, so a fixed print area printed 17 pages for an empty ledger. Its print area is a formula of the
    sheet's own name, from A1 down to the last filled row, across the table and its totals; openpyxl, which
    cannot resolve it, loads the file without a warning (a warning fails these tests)."""
    path = tmp_path / "t.xlsx"
    write_template(layout, Org("测试小学", "T001", 2025), path)
    ledger = layout.sheet("ledger")
    with zipfile.ZipFile(path) as z:
        book = z.read("xl/workbook.xml").decode("utf-8")
    sheet_id = [s.key for s in layout.sheets].index("ledger") + 1  # after 填写说明
    names = dict(re.findall(rf'<definedName name="([^"]+)" localSheetId="{sheet_id}">([^<]+)</definedName>', book))
    assert names["_xlnm.Print_Area"] == f"'经费台账'!{PRINT_NAME}"
    data = f"'经费台账'!$A$3:${col_letter(len(ledger.fields) - 1)}${last_data_row(ledger) + 1}"
    least = 2 + len(summary_lines(ledger))
    assert unescape(names[PRINT_NAME]) == (
        f"OFFSET('经费台账'!$A$1,0,0,MAX({least},SUMPRODUCT(MAX(({data}<>\"\")*ROW({data})))),{summary_col(ledger) + 2})")
    assert not openpyxl.load_workbook(path)["经费台账"].print_area


def test_the_totals_stand_beside_the_first_rows_and_the_breakdowns_beyond_them(layout):
    """Issue point 10: the summary lines (the totals) take the two columns after the gap, from the first data row,
    where they are printed; the breakdown tables stand to their right, for the screen only."""
    for sheet in layout.tables:
        cells = summary_cells(layout, sheet, "zh")
        lines = summary_lines(sheet)
        col = summary_col(sheet)
        placed = {c.key[0]: (c.row, c.col) for c in cells if c.kind == "formula" and len(c.key) == 1}
        assert placed == {item.key: (FIRST_DATA_ROW + i, col + 1) for i, item in enumerate(lines)}
        breakdowns = [c for c in cells if len(c.key) == 3]
        assert all(c.col >= (col + 3 if lines else col) for c in breakdowns)


def test_identity_in_properties_and_hidden_sheet(wb):
    props = {p.name: p.value for p in wb.custom_doc_props.props}
    assert props["sheetplan.layout"] == "school" and props["sheetplan.org_code"] == "T001"
    assert props["sheetplan.year"] == "2025" and props["sheetplan.layout_version"] == "1"
    meta = wb["_sheetplan"]
    assert meta["A2"].value == "layout" and meta["B2"].value == "school"


def test_user_text_is_never_a_formula(tmp_path, layout):
    path = tmp_path / "x.xlsx"
    write_template(layout, Org("=HYPERLINK(\"http://x\",\"点我\")", "T1", 2025), path)
    ws = openpyxl.load_workbook(path)["基本信息"]
    assert ws["B3"].data_type == "s" and ws["B3"].value.startswith("=HYPERLINK")
    assert openpyxl.load_workbook(path)["经费台账"]["A1"].data_type == "s"
