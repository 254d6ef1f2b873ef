"""What cell values do not tell, read from a sheet's own parts: how far it reaches, which cells hold
error values or formulas into other workbooks, which 余额 cells hold live formulas — for .xlsx from the
sheet XML, for .xls and .ods by walking their records before a reader loads them."""

from __future__ import annotations

import codecs
import html
import io
import re
import struct
import zipfile
from pathlib import Path
from typing import Any

from ..layout.geometry import col_letter
from .cells import (
    CellError,
    ExternalFormula,
)
from .package import (
    XML_ERRORS,
    ZIP_ERRORS,
    column_index,
    iterparse_xml,
    read_part,
)

# calamine allocates every cell of a sheet's used area at once (a single value in
# XFD1048576 asks for 512 GB and aborts the process), so the area is measured first.
MAX_AREA = 6_000_000


class SheetTooLarge(Exception):
    """A sheet whose used area is too large to load (a value typed far outside the table)."""

    def __init__(self, name: str, extent: tuple[int, int]) -> None:
        super().__init__(name)
        self.name, self.extent = name, extent


_REF_RE = re.compile(rb"<(?:\w+:)?c\s[^>]*?\br=\"([A-Z]{1,3})(\d{1,7})\"")


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
            self._cache[name] = read_part(self._zf, part) if part else None
        return self._cache[name]

    def extent(self, name: str) -> tuple[int, int] | None:
        """(last row, last column) of a sheet that reaches far; None for the near ones (nearly all)."""
        xml = self.get(name)
        if xml is None or not _MAYBE_FAR.search(xml) or not _FAR_REF.search(xml):
            return None
        max_row = max_col = 0
        for m in _REF_RE.finditer(xml):
            max_col = max(max_col, column_index(m.group(1)) + 1)
            max_row = max(max_row, int(m.group(2)))
        return (max_row, max_col)

    def marks(self, name: str) -> dict[tuple[int, int], str]:
        """(0-based row, column) → what calamine reads as blank but is not: error values and external formulas.

        Two one-byte looks (the fastest search there is) decide whether a sheet needs reading at all: a ``#``
        (every error value's text starts with one) and a ``[`` (a reference to another workbook). Nearly every
        sheet has neither; a template's own have none.
        """
        xml = self.get(name)
        if xml is None:
            return {}
        out: dict[tuple[int, int], str] = {}
        if b"#" in xml and _ERROR_TYPE.search(xml):
            out.update(error_cells(xml))
        if b"[" in xml and _bracket_in_formula(xml):
            for where, text in external_formulas(xml).items():
                out.setdefault(where, text)
        return out

    def formula_lookup(self, name: str, column: int) -> FormulaLookup | None:
        """Which rows of ``column`` (0-based) hold a formula, or None when the sheet's XML is not to be had."""
        xml = self.get(name)
        return FormulaLookup(xml, column) if xml is not None else None

    def close(self) -> None:
        self._cache.clear()
        self._zf.close()


_CELL_REF = re.compile(rb'(?:^|\s)r=["\']([A-Z]{1,3})(\d{1,7})["\']')
_ERROR_CELL = re.compile(rb'<(?:\w+:)?c\s([^>]*?\bt=["\']e["\'][^>]*?)(?<!/)>(.*?)</(?:\w+:)?c>', re.S)
_ERROR_TYPE = re.compile(rb'\st=["\']e["\']')
_VALUE_TEXT = re.compile(rb'<(?:\w+:)?v(?:\s[^>]*)?>([^<]*)</(?:\w+:)?v>')
_FORMULA_CELL = re.compile(rb'<(?:\w+:)?c\s([^>]*?)(?<!/)>\s*<(?:\w+:)?f(\s[^>]*?)?(?:/>|>([^<]*)</(?:\w+:)?f>)(.*?)</(?:\w+:)?c>',
                           re.S)
_SHARED_INDEX = re.compile(rb'\bsi=["\'](\d+)["\']')
# A reference into another workbook: [1]Sheet1!A1 (how Excel stores it, the number naming an externalLink part),
# '[1]My sheet'!A1, 'C:\\x\\[b.xlsx]Sheet1'!A1, [1]!Name. A table's structured references (Table1[Col],
# [@Col], Table1[[#This Row],[Col]]) have a name or a bracket before the "[", or no "!" after the "]".
_EXTERNAL_REF = re.compile(r"(?:'[^']*\[([^\]']+)\][^']*'|(?<![\w\].\[])\[([^\[\]]+)\][^\s!'()\[\],;+\-*/&=<>^]*)!")


def _ref(attrs: bytes) -> tuple[int, int] | None:
    m = _CELL_REF.search(attrs)
    return (int(m.group(2)) - 1, column_index(m.group(1))) if m else None


