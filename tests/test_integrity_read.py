"""Reading what a cell really holds: error values, formulas into other workbooks, the 余额 check, far-reaching
old-format files and the sheet-list cache.

Workbooks are built from a real template with openpyxl; where a cell must look exactly as Excel stores it
(a cached formula error, a formula without a saved result), its XML is put in place by hand.
"""

from __future__ import annotations

import gc
import io
import re
import struct
import subprocess
import tracemalloc
import zipfile
from pathlib import Path

import openpyxl
import pytest
from defusedxml import ElementTree

from sheetplan.layout import load_layout
from sheetplan.layout.geometry import data_cell, form_cell
from sheetplan.reading import package
from sheetplan.reading import workbook as reader
from sheetplan.report.check import check_file, rows_read
from sheetplan.write import Org, write_template

LAYOUT = load_layout("school")
_BUF = io.BytesIO()
write_template(LAYOUT, Org("完整小学", "W001", 2025), _BUF)
TEMPLATE = _BUF.getvalue()
INFO, LEDGER, SCHEDULE = LAYOUT.sheet("info"), LAYOUT.sheet("ledger"), LAYOUT.sheet("schedule")
INFO_NAME, LEDGER_NAME = INFO.name["zh"], LEDGER.name["zh"]
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


class ErrorCell(str):
    """An error value stored as Excel stores a typed one (t="e"), not as text."""


def ledger(index: int, key: str) -> str:
    """The ledger cell of ``key`` in the ``index``-th data row (0 → row 3)."""
    return data_cell(LEDGER, key, index)


def ledger_row(index: int, summary: str, category: str, income=None, expense=None, date: str = "2025-03-08") -> dict:
    cells = {ledger(index, "date"): date, ledger(index, "summary"): summary, ledger(index, "category"): category}
    if income is not None:
        cells[ledger(index, "income")] = income
    if expense is not None:
        cells[ledger(index, "expense")] = expense
    return cells


def build(path: Path, edits: dict[str, dict[str, object]], xml: dict[str, dict[str, str]] | None = None,
          template: bytes = TEMPLATE) -> Path:
    """The template with ``edits`` typed in (text stays text), then cells replaced by raw XML (``xml``)."""
    wb = openpyxl.load_workbook(io.BytesIO(template))
    for sheet, cells in edits.items():
        ws = wb[sheet]
        for ref, value in cells.items():
            if value is None:
                ws[ref].value = None
                continue
            ws[ref] = str(value) if isinstance(value, ErrorCell) else value
            if isinstance(value, ErrorCell):
                ws[ref].data_type = "e"
            elif isinstance(value, str):
                ws[ref].data_type = "s"
    for sheet, cells in (xml or {}).items():
        for ref in cells:
            if wb[sheet][ref].value is None:
                wb[sheet][ref] = 0  # a placeholder cell, replaced below
    buf = io.BytesIO()
    wb.save(buf)
    data = buf.getvalue()
    if xml:
        data = _replace_cells(data, xml)
    path.write_bytes(data)
    return path


def _sheet_part(zf: zipfile.ZipFile, sheet: str) -> str:
    """The zip part of a sheet, from workbook.xml and its relationships."""
    ns = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
    rel_ns = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
    wb = ElementTree.fromstring(zf.read("xl/workbook.xml"))
    rid = next(s.get(rel_ns + "id") for s in wb.iter(ns + "sheet") if s.get("name") == sheet)
    rels = ElementTree.fromstring(zf.read("xl/_rels/workbook.xml.rels"))
    target = next(r.get("Target") for r in rels if r.get("Id") == rid)
    return target.lstrip("/") if target.startswith("/") else "xl/" + target


def _replace_cells(data: bytes, xml: dict[str, dict[str, str]]) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as zin:
        parts = {sheet: _sheet_part(zin, sheet) for sheet in xml}
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
            for info in zin.infolist():
                content = zin.read(info)
                for sheet, cells in xml.items():
                    if info.filename == parts[sheet]:
                        for ref, cell_xml in cells.items():
                            content, n = re.subn(rb'<c r="' + ref.encode() + rb'"[^>]*?(?:/>|>.*?</c>)',
                                                 cell_xml.encode().replace(b"\\", b"\\\\"), content, count=1, flags=re.S)
                            assert n == 1, ref
                zout.writestr(info.filename, content)
    return out.getvalue()


