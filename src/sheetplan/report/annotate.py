"""Return a school's own workbook with its problems marked (`check --annotate`).

The school's file is never loaded and re-saved by a spreadsheet library
(openpyxl drops validation extensions and more): this module edits the zip
directly. Every part it does not need to touch is copied byte for byte;
the parts it touches are edited as text, so namespace prefixes and
``mc:Ignorable`` declarations stay exactly as the application wrote them.

What it adds: a fill on each problem cell, a comment beginning with
``sheetplan：``, a 问题清单 sheet linking to the cells, and a custom
document property remembering all of it, so that annotating again first
removes the old marks.

The 问题清单 is the first tab and the one the copy opens on (the
workbook's ``activeTab``, and the only sheet with ``tabSelected``). It has
a title line like every sheet of the template (``<单位名称> <年度>年度
问题清单``), the meaning of each problem code in words beside the code,
and prints on A4 landscape one page wide with its title and header on
every page. Inserting it in front moves every other sheet one place on,
so the sheet-local defined names (print areas, print titles), which
count sheets by position, are renumbered with them — and back when the
list is removed again.

A problem on a cell inside a merged range is marked on the range's first
cell, the only one a spreadsheet shows.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
import zipfile
from collections import defaultdict
from collections.abc import Mapping, Sequence
from html import escape, unescape
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..files import atomic_output, display_path
from ..layout import Layout
from ..layout.geometry import PROPERTY_PREFIX, a1
from ..problems import CATALOGUE, SEVERITIES, SEVERITY_ORDER, SEVERITY_WORDS, Problem
from ..reading.package import (
    WORKBOOK_PART,
    XML_ERRORS,
    ZIP_ERRORS,
    cell_index,
    column_index,
    open_zip,
    parse_xml,
    relationships,
    rels_part,
    resolve_target,
    sheet_targets,
)

PROBLEM_SHEET = {"zh": "问题清单", "en": "Problems"}
COMMENT_MARK = "sheetplan："
ANNOTATIONS_PROPERTY = "sheetplan.annotations"
PIECE = 240  # characters per property piece; Excel keeps at most 255
# Light red, yellow and green: none of them is a fill the template itself uses (its headers are light blue).
FILLS = {"error": "FFFFC7CE", "warning": "FFFFEB9C", "info": "FFE2EFDA"}
REL_COMMENTS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/comments"
REL_VML = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/vmlDrawing"
REL_SHEET = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet"
REL_CUSTOM = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/custom-properties"
CT_COMMENTS = "application/vnd.openxmlformats-officedocument.spreadsheetml.comments+xml"
CT_VML = "application/vnd.openxmlformats-officedocument.vmlDrawing"
CT_SHEET = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
CT_CUSTOM = "application/vnd.openxmlformats-officedocument.custom-properties+xml"
_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# CT_Worksheet: legacyDrawing must come before these elements.
_AFTER_LEGACY = ("legacyDrawingHF", "drawingHF", "picture", "oleObjects", "controls", "webPublishItems", "tableParts", "extLst")


def _xml_escape(text: Any) -> str:
    """Text safe inside XML (escaped, characters illegal in XML 1.0 removed)."""
    return escape(_ILLEGAL_XML.sub("", str(text)), quote=True)


class _EditablePackage:
    """The zip's parts as text/bytes, edited in place, written back in the original order."""

    def __init__(self, src: Path) -> None:
        try:
            with open_zip(src) as zf:
                self.order = [i.filename for i in zf.infolist()]
                self.parts: dict[str, bytes] = {n: zf.read(n) for n in self.order}
        except ZIP_ERRORS as exc:  # every one of them means a damaged file
            raise UsageError(f"无法标注 {src.name}：它不是可读的 .xlsx 文件。", f"Cannot annotate {src.name}: not a readable .xlsx file.") from exc
        if WORKBOOK_PART not in self.parts:
            raise UsageError(f"无法标注 {src.name}：它不是 .xlsx 工作簿。", f"Cannot annotate {src.name}: not an .xlsx workbook.")

    def text(self, name: str) -> str:
        return self.parts[name].decode("utf-8")

    def put(self, name: str, text: str | bytes) -> None:
        if name not in self.parts:
            self.order.append(name)
        self.parts[name] = text.encode("utf-8") if isinstance(text, str) else text

    def drop(self, name: str) -> None:
        self.parts.pop(name, None)
        if name in self.order:
            self.order.remove(name)

    def write(self, fh: Any) -> None:
        with zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED) as zout:
            for name in self.order:
                zout.writestr(name, self.parts[name])

    # -- relationships
    def rels(self, part: str) -> list[dict[str, str]]:
        """The attributes of each relationship of ``part`` (none when it has no relationships part)."""
        name = rels_part(part)
        return relationships(self.parts[name]) if name in self.parts else []

    def add_rel(self, part: str, rid: str, rtype: str, target: str) -> None:
        name = rels_part(part)
        rel = f'<Relationship Id="{rid}" Type="{rtype}" Target="{_xml_escape(target)}"/>'
        if name in self.parts:
            self.put(name, self.text(name).replace("</Relationships>", rel + "</Relationships>"))
        else:
            self.put(name, '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                           f'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">{rel}</Relationships>')

    def drop_rel(self, part: str, rid: str) -> None:
        name = rels_part(part)
        if name in self.parts:
            self.put(name, re.sub(rf'<Relationship\b[^>]*\bId="{re.escape(rid)}"[^>]*/>', "", self.text(name)))

    def content_type(self, part: str, ctype: str) -> None:
        ct = self.text("[Content_Types].xml")
        if f'PartName="/{part}"' not in ct:
            ct = ct.replace("</Types>", f'<Override PartName="/{part}" ContentType="{ctype}"/></Types>')
        self.put("[Content_Types].xml", ct)

    def default_type(self, ext: str, ctype: str) -> None:
        ct = self.text("[Content_Types].xml")
        if f'Extension="{ext}"' not in ct:
            ct = ct.replace("</Types>", f'<Default Extension="{ext}" ContentType="{ctype}"/></Types>')
        self.put("[Content_Types].xml", ct)

    def sheets(self) -> dict[str, tuple[str, str]]:
        """Sheet name → (part path, relationship id in workbook.xml)."""
        return sheet_targets(self.parts[WORKBOOK_PART], self.parts.get(rels_part(WORKBOOK_PART)))


def _relative_target(part: str, other: str) -> str:
    """A relationship target from ``part``'s folder to ``other`` (both under xl/)."""
    depth = part.count("/") - 1
    return "../" * depth + other[len("xl/"):] if depth else other[len("xl/"):]


# ----------------------------------------------------------------------------- styles


class _Styles:
    def __init__(self, pkg: _EditablePackage) -> None:
        self.pkg = pkg
        self.xml = pkg.text("xl/styles.xml")
        self.fill_ids: dict[str, int] = {}
        self.clones: dict[tuple[int, str], int] = {}
        m = re.search(r"<(\w+:)?cellXfs\b[^>]*>(.*?)</(\w+:)?cellXfs>", self.xml, re.S)
        if not m:
            raise ValueError("styles.xml has no cellXfs")
        self.xfs = re.findall(r"<(?:\w+:)?xf\b[^>]*/>|<(?:\w+:)?xf\b[^>]*>.*?</(?:\w+:)?xf>", m.group(2), re.S)
        self.new_xfs: list[str] = []

    def fill(self, severity: str) -> int:
        if severity not in self.fill_ids:
            m = re.search(r"<((?:\w+:)?)fills\b([^>]*)>(.*?)</(?:\w+:)?fills>", self.xml, re.S)
            if not m:
                raise ValueError("styles.xml has no fills")
            prefix, count = m.group(1), len(re.findall(r"<(?:\w+:)?fill\b", m.group(3)))
            fill = (f'<{prefix}fill><{prefix}patternFill patternType="solid"><{prefix}fgColor rgb="{FILLS[severity]}"/>'
                    f'<{prefix}bgColor indexed="64"/></{prefix}patternFill></{prefix}fill>')
            body = m.group(3) + fill
            attrs = re.sub(r'\bcount="\d+"', f'count="{count + 1}"', m.group(2))
            self.xml = self.xml[:m.start()] + f"<{prefix}fills{attrs}>{body}</{prefix}fills>" + self.xml[m.end():]
            self.fill_ids[severity] = count
        return self.fill_ids[severity]

    def marked(self, style: int, severity: str) -> int:
        key = (style, severity)
        if key not in self.clones:
            base = self.xfs[style] if style < len(self.xfs) else self.xfs[0]
            fid = self.fill(severity)
            xf = re.sub(r'\sfillId="\d+"', "", base, count=1)
            xf = re.sub(r'\sapplyFill="\w+"', "", xf, count=1)
            xf = re.sub(r"^<((?:\w+:)?xf)\b", rf'<\1 fillId="{fid}" applyFill="1"', xf)
            self.new_xfs.append(xf)
            self.clones[key] = len(self.xfs) + len(self.new_xfs) - 1
        return self.clones[key]

    def font(self, bold: bool = False, size: float | None = None, colour: str | None = None, underline: bool = False) -> int:
        """A font like the workbook's default one (its typeface kept) with these changes; an equal font is reused."""
        m = re.search(r"<((?:\w+:)?)fonts\b([^>]*)>(.*?)</(?:\w+:)?fonts>", self.xml, re.S)
        if not m:
            raise ValueError("styles.xml has no fonts")
        prefix, body = m.group(1), m.group(3)
        items = re.findall(r"<(?:\w+:)?font\b[^>]*/>|<(?:\w+:)?font\b[^>]*>.*?</(?:\w+:)?font>", body, re.S)
        first = re.match(r"<(?:\w+:)?font\b[^>]*>(.*)</(?:\w+:)?font>", items[0], re.S) if items else None
        inner = first.group(1) if first else ""
        base_size = re.search(r'<(?:\w+:)?sz\b[^>]*\bval="([\d.]+)"', inner)
        inner = re.sub(r"<(?:\w+:)?(?:b|i|u|strike|sz|color)\b[^>]*/>|<(?:\w+:)?color\b[^>]*>.*?</(?:\w+:)?color>", "", inner, flags=re.S)
        font = (f"<{prefix}font>" + (f'<{prefix}b val="1"/>' if bold else "") + (f'<{prefix}u val="single"/>' if underline else "")
                + f'<{prefix}sz val="{size or (base_size.group(1) if base_size else 11)}"/>'
                + (f'<{prefix}color rgb="{colour}"/>' if colour else "") + inner + f"</{prefix}font>")
        if font in items:
            return items.index(font)
        attrs = re.sub(r'\bcount="\d+"', f'count="{len(items) + 1}"', m.group(2))
        self.xml = self.xml[:m.start()] + f"<{prefix}fonts{attrs}>{body}{font}</{prefix}fonts>" + self.xml[m.end():]
        return len(items)

    def solid_fill(self, rgb: str) -> int:
        """A solid fill of colour ``rgb`` (AARRGGBB); an equal fill is reused."""
        m = re.search(r"<((?:\w+:)?)fills\b([^>]*)>(.*?)</(?:\w+:)?fills>", self.xml, re.S)
        if not m:
            raise ValueError("styles.xml has no fills")
        prefix, body = m.group(1), m.group(3)
        items = re.findall(r"<(?:\w+:)?fill\b[^>]*/>|<(?:\w+:)?fill\b[^>]*>.*?</(?:\w+:)?fill>", body, re.S)
        fill = (f'<{prefix}fill><{prefix}patternFill patternType="solid"><{prefix}fgColor rgb="{rgb}"/>'
                f'<{prefix}bgColor indexed="64"/></{prefix}patternFill></{prefix}fill>')
        if fill in items:
            return items.index(fill)
        attrs = re.sub(r'\bcount="\d+"', f'count="{len(items) + 1}"', m.group(2))
        self.xml = self.xml[:m.start()] + f"<{prefix}fills{attrs}>{body}{fill}</{prefix}fills>" + self.xml[m.end():]
        return len(items)

    def plain(self, font: int = 0, fill: int = 0, wrap: bool = False, vertical: str = "top", horizontal: str | None = None) -> int:
        """A cell format of its own for the problem sheet (General number format, no border); an equal one is reused."""
        prefix = (re.search(r"<(\w+:)?cellXfs\b", self.xml) or re.match("", "")).group(1) or ""  # type: ignore[union-attr]
        align = (f' vertical="{vertical}"' + (f' horizontal="{horizontal}"' if horizontal else "")
                 + (' wrapText="1"' if wrap else ""))
        xf = (f'<{prefix}xf numFmtId="0" fontId="{font}" fillId="{fill}" borderId="0" xfId="0" applyFont="1" applyFill="1" '
              f'applyAlignment="1"><{prefix}alignment{align}/></{prefix}xf>')
        known = self.xfs + self.new_xfs
        if xf in known:
            return known.index(xf)
        self.new_xfs.append(xf)
        return len(known)

    def unfilled(self, style: int) -> int:
        """A copy of ``style`` without a fill (to undo marks after the styles were rewritten)."""
        key = (style, "none")
        if key not in self.clones:
            base = self.xfs[style] if style < len(self.xfs) else self.xfs[0]
            xf = re.sub(r'\sfillId="\d+"', ' fillId="0"', base, count=1)
            self.new_xfs.append(xf)
            self.clones[key] = len(self.xfs) + len(self.new_xfs) - 1
        return self.clones[key]

    def fill_colour(self, style: int) -> str | None:
        if style >= len(self.xfs):
            return None
        m = re.search(r'fillId="(\d+)"', self.xfs[style])
        fills = re.search(r"<(?:\w+:)?fills\b[^>]*>(.*?)</(?:\w+:)?fills>", self.xml, re.S)
        if not m or not fills:
            return None
        items = re.findall(r"<(?:\w+:)?fill\b.*?</(?:\w+:)?fill>|<(?:\w+:)?fill\b[^>]*/>", fills.group(1), re.S)
        i = int(m.group(1))
        c = re.search(r'fgColor rgb="(\w+)"', items[i]) if i < len(items) else None
        return c.group(1).upper() if c else None

    def save(self) -> None:
        if self.new_xfs:
            def grow(m: re.Match[str]) -> str:
                attrs = re.sub(r'\bcount="\d+"', f'count="{len(self.xfs) + len(self.new_xfs)}"', m.group(2))
                return f"<{m.group(1)}cellXfs{attrs}>{m.group(3)}{''.join(self.new_xfs)}</{m.group(1)}cellXfs>"

            self.xml = re.sub(r"<((?:\w+:)?)cellXfs\b([^>]*)>(.*?)</(?:\w+:)?cellXfs>", grow, self.xml, count=1, flags=re.S)
        self.pkg.put("xl/styles.xml", self.xml)


# ----------------------------------------------------------------------------- cells


_CELL_TAG = re.compile(r'<(?:\w+:)?c\b[^>]*?\br="([A-Z]+\d+)"[^>]*?/?>')
_ROW_SPAN = re.compile(r'<((?:\w+:)?)row\b[^>]*?\br="(\d+)"[^>]*?(?:/>|>.*?</(?:\w+:)?row>)', re.S)
_STYLE_ATTR = re.compile(r'\ss="(\d+)"')


def _style_of(tag: str) -> int | None:
    m = _STYLE_ATTR.search(tag)
    return int(m.group(1)) if m else None


def _with_style(tag: str, style: int) -> str:
    if _STYLE_ATTR.search(tag):
        return _STYLE_ATTR.sub(f' s="{style}"', tag, count=1)
    return re.sub(r"^(<(?:\w+:)?c\b)", rf'\1 s="{style}"', tag)


def _col_styles(xml: str) -> list[tuple[int, int, int]]:
    """(first column, last column, style) of each ``<col>`` with a style, 0-based columns."""
    out = []
    for c in re.finditer(r"<(?:\w+:)?col\b[^>]*/>", xml):
        lo, hi, st = (re.search(rf'\b{a}="(\d+)"', c.group(0)) for a in ("min", "max", "style"))
        if lo and hi and st:
            out.append((int(lo.group(1)) - 1, int(hi.group(1)) - 1, int(st.group(1))))
    return out


def _default_style(row_tag: str | None, cols: list[tuple[int, int, int]], col: int) -> int:
    """The style an absent cell shows: its row's, when the row has one, else its column's."""
    if row_tag and re.search(r'customFormat="(1|true)"', row_tag):
        s = _style_of(row_tag)
        if s is not None:
            return s
    return next((st for lo, hi, st in cols if lo <= col <= hi), 0)


def _mark_cells(xml: str, wanted: dict[str, Any], restyle: Any) -> tuple[str, dict[str, tuple[int, bool]]]:
    """Restyle the cells ``wanted`` (ref → key) in one pass over the sheet; absent cells are inserted.

    ``restyle(current style, key)`` gives the new style. Returns the new xml and, per cell, (original style,
    whether the cell was inserted). One regex pass per step, never one search per cell: a school file with
    thousands of problems is annotated in about the time of a few.
    """
    record: dict[str, tuple[int, bool]] = {}

    def existing(m: re.Match[str]) -> str:
        ref = m.group(1)
        if ref not in wanted or ref in record:
            return m.group(0)
        orig = _style_of(m.group(0)) or 0
        record[ref] = (orig, False)
        return _with_style(m.group(0), restyle(orig, wanted[ref]))

    sd = re.search(r"<((?:\w+:)?)sheetData\b[^>]*?(/?)>", xml)
    if not sd:
        raise ValueError("worksheet has no sheetData")
    prefix = sd.group(1)
    if sd.group(2):  # <sheetData/>
        xml = xml[:sd.start()] + f"<{prefix}sheetData></{prefix}sheetData>" + xml[sd.end():]
    xml = _CELL_TAG.sub(existing, xml)
    missing: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for ref in wanted:
        if ref not in record:
            row, col = cell_index(ref)
            missing[row + 1].append((col, ref))
    if not missing:
        return xml, record
    cols = _col_styles(xml)

    def new_cell(ref: str, col: int, row_tag: str | None) -> str:
        orig = _default_style(row_tag, cols, col)
        record[ref] = (orig, True)
        return f'<{prefix}c r="{ref}" s="{restyle(orig, wanted[ref])}"/>'

    def in_row(m: re.Match[str]) -> str:
        number = int(m.group(2))
        if number not in missing:
            return m.group(0)
        span = m.group(0)
        row_tag = re.match(r"<[^>]*>", span).group(0)  # type: ignore[union-attr]
        todo = sorted(missing.pop(number))
        if span.endswith("/>") and row_tag == span:
            return span[:-2] + ">" + "".join(new_cell(ref, col, row_tag) for col, ref in todo) + f"</{prefix}row>"
        pieces, last = [], len(row_tag)
        cells = [(cm.start(), column_index(cm.group(1))) for cm in re.finditer(r'<(?:\w+:)?c\b[^>]*?\br="([A-Z]+)\d+"', span)]
        close = span.rfind("</")
        for col, ref in todo:
            at = next((pos for pos, c in cells if c > col and pos >= last), close)
            pieces.append(span[last:at] + new_cell(ref, col, row_tag))
            last = at
        return span[:len(row_tag)] + "".join(pieces) + span[last:]

    xml = _ROW_SPAN.sub(in_row, xml)
    if missing:  # rows that do not exist yet, inserted in order among the existing ones
        body_start = xml.index(">", re.search(r"<(?:\w+:)?sheetData\b", xml).start()) + 1  # type: ignore[union-attr]
        body_end = re.search(r"</(?:\w+:)?sheetData>", xml).start()  # type: ignore[union-attr]
        starts = [(int(r.group(1)), r.start()) for r in re.finditer(r'<(?:\w+:)?row\b[^>]*?\br="(\d+)"', xml[body_start:body_end])]
        out, last = [], 0
        body = xml[body_start:body_end]
        for number in sorted(missing):
            at = next((pos for n, pos in starts if n > number), len(body))
            cells_xml = "".join(new_cell(ref, col, None) for col, ref in sorted(missing[number]))
            out.append(body[last:at] + f'<{prefix}row r="{number}">{cells_xml}</{prefix}row>')
            last = at
        xml = xml[:body_start] + "".join(out) + body[last:] + xml[body_end:]
    return xml, record


def _restore_cells(xml: str, record: dict[str, tuple[int, bool]], styles: _Styles, same_styles: bool) -> str:
    """Undo :func:`_mark_cells` in one pass: the recorded style back, or (after the styles were rewritten by an
    application) the mark's fill taken off; a cell that was inserted only to carry the mark is removed."""
    marks = set(FILLS.values())

    def undo(m: re.Match[str]) -> str:
        ref = m.group(1)
        if ref not in record:
            return m.group(0)
        orig, inserted = record[ref]
        tag = m.group(0)
        if same_styles:
            if inserted and tag.endswith("/>") and not re.search(r"\st=", tag):
                return ""
            return _with_style(tag, orig) if _style_of(tag) is not None else tag
        current = _style_of(tag) or 0
        return _with_style(tag, styles.unfilled(current)) if styles.fill_colour(current) in marks else tag

    return _CELL_TAG.sub(undo, xml)


# ----------------------------------------------------------------------------- comments

NS_VML = {"v": "urn:schemas-microsoft-com:vml", "o": "urn:schemas-microsoft-com:office:office",
          "x": "urn:schemas-microsoft-com:office:excel"}
VML_EMPTY = ('<xml xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office" '
             'xmlns:x="urn:schemas-microsoft-com:office:excel"><o:shapelayout v:ext="edit"><o:idmap v:ext="edit" data="1"/>'
             '</o:shapelayout></xml>')
NOTE_SHAPETYPE = ('<{v}shapetype id="_x0000_t202" coordsize="21600,21600" {o}spt="202" path="m,l,21600r21600,l21600,xe">'
                  '<{v}stroke joinstyle="miter"/><{v}path gradientshapeok="t" {o}connecttype="rect"/></{v}shapetype>')
# Each note's shape is tagged so that annotating again removes exactly ours (Excel and LibreOffice renumber ids).
SHAPE_TAG = "sheetplan-note"


def _vml_prefixes(vtext: str) -> tuple[str, dict[str, str]]:
    """(vml with every namespace declared, {"v": "v:", …}) using the prefixes the file already binds."""
    found = {}
    for key, uri in NS_VML.items():
        m = re.search(rf'xmlns:(\w+)="{re.escape(uri)}"', vtext)
        if m:
            found[key] = m.group(1) + ":"
        else:
            name = key
            while f"xmlns:{name}=" in vtext:
                name += "_"
            vtext = re.sub(r"^(\s*(?:<\?xml[^>]*\?>\s*)?<xml\b)", rf'\1 xmlns:{name}="{uri}"', vtext, count=1)
            found[key] = name + ":"
    return vtext, found


def _vml_shape(n: int, row: int, col: int, ns: dict[str, str]) -> str:
    v, o, x = ns["v"], ns["o"], ns["x"]
    return (f'<{v}shape id="_x0000_s{7000 + n}" alt="{SHAPE_TAG}" type="#_x0000_t202" style="position:absolute;margin-left:60pt;'
            f'margin-top:2pt;width:220pt;height:90pt;z-index:{n + 1};visibility:hidden" fillcolor="#ffffe1" {o}insetmode="auto">'
            f'<{v}fill color2="#ffffe1"/><{v}shadow on="t" color="black" obscured="t"/><{v}path {o}connecttype="none"/>'
            f'<{v}textbox style="mso-direction-alt:auto"><div style="text-align:left"></div></{v}textbox>'
            f'<{x}ClientData ObjectType="Note"><{x}MoveWithCells/><{x}SizeWithCells/>'
            f"<{x}Anchor>{col + 1}, 15, {row}, 10, {col + 4}, 15, {row + 5}, 4</{x}Anchor><{x}AutoFill>False</{x}AutoFill>"
            f"<{x}Row>{row}</{x}Row><{x}Column>{col}</{x}Column></{x}ClientData></{v}shape>")


def _comment(ref: str, author: int, text: str) -> str:
    return (f'<comment ref="{ref}" authorId="{author}"><text><r><t xml:space="preserve">{_xml_escape(text)}</t></r></text></comment>')


def _free_name(pkg: _EditablePackage, pattern: str) -> str:
    """The first name ``pattern`` gives (``xl/comments{}.xml`` → xl/comments1.xml, 2 …) that no part has."""
    n = 1
    while pattern.format(n) in pkg.parts:
        n += 1
    return pattern.format(n)


def _sheet_comments(pkg: _EditablePackage, part: str) -> tuple[str | None, str | None]:
    """The comments part and VML part of a sheet, when it has them."""
    comments = vml = None
    folder = part.rpartition("/")[0]
    for r in pkg.rels(part):
        path = resolve_target(folder, r["Target"])
        if r["Type"] == REL_COMMENTS:
            comments = path
        elif r["Type"] == REL_VML:
            vml = path
    return comments, vml


def _add_comments(pkg: _EditablePackage, part: str, notes: dict[str, str]) -> list[str]:
    """Add notes (cell → text) to a sheet; cells the school already commented are skipped. Returns the cells noted."""
    comments, vml = _sheet_comments(pkg, part)
    if comments and comments in pkg.parts:
        cxml = pkg.text(comments)
        taken = set(re.findall(r'<(?:\w+:)?comment\b[^>]*\bref="([A-Z]+\d+)"', cxml))
        notes = {k: v for k, v in notes.items() if k not in taken}
        authors = re.findall(r"<(?:\w+:)?author>(.*?)</(?:\w+:)?author>", cxml, re.S)
        if "sheetplan" in authors:
            author = authors.index("sheetplan")
        else:
            author = len(authors)
            if re.search(r"</(?:\w+:)?authors>", cxml):
                cxml = re.sub(r"</((?:\w+:)?)authors>", r"<\1author>sheetplan</\1author></\1authors>", cxml, count=1)
            else:
                cxml = re.sub(r"<((?:\w+:)?)authors\s*/>", r"<\1authors><\1author>sheetplan</\1author></\1authors>", cxml, count=1)
        prefix = (re.search(r"<(\w+:)?commentList\b", cxml) or re.match("", "")).group(1) or ""  # type: ignore[union-attr]
        body = "".join(_comment(ref, author, text) for ref, text in notes.items())
        if prefix:
            body = re.sub(r"<(/?)(comment|text|r|t)\b", rf"<\1{prefix}\2", body)
        if re.search(r"<(?:\w+:)?commentList\s*/>", cxml):
            cxml = re.sub(r"<((?:\w+:)?)commentList\s*/>", lambda m: f"<{m.group(1)}commentList>{body}</{m.group(1)}commentList>",
                          cxml, count=1)
        else:
            cxml = re.sub(r"</((?:\w+:)?)commentList>", lambda m: body + m.group(0), cxml, count=1)
        pkg.put(comments, cxml)
    else:
        comments = _free_name(pkg, "xl/comments{}.xml")
        body = "".join(_comment(ref, 0, text) for ref, text in notes.items())
        pkg.put(comments, '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                          '<comments xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                          f"<authors><author>sheetplan</author></authors><commentList>{body}</commentList></comments>")
        pkg.content_type(comments, CT_COMMENTS)
        pkg.add_rel(part, "rIdSpComments", REL_COMMENTS, _relative_target(part, comments))
    if vml is None or vml not in pkg.parts:
        vml = _free_name(pkg, "xl/drawings/vmlDrawing{}.vml")
        pkg.put(vml, VML_EMPTY)
        pkg.default_type("vml", CT_VML)
        pkg.add_rel(part, "rIdSpVml", REL_VML, _relative_target(part, vml))
        _add_legacy_drawing(pkg, part, "rIdSpVml")
    vtext, ns = _vml_prefixes(pkg.text(vml))
    if "_x0000_t202" not in vtext:
        vtext = _before_close(vtext, NOTE_SHAPETYPE.format(**ns))
    shapes = "".join(_vml_shape(i, *cell_index(ref), ns) for i, ref in enumerate(notes))
    pkg.put(vml, _before_close(vtext, shapes))
    return list(notes)


def _before_close(vtext: str, insert: str) -> str:
    end = vtext.rfind("</")
    if end < 0:
        raise ValueError("VML drawing has no closing tag")
    return vtext[:end] + insert + vtext[end:]


def _top_level_tags(xml: str) -> list[tuple[str, int, int]]:
    """(local name, start, end) of each direct child of the root element, in order."""
    out, depth = [], 0
    for m in re.finditer(r"<(/?)(?:\w+:)?(\w+)\b[^>]*?(/?)>|<!--.*?-->|<\?.*?\?>|<!\[CDATA\[.*?\]\]>", xml, re.S):
        if m.group(2) is None:
            continue
        if m.group(1):
            depth -= 1
            continue
        if depth == 1:
            out.append((m.group(2), m.start(), m.end()))
        if not m.group(3):
            depth += 1
    return out


def _add_legacy_drawing(pkg: _EditablePackage, part: str, rid: str) -> None:
    """Point the sheet at its VML drawing: ``<legacyDrawing>`` among the worksheet's own children, in schema order."""
    xml = pkg.text(part)
    root = re.match(r"(?s)(<\?xml[^>]*>\s*)?<((?:\w+:)?)worksheet\b[^>]*>", xml)
    if not root:
        raise ValueError("not a worksheet")
    prefix = root.group(2)
    rel_ns = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    m = re.search(rf'xmlns:(\w+)="{re.escape(rel_ns)}"', root.group(0))
    if m:
        rp = m.group(1)
    else:
        rp = "r"
        while f"xmlns:{rp}=" in root.group(0):
            rp += "_"
        head = root.group(0)[:-1] + f' xmlns:{rp}="{rel_ns}">'
        xml = head + xml[root.end():]
    tag = f'<{prefix}legacyDrawing {rp}:id="{rid}"/>'
    children = _top_level_tags(xml)
    old = next(((s, e) for name, s, e in children if name == "legacyDrawing"), None)
    if old:  # one that points to a part the file no longer has
        pkg.put(part, xml[:old[0]] + tag + xml[old[1]:])
        return
    at = next((s for name, s, _ in children if name in _AFTER_LEGACY), xml.rfind("</"))
    pkg.put(part, xml[:at] + tag + xml[at:])


def _remove_comments(pkg: _EditablePackage, part: str, cells: list[str]) -> None:
    """Remove our notes from ``cells``; a school's own comment there (never replaced by ours) stays."""
    comments, vml = _sheet_comments(pkg, part)
    wanted = set(cells)
    removed: set[tuple[int, int]] = set()
    if comments and comments in pkg.parts:
        def drop(m: re.Match[str]) -> str:
            if m.group(2) in wanted and COMMENT_MARK in m.group(0):
                removed.add(cell_index(m.group(2)))
                return ""
            return m.group(0)

        pattern = r'<((?:\w+:)?)comment\b[^>]*?\bref="([A-Z]+\d+)"[^>]*>.*?</\1comment>'
        pkg.put(comments, re.sub(pattern, drop, pkg.text(comments), flags=re.S))
    if vml and vml in pkg.parts:
        def drop_shape(m: re.Match[str]) -> str:
            shape = m.group(0)
            if SHAPE_TAG in shape:
                return ""
            where = re.search(r"<(?:\w+:)?Row>\s*(\d+)\s*</(?:\w+:)?Row>\s*<(?:\w+:)?Column>\s*(\d+)\s*</", shape)
            # LibreOffice drops our tag when it rewrites the drawing: then the shape at a cell whose note was ours goes.
            if where and (int(where.group(1)), int(where.group(2))) in removed:
                return ""
            return shape

        pkg.put(vml, re.sub(r"<((?:\w+:)?)shape\b.*?</\1shape>", drop_shape, pkg.text(vml), flags=re.S))


# ----------------------------------------------------------------------------- problem sheet

# The problem sheet's columns: (zh header, en header, least width, most width, wrapped). Widths are in Excel's
# character units, in which a Chinese character takes two; a text wider than its column's most wraps.
_COLUMNS = (
    ("严重程度", "Severity", 8, 10, False),
    ("问题类型", "Problem", 12, 30, True),
    ("代码", "Code", 8, 24, True),
    ("工作表", "Sheet", 8, 14, True),
    ("单元格", "Cell", 7, 9, False),
    ("字段", "Field", 8, 16, True),
    ("原值", "Value", 8, 24, True),
    ("说明", "Message", 30, 60, True),
)
_CELL_COLUMN = 4  # 0-based: the column whose addresses link to the cells
TITLE_ROWS = 2  # the title line, then the header row: both frozen, both printed on every page
LINE_POINTS = 16  # height of one line of wrapped 11-point text; Chinese glyphs need more than Latin ones
TITLE_POINTS = 24
HEADER_FILL = "FFDDEBF7"  # the template's header colour: a header here reads like a header there
LINK_COLOUR = "FF0563C1"  # the blue Excel gives a link


def _display_width(text: str) -> int:
    """Width of ``text`` in Excel's character units: a Chinese (wide) character counts two."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _lines(text: str, width: float) -> int:
    """How many lines ``text`` takes when wrapped in a column ``width`` units wide."""
    room = max(1.0, width - 1)  # Excel keeps a little padding inside the cell
    return sum(max(1, -(-_display_width(line) // int(room))) for line in text.split("\n"))


def problem_sheet_title(lang: str, org_name: str | None, year: int | str | None, file_name: str) -> str:
    """The title line of the problem sheet: ``<单位名称> <年度>年度 问题清单`` as on every sheet of the template;
    the file's name stands in for a school the file does not name."""
    name = PROBLEM_SHEET[lang]
    who = org_name or file_name
    if year:
        return f"{who} {year} {name}" if lang == "en" else f"{who} {year}年度 {name}"
    return f"{who} {name}"


def _counts_text(problems: Sequence[Problem], lang: str) -> str:
    """``共 6 个错误、1 个提醒、13 条说明`` (en ``6 errors, 1 warning, 13 notes``) for the title line."""
    e, w, i = (sum(1 for p in problems if p.severity == s) for s in SEVERITIES)
    if lang == "en":
        def n(count: int, word: str) -> str:
            return f"{count} {word}" + ("" if count == 1 else "s")

        return f"{n(e, 'error')}, {n(w, 'warning')}, {n(i, 'note')}"
    return f"共 {e} 个错误、{w} 个提醒、{i} 条说明"


def _problem_order(layout: Layout | None) -> Any:
    """The sort key of the problem sheet: most serious first, then the sheets as the workbook has them, then by
    row and column (so B19 comes before F19 and row 9 before row 10)."""
    def key(p: Problem) -> tuple:
        if not p.sheet:
            rank = -1
        else:
            rank = layout.sheet_rank(p.table, p.sheet) if layout is not None else 0
        row, col = (cell_index(p.cell) if p.cell and _REF.match(p.cell) else ((p.row or 0) - 1, -1))
        return (SEVERITY_ORDER.get(p.severity, 9), rank, p.sheet or "", row, col, p.code)

    return key


def _problem_sheet_xml(problems: Sequence[Problem], lang: str, labels: Mapping[tuple[str | None, str], str], *,
                       title: str, styles: Mapping[str, int], anchors: Mapping[tuple[str, str], str],
                       layout: Layout | None = None) -> str:
    """The worksheet listing every problem: a title line, a header, one row per problem linking to its cell.

    Laid out for a clerk: Chinese names of the problem kinds beside the codes, columns as wide as their Chinese
    text needs (long texts wrap, rows as tall as they need), frozen title and header, and printing on A4
    landscape one page wide with the title and header repeated on every page and page numbers in the footer.
    """
    en = lang == "en"
    words = SEVERITY_WORDS[lang]
    rows: list[list[str]] = []
    links: list[tuple[int, str]] = []  # (0-based row, location)
    for p in sorted(problems, key=_problem_order(layout)):
        field = labels.get((p.table, p.field), p.field) if p.field else None
        kind = CATALOGUE[p.code][2 if en else 1] if p.code in CATALOGUE else ""
        value = "" if p.value is None else str(p.value)
        rows.append([words.get(p.severity, p.severity), kind, p.code, p.sheet or "", p.cell or "", field or "", value,
                     p.message(lang)])
        if p.sheet and p.cell:
            target = anchors.get((p.sheet, p.cell), p.cell)
            links.append((TITLE_ROWS + len(rows) - 1, "'" + p.sheet.replace("'", "''") + "'!" + target))
    if not rows:
        rows.append(["", "", "", "", "", "", "", "No problems found." if en else "没有发现问题。"])
    head = [c[1] if en else c[0] for c in _COLUMNS]
    widths = []
    for i, (_, _, least, most, _) in enumerate(_COLUMNS):
        need = max([_display_width(head[i])] + [max((_display_width(x) for x in r[i].split("\n")), default=0) for r in rows]) + 2
        widths.append(min(most, max(least, need)))

    def cell(r: int, c: int, v: str, style: int) -> str:
        if v == "":
            return f'<c r="{a1(r, c)}" s="{style}"/>' if style != styles["plain"] else ""
        return f'<c r="{a1(r, c)}" s="{style}" t="inlineStr"><is><t xml:space="preserve">{_xml_escape(v)}</t></is></c>'

    last_col = len(_COLUMNS) - 1
    out = [f'<row r="1" ht="{TITLE_POINTS}" customHeight="1">' + cell(0, 0, title, styles["title"])
           + cell(0, last_col, _counts_text(problems, lang), styles["counts"]) + "</row>"]
    header_lines = max(_lines(h, w) for h, w in zip(head, widths, strict=True))
    out.append(f'<row r="2" ht="{header_lines * LINE_POINTS + 4}" customHeight="1">'
               + "".join(cell(1, c, h, styles["header"]) for c, h in enumerate(head)) + "</row>")
    linked = dict(links)
    for i, values in enumerate(rows):
        r = TITLE_ROWS + i
        lines = max(_lines(v, widths[c]) if _COLUMNS[c][4] else 1 for c, v in enumerate(values))
        # Every row gets its height: spreadsheets do not grow a row for wrapped text they load, and the default
        # height of a workbook made with a Latin font cuts Chinese glyphs.
        height = f' ht="{lines * LINE_POINTS + 4}" customHeight="1"'
        cells = "".join(cell(r, c, v, styles["link"] if c == _CELL_COLUMN and r in linked else styles["body"])
                        for c, v in enumerate(values))
        out.append(f'<row r="{r + 1}"{height}>{cells}</row>')
    last_row = TITLE_ROWS + len(rows)
    hyperlinks = "".join(f'<hyperlink ref="{a1(r, _CELL_COLUMN)}" location="{_xml_escape(loc)}" '
                         f'display="{_xml_escape(loc.rpartition("!")[2])}"/>' for r, loc in links)
    cols = "".join(f'<col min="{i + 1}" max="{i + 1}" width="{w}" customWidth="1"/>' for i, w in enumerate(widths))
    # "&" starts a code in a header or footer (&P is the page number): a school's own "&" is written "&&"
    footer = "&amp;L" + _xml_escape(title.replace("&", "&&")) + ("&amp;RPage &amp;P of &amp;N" if en else "&amp;R第 &amp;P 页，共 &amp;N 页")
    return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
            '<sheetPr><pageSetUpPr fitToPage="1"/></sheetPr>'
            f'<dimension ref="A1:{a1(last_row - 1, last_col)}"/>'
            # the sheet the copy opens on: selected, with its title and header frozen above the list
            f'<sheetViews><sheetView tabSelected="1" workbookViewId="0"><pane ySplit="{TITLE_ROWS}" topLeftCell="A{TITLE_ROWS + 1}" '
            f'activePane="bottomLeft" state="frozen"/><selection pane="bottomLeft" activeCell="A{TITLE_ROWS + 1}" '
            f'sqref="A{TITLE_ROWS + 1}"/></sheetView></sheetViews>'
            f"<cols>{cols}</cols><sheetData>{''.join(out)}</sheetData>"
            + (f'<autoFilter ref="A{TITLE_ROWS}:{a1(last_row - 1, last_col)}"/>' if problems else "")
            + (f"<hyperlinks>{hyperlinks}</hyperlinks>" if hyperlinks else "")
            + '<printOptions gridLines="1"/>'
            '<pageMargins left="0.4" right="0.4" top="0.5" bottom="0.6" header="0.3" footer="0.3"/>'
            # A4 landscape, one page wide and as many long as it takes
            '<pageSetup paperSize="9" orientation="landscape" fitToWidth="1" fitToHeight="0"/>'
            f"<headerFooter><oddFooter>{footer}</oddFooter></headerFooter></worksheet>")