def _xml_text(raw: bytes) -> str:
    return html.unescape(raw.decode("utf-8", "replace"))


def error_cells(xml: bytes) -> dict[tuple[int, int], CellError]:
    """(0-based row, column) → the error value of every ``t="e"`` cell of a worksheet's XML.

    python-calamine returns such cells as empty strings; here they become :class:`CellError` values, which the
    field parsers report as ``error_value``. A cell marked as an error but without its text is shown as #N/A.
    """
    out: dict[tuple[int, int], CellError] = {}
    for m in _ERROR_CELL.finditer(xml):
        where = _ref(m.group(1))
        if where is None:
            continue
        v = _VALUE_TEXT.search(m.group(2))
        out[where] = CellError((_xml_text(v.group(1)).strip() if v else "") or "#N/A")
    return out


def _bracket_in_formula(xml: bytes) -> bool:
    """Whether some ``[`` stands inside a formula element: the cheap test before :func:`external_formulas`."""
    at = xml.find(b"[")
    while at >= 0:
        lt = xml.rfind(b"<", 0, at)
        tag = xml[lt + 1:lt + 12]
        if tag[:1] == b"f" and tag[1:2] in (b" ", b">", b"\t", b"\r", b"\n") or re.match(rb"\w+:f[\s>]", tag):
            return True
        at = xml.find(b"[", at + 1)
    return False


def is_external_formula(text: str) -> bool:
    """Whether a formula refers to a cell or name of another workbook (``[0]`` is the workbook itself)."""
    return any((m.group(1) or m.group(2)) != "0" for m in _EXTERNAL_REF.finditer(text))


def external_formulas(xml: bytes) -> dict[tuple[int, int], ExternalFormula]:
    """(0-based row, column) → formula text, for formulas into another workbook that have no saved result.

    Such a cell has nothing for calamine to read; the formula text is what a clerk can recognise. A shared
    formula's other cells carry only its index: they are external when the formula that defines it is.
    """
    found: dict[tuple[int, int], ExternalFormula] = {}
    shared: dict[bytes, str] = {}
    followers: list[tuple[tuple[int, int], bytes, bool]] = []
    for m in _FORMULA_CELL.finditer(xml):
        attrs, f_attrs, f_text, rest = m.group(1), m.group(2) or b"", m.group(3), m.group(4)
        where = _ref(attrs)
        if where is None:
            continue
        v = _VALUE_TEXT.search(rest)
        # A saved result, even an empty one of a text formula, is what calamine reads: nothing to add then.
        no_result = v is None or (not v.group(1) and not re.search(rb'\bt=["\']str["\']', attrs))
        si = _SHARED_INDEX.search(f_attrs)
        if f_text is None:
            if si is not None:
                followers.append((where, si.group(1), no_result))
            continue
        text = _xml_text(f_text)
        if "[" not in text or not is_external_formula(text):
            continue
        if si is not None:
            shared[si.group(1)] = text
        if no_result:
            found[where] = ExternalFormula(text)
    for where, index, no_result in followers:
        if no_result and index in shared:
            found[where] = ExternalFormula(shared[index])
    return found


# --------------------------------------------------------------------------- .xls and .ods, before calamine


class _Rows:
    """The 1-based rows of one column that hold a formula, as :class:`FormulaLookup` answers for an xlsx."""

    def __init__(self, rows: set[int]) -> None:
        self.rows = rows

    def __contains__(self, row: int) -> bool:
        return row in self.rows

    def last(self) -> int:
        return max(self.rows, default=0)


class CellScan:
    """What an .xls or .ods file holds beyond calamine's values, found by one walk through it.

    calamine reads every sheet of these formats as soon as it opens the file, allocating each sheet's whole
    used area (one value in IV65536 of an .xls takes 1.3 GB), so each sheet's reach is measured first and the
    file refused (:class:`SheetTooLarge`) before calamine sees it. The same walk notes the cells holding an
    error value, which calamine returns as blank, and the cells holding a formula (for the 余额 check).
    """

    def __init__(self) -> None:
        self.extents: dict[str, tuple[int, int]] = {}
        self.errors: dict[str, dict[tuple[int, int], CellError]] = {}
        self.formulas: dict[str, set[tuple[int, int]]] = {}

    def add(self, name: str, extent: tuple[int, int], errors: dict[tuple[int, int], CellError],
            formulas: set[tuple[int, int]]) -> None:
        self.extents[name] = extent
        self.errors[name] = errors
        self.formulas[name] = formulas

    def too_large(self) -> SheetTooLarge | None:
        """The first sheet whose used area is over :data:`MAX_AREA`, as the exception to report, or None."""
        for name, (rows, cols) in self.extents.items():
            if rows * cols > MAX_AREA:
                return SheetTooLarge(name, (rows, cols))
        return None

    def extent(self, name: str) -> tuple[int, int] | None:
        return self.extents.get(name)

    def marks(self, name: str) -> dict[tuple[int, int], str]:
        return dict(self.errors.get(name, {}))

    def formula_lookup(self, name: str, column: int) -> _Rows | None:
        cells = self.formulas.get(name)
        return None if cells is None else _Rows({r + 1 for r, c in cells if c == column})

    def close(self) -> None:
        self.errors.clear()
        self.formulas.clear()


