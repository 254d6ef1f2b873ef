"""Read a filled workbook back (the only module that imports spreadsheet readers).

python-calamine reads the values; the zip is opened directly (with
defusedxml) only for what values do not tell: the identity properties and
which 余额 cells still hold a formula. Tables are found by their header
labels, not by coordinates, so inserted, sorted or moved rows and columns
are read. Every value is parsed by :mod:`sheetplan.fieldtypes`; every
finding becomes a :class:`~sheetplan.problems.Problem` with its cell.
"""

from __future__ import annotations

import functools
import io
import operator
import re
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from defusedxml import DefusedXmlException, ElementTree

from .fieldtypes import SLOW, fast_column, is_blank, is_number, parse, show, sum_value
from .geometry import LISTS_SHEET, META_SHEET, README_SHEET, a1, col_letter
from .identity import identity_from_properties
from .layout import Layout, Sheet
from .problems import Problem, Report, problem
from .sniff import sniff

MAX_ROWS = 200_000  # per sheet; far above any school's year, far below a memory problem
MAX_COLS = 200
# calamine allocates every cell of a sheet's used area at once (a single value in
# XFD1048576 asks for 512 GB and aborts the process), so the area is measured first.
MAX_AREA = 6_000_000
MAX_CELL_CHARS = 32_767  # Excel's own limit for one cell
HEADER_SCAN_ROWS = 30
IGNORED_SHEETS = {META_SHEET, *LISTS_SHEET.values(), *README_SHEET.values(), "问题清单", "Problems"}
_NS_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_NS_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_NS_PKG_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"


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
    sheet_xml: SheetXml | None = field(default=None, repr=False)

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


class SheetTooLarge(Exception):
    """A sheet whose used area is too large to load (a value typed far outside the table)."""

    def __init__(self, name: str, extent: tuple[int, int]) -> None:
        super().__init__(name)
        self.name, self.extent = name, extent


class _Book:
    """Values of a workbook's sheets through python-calamine, read lazily."""

    def __init__(self, path: Path, xml: SheetXml | None = None, content: bytes | None = None) -> None:
        from python_calamine import CalamineWorkbook

        # The bytes sniffing read, when it kept them: the file is not read a second time.
        self.wb = CalamineWorkbook.from_filelike(io.BytesIO(content)) if content is not None else CalamineWorkbook.from_path(str(path))
        self.names = list(self.wb.sheet_names)
        self._rows: dict[str, list[list[Any]]] = {}
        self.truncated: set[str] = set()
        self.xml = xml

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
            self._rows[name] = [r[:MAX_COLS] for r in rows]
        return self._rows[name]


def _cell(rows: list[list[Any]], r: int, c: int) -> Any:
    if r < len(rows) and c < len(rows[r]):
        v = rows[r][c]
        return None if v == "" else v
    return None


def _sheet_parts(zf: zipfile.ZipFile) -> dict[str, str]:
    """Sheet name → zip part path, from workbook.xml and its relationships (the result is shared: do not change it)."""
    return _parts_of(zf.read("xl/workbook.xml"), zf.read("xl/_rels/workbook.xml.rels"))


@functools.lru_cache(maxsize=32)
def _parts_of(workbook_xml: bytes, rels_xml: bytes) -> dict[str, str]:
    # Workbooks made from one template share these two parts byte for byte: a merge parses them once.
    wb = ElementTree.fromstring(workbook_xml)
    rels = ElementTree.fromstring(rels_xml)
    targets = {r.get("Id"): r.get("Target", "") for r in rels.iter(f"{_NS_PKG_REL}Relationship")}
    out = {}
    for s in wb.iter(f"{_NS_MAIN}sheet"):
        target = targets.get(s.get(f"{_NS_REL}id"), "")
        target = target.lstrip("/") if target.startswith("/") else "xl/" + target
        out[s.get("name", "")] = re.sub(r"[^/]+/\.\./", "", target)
    return out


_REF_RE = re.compile(rb"<(?:\w+:)?c\s[^>]*?\br=\"([A-Z]{1,3})(\d{1,7})\"")