def _problem_styles(styles: _Styles) -> dict[str, int]:
    """The cell formats of the problem sheet, added to the workbook's styles (reused when already there)."""
    header_fill = styles.solid_fill(HEADER_FILL)
    return {
        "plain": 0,
        "title": styles.plain(font=styles.font(bold=True, size=14), vertical="center"),
        "counts": styles.plain(vertical="center", horizontal="right"),
        "header": styles.plain(font=styles.font(bold=True), fill=header_fill, wrap=True, vertical="center", horizontal="center"),
        "body": styles.plain(wrap=True),
        "link": styles.plain(font=styles.font(colour=LINK_COLOUR, underline=True)),
    }


_REF = re.compile(r"^[A-Z]{1,3}\d{1,7}$")
_MERGE_CELL = re.compile(r'<(?:\w+:)?mergeCell\b[^>]*?\bref="([A-Z]+\d+)(?::([A-Z]+\d+))?"')


def _merged_ranges(xml: str) -> list[tuple[int, int, int, int]]:
    """(first row, first column, last row, last column), 0-based, of each merged range of a sheet."""
    out = []
    for m in _MERGE_CELL.finditer(xml):
        r1, c1 = cell_index(m.group(1))
        r2, c2 = cell_index(m.group(2) or m.group(1))
        out.append((min(r1, r2), min(c1, c2), max(r1, r2), max(c1, c2)))
    return out


