"""Read a filled workbook back (the only module that imports spreadsheet readers).

python-calamine reads the values; the zip is opened directly (through
:mod:`sheetplan.reading.package`) only for what values do not tell: the identity properties,
which 余额 cells still hold a formula, and the cells calamine returns as
blank that are not (error values, formulas into another workbook without a
saved result). An .xls or .ods is walked once before calamine opens it, for
the same cells and for how far its sheets reach. Tables are found by their header
labels, not by coordinates, so inserted, sorted or moved rows and columns
are read. Every value is parsed by :mod:`sheetplan.reading.cells`; every
finding becomes a :class:`~sheetplan.problems.Problem` with its cell.
"""

from __future__ import annotations

import functools
import io
import math
import operator
import re
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..layout import Layout, Sheet
from ..layout.geometry import LISTS_SHEET, META_SHEET, README_SHEET, a1, col_letter, last_data_row
from ..problems import Problem, Report, problem
from ..rules.registry import fields_read_by_rules
from .cells import (
    SLOW,
    CellError,
    ExternalFormula,
    balance_opening,
    fast_column,
    is_blank,
    is_number,
    parse,
    running_balances,
    show,
)
from .identity import identity_from_properties
from .package import (
    WORKBOOK_PART,
    XML_ERRORS,
    ZIP_ERRORS,
    open_zip,
    rels_part,
    sheet_parts,
)
from .sheetxml import MAX_AREA, CellScan, SheetTooLarge, SheetXml, scan_ods, scan_xls
from .sniff import sniff

MAX_ROWS = 200_000  # per sheet; far above any school's year, far below a memory problem
MAX_COLS = 200
MAX_CELL_CHARS = 32_767  # Excel's own limit for one cell
HEADER_SCAN_ROWS = 30
IGNORED_SHEETS = {META_SHEET, *LISTS_SHEET.values(), *README_SHEET.values(), "问题清单", "Problems"}


class Record:
    """One non-empty data row: parsed values; raw values and their cells, built when asked for.

    Most rows of a district are never reported on, so their raw values and cell
    addresses are not worth a dictionary each until something looks at them.
    """

    __slots__ = ("row", "values", "rejected", "_line", "_where", "_raw", "_cells")

    def __init__(self, row: int, values: dict[str, Any], line: list[Any], where: Columns) -> None:
        self.row = row  # 1-based row in the sheet
        self.values = values
        self.rejected = False
        self._line, self._where = line, where
        self._raw: dict[str, Any] | None = None
        self._cells: dict[str, str] | None = None

    @property
    def raw(self) -> dict[str, Any]:
        """Field → the value as it stands in the cell (None for an empty cell)."""
        if self._raw is None:
            line, width = self._line, len(self._line)
            self._raw = {k: None if c >= width or line[c] == "" else line[c] for k, c in self._where.index}
        return self._raw

    @property
    def cells(self) -> dict[str, str]:
        """Field → the cell's A1 address."""
        if self._cells is None:
            row = str(self.row)
            self._cells = {k: letters + row for k, letters in self._where.letters}
        return self._cells

    def raw_of(self, key: str) -> Any:
        """``raw[key]`` without building the whole dictionary."""
        c = self._where.column.get(key)
        if c is None or c >= len(self._line):
            return None
        v = self._line[c]
        return None if v == "" else v

    def __repr__(self) -> str:
        return f"Record(row={self.row}, values={self.values!r}, rejected={self.rejected})"


@dataclass(frozen=True)
class Columns:
    """Where a table's fields stand: (field, 0-based column) and (field, column letters), in reading order."""

    index: tuple[tuple[str, int], ...]
    letters: tuple[tuple[str, str], ...]

    @functools.cached_property
    def column(self) -> dict[str, int]:
        return dict(self.index)


@dataclass
class Table:
    """The rows read from one table sheet of the layout."""

    key: str
    sheet_name: str | None = None
    header_row: int | None = None  # 1-based
    columns: dict[str, int] = field(default_factory=dict)  # field → 0-based column
    records: list[Record] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return self.sheet_name is not None


@dataclass
class WorkbookData:
    """Everything read from one file."""

    path: Path
    display: str
    layout: Layout
    kind: str | None = None
    identity: dict[str, str] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    info_raw: dict[str, Any] = field(default_factory=dict)
    info_cells: dict[str, str] = field(default_factory=dict)
    info_sheet: str | None = None
    tables: dict[str, Table] = field(default_factory=dict)
    report: Report = field(default_factory=Report)
    # While reading: the sheets' XML of an xlsx, or the scan of an .xls/.ods (what values do not tell).
    sheet_xml: SheetXml | CellScan | None = field(default=None, repr=False)

    @property
    def readable(self) -> bool:
        return self.kind is not None

    @property
    def year(self) -> int | None:
        y = self.info.get("year")
        if isinstance(y, int):
            return y
        try:
            return int(self.identity.get("year", ""))
        except ValueError:
            return None

    @property
    def org_code(self) -> str | None:
        return self.info.get("org_code") or self.identity.get("org_code")

    @property
    def org_name(self) -> str | None:
        return self.info.get("org_name") or self.identity.get("org_name")

    def add(self, code: str, zh: str, en: str, severity: str | None = None, **where: Any) -> Problem:
        return self.report.add(problem(code, zh, en, severity, file=self.display, **where))