def _col_index(letters: bytes) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + (ch - 64)
    return n


# A reference in column DA or beyond, or in row 50,000 or beyond: only then is a
# sheet measured cell by cell (104 columns × 49,999 rows stays under MAX_AREA).
# Cheaper first look, true of every far reference (two letters, or five digits): most sheets stop here.
_MAYBE_FAR = re.compile(rb'r="[A-Z](?:[A-Z]|\d{5})')
_FAR_REF = re.compile(rb'r="(?:[A-Z]{3,}\d|[D-Z][A-Z]\d|[A-Z]{1,2}(?:\d{6,}|[5-9]\d{4})")')  # literal prefix: fast search


class SheetXml:
    """The worksheets' XML, decompressed when first asked for: only the sheets that are read cost anything.

    Sniffing already bounded every part's size and compression ratio.
    """

    def __init__(self, zf: zipfile.ZipFile, parts: dict[str, str]) -> None:
        self._zf, self._parts = zf, parts
        self._cache: dict[str, bytes | None] = {}

    def get(self, name: str) -> bytes | None:
        """The XML of the sheet called ``name``, or None when there is none to be had."""
        if name not in self._cache:
            part = self._parts.get(name)
            try:
                self._cache[name] = self._zf.read(part) if part else None
            except (KeyError, zipfile.BadZipFile, OSError, EOFError, zlib.error):
                self._cache[name] = None
        return self._cache[name]

    def extent(self, name: str) -> tuple[int, int] | None:
        """(last row, last column) of a sheet that reaches far; None for the near ones (nearly all)."""
        xml = self.get(name)
        if xml is None or not _MAYBE_FAR.search(xml) or not _FAR_REF.search(xml):
            return None
        max_row = max_col = 0
        for m in _REF_RE.finditer(xml):
            max_col = max(max_col, _col_index(m.group(1)))
            max_row = max(max_row, int(m.group(2)))
        return (max_row, max_col)

    def close(self) -> None:
        self._cache.clear()
        self._zf.close()


def formula_cells(xml: bytes | None, column: int) -> set[int] | None:
    """1-based rows of ``column`` that hold a formula, or None when unknown (not an xlsx sheet)."""
    if xml is None:
        return None
    # <f> comes first inside <c> (CT_Cell), so a formula cell of the column is an r="K12" attribute whose
    # element's content starts with <f>. The pattern starts with a literal so that the search is fast; the
    # character before it is checked afterwards (r= must be a whole attribute name).
    pattern = re.compile(rb'r="' + col_letter(column).encode() + rb'(\d+)"[^>]*>\s*<(?:\w+:)?f[\s>/]')
    return {int(m.group(1)) for m in pattern.finditer(xml) if m.start() > 0 and xml[m.start() - 1] in _ATTR_SEP}


_ATTR_SEP = frozenset(b" \t\r\n")
_FORMULA_NEXT = re.compile(rb'[^>]*>\s*<(?:\w+:)?f[\s>/]')


class FormulaLookup:
    """Whether given rows of one column hold a formula, asked row by row in reading order.

    Each row is found from where the last one was, so asking about a table's rows reads its part of the
    XML once, not the whole sheet (a template's pre-formatted formula rows run far below the data). Rows
    out of order, or cells that are not there, are found from the start; after a few of those the whole
    column is looked at once (:func:`formula_cells`).
    """

    MISSES = 8

    def __init__(self, xml: bytes, column: int) -> None:
        self.xml, self.column = xml, column
        self.letters = col_letter(column).encode()
        self.pos, self.misses = 0, 0
        self.all: set[int] | None = None

    def __contains__(self, row: int) -> bool:
        if self.all is not None:
            return row in self.all
        needle = b'r="' + self.letters + str(row).encode() + b'"'
        at = self._find(needle, self.pos)
        if at < 0:
            self.misses += 1
            if self.misses >= self.MISSES:
                self.all = formula_cells(self.xml, self.column)
                return row in self.all  # type: ignore[operator]
            at = self._find(needle, 0)
            if at < 0:
                return False
        self.pos = at + len(needle)
        return _FORMULA_NEXT.match(self.xml, self.pos) is not None

    def _find(self, needle: bytes, start: int) -> int:
        xml = self.xml
        while True:
            at = xml.find(needle, start)
            if at <= 0 or xml[at - 1] in _ATTR_SEP:
                return at if at > 0 else -1
            start = at + 1