def _anchor(ref: str, merged: Sequence[tuple[int, int, int, int]]) -> str:
    """The cell that shows ``ref``: the first cell of the merged range it lies in, else ``ref`` itself.

    Excel and LibreOffice show only that first cell of a merged range (its fill and its comment); a mark on any
    other cell of the range would be there but never seen.
    """
    if merged:
        row, col = cell_index(ref)
        for r1, c1, r2, c2 in merged:
            if r1 <= row <= r2 and c1 <= col <= c2:
                return a1(r1, c1)
    return ref


# CT_Workbook's children that follow definedNames: a new definedNames element goes before the first of them.
_DEFINED_NAMES_AFTER = ("calcPr", "oleSize", "customWorkbookViews", "pivotCaches", "smartTagPr", "smartTagTypes",
                        "webPublishing", "fileRecoveryPr", "webPublishObjects", "extLst")


def _shift_local_sheet_ids(wb: str, at: int, delta: int) -> str:
    """Sheet-local defined names (print areas, print titles, filters) refer to sheets by position: after inserting
    a sheet at ``at`` (``delta`` 1) or removing it (-1, its own names go too), they must follow."""
    def fix(m: re.Match[str]) -> str:
        whole = m.group(0)
        k = int(m.group(2))
        if delta < 0 and k == at:
            return ""
        if k > at or (k == at and delta > 0):
            attr = re.search(r'localSheetId="\d+"', whole)
            assert attr is not None  # the pattern matched it
            return whole[:attr.start()] + f'localSheetId="{k + delta}"' + whole[attr.end():]
        return whole

    pattern = r'<((?:\w+:)?)definedName\b[^>]*?\blocalSheetId="(\d+)"[^>]*?(?:/>|>.*?</\1definedName>)'
    return re.sub(pattern, fix, wb, flags=re.S)


