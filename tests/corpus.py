"""A corpus of broken and hostile inputs, built in code (nothing large is committed).

Each :class:`Case` writes one file and says what `sheetplan check` must
answer: the exit code and the problem codes that must appear. Used by
tests/test_corpus.py and, as a folder, by the merge-over-everything test.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import openpyxl

import badfiles
from sheetplan.layout import load_layout
from sheetplan.layout.geometry import data_cell, form_cell
from sheetplan.write import Org, write_template

LAYOUT = load_layout("school")


@dataclass(frozen=True)
class Case:
    name: str  # file name in the corpus
    build: Callable[[Path], None]
    exit: int
    codes: tuple[str, ...]  # problem codes that must be reported
    readable: bool = False


def template_bytes(org: Org | None = None) -> bytes:
    buf = io.BytesIO()
    write_template(LAYOUT, org or Org("语料学校", "K001", 2025), buf)
    return buf.getvalue()


def filled_bytes() -> bytes:
    """A small valid filled workbook (written by openpyxl into the template)."""
    wb = openpyxl.load_workbook(io.BytesIO(template_bytes()))
    ledger, plan = LAYOUT.sheet("ledger"), LAYOUT.sheet("plan")
    ws = wb[ledger.name["zh"]]
    for i, (d, s, c, inc) in enumerate([("2025-01-05", "会费", "会费收入", 800), ("2025-02-05", "会费", "会费收入", 700)]):
        ws[data_cell(ledger, "date", i)] = d
        ws[data_cell(ledger, "summary", i)] = s
        ws[data_cell(ledger, "category", i)] = c
        ws[data_cell(ledger, "income", i)] = inc
    wp = wb[plan.name["zh"]]
    wp[data_cell(plan, "category", 0)] = "文体活动"
    wp[data_cell(plan, "task", 0)] = "拔河比赛"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _rezip(src: bytes, change: Callable[[str, bytes], bytes | None], extra: dict[str, bytes] | None = None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(src)) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = change(info.filename, zin.read(info))
            if data is not None:
                zout.writestr(info.filename, data)
        for name, data in (extra or {}).items():
            zout.writestr(name, data)
    return out.getvalue()


def _write(data: bytes) -> Callable[[Path], None]:
    return lambda p: p.write_bytes(data)


def _edit(edit: Callable[[openpyxl.Workbook], None], source: Callable[[], bytes] = filled_bytes) -> Callable[[Path], None]:
    def build(p: Path) -> None:
        wb = openpyxl.load_workbook(io.BytesIO(source()))
        edit(wb)
        wb.save(p)
    return build


def _zip_bomb(p: Path) -> None:
    src = template_bytes()
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        with zipfile.ZipFile(io.BytesIO(src)) as zin:
            for info in zin.infolist():
                z.writestr(info.filename, zin.read(info))
        with z.open("xl/media/padding.bin", "w", force_zip64=True) as fh:
            chunk = b"\0" * (1 << 20)
            for _ in range(300):  # 300 MB of zeros: ~300 kB compressed
                fh.write(chunk)


def _many_entries(p: Path) -> None:
    src = template_bytes()
    extra = {f"xl/media/e{i}.bin": b"" for i in range(10_050)}
    p.write_bytes(_rezip(src, lambda n, d: d, extra))


BILLION_LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                  + b"".join(b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10) for i in range(1, 10))
                  + b']><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">&lol9;</workbook>')


def _xml_bomb(p: Path) -> None:
    p.write_bytes(_rezip(template_bytes(), lambda n, d: BILLION_LAUGHS if n == "xl/workbook.xml" else d))


def _external_entity(p: Path) -> None:
    def change(n: str, d: bytes) -> bytes:
        if n == "xl/worksheets/sheet2.xml":
            return d.replace(b"?>", b'?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>', 1)
        return d
    p.write_bytes(_rezip(template_bytes(), change))


def _encrypted(p: Path) -> None:
    """A filled workbook with a password to open, encrypted the way Excel does (agile encryption in an OLE file)."""
    from msoffcrypto.format.ooxml import OOXMLFile

    out = io.BytesIO()
    OOXMLFile(io.BytesIO(filled_bytes())).encrypt("工会2025", out)
    p.write_bytes(out.getvalue())


def _xlsm(p: Path) -> None:
    def change(n: str, d: bytes) -> bytes:
        if n == "[Content_Types].xml":
            return d.replace(b"spreadsheetml.sheet.main+xml", b"sheet.macroEnabled.main+xml")
        return d
    p.write_bytes(_rezip(filled_bytes(), change, {"xl/vbaProject.bin": b"\xd0\xcf\x11\xe0 Sub AutoOpen() Shell(\"calc\") End Sub"}))


def _set_identity(key: str, value: str) -> Callable[[openpyxl.Workbook], None]:
    def edit(wb: openpyxl.Workbook) -> None:
        for prop in wb.custom_doc_props.props:
            if prop.name == f"sheetplan.{key}":
                prop.value = value
        wb["_sheetplan"]  # the hidden copy
        for row in wb["_sheetplan"].iter_rows(min_row=2):
            if row[0].value == key:
                row[1].value = value
    return edit


def _rename_all(wb: openpyxl.Workbook) -> None:
    for i, s in enumerate(LAYOUT.sheets):
        wb[s.name["zh"]].title = f"Sheet{i + 1}"


def _reorder(wb: openpyxl.Workbook) -> None:
    wb._sheets.reverse()  # noqa: SLF001 - the test wants the tabs in another order


def _delete(wb: openpyxl.Workbook) -> None:
    del wb[LAYOUT.sheet("care").name["zh"]]


def _edit_header(wb: openpyxl.Workbook) -> None:
    ledger = LAYOUT.sheet("ledger")
    wb[ledger.name["zh"]]["F2"] = "收入金额（元）"


def _overwrite_formula(wb: openpyxl.Workbook) -> None:
    ledger = LAYOUT.sheet("ledger")
    wb[ledger.name["zh"]][data_cell(ledger, "balance", 1)] = 12345


def _long_cell(wb: openpyxl.Workbook) -> None:
    plan = LAYOUT.sheet("plan")
    wb[plan.name["zh"]][data_cell(plan, "task", 1)] = "很" * 100_000
    wb[plan.name["zh"]][data_cell(plan, "category", 1)] = "其他"


def _merged_cells(wb: openpyxl.Workbook) -> None:
    plan = LAYOUT.sheet("plan")
    ws = wb[plan.name["zh"]]
    ws[data_cell(plan, "category", 2)] = "其他"
    ws[data_cell(plan, "task", 2)] = "合并单元格里的任务"
    ws.merge_cells(f"{data_cell(plan, 'task', 2)}:{data_cell(plan, 'owner', 3)}")


def _no_identity(p: Path) -> None:
    """Everything copied by value into a brand-new workbook (as a copy-paste does)."""
    src = openpyxl.load_workbook(io.BytesIO(filled_bytes()))
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for s in LAYOUT.sheets:
        ws = wb.create_sheet(s.name["zh"])
        for row in src[s.name["zh"]].iter_rows(values_only=True):
            ws.append([v if not (isinstance(v, str) and v.startswith("=")) else None for v in row])
    ledger = LAYOUT.sheet("ledger")
    for i, balance in enumerate((800, 1500)):  # "paste values" keeps what the formulas showed
        wb[ledger.name["zh"]][data_cell(ledger, "balance", i)] = balance
    wb.save(p)


def _huge_dimension(p: Path) -> None:
    def change(n: str, d: bytes) -> bytes:
        if n == "xl/worksheets/sheet3.xml":
            return d.replace(b'<dimension ref="A1:', b'<dimension ref="A1:XFD1048576" x="', 1)
        return d
    p.write_bytes(_rezip(filled_bytes(), change))


def _far_cell(p: Path) -> None:
    """One value in the last cell of the sheet: the sheet claims a million rows × 16k columns."""
    wb = openpyxl.load_workbook(io.BytesIO(filled_bytes()))
    wb[LAYOUT.sheet("entries").name["zh"]]["XFD1048576"] = "远处的值"
    wb.save(p)


def _empty_tables(wb: openpyxl.Workbook) -> None:
    for s in LAYOUT.tables:
        ws = wb[s.name["zh"]]
        for row in ws.iter_rows(min_row=3, max_col=len(s.fields)):
            for c in row:
                if c.data_type != "f":
                    c.value = None


def _text_numbers(wb: openpyxl.Workbook) -> None:
    ledger, info = LAYOUT.sheet("ledger"), LAYOUT.sheet("info")
    ws = wb[ledger.name["zh"]]
    ws[data_cell(ledger, "income", 0)] = "１，２００元"
    ws[data_cell(ledger, "date", 0)] = "2025年1月5日"
    wb[info.name["zh"]][form_cell(info, "members")] = "86人"


def _sparse_huge(p: Path) -> None:
    with p.open("wb") as fh:
        fh.write(b"PK\x03\x04")
        fh.truncate(101 * 1024 * 1024)  # sparse: takes no disk space


def _zip_slip(p: Path) -> None:
    p.write_bytes(_rezip(filled_bytes(), lambda n, d: d, {"../../../evil.txt": b"owned"}))


def _truncated_cd(p: Path) -> None:
    data = filled_bytes()
    p.write_bytes(data[:-30])


def _missing_workbook_part(p: Path) -> None:
    p.write_bytes(_rezip(template_bytes(), lambda n, d: None if n == "xl/workbook.xml" else d))


def _bad_deflate(p: Path) -> None:
    data = bytearray(template_bytes())
    i = data.find(b"xl/worksheets/sheet6.xml")
    for k in range(i + 60, i + 400):
        data[k] = (data[k] * 7 + 3) % 256
    p.write_bytes(bytes(data))


def _wrong_year_info(wb: openpyxl.Workbook) -> None:
    info = LAYOUT.sheet("info")
    wb[info.name["zh"]][form_cell(info, "year")] = "二〇二五"


CASES: list[Case] = [
    Case("empty.xlsx", _write(b""), 2, ("empty_file",)),
    Case("truncated.xlsx", lambda p: p.write_bytes(template_bytes()[:9000]), 2, ("unreadable_file",)),
    Case("truncated_end.xlsx", _truncated_cd, 2, ("unreadable_file",)),
    Case("corrupt_zip.xlsx", _write(b"PK\x03\x04" + bytes(range(256)) * 40), 2, ("unreadable_file",)),
    Case("corrupt_deflate.xlsx", _bad_deflate, 2, ("unreadable_file",)),
    Case("random_bytes.xlsx", _write(bytes((i * 7919) % 251 for i in range(20000))), 2, ("unreadable_file",)),
    Case("csv_utf8.xlsx", _write("单位代码,单位名称\nXQ001,第一小学\n".encode()), 2, ("wrong_format",)),
    Case("csv_gbk.xlsx", _write("日期,摘要,收入\n2025-1-1,会费,100\n".encode("gbk")), 2, ("wrong_format",)),
    Case("csv_utf16.xlsx", _write("日期\t摘要\n2025-1-1\t会费\n".encode("utf-16")), 2, ("wrong_format",)),
    Case("html.xlsx", _write(b"<html><body><table><tr><td>1</td></tr></table></body></html>"), 2, ("wrong_format",)),
    Case("xml2003.xlsx", _write(b'<?xml version="1.0"?><Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet"/>'), 2, ("wrong_format",)),
    Case("plain.txt", _write("这是一个说明文件。".encode()), 2, ("wrong_format",)),
    Case("wps.et", _write(badfiles.ole_bytes(["Root Entry", "Workbook", "WpsCustomData"])), 2, ("wrong_format",)),
    Case("encrypted.xlsx", _encrypted, 2, ("encrypted_file",)),
    Case("word.doc.xlsx", _write(badfiles.ole_bytes(["Root Entry", "WordDocument", "1Table"])), 2, ("wrong_format",)),
    Case("docx.xlsx", _write(_rezip(template_bytes(), lambda n, d: None, {"word/document.xml": b"<w:document/>",
                                                                              "[Content_Types].xml": b"<Types/>"})), 2, ("wrong_format",)),
    Case("no_workbook_part.xlsx", _missing_workbook_part, 2, ("wrong_format",)),
    Case("zip_bomb.xlsx", _zip_bomb, 2, ("unsafe_file",)),
    Case("many_entries.xlsx", _many_entries, 2, ("unsafe_file",)),
    Case("billion_laughs.xlsx", _xml_bomb, 2, ("unsafe_file",)),
    Case("external_entity.xlsx", _external_entity, 2, ("unsafe_file",)),
    Case("huge_sparse.xlsx", _sparse_huge, 2, ("unsafe_file",)),
    Case("other_layout.xlsx", _edit(_set_identity("layout", "county")), 2, ("unknown_layout",)),
    Case("not_ours.xlsx", _edit(lambda wb: [wb.remove(ws) for ws in wb.worksheets[1:]] and None,
                                lambda: _plain_workbook()), 2, ("unknown_layout",)),
    Case("older_version.xlsx", _edit(_set_identity("layout_version", "0")), 0, ("layout_version",), True),
    Case("macros.xlsm", _xlsm, 0, ("macros_present",), True),
    Case("zip_slip_member.xlsx", _zip_slip, 0, (), True),
    Case("sheets_renamed.xlsx", _edit(_rename_all), 0, (), True),
    Case("sheets_reordered.xlsx", _edit(_reorder), 0, (), True),
    Case("sheet_deleted.xlsx", _edit(_delete), 1, ("missing_sheet",), True),
    Case("header_edited.xlsx", _edit(_edit_header), 1, ("missing_column", "extra_column"), True),
    Case("formula_typed_over.xlsx", _edit(_overwrite_formula), 1, ("formula_overwritten",), True),
    Case("cell_100k_chars.xlsx", _edit(_long_cell), 1, ("too_long",), True),
    Case("merged_cells.xlsx", _edit(_merged_cells), 0, (), True),
    Case("every_table_empty.xlsx", _edit(_empty_tables), 0, (), True),
    Case("no_identity.xlsx", _no_identity, 0, ("no_identity",), True),
    Case("huge_dimension.xlsx", _huge_dimension, 0, (), True),
    Case("far_away_cell.xlsx", _far_cell, 1, ("sheet_too_large",), True),
    Case("numbers_as_text.xlsx", _edit(_text_numbers), 0, ("stored_as_text",), True),
    Case("year_in_words.xlsx", _edit(_wrong_year_info), 1, ("not_a_number",), True),
    Case("名字 有空格#和中文.xlsx", lambda p: p.write_bytes(filled_bytes()), 0, (), True),
    # DTDs hidden from a naive look at the start of a part
    Case("dtd_after_comment.xlsx", lambda p: badfiles.dtd_after_comment(p.parent, p.name) and None, 2, ("unsafe_file",)),
    Case("dtd_after_padding.xlsx", lambda p: badfiles.dtd_after_padding(p.parent, p.name) and None, 2, ("unsafe_file",)),
    Case("dtd_in_utf16_part.xlsx", lambda p: badfiles.dtd_in_utf16_part(p.parent, p.name) and None, 2, ("unsafe_file",)),
]


def _plain_workbook() -> bytes:
    wb = openpyxl.Workbook()
    wb.active.append(["姓名", "电话"])
    wb.active.append(["张三", "123"])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def build_corpus(folder: Path) -> dict[str, Case]:
    """Write every case into ``folder``; return them by file name."""
    folder.mkdir(parents=True, exist_ok=True)
    for case in CASES:
        case.build(folder / case.name)
    return {c.name: c for c in CASES}


if __name__ == "__main__":
    import sys

    target = Path(sys.argv[1] if len(sys.argv) > 1 else "corpus")
    build_corpus(target)
    print(f"{len(CASES)} files in {target}")
