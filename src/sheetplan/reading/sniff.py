"""What a file really is, decided before any spreadsheet library touches it.

By content, not by name: a CSV renamed `.xlsx`, a WPS `.et`, an encrypted
workbook, a truncated zip, or a zip/XML bomb each gets one clear problem
for that file. Only a file that passes these guards is handed to a reader.

The name still decides how the problem is *said*. A file whose extension
claims a workbook (:data:`WORKBOOK_SUFFIXES`) but whose content is something
else was renamed (or exported under the wrong name), and its message says
so; a file whose name tells the truth (``roster.csv``, ``通知.docx``) is
simply named for what it is. The advice fits what the file is: what Excel or
WPS can open and save as a workbook (a WPS `.et`, an `.xlsb`, an "XML
Spreadsheet 2003", a web page exported as `.xls`) gets "save it as .xlsx";
a CSV, a text, a Word document, a PDF or a picture holds at most one table
of the workbook, so it gets "use the workbook the school filled in"; a zip
archive gets "unzip it first".
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..problems import Problem, problem
from .package import MAX_ZIP_ENTRIES, ZIP_TAIL_BYTES, declared_entries, entries_in_tail

MAX_FILE_BYTES = 100 * 1024 * 1024
IN_MEMORY_BYTES = 16 * 1024 * 1024  # zips up to this size are sniffed from memory
MAX_UNCOMPRESSED_BYTES = 500 * 1024 * 1024
MAX_RATIO = 200  # for members above RATIO_MIN_BYTES
RATIO_MIN_BYTES = 1024 * 1024
PROLOG_BYTES = 64 * 1024
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"
SAVE_AS_ZH = "请在 Excel 或 WPS 中打开后另存为 .xlsx 工作簿再报送。"
SAVE_AS_EN = "Open it in Excel or WPS and save it as an .xlsx workbook."
# For files that are not a workbook and cannot become the school's workbook by saving them again.
READS_ZH = "sheetplan 读取的是学校填写的工作簿（.xlsx）"
READS_EN = "sheetplan reads the workbook the school filled in (.xlsx)"
USE_WORKBOOK_ZH = READS_ZH + "，请改用那份工作簿。"
USE_WORKBOOK_EN = READS_EN + "; use that workbook instead."
UNZIP_ZH = "请先解压，再检查（或汇总）里面的工作簿。"
UNZIP_EN = "Unzip it first, then check (or merge) the workbooks inside."
# A roster's header (§1), and what to do with a roster found among the workbooks.
ROSTER_HEADER = ("单位代码", "单位名称")
ROSTER_ZH = READS_ZH + "；这个文件看起来是单位名册，名册请用 --roster 指定，不要和要检查或汇总的工作簿放在一起。"
ROSTER_EN = READS_EN + "; this file looks like a roster of schools: give it with --roster, not among the workbooks to check or merge."
# Extensions that claim a spreadsheet workbook: content of another kind under one of them was renamed.
WORKBOOK_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods", ".xlsb", ".xltx", ".xltm", ".xlt", ".et", ".ett", ".ots")
# Magic numbers of files people send instead of a workbook: (magic, what it is in zh, in en, advice zh, advice en).
_OTHER_MAGIC = (
    (b"%PDF", "PDF 文件", "a PDF file", USE_WORKBOOK_ZH, USE_WORKBOOK_EN),
    (b"\x89PNG", "图片（PNG）", "a picture (PNG)", USE_WORKBOOK_ZH, USE_WORKBOOK_EN),
    (b"\xff\xd8\xff", "图片（JPEG）", "a picture (JPEG)", USE_WORKBOOK_ZH, USE_WORKBOOK_EN),
    (b"Rar!", "RAR 压缩包", "a RAR archive", UNZIP_ZH, UNZIP_EN),
    (b"7z\xbc\xaf\x27\x1c", "7z 压缩包", "a 7z archive", UNZIP_ZH, UNZIP_EN),
)
_BLANK = " \t\r\n\ufeff"


@dataclass(frozen=True)
class Sniffed:
    """``kind`` is xlsx/xlsm/xls/ods when readable (else None); ``problem`` is a file-level finding.

    With ``sniff(..., keep=True)``, a readable xlsx/xlsm small enough to be sniffed from memory also comes
    with its bytes (``data``) and its zip still open (``zip``, which the caller closes), holding the parts a
    reader needs that sniffing already decompressed whole.
    """

    kind: str | None
    problem: Problem | None = None
    data: bytes | None = field(default=None, compare=False, repr=False)
    zip: zipfile.ZipFile | None = field(default=None, compare=False, repr=False)


# Parts the reader reads whole: the guard's look at their first bytes reads them whole instead, once.
_READ_WHOLE = re.compile(r"xl/worksheets/[^/]+\.xml|xl/workbook\.xml|xl/_rels/workbook\.xml\.rels|docProps/custom\.xml")
READ_WHOLE_BYTES = 16 * 1024 * 1024  # a larger part is only glanced at here, and read when (and if) it is needed


class PartsZip(zipfile.ZipFile):
    """A zip whose parts, once read whole by sniffing, are not decompressed a second time."""

    def __init__(self, file: Any) -> None:
        super().__init__(file)
        self.whole_parts: dict[str, bytes] = {}  # part name → its bytes, as sniffing read them

    def read(self, name: str | zipfile.ZipInfo, pwd: bytes | None = None) -> bytes:
        content = self.whole_parts.get(name.filename if isinstance(name, zipfile.ZipInfo) else name)
        return content if content is not None else super().read(name, pwd)

    def close(self) -> None:
        self.whole_parts = {}
        super().close()


def is_ignored_name(name: str) -> bool:
    """Hidden and temporary files a merge skips: ``~$…`` (Excel locks), ``.~lock…``, ``.…``."""
    return name.startswith(("~$", ".~lock", "."))


def _bad(code: str, zh: str, en: str, name: str) -> Sniffed:
    return Sniffed(None, problem(code, zh, en, file=name))


def claims_workbook(suffix: str) -> bool:
    """Whether a file name ending in ``suffix`` says the file is a spreadsheet workbook."""
    return suffix.lower() in WORKBOOK_SUFFIXES


def _not_a_workbook(name: str, suffix: str, what: tuple[str, str], advice: tuple[str, str],
                    named: tuple[str, str] | None = None) -> Sniffed:
    """``wrong_format`` for a file that is ``what`` (zh, en) rather than a workbook, with ``advice`` (zh, en).

    Under an extension that claims a workbook the message says the extension was changed; otherwise it says what
    the file is — as ``named`` (zh, en) when given, the word for a file whose name already says what it is
    ("CSV 文件" for a roster.csv rather than "CSV 表格文本").
    """
    if claims_workbook(suffix):
        return _bad("wrong_format", f"文件 {name} 其实是{_spaced(what[0])}，只是扩展名改成了 {suffix}，并不是工作簿。{advice[0]}",
                    f"The file {name} is really {what[1]} with the extension {suffix}, not a workbook. {advice[1]}", name)
    zh, en = named or what
    return _bad("wrong_format", f"文件 {name} 是{_spaced(zh)}，不是工作簿：{advice[0]}",
                f"The file {name} is {en}, not a workbook: {advice[1]}", name)


def _spaced(zh: str) -> str:
    """A space before a word that starts in Latin letters (是 CSV 文件), as Chinese text sets them."""
    return " " + zh if zh[:1].isascii() else zh


def sniff(path: Path | str, display_name: str | None = None, keep: bool = False) -> Sniffed:
    """Classify one file and apply the size, zip-bomb and XML-bomb guards. Never raises.

    ``keep`` hands a readable workbook's bytes and open zip on to the reader (see :class:`Sniffed`).
    """
    p = Path(path)
    name = display_name or p.name
    try:
        size = p.stat().st_size
        if size > MAX_FILE_BYTES:
            return _bad("unsafe_file", f"文件 {name} 有 {size // 1048576} MB，超过 {MAX_FILE_BYTES // 1048576} MB 的上限，未读取。",
                        f"The file {name} is {size // 1048576} MB, over the {MAX_FILE_BYTES // 1048576} MB limit; not read.", name)
        with p.open("rb") as fh:
            # A workbook is small: read it once, here, rather than part by part later.
            data = fh.read() if size <= IN_MEMORY_BYTES else None
            head = data[:8] if data is not None else fh.read(8)
    except OSError as exc:
        return _bad("unreadable_file", f"文件 {name} 无法打开：{exc.strerror}。", f"The file {name} cannot be opened: {exc.strerror}.", name)
    if size == 0 or not head:
        # Nothing to open: it went wrong while it was saved, copied or downloaded.
        return _bad("empty_file", f"文件 {name} 是空的（0 字节），可能在保存、复制或下载时出了问题。请重新保存后再报送。",
                    f"The file {name} is empty (0 bytes): something went wrong while it was saved, copied or downloaded. "
                    "Save it again and resend it.", name)
    if head.startswith(ZIP_MAGIC) or head.startswith(b"PK\x05\x06"):
        return _zip(p, name, data, keep)
    if head.startswith(OLE_MAGIC):
        return _ole(p, name)
    return _other(p, name)


def _zip(p: Path, name: str, data: bytes | None, keep: bool) -> Sniffed:
    # Every part is opened below: from memory that costs no seeks and reads (a workbook is small; sniffing
    # refused anything over MAX_FILE_BYTES already).
    try:
        declared = entries_in_tail(data[-ZIP_TAIL_BYTES:]) if data is not None else declared_entries(p)
    except OSError:
        declared = None
    if declared is not None and declared > MAX_ZIP_ENTRIES:
        return _bomb(name, f"含 {declared} 个部件", f"holds {declared} parts")
    try:
        zf = PartsZip(io.BytesIO(data)) if data is not None else zipfile.ZipFile(p)
    except (zipfile.BadZipFile, OSError, ValueError):
        return _bad("unreadable_file", f"文件 {name} 已损坏或不完整（压缩包无法打开）。{SAVE_AS_ZH}",
                    f"The file {name} is damaged or incomplete (the zip cannot be opened). {SAVE_AS_EN}", name)
    whole_parts = zf.whole_parts if keep and isinstance(zf, PartsZip) else None
    found: Sniffed | None = None
    try:
        found = _zip_checks(zf, name, whole_parts)
    finally:
        handed_on = whole_parts is not None and found is not None and found.kind in ("xlsx", "xlsm")
        if not handed_on:
            zf.close()
    if handed_on:
        return Sniffed(found.kind, found.problem, data, zf)
    return found


def _zip_checks(zf: zipfile.ZipFile, name: str, whole_parts: dict[str, bytes] | None) -> Sniffed:
    """The guards, on an open zip; given ``whole_parts``, the parts a reader needs are read whole into it."""
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
        return _zip_not_a_workbook(zf, names, name, Path(name).suffix)
    for i in infos:
        if i.filename.lower().endswith((".xml", ".rels", ".vml")):
            try:
                if whole_parts is not None and i.file_size <= READ_WHOLE_BYTES and _READ_WHOLE.fullmatch(i.filename):
                    content = zf.read(i)
                    verdict = prolog_verdict(content[:2048])
                    if verdict == "unknown" and len(content) > 2048:
                        verdict = prolog_verdict(content[:PROLOG_BYTES])
                    whole_parts[i.filename] = content
                else:
                    with zf.open(i) as part:
                        # Almost every part shows its root in the first bytes; read on only while it has not.
                        prolog = part.read(2048)
                        verdict = prolog_verdict(prolog)
                        if verdict == "unknown" and len(prolog) == 2048:
                            prolog += part.read(PROLOG_BYTES - 2048)
                            verdict = prolog_verdict(prolog)
            except Exception:  # BadZipFile, zlib.error, EOFError, NotImplementedError …: all mean damaged
                return _bad("unreadable_file", f"文件 {name} 已损坏（部件 {i.filename} 无法解压）。{SAVE_AS_ZH}",
                            f"The file {name} is damaged (part {i.filename} cannot be decompressed). {SAVE_AS_EN}", name)
            if verdict == "dtd":
                return _bad("unsafe_file", f"文件 {name} 的部件 {i.filename} 声明了 DTD/实体（XML 炸弹或外部实体），为安全起见未读取。",
                            f"Part {i.filename} of {name} declares a DTD or entities (XML bomb or external entity); not read, for safety.", name)
            if verdict == "unknown":
                return _bad("unsafe_file", f"文件 {name} 的部件 {i.filename} 开头 {PROLOG_BYTES // 1024} KB 内找不到正文，无法确认安全，未读取。{SAVE_AS_ZH}",
                            f"Part {i.filename} of {name} shows no content within its first {PROLOG_BYTES // 1024} KB, so it cannot be "
                            f"confirmed safe; not read. {SAVE_AS_EN}", name)
    if kind == "xlsm":
        return Sniffed("xlsm", problem("macros_present", f"文件 {name} 含有宏；宏不会运行，只读取数据。",
                                       f"The file {name} contains macros; they are never run, only the data is read.", file=name))
    return Sniffed(kind)


def _zip_not_a_workbook(zf: zipfile.ZipFile, names: set[str], name: str, suffix: str) -> Sniffed:
    """The problem for a zip that is not a workbook: a Word or PowerPoint file, an OpenDocument text, an .xlsb,
    or an archive of other files."""
    if "xl/workbook.bin" in names:  # Excel's binary workbook: Excel saves it as .xlsx in one step
        return _bad("wrong_format", f"文件 {name} 是 Excel 二进制工作簿（.xlsb），sheetplan 读不了这种格式。{SAVE_AS_ZH}",
                    f"The file {name} is an Excel binary workbook (.xlsb), a format sheetplan cannot read. {SAVE_AS_EN}", name)
    use = (USE_WORKBOOK_ZH, USE_WORKBOOK_EN)
    if any(n.startswith("word/") for n in names):
        return _not_a_workbook(name, suffix, ("Word 文档", "a Word document"), use)
    if any(n.startswith("ppt/") for n in names):
        return _not_a_workbook(name, suffix, ("PowerPoint 演示文稿", "a PowerPoint presentation"), use)
    if "mimetype" in names:
        try:
            mime = zf.read("mimetype")[:200].strip()
        except Exception:  # a damaged member says nothing more about the file
            mime = b""
        if mime.startswith(b"application/vnd.oasis.opendocument"):
            return _not_a_workbook(name, suffix, ("OpenDocument 文档（不是电子表格）", "an OpenDocument document (not a spreadsheet)"), use)
    if claims_workbook(suffix):  # an archive under a workbook's name: what was meant to be sent is not in it
        return _not_a_workbook(name, suffix, ("压缩包", "a zip archive"), use)
    return _not_a_workbook(name, suffix, ("压缩包", "a zip archive"), (UNZIP_ZH, UNZIP_EN))


def prolog_verdict(head: bytes) -> str:
    """``"root"`` when the part's root element starts before any DTD, ``"dtd"`` when a DTD or entity comes first,
    ``"unknown"`` when neither shows within ``head`` (a part padded to hide what follows is refused, not trusted).

    Walks the prolog the way an XML parser does — declaration, comments, processing instructions, blanks — so a
    ``<a`` inside a comment is not taken for the root, and decodes UTF-16 parts first. An empty part is ``"root"``:
    there is nothing to expand, and the reader reports it as damaged.
    """
    text = _decode_prolog(head)
    if text is None:
        return "unknown"
    pos, end = 0, len(text)
    while True:
        while pos < end and text[pos] in _BLANK:
            pos += 1
        if pos >= end:
            return "root" if not text.strip(_BLANK) else "unknown"
        if text.startswith("<?", pos):
            close, closer = text.find("?>", pos + 2), "?>"
        elif text.startswith("<!--", pos):
            close, closer = text.find("-->", pos + 4), "-->"
        elif text.startswith("<!", pos):
            return "dtd"  # <!DOCTYPE, <!ENTITY or anything else a parser would treat as markup declaration
        else:
            return "root"  # the root element, or text that is not XML at all, which the reader reports as damaged
        if close < 0:
            return "unknown"
        pos = close + len(closer)


def _decode_prolog(head: bytes) -> str | None:
    """The part's first bytes as text; UTF-16 with or without BOM is decoded, anything with NULs left is None."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        enc = "utf-16"  # the BOM says which end
    elif head.startswith(b"<\x00"):
        enc = "utf-16-le"
    elif head.startswith(b"\x00<"):
        enc = "utf-16-be"
    else:
        enc = "utf-8"
    if enc != "utf-8":
        head = head[: len(head) // 2 * 2]
    text = head.decode(enc, errors="replace")
    return None if "\x00" in text else text


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


def ole_stream_names(data: bytes) -> set[str]:
    """Names of the storages and streams in an OLE (compound) file's directory.

    Directory entries are 128 bytes on 128-byte boundaries: a UTF-16 name of up to 31 characters with its
    terminating NUL, its byte length at offset 64 and its type (1 storage, 2 stream, 5 root) at 66. Checking
    that shape, instead of looking for the word anywhere, keeps a Word document that mentions “Book” a document.
    """
    names: set[str] = set()
    for at in range(512, len(data) - 127, 128):
        length = int.from_bytes(data[at + 64: at + 66], "little")
        if not 2 <= length <= 64 or length % 2 or data[at + 66] not in (1, 2, 5):
            continue
        raw = data[at: at + length]
        if raw[-2:] != b"\0\0":
            continue
        try:
            label = raw[:-2].decode("utf-16-le")
        except UnicodeDecodeError:
            continue
        if label and "\0" not in label:
            names.add(label)
    return names


_FREE_SECTOR = 0xFFFFFFFA  # this and above: end of chain, free, FAT or DIFAT sector — never a data sector


def ole_stream(data: bytes, names: tuple[str, ...] = ("Workbook", "Book")) -> bytes | None:
    """The first stream called one of ``names`` (in that order) of an OLE compound file, or None.

    None also for anything malformed (a truncated file, a chain that loops or points outside the file): the
    caller then knows nothing more than before. Sector chains are followed with a bound on their length.
    """
    try:
        return _ole_stream(data, names)
    except (struct.error, IndexError, ValueError, KeyError):
        return None


def _ole_stream(data: bytes, names: tuple[str, ...]) -> bytes | None:
    if len(data) < 512 or not data.startswith(OLE_MAGIC):
        return None
    shift, mini_shift = struct.unpack_from("<HH", data, 0x1E)
    if shift not in (9, 12) or not 0 < mini_shift < shift:
        return None
    size = 1 << shift
    n_fat, dir_start = struct.unpack_from("<II", data, 0x2C)
    cutoff, minifat_start, _n_minifat, difat_next, n_difat = struct.unpack_from("<IIIII", data, 0x38)
    n_sectors = max(0, (len(data) - size) // size + 1)
    per_sector = size // 4

    def sector(i: int) -> bytes:
        if i >= n_sectors:
            raise ValueError("sector outside the file")
        return data[(i + 1) * size:(i + 2) * size]

    fat_sectors = [s for s in struct.unpack_from("<109I", data, 0x4C) if s < _FREE_SECTOR]
    for _ in range(min(n_difat, n_sectors)):
        if difat_next >= _FREE_SECTOR or len(fat_sectors) >= n_fat:
            break
        entries = struct.unpack(f"<{per_sector}I", sector(difat_next))
        fat_sectors += [s for s in entries[:-1] if s < _FREE_SECTOR]
        difat_next = entries[-1]
    raw_fat = b"".join(sector(s) for s in fat_sectors[:n_fat])
    fat = struct.unpack(f"<{len(raw_fat) // 4}I", raw_fat)

    def chain(start: int, table: tuple[int, ...], read: Callable[[int], bytes]) -> bytes:
        parts, at = [], start
        for _ in range(len(table) + 1):  # a longer chain loops
            if at >= _FREE_SECTOR:
                return b"".join(parts)
            parts.append(read(at))
            at = table[at]
        raise ValueError("the sector chain loops")

    directory = chain(dir_start, fat, sector)
    entries = []
    for at in range(0, len(directory) - 127, 128):
        length = struct.unpack_from("<H", directory, at + 64)[0]
        kind = directory[at + 66]
        start, low, high = struct.unpack_from("<III", directory, at + 116)
        label = directory[at:at + max(0, min(length, 64) - 2)].decode("utf-16-le", "replace")
        entries.append((label, kind, start, low if shift == 9 else low | high << 32))  # v3 files: the high half is junk
    if not entries or entries[0][1] != 5:
        return None
    by_name = {label: (kind, start, length) for label, kind, start, length in entries if kind == 2}
    found = next((by_name[n] for n in names if n in by_name), None)
    if found is None:
        return None
    _, start, length = found
    if length > len(data):
        return None
    if length >= cutoff:
        return chain(start, fat, sector)[:length]
    # A small stream lives in the mini stream (the root entry's own stream), in 64-byte mini sectors.
    root_start, root_length = entries[0][2], entries[0][3]
    mini_stream = chain(root_start, fat, sector)[:root_length]
    raw_minifat = chain(minifat_start, fat, sector)
    minifat = struct.unpack(f"<{len(raw_minifat) // 4}I", raw_minifat)
    mini = 1 << mini_shift

    def mini_sector(i: int) -> bytes:
        if (i + 1) * mini > len(mini_stream):
            raise ValueError("mini sector outside the mini stream")
        return mini_stream[i * mini:(i + 1) * mini]

    return chain(start, minifat, mini_sector)[:length]


def _ole(p: Path, name: str) -> Sniffed:
    data = p.read_bytes()
    streams = ole_stream_names(data)
    if {"EncryptionInfo", "EncryptedPackage"} & streams:
        return _bad("encrypted_file", f"文件 {name} 设有打开密码，无法读取。请取消密码后另存为 .xlsx 再报送。",
                    f"The file {name} is protected by a password to open; remove the password and save it as .xlsx.", name)
    if p.suffix.lower() in (".et", ".ett") or "WpsCustomData" in streams:
        return _bad("wrong_format", f"文件 {name} 是 WPS 表格（.et）格式。{SAVE_AS_ZH}",
                    f"The file {name} is in WPS Spreadsheets (.et) format. {SAVE_AS_EN}", name)
    if {"Workbook", "Book"} & streams:
        return Sniffed("xls")
    use = (USE_WORKBOOK_ZH, USE_WORKBOOK_EN)
    if "WordDocument" in streams:
        return _not_a_workbook(name, p.suffix, ("Word 文档（旧式 .doc）", "a Word document (old .doc)"), use)
    if "PowerPoint Document" in streams:
        return _not_a_workbook(name, p.suffix, ("PowerPoint 演示文稿（旧式 .ppt）", "a PowerPoint presentation (old .ppt)"), use)
    return _not_a_workbook(name, p.suffix, ("旧式 Office 文件，但不是工作簿", "an old Office file but not a workbook"), use,
                           named=("旧式 Office 文件", "an old Office file"))


def _decode_text(head: bytes, complete: bool) -> str | None:
    """``head`` as UTF-8 or GB18030 text, or None. A head cut from a longer file may end inside a character
    (up to 3 bytes of UTF-8, 3 of GB18030's 4-byte form): those last bytes are let go, nothing else."""
    for enc in ("utf-8-sig", "gb18030"):
        for cut in (0,) if complete else (0, 1, 2, 3):
            try:
                return head[: len(head) - cut].decode(enc)
            except UnicodeDecodeError:
                continue
    return None


def _other(p: Path, name: str) -> Sniffed:
    with p.open("rb") as fh:
        head = fh.read(4096)
    suffix = p.suffix
    save_as, use = (SAVE_AS_ZH, SAVE_AS_EN), (USE_WORKBOOK_ZH, USE_WORKBOOK_EN)
    for magic, zh, en, advice_zh, advice_en in _OTHER_MAGIC:
        if head.startswith(magic):
            return _not_a_workbook(name, suffix, (zh, en), (advice_zh, advice_en))
    lower = head.lstrip(b"\xef\xbb\xbf").lstrip().lower()
    if lower.startswith((b"<html", b"<!doctype html", b"<table")) or b"<html" in lower[:1024]:
        # Web systems export "Excel" files that are web pages named .xls: Excel opens them and saves a workbook.
        return _not_a_workbook(name, suffix, ("网页（HTML）", "a web page (HTML)"), save_as if claims_workbook(suffix) else use)
    if lower.startswith(b"<?xml"):
        # Perhaps Excel's own "XML Spreadsheet 2003", which Excel opens, whatever its name.
        return _not_a_workbook(name, suffix, ("XML 文本（可能是“XML 表格 2003”）", "XML text (perhaps 'XML Spreadsheet 2003')"), save_as,
                               named=("XML 文件（可能是“XML 表格 2003”）", "an XML file (perhaps 'XML Spreadsheet 2003')"))
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return _not_a_workbook(name, suffix, ("Unicode（UTF-16）文本", "UTF-16 text"), use,
                               named=("Unicode（UTF-16）文本文件", "a UTF-16 text file"))
    text = _decode_text(head, complete=len(head) < 4096)
    if text is not None and "\x00" not in text:
        if "," in text or "\t" in text or "，" in text:
            first = text.lstrip("\ufeff").split("\n", 1)[0]
            if all(label in first for label in ROSTER_HEADER):  # a district's roster dropped among the files
                use = (ROSTER_ZH, ROSTER_EN)
            return _not_a_workbook(name, suffix, ("CSV 表格文本", "CSV text"), use, named=("CSV 文件", "a CSV file"))
        return _not_a_workbook(name, suffix, ("纯文本", "plain text"), use, named=("文本文件", "a text file"))
    return _bad("unreadable_file", f"文件 {name} 不是可识别的工作簿格式。{SAVE_AS_ZH}",
                f"The file {name} is not a workbook format that can be recognised. {SAVE_AS_EN}", name)