def _set_attr(tag: str, name: str, value: str) -> str:
    """``tag`` (a start tag) with attribute ``name`` set to ``value``."""
    if re.search(rf'\s{name}="[^"]*"', tag):
        return re.sub(rf'(\s{name}=)"[^"]*"', rf'\1"{value}"', tag, count=1)
    end = -2 if tag.endswith("/>") else -1
    return tag[:end] + f' {name}="{value}"' + tag[end:]


def _open_on(wb: str, index: int) -> str:
    """Every window of the workbook opens on sheet ``index``, with the tab bar scrolled to its start."""
    views = list(re.finditer(r"<(?:\w+:)?workbookView\b[^>]*?/?>", wb))
    if views:
        for m in reversed(views):
            tag = _set_attr(_set_attr(m.group(0), "activeTab", str(index)), "firstSheet", "0")
            wb = wb[:m.start()] + tag + wb[m.end():]
        return wb
    sheets = re.search(r"<((?:\w+:)?)sheets\b", wb)
    if sheets is None:
        raise ValueError("workbook.xml has no sheets")
    p = sheets.group(1)
    return wb[:sheets.start()] + f'<{p}bookViews><{p}workbookView activeTab="{index}"/></{p}bookViews>' + wb[sheets.start():]


def _add_defined_name(wb: str, name: str, local_id: int, formula: str) -> str:
    """A sheet-local defined name (print titles) added to workbook.xml, in its place among the workbook's children."""
    p = (re.search(r"<(\w+:)?sheets\b", wb) or re.match("", "")).group(1) or ""  # type: ignore[union-attr]
    tag = f'<{p}definedName name="{name}" localSheetId="{local_id}">{_xml_escape(formula)}</{p}definedName>'
    if re.search(r"<(?:\w+:)?definedNames\s*/>", wb):
        return re.sub(r"<((?:\w+:)?)definedNames\s*/>", lambda m: f"<{m.group(1)}definedNames>{tag}</{m.group(1)}definedNames>", wb, count=1)
    if re.search(r"</(?:\w+:)?definedNames>", wb):
        return re.sub(r"</(?:\w+:)?definedNames>", lambda m: tag + m.group(0), wb, count=1)
    children = _top_level_tags(wb)
    at = next((s for n, s, _ in children if n in _DEFINED_NAMES_AFTER), wb.rfind("</"))
    return wb[:at] + f"<{p}definedNames>{tag}</{p}definedNames>" + wb[at:]