def at(data, cell: str, sheet: str = LEDGER_NAME) -> list[tuple[str, str, object]]:
    return [(p.code, p.severity, p.value) for p in data.report if p.sheet == sheet and p.cell == cell]


def records(data) -> dict[int, object]:
    return {r.row: r for r in data.tables["ledger"].records}


# --------------------------------------------------------------------------- point 2: error values


def test_a_typed_error_value_in_an_optional_amount_rejects_the_row(tmp_path):
    """Issue point 2: #DIV/0! in 收入 was read as blank (the row merged, and "收入、支出都没有填写" said)."""
    path = build(tmp_path / "e.xlsx", {LEDGER_NAME: {
        **ledger_row(0, "会费", "会费收入", income=500),
        **ledger_row(1, "补助", "上级补助收入", income=ErrorCell("#DIV/0!")),
        **ledger_row(2, "活动", "职工活动支出", expense=100)}})
    data = check_file(path, LAYOUT)
    cell = ledger(1, "income")
    assert at(data, cell) == [("error_value", "error", "#DIV/0!")]
    (p,) = [p for p in data.report if p.code == "error_value"]
    assert p.message_zh.startswith(f"工作表“{LEDGER_NAME}”的 {cell} 单元格：收入(元)是错误值“#DIV/0!”")
    assert p.row == 4 and p.field == "income"
    assert not any(p.code == "income_expense_both_or_none" for p in data.report)
    assert {row: (r.rejected, r.values["income"]) for row, r in records(data).items()} == {
        3: (False, 500.0), 4: (True, None), 5: (False, None)}


def test_an_error_cached_from_a_formula_is_an_error_value(tmp_path):
    """Issue point 2: <c t="e"><f>1/0</f><v>#DIV/0!</v></c>, as Excel writes it, in a table and in 基本信息."""
    members = form_cell(INFO, "members")
    expense = ledger(1, "expense")
    path = build(tmp_path / "f.xlsx", {LEDGER_NAME: {**ledger_row(0, "会费", "会费收入", income=500),
                                                     **ledger_row(1, "活动", "职工活动支出")}},
                 xml={LEDGER_NAME: {expense: f'<c r="{expense}" t="e"><f>1/0</f><v>#DIV/0!</v></c>'},
                      INFO_NAME: {members: f'<c r="{members}" t="e"><f>#REF!+1</f><v>#REF!</v></c>'}})
    data = check_file(path, LAYOUT)
    assert at(data, expense) == [("error_value", "error", "#DIV/0!")]
    assert at(data, members, INFO_NAME) == [("error_value", "error", "#REF!")]
    assert data.info["members"] is None
    assert records(data)[4].rejected and not records(data)[3].rejected


def test_every_error_value_in_text_date_and_list_cells(tmp_path):
    """Issue point 2: each of the seven error values, in a text, a date and a list cell, is shown as it is."""
    errors = ["#N/A", "#REF!", "#DIV/0!", "#VALUE!", "#NAME?", "#NUM!", "#NULL!"]
    keys = ["summary", "date", "category"]
    edits = {}
    for i, err in enumerate(errors):
        edits.update(ledger_row(i, "会费", "会费收入", income=100))
        edits[ledger(i, keys[i % 3])] = ErrorCell(err)
    data = check_file(build(tmp_path / "all.xlsx", {LEDGER_NAME: edits}), LAYOUT)
    for i, err in enumerate(errors):
        assert at(data, ledger(i, keys[i % 3])) == [("error_value", "error", err)], err
    assert all(r.rejected for r in data.tables["ledger"].records)
    assert rows_read(data)["ledger"] == 7


def test_a_row_holding_only_an_error_value_is_a_row(tmp_path):
    """Issue point 2: a row whose one filled cell is #N/A is not an empty row: it is read, and rejected."""
    note = ledger(0, "note")
    data = check_file(build(tmp_path / "only.xlsx", {LEDGER_NAME: {note: ErrorCell("#N/A")}}), LAYOUT)
    assert rows_read(data)["ledger"] == 1
    assert at(data, note) == [("error_value", "error", "#N/A")]
    assert records(data)[3].rejected


