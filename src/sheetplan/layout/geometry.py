"""Where things sit in a generated template (pure functions, no I/O).

The reader never relies on these positions — it finds tables by their header
labels — but the writer, the stamping of roster copies, the sample generator
and the tests share them so that nobody repeats a coordinate.
"""

from __future__ import annotations

from .model import Sheet

META_SHEET = "_sheetplan"  # very hidden sheet holding the identity
LISTS_SHEET = {"zh": "代码表", "en": "Lists"}  # hidden sheet of dropdown lists
README_SHEET = {"zh": "填写说明", "en": "How to fill in"}
PROPERTY_PREFIX = "sheetplan."  # custom document properties holding the identity
TITLE_ROW = 0  # 0-based row of the sheet title
HEADER_ROW = 1  # 0-based row of the header labels
FIRST_DATA_ROW = 2  # 0-based row of the first input row
FORM_LABEL_COL = 0
FORM_VALUE_COL = 1
FORM_HELP_COL = 2


def col_letter(col: int) -> str:
    """0-based column index → Excel letters (0 → A, 26 → AA)."""
    s = ""
    col += 1
    while col:
        col, rem = divmod(col - 1, 26)
        s = chr(65 + rem) + s
    return s


def a1(row: int, col: int, absolute: bool = False) -> str:
    """0-based (row, col) → ``B3`` (or ``$B$3``)."""
    if absolute:
        return f"${col_letter(col)}${row + 1}"
    return f"{col_letter(col)}{row + 1}"


def column_of(sheet: Sheet, key: str) -> int:
    """0-based column of a table field in the template."""
    for i, f in enumerate(sheet.fields):
        if f.key == key:
            return i
    raise KeyError(key)


def form_row_of(sheet: Sheet, key: str) -> int:
    """0-based row of a form field's value in the template."""
    for i, f in enumerate(sheet.fields):
        if f.key == key:
            return FIRST_DATA_ROW + i
    raise KeyError(key)


def last_data_row(sheet: Sheet) -> int:
    """0-based row of the last pre-formatted input row of a table."""
    return FIRST_DATA_ROW + sheet.rows - 1


def data_cell(sheet: Sheet, key: str, index: int) -> str:
    """A1 address of field ``key`` in the ``index``-th (0-based) data row of a table."""
    return a1(FIRST_DATA_ROW + index, column_of(sheet, key))


def form_cell(sheet: Sheet, key: str) -> str:
    """A1 address of a form field's value cell."""
    return a1(form_row_of(sheet, key), FORM_VALUE_COL)


def summary_col(sheet: Sheet) -> int:
    """0-based first column of a table's summary block (one gap column after the data)."""
    return len(sheet.fields) + 1


def quote_sheet(name: str) -> str:
    """A sheet name as it must appear in a formula reference."""
    return "'" + name.replace("'", "''") + "'"