def _sheet_names_in_order(wb: str) -> list[str]:
    return [unescape(n) for n in re.findall(r'<(?:\w+:)?sheet\b[^>]*?\bname="([^"]*)"', wb)]


def _add_problem_sheet(pkg: _EditablePackage, name: str, xml: str) -> None:
    """The problem sheet as the workbook's first tab, the one it opens on; no other tab stays selected."""
    others = [part for part, _ in pkg.sheets().values()]
    part = _free_name(pkg, "xl/worksheets/sheet{}.xml")
    pkg.put(part, xml)
    pkg.content_type(part, CT_SHEET)
    pkg.add_rel(WORKBOOK_PART, "rIdSpProblems", REL_SHEET, part[len("xl/"):])
    wb = pkg.text(WORKBOOK_PART)
    ids = [int(x) for x in re.findall(r'<(?:\w+:)?sheet\b[^>]*\bsheetId="(\d+)"', wb)]
    prefix = (re.search(r"<(\w+:)?sheets\b", wb) or re.match("", "")).group(1) or ""  # type: ignore[union-attr]
    rel_prefix = "r"
    m = re.search(r'xmlns:(\w+)="http://schemas.openxmlformats.org/officeDocument/2006/relationships"', wb)
    if m:
        rel_prefix = m.group(1)
    tag = f'<{prefix}sheet name="{_xml_escape(name)}" sheetId="{max(ids, default=0) + 1}" {rel_prefix}:id="rIdSpProblems"/>'
    wb = re.sub(r"<((?:\w+:)?)sheets\b[^>]*>", lambda mm: mm.group(0) + tag, wb, count=1)
    wb = _shift_local_sheet_ids(wb, 0, 1)
    wb = _open_on(wb, 0)
    quoted = "'" + name.replace("'", "''") + "'"
    wb = _add_defined_name(wb, "_xlnm.Print_Titles", 0, f"{quoted}!$1:${TITLE_ROWS}")
    pkg.put(WORKBOOK_PART, wb)
    for other in others:  # one selected tab: Excel would otherwise open with several sheets grouped
        if other in pkg.parts:
            text = pkg.text(other)
            unselected = re.sub(r'(<(?:\w+:)?sheetView\b[^>]*?)\s+tabSelected="(?:1|true)"', r"\1", text)
            if unselected != text:
                pkg.put(other, unselected)


