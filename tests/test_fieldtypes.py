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
