"""Good and bad files for the sniffer, built in code: one small function per kind.

Each builder takes a folder, writes one file into it and returns its path.
Nothing binary is committed; the largest file written is the 600 MB zip bomb,
which streams zeros through deflate and ends up well under 1 MB on disk.
"""

from __future__ import annotations

import codecs
import functools
import io
import os
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path

from sheetplan.layout import load_layout
from sheetplan.write import Org, write_template

MB = 1024 * 1024
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
MACRO_TYPE = b"application/vnd.ms-excel.sheet.macroEnabled.main+xml"
PLAIN_TYPE = b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
EXTERNAL_ENTITY = b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10) for i in range(1, 10))
    + b']><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">&lol9;</workbook>'
)
CSV_ROWS = ["日期,摘要,收支科目,收入", "2025-01-05,会费,会费收入,800", "2025-02-05,慰问,慰问支出,300"]


@functools.lru_cache(maxsize=1)
def xlsx_bytes() -> bytes:
    """A real template workbook, written once per test session."""
    buf = io.BytesIO()
    write_template(load_layout("school"), Org("测试小学", "T001", 2025), buf)
    return buf.getvalue()


def rezip(src: bytes, change: Callable[[str, bytes], bytes] | None = None, extra: dict[str, bytes] | None = None) -> bytes:
    """``src`` re-zipped with each part passed through ``change`` and ``extra`` parts added."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(src)) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            zout.writestr(info.filename, change(info.filename, data) if change else data)
        for name, data in (extra or {}).items():
            zout.writestr(name, data)
    return out.getvalue()


def _write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def _with_part(folder: Path, name: str, part: str, edit: Callable[[bytes], bytes]) -> Path:
    return _write(folder, name, rezip(xlsx_bytes(), lambda n, d: edit(d) if n == part else d))


def _after_declaration(extra: bytes) -> Callable[[bytes], bytes]:
    """Insert ``extra`` right after the ``<?xml …?>`` declaration (where a DTD goes)."""
    return lambda d: d.replace(b"?>", b"?>" + extra, 1)


# --------------------------------------------------------------------------- readable workbooks


def xlsx(folder: Path, name: str = "测试小学.xlsx") -> Path:
    return _write(folder, name, xlsx_bytes())


def xlsm(folder: Path, name: str = "宏.xlsm") -> Path:
    """Macro-enabled content type and a VBA project part, as Excel saves it."""
    def change(n: str, d: bytes) -> bytes:
        return d.replace(PLAIN_TYPE, MACRO_TYPE) if n == "[Content_Types].xml" else d
    vba = OLE_MAGIC + b'Sub AutoOpen()\r\nShell "calc"\r\nEnd Sub'
    return _write(folder, name, rezip(xlsx_bytes(), change, {"xl/vbaProject.bin": vba}))


def xlsm_content_type_only(folder: Path, name: str = "宏类型.xlsx") -> Path:
    def change(n: str, d: bytes) -> bytes:
        return d.replace(PLAIN_TYPE, MACRO_TYPE) if n == "[Content_Types].xml" else d
    return _write(folder, name, rezip(xlsx_bytes(), change))


def xlsm_vba_part_only(folder: Path, name: str = "宏部件.xlsx") -> Path:
    return _write(folder, name, rezip(xlsx_bytes(), extra={"xl/vbaProject.bin": OLE_MAGIC}))


def _ods_zip(mimetype: bytes) -> bytes:
    # ODF wants ``mimetype`` first and stored, so its text sits at a fixed offset.
    content = (
        b'<?xml version="1.0" encoding="UTF-8"?>'
        b'<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"'
        b' xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"'
        b' xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
        b'<office:body><office:spreadsheet><table:table table:name="Sheet1"><table:table-row>'
        b'<table:table-cell office:value-type="string"><text:p>\xe5\xa7\x93\xe5\x90\x8d</text:p></table:table-cell>'
        b"</table:table-row></table:table></office:spreadsheet></office:body></office:document-content>"
    )
    manifest = (
        b'<?xml version="1.0" encoding="UTF-8"?>'
        b'<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
        b'<manifest:file-entry manifest:full-path="/" manifest:media-type="' + mimetype + b'"/>'
        b'<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
        b"</manifest:manifest>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("mimetype", mimetype, compress_type=zipfile.ZIP_STORED)
        z.writestr("content.xml", content, compress_type=zipfile.ZIP_DEFLATED)
        z.writestr("META-INF/manifest.xml", manifest, compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def ods(folder: Path, name: str = "表格.ods") -> Path:
    return _write(folder, name, _ods_zip(b"application/vnd.oasis.opendocument.spreadsheet"))


def odt(folder: Path, name: str = "文档.ods") -> Path:
    return _write(folder, name, _ods_zip(b"application/vnd.oasis.opendocument.text"))


def ole_bytes(names: list[str]) -> bytes:
    """OLE magic, a header sector, then one directory sector of 128-byte entries naming ``names``.

    Not a complete compound file: enough for a sniffer that looks for stream names.
    """
    entries = b""
    for n in names:
        raw = n.encode("utf-16-le") + b"\0\0"
        entries += raw.ljust(64, b"\0") + struct.pack("<H", len(raw)) + b"\x02" + b"\0" * 61
    return OLE_MAGIC + b"\0" * 504 + entries.ljust(512, b"\0") + b"\0" * 1024


def ole_encrypted(folder: Path, name: str = "加密.xlsx") -> Path:
    """What Excel writes for an .xlsx with a password to open: an OLE file, not a zip."""
    return _write(folder, name, ole_bytes(["Root Entry", "EncryptionInfo", "EncryptedPackage", "\x06DataSpaces"]))


def ole_encrypted_package_only(folder: Path, name: str = "加密2.xlsx") -> Path:
    return _write(folder, name, ole_bytes(["Root Entry", "EncryptedPackage"]))


def ole_et(folder: Path, name: str = "WPS表格.et") -> Path:
    return _write(folder, name, ole_bytes(["Root Entry", "Workbook"]))


def ole_ett(folder: Path, name: str = "WPS模板.ett") -> Path:
    return _write(folder, name, ole_bytes(["Root Entry", "Workbook"]))


def ole_wps_marker(folder: Path, name: str = "WPS另存.xls") -> Path:
    return _write(folder, name, ole_bytes(["Root Entry", "Workbook", "WpsCustomData"]))


def ole_xls(folder: Path, name: str = "旧版.xls") -> Path:
    return _write(folder, name, ole_bytes(["Root Entry", "Workbook", "\x05SummaryInformation"]))


def ole_xls_biff5(folder: Path, name: str = "更旧版.xls") -> Path:
    return _write(folder, name, ole_bytes(["Root Entry", "Book"]))


def ole_doc(folder: Path, name: str = "文档.xls") -> Path:
    return _write(folder, name, ole_bytes(["Root Entry", "WordDocument", "1Table"]))


# --------------------------------------------------------------------------- not a workbook


def empty(folder: Path, name: str = "空.xlsx") -> Path:
    return _write(folder, name, b"")


def truncated(folder: Path, name: str = "半截.xlsx") -> Path:
    data = xlsx_bytes()
    return _write(folder, name, data[: len(data) // 2])


def random_bytes(folder: Path, name: str = "乱码.xlsx") -> Path:
    # Fixed bytes that are neither text nor a known magic: random.randbytes would be flaky on a lucky "PK".
    data = bytes((i * 131 + 7) % 256 for i in range(4096))
    assert not data.startswith((b"PK", OLE_MAGIC[:4]))
    return _write(folder, name, b"\x89\xff\x00\x13" + data)


def csv_utf8(folder: Path, name: str = "台账.xlsx") -> Path:
    return _write(folder, name, "\n".join(CSV_ROWS).encode("utf-8"))


def csv_utf8_bom(folder: Path, name: str = "台账BOM.xlsx") -> Path:
    return _write(folder, name, codecs.BOM_UTF8 + "\n".join(CSV_ROWS).encode("utf-8"))


def csv_gbk(folder: Path, name: str = "台账GBK.xlsx") -> Path:
    return _write(folder, name, "\r\n".join(CSV_ROWS).encode("gbk"))


def tsv_gbk(folder: Path, name: str = "台账TSV.xlsx") -> Path:
    return _write(folder, name, "\r\n".join(r.replace(",", "\t") for r in CSV_ROWS).encode("gbk"))


def csv_long(folder: Path, encoding: str, shift: int, name: str = "长台账.xlsx") -> Path:
    """A CSV over 4 KiB of Chinese text; ``shift`` moves where a fixed-size head cuts a character."""
    rows = "x" * shift + "\n".join(f"{i},张三李四王五,工会经费支出,{i * 10}" for i in range(300))
    return _write(folder, name, rows.encode(encoding))


def plain_text(folder: Path, name: str = "说明.xlsx") -> Path:
    return _write(folder, name, "请各校于月底前报送。\n谢谢配合。\n".encode())


def utf16_text(folder: Path, name: str = "Unicode文本.xlsx") -> Path:
    # What Excel's "Unicode text" save writes: UTF-16LE with a BOM, tab separated.
    return _write(folder, name, codecs.BOM_UTF16_LE + "姓名\t电话\r\n张三\t123\r\n".encode("utf-16-le"))


def html(folder: Path, name: str = "网页.xlsx") -> Path:
    page = '<html xmlns:o="urn:schemas-microsoft-com:office:office"><body><table><tr><td>张三</td></tr></table></body></html>'
    return _write(folder, name, page.encode())


def html_doctype(folder: Path, name: str = "网页2.xlsx") -> Path:
    return _write(folder, name, b"\xef\xbb\xbf<!DOCTYPE html>\n<html><body><table></table></body></html>")


def xml_spreadsheet_2003(folder: Path, name: str = "XML表格.xlsx") -> Path:
    return _write(folder, name, b'<?xml version="1.0"?>\n<?mso-application progid="Excel.Sheet"?>\n'
                                b'<Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet"></Workbook>')


def docx_like(folder: Path, name: str = "通知.xlsx") -> Path:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", b'<?xml version="1.0"?><Types/>')
        z.writestr("_rels/.rels", b'<?xml version="1.0"?><Relationships/>')
        z.writestr("word/document.xml", b'<?xml version="1.0"?><w:document xmlns:w="urn:w"/>')
    return _write(folder, name, out.getvalue())


def other_zip(folder: Path, name: str = "材料.xlsx") -> Path:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("照片/合影.jpg", b"\xff\xd8\xff\xe0" + b"\0" * 100)
        z.writestr("名单.txt", "张三\n李四\n".encode())
    return _write(folder, name, out.getvalue())


def empty_zip(folder: Path, name: str = "空压缩包.xlsx") -> Path:
    out = io.BytesIO()
    zipfile.ZipFile(out, "w").close()  # just an end-of-central-directory record: starts with PK\x05\x06
    return _write(folder, name, out.getvalue())


def bad_deflate(folder: Path, name: str = "坏部件.xlsx") -> Path:
    """A zip whose directory is fine but whose workbook part does not inflate."""
    data = bytearray(xlsx_bytes())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as z:
        info = z.getinfo("xl/workbook.xml")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    for k in range(start, start + min(info.compress_size, 64)):
        data[k] = 0xFF  # 0xFF opens a deflate block of the reserved type 3: an error on the first read
    return _write(folder, name, bytes(data))


def too_large(folder: Path, name: str = "超大.xlsx") -> Path:
    """101 MB, sparse: the size alone must refuse it (it takes no disk space)."""
    path = folder / name
    with path.open("wb") as fh:
        fh.write(b"PK\x03\x04")
        fh.truncate(101 * MB)
    return path


def missing(folder: Path, name: str = "不存在.xlsx") -> Path:
    return folder / name


def directory(folder: Path, name: str = "文件夹.xlsx") -> Path:
    path = folder / name
    path.mkdir()
    return path


def unreadable(folder: Path, name: str = "无权限.xlsx") -> Path:
    path = xlsx(folder, name)
    os.chmod(path, 0)
    return path


# --------------------------------------------------------------------------- hostile


def _copy_workbook_into(z: zipfile.ZipFile) -> None:
    with zipfile.ZipFile(io.BytesIO(xlsx_bytes())) as zin:
        for info in zin.infolist():
            z.writestr(info.filename, zin.read(info))


def zip_bomb(folder: Path, name: str = "压缩炸弹.xlsx") -> Path:
    """A real workbook plus 600 MB of zeros, streamed through deflate level 9 (~600 kB, ~2 s)."""
    path = folder / name
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        _copy_workbook_into(z)
        with z.open("xl/media/image1.png", "w", force_zip64=True) as fh:
            chunk = bytes(MB)
            for _ in range(600):
                fh.write(chunk)
    return path


def ratio_bomb(folder: Path, name: str = "高压缩比.xlsx") -> Path:
    """Under every total limit, but one 20 MB part compresses about 1000:1."""
    path = folder / name
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        _copy_workbook_into(z)
        z.writestr("xl/media/image1.png", bytes(20 * MB))
    return path


def declared_bomb(folder: Path, name: str = "虚报大小.xlsx") -> Path:
    """A small part whose central directory entry claims almost 4 GB uncompressed: only declared sizes."""
    data = bytearray(rezip(xlsx_bytes(), extra={"xl/media/image1.png": b"\0" * 1000}))
    target = b"xl/media/image1.png"
    pos = data.find(b"PK\x01\x02")
    while data[pos + 46:pos + 46 + len(target)] != target:
        pos = data.find(b"PK\x01\x02", pos + 4)
    # Offset 24 of a central directory header is the uncompressed size.
    struct.pack_into("<L", data, pos + 24, 0xFFFFFFFE)
    return _write(folder, name, bytes(data))


def many_entries(folder: Path, name: str = "部件过多.xlsx") -> Path:
    return _write(folder, name, rezip(xlsx_bytes(), extra={f"xl/media/e{i}.bin": b"" for i in range(10_001)}))


def billion_laughs(folder: Path, name: str = "实体炸弹.xlsx") -> Path:
    return _with_part(folder, name, "xl/workbook.xml", lambda d: BILLION_LAUGHS)


def external_entity(folder: Path, name: str = "外部实体.xlsx", part: str = "xl/worksheets/sheet2.xml") -> Path:
    return _with_part(folder, name, part, _after_declaration(EXTERNAL_ENTITY))


def huge_line(folder: Path, name: str = "超长行.xlsx") -> Path:
    """A sheet part that is one ~7 MB line with no DTD: a bounded read must not care."""
    # Digits, not one repeated byte: this part must stay under the compression-ratio guard.
    filler = b"".join(b"%d" % (i * 7919 % 1_000_003) for i in range(1_200_000))

    def edit(d: bytes) -> bytes:
        return d.replace(b"</worksheet>", b"<!--" + filler + b"--></worksheet>")
    return _with_part(folder, name, "xl/worksheets/sheet1.xml", edit)


def dtd_text_after_root(folder: Path, name: str = "注释.xlsx") -> Path:
    """``<!DOCTYPE`` inside a comment after the root element declares nothing."""
    return _with_part(folder, name, "xl/worksheets/sheet1.xml",
                      lambda d: d.replace(b"</worksheet>", b"<!-- <!DOCTYPE x> --></worksheet>"))


def dtd_after_comment(folder: Path, name: str = "注释后DTD.xlsx") -> Path:
    """A comment that happens to hold ``<a`` before the DTD: still a DTD before the root element."""
    return _with_part(folder, name, "xl/workbook.xml", _after_declaration(b"<!-- <a> -->" + EXTERNAL_ENTITY))


def dtd_after_padding(folder: Path, name: str = "空白后DTD.xlsx") -> Path:
    """100 kB of blanks between the declaration and the DTD: legal XML, past a 64 KiB look."""
    return _with_part(folder, name, "xl/workbook.xml", _after_declaration(b" " * 100_000 + EXTERNAL_ENTITY))


def dtd_in_utf16_part(folder: Path, name: str = "UTF16部件.xlsx") -> Path:
    """The workbook part re-encoded as UTF-16 (legal for OOXML parts) with a DTD."""
    def edit(d: bytes) -> bytes:
        text = d.replace(b'encoding="UTF-8"', b'encoding="UTF-16"').replace(b"?>", b"?>" + EXTERNAL_ENTITY, 1)
        return codecs.BOM_UTF16_LE + text.decode("utf-8").encode("utf-16-le")
    return _with_part(folder, name, "xl/workbook.xml", edit)