def _remove_problem_sheet(pkg: _EditablePackage, name: str) -> None:
    """Remove an earlier problem sheet wherever it now is, and the defined names that belong to it."""
    sheets = pkg.sheets()
    if name not in sheets:
        return
    part, rid = sheets[name]
    wb = pkg.text(WORKBOOK_PART)
    order = _sheet_names_in_order(wb)
    index = order.index(name) if name in order else None
    wb = re.sub(rf'<(?:\w+:)?sheet\b[^>]*\bname="{re.escape(_xml_escape(name))}"[^>]*/>', "", wb, count=1)
    if index is not None:
        wb = _shift_local_sheet_ids(wb, index, -1)
        wb = re.sub(r"<((?:\w+:)?)definedNames>\s*</(?:\w+:)?definedNames>", "", wb)

        def back(m: re.Match[str]) -> str:
            tag = m.group(0)
            for attr in ("activeTab", "firstSheet"):
                a = re.search(rf'\s{attr}="(\d+)"', tag)
                if a and int(a.group(1)) > index:
                    tag = _set_attr(tag, attr, str(int(a.group(1)) - 1))
                elif a and int(a.group(1)) == index:
                    tag = _set_attr(tag, attr, "0")
            return tag

        wb = re.sub(r"<(?:\w+:)?workbookView\b[^>]*?/?>", back, wb)
    pkg.put(WORKBOOK_PART, wb)
    pkg.drop_rel(WORKBOOK_PART, rid)
    pkg.put("[Content_Types].xml", re.sub(rf'<Override PartName="/{re.escape(part)}"[^>]*/>', "", pkg.text("[Content_Types].xml")))
    pkg.drop(part)
    pkg.drop(rels_part(part))


