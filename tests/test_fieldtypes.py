"""reading.cells: what a clerk typed, read as the field's type, with a note that says what happened.

There is one parser per type (parse_full, which parse names) and one shortcut, the reader's fast_column:
the property test below holds the shortcut to the parser over awkward values.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sheetplan.layout import load_layout
from sheetplan.reading.cells import (
    ERROR_VALUES,
    SLOW,
    CellError,
    ExternalFormula,
    fast_column,
    parse,
    parse_full,
    show,
)

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
def test_the_shortcut_agrees_with_the_full_parser(field):
    """A merge parses most cells through fast_column; whatever it takes, the full parser reads the same, without a finding."""
    column = [*_AWKWARD, *LAYOUT.lists[field.list].values[:3]] if field.list else list(_AWKWARD)
    marker = object()
    got = fast_column(field, 2025, LAYOUT, marker)(column)
    assert len(got) == len(column)
    accepted = 0
    for raw, value in zip(column, got, strict=True):
        if raw == "":
            assert value is marker
            continue
        if value is SLOW:
            continue
        accepted += 1
        full = parse_full(field, raw, 2025, LAYOUT)
        assert (value, type(value)) == (full.value, type(full.value)) and not full.findings, (field.key, raw)
    if field.type in ("text", "money", "date", "phone", "list"):
        assert accepted, field.key  # the shortcut is really taken for the common types


# --------------------------------------------------------------------------- fast paths against the full parser

_INPUTS = [f for s in LAYOUT.sheets for f in s.input_fields]
# Variants a district's own layout may have: numbers without bounds, negative money, a free date, a short text.
_VARIANTS = [
    dataclasses.replace(_field("schedule", "planned_people"), key="any_int", min=None, max=None),
    dataclasses.replace(_field("schedule", "budget"), key="signed_money", allow_negative=True, max=1e6),
    dataclasses.replace(_field("ledger", "date"), key="any_date", within="any"),
    dataclasses.replace(_field("ledger", "voucher"), key="short_code", max_length=3),
    dataclasses.replace(_field("plan", "task"), key="short_text", max_length=4),
]
FIELDS = _INPUTS + _VARIANTS
# Every kind of space a cell can hold (Python's str.strip() takes all of them), and what full-width typing gives.
SPACES = " \t\n\r\x0b\x0c\x1c\x85\xa0\u1680\u2000\u2002\u2003\u2007\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
FULL_WIDTH = "０１２３４５６７８９ＡＢＣａｂｃ－．，（）￥"
_LIST_VALUES = sorted({v for lst in LAYOUT.lists.values() for v in lst.values})
_WORDS = st.one_of(
    st.text(alphabet="0123456789", min_size=1, max_size=12),
    st.text(alphabet=FULL_WIDTH + "0123456789", min_size=1, max_size=12),
    st.text(alphabet="0123456789-./年月日", min_size=1, max_size=12),
    st.sampled_from(_LIST_VALUES + sorted(ERROR_VALUES) + [
        "inf", "-inf", "nan", "NaN", "1e999", "1e308", "罗强", "#", "#1", "0", "-0", "+0", "-0.0", "0.005", "1,200.00",
        "１２００", "(100)", "13900007567", "１３９００００７５６７", "9" * 40, "2025-03-08", "2025年3月8日", "3月",
        "'004", "'", "''", "' 004", "'13900007567", "'已完成"]),
    st.text(max_size=8),
)
TEXT = st.builds(lambda a, w, b: a + w + b, st.text(alphabet=SPACES, max_size=2), _WORDS, st.text(alphabet=SPACES, max_size=2))
NUMBERS = st.one_of(
    st.floats(),  # inf, -inf, NaN, ±0.0, subnormals, 1.8e308 …
    st.sampled_from([0, 0.0, -0.0, math.inf, -math.inf, math.nan, 1e999, 1e308, -1e308, 2.0**63, 1e15 + 0.3, 714.455,
                     0.005, 7.0, 12.0, 13.0, 100000, 100001, 18, 70, 71, -1]),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),  # what the reader returns as an int (a 64-bit cell)
)
RAW = st.one_of(
    TEXT, NUMBERS, st.booleans(), st.just(""),
    st.builds(lambda a, e, b: a + e + b, st.text(alphabet=SPACES, max_size=1), st.sampled_from(sorted(ERROR_VALUES)),
              st.text(alphabet=SPACES, max_size=1)),
    st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2100, 12, 31)),
    st.dates(min_value=dt.date(2024, 12, 25), max_value=dt.date(2026, 2, 5)),  # around the edges of the windows
    st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2100, 12, 31)),
    st.sampled_from(sorted(ERROR_VALUES)).map(CellError),
    # A cell marked as an error whose text is a choice or plain text (a damaged or hostile file): still an error.
    st.sampled_from(_LIST_VALUES[:5] + ["罗强", "001"]).map(CellError),
    st.just(ExternalFormula("[1]Sheet1!A1")),
)


def _same(a, b) -> bool:
    return (a, type(a)) == (b, type(b))


@settings(max_examples=700, deadline=None)
@given(column=st.lists(RAW, min_size=1, max_size=6), year=st.sampled_from([2025, 2024, None]))
@example(column=["００１"], year=2025)
@example(column=[math.inf, -0.0, 0], year=2025)
@example(column=["13９００００７５６７", " 13900007567", "13900007567"], year=2025)
@example(column=["#DIV/0!", "", " 已完成", "已完成\u3000"], year=2025)
@example(column=[dt.date(2026, 1, 31), dt.datetime(2026, 2, 1, 8, 0), dt.date(2025, 1, 1)], year=2025)
@example(column=[CellError("已完成"), "1200", 714.455, 1e16 + 1], year=None)
@example(column=["'004", "'", "'13900007567"], year=2025)
def test_every_fast_path_agrees_with_the_types_own_parser(column, year):
    """Whatever the one shortcut (fast_column) takes, the type's own parser (parse_full) reads the same, without a finding.

    Each column of values is tried in every field, for a known and an unknown year: values include inf, -inf,
    NaN, huge and signed-zero numbers, "0" and "-0", full-width digits and letters, every width of space, tabs
    and line breaks, dates at the edges of the windows, the error values and cells marked as errors.
    parse, which callers use, is the full parser itself.
    """
    assert parse is parse_full
    marker = object()
    for field in FIELDS:
        got = fast_column(field, year, LAYOUT, marker)(column)
        assert len(got) == len(column), field.key
        for raw, value in zip(column, got, strict=True):
            if raw == "":
                assert value is marker, (field.key, raw)
                continue
            if value is SLOW:
                continue
            full = parse_full(field, raw, year, LAYOUT)
            assert _same(value, full.value) and not full.findings and not full.blank, (field.key, year, raw, value, full)


@pytest.mark.parametrize("raw", ["００１", "ＡＢ１２", "Ａ－01"])
def test_a_full_width_code_is_folded_on_every_path(raw):
    """Issue point 4: ００１ and 001 are one 凭证号; the fast paths used to keep the full-width one as it was."""
    f = _field("ledger", "voucher")
    folded = {"００１": "001", "ＡＢ１２": "AB12", "Ａ－01": "A-01"}[raw]
    assert fast_column(f, 2025, LAYOUT, None)([raw, folded]) == [SLOW, folded]
    parsed = parse(f, raw, 2025, LAYOUT)
    assert parsed.value == folded
    assert [(x.code, x.zh) for x in parsed.findings] == [("normalized", f"凭证号“{raw}”按“{folded}”读取（全角字符已转为半角）。")]


@pytest.mark.parametrize("raw", [math.inf, -math.inf, math.nan])
def test_infinity_in_a_number_field_without_bounds_is_a_cell_problem(raw):
    """Issue point 4: <v>1e999</v> (read as inf) in an int field without a max raised OverflowError on the fast path."""
    f = _VARIANTS[0]
    assert fast_column(f, 2025, LAYOUT, None)([raw]) == [SLOW]
    parsed = parse(f, raw, 2025, LAYOUT)
    assert parsed.value is None
    assert [(x.code, x.zh) for x in parsed.findings] == [
        ("not_a_number", f"计划人数“{show(raw)}”不是有效数字（超出表格软件能表示的范围），请改填数字。")]


@pytest.mark.parametrize("raw", [CellError("#DIV/0!"), "#N/A", " #REF! "])
@pytest.mark.parametrize(("sheet", "key"), [("ledger", "income"), ("ledger", "summary"), ("ledger", "date"), ("care", "reason")])
def test_an_error_value_is_never_blank(sheet, key, raw):
    """Issue point 2: an error value (as the file marks it, or its text) is an error_value finding, never a blank."""
    parsed = parse(_field(sheet, key), raw, 2025, LAYOUT)
    assert parsed.value is None and not parsed.blank
    shown = raw.strip()
    assert [x.code for x in parsed.findings] == ["error_value"]
    assert f"是错误值“{shown}”" in parsed.findings[0].zh


# --------------------------------------------------------------------------- the apostrophe a spreadsheet hides


@pytest.mark.parametrize(("sheet", "key", "raw", "value"), [
    ("ledger", "voucher", "'004", "004"),
    ("ledger", "summary", "'三八节活动", "三八节活动"),
    ("info", "org_code", "'XQ001", "XQ001"),
    ("info", "phone", "'13812345678", "13812345678"),
    ("entries", "phone", " '0755-12345678 ", "0755-12345678"),
])
def test_a_text_prefix_apostrophe_is_read_away_with_a_note(sheet, key, raw, value):
    """Issue point 13: '004 typed into a text-formatted cell is stored by LibreOffice with its apostrophe, which a
    General cell would have hidden; it is read as 004, with an info note keeping what the cell holds."""
    f = _field(sheet, key)
    assert fast_column(f, 2025, LAYOUT, None)([raw]) == [SLOW]
    parsed = parse(f, raw, 2025, LAYOUT)
    assert parsed.value == value
    assert [(x.code, x.zh) for x in parsed.findings] == [
        ("normalized", f"{f.label['zh']}“{raw}”前面的单引号是表格软件“按文字保存”的标记，不算内容，已按“{value}”读取。")]
    assert f"'{raw}'" in parsed.findings[0].en and f"read as '{value}'" in parsed.findings[0].en


@pytest.mark.parametrize("raw", ["'", "O'Brien", "004'"])
def test_an_apostrophe_that_is_part_of_the_text_stays(raw):
    """Issue point 13: only a leading apostrophe before something is the prefix; a lone one, or one inside, is text."""
    parsed = parse(_field("ledger", "summary"), raw, 2025, LAYOUT)
    assert parsed.value == raw and parsed.findings == []


def test_a_rejected_code_keeps_no_note_about_its_apostrophe():
    """Issue point 13: a code that is wrong after the apostrophe is read away says only what is wrong with it."""
    parsed = parse(_field("info", "org_code"), "'XQ 001", 2025, LAYOUT)
    assert parsed.value is None and [x.code for x in parsed.findings] == ["invalid_code"]


# --------------------------------------------------------------------------- text in a number or date cell


@pytest.mark.parametrize(("sheet", "key", "raw", "zh", "en"), [
    ("ledger", "expense", "1200元", "支出“1200元”是文字，已按“1200”读取；工作簿自身的合计和公式不计入它，请改填为数字。",
     "Expense '1200元' is text, read as '1200'; the workbook's own totals ignore it until it is retyped as a number."),
    ("ledger", "date", "2025年3月8日", "日期“2025年3月8日”是文字，已按“2025-03-08”读取；工作簿自身的合计和公式不计入它，请改填为日期。",
     "Date '2025年3月8日' is text, read as '2025-03-08'; the workbook's own totals ignore it until it is retyped as a date."),
    ("schedule", "actual_people", "30人", "实际人数“30人”是文字，已按“30”读取；工作簿自身的合计和公式不计入它，请改填为数字。",
     "Actual people '30人' is text, read as '30'; the workbook's own totals ignore it until it is retyped as a number."),
])
def test_text_in_a_number_or_date_cell_asks_for_that_kind_only(sheet, key, raw, zh, en):
    """Issue point 15: the advice names what the cell should hold (数字, or 日期 for a date), and the field without
    the unit in brackets its label ends with (支出, not 支出(元))."""
    parsed = parse(_field(sheet, key), raw, 2025, LAYOUT, in_formulas=True)
    assert [(x.code, x.zh, x.en) for x in parsed.findings] == [("stored_as_text", zh, en)]


@pytest.mark.parametrize(("sheet", "key", "raw", "zh", "en"), [
    ("info", "members", -3, "会员人数“-3”超出范围（应为 0–100000）。", "Members '-3' is out of range (expected 0–100000)."),
    ("ledger", "income", -5, "收入(元)“-5”超出范围（应不小于 0）。", "Income (yuan) '-5' is out of range (expected at least 0)."),
])
def test_a_range_is_said_in_words(sheet, key, raw, zh, en):
    """Issue point 17: a bound is said in words (不小于 0), as the 填写说明 says it, not with ≥ or ≤."""
    parsed = parse(_field(sheet, key), raw, 2025, LAYOUT)
    assert [(x.code, x.zh, x.en) for x in parsed.findings] == [("out_of_range", zh, en)]


def test_a_parsed_value_has_no_verdict_of_its_own():
    """Cleanup: Parsed.ok was used nowhere; what a finding means is the catalogue's severity of its code."""
    assert not hasattr(parse(_field("ledger", "summary"), "x", 2025, LAYOUT), "ok")