def test_an_error_amount_is_reported_once_not_again_at_every_balance_after_it(tmp_path):
    """Issue point 2: 余额 formulas after an error amount show the error too; that is a consequence, not a problem.

    A constant typed over a later 余额 is still formula_overwritten.
    """
    income, h4, h5, h6 = ledger(1, "income"), ledger(1, "balance"), ledger(2, "balance"), ledger(3, "balance")
    live = "<f>IF(1,1/0)</f><v>#DIV/0!</v>"
    path = build(tmp_path / "chain.xlsx", {LEDGER_NAME: {
        **ledger_row(0, "会费", "会费收入", income=500), **ledger_row(1, "补助", "上级补助收入"),
        **ledger_row(2, "活动", "职工活动支出", expense=100), **ledger_row(3, "活动", "职工活动支出", expense=50),
        h6: 9999}},
        xml={LEDGER_NAME: {income: f'<c r="{income}" t="e"><f>1/0</f><v>#DIV/0!</v></c>',
                           h4: f'<c r="{h4}" t="e">{live}</c>', h5: f'<c r="{h5}" t="e">{live}</c>'}})
    data = check_file(path, LAYOUT)
    assert at(data, income) == [("error_value", "error", "#DIV/0!")]
    assert at(data, h4) == [] and at(data, h5) == []
    assert at(data, h6) == [("formula_overwritten", "error", "9999")]
    assert {row: r.rejected for row, r in records(data).items()} == {3: False, 4: True, 5: False, 6: True}
    assert [r.values["balance"] for r in data.tables["ledger"].records] == [500.0, 500.0, 400.0, 350.0]


# --------------------------------------------------------------------------- point 3: other workbooks


def test_a_formula_into_another_workbook_without_a_saved_result(tmp_path):
    """Issue point 3: [1]Sheet1!A1 with no <v> was read as blank without a word; it is external_reference."""
    f4, g5, f6, f7, f8, note = (ledger(1, "income"), ledger(2, "expense"), ledger(3, "income"), ledger(4, "income"),
                                ledger(5, "income"), ledger(6, "note"))
    path = build(tmp_path / "ext.xlsx", {LEDGER_NAME: {
        **ledger_row(0, "会费", "会费收入", income=500), **ledger_row(1, "补助", "上级补助收入"),
        **ledger_row(2, "活动", "职工活动支出"), **ledger_row(3, "会费", "会费收入"), **ledger_row(4, "会费", "会费收入"),
        **ledger_row(5, "会费", "会费收入"), **ledger_row(6, "会费", "会费收入", income=20)}},
        xml={LEDGER_NAME: {
            f4: f'<c r="{f4}"><f>[1]Sheet1!A1</f></c>',
            g5: f'<c r="{g5}"><f>&apos;C:\\x\\[b.xlsx]Sheet1&apos;!A1</f></c>',
            f6: f'<c r="{f6}"><f t="shared" ref="{f6}:{f7}" si="0">[2]收支!F3*2</f></c>',
            f7: f'<c r="{f7}"><f t="shared" si="0"/></c>',
            f8: f'<c r="{f8}"><f>[1]Sheet1!B2</f><v>300</v></c>',  # a saved result: read as it is
            note: f'<c r="{note}" t="str"><f>Table1[[#This Row],[备注]]</f></c>',  # a table's own reference
        }})
    data = check_file(path, LAYOUT)
    assert at(data, f4) == [("external_reference", "error", "[1]Sheet1!A1")]
    assert at(data, g5) == [("external_reference", "error", "'C:\\x\\[b.xlsx]Sheet1'!A1")]
    assert at(data, f6) == [("external_reference", "error", "[2]收支!F3*2")]
    assert at(data, f7) == [("external_reference", "error", "[2]收支!F3*2")]
    (p,) = [p for p in data.report if p.cell == f4]
    assert p.message_zh.startswith(f"工作表“{LEDGER_NAME}”的 {f4} 单元格：收入(元)的公式“[1]Sheet1!A1”引用了另一个工作簿")
    assert at(data, f8) == [] and records(data)[8].values["income"] == 300.0
    assert at(data, note) == [] and not records(data)[9].rejected
    assert {row for row, r in records(data).items() if r.rejected} == {4, 5, 6, 7}


# --------------------------------------------------------------------------- point 4: at the reader


