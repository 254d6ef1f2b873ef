"""What a clerk gets when opening the template: protection, dropdowns, printing."""

from __future__ import annotations

import openpyxl
import pytest

from sheetplan.layout.geometry import FIRST_DATA_ROW, col_letter, column_of, last_data_row
from sheetplan.write import Org, write_template


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
    assert wb["填写说明"].page_setup.paperSize == 9


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