# ----------------------------------------------------------------------------- the property


def _read_state(pkg: _EditablePackage) -> dict[str, Any] | None:
    """The record of an earlier annotation, joined from its numbered pieces (see :func:`_write_state`)."""
    if "docProps/custom.xml" not in pkg.parts:
        return None
    xml = pkg.text("docProps/custom.xml")
    pieces: dict[int, str] = {}
    for m in re.finditer(rf'<(?:\w+:)?property\b[^>]*name="{re.escape(ANNOTATIONS_PROPERTY)}\.(\d+)"[^>]*>\s*'
                         r"<(?:\w+:)?lpwstr>(.*?)</(?:\w+:)?lpwstr>", xml, re.S):
        pieces[int(m.group(1))] = unescape(m.group(2))
    if not pieces:
        return None
    try:
        state = json.loads("".join(pieces[i] for i in sorted(pieces)))
    except ValueError:
        return None  # a piece lost or changed by hand: nothing is undone rather than the wrong cells
    return state if isinstance(state, dict) else None


def _write_state(pkg: _EditablePackage, state: dict[str, Any]) -> None:
    """Remember the annotation in custom document properties, in pieces of at most PIECE characters:
    Excel keeps a text property only up to 255 characters, and cuts longer ones when it saves."""
    text = json.dumps(state, ensure_ascii=False, separators=(",", ":"))
    fmtid = "{D5CDD505-2E9C-101B-9397-08002B2CF9AE}"
    if "docProps/custom.xml" not in pkg.parts:
        pkg.put("docProps/custom.xml", '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                '<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/custom-properties" '
                'xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes"></Properties>')
        pkg.content_type("docProps/custom.xml", CT_CUSTOM)
        pkg.add_rel("", "rIdSpCustom", REL_CUSTOM, "docProps/custom.xml")
    xml = pkg.text("docProps/custom.xml")
    xml = re.sub(r"<((?:\w+:)?)Properties\b([^>]*?)\s*/>", r"<\1Properties\2></\1Properties>", xml, count=1)
    xml = re.sub(rf'<((?:\w+:)?)property\b[^>]*name="{re.escape(ANNOTATIONS_PROPERTY)}[".].*?</\1property>', "", xml, flags=re.S)
    vt = re.search(r'xmlns:(\w+)="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes"', xml)
    if vt is None:
        xml = re.sub(r"<((?:\w+:)?)Properties\b", r'<\1Properties xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes"',
                     xml, count=1)
    v = vt.group(1) if vt else "vt"
    prefix = re.search(r"<((?:\w+:)?)Properties\b", xml)
    if prefix is None:
        raise ValueError("docProps/custom.xml has no Properties element")
    pp = prefix.group(1)
    pid = max([int(x) for x in re.findall(r'pid="(\d+)"', xml)] + [1]) + 1
    props = []
    for i in range(0, max(1, len(text)), PIECE):
        props.append(f'<{pp}property fmtid="{fmtid}" pid="{pid}" name="{ANNOTATIONS_PROPERTY}.{i // PIECE + 1}">'
                     f"<{v}:lpwstr>{_xml_escape(text[i:i + PIECE])}</{v}:lpwstr></{pp}property>")
        pid += 1
    close = xml.rfind(f"</{pp}Properties>")
    pkg.put("docProps/custom.xml", xml[:close] + "".join(props) + xml[close:])