def test_a_full_width_voucher_is_a_duplicate_of_its_ascii_twin(tmp_path):
    """Issue point 4: ００１ and 001 are one 凭证号; the fast path kept them apart, so `unique` missed it."""
    path = build(tmp_path / "v.xlsx", {LEDGER_NAME: {
        **ledger_row(0, "会费", "会费收入", income=500), ledger(0, "voucher"): "001",
        **ledger_row(1, "会费", "会费收入", income=600), ledger(1, "voucher"): "００１"}})
    data = check_file(path, LAYOUT)
    assert [r.values["voucher"] for r in data.tables["ledger"].records] == ["001", "001"]
    assert [(p.code, p.cell) for p in data.report if p.code == "duplicate"] == [("duplicate", ledger(1, "voucher"))]


def test_infinity_in_int_fields_without_a_max_is_a_cell_problem(tmp_path):
    """Issue point 4: <v>1e999</v> in an int field without a max made the whole file unreadable."""
    text = (Path(__file__).parents[1] / "layouts" / "school.yaml").read_text(encoding="utf-8")
    unbounded = text.replace("type: int, min: 0, max: 100000}", "type: int, min: 0}")
    assert unbounded != text
    layout_path = tmp_path / "unbounded.yaml"
    layout_path.write_text(unbounded, encoding="utf-8")
    layout = load_layout(layout_path)
    buf = io.BytesIO()
    write_template(layout, Org("无界小学", "U001", 2025), buf)
    planned, members = data_cell(SCHEDULE, "planned_people", 0), form_cell(INFO, "members")
    schedule = SCHEDULE.name["zh"]
    path = build(tmp_path / "inf.xlsx", {schedule: {data_cell(SCHEDULE, "month", 0): 3, data_cell(SCHEDULE, "activity", 0): "春游"}},
                 xml={schedule: {planned: f'<c r="{planned}"><v>1e999</v></c>'},
                      INFO_NAME: {members: f'<c r="{members}"><v>1e999</v></c>'}}, template=buf.getvalue())
    data = check_file(path, layout)
    assert data.readable
    assert at(data, planned, schedule) == [("not_a_number", "error", "inf")]
    assert at(data, members, INFO_NAME) == [("not_a_number", "error", "inf")]
    assert data.tables["schedule"].records[0].rejected


# --------------------------------------------------------------------------- point 7: the 余额 check


@pytest.mark.parametrize("opening", ["1,200.00", "１２００", " 1200 "])
def test_a_text_opening_balance_read_as_a_number_still_checks_the_balances(tmp_path, opening):
    """Issue point 7: a text 上年结余 silenced the 余额 check; the spreadsheet converts it, so compare with that."""
    h3, h4 = ledger(0, "balance"), ledger(1, "balance")
    path = build(tmp_path / "o.xlsx", {
        INFO_NAME: {form_cell(INFO, "opening_balance"): opening},
        LEDGER_NAME: {**ledger_row(0, "会费", "会费收入", income=500), h3: 1700,  # a constant equal to the formula
                      **ledger_row(1, "活动", "职工活动支出", expense=200), h4: 9999}})
    data = check_file(path, LAYOUT)
    assert at(data, h3) == []
    assert at(data, h4) == [("formula_overwritten", "error", "9999")]
    (p,) = [p for p in data.report if p.cell == h4]
    assert p.message_zh == "余额(元)应为公式计算的 1,500.00，但单元格里是固定值“9999”：公式被改掉了，请恢复公式。"
    assert [r.values["balance"] for r in data.tables["ledger"].records] == [1700.0, 1500.0]


def test_an_unreadable_opening_balance_still_checks_that_the_formulas_are_there(tmp_path):
    """Issue point 7: with 上年结余 “约一千” nothing can be compared, but a constant over a 余额 is still found."""
    h3, h4 = ledger(0, "balance"), ledger(1, "balance")
    opening = form_cell(INFO, "opening_balance")
    path = build(tmp_path / "u.xlsx", {
        INFO_NAME: {opening: "约一千"},
        LEDGER_NAME: {**ledger_row(0, "会费", "会费收入", income=500),
                      **ledger_row(1, "活动", "职工活动支出", expense=200), h4: 300}})
    data = check_file(path, LAYOUT)
    assert [c for c, _, _ in at(data, opening, INFO_NAME)] == ["not_a_number"]
    assert at(data, h3) == []  # a live formula
    assert at(data, h4) == [("formula_overwritten", "error", "300")]
    (p,) = [p for p in data.report if p.cell == h4]
    assert p.message_zh.startswith("余额(元)应为公式，但单元格里是固定值“300”：公式被改掉了，请恢复公式。")


