"""fieldtypes.parse: what a clerk typed, read as the field's type, with a note that says what happened."""

from __future__ import annotations

import datetime as dt

import pytest

from sheetplan.fieldtypes import parse
from sheetplan.layout import load_layout

LAYOUT = load_layout("school")


def _field(sheet: str, key: str):
    return next(f for f in LAYOUT.sheet(sheet).fields if f.key == key)


@pytest.mark.parametrize(("sheet", "key", "raw", "value", "zh"), [
    ("ledger", "date", "2025-01-05", dt.date(2025, 1, 5), "日期“2025-01-05”是以文字保存的日期，已按日期读取。"),
    ("ledger", "date", "2025/1/5", dt.date(2025, 1, 5), "日期“2025/1/5”按“2025-01-05”读取。"),
    ("ledger", "income", "800", 800.0, "收入(元)“800”是以文字保存的数字，已按数字读取。"),
    ("ledger", "income", "1.2万", 12000.0, "收入(元)“1.2万”按“12000”读取。"),
])
def test_notes_say_what_changed(sheet, key, raw, value, zh):
    parsed = parse(_field(sheet, key), raw, 2025, LAYOUT, in_formulas=False)
    assert parsed.value == value
    assert [(f.code, f.zh) for f in parsed.findings] == [("normalized", zh)]


def test_a_number_in_a_code_column_is_not_called_text():
    parsed = parse(_field("ledger", "voucher"), 12.0, 2025, LAYOUT)
    assert parsed.value == "12"
    assert all("以文字保存" not in f.zh for f in parsed.findings)


def test_blank_is_not_zero():
    parsed = parse(_field("ledger", "income"), "  ", 2025, LAYOUT)
    assert parsed.value is None and parsed.blank and parsed.findings == []


_AWKWARD = ["", " ", "x", " 罗强 ", "罗强", "罗强\u3000", "\t", "13900007567", "13900007567\n", " 13900007567", "12900007567", "0755-12345678",
            "已完成", " 已完成", "文体活动", "1200", 1200.0, 714.455, 714.45, -3.0, 0.0, 7.0, 7.5, 13.0, 1e12, True,
            dt.date(2025, 3, 8), dt.date(2024, 12, 31), dt.datetime(2025, 3, 8, 0, 0), dt.datetime(2026, 1, 31, 9, 0), "x" * 600]


@pytest.mark.parametrize("field", [f for s in LAYOUT.sheets for f in s.input_fields], ids=lambda f: f.key)
def test_the_fast_path_agrees_with_the_full_parser(field):
    """A merge parses most cells through fast_parser; whatever it accepts, parse() reads the same, without a finding."""
    from sheetplan.fieldtypes import SLOW, fast_parser

    fast = fast_parser(field, 2025, LAYOUT)
    accepted = 0
    for raw in _AWKWARD:
        got = fast(raw)
        if got is SLOW:
            continue
        accepted += 1
        full = parse(field, raw, 2025, LAYOUT)
        assert (got, type(got)) == (full.value, type(full.value)) and not full.findings, (field.key, raw)
    if field.type in ("text", "money", "date", "phone"):
        assert accepted, field.key  # the fast path is really taken for the common types
    from sheetplan.fieldtypes import fast_column

    column = [*_AWKWARD, *LAYOUT.lists[field.list].values[:3]] if field.list else list(_AWKWARD)
    marker = object()
    assert fast_column(field, 2025, LAYOUT, marker)(column) == [marker if v == "" else fast(v) for v in column]
