"""sniff(): what a file is, decided by content before any spreadsheet library touches it.

Every file comes from tests/badfiles.py. Each case checks the kind, the problem's
code and severity, that the problem is file-level, that both messages name the
file, and that sniff() answered quickly without raising.
"""

from __future__ import annotations

import io
import os
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

import badfiles
from sheetplan.problems import CATALOGUE
from sheetplan.reading.sniff import (
    MAX_FILE_BYTES,
    MAX_RATIO,
    MAX_UNCOMPRESSED_BYTES,
    MAX_ZIP_ENTRIES,
    Sniffed,
    is_ignored_name,
    prolog_verdict,
    sniff,
)

# Every case takes milliseconds; a guard that read a bomb would take far longer.
TIME_LIMIT = 2.0


def timed_sniff(path: Path, display_name: str | None = None) -> Sniffed:
    """sniff() that must neither raise nor take long."""
    start = time.monotonic()
    try:
        result = sniff(path, display_name)
    except Exception as exc:  # the contract is "never raises": report it as a failure, not an error
        pytest.fail(f"sniff({path.name}) raised {exc!r}")
    elapsed = time.monotonic() - start
    assert elapsed < TIME_LIMIT, f"sniff({path.name}) took {elapsed:.2f} s"
    return result


@dataclass(frozen=True)
class Case:
    build: Callable[[Path], Path]
    kind: str | None
    code: str | None = None
    words: tuple[tuple[str, str], ...] = ()  # (in the Chinese message, in the English message)

    @property
    def severity(self) -> str | None:
        return CATALOGUE[self.code][0] if self.code else None


SAVE_AS = ("另存为 .xlsx", "save it as an .xlsx")
USE_WORKBOOK = ("学校填写的工作簿", "the workbook the school filled in")
RENAMED = ("只是扩展名改成了", "with the extension")
DAMAGED = ("损坏或不完整", "damaged or incomplete")
BOMB = ("压缩炸弹", "zip bomb")
DTD = ("DTD", "DTD")

