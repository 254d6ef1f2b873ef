"""What a file really is, decided before any spreadsheet library touches it.

By content, not by name: a CSV renamed `.xlsx`, a WPS `.et`, an encrypted
workbook, a truncated zip, or a zip/XML bomb each gets one clear problem
for that file. Only a file that passes these guards is handed to a reader.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .problems import Problem, problem

MAX_FILE_BYTES = 100 * 1024 * 1024
MAX_ZIP_ENTRIES = 10_000
MAX_UNCOMPRESSED_BYTES = 500 * 1024 * 1024
MAX_RATIO = 200  # for members above RATIO_MIN_BYTES
RATIO_MIN_BYTES = 1024 * 1024
PROLOG_BYTES = 64 * 1024
WORKBOOK_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods")
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"
SAVE_AS_ZH = "请在 Excel 或 WPS 中打开后另存为 .xlsx 工作簿再报送。"
SAVE_AS_EN = "Open it in Excel or WPS and save it as an .xlsx workbook."
_DTD = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.I)
_ROOT = re.compile(rb"<[A-Za-z_]")


@dataclass(frozen=True)
class Sniffed:
    """``kind`` is xlsx/xlsm/xls/ods when readable (else None); ``problem`` is a file-level finding."""

    kind: str | None
    problem: Problem | None = None


def is_ignored_name(name: str) -> bool:
    """Hidden and temporary files a merge skips: ``~$…`` (Excel locks), ``.~lock…``, ``.…``."""
    return name.startswith(("~$", ".~lock", "."))


def _bad(code: str, zh: str, en: str, name: str) -> Sniffed:
    return Sniffed(None, problem(code, zh, en, file=name))


def sniff(path: Path | str, display_name: str | None = None) -> Sniffed:
    """Classify one file and apply the size, zip-bomb and XML-bomb guards. Never raises."""
    p = Path(path)
    name = display_name or p.name
    try:
        size = p.stat().st_size
        if size > MAX_FILE_BYTES:
            return _bad("unsafe_file", f"文件 {name} 有 {size // 1048576} MB，超过 {MAX_FILE_BYTES // 1048576} MB 的上限，未读取。",
                        f"The file {name} is {size // 1048576} MB, over the {MAX_FILE_BYTES // 1048576} MB limit; not read.", name)
        with p.open("rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        return _bad("unreadable_file", f"文件 {name} 无法打开：{exc.strerror}。", f"The file {name} cannot be opened: {exc.strerror}.", name)
    if size == 0:
        return _bad("empty_file", f"文件 {name} 是空的（0 字节）。{SAVE_AS_ZH}", f"The file {name} is empty (0 bytes). {SAVE_AS_EN}", name)
    if head.startswith(ZIP_MAGIC) or head.startswith(b"PK\x05\x06"):
        return _zip(p, name)
    if head.startswith(OLE_MAGIC):
        return _ole(p, name)
    return _other(p, name)


def _zip(p: Path, name: str) -> Sniffed:
    try:
        zf = zipfile.ZipFile(p)
    except (zipfile.BadZipFile, OSError, ValueError):
        return _bad("unreadable_file", f"文件 {name} 已损坏或不完整（压缩包无法打开）。{SAVE_AS_ZH}",
                    f"The file {name} is damaged or incomplete (the zip cannot be opened). {SAVE_AS_EN}", name)
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_ZIP_ENTRIES:
            return _bomb(name, f"含 {len(infos)} 个部件", f"holds {len(infos)} parts")
        total = sum(i.file_size for i in infos)
        if total > MAX_UNCOMPRESSED_BYTES:
            return _bomb(name, f"解压后达 {total // 1048576} MB", f"expands to {total // 1048576} MB")
        for i in infos:
            if i.file_size > RATIO_MIN_BYTES and i.file_size > MAX_RATIO * max(1, i.compress_size):
                return _bomb(name, f"部件 {i.filename} 压缩比超过 {MAX_RATIO}:1", f"part {i.filename} has a compression ratio over {MAX_RATIO}:1")
        names = {i.filename for i in infos}
        kind = _zip_kind(zf, names)
        if kind is None:
            word = "Word 文档" if any(n.startswith("word/") for n in names) else "压缩包"
            word_en = "a Word document" if word.startswith("Word") else "a zip archive"
            return _bad("wrong_format", f"文件 {name} 是{word}，不是 Excel 工作簿。{SAVE_AS_ZH}",
                        f"The file {name} is {word_en}, not an Excel workbook. {SAVE_AS_EN}", name)
        for i in infos:
            if i.filename.lower().endswith((".xml", ".rels", ".vml")):
                try:
                    with zf.open(i) as part:
                        prolog = part.read(2048)
                        # A DTD can only stand before the root element: read further only while none started.
                        if not _ROOT.search(prolog):
                            prolog += part.read(PROLOG_BYTES)
                except Exception:  # BadZipFile, zlib.error, EOFError, NotImplementedError …: all mean damaged
                    return _bad("unreadable_file", f"文件 {name} 已损坏（部件 {i.filename} 无法解压）。{SAVE_AS_ZH}",
                                f"The file {name} is damaged (part {i.filename} cannot be decompressed). {SAVE_AS_EN}", name)
                root = _ROOT.search(prolog)
                if _DTD.search(prolog, 0, root.start() if root else len(prolog)):
                    return _bad("unsafe_file", f"文件 {name} 的部件 {i.filename} 声明了 DTD/实体（XML 炸弹或外部实体），为安全起见未读取。",
                                f"Part {i.filename} of {name} declares a DTD or entities (XML bomb or external entity); not read, for safety.", name)
    if kind == "xlsm":
        return Sniffed("xlsm", problem("macros_present", f"文件 {name} 含有宏；宏不会运行，只读取数据。",
                                       f"The file {name} contains macros; they are never run, only the data is read.", file=name))
    return Sniffed(kind)


def _bomb(name: str, zh: str, en: str) -> Sniffed:
    return _bad("unsafe_file", f"文件 {name} {zh}，可能是压缩炸弹，为安全起见未读取。",
                f"The file {name} {en}: possibly a zip bomb; not read, for safety.", name)


def _zip_kind(zf: zipfile.ZipFile, names: set[str]) -> str | None:
    if "mimetype" in names:
        try:
            mime = zf.read("mimetype")[:200]
        except Exception:
            return None
        return "ods" if mime.strip() == b"application/vnd.oasis.opendocument.spreadsheet" else None
    if "xl/workbook.xml" in names and "[Content_Types].xml" in names:
        try:
            with zf.open("[Content_Types].xml") as fh:
                types = fh.read(PROLOG_BYTES * 4)
        except Exception:
            return None
        if b"macroEnabled" in types or "xl/vbaProject.bin" in names:
            return "xlsm"
        return "xlsx"
    return None


def _ole(p: Path, name: str) -> Sniffed:
    data = p.read_bytes()
    if "EncryptionInfo".encode("utf-16-le") in data or "EncryptedPackage".encode("utf-16-le") in data:
        return _bad("encrypted_file", f"文件 {name} 设有打开密码，无法读取。请取消密码后另存为 .xlsx 再报送。",
                    f"The file {name} is protected by a password to open; remove the password and save it as .xlsx.", name)
    if p.suffix.lower() in (".et", ".ett") or "WpsCustomData".encode("utf-16-le") in data:
        return _bad("wrong_format", f"文件 {name} 是 WPS 表格（.et）格式。{SAVE_AS_ZH}",
                    f"The file {name} is in WPS Spreadsheets (.et) format. {SAVE_AS_EN}", name)
    if "Workbook".encode("utf-16-le") in data or "Book".encode("utf-16-le") in data:
        return Sniffed("xls")
    return _bad("wrong_format", f"文件 {name} 是旧式 Office 文件但不是工作簿（可能是 Word 文档）。{SAVE_AS_ZH}",
                f"The file {name} is an old Office file but not a workbook (a Word document?). {SAVE_AS_EN}", name)


def _other(p: Path, name: str) -> Sniffed:
    with p.open("rb") as fh:
        head = fh.read(4096)
    lower = head.lstrip(b"\xef\xbb\xbf").lstrip().lower()
    if lower.startswith((b"<html", b"<!doctype html", b"<table")) or b"<html" in lower[:1024]:
        return _bad("wrong_format", f"文件 {name} 其实是网页（HTML），只是改了扩展名。{SAVE_AS_ZH}",
                    f"The file {name} is really a web page (HTML) renamed. {SAVE_AS_EN}", name)
    if lower.startswith(b"<?xml"):
        return _bad("wrong_format", f"文件 {name} 是 XML 文本（可能是“XML 表格 2003”），不是 .xlsx 工作簿。{SAVE_AS_ZH}",
                    f"The file {name} is XML text (perhaps 'XML Spreadsheet 2003'), not an .xlsx workbook. {SAVE_AS_EN}", name)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return _bad("wrong_format", f"文件 {name} 其实是 Unicode（UTF-16）文本，只是扩展名改成了 {p.suffix}。{SAVE_AS_ZH}",
                    f"The file {name} is really UTF-16 text with the extension {p.suffix}. {SAVE_AS_EN}", name)
    text = None
    for enc in ("utf-8-sig", "gb18030"):
        try:
            text = head.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    if text is not None and "\x00" not in text:
        kind_zh, kind_en = ("CSV 表格文本", "CSV text") if ("," in text or "\t" in text or "，" in text) else ("纯文本", "plain text")
        return _bad("wrong_format", f"文件 {name} 其实是{kind_zh}，只是扩展名改成了 {p.suffix}。{SAVE_AS_ZH}",
                    f"The file {name} is really {kind_en} with the extension {p.suffix}. {SAVE_AS_EN}", name)
    return _bad("unreadable_file", f"文件 {name} 不是可识别的工作簿格式。{SAVE_AS_ZH}",
                f"The file {name} is not a workbook format that can be recognised. {SAVE_AS_EN}", name)