def test_rows_below_the_last_formula_row_miss_a_formula_they_did_not_overwrite(tmp_path):
    """Issue point 7: rows typed under the template's formula rows were rejected as 固定值‘空白’ overwrites.

    Each such row is read with its recomputed balance and gets one formula_missing warning, whatever its 余额
    holds; an empty 余额 inside the table whose formula was deleted is missing too, not overwritten.
    """
    last = LEDGER.rows  # data rows 0 … rows-1 hold the formula; the next ones are below it
    below = [ledger(last + i, "balance") for i in range(3)]
    deleted = ledger(1, "balance")
    path = build(tmp_path / "below.xlsx", {LEDGER_NAME: {
        **ledger_row(0, "会费", "会费收入", income=500), **ledger_row(1, "会费", "会费收入", income=50), deleted: None,
        **ledger_row(last, "活动", "职工活动支出", expense=120),
        **ledger_row(last + 1, "会费", "会费收入", income=30), below[1]: 460,  # typed by hand, and right
        **ledger_row(last + 2, "会费", "会费收入", income=10), below[2]: 999}})  # typed by hand, and wrong
    data = check_file(path, LAYOUT)
    assert not any(p.code == "formula_overwritten" for p in data.report)
    assert at(data, ledger(0, "balance")) == []
    assert at(data, deleted) == [("formula_missing", "warning", None)]
    assert [at(data, cell) for cell in below] == [[("formula_missing", "warning", None)],
                                                  [("formula_missing", "warning", "460")],
                                                  [("formula_missing", "warning", "999")]]
    first, _, wrong = (next(p for p in data.report if p.cell == cell) for cell in below)
    row = last + 3
    assert first.message_zh == (
        f"余额(元)没有公式：第 {row} 行在表格预设公式的最后一行（第 {row - 1} 行）之下，工作簿自身的余额和合计都不包括这一行"
        "（读取时已按收支重新计算，余额为 430.00）。请把上一行的余额公式向下复制到这一行，或者在表格内部插入行后再填写。")
    assert "单元格里填的“999”不是公式算出的，" in wrong.message_zh
    inside = next(p for p in data.report if p.cell == deleted)
    assert inside.message_zh.startswith("余额(元)单元格没有公式（公式被删除，或者这一行是后来插入的）")
    assert [(r.row, r.rejected, r.values["balance"]) for r in data.tables["ledger"].records] == [
        (3, False, 500.0), (4, False, 550.0), (row, False, 430.0), (row + 1, False, 460.0), (row + 2, False, 470.0)]


# --------------------------------------------------------------------------- point 21: the sheet-list cache


def _workbook_xml(padding: int, tag: int) -> bytes:
    return (b'<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            b'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>'
            b'<sheet name="S%d" sheetId="1" r:id="rId1"/></sheets><!--' % tag + b"x" * padding + b"--></workbook>")


_RELS = (b'<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
         b'<Relationship Id="rId1" Type="worksheet" Target="worksheets/sheet1.xml"/></Relationships>')