CASES = {
    # readable
    "xlsx": Case(badfiles.xlsx, "xlsx"),
    "xlsm": Case(badfiles.xlsm, "xlsm", "macros_present", (("宏不会运行", "never run"),)),
    "xlsm_content_type_only": Case(badfiles.xlsm_content_type_only, "xlsm", "macros_present"),
    "xlsm_vba_part_only": Case(badfiles.xlsm_vba_part_only, "xlsm", "macros_present"),
    "ods": Case(badfiles.ods, "ods"),
    "xls": Case(badfiles.ole_xls, "xls"),
    "xls_biff5": Case(badfiles.ole_xls_biff5, "xls"),
    "huge_line_part": Case(badfiles.huge_line, "xlsx"),
    "dtd_text_after_root": Case(badfiles.dtd_text_after_root, "xlsx"),
    # not a path to a file
    "missing": Case(badfiles.missing, None, "unreadable_file", (("无法打开", "cannot be opened"),)),
    "directory": Case(badfiles.directory, None, "unreadable_file", (("无法打开", "cannot be opened"),)),
    "empty": Case(badfiles.empty, None, "empty_file", (("0 字节", "0 bytes"), ("重新保存", "Save it again"))),
    "too_large": Case(badfiles.too_large, None, "unsafe_file", (("100 MB", "100 MB"),)),
    # zips that are not (whole) workbooks
    "truncated": Case(badfiles.truncated, None, "unreadable_file", (DAMAGED, SAVE_AS)),
    "bad_deflate": Case(badfiles.bad_deflate, None, "unreadable_file", (("损坏", "damaged"), ("xl/workbook.xml", "xl/workbook.xml"))),
    "docx_like": Case(badfiles.docx_like, None, "wrong_format", (("Word 文档", "Word document"), RENAMED, USE_WORKBOOK)),
    "other_zip": Case(badfiles.other_zip, None, "wrong_format", (("压缩包", "zip archive"), RENAMED)),
    "empty_zip": Case(badfiles.empty_zip, None, "wrong_format", (("压缩包", "zip archive"),)),
    "odt": Case(badfiles.odt, None, "wrong_format"),
    # hostile zips
    "zip_bomb_600mb": Case(badfiles.zip_bomb, None, "unsafe_file", (BOMB,)),
    "ratio_bomb": Case(badfiles.ratio_bomb, None, "unsafe_file", (BOMB, (f"{MAX_RATIO}:1", f"{MAX_RATIO}:1"))),
    "declared_size_bomb": Case(badfiles.declared_bomb, None, "unsafe_file", (BOMB,)),
    "many_entries": Case(badfiles.many_entries, None, "unsafe_file", (BOMB,)),
    "billion_laughs": Case(badfiles.billion_laughs, None, "unsafe_file", (DTD, ("xl/workbook.xml", "xl/workbook.xml"))),
    "external_entity_sheet": Case(badfiles.external_entity, None, "unsafe_file", (DTD, ("sheet2.xml", "sheet2.xml"))),
    "external_entity_rels": Case(lambda f: badfiles.external_entity(f, part="xl/_rels/workbook.xml.rels"),
                                 None, "unsafe_file", (DTD, ("workbook.xml.rels", "workbook.xml.rels"))),
    # OLE compound files
    "encrypted": Case(badfiles.ole_encrypted, None, "encrypted_file", (("打开密码", "password"), ("取消密码", "remove"))),
    "encrypted_package_only": Case(badfiles.ole_encrypted_package_only, None, "encrypted_file"),
    "wps_et": Case(badfiles.ole_et, None, "wrong_format", (("WPS 表格", "WPS Spreadsheets"), SAVE_AS)),
    "wps_ett": Case(badfiles.ole_ett, None, "wrong_format", (("WPS 表格", "WPS Spreadsheets"),)),
    "wps_marker": Case(badfiles.ole_wps_marker, None, "wrong_format", (("WPS 表格", "WPS Spreadsheets"),)),
    "ole_doc": Case(badfiles.ole_doc, None, "wrong_format", (("Word 文档", "Word document"), RENAMED, USE_WORKBOOK)),
    # text renamed .xlsx
    "csv_utf8": Case(badfiles.csv_utf8, None, "wrong_format", (("CSV", "CSV"), (".xlsx", ".xlsx"), RENAMED, USE_WORKBOOK)),
    "csv_utf8_bom": Case(badfiles.csv_utf8_bom, None, "wrong_format", (("CSV", "CSV"),)),
    "csv_gbk": Case(badfiles.csv_gbk, None, "wrong_format", (("CSV", "CSV"),)),
    "tsv_gbk": Case(badfiles.tsv_gbk, None, "wrong_format", (("CSV", "CSV"),)),
    "utf16_text": Case(badfiles.utf16_text, None, "wrong_format", (("UTF-16", "UTF-16"),)),
    "plain_text": Case(badfiles.plain_text, None, "wrong_format", (("纯文本", "plain text"),)),
    "html": Case(badfiles.html, None, "wrong_format", (("HTML", "HTML"), RENAMED, SAVE_AS)),
    "html_doctype": Case(badfiles.html_doctype, None, "wrong_format", (("HTML", "HTML"),)),
    "xml_2003": Case(badfiles.xml_spreadsheet_2003, None, "wrong_format", (("XML", "XML"),)),
    # anything else
    "random_bytes": Case(badfiles.random_bytes, None, "unreadable_file", (SAVE_AS,)),
}


