"""One FieldSpec per field and year: the reader, its shortcut, the template's validations and the descriptions agree.

And one definition of what the template's 余额 formula shows (reading.cells.running_balances), used by the
template's pre-filled balances and by the reader's check, held to LibreOffice's own figures.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io

import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sheetplan.layout import load_layout
from sheetplan.layout.fields import (
    VALIDATION_DATES,
    VALIDATION_INT_LIMIT,
    VALIDATION_MONEY_LIMIT,
    date_window,
    field_spec,
)
from sheetplan.layout.geometry import FORM_VALUE_COL, col_letter, data_cell, form_row_of
from sheetplan.reading.cells import (
    SLOW,
    CellError,
    balance_opening,
    fast_column,
    formula_empty,
    parse_full,
    running_balances,
    sum_value,
)
from sheetplan.report.check import check_file
from sheetplan.rules.describe import describe_field
from sheetplan.write import Filled, Org, write_template

LAYOUT = load_layout("school")
YEAR = 2025
EXCEL_EPOCH = dt.date(1899, 12, 30)


def _field(sheet: str, key: str):
    return LAYOUT.sheet(sheet).field(key)


INPUTS = [(s, f) for s in LAYOUT.sheets for f in s.input_fields]
# What a district's own layout may say instead: numbers without bounds, negative money, a free date, short text.
VARIANTS = [
    dataclasses.replace(_field("schedule", "planned_people"), key="any_int", min=None, max=None),
    dataclasses.replace(_field("schedule", "planned_people"), key="low_int", min=-5, max=None),
    dataclasses.replace(_field("schedule", "budget"), key="signed_money", allow_negative=True, max=1e6),
    dataclasses.replace(_field("schedule", "budget"), key="capped_money", min=10.5, max=99.99),
    dataclasses.replace(_field("ledger", "date"), key="any_date", within="any"),
    dataclasses.replace(_field("plan", "done_on"), key="january_date"),
    dataclasses.replace(_field("ledger", "voucher"), key="short_code", max_length=3),
    dataclasses.replace(_field("plan", "task"), key="short_text", max_length=4),
]
FIELDS = [f for _, f in INPUTS] + VARIANTS


# --------------------------------------------------------------------------- the spec itself


def test_the_spec_is_derived_once_per_field_and_year():
    f = _field("ledger", "income")
    assert field_spec(f, YEAR, LAYOUT) is field_spec(f, YEAR, LAYOUT)
    assert field_spec(f, YEAR, LAYOUT) is not field_spec(f, YEAR + 1, LAYOUT)
    # an equal field built again is another field: its own spec, with the same figures
    twin = dataclasses.replace(f)
    assert field_spec(twin, YEAR, LAYOUT) == field_spec(f, YEAR, LAYOUT)


def test_money_is_not_negative_unless_the_layout_says_so():
    spec = field_spec(_field("ledger", "income"), YEAR, LAYOUT)
    assert (spec.low, spec.high, spec.signed) == (0, None, False)
    assert spec.validation_bounds() == (0, VALIDATION_MONEY_LIMIT)
    signed = field_spec(_field("info", "opening_balance"), YEAR, LAYOUT)
    assert (signed.low, signed.high, signed.signed) == (None, None, True)
    assert signed.validation_bounds() == (-VALIDATION_MONEY_LIMIT, VALIDATION_MONEY_LIMIT)
    capped = field_spec(VARIANTS[3], YEAR, LAYOUT)
    assert capped.validation_bounds() == (10.5, 99.99)


def test_whole_numbers_and_months():
    age = field_spec(_field("entries", "age"), YEAR, LAYOUT)
    assert (age.low, age.high) == (18, 70) and age.validation_bounds() == (18, 70)
    free = field_spec(VARIANTS[0], YEAR, LAYOUT)
    assert (free.low, free.high) == (None, None)
    assert free.validation_bounds() == (-VALIDATION_INT_LIMIT, VALIDATION_INT_LIMIT)
    # a fractional bound of a whole number: the validation takes the whole numbers the reader takes
    odd = field_spec(dataclasses.replace(_field("entries", "age"), min=17.5, max=70.9), YEAR, LAYOUT)
    assert odd.validation_bounds() == (18, 70)
    assert parse_full(dataclasses.replace(_field("entries", "age"), min=17.5), 17, YEAR, LAYOUT).findings[0].code == "out_of_range"
    month = field_spec(_field("schedule", "month"), YEAR, LAYOUT)
    assert (month.low, month.high) == (1, 12) and month.validation_bounds() == (1, 12)


@pytest.mark.parametrize(("within", "year", "window"), [
    ("year", 2025, (dt.date(2025, 1, 1), dt.date(2025, 12, 31))),
    ("year_plus_january", 2025, (dt.date(2025, 1, 1), dt.date(2026, 1, 31))),
    ("year_plus_january", 2024, (dt.date(2024, 1, 1), dt.date(2025, 1, 31))),
    ("any", 2025, None),
    ("year", None, None),  # the year is not known: no window
    ("year", 0, None),  # no date is in these years: the year is reported where it was read, not here
    ("year_plus_january", 9999, None),
])
def test_the_date_window(within, year, window):
    assert date_window(within, year) == window
    f = dataclasses.replace(_field("ledger", "date"), within=within)
    spec = field_spec(f, year, LAYOUT)
    assert (spec.start, spec.end) == (window or (None, None))
    assert spec.validation_window() == (window or VALIDATION_DATES)


def test_length_choices_and_pattern():
    assert field_spec(_field("plan", "task"), YEAR, LAYOUT).max_length == 500
    code = field_spec(_field("info", "org_code"), YEAR, LAYOUT)
    assert code.pattern is not None and code.pattern.pattern == _field("info", "org_code").pattern
    category = field_spec(_field("ledger", "category"), YEAR, LAYOUT)
    assert category.choices == LAYOUT.lists["ledger_category"].values
    assert category.choice_set == frozenset(category.choices)
    # a length on another type limits nothing: neither the reader, nor the validation, nor the words claim it
    phone = field_spec(dataclasses.replace(_field("info", "phone"), max_length=5), YEAR, LAYOUT)
    assert phone.max_length is None


# --------------------------------------------------------------------------- the reader and its shortcut at the edges


def _edges(spec):
    """(raw, accepted) pairs just inside and just outside what ``spec`` accepts."""
    if spec.type in ("int", "money", "month"):
        step = 0.01 if spec.type == "money" else 1
        out = []
        if spec.low is not None:
            out += [(spec.low, True), (spec.low - step, False)]
        if spec.high is not None:
            out += [(spec.high, True), (spec.high + step, False)]
        return out
    if spec.type == "date":
        if spec.start is None:
            return [(dt.date(1901, 1, 1), True), (dt.date(2099, 12, 31), True)]
        day = dt.timedelta(days=1)
        return [(spec.start, True), (spec.start - day, False), (spec.end, True), (spec.end + day, False)]
    if spec.type in ("text", "code") and spec.max_length and spec.pattern is None:
        return [("7" * spec.max_length, True), ("7" * (spec.max_length + 1), False)]
    return []


@pytest.mark.parametrize("year", [YEAR, None])
@pytest.mark.parametrize("field", FIELDS, ids=lambda f: f.key)
def test_the_reader_and_its_shortcut_take_what_the_spec_allows(field, year):
    spec = field_spec(field, year, LAYOUT)
    codes = {"int": "out_of_range", "money": "out_of_range", "month": "out_of_range", "date": "out_of_year",
             "text": "too_long", "code": "too_long"}
    for raw, accepted in _edges(spec):
        parsed = parse_full(field, raw, year, LAYOUT)
        quick = fast_column(field, year, LAYOUT, None)([raw])[0]
        if accepted:
            assert parsed.value is not None and not parsed.findings, (field.key, raw, parsed)
            assert quick is SLOW or quick == parsed.value, (field.key, raw)
        else:
            assert [x.code for x in parsed.findings] == [codes[spec.type]], (field.key, raw, parsed)
            assert quick is SLOW, (field.key, raw)


def test_the_out_of_year_message_names_the_window():
    parsed = parse_full(_field("plan", "done_on"), dt.date(2026, 2, 1), YEAR, LAYOUT)
    assert "不在 2025-01-01 至 2026-01-31 之内" in parsed.findings[0].zh


# --------------------------------------------------------------------------- the template and the descriptions


def _template(lang: str = "zh") -> openpyxl.Workbook:
    buf = io.BytesIO()
    write_template(LAYOUT, Org("一致小学", "C001", YEAR), buf, lang=lang)
    return openpyxl.load_workbook(io.BytesIO(buf.getvalue()))


def _serial(day: dt.date) -> str:
    # Excel counts a 29 February 1900 that never was: days before March 1900 are one less.
    return str((day - EXCEL_EPOCH).days - (day < dt.date(1900, 3, 1)))


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_templates_validations_and_prompts_come_from_the_spec(lang):
    wb = _template(lang)
    checked = 0
    for sheet, f in INPUTS:
        ws = wb[sheet.name[lang]]
        if sheet.kind == "form":
            cell = f"{col_letter(FORM_VALUE_COL)}{form_row_of(sheet, f.key) + 1}"
        else:
            cell = data_cell(sheet, f.key, 0)
        dv = next(d for d in ws.data_validations.dataValidation if cell in d.sqref)
        spec = field_spec(f, YEAR, LAYOUT)
        words = describe_field(f, LAYOUT, YEAR, lang)
        assert dv.prompt == words[:255], f.key
        if f.type in ("int", "money", "month"):
            lo, hi = spec.validation_bounds()
            assert dv.type == ("decimal" if f.type == "money" else "whole") and dv.operator in (None, "between"), f.key
            assert (float(dv.formula1), float(dv.formula2)) == (lo, hi), f.key
            if f.type != "month":  # a month's range is in its type's name
                shown = [_number(b) for b in (spec.low, spec.high) if b is not None]
                assert all(s in words for s in shown), (f.key, words)
        elif f.type == "date":
            start, end = spec.validation_window()
            assert (dv.type, dv.formula1, dv.formula2) == ("date", _serial(start), _serial(end)), f.key
        elif spec.max_length:
            assert (dv.type, dv.operator, dv.formula1) == ("textLength", "lessThanOrEqual", str(spec.max_length)), f.key
            assert str(spec.max_length) in words
        checked += 1
    assert checked == len(INPUTS)


def test_the_words_follow_the_spec():
    assert "须在 2025 年内或次年 1 月 31 日前" in describe_field(_field("plan", "done_on"), LAYOUT, YEAR, "zh")
    assert "须在 本年度 年内" in describe_field(_field("ledger", "date"), LAYOUT, None, "zh")
    assert "年内" not in describe_field(_field("info", "prepared_on"), LAYOUT, YEAR, "zh")
    assert "不小于 0" in describe_field(_field("ledger", "income"), LAYOUT, YEAR, "zh")
    words = describe_field(_field("info", "opening_balance"), LAYOUT, YEAR, "en")
    assert "may be negative" in words and "≥" not in words
    assert "10.5–99.99" in describe_field(VARIANTS[3], LAYOUT, YEAR, "zh")


# --------------------------------------------------------------------------- the running balance


AMOUNTS = st.one_of(
    st.floats(min_value=-1e9, max_value=1e9, allow_nan=False),
    st.integers(min_value=-10**9, max_value=10**9),
    st.sampled_from(["", None, " ", "\u3000", "0", "1200", "1200元", "约一千", True, False, CellError("#N/A"),
                     dt.date(2025, 3, 8), -0.0, 0, 714.455]),
)


@settings(max_examples=300, deadline=None)
@given(opening=st.floats(min_value=-1e9, max_value=1e9, allow_nan=False),
       rows=st.lists(st.tuples(AMOUNTS, AMOUNTS), max_size=12))
def test_running_balances_is_the_formula_written_out(opening, rows):
    """running_balances is opening + SUM(plus so far) − SUM(minus so far), shown unless both cells are empty."""
    plus, minus = [p for p, _ in rows], [m for _, m in rows]
    got = list(running_balances(opening, plus, minus))
    assert len(got) == len(rows)
    for i, value in enumerate(got):
        if formula_empty(plus[i]) and formula_empty(minus[i]):
            assert value is None
        else:
            want = opening + sum(sum_value(p) for p in plus[: i + 1]) - sum(sum_value(m) for m in minus[: i + 1])
            assert value == want


def test_what_the_formula_takes_from_the_opening_balance():
    assert balance_opening(None) == balance_opening("") == 0.0
    assert balance_opening(1200) == 1200.0 and balance_opening(-3.5) == -3.5
    assert balance_opening("1,200.00", 1200.0) == 1200.0  # numeric text, as the reader read it
    for raw in ("1,200.00", "约一千", " ", True, dt.date(2025, 1, 1), CellError("#REF!")):
        assert balance_opening(raw) is None, raw
    assert balance_opening(CellError("1200"), 1200.0) is None


OPENING = 3250.5
# date, summary, category, income, expense: amounts a clerk may leave in a ledger, numbers or not.
AWKWARD_LEDGER = [
    ("2025-01-06", "收取一月会费", "会费收入", 1860, None),
    ("2025-02-20", "行政拨付工会经费", "拨缴经费收入", 12000.0, None),
    ("2025-03-07", "三八节活动", "职工活动支出", None, "2400.8元"),  # text: SUM leaves it out
    None,  # a blank row between entries
    ("2025-04-12", "踏青交通费", "职工活动支出", None, " "),  # a space: no amount, yet the formula shows a balance
    ("2025-05-30", "上级工会回拨", "上级补助收入", "1200", None),  # numeric text: SUM leaves it out too
    ("2025-06-18", "慰问生病住院教师", "维权支出", None, 714.455),
    ("2025-07-01", "退回多付款", "职工活动支出", -0.0, 0),
    ("2025-09-10", "教师节慰问", "职工活动支出", None, 6500.25),
    ("2025-10-01", "只有摘要", "业务支出", None, None),  # no amount at all: the formula shows nothing
]


def _ledger_rows(ledger=AWKWARD_LEDGER) -> list[dict | None]:
    rows: list[dict | None] = []
    for r in ledger:
        if r is None:
            rows.append(None)
            continue
        day, summary, category, income, expense = r
        row = {"date": dt.date.fromisoformat(day), "summary": summary, "category": category}
        row.update({k: v for k, v in (("income", income), ("expense", expense)) if v is not None})
        rows.append(row)
    return rows


def _balances_in(path, ledger_sheet) -> list:
    ws = openpyxl.load_workbook(path, data_only=True)[ledger_sheet.name["zh"]]
    return [ws[data_cell(ledger_sheet, "balance", i)].value for i in range(len(AWKWARD_LEDGER) + 2)]


def _expected(opening: float) -> list:
    rows = _ledger_rows() + [None, None]
    plus = [(r or {}).get("income") for r in rows]
    minus = [(r or {}).get("expense") for r in rows]
    return list(running_balances(opening, plus, minus))


@pytest.mark.parametrize("opening", [OPENING, None])
def test_prefilled_balances_are_running_balances_and_the_reader_agrees(tmp_path, opening):
    """The template stores running_balances; the reader, recomputing with it, finds nothing typed over."""
    ledger = LAYOUT.sheet("ledger")
    made = tmp_path / "filled.xlsx"
    info = {} if opening is None else {"opening_balance": opening}
    write_template(LAYOUT, Org("测试小学", "T001", YEAR), made, filled=Filled(info=info, rows={"ledger": _ledger_rows()}))
    stored = _balances_in(made, ledger)
    for got, want in zip(stored, _expected(opening or 0.0), strict=True):
        assert got in (None, "") if want is None else got == want
    data = check_file(made, LAYOUT)
    assert [(p.code, p.cell) for p in data.report if p.field == "balance"] == []


@pytest.mark.lo
@pytest.mark.parametrize("opening", [OPENING, None])
def test_running_balances_are_what_libreoffice_computes(tmp_path, lo, opening):
    """The template's own formula, recalculated by LibreOffice, gives running_balances on every row; the reader,
    reading LibreOffice's file, finds every 余额 as it should be."""
    ledger = LAYOUT.sheet("ledger")
    made, final = tmp_path / "filled.xlsx", tmp_path / "final.xlsx"
    info = {} if opening is None else {"opening_balance": opening}
    write_template(LAYOUT, Org("测试小学", "T001", YEAR), made, filled=Filled(info=info, rows={"ledger": _ledger_rows()}))
    lo.recalc(made, final, check_errors=True)
    computed_by_lo = _balances_in(final, ledger)
    for i, (got, want) in enumerate(zip(computed_by_lo, _expected(opening or 0.0), strict=True)):
        if want is None:
            assert got in (None, ""), i
        else:
            assert got == pytest.approx(want, abs=1e-9), i
    assert computed_by_lo[4] not in (None, ""), "a space is text to the formula, not an empty cell"
    data = check_file(final, LAYOUT)
    assert [(p.code, p.cell) for p in data.report if p.field == "balance"] == []