def norm_label(text: Any) -> str:
    """A header label compared loosely: width-folded, without spaces or line breaks."""
    if type(text) is not str:
        return ""
    return _norm_label(text)


@functools.lru_cache(maxsize=8192)
def _norm_label(text: str) -> str:
    return _SPACES.sub("", unicodedata.normalize("NFKC", text))


_SPACES = re.compile(r"\s+")


# --------------------------------------------------------------------------- raw access


class _Book:
    """Values of a workbook's sheets through python-calamine, read lazily.

    ``source`` (the sheets' XML of an xlsx, or the scan of an .xls or .ods) says how far each sheet reaches and
    which cells calamine reads as blank but are not (error values, formulas into other workbooks): those cells
    get their :class:`CellError` / :class:`ExternalFormula` value in the rows, so that they are never blank.
    """

    def __init__(self, path: Path, source: SheetXml | CellScan | None = None, content: bytes | None = None) -> None:
        from python_calamine import CalamineWorkbook

        # The bytes sniffing read, when it kept them: the file is not read a second time.
        self.wb = CalamineWorkbook.from_filelike(io.BytesIO(content)) if content is not None else CalamineWorkbook.from_path(str(path))
        self.names = list(self.wb.sheet_names)
        self._rows: dict[str, list[list[Any]]] = {}
        self.marks: dict[str, dict[tuple[int, int], str]] = {}
        self.truncated: set[str] = set()
        self.xml = source

    def rows(self, name: str) -> list[list[Any]]:
        if name not in self._rows:
            extent = self.xml.extent(name) if self.xml is not None else None
            if extent and extent[0] * extent[1] > MAX_AREA:
                raise SheetTooLarge(name, extent)
            sheet = self.wb.get_sheet_by_name(name)
            # skip_empty_area=False keeps row 1 at index 0 even when the top rows are empty.
            rows = sheet.to_python(skip_empty_area=False, nrows=MAX_ROWS + 1)
            if len(rows) > MAX_ROWS:
                rows = rows[:MAX_ROWS]
                self.truncated.add(name)
            rows = [r[:MAX_COLS] for r in rows]
            marks = self.xml.marks(name) if self.xml is not None else {}
            if marks:
                _put_marks(rows, marks)
            self.marks[name] = marks
            self._rows[name] = rows
        return self._rows[name]


def _put_marks(rows: list[list[Any]], marks: dict[tuple[int, int], str]) -> None:
    """Write error values and external formulas into the rows calamine returned (where it left "")."""
    for (r, c), value in marks.items():
        if r >= MAX_ROWS or c >= MAX_COLS:
            continue
        while len(rows) <= r:  # calamine's area covers these cells; this only guards against it not doing so
            rows.append([])
        line = rows[r]
        if len(line) <= c:
            line.extend([""] * (c + 1 - len(line)))
        if line[c] == "":
            line[c] = value


def _cell(rows: list[list[Any]], r: int, c: int) -> Any:
    if r < len(rows) and c < len(rows[r]):
        v = rows[r][c]
        return None if v == "" else v
    return None


def _sheet_parts(zf: zipfile.ZipFile) -> dict[str, str]:
    """Sheet name → zip part path, from workbook.xml and its relationships (the result is shared: do not change it)."""
    return sheet_parts(zf.read(WORKBOOK_PART), zf.read(rels_part(WORKBOOK_PART)))


def identity_code(path: str | Path) -> str | None:
    """The 单位代码 a workbook was made for, from its identity properties alone (cheap), or None.

    Never raises: anything unusual about the file is left for :func:`read_workbook` to report.
    """
    try:
        with open_zip(Path(path), require_count=True) as zf:
            code = identity_from_properties(zf).get("org_code")
    except Exception:  # damaged or not a zip at all: the full read says what is wrong
        return None
    return code or None


# --------------------------------------------------------------------------- reading