def check(result: Sniffed, case: Case, name: str) -> None:
    """The kind and the problem ``case`` expects, file-level and naming ``name`` in both languages."""
    assert result.kind == case.kind
    if case.code is None:
        assert result.problem is None, result.problem
        return
    p = result.problem
    assert p is not None
    assert (p.code, p.severity) == (case.code, case.severity), p
    assert (p.file, p.sheet, p.cell, p.row) == (name, None, None, None)
    assert name in p.message_zh and name in p.message_en, p
    for zh, en in case.words:
        assert zh in p.message_zh, p.message_zh
        assert en in p.message_en, p.message_en


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_each_file_gets_its_kind_and_problem(tmp_path, case):
    path = case.build(tmp_path)
    check(timed_sniff(path), case, path.name)


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_keeping_the_zip_changes_no_verdict(tmp_path, case):
    """The reader's sniff(keep=True) reads some parts whole instead of glancing at them: same answer."""
    path = case.build(tmp_path)
    kept = sniff(path, keep=True)
    try:
        check(kept, case, path.name)
        if kept.zip is None:
            assert kept.data is None
            return
        assert kept.kind in ("xlsx", "xlsm") and kept.data == path.read_bytes()
        with zipfile.ZipFile(path) as fresh:
            assert kept.zip.whole_parts, "the worksheets and workbook parts are kept"
            for part, content in kept.zip.whole_parts.items():
                assert content == fresh.read(part), part
    finally:
        if kept.zip is not None:
            kept.zip.close()