def identity_code(path: str | Path) -> str | None:
    """The 单位代码 a workbook was made for, from its identity properties alone (cheap), or None.

    Never raises: anything unusual about the file is left for :func:`read_workbook` to report.
    """
    from .sniff import MAX_ZIP_ENTRIES, declared_entries

    p = Path(path)
    try:
        count = declared_entries(p)
        if count is None or count > MAX_ZIP_ENTRIES:
            return None
        with zipfile.ZipFile(p) as zf:
            code = identity_from_properties(zf).get("org_code")
    except Exception:  # damaged or not a zip at all: the full read says what is wrong
        return None
    return code or None


# --------------------------------------------------------------------------- reading


def read_workbook(path: str | Path, layout: Layout, display_name: str | None = None) -> WorkbookData:
    """Read one file completely: identity, 基本信息, every table, field findings.

    Never raises for a bad file: an unreadable file gives one problem with
    ``cell`` None and ``kind`` None. Rules are applied by :mod:`sheetplan.check`.
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
                zf = zipfile.ZipFile(p)
            except (zipfile.BadZipFile, OSError):
                zf = None
        if zf is not None:
            try:
                data.identity = identity_from_properties(zf)
                data.sheet_xml = SheetXml(zf, _sheet_parts(zf))
            except (zipfile.BadZipFile, ElementTree.ParseError, DefusedXmlException, OSError, KeyError):
                zf.close()
    try:
        return _read_book(data, p, sniffed.kind, sniffed.data)
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
        if data.identity.get("layout") != layout.id:
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
            data.tables[sheet.key] = _read_table(data, sheet, name, header, rows)
    _check_identity_against_info(data)


def _labels(sheet: Sheet) -> dict[str, str]:
    out: dict[str, str] = {}
    for f in sheet.fields:
        for text in (f.label["zh"], f.label["en"], f.key, *f.aliases):
            out.setdefault(norm_label(text), f.key)
    return out


def _header_match(sheet: Sheet, rows: list[list[Any]]) -> tuple[int, int] | None:
    """(0-based header row, matches) of the best header row in the top rows."""
    labels = _labels(sheet)
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
    labels = _labels(sheet)
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
    labels = _labels(sheet)
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
            sev = "error" if f.required else "warning"
            data.add("missing_column", f"基本信息中找不到“{f.label['zh']}”一项。", f"基本信息 has no line '{f.label['en']}'.",
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
        data.add(finding.code, finding.zh, finding.en, sheet=sheet_name, cell=cell, row=row, field=f.key,
                 value=value, table=table)
    if parsed.blank and f.required:
        data.add("required", f"“{f.label['zh']}”必须填写。", f"'{f.label['en']}' is required.",
                 sheet=sheet_name, cell=cell, row=row, field=f.key, value=None, table=table)


def _read_table(data: WorkbookData, sheet: Sheet, name: str, header_hint: int | None,
                rows: list[list[Any]]) -> Table:
    table = Table(sheet.key, name)
    match = _header_match(sheet, rows)
    if match is None:
        data.add("missing_column", f"工作表“{name}”中找不到表头行，该表未读取。",
                 f"No header row found in the sheet '{name}'; it was not read.", sheet=name, table=sheet.key)
        return table
    header = match[0]
    table.header_row = header + 1
    labels = _labels(sheet)
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
    important = data.layout.formula_fields(sheet.key) | _rule_fields(sheet)
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
    kept = [i for i, t in enumerate(picked) if t.count("") != n and not all(map(_blank_cell, t))]
    columns = list(zip(*[picked[i] for i in kept], strict=True)) or [()] * n
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
        r = header + 1 + kept[pos]
        cell = f"{col_letter(cols[j])}{r + 1}"
        if type(raw) is str and len(raw) > MAX_CELL_CHARS:
            _guard_length(data, raw, name, cell, r + 1, f.key, sheet.key)
        result = parse(f, raw, year, layout, f.key in formula_keys)
        parsed_columns[j][pos] = result.value
        if result.findings or result.blank and f.required:
            _report_findings(data, result, raw, name, cell, r + 1, f, sheet.key)
    first = header + 2  # 1-based row of body[0]
    table.records = [Record(first + i, dict(zip(keys, values, strict=True)), body[i], where)
                     for i, values in zip(kept, zip(*parsed_columns, strict=True), strict=True)]
    for f in formulas:
        _check_running_balance(data, sheet, table, f, rows)
    return table


def _blank_cell(v: Any) -> bool:
    return v == "" or v is None or (type(v) is str and not v.strip())


def _rule_fields(sheet: Sheet) -> set[str]:
    """Fields of this sheet that its rules read: without them the rules cannot run."""
    from .layout import RULE_FIELD_PARAMS

    out: set[str] = set()
    for rule in sheet.rules:
        for param in RULE_FIELD_PARAMS[rule.kind]:
            value = rule.params.get(param)
            out.update(n for n in (list(value) if isinstance(value, (list, dict)) else [value] if value else []) if "." not in n)
    return out


def _check_running_balance(data: WorkbookData, sheet: Sheet, table: Table, f: Any, rows: list[list[Any]]) -> None:
    """Recompute 余额 (never trust cached values) and report formulas typed over."""
    rb = f.formula["running_balance"]
    plus, minus = rb["plus"], rb["minus"]
    if plus not in table.columns or minus not in table.columns:
        return
    opening_key = rb["opening"].split(".", 1)[1]
    opening_raw = data.info_raw.get(opening_key)
    opening_ok = opening_raw is None or is_number(opening_raw)
    opening_parsed = data.info.get(opening_key) or 0.0
    col = table.columns[f.key]
    pc, mc = table.columns[plus], table.columns[minus]
    with_formula: FormulaLookup | None | bool = False  # made at the first mismatch (rare: most files have none)
    sheet_total = sum_value(opening_raw)
    true_total = float(opening_parsed)
    key = f.key
    for rec in table.records:
        line = rec._line  # the raw cells, without a raw_of call each ("" is an empty cell)
        width = len(line)
        raw_plus = line[pc] if pc < width else ""
        raw_minus = line[mc] if mc < width else ""
        tp, tm = type(raw_plus), type(raw_minus)
        # sum_value of each, inline: the one loop over every ledger row of a district.
        sheet_total += (raw_plus if tp is float or tp is int else 0.0) - (raw_minus if tm is float or tm is int else 0.0)
        values = rec.values
        true_total += (values.get(plus) or 0.0) - (values.get(minus) or 0.0)
        values[key] = round(true_total, 2)
        if not opening_ok or is_blank(raw_plus) and is_blank(raw_minus):
            continue
        cached = line[col] if col < width else None
        if type(cached) is float and abs(cached - sheet_total) <= 0.005:
            continue  # the usual row: the stored balance is the computed one
        cached = None if cached == "" else cached
        cached_num = cached if is_number(cached) else None
        if cached_num is None or abs(cached_num - sheet_total) > 0.005:
            if with_formula is False:
                xml = data.sheet_xml.get(table.sheet_name or "") if data.sheet_xml is not None else None
                with_formula = FormulaLookup(xml, col) if xml is not None else None
            if with_formula is not None and rec.row in with_formula:  # type: ignore[operator]
                continue  # a live formula: its cached value may simply be stale
            label = f.label
            data.add("formula_overwritten",
                     f"{label['zh']}应为公式计算的 {sheet_total:,.2f}，但单元格里是固定值“{show(cached) if cached is not None else '空白'}”：公式被改掉了，请恢复公式。",
                     f"{label['en']} should be the computed {sheet_total:,.2f}, but the cell holds the constant "
                     f"'{show(cached) if cached is not None else 'blank'}': the formula was typed over.",
                     sheet=table.sheet_name, cell=rec.cells[f.key], row=rec.row, field=f.key,
                     value=show(cached) if cached is not None else None, table=sheet.key)


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