def read_workbook(path: str | Path, layout: Layout, display_name: str | None = None) -> WorkbookData:
    """Read one file completely: identity, 基本信息, every table, field findings.

    Never raises for a bad file: an unreadable file gives one problem with
    ``cell`` None and ``kind`` None. Rules are applied by :mod:`sheetplan.report.check`.
    """
    p = Path(path)
    data = WorkbookData(p, display_name or p.name, layout)
    sniffed = sniff(p, data.display, keep=True)
    if sniffed.problem is not None:
        data.report.add(sniffed.problem)
    if sniffed.kind is None:
        return data
    if sniffed.kind in ("xlsx", "xlsm"):
        # A look inside the zip for what values do not tell: the identity, where the sheets are, how far they
        # reach and which 余额 cells hold formulas (the last two only for the sheets that are read).
        zf = sniffed.zip
        if zf is None:
            try:
                zf = open_zip(p)
            except ZIP_ERRORS:
                zf = None
        if zf is not None:
            try:
                data.identity = identity_from_properties(zf)
                data.sheet_xml = SheetXml(zf, _sheet_parts(zf))
            except (*ZIP_ERRORS, *XML_ERRORS):
                zf.close()
    content = sniffed.data
    if sniffed.kind in ("xls", "ods"):
        # calamine reads every sheet of these when it opens the file: measure them before it does. An .xls is
        # walked from its bytes, which calamine then reads too (the file is read once more, not twice).
        scan: CellScan | None = None
        if sniffed.kind == "ods":
            scan = scan_ods(p)
        else:
            try:
                content = p.read_bytes()
            except OSError:
                content = None
            scan = scan_xls(content) if content is not None else None
        too_large = scan.too_large() if scan is not None else None
        if too_large is not None:
            last = a1(too_large.extent[0] - 1, too_large.extent[1] - 1)
            data.add("sheet_too_large",
                     f"文件 {data.display} 的工作表“{too_large.name}”内容延伸到 {last}，远超表格范围；.{sniffed.kind} 文件只能整个读入，"
                     "所以整个文件未读取。请删除表格以外的内容，或另存为 .xlsx 后再报送。",
                     f"The sheet '{too_large.name}' of {data.display} has content as far as {last}, far outside the table; "
                     f"an .{sniffed.kind} file can only be read whole, so the file was not read. Delete what lies outside "
                     "the table, or save it as .xlsx, and send it again.", sheet=too_large.name)
            return data
        data.sheet_xml = scan
    try:
        return _read_book(data, p, sniffed.kind, content)
    finally:
        if data.sheet_xml is not None:
            data.sheet_xml.close()
            data.sheet_xml = None  # only needed while reading


def _read_book(data: WorkbookData, p: Path, kind: str, content: bytes | None = None) -> WorkbookData:
    try:
        book = _Book(p, data.sheet_xml, content)
    except Exception as exc:  # calamine raises its own error types for broken content
        data.add("unreadable_file", f"文件 {data.display} 无法读取：{_reason(exc)}。请在 Excel 或 WPS 中打开后另存为 .xlsx。",
                 f"The file {data.display} cannot be read: {_reason(exc)}. Open it in Excel or WPS and save it as .xlsx.")
        return data
    data.kind = kind
    try:
        _read(data, book, kind)
    except Exception as exc:  # a value calamine cannot decode mid-sheet must not stop a merge
        data.kind = None
        data.add("unreadable_file", f"文件 {data.display} 读取中断：{_reason(exc)}。",
                 f"Reading {data.display} failed: {_reason(exc)}.")
    return data


def _reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