def test_a_damaged_worksheet_is_found_when_it_is_read_whole(tmp_path):
    """A worksheet whose bytes were changed after zipping: its checksum no longer matches."""
    good = badfiles.xlsx(tmp_path)
    raw = bytearray(good.read_bytes())
    with zipfile.ZipFile(good) as zf:
        info = next(i for i in zf.infolist() if i.filename.startswith("xl/worksheets/"))
    # The stored data starts after the 30-byte local header, the name and the extra field.
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    raw[start + info.compress_size // 2] ^= 0xFF
    bad = tmp_path / "damaged.xlsx"
    bad.write_bytes(bytes(raw))
    kept = sniff(bad, keep=True)
    assert kept.kind is None and kept.zip is None
    assert kept.problem is not None and kept.problem.code == "unreadable_file"


def test_the_display_name_is_what_messages_use(tmp_path):
    path = badfiles.csv_gbk(tmp_path)
    shown = "第三小学/2025年工会台账.xlsx"
    result = timed_sniff(path, shown)
    check(result, CASES["csv_gbk"], shown)
    assert path.name not in result.problem.message_zh


def test_the_warning_for_macros_also_uses_the_display_name(tmp_path):
    result = timed_sniff(badfiles.xlsm(tmp_path), "某校.xlsm")
    check(result, CASES["xlsm"], "某校.xlsm")


@pytest.mark.parametrize("name", ["报表.xls", "报表.csv", "报表.ods", "报表"])
def test_the_extension_does_not_decide(tmp_path, name):
    assert timed_sniff(badfiles.xlsx(tmp_path, name)) == Sniffed("xlsx")


def test_an_old_xls_renamed_xlsx_is_still_an_xls(tmp_path):
    assert timed_sniff(badfiles.ole_xls(tmp_path, "旧版改名.xlsx")) == Sniffed("xls")


def test_the_hand_made_ods_is_a_real_spreadsheet(tmp_path):
    from python_calamine import CalamineWorkbook

    path = badfiles.ods(tmp_path)
    with zipfile.ZipFile(path) as z:
        first = z.infolist()[0]
    assert (first.filename, first.compress_type) == ("mimetype", zipfile.ZIP_STORED)
    assert CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python() == [["姓名"]]


def test_the_xlsm_is_still_a_zip_calamine_can_open(tmp_path):
    from python_calamine import CalamineWorkbook

    assert CalamineWorkbook.from_path(str(badfiles.xlsm(tmp_path))).sheet_names


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads any file")
def test_a_file_without_read_permission(tmp_path):
    path = badfiles.unreadable(tmp_path)
    try:
        check(timed_sniff(path), Case(badfiles.unreadable, None, "unreadable_file"), path.name)
    finally:
        os.chmod(path, 0o600)


def test_a_small_part_that_compresses_well_is_not_a_bomb(tmp_path):
    # Ratio alone is no crime: a 900 kB blank sheet compresses far over 200:1 and stays under 1 MB.
    data = badfiles.rezip(badfiles.xlsx_bytes(), extra={"xl/media/blank.bin": bytes(900 * 1024)})
    path = tmp_path / "空白多.xlsx"
    path.write_bytes(data)
    assert timed_sniff(path) == Sniffed("xlsx")


def test_a_part_that_lies_about_its_size_is_read_only_as_far_as_it_claims(tmp_path):
    # 8 MB of XML declared as 200 bytes: the bounded read stops at the claim and the CRC then fails.
    data = bytearray(badfiles.rezip(badfiles.xlsx_bytes(), lambda n, d: (
        d.replace(b"</worksheet>", b"<!--" + b"x" * (8 * badfiles.MB) + b"--></worksheet>") if n == "xl/worksheets/sheet1.xml" else d)))
    target = b"xl/worksheets/sheet1.xml"
    pos = data.find(b"PK\x01\x02")
    while data[pos + 46:pos + 46 + len(target)] != target:
        pos = data.find(b"PK\x01\x02", pos + 4)
    data[pos + 24:pos + 28] = (200).to_bytes(4, "little")
    path = tmp_path / "谎报.xlsx"
    path.write_bytes(bytes(data))
    check(timed_sniff(path), Case(badfiles.xlsx, None, "unreadable_file", (("损坏", "damaged"),)), path.name)


def test_the_limits_are_the_documented_ones():
    assert MAX_FILE_BYTES == 100 * 1024 * 1024
    assert MAX_ZIP_ENTRIES == 10_000
    assert MAX_UNCOMPRESSED_BYTES == 500 * 1024 * 1024
    assert MAX_RATIO == 200


@pytest.mark.parametrize("name", ["~$台账.xlsx", ".~lock.台账.xlsx#", ".DS_Store", "._台账.xlsx", ".hidden.xlsx"])
def test_temporary_and_hidden_files_are_ignored(name):
    assert is_ignored_name(name)


@pytest.mark.parametrize("name", ["台账.xlsx", "a~$b.xlsx", "台账.~lock.xlsx", "~台账.xlsx", "$台账.xlsx"])
def test_ordinary_names_are_not_ignored(name):
    assert not is_ignored_name(name)


def test_sniff_accepts_a_str_path(tmp_path):
    assert timed_sniff(str(badfiles.xlsx(tmp_path))) == Sniffed("xlsx")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- DTDs hidden from a naive scan


def test_a_dtd_after_a_comment_holding_a_tag(tmp_path):
    check(timed_sniff(badfiles.dtd_after_comment(tmp_path)), Case(badfiles.dtd_after_comment, None, "unsafe_file"),
          "注释后DTD.xlsx")


def test_a_dtd_after_more_than_64_kib_of_blanks(tmp_path):
    check(timed_sniff(badfiles.dtd_after_padding(tmp_path)), Case(badfiles.dtd_after_padding, None, "unsafe_file"),
          "空白后DTD.xlsx")


def test_a_dtd_in_a_utf16_part(tmp_path):
    check(timed_sniff(badfiles.dtd_in_utf16_part(tmp_path)), Case(badfiles.dtd_in_utf16_part, None, "unsafe_file"),
          "UTF16部件.xlsx")


@pytest.mark.parametrize("encoding", ["utf-8", "gbk"])
def test_a_long_csv_is_a_csv_wherever_the_head_cuts_it(tmp_path, encoding):
    for shift in range(4):
        path = badfiles.csv_long(tmp_path, encoding, shift, f"长台账{shift}.xlsx")
        check(timed_sniff(path), CASES["csv_utf8"], path.name)


def test_the_bad_files_are_what_they_claim():
    # Guard the generators themselves: a bomb that is not a bomb would make its test pass for nothing.
    with zipfile.ZipFile(io.BytesIO(badfiles.rezip(badfiles.xlsx_bytes()))) as z:
        assert {"[Content_Types].xml", "xl/workbook.xml"} <= set(z.namelist())
    assert badfiles.BILLION_LAUGHS.count(b"<!ENTITY") == 10


def test_a_word_document_that_mentions_book_stays_a_document(tmp_path):
    # The word may stand anywhere in a document's text; only a directory entry named Book makes a workbook.
    data = badfiles.ole_bytes(["Root Entry", "WordDocument", "1Table"]) + "Book and Workbook".encode("utf-16-le") * 50
    path = tmp_path / "书单.xls"
    path.write_bytes(data)
    check(timed_sniff(path), CASES["ole_doc"], path.name)


def test_a_zip_that_declares_too_many_parts_is_refused_before_its_index_is_read(tmp_path):
    data = bytearray(badfiles.xlsx_bytes())
    at = data.rfind(b"PK\x05\x06")
    data[at + 8:at + 12] = (MAX_ZIP_ENTRIES + 1).to_bytes(2, "little") * 2
    path = tmp_path / "部件过多.xlsx"
    path.write_bytes(bytes(data))
    check(timed_sniff(path), Case(badfiles.xlsx, None, "unsafe_file", ((str(MAX_ZIP_ENTRIES + 1), str(MAX_ZIP_ENTRIES + 1)),)),
          path.name)


@pytest.mark.parametrize(("head", "verdict"), [
    (b'<?xml version="1.0"?>\n<worksheet/>', "root"),
    (b"\xef\xbb\xbf<?xml version='1.0'?><!-- <a --><!DOCTYPE x [<!ENTITY a 'b'>]><x/>", "dtd"),
    (b"<!-- comment --><?pi x?>  <root>", "root"),
    (b"<!-- never closed " + b"x" * 100, "unknown"),
    (b" " * 100, "root"),
    ('<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE x><x/>'.encode("utf-16"), "dtd"),
    ('<!DOCTYPE x><x/>'.encode("utf-16-be"), "dtd"),
    ('<x/>'.encode("utf-16-le"), "root"),
    (b"<\x00\x00\x00!\x00\x00\x00", "unknown"),
])
def test_prolog_verdicts(head, verdict):
    assert prolog_verdict(head) == verdict


# --------------------------------------------------------------------------- issue point 18: advice that fits


# (builder, file name, what the message must say, what it must not say); zh and en for each.
NAMED_FOR_WHAT_IT_IS = {
    "roster_csv": (badfiles.csv_utf8, "roster.csv", [("是 CSV 文件，不是工作簿", "is a CSV file, not a workbook"), USE_WORKBOOK]),
    "gbk_csv": (badfiles.csv_gbk, "台账.csv", [("是 CSV 文件，不是工作簿", "is a CSV file, not a workbook"), USE_WORKBOOK]),
    "txt": (badfiles.plain_text, "说明.txt", [("是文本文件，不是工作簿", "is a text file, not a workbook"), USE_WORKBOOK]),
    "utf16_txt": (badfiles.utf16_text, "导出.txt", [("UTF-16", "UTF-16"), USE_WORKBOOK]),
    "docx": (badfiles.docx_like, "通知.docx", [("是 Word 文档，不是工作簿", "is a Word document, not a workbook"), USE_WORKBOOK]),
    "doc": (badfiles.ole_doc, "通知.doc", [("Word 文档", "Word document"), USE_WORKBOOK]),
    "odt": (badfiles.odt, "通知.odt", [("OpenDocument", "OpenDocument"), USE_WORKBOOK]),
    "html": (badfiles.html, "网页.html", [("是网页（HTML），不是工作簿", "is a web page (HTML), not a workbook"), USE_WORKBOOK]),
    "xml": (badfiles.xml_spreadsheet_2003, "表格.xml", [("XML 表格 2003", "XML Spreadsheet 2003"), SAVE_AS]),
    "zip": (badfiles.other_zip, "材料.zip", [("是压缩包，不是工作簿", "is a zip archive, not a workbook"), ("请先解压", "Unzip it first")]),
}


@pytest.mark.parametrize("case", NAMED_FOR_WHAT_IT_IS.values(), ids=NAMED_FOR_WHAT_IT_IS.keys())
def test_a_file_named_for_what_it_is_is_not_told_it_was_renamed(tmp_path, case):
    """Issue point 18: a real roster.csv, a .txt, a .docx … are named for what they are: the message says what the
    file is and gives advice that fits it (never "renamed", never "open the Word document in Excel")."""
    build, name, words = case
    path = build(tmp_path, name=name)
    p = timed_sniff(path).problem
    assert p is not None and p.code == "wrong_format"
    for zh, en in words:
        assert zh in p.message_zh and en in p.message_en, (p.message_zh, p.message_en)
    assert "扩展名" not in p.message_zh and "extension" not in p.message_en, p.message_zh
    if build is not badfiles.xml_spreadsheet_2003:  # Excel opens XML Spreadsheet 2003 and saves a workbook; the others it cannot
        assert "另存为" not in p.message_zh and "save it as" not in p.message_en, p.message_zh


@pytest.mark.parametrize(("build", "suffix"), [
    (badfiles.csv_utf8, ".xlsx"), (badfiles.csv_gbk, ".xls"), (badfiles.plain_text, ".ods"), (badfiles.docx_like, ".xlsm"),
    (badfiles.html, ".xls"), (badfiles.ole_doc, ".xls"),
])
def test_renamed_only_when_the_extension_claims_a_workbook(tmp_path, build, suffix):
    """Issue point 18: the "renamed" message comes only for an extension that claims a workbook, and it names it."""
    p = timed_sniff(build(tmp_path, name=f"报送{suffix}")).problem
    assert p is not None and p.code == "wrong_format"
    assert f"只是扩展名改成了 {suffix}" in p.message_zh and f"with the extension {suffix}" in p.message_en, p.message_zh


def test_a_web_page_renamed_xls_is_told_to_save_as_and_a_csv_is_not(tmp_path):
    """Issue point 18: advice by what the file is. Excel opens a web page exported as .xls and saves it as a workbook;
    a CSV holds at most one table of the workbook, so its advice is the school's workbook, not "save as"."""
    page = timed_sniff(badfiles.html(tmp_path, name="导出.xls")).problem
    csv = timed_sniff(badfiles.csv_utf8(tmp_path, name="台账.xlsx")).problem
    assert page is not None and csv is not None
    assert SAVE_AS[0] in page.message_zh and SAVE_AS[1] in page.message_en
    assert SAVE_AS[0] not in csv.message_zh and USE_WORKBOOK[0] in csv.message_zh and USE_WORKBOOK[1] in csv.message_en


def test_a_roster_among_the_workbooks_is_pointed_to_roster(tmp_path):
    """Issue point 18: the district's own roster (单位代码,单位名称) found among the files is a CSV file, and the
    message says what to do with a roster."""
    roster = tmp_path / "roster.csv"
    roster.write_text("单位代码,单位名称\nXQ001,新桥区第一实验小学\n", encoding="utf-8-sig")
    p = timed_sniff(roster).problem
    assert p is not None and p.code == "wrong_format"
    assert "是 CSV 文件，不是工作簿" in p.message_zh and "--roster" in p.message_zh and "--roster" in p.message_en
    assert "扩展名" not in p.message_zh


@pytest.mark.parametrize(("head", "zh", "en"), [
    (b"%PDF-1.7\n", "PDF", "PDF"), (b"\x89PNG\r\n\x1a\n", "图片", "picture"), (b"\xff\xd8\xff\xe0", "图片", "picture"),
    (b"Rar!\x1a\x07\x00", "压缩包", "archive"),
])
def test_pdfs_pictures_and_archives_are_named(tmp_path, head, zh, en):
    """Issue point 18: the files people send instead of a workbook are named for what they are, by content."""
    for name in ("扫描件.bin", "报送.xlsx"):
        path = tmp_path / name
        path.write_bytes(head + bytes(200))
        p = timed_sniff(path).problem
        assert p is not None and p.code == "wrong_format"
        assert zh in p.message_zh and en in p.message_en
        assert ("扩展名" in p.message_zh) == name.endswith(".xlsx")


def test_an_xlsb_is_told_to_save_as_xlsx(tmp_path):
    """Issue point 18: Excel's binary workbook is a workbook Excel saves as .xlsx in one step."""
    path = tmp_path / "台账.xlsb"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/workbook.bin", b"\x83\x01\x00")
    p = timed_sniff(path).problem
    assert p is not None and p.code == "wrong_format"
    assert ".xlsb" in p.message_zh and SAVE_AS[0] in p.message_zh and SAVE_AS[1] in p.message_en