# BIFF error codes (BOOLERR and FORMULA records) and the records that put a value in a cell: NUMBER, RK,
# LABELSST, LABEL, RSTRING, BOOLERR, FORMULA (each starts with row, column), and MULRK (a run of RK values).
_BIFF_ERRORS = {0x00: "#NULL!", 0x07: "#DIV/0!", 0x0F: "#VALUE!", 0x17: "#REF!", 0x1D: "#NAME?", 0x24: "#NUM!",
                0x2A: "#N/A", 0x2B: "#GETTING_DATA"}
_BIFF_CELLS = frozenset({0x0203, 0x027E, 0x00FD, 0x0204, 0x00D6, 0x0205, 0x0006})
_BIFF_MULRK = 0x00BD
_BIFF_BOF, _BIFF_EOF = 0x0809, 0x000A
_MARK_CAP = 100_000  # error and formula cells noted per sheet; a sheet with more is refused as too large anyway


def scan_xls(content: bytes) -> CellScan | None:
    """Walk an .xls (BIFF5/BIFF8) workbook stream: each sheet's reach, error cells and formula cells.

    None when the stream cannot be walked (not a compound file, encrypted, damaged): calamine then decides.
    """
    from .sniff import ole_stream

    stream = ole_stream(content)
    if stream is None or len(stream) < 8:
        return None
    unpack = struct.unpack_from
    try:
        rtype, _, version = unpack("<HHH", stream, 0)
        if rtype != _BIFF_BOF:
            return None
        biff8 = version == 0x0600
        sheets: list[tuple[str, int]] = []
        codec = "cp1252"
        pos, end = 0, len(stream)
        while pos + 4 <= end:
            rtype, size = unpack("<HH", stream, pos)
            body = pos + 4
            pos = body + size
            if rtype == _BIFF_EOF:
                break
            if rtype == 0x002F:  # FILEPASS: what follows is encrypted
                return None
            if rtype == 0x0042 and size >= 2:  # CODEPAGE, for BIFF5 sheet names
                codec = _codec(unpack("<H", stream, body)[0])
            elif rtype == 0x0085 and size >= 8:  # BOUNDSHEET: where a sheet starts, and its name
                offset, cch = unpack("<I", stream, body)[0], stream[body + 6]
                if biff8:
                    wide = stream[body + 7] & 1
                    raw = stream[body + 8: body + 8 + cch * (2 if wide else 1)]
                    name = raw.decode("utf-16-le" if wide else "latin-1", "replace")
                else:
                    name = stream[body + 7: body + 7 + cch].decode(codec, "replace")
                sheets.append((name, offset))
        scan = CellScan()
        for name, offset in sheets:
            scan.add(name, *_walk_biff_sheet(stream, offset))
        return scan
    except (struct.error, IndexError):
        return None


def _codec(codepage: int) -> str:
    """The Python codec of a BIFF CODEPAGE value (cp1252 when unknown)."""
    name = {1200: "utf-16-le", 367: "ascii", 10000: "mac_roman", 32768: "mac_roman"}.get(codepage, f"cp{codepage}")
    try:
        codecs.lookup(name)
    except LookupError:
        return "cp1252"
    return name