def test_the_sheet_list_cache_keeps_no_large_inputs():
    """Issue point 21: the cache was keyed on the raw bytes (32 × 16 MB per process); now on a digest, bounded."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(20):
            big = _workbook_xml(2 * 1024 * 1024, i)
            assert package.sheet_parts(big, _RELS) == {f"S{i}": "xl/worksheets/sheet1.xml"}
            del big
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert kept < 2 * 1024 * 1024, f"{kept / 1048576:.1f} MB kept after parsing 40 MB of sheet lists"
    small = [_workbook_xml(10, i) for i in range(100)]
    first = package.sheet_parts(small[0], _RELS)
    assert package.sheet_parts(small[0], _RELS) is first  # a template's sheet list is still parsed once
    for xml in small:
        package.sheet_parts(xml, _RELS)
    assert len(package._parts_cache) <= package.PARTS_CACHE_ENTRIES
    assert all(isinstance(k, bytes) and len(k) == 32 for k in package._parts_cache)


# --------------------------------------------------------------------------- point 23: far-reaching .xls and .ods


def _xls(cells: list[tuple[int, int, object]]) -> bytes:
    """A minimal BIFF8 workbook (one sheet, NUMBER and BOOLERR-error cells) inside a minimal OLE compound file."""
    def rec(rtype: int, body: bytes = b"") -> bytes:
        return struct.pack("<HH", rtype, len(body)) + body

    bof = struct.pack("<HHHHII", 0x0600, 0x0005, 0x0DBB, 0x07CC, 0, 6)
    name = "Sheet1".encode("utf-16-le")
    globals_len = len(rec(0x0809, bof)) + len(rec(0x0085, b"\0" * 8 + name)) + len(rec(0x000A))
    stream = rec(0x0809, bof) + rec(0x0085, struct.pack("<IBBBB", globals_len, 0, 0, 6, 1) + name) + rec(0x000A)
    stream += rec(0x0809, struct.pack("<HHHHII", 0x0600, 0x0010, 0x0DBB, 0x07CC, 0, 6))
    last_row, last_col = max(r for r, _, _ in cells), max(c for _, c, _ in cells)
    stream += rec(0x0200, struct.pack("<IIHHH", 0, last_row + 1, 0, last_col + 1, 0))
    for r, c, v in cells:
        if isinstance(v, str):  # an error code
            stream += rec(0x0205, struct.pack("<HHHBB", r, c, 0, {"#DIV/0!": 0x07, "#N/A": 0x2A}[v], 1))
        else:
            stream += rec(0x0203, struct.pack("<HHHd", r, c, 0, v))
    stream = (stream + rec(0x000A)).ljust(4096, b"\0")  # at the mini-stream cutoff: an ordinary stream
    n = -(-len(stream) // 512)
    fat = [0xFFFFFFFD, 0xFFFFFFFE, *range(3, 2 + n), 0xFFFFFFFE]
    fat += [0xFFFFFFFF] * (128 - len(fat))

    def entry(label: str, kind: int, start: int, size: int, child: int = 0xFFFFFFFF) -> bytes:
        raw = label.encode("utf-16-le") + b"\0\0" if label else b""
        return (raw.ljust(64, b"\0") + struct.pack("<HBBIII", len(raw), kind, 1, 0xFFFFFFFF, 0xFFFFFFFF, child)
                + b"\0" * 36 + struct.pack("<III", start, size, 0))

    directory = entry("Root Entry", 5, 0xFFFFFFFE, 0, child=1) + entry("Workbook", 2, 2, len(stream)) + entry("", 0, 0, 0) * 2
    header = (OLE_MAGIC + b"\0" * 16 + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6) + b"\0" * 6
              + struct.pack("<9I", 0, 1, 1, 0, 4096, 0xFFFFFFFE, 0, 0xFFFFFFFE, 0)
              + struct.pack("<109I", 0, *[0xFFFFFFFF] * 108))
    return header + struct.pack("<128I", *fat) + directory + stream.ljust(n * 512, b"\0")


def test_a_far_reaching_xls_is_refused_before_it_is_loaded(tmp_path, monkeypatch):
    """Issue point 23: one value in IV65536 of an .xls took 1.3 GB and 3.8 s; now refused like an xlsx, unopened."""
    path = tmp_path / "远.xls"
    path.write_bytes(_xls([(0, 0, 1.0), (65535, 255, 2.0)]))

    class NotToBeOpened:
        def __init__(self, *args: object, **kwargs: object) -> None:
            raise AssertionError("calamine must not load a sheet this large")

    monkeypatch.setattr(reader, "_Book", NotToBeOpened)
    data = reader.read_workbook(path, LAYOUT)
    assert not data.readable
    assert [(p.code, p.sheet, p.cell) for p in data.report] == [("sheet_too_large", "Sheet1", None)]
    assert "内容延伸到 IV65536" in data.report.problems[0].message_zh
    # The walk that measured it also finds error cells, which calamine reads as blank.
    scan = reader.scan_xls(_xls([(0, 0, 1.0), (0, 1, "#DIV/0!")]))
    assert scan is not None and scan.extents == {"Sheet1": (1, 2)} and scan.errors == {"Sheet1": {(0, 1): "#DIV/0!"}}


# --------------------------------------------------------------------------- in LibreOffice


def _convert(src: Path, fmt: str) -> Path:
    filter_name = {"ods": "ods", "xls": "xls:MS Excel 97"}[fmt]
    subprocess.run(["soffice", "--headless", "--convert-to", filter_name, "--outdir", str(src.parent), str(src)],
                   check=True, capture_output=True, timeout=180, env={"HOME": str(src.parent), "PATH": "/usr/bin:/bin"})
    return src.with_suffix("." + fmt)


@pytest.mark.lo
def test_error_values_saved_by_libreoffice_in_xlsx_xls_and_ods(lo, tmp_path):
    """Issue point 2: a formula typed in LibreOffice that gives #DIV/0!, saved as .xlsx, .xls and .ods."""
    template = tmp_path / "t.xlsx"
    template.write_bytes(TEMPLATE)
    filled = tmp_path / "filled.xlsx"
    income = ledger(1, "income")
    lo.fill(template, filled, {LEDGER_NAME: {
        **ledger_row(0, "会费", "会费收入", income=500), **ledger_row(1, "补助", "上级补助收入"), income: "=1/0",
        **ledger_row(2, "活动", "职工活动支出", expense=100)}})
    for path in (filled, _convert(filled, "xls"), _convert(filled, "ods")):
        data = check_file(path, LAYOUT)
        assert data.readable, path.name
        assert at(data, income) == [("error_value", "error", "#DIV/0!")], path.name
        # The 余额 formulas from row 4 on show #DIV/0! too: a consequence, not reported again.
        assert [p.code for p in data.report if p.sheet == LEDGER_NAME and p.severity != "info"] == ["error_value"], path.name
        assert {row: r.rejected for row, r in records(data).items()} == {3: False, 4: True, 5: False}, path.name


