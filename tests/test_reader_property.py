"""Property: whatever lands in an input cell, the reader returns a value or a problem there.

Never an exception, and never silence about a non-blank cell.
"""

from __future__ import annotations

import datetime as dt
import io

import openpyxl
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from sheetplan.layout import load_layout
from sheetplan.layout.geometry import data_cell, form_cell
from sheetplan.report.check import check_file
from sheetplan.write import Org, write_template

LAYOUT = load_layout("school")
_BUF = io.BytesIO()
write_template(LAYOUT, Org("性质小学", "P001", 2025), _BUF)
TEMPLATE = _BUF.getvalue()

TARGETS = [(s.key, f.key) for s in LAYOUT.sheets for f in s.input_fields]
TYPED_TEXT = st.sampled_from(["2025-3-8", "3月8日", "１２００", "¥1,200.00", "1200元", "1.2万", "三月", "已完成",
                              "=SUM(A1:A3)", "+1+1", "@x", "-", "0755-12345678", "13812345678", "青年组（35岁以下）",
                              "2025年13月40日", "9" * 40, "\n 会费 \n"])


class ErrorCell(str):
    """An error value as Excel stores it in a cell (t="e"), not as typed text."""


ERRORS = st.sampled_from(["#N/A", "#REF!", "#DIV/0!", "#VALUE!", "#NAME?", "#NUM!", "#NULL!"]).map(ErrorCell)
VALUES = st.one_of(
    st.text(min_size=1, max_size=60).map(lambda s: ILLEGAL_CHARACTERS_RE.sub("", s)).filter(lambda s: s.strip()),
    TYPED_TEXT,
    st.integers(min_value=-10**12, max_value=10**12),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e15, max_value=1e15),
    st.dates(min_value=dt.date(1900, 3, 1), max_value=dt.date(2100, 12, 31)),
    st.booleans(),
    ERRORS,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(target=st.sampled_from(TARGETS), row=st.integers(min_value=0, max_value=20), value=VALUES)
@example(target=("info", "org_code"), row=0, value=dt.date(2000, 1, 1))  # found by this test: a date in a code cell
@example(target=("ledger", "income"), row=3, value=ErrorCell("#DIV/0!"))
@example(target=("info", "members"), row=0, value=ErrorCell("#REF!"))
def test_any_value_in_any_input_cell_gives_a_value_or_a_problem(tmp_path_factory, target, row, value):
    """Any value, error values included (issue point 2: they used to read as blank), gives a value or a problem."""
    sheet_key, field_key = target
    sheet = LAYOUT.sheet(sheet_key)
    cell = form_cell(sheet, field_key) if sheet.kind == "form" else data_cell(sheet, field_key, row)
    wb = openpyxl.load_workbook(io.BytesIO(TEMPLATE))
    ws = wb[sheet.name["zh"]]
    ws[cell] = str(value) if isinstance(value, ErrorCell) else value
    if isinstance(value, ErrorCell):
        ws[cell].data_type = "e"
    elif isinstance(value, str):
        ws[cell].data_type = "s"  # typed text, never a formula
    path = tmp_path_factory.mktemp("p") / "p.xlsx"
    wb.save(path)

    data = check_file(path, LAYOUT)  # must not raise
    assert data.readable
    at_cell = [p for p in data.report if p.sheet == sheet.name["zh"] and p.cell == cell]
    if sheet.kind == "form":
        got = data.info.get(field_key)
    else:
        records = [r for r in data.tables[sheet_key].records if r.cells.get(field_key) == cell]
        assert len(records) == 1, "a non-blank cell makes its row a record"
        got = records[0].values.get(field_key)
    assert got is not None or at_cell, f"{value!r} in {cell} vanished"
    if got is None:
        assert any(p.severity == "error" for p in at_cell)
    if isinstance(value, ErrorCell):
        assert got is None
        assert [(p.code, p.severity, p.value) for p in at_cell if p.code == "error_value"] == [("error_value", "error", str(value))]