def _undo(pkg: _EditablePackage, state: dict[str, Any], styles: _Styles) -> None:
    """Remove the marks of an earlier annotation (also after the file went through LibreOffice)."""
    same_styles = state.get("styles_sha") == hashlib.sha256(pkg.parts["xl/styles.xml"]).hexdigest()
    sheets = pkg.sheets()
    for name, cells in state.get("cells", {}).items():
        if name not in sheets or sheets[name][0] not in pkg.parts:
            continue
        part = sheets[name][0]
        record = {ref: (int(v[0]), bool(v[1])) for ref, v in cells.items()}
        pkg.put(part, _restore_cells(pkg.text(part), record, styles, same_styles))
        _remove_comments(pkg, part, list(cells))
    _remove_problem_sheet(pkg, state.get("sheet", PROBLEM_SHEET["zh"]))


# ----------------------------------------------------------------------------- entry point


def annotate_workbook(src: str | Path, dst: str | Path, problems: Sequence[Problem], lang: str = "zh",
                      layout: Layout | None = None, *, org_name: str | None = None, year: int | str | None = None) -> None:
    """Write a copy of ``src`` with every problem cell filled and commented and a problem sheet it opens on.

    With ``layout``, the problem sheet names fields by their labels (日期, 收入(元)) instead of their keys and
    lists the sheets in the layout's order. ``org_name`` and ``year`` (what the reader found in 基本信息) make
    its title line; without them the workbook's identity gives them.

    Raises :class:`UsageError` (with the file's name) when ``src`` is not an .xlsx package this can edit.
    """
    src = Path(src)
    try:
        pkg = _annotated(src, problems, lang, layout, org_name, year)
    except UsageError:
        raise
    except (KeyError, ValueError, IndexError, AttributeError, UnicodeDecodeError, *XML_ERRORS, re.error) as exc:
        raise UsageError(f"无法标注 {src.name}：文件内部结构已损坏（{type(exc).__name__}）。请在 Excel 或 WPS 中打开后另存，再检查一次。",
                         f"Cannot annotate {src.name}: its internal structure is damaged ({type(exc).__name__}). "
                         "Open it in Excel or WPS, save it, and check it again.") from exc
    _refuse_source_as_output(src, Path(dst))
    with atomic_output(Path(dst)) as fh:  # an OutputError names dst when it cannot be written
        pkg.write(fh)


def _refuse_source_as_output(src: Path, dst: Path) -> None:
    """§9: the school's own file is never written over, whatever link or spelling names it twice."""
    try:
        same = src.samefile(dst)
    except OSError:
        same = False  # dst does not exist yet: it cannot be src
    if same:
        raise UsageError(f"标注副本不能写在原文件 {display_path(src)} 上，请另选一个文件名。",
                         f"The annotated copy cannot be written over the original {display_path(src)}: choose another name.")


def _field_labels(layout: Layout | None, lang: str) -> dict[tuple[str | None, str], str]:
    """(table, field key) → label."""
    if layout is None:
        return {}
    return {(sheet.key, f.key): f.label[lang] for sheet in layout.sheets for f in sheet.fields}


def _identity(pkg: _EditablePackage) -> dict[str, str]:
    """The workbook's identity from its document properties ({} when it has none that can be read)."""
    if "docProps/custom.xml" not in pkg.parts:
        return {}
    out = {}
    for prop in parse_xml(pkg.parts["docProps/custom.xml"]).iter():
        name = prop.get("name") or ""
        if name.startswith(PROPERTY_PREFIX) and len(prop) and prop[0].text:
            text = prop[0].text
            out[name[len(PROPERTY_PREFIX):]] = text[:-2] if re.fullmatch(r"\d+\.0", text) else text  # LibreOffice: 2025 → 2025.0
    return out


def _annotated(src: Path, problems: Sequence[Problem], lang: str, layout: Layout | None,
               org_name: str | None, year: int | str | None) -> _EditablePackage:
    pkg = _EditablePackage(src)
    old = _read_state(pkg)
    styles = _Styles(pkg)
    if old:
        _undo(pkg, old, styles)
        styles.save()
        styles = _Styles(pkg)
    sheets = pkg.sheets()
    merged: dict[str, list[tuple[int, int, int, int]]] = {}
    anchors: dict[tuple[str, str], str] = {}  # (sheet, cell) → the cell that shows it
    by_cell: dict[str, dict[str, list[Problem]]] = defaultdict(lambda: defaultdict(list))
    for p in problems:
        if p.sheet in sheets and p.cell and _REF.match(p.cell):
            if p.sheet not in merged:
                part = sheets[p.sheet][0]
                merged[p.sheet] = _merged_ranges(pkg.text(part)) if part in pkg.parts else []
            anchor = anchors.setdefault((p.sheet, p.cell), _anchor(p.cell, merged[p.sheet]))
            by_cell[p.sheet][anchor].append(p)
    sheet_name = PROBLEM_SHEET[lang]
    while sheet_name in sheets:  # the school has a sheet of that name: never touch it
        sheet_name += "_"
    state: dict[str, Any] = {"sheet": sheet_name, "cells": {}}
    for name, cells in by_cell.items():
        part = sheets[name][0]
        worst = {ref: min(ps, key=lambda p: SEVERITY_ORDER.get(p.severity, 9)).severity for ref, ps in cells.items()}
        xml, record = _mark_cells(pkg.text(part), worst, styles.marked)
        pkg.put(part, xml)
        _add_comments(pkg, part, {ref: COMMENT_MARK + "\n".join(p.message(lang) for p in ps) for ref, ps in cells.items()})
        state["cells"][name] = {ref: list(v) for ref, v in record.items()}
    sheet_styles = _problem_styles(styles)
    styles.save()
    identity = _identity(pkg)
    title = problem_sheet_title(lang, org_name or identity.get("org_name"), year or identity.get("year"), src.name)
    xml = _problem_sheet_xml(problems, lang, _field_labels(layout, lang), title=title, styles=sheet_styles,
                             anchors=anchors, layout=layout)
    _add_problem_sheet(pkg, sheet_name, xml)
    state["styles_sha"] = hashlib.sha256(pkg.parts["xl/styles.xml"]).hexdigest()
    _write_state(pkg, state)
    return pkg