def _walk_biff_sheet(stream: bytes, offset: int) -> tuple[tuple[int, int], dict[tuple[int, int], CellError], set[tuple[int, int]]]:
    """(rows, columns) reached, error cells and formula cells of the sheet substream at ``offset``."""
    unpack = struct.unpack_from
    errors: dict[tuple[int, int], CellError] = {}
    formulas: set[tuple[int, int]] = set()
    last_row = last_col = -1
    depth, pos, end = 0, offset, len(stream)
    cells, mulrk = _BIFF_CELLS, _BIFF_MULRK
    while pos + 4 <= end:
        rtype, size = unpack("<HH", stream, pos)
        body = pos + 4
        pos = body + size
        if rtype in cells:
            if depth != 1 or size < 4:
                continue
            r, c = unpack("<HH", stream, body)
            if r > last_row:
                last_row = r
            if c > last_col:
                last_col = c
            if rtype == 0x0006:  # FORMULA: an error result has 0xFFFF in the last two bytes of its value, type 2
                if len(formulas) < _MARK_CAP:
                    formulas.add((r, c))
                if size >= 14 and stream[body + 12: body + 14] == b"\xff\xff" and stream[body + 6] == 2 \
                        and len(errors) < _MARK_CAP:
                    errors[(r, c)] = CellError(_BIFF_ERRORS.get(stream[body + 8], "#N/A"))
            elif rtype == 0x0205 and size >= 8 and stream[body + 7] == 1 and len(errors) < _MARK_CAP:  # BOOLERR: an error
                errors[(r, c)] = CellError(_BIFF_ERRORS.get(stream[body + 6], "#N/A"))
        elif rtype == mulrk:
            if depth == 1 and size >= 6:
                r = unpack("<H", stream, body)[0]
                c = unpack("<H", stream, body + size - 2)[0]
                last_row, last_col = max(last_row, r), max(last_col, c)
        elif rtype == _BIFF_BOF:
            depth += 1  # a chart inside the sheet has its own BOF … EOF
        elif rtype == _BIFF_EOF:
            depth -= 1
            if depth <= 0:
                break
    return (last_row + 1, last_col + 1), errors, formulas


_ODS_TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
_ODS_OFFICE = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"
_ODS_TEXT_P = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}p"
_ODS_CALCEXT_TYPE = "{urn:org:documentfoundation:names:experimental:calc:xmlns:calcext:1.0}value-type"


def scan_ods(source: bytes | Path) -> CellScan | None:
    """Walk an .ods file's content.xml: each sheet's reach, error cells and formula cells.

    LibreOffice stores a formula's error result as ``calcext:value-type="error"`` with an empty string value
    (which calamine reads as blank) and the error's text in the cell's paragraph. None when there is no
    content to walk; calamine then decides.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source) as zf, zf.open("content.xml") as fh:
            return _walk_ods(fh)
    except (*ZIP_ERRORS, *XML_ERRORS):
        return None


def _walk_ods(fh: Any) -> CellScan:
    T, vtype, rep_rows, rep_cols = _ODS_TABLE, _ODS_OFFICE + "value-type", _ODS_TABLE + "number-rows-repeated", _ODS_TABLE + "number-columns-repeated"
    table, row_tag, cell_tags = T + "table", T + "table-row", (T + "table-cell", T + "covered-table-cell")
    formula_attr = T + "formula"
    scan = CellScan()
    depth = 0
    name = ""
    row = col = row_span = 0
    last_row = last_col = 0
    row_used = False
    errors: dict[tuple[int, int], CellError] = {}
    formulas: set[tuple[int, int]] = set()
    for event, elem in iterparse_xml(fh, ("start", "end")):
        tag = elem.tag
        if event == "start":
            if tag == table:
                depth += 1
                if depth == 1:
                    name, row, last_row, last_col, errors, formulas = elem.get(T + "name", ""), 0, 0, 0, {}, set()
            elif tag == row_tag and depth == 1:
                row_span, col, row_used = int(elem.get(rep_rows, "1")), 0, False
            continue
        if tag in cell_tags and depth == 1:
            span = int(elem.get(rep_cols, "1"))
            used = elem.get(vtype) is not None or any(p.text or len(p) for p in elem.findall(_ODS_TEXT_P))
            if used:
                row_used = True
                last_col = max(last_col, col + span)
                if span * row_span <= _MARK_CAP:  # a larger block is refused as too large anyway
                    spots = [(row + k, col + j) for k in range(row_span) for j in range(span)]
                    if elem.get(_ODS_CALCEXT_TYPE) == "error":
                        text = "".join("".join(p.itertext()) for p in elem.findall(_ODS_TEXT_P)).strip() or "#N/A"
                        errors.update(dict.fromkeys(spots, CellError(text)))
                    if elem.get(formula_attr) is not None and len(formulas) < _MARK_CAP:
                        formulas.update(spots)
            col += span
            elem.clear()
        elif tag == row_tag and depth == 1:
            if row_used:
                last_row = max(last_row, row + row_span)
            row += row_span
            elem.clear()
        elif tag == table:
            if depth == 1:
                scan.add(name, (last_row, last_col), errors, formulas)
            depth -= 1
            elem.clear()
    return scan


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

    def last(self) -> int:
        """The last 1-based row of the column that holds a formula (0 when none does)."""
        if self.all is None:
            self.all = formula_cells(self.xml, self.column)
        return max(self.all, default=0)  # type: ignore[arg-type]

    def _find(self, needle: bytes, start: int) -> int:
        xml = self.xml
        while True:
            at = xml.find(needle, start)
            if at <= 0 or xml[at - 1] in _ATTR_SEP:
                return at if at > 0 else -1
            start = at + 1