def _read(data: WorkbookData, book: _Book, kind: str) -> None:
    layout = data.layout
    if not data.identity and META_SHEET in book.names:
        rows = book.rows(META_SHEET)
        data.identity = {str(r[0]): show(r[1]) for r in rows[1:] if len(r) > 1 and r[0]}
    if data.identity:
        base = (layout.derived_from or "").split("@", 1)[0]
        if data.identity.get("layout") != layout.id and base and data.identity.get("layout") == base:
            # A district's renamed copy reads the workbooks its schools were given before the rename.
            data.add("layout_edition",
                     f"文件 {data.display} 用版式“{base}”生成，本次按其派生版式“{layout.id}”读取，请核对下拉列表和上限。",
                     f"The file {data.display} was made with layout '{base}'; it is read with '{layout.id}', derived "
                     "from it. Please check its lists and caps.")
        elif data.identity.get("layout") != layout.id:
            data.kind = None
            data.add("unknown_layout",
                     f"文件 {data.display} 是“{data.identity.get('layout')}”版式的工作簿，不是“{layout.id}”版式。",
                     f"The file {data.display} is a workbook of layout '{data.identity.get('layout')}', not '{layout.id}'.")
            return
        if data.identity.get("layout_version") != str(layout.version):
            data.add("layout_version",
                     f"文件 {data.display} 用第 {data.identity.get('layout_version')} 版版式生成，当前为第 {layout.version} 版，按表头读取。",
                     f"The file {data.display} was made with layout version {data.identity.get('layout_version')}; "
                     f"this is version {layout.version}. It is read by its headers.")
    placed = _place_sheets(data, book)
    if not data.identity:
        if sum(1 for v in placed.values() if v) < 2:
            data.kind = None
            data.add("unknown_layout",
                     f"文件 {data.display} 不是“{layout.title['zh']}”工作簿：既没有版式标识，也找不到它的工作表和表头。",
                     f"The file {data.display} is not a '{layout.title['en']}' workbook: no identity, and its sheets "
                     "and headers cannot be found.")
            return
        data.add("no_identity", f"文件 {data.display} 缺少版式标识（可能是复制到新工作簿中的），已按表头识别。",
                 f"The file {data.display} has no identity (copied into a new workbook?); recognised by its headers.")
    for sheet in layout.sheets:
        found = placed.get(sheet.key)
        if found is None:
            data.add("missing_sheet", f"找不到工作表“{sheet.name['zh']}”（已删除或改名，表头也找不到），该表未读取。",
                     f"The sheet '{sheet.name['en']}' ({sheet.name['zh']}) is missing (deleted, or renamed and its "
                     "headers not found); it was not read.", sheet=sheet.name["zh"], table=sheet.key)
            if sheet.kind == "table":
                data.tables[sheet.key] = Table(sheet.key)
            continue
        name, header = found
        try:
            rows = book.rows(name)
        except SheetTooLarge as exc:
            last = a1(exc.extent[0] - 1, exc.extent[1] - 1)
            data.add("sheet_too_large", f"工作表“{name}”的内容延伸到 {last}，远超表格范围，未读取。请删除表格以外的内容后再报送。",
                     f"The sheet '{name}' has content as far as {last}, far outside the table; it was not read. "
                     "Delete what lies outside the table and send it again.", sheet=name, table=sheet.key)
            if sheet.kind == "table":
                data.tables[sheet.key] = Table(sheet.key)
            continue
        if name in book.truncated:
            data.add("too_many_rows", f"工作表“{name}”超过 {MAX_ROWS} 行，之后的行未读取。",
                     f"The sheet '{name}' has more than {MAX_ROWS} rows; the rest was not read.", sheet=name)
        if sheet.kind == "form":
            _read_form(data, sheet, name, rows)
        else:
            data.tables[sheet.key] = _read_table(data, sheet, name, header, rows, book.marks.get(name) or {})
    _check_identity_against_info(data)


def _label_keys(sheet: Sheet) -> dict[str, str]:
    out: dict[str, str] = {}
    for f in sheet.fields:
        for text in (f.label["zh"], f.label["en"], f.key, *f.aliases):
            out.setdefault(norm_label(text), f.key)
    return out


def _header_match(sheet: Sheet, rows: list[list[Any]]) -> tuple[int, int] | None:
    """(0-based header row, matches) of the best header row in the top rows."""
    labels = _label_keys(sheet)
    scan = min(HEADER_SCAN_ROWS, len(rows))
    # The template's own header row names every field exactly as the layout does; when one does, only the
    # rows above it can tie (the first best row wins), so the loose comparison stops there.
    exact = {text: f.key for f in sheet.fields for text in (f.label["zh"], f.label["en"], f.key, *f.aliases)}
    every = len(sheet.fields)
    for r in range(scan):
        if len({exact[v] for v in rows[r] if type(v) is str and v in exact}) == every:
            scan = r + 1
            break
    best: tuple[int, int] | None = None
    for r in range(scan):
        hits = len({labels[n] for n in map(norm_label, rows[r]) if n in labels})
        if hits and (best is None or hits > best[1]):
            best = (r, hits)
    return best


def _form_match(sheet: Sheet, rows: list[list[Any]]) -> int:
    labels = _label_keys(sheet)
    return len({labels[n] for row in rows[:60] for n in map(norm_label, row[:10]) if n in labels})


