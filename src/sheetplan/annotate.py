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
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from collections import defaultdict
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from defusedxml import ElementTree

from .errors import UsageError
from .files import atomic_output
from .geometry import a1
from .problems import SEVERITY_ORDER, Problem

PROBLEM_SHEET = {"zh": "问题清单", "en": "Problems"}
COMMENT_MARK = "sheetplan："
ANNOTATIONS_PROPERTY = "sheetplan.annotations"
FILLS = {"error": "FFFFC7CE", "warning": "FFFFEB9C", "info": "FFDDEBF7"}
NS_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
NS_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
NS_PKG = "{http://schemas.openxmlformats.org/package/2006/relationships}"
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


def _x(text: Any) -> str:
    """Text safe inside XML (escaped, characters illegal in XML 1.0 removed)."""
    return escape(_ILLEGAL_XML.sub("", str(text)), quote=True)


def _col(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n - 1


def _split(ref: str) -> tuple[int, int]:
    m = re.match(r"([A-Z]+)(\d+)$", ref)
    assert m, ref
    return int(m.group(2)) - 1, _col(m.group(1))


class _Package:
    """The zip's parts as text/bytes, edited in place, written back in the original order."""

    def __init__(self, src: Path) -> None:
        try:
            with zipfile.ZipFile(src) as zf:
                self.order = [i.filename for i in zf.infolist()]
                self.parts: dict[str, bytes] = {n: zf.read(n) for n in self.order}
        except (zipfile.BadZipFile, OSError, KeyError) as exc:
            raise UsageError(f"无法标注 {src.name}：它不是可读的 .xlsx 文件。", f"Cannot annotate {src.name}: not a readable .xlsx file.") from exc
        if "xl/workbook.xml" not in self.parts:
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
    def rels_name(self, part: str) -> str:
        folder, _, base = part.rpartition("/")
        return f"{folder}/_rels/{base}.rels" if folder else f"_rels/{base}.rels"

    def rels(self, part: str) -> list[dict[str, str]]:
        name = self.rels_name(part)
        if name not in self.parts:
            return []
        root = ElementTree.fromstring(self.parts[name])
        return [dict(r.attrib) for r in root.iter(f"{NS_PKG}Relationship")]

    def add_rel(self, part: str, rid: str, rtype: str, target: str) -> None:
        name = self.rels_name(part)
        rel = f'<Relationship Id="{rid}" Type="{rtype}" Target="{_x(target)}"/>'
        if name in self.parts:
            self.put(name, self.text(name).replace("</Relationships>", rel + "</Relationships>"))
        else:
            self.put(name, '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                           f'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">{rel}</Relationships>')

    def drop_rel(self, part: str, rid: str) -> None:
        name = self.rels_name(part)
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
        wb = ElementTree.fromstring(self.parts["xl/workbook.xml"])
        targets = {r["Id"]: r["Target"] for r in self.rels("xl/workbook.xml")}
        out = {}
        for s in wb.iter(f"{NS_MAIN}sheet"):
            rid = s.get(f"{NS_REL}id", "")
            t = targets.get(rid, "")
            path = t.lstrip("/") if t.startswith("/") else "xl/" + t
            out[s.get("name", "")] = (re.sub(r"[^/]+/\.\./", "", path), rid)
        return out


def _target(part: str, other: str) -> str:
    """A relationship target from ``part``'s folder to ``other`` (both under xl/)."""
    depth = part.count("/") - 1
    return "../" * depth + other[len("xl/"):] if depth else other[len("xl/"):]


# ----------------------------------------------------------------------------- styles


class _Styles:
    def __init__(self, pkg: _Package) -> None:
        self.pkg = pkg
        self.xml = pkg.text("xl/styles.xml")
        self.fill_ids: dict[str, int] = {}
        self.clones: dict[tuple[int, str], int] = {}
        m = re.search(r"<(\w+:)?cellXfs\b[^>]*>(.*?)</(\w+:)?cellXfs>", self.xml, re.S)
        assert m, "styles.xml has no cellXfs"
        self.xfs = re.findall(r"<(?:\w+:)?xf\b[^>]*/>|<(?:\w+:)?xf\b[^>]*>.*?</(?:\w+:)?xf>", m.group(2), re.S)
        self.new_xfs: list[str] = []

    def fill(self, severity: str) -> int:
        if severity not in self.fill_ids:
            m = re.search(r"<((?:\w+:)?)fills\b([^>]*)>(.*?)</(?:\w+:)?fills>", self.xml, re.S)
            assert m, "styles.xml has no fills"
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


def _cell_tag(xml: str, ref: str) -> re.Match[str] | None:
    return re.search(rf'<(?:\w+:)?c\b[^>]*\br="{ref}"[^>]*?/?>', xml)


def _row_span(xml: str, row: int) -> re.Match[str] | None:
    return re.search(rf'<((?:\w+:)?)row\b[^>]*\br="{row}"[^>]*?(?:/>|>.*?</(?:\w+:)?row>)', xml, re.S)


def _default_style(xml: str, row: int, col: int) -> int:
    m = _row_span(xml, row + 1)
    if m:
        tag = re.match(r"<[^>]*>", m.group(0)).group(0)  # type: ignore[union-attr]
        if 'customFormat="1"' in tag or "customFormat=\"true\"" in tag:
            s = re.search(r'\ss="(\d+)"', tag)
            if s:
                return int(s.group(1))
    for c in re.finditer(r"<(?:\w+:)?col\b[^>]*/>", xml):
        lo, hi = re.search(r'min="(\d+)"', c.group(0)), re.search(r'max="(\d+)"', c.group(0))
        st = re.search(r'style="(\d+)"', c.group(0))
        if lo and hi and st and int(lo.group(1)) <= col + 1 <= int(hi.group(1)):
            return int(st.group(1))
    return 0


def _set_style(xml: str, ref: str, style: int) -> tuple[str, int, bool]:
    """Give cell ``ref`` style ``style``; return (xml, original style, whether the cell was inserted)."""
    m = _cell_tag(xml, ref)
    if m:
        tag = m.group(0)
        s = re.search(r'\ss="(\d+)"', tag)
        orig = int(s.group(1)) if s else 0
        new = re.sub(r'\ss="\d+"', f' s="{style}"', tag) if s else re.sub(r"^(<(?:\w+:)?c\b)", rf'\1 s="{style}"', tag)
        return xml[:m.start()] + new + xml[m.end():], orig, False
    row, col = _split(ref)
    orig = _default_style(xml, row, col)
    prefix = (re.search(r"<(\w+:)?sheetData\b", xml) or re.match("", "")).group(1) or ""  # type: ignore[union-attr]
    new_cell = f'<{prefix}c r="{ref}" s="{style}"/>'
    rm = _row_span(xml, row + 1)
    if rm:
        span = rm.group(0)
        if span.endswith("/>") and not re.search(r"<(?:\w+:)?c\b", span):
            new_span = span[:-2] + ">" + new_cell + f"</{prefix}row>"
        else:
            pos = None
            for cm in re.finditer(r'<(?:\w+:)?c\b[^>]*\br="([A-Z]+)\d+"', span):
                if _col(cm.group(1)) > col:
                    pos = cm.start()
                    break
            close = span.rfind("</")
            pos = close if pos is None else pos
            new_span = span[:pos] + new_cell + span[pos:]
        return xml[:rm.start()] + new_span + xml[rm.end():], orig, True
    new_row = f'<{prefix}row r="{row + 1}">{new_cell}</{prefix}row>'
    sd = re.search(r"<(\w+:)?sheetData\s*/>", xml)
    if sd:
        return xml[:sd.start()] + f"<{prefix}sheetData>{new_row}</{prefix}sheetData>" + xml[sd.end():], orig, True
    pos = None
    for r in re.finditer(r'<(?:\w+:)?row\b[^>]*\br="(\d+)"', xml):
        if int(r.group(1)) > row + 1:
            pos = r.start()
            break
    if pos is None:
        pos = re.search(r"</(?:\w+:)?sheetData>", xml).start()  # type: ignore[union-attr]
    return xml[:pos] + new_row + xml[pos:], orig, True


def _restore(xml: str, ref: str, style: int, inserted: bool) -> str:
    m = _cell_tag(xml, ref)
    if not m:
        return xml
    tag = m.group(0)
    if inserted and tag.endswith("/>") and not re.search(r"\st=", tag):
        return xml[:m.start()] + xml[m.end():]
    new = re.sub(r'\ss="\d+"', f' s="{style}"', tag) if re.search(r'\ss="\d+"', tag) else tag
    return xml[:m.start()] + new + xml[m.end():]


# ----------------------------------------------------------------------------- comments

VML_HEAD = ('<xml xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office" '
            'xmlns:x="urn:schemas-microsoft-com:office:excel"><o:shapelayout v:ext="edit"><o:idmap v:ext="edit" data="1"/>'
            '</o:shapelayout><v:shapetype id="_x0000_t202" coordsize="21600,21600" o:spt="202" path="m,l,21600r21600,l21600,xe">'
            '<v:stroke joinstyle="miter"/><v:path gradientshapeok="t" o:connecttype="rect"/></v:shapetype>')


def _vml_shape(n: int, row: int, col: int) -> str:
    return (f'<v:shape id="_x0000_s{7000 + n}" type="#_x0000_t202" style="position:absolute;margin-left:60pt;'
            f'margin-top:2pt;width:220pt;height:90pt;z-index:{n + 1};visibility:hidden" fillcolor="#ffffe1" o:insetmode="auto">'
            '<v:fill color2="#ffffe1"/><v:shadow on="t" color="black" obscured="t"/><v:path o:connecttype="none"/>'
            '<v:textbox style="mso-direction-alt:auto"><div style="text-align:left"></div></v:textbox>'
            '<x:ClientData ObjectType="Note"><x:MoveWithCells/><x:SizeWithCells/>'
            f"<x:Anchor>{col + 1}, 15, {row}, 10, {col + 4}, 15, {row + 5}, 4</x:Anchor><x:AutoFill>False</x:AutoFill>"
            f"<x:Row>{row}</x:Row><x:Column>{col}</x:Column></x:ClientData></v:shape>")


def _comment(ref: str, author: int, text: str) -> str:
    return (f'<comment ref="{ref}" authorId="{author}"><text><r><t xml:space="preserve">{_x(text)}</t></r></text></comment>')


def _free(pkg: _Package, pattern: str) -> str:
    n = 1
    while pattern.format(n) in pkg.parts:
        n += 1
    return pattern.format(n)


def _sheet_comments(pkg: _Package, part: str) -> tuple[str | None, str | None]:
    """The comments part and VML part of a sheet, when it has them."""
    comments = vml = None
    folder = part.rpartition("/")[0]
    for r in pkg.rels(part):
        path = re.sub(r"[^/]+/\.\./", "", f"{folder}/{r['Target']}") if not r["Target"].startswith("/") else r["Target"][1:]
        if r["Type"] == REL_COMMENTS:
            comments = path
        elif r["Type"] == REL_VML:
            vml = path
    return comments, vml


def _add_comments(pkg: _Package, part: str, notes: dict[str, str]) -> list[str]:
    """Add notes (cell → text) to a sheet; cells the school already commented are skipped."""
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
        body = "".join(_comment(ref, author, text) for ref, text in notes.items())
        if re.search(r"<(?:\w+:)?commentList\s*/>", cxml):
            cxml = re.sub(r"<((?:\w+:)?)commentList\s*/>", rf"<\1commentList>{body}</\1commentList>", cxml, count=1)
        else:
            cxml = re.sub(r"</((?:\w+:)?)commentList>", lambda m: body + m.group(0), cxml, count=1)
        pkg.put(comments, cxml)
    else:
        comments = _free(pkg, "xl/comments{}.xml")
        body = "".join(_comment(ref, 0, text) for ref, text in notes.items())
        pkg.put(comments, '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                          '<comments xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                          f"<authors><author>sheetplan</author></authors><commentList>{body}</commentList></comments>")
        pkg.content_type(comments, CT_COMMENTS)
        pkg.add_rel(part, "rIdSpComments", REL_COMMENTS, _target(part, comments))
    if vml is None or vml not in pkg.parts:
        vml = _free(pkg, "xl/drawings/vmlDrawing{}.vml")
        pkg.put(vml, VML_HEAD + "</xml>")
        pkg.default_type("vml", CT_VML)
        pkg.add_rel(part, "rIdSpVml", REL_VML, _target(part, vml))
        _add_legacy_drawing(pkg, part, "rIdSpVml")
    vtext = pkg.text(vml)
    if "_x0000_t202" not in vtext:
        vtext = vtext.replace("</xml>", VML_HEAD[VML_HEAD.index("<v:shapetype"):] + "</xml>")
    shapes = "".join(_vml_shape(i, *_split(ref)) for i, ref in enumerate(notes))
    pkg.put(vml, vtext.replace("</xml>", shapes + "</xml>"))
    return list(notes)


def _add_legacy_drawing(pkg: _Package, part: str, rid: str) -> None:
    xml = pkg.text(part)
    root = re.match(r"(?s)(<\?xml[^>]*>\s*)?<((?:\w+:)?)worksheet\b[^>]*>", xml)
    assert root, "not a worksheet"
    prefix = root.group(2)
    if 'xmlns:r="' not in root.group(0):
        head = root.group(0)[:-1] + ' xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        xml = head + xml[root.end():]
    tag = f'<{prefix}legacyDrawing r:id="{rid}"/>'
    for name in _AFTER_LEGACY:
        m = re.search(rf"<(?:\w+:)?{name}\b", xml)
        if m:
            pkg.put(part, xml[:m.start()] + tag + xml[m.start():])
            return
    end = xml.rfind("</")
    pkg.put(part, xml[:end] + tag + xml[end:])


def _remove_comments(pkg: _Package, part: str, cells: list[str]) -> None:
    comments, vml = _sheet_comments(pkg, part)
    if comments and comments in pkg.parts:
        cxml = pkg.text(comments)
        for ref in cells:
            cxml = re.sub(rf'<((?:\w+:)?)comment\b[^>]*\bref="{ref}"[^>]*>(?:(?!</(?:\w+:)?comment>).)*?{re.escape(COMMENT_MARK)}.*?</\1comment>',
                          "", cxml, flags=re.S)
        pkg.put(comments, cxml)
    if vml and vml in pkg.parts:
        vtext = pkg.text(vml)
        for ref in cells:
            row, col = _split(ref)
            vtext = re.sub(rf"<v:shape\b(?:(?!</v:shape>).)*?<x:Row>{row}</x:Row>\s*<x:Column>{col}</x:Column>.*?</v:shape>",
                           "", vtext, flags=re.S)
        pkg.put(vml, vtext)


# ----------------------------------------------------------------------------- problem sheet


def _problem_sheet_xml(problems: Sequence[Problem], lang: str) -> str:
    en = lang == "en"
    head = (["Severity", "Code", "Sheet", "Cell", "Field", "Value", "Message"] if en
            else ["严重程度", "代码", "工作表", "单元格", "字段", "原值", "说明"])
    words = {"error": "错误", "warning": "提醒", "info": "说明"} if not en else {}

    def cell(r: int, c: int, v: Any) -> str:
        if v is None or v == "":
            return ""
        return f'<c r="{a1(r, c)}" t="inlineStr"><is><t xml:space="preserve">{_x(v)}</t></is></c>'

    rows = ['<row r="1">' + "".join(cell(0, c, h) for c, h in enumerate(head)) + "</row>"]
    links = []
    for i, p in enumerate(sorted(problems, key=Problem.sort_key), start=1):
        values = [words.get(p.severity, p.severity), p.code, p.sheet, p.cell, p.field, p.value, p.message(lang)]
        rows.append(f'<row r="{i + 1}">' + "".join(cell(i, c, v) for c, v in enumerate(values)) + "</row>")
        if p.sheet and p.cell:
            sheet = "'" + p.sheet.replace("'", "''") + "'"
            links.append(f'<hyperlink ref="{a1(i, 3)}" location="{_x(sheet)}!{p.cell}" display="{_x(p.cell)}"/>')
    widths = [8, 22, 12, 8, 12, 20, 80]
    cols = "".join(f'<col min="{i + 1}" max="{i + 1}" width="{w}" customWidth="1"/>' for i, w in enumerate(widths))
    return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
            '<sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
            '</sheetView></sheetViews>'
            f"<cols>{cols}</cols><sheetData>{''.join(rows)}</sheetData>"
            + (f"<hyperlinks>{''.join(links)}</hyperlinks>" if links else "")
            + '<pageMargins left="0.5" right="0.5" top="0.6" bottom="0.6" header="0.3" footer="0.3"/>'
            '<pageSetup paperSize="9" orientation="landscape"/></worksheet>')


def _add_problem_sheet(pkg: _Package, name: str, xml: str) -> None:
    part = _free(pkg, "xl/worksheets/sheet{}.xml")
    pkg.put(part, xml)
    pkg.content_type(part, CT_SHEET)
    pkg.add_rel("xl/workbook.xml", "rIdSpProblems", REL_SHEET, part[len("xl/"):])
    wb = pkg.text("xl/workbook.xml")
    ids = [int(x) for x in re.findall(r'<(?:\w+:)?sheet\b[^>]*\bsheetId="(\d+)"', wb)]
    prefix = (re.search(r"<(\w+:)?sheets\b", wb) or re.match("", "")).group(1) or ""  # type: ignore[union-attr]
    rel_prefix = "r"
    m = re.search(r'xmlns:(\w+)="http://schemas.openxmlformats.org/officeDocument/2006/relationships"', wb)
    if m:
        rel_prefix = m.group(1)
    tag = f'<{prefix}sheet name="{_x(name)}" sheetId="{max(ids, default=0) + 1}" {rel_prefix}:id="rIdSpProblems"/>'
    pkg.put("xl/workbook.xml", re.sub(r"</((?:\w+:)?)sheets>", lambda mm: tag + mm.group(0), wb, count=1))


def _remove_problem_sheet(pkg: _Package, name: str) -> None:
    sheets = pkg.sheets()
    if name not in sheets:
        return
    part, rid = sheets[name]
    wb = pkg.text("xl/workbook.xml")
    wb = re.sub(rf'<(?:\w+:)?sheet\b[^>]*\bname="{re.escape(_x(name))}"[^>]*/>', "", wb, count=1)
    pkg.put("xl/workbook.xml", wb)
    pkg.drop_rel("xl/workbook.xml", rid)
    pkg.put("[Content_Types].xml", re.sub(rf'<Override PartName="/{re.escape(part)}"[^>]*/>', "", pkg.text("[Content_Types].xml")))
    pkg.drop(part)
    pkg.drop(pkg.rels_name(part))


# ----------------------------------------------------------------------------- the property


def _read_state(pkg: _Package) -> dict[str, Any] | None:
    if "docProps/custom.xml" not in pkg.parts:
        return None
    m = re.search(rf'<property\b[^>]*name="{re.escape(ANNOTATIONS_PROPERTY)}"[^>]*>\s*<vt:lpwstr>(.*?)</vt:lpwstr>',
                  pkg.text("docProps/custom.xml"), re.S)
    if not m:
        return None
    from html import unescape

    try:
        return json.loads(unescape(m.group(1)))
    except ValueError:
        return None


def _write_state(pkg: _Package, state: dict[str, Any]) -> None:
    value = _x(json.dumps(state, ensure_ascii=False))
    fmtid = "{D5CDD505-2E9C-101B-9397-08002B2CF9AE}"
    if "docProps/custom.xml" not in pkg.parts:
        pkg.put("docProps/custom.xml", '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                '<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/custom-properties" '
                'xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes"></Properties>')
        pkg.content_type("docProps/custom.xml", CT_CUSTOM)
        pkg.add_rel("", "rIdSpCustom", REL_CUSTOM, "docProps/custom.xml")
    xml = pkg.text("docProps/custom.xml")
    xml = re.sub(rf'<property\b[^>]*name="{re.escape(ANNOTATIONS_PROPERTY)}".*?</property>', "", xml, flags=re.S)
    pid = max([int(x) for x in re.findall(r'pid="(\d+)"', xml)] + [1]) + 1
    prop = f'<property fmtid="{fmtid}" pid="{pid}" name="{ANNOTATIONS_PROPERTY}"><vt:lpwstr>{value}</vt:lpwstr></property>'
    pkg.put("docProps/custom.xml", xml.replace("</Properties>", prop + "</Properties>"))


def _undo(pkg: _Package, state: dict[str, Any], styles: _Styles) -> None:
    """Remove the marks of an earlier annotation (also after the file went through LibreOffice)."""
    same_styles = state.get("styles_sha") == hashlib.sha256(pkg.parts["xl/styles.xml"]).hexdigest()
    sheets = pkg.sheets()
    marks = set(FILLS.values())
    for name, cells in state.get("cells", {}).items():
        if name not in sheets or sheets[name][0] not in pkg.parts:
            continue
        part = sheets[name][0]
        xml = pkg.text(part)
        for ref, (orig, inserted) in cells.items():
            m = _cell_tag(xml, ref)
            if not m:
                continue
            s = re.search(r'\ss="(\d+)"', m.group(0))
            current = int(s.group(1)) if s else 0
            if same_styles:
                xml = _restore(xml, ref, orig, inserted)
            elif styles.fill_colour(current) in marks:
                xml = _restore(xml, ref, styles.unfilled(current), inserted=False)
        pkg.put(part, xml)
        _remove_comments(pkg, part, list(cells))
    _remove_problem_sheet(pkg, state.get("sheet", PROBLEM_SHEET["zh"]))


# ----------------------------------------------------------------------------- entry point


def annotate_workbook(src: str | Path, dst: str | Path, problems: Sequence[Problem], lang: str = "zh") -> None:
    """Write a copy of ``src`` with every problem cell filled and commented and a problem sheet."""
    pkg = _Package(Path(src))
    old = _read_state(pkg)
    styles = _Styles(pkg)
    if old:
        _undo(pkg, old, styles)
        styles.save()
        styles = _Styles(pkg)
    sheets = pkg.sheets()
    by_cell: dict[str, dict[str, list[Problem]]] = defaultdict(lambda: defaultdict(list))
    for p in problems:
        if p.sheet in sheets and p.cell and re.match(r"^[A-Z]{1,3}\d{1,7}$", p.cell):
            by_cell[p.sheet][p.cell].append(p)
    sheet_name = PROBLEM_SHEET[lang]
    while sheet_name in sheets:  # the school has a sheet of that name: never touch it
        sheet_name += "_"
    state: dict[str, Any] = {"sheet": sheet_name, "cells": {}}
    for name, cells in by_cell.items():
        part = sheets[name][0]
        xml = pkg.text(part)
        record: dict[str, tuple[int, bool]] = {}
        notes: dict[str, str] = {}
        for ref, ps in cells.items():
            worst = min(ps, key=lambda p: SEVERITY_ORDER.get(p.severity, 9)).severity
            m = _cell_tag(xml, ref)
            current = int(re.search(r'\ss="(\d+)"', m.group(0)).group(1)) if m and re.search(r'\ss="(\d+)"', m.group(0)) else None  # type: ignore[union-attr]
            if current is None:
                row, col = _split(ref)
                current = _default_style(xml, row, col) if not m else 0
            xml, orig, inserted = _set_style(xml, ref, styles.marked(current, worst))
            record[ref] = (orig, inserted)
            notes[ref] = COMMENT_MARK + "\n".join(p.message(lang) for p in ps)
        pkg.put(part, xml)
        _add_comments(pkg, part, notes)
        state["cells"][name] = record
    styles.save()
    _add_problem_sheet(pkg, sheet_name, _problem_sheet_xml(problems, lang))
    state["styles_sha"] = hashlib.sha256(pkg.parts["xl/styles.xml"]).hexdigest()
    _write_state(pkg, state)
    with atomic_output(Path(dst)) as fh:
        pkg.write(fh)