@pytest.mark.lo
@pytest.mark.parametrize(("opening", "balances_shown"), [("1,200.00", [1700, 1500]), ("¥1,200.00", None)])
def test_a_text_opening_balance_as_libreoffice_computes_it(lo, tmp_path, opening, balances_shown):
    """Issue point 7: LibreOffice converts "1,200.00" in 上年结余 + SUM(…), and gives #VALUE! for "¥1,200.00".

    Either way the balances are still checked: the constant typed over the third 余额 is found.
    """
    typed_over = ledger(2, "balance")
    src = build(tmp_path / "o.xlsx", {INFO_NAME: {form_cell(INFO, "opening_balance"): opening},
                                       LEDGER_NAME: {**ledger_row(0, "会费", "会费收入", income=500),
                                                     **ledger_row(1, "活动", "职工活动支出", expense=200),
                                                     **ledger_row(2, "活动", "职工活动支出", expense=100), typed_over: 9999}})
    done = tmp_path / "done.xlsx"
    lo.recalc(src, done, check_errors=False)
    wb = openpyxl.load_workbook(done, data_only=True)
    shown = [wb[LEDGER_NAME][ledger(i, "balance")].value for i in range(3)]
    assert shown == [*(balances_shown or ["#VALUE!", "#VALUE!"]), 9999]
    data = check_file(done, LAYOUT)
    assert [(p.code, p.cell, p.value) for p in data.report if p.code == "formula_overwritten"] == [
        ("formula_overwritten", typed_over, "9999")]
    assert [(r.values["balance"], r.rejected) for r in data.tables["ledger"].records] == [
        (1700.0, False), (1500.0, False), (1400.0, True)]
    warned = [(p.code, p.severity, p.cell, p.value) for p in data.report if p.code == "error_value"]
    assert warned == ([] if balances_shown else [("error_value", "warning", ledger(0, "balance"), "#VALUE!")])


@pytest.mark.lo
@pytest.mark.parametrize("fmt", ["xls", "ods"])
def test_far_reaching_xls_and_ods_from_libreoffice_are_refused(lo, tmp_path, fmt):
    """Issue point 23: the same guard as for .xlsx, for files LibreOffice wrote."""
    entries = LAYOUT.sheet("entries").name["zh"]
    src = build(tmp_path / "far.xlsx", {entries: {"IV65536": "远处的值"}, LEDGER_NAME: ledger_row(0, "会费", "会费收入", income=5)})
    data = reader.read_workbook(_convert(src, fmt), LAYOUT)
    assert not data.readable
    assert [(p.code, p.sheet) for p in data.report] == [("sheet_too_large", entries)]
    assert "IV65536" in data.report.problems[0].message_zh