def _place_sheets(data: WorkbookData, book: _Book) -> dict[str, tuple[str, int | None] | None]:
    """Layout sheet key → (workbook sheet name, header row) — by name first, then by headers."""
    names = [n for n in book.names if n not in IGNORED_SHEETS]
    by_norm = {norm_label(n): n for n in names}
    placed: dict[str, tuple[str, int | None] | None] = {}
    used: set[str] = set()
    for sheet in data.layout.sheets:
        for candidate in (sheet.name["zh"], sheet.name["en"]):
            name = by_norm.get(norm_label(candidate))
            if name and name not in used:
                placed[sheet.key] = (name, None)
                used.add(name)
                break
    for sheet in data.layout.sheets:
        if sheet.key in placed:
            continue
        best: tuple[str, int] | None = None
        for name in names:
            if name in used:
                continue
            try:
                rows = book.rows(name)
            except SheetTooLarge:
                continue
            score = _form_match(sheet, rows) if sheet.kind == "form" else (_header_match(sheet, rows) or (0, 0))[1]
            need = max(2, (len(sheet.fields) + 1) // 2)
            if score >= need and (best is None or score > best[1]):
                best = (name, score)
        placed[sheet.key] = (best[0], None) if best else None
        if best:
            used.add(best[0])
    return placed


def _read_form(data: WorkbookData, sheet: Sheet, name: str, rows: list[list[Any]]) -> None:
    data.info_sheet = name
    labels = _label_keys(sheet)
    where: dict[str, tuple[int, int]] = {}
    for r, row in enumerate(rows[:200]):
        for c, v in enumerate(row[:20]):
            key = labels.get(norm_label(v))
            if key and key not in where:
                where[key] = (r, c + 1)
    year_raw = None
    if "year" in where:
        year_raw = _cell(rows, *where["year"])
    year_hint = _year_of(year_raw) or _int_or_none(data.identity.get("year"))
    formula_keys = data.layout.formula_fields(sheet.key)
    for f in sheet.fields:
        if f.key not in where:
            # An optional line a newer template added (本年度无此项) is missing from every workbook made before it:
            # a note, not a warning on each of them.
            sev = "error" if f.required else "info"
            data.add("missing_column", f"基本信息中找不到“{f.label['zh']}”一项（用较早的模板填写的工作簿没有这一项）。",
                     f"基本信息 has no line '{f.label['en']}' (a workbook filled from an earlier template lacks it).",
                     severity=sev, sheet=name, field=f.key, table=sheet.key)
            continue
        r, c = where[f.key]
        raw = _cell(rows, r, c)
        cell = a1(r, c)
        data.info_raw[f.key] = raw
        data.info_cells[f.key] = cell
        _guard_length(data, raw, name, cell, r + 1, f.key, sheet.key)
        parsed = parse(f, raw, year_hint, data.layout, f.key in formula_keys)
        data.info[f.key] = parsed.value
        _report_findings(data, parsed, raw, name, cell, r + 1, f, sheet.key)


def _year_of(raw: Any) -> int | None:
    if isinstance(raw, (int, float)) and not isinstance(raw, bool) and float(raw).is_integer():
        return int(raw)
    if isinstance(raw, str):
        m = re.match(r"^\s*(\d{4})\s*年?\s*$", unicodedata.normalize("NFKC", raw))
        return int(m.group(1)) if m else None
    return None


def _int_or_none(text: str | None) -> int | None:
    try:
        return int(text) if text else None
    except ValueError:
        return None


def _guard_length(data: WorkbookData, raw: Any, sheet: str, cell: str, row: int, key: str, table: str) -> None:
    if isinstance(raw, str) and len(raw) > MAX_CELL_CHARS:
        data.add("too_long", f"单元格有 {len(raw)} 个字符，超过表格软件的上限 {MAX_CELL_CHARS}。",
                 f"The cell holds {len(raw)} characters, more than the spreadsheet limit of {MAX_CELL_CHARS}.",
                 sheet=sheet, cell=cell, row=row, field=key, value=raw[:50] + "…", table=table)


def _report_findings(data: WorkbookData, parsed: Any, raw: Any, sheet_name: str, cell: str, row: int,
                     f: Any, table: str) -> None:
    if not parsed.findings and not (parsed.blank and f.required):
        return
    value = show(raw) if raw is not None else None
    if isinstance(value, str) and len(value) > 200:
        value = value[:200] + "…"
    for finding in parsed.findings:
        zh, en = finding.zh, finding.en
        if finding.code in _LOCATED:
            # What the cell holds is no value at all: say where it is, so that a clerk can find and mend it.
            zh, en = f"工作表“{sheet_name}”的 {cell} 单元格：{zh}", f"Sheet '{sheet_name}', cell {cell}: {en}"
        data.add(finding.code, zh, en, sheet=sheet_name, cell=cell, row=row, field=f.key, value=value, table=table)
    if parsed.blank and f.required:
        data.add("required", f"“{f.label['zh']}”必须填写。", f"'{f.label['en']}' is required.",
                 sheet=sheet_name, cell=cell, row=row, field=f.key, value=None, table=table)


_LOCATED = frozenset({"error_value", "external_reference"})


def _read_table(data: WorkbookData, sheet: Sheet, name: str, header_hint: int | None,
                rows: list[list[Any]], marks: dict[tuple[int, int], str] | None = None) -> Table:
    table = Table(sheet.key, name)
    match = _header_match(sheet, rows)
    if match is None:
        data.add("missing_column", f"工作表“{name}”中找不到表头行，该表未读取。",
                 f"No header row found in the sheet '{name}'; it was not read.", sheet=name, table=sheet.key)
        return table
    header = match[0]
    table.header_row = header + 1
    labels = _label_keys(sheet)
    hrow = rows[header]
    hit_cols = [c for c, v in enumerate(hrow) if norm_label(v) in labels]
    # The table is the run of non-empty header cells around the matches; the
    # summary block to the right starts after an empty column and is not data.
    start, end = min(hit_cols), max(hit_cols)
    while start > 0 and not is_blank(hrow[start - 1]):
        start -= 1
    while end + 1 < len(hrow) and not is_blank(hrow[end + 1]):
        end += 1
    for c in range(start, end + 1):
        key = labels.get(norm_label(hrow[c]))
        if key is not None and key not in table.columns:
            table.columns[key] = c
        elif not is_blank(hrow[c]):
            data.add("extra_column", f"“{show(hrow[c])}”不是本表的栏目，该列未读取。",
                     f"'{show(hrow[c])}' is not a column of this table; it was not read.",
                     sheet=name, cell=a1(header, c), row=header + 1, value=show(hrow[c]), table=sheet.key)
    important = data.layout.formula_fields(sheet.key) | fields_read_by_rules(sheet)
    for f in sheet.fields:
        if f.key not in table.columns:
            sev = "error" if f.required or f.type == "formula" or f.key in important else "warning"
            data.add("missing_column", f"工作表“{name}”缺少“{f.label['zh']}”一栏。", f"The sheet '{name}' has no column '{f.label['en']}'.",
                     severity=sev, sheet=name, field=f.key, row=header + 1, table=sheet.key)
    inputs = [f for f in sheet.input_fields if f.key in table.columns]
    formulas = [f for f in sheet.fields if f.type == "formula" and f.key in table.columns]
    formula_keys = data.layout.formula_fields(sheet.key)
    year = data.year
    layout = data.layout
    keys = [f.key for f in inputs]
    cols = [table.columns[k] for k in keys]
    where = Columns(tuple((f.key, table.columns[f.key]) for f in (*inputs, *formulas)),
                    tuple((f.key, col_letter(table.columns[f.key])) for f in (*inputs, *formulas)))
    body = rows[header + 1:]
    if not cols:
        return table
    # Rows as tuples of the input columns (calamine's rows are all as wide as the sheet's used area).
    width = max(cols) + 1
    pick = operator.itemgetter(*cols) if len(cols) > 1 else lambda line: (line[cols[0]],)
    picked = [pick(line) if len(line) >= width else tuple(line[c] if c < len(line) else "" for c in cols) for line in body]
    n = len(cols)
    filled_rows = [i for i, t in enumerate(picked) if t.count("") != n and not all(map(is_blank, t))]
    columns = list(zip(*[picked[i] for i in filled_rows], strict=True)) or [()] * n
    # Column by column: one small call per plain cell; the full parser for the rest, afterwards and in
    # reading order (row by row), so that problems come out as a reader would meet them.
    parsed_columns = []
    slow: list[tuple[int, int]] = []
    for j, f in enumerate(inputs):
        if_blank = f.default if f.default is not None else (SLOW if f.required else None)
        parsed = fast_column(f, year, layout, if_blank)(columns[j])
        if SLOW in parsed:
            slow.extend((pos, j) for pos, value in enumerate(parsed) if value is SLOW)
        parsed_columns.append(parsed)
    for pos, j in sorted(slow):
        f = inputs[j]
        v = columns[j][pos]
        raw = None if v == "" else v
        r = header + 1 + filled_rows[pos]
        cell = f"{col_letter(cols[j])}{r + 1}"
        if type(raw) is str and len(raw) > MAX_CELL_CHARS:
            _guard_length(data, raw, name, cell, r + 1, f.key, sheet.key)
        result = parse(f, raw, year, layout, f.key in formula_keys)
        parsed_columns[j][pos] = result.value
        if result.findings or result.blank and f.required:
            _report_findings(data, result, raw, name, cell, r + 1, f, sheet.key)
    first = header + 2  # 1-based row of body[0]
    table.records = [Record(first + i, dict(zip(keys, values, strict=True)), body[i], where)
                     for i, values in zip(filled_rows, zip(*parsed_columns, strict=True), strict=True)]
    for f in formulas:
        _check_running_balance(data, sheet, table, f, marks or {})
    return table


def _check_running_balance(data: WorkbookData, sheet: Sheet, table: Table, f: Any,
                           marks: dict[tuple[int, int], str]) -> None:
    """Recompute 余额 (never trust cached values) and report formulas typed over or missing.

    The workbook's own 余额 is ``上年结余 + SUM(收入 so far) − SUM(支出 so far)``, as
    :func:`~sheetplan.reading.cells.running_balances` computes it (the template stores its pre-filled balances with
    the same function). A cached 余额 is compared with what that formula gives from the cells as they are (§6),
    and only where the two differ is the cell looked at: a live formula is never reported as typed over (its
    cached value may be stale, or an error that follows from a cell reported at its own place); a constant is
    ``formula_overwritten``; an empty cell without a formula is ``formula_missing`` (a warning: nothing was typed
    over, and the row is read with its recomputed balance).
    """
    rb = f.formula["running_balance"]
    plus, minus = rb["plus"], rb["minus"]
    if plus not in table.columns or minus not in table.columns:
        return
    opening_key = rb["opening"].split(".", 1)[1]
    opening_raw = data.info_raw.get(opening_key)
    opening_value = data.info.get(opening_key)
    col = table.columns[f.key]
    pc, mc = table.columns[plus], table.columns[minus]
    # The 1-based row from which the spreadsheet's own 余额 is an error rather than a number (never, by default).
    broken_from: float = math.inf
    # Text read as a number ("1,200.00", "１２００") has its own warning at 上年结余, and counts as that number here.
    opening = balance_opening(opening_raw, opening_value)
    if opening is None:
        # An error value, a formula into another workbook, text that is no number (约一千), a date or a boolean:
        # every 余额 formula gives an error (or nothing comparable). The cause has its own problem at 上年结余;
        # here each 余额 is still checked for its formula, so that a constant typed over one is not missed.
        opening = 0.0
        broken_from = 0
    # An error value (or a formula into another workbook) among the amounts makes SUM, and so every 余额 from
    # its row on, an error in the spreadsheet: that error is reported at the amount, not at each 余额 after it.
    header = table.header_row or 0
    for (r, c) in marks:
        if (c == pc or c == mc) and r + 1 > header:
            broken_from = min(broken_from, r + 1)
    true_total = float(opening_value) if is_number(opening_value) else 0.0
    lookup: Any = False  # the column's formulas, looked at only when a row needs it (most files: never)
    # Rows from here on lie under the template's formula rows: whatever their 余额 holds, whether it is a formula
    # is looked at (a balance typed there by hand may even be right, yet no total of the workbook counts the row).
    below_from = last_data_row(sheet) + 2
    limit = min(broken_from, below_from)  # rows above it whose cached 余额 is the computed one need no look
    warned = False
    key = f.key
    label = f.label
    records = table.records
    lines = [rec._line for rec in records]  # the raw cells, without a raw_of call each ("" is an empty cell)
    shown_balances = running_balances(opening, [line[pc] if pc < len(line) else "" for line in lines],
                                      [line[mc] if mc < len(line) else "" for line in lines])
    for rec, line, sheet_total in zip(records, lines, shown_balances, strict=True):
        values = rec.values
        true_total += (values.get(plus) or 0.0) - (values.get(minus) or 0.0)
        values[key] = round(true_total, 2)
        if sheet_total is None:
            continue  # the formula shows nothing on a row without amounts
        cached = line[col] if col < len(line) else ""
        row = rec.row
        if row < limit:
            if type(cached) is float and abs(cached - sheet_total) <= 0.005:
                continue  # the usual row: the stored balance is the computed one
            if not math.isfinite(sheet_total):
                broken_from = limit = row  # an amount beyond what a spreadsheet holds (1e999): reported at that cell
            elif is_number(cached) and abs(cached - sheet_total) <= 0.005:
                continue
        if lookup is False:
            source = data.sheet_xml
            lookup = source.formula_lookup(table.sheet_name or "", col) if source is not None else None
        if lookup is not None and row in lookup:
            if type(cached) is CellError and row < broken_from and not warned:
                # A live formula showing an error that no amount explains (a text 上年结余 an application would
                # not convert, a formula that lost its reference): the workbook's own 余额 are unusable from here.
                # A warning, once: the reader's balance is recomputed, and the rows themselves are sound.
                warned = True
                data.add("error_value",
                         f"工作表“{table.sheet_name}”的 {rec.cells[key]} 单元格：{label['zh']}的公式显示错误值“{cached}”，"
                         f"从这一行起工作簿自身的余额不可用（读取时已按收支重新计算，此行为 {values[key]:,.2f}）。"
                         "常见原因是上年结余或某笔金额填成了带符号或单位的文字，请改填为数字。",
                         f"Sheet '{table.sheet_name}', cell {rec.cells[key]}: the {label['en']} formula shows the error "
                         f"'{cached}', so the workbook's own balances are unusable from this row on (read with the "
                         f"recomputed balance, {values[key]:,.2f} here). Usually the opening balance or an amount was "
                         "typed as text with a symbol or unit: retype it as a number.",
                         severity="warning", sheet=table.sheet_name, cell=rec.cells[key], row=row, field=key,
                         value=str(cached), table=sheet.key)
            continue  # a live formula: its cached value may simply be stale
        if lookup is None and (row >= broken_from or is_number(cached) and abs(cached - sheet_total) <= 0.005):
            continue  # the formulas cannot be seen, and the cached value gives nothing to object to
        # The last formula row: from the sheet when it can be seen, else the template's own last input row.
        last = (lookup.last() if lookup is not None else 0) or below_from - 1
        if row > last or is_blank(cached):
            _formula_missing(data, sheet, table, f, rec, last, cached, sheet_total if row < broken_from else None)
            continue
        shown = show(cached)
        kind_zh, kind_en = ("错误值", "the error value") if isinstance(cached, (CellError, ExternalFormula)) else ("固定值", "the constant")
        if row >= broken_from:
            zh = (f"{label['zh']}应为公式，但单元格里是{kind_zh}“{shown}”：公式被改掉了，请恢复公式。"
                  "（上年结余或此前某笔金额不是数字，表格软件中这一栏的公式此时也会显示错误值，修正后才能核对余额。）")
            en = (f"{label['en']} should be a formula, but the cell holds {kind_en} '{shown}': the formula was typed "
                  "over; restore it. (The opening balance or an earlier amount is not a number, so the formula would "
                  "show an error here too until that is corrected.)")
        else:
            zh = f"{label['zh']}应为公式计算的 {sheet_total:,.2f}，但单元格里是{kind_zh}“{shown}”：公式被改掉了，请恢复公式。"
            en = (f"{label['en']} should be the computed {sheet_total:,.2f}, but the cell holds {kind_en} '{shown}': "
                  "the formula was typed over.")
        data.add("formula_overwritten", zh, en, sheet=table.sheet_name, cell=rec.cells[key], row=row, field=key,
                 value=shown, table=sheet.key)


def _formula_missing(data: WorkbookData, sheet: Sheet, table: Table, f: Any, rec: Record, last: int,
                     cached: Any, computed: float | None) -> None:
    """A 余额 without a formula on a row with amounts, not typed over one: ``formula_missing`` (warning), once.

    Below ``last``, the last row holding the formula (a row typed under the table), the workbook's own 余额 and
    totals leave the row out, whatever its 余额 cell holds; inside the table (an empty 余额 whose formula was
    deleted, or a row inserted) only the row's own 余额 is not shown, as the other rows' sums still count it.
    Either way the row is read, with its recomputed balance.
    """
    label, key, balance = f.label, f.key, rec.values[f.key]
    if rec.row > last:
        typed_zh = typed_en = ""
        if not is_blank(cached) and not (is_number(cached) and computed is not None and abs(cached - computed) <= 0.005):
            typed_zh = f"单元格里填的“{show(cached)}”不是公式算出的，"
            typed_en = f"The '{show(cached)}' typed in the cell is not a computed balance. "
        zh = (f"{label['zh']}没有公式：第 {rec.row} 行在表格预设公式的最后一行（第 {last} 行）之下，工作簿自身的余额和合计"
              f"都不包括这一行（读取时已按收支重新计算，余额为 {balance:,.2f}）。{typed_zh}请把上一行的余额公式向下复制到这一行，"
              "或者在表格内部插入行后再填写。")
        en = (f"{label['en']} has no formula: row {rec.row} is below row {last}, the last one with the template's "
              f"formulas, so the workbook's own balance and totals leave it out (read with the recomputed balance "
              f"{balance:,.2f}). {typed_en}Copy the balance formula down to this row, or insert rows inside the table.")
    else:
        zh = (f"{label['zh']}单元格没有公式（公式被删除，或者这一行是后来插入的），工作簿里这一行不显示余额"
              f"（读取时已按收支重新计算，为 {balance:,.2f}）。请从上一行复制余额公式。")
        en = (f"The {label['en']} cell has no formula (deleted, or the row was inserted later), so the workbook shows "
              f"no balance on this row (read with the recomputed balance {balance:,.2f}). Copy the formula from the row above.")
    data.add("formula_missing", zh, en, sheet=table.sheet_name, cell=rec.cells[key], row=rec.row, field=key,
             value=None if is_blank(cached) else show(cached), table=sheet.key)


def _check_identity_against_info(data: WorkbookData) -> None:
    ident = data.identity
    if not ident:
        return
    for key in ("org_code", "year"):
        got = data.info.get(key)
        want = ident.get(key)
        if got is not None and want is not None and str(got) != want:
            info = data.layout.sheet("info")
            data.add("org_mismatch", f"基本信息中的{info.field(key).label['zh']}“{got}”与工作簿生成时的“{want}”不一致，请核对。",
                     f"{info.field(key).label['en']} '{got}' in 基本信息 differs from '{want}' the workbook was made for.",
                     sheet=data.info_sheet, cell=data.info_cells.get(key), field=key, value=str(got), table="info")

