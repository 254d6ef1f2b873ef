"""The zip and XML parts of an .xlsx (an OOXML package), read safely.

What the reader, the sniffing guards and the annotated copy all need of a package: the zip opened without
indexing a bomb's millions of entries, a part read whole (with a size limit where the caller has none of its
own), XML parsed by defusedxml only (no DTD, no entity expansion), the relationships of a part, where each
sheet's part is, and cell references turned into row and column numbers. Editing a package is the annotated
copy's own business (:mod:`sheetplan.report.annotate`).
"""

from __future__ import annotations

import hashlib
import re
import threading
import zipfile
import zlib
from collections import OrderedDict
from pathlib import Path
from typing import IO, Any

from defusedxml import DefusedXmlException, ElementTree

NS_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
NS_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
NS_PKG_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"
WORKBOOK_PART = "xl/workbook.xml"

# A school's workbook has a few dozen parts; zipfile reads the whole central directory when it opens a zip,
# so a zip claiming more than this is refused from its end record, before that.
MAX_ZIP_ENTRIES = 10_000

# What reading a damaged zip, or a part of it, raises: a bad or truncated archive (BadZipFile, EOFError,
# OSError), a damaged stream (zlib.error), an unknown compression method (NotImplementedError), an encrypted
# entry (RuntimeError), a missing part (KeyError) or a bad header (ValueError).
ZIP_ERRORS: tuple[type[Exception], ...] = (zipfile.BadZipFile, OSError, KeyError, EOFError, zlib.error,
                                           NotImplementedError, RuntimeError, ValueError)
# What parsing a part raises when it is not well-formed XML, or declares a DTD or entities.
XML_ERRORS: tuple[type[Exception], ...] = (ElementTree.ParseError, DefusedXmlException)

ZIP_TAIL_BYTES = 65_557  # the end-of-central-directory record (22 bytes) plus the longest zip comment
# "a/../b" → "b": how a relationship's target climbs out of its part's folder.
_PARENT_STEP = re.compile(r"[^/]+/\.\./")


# --------------------------------------------------------------------------- the zip


def entries_in_tail(tail: bytes) -> int | None:
    """The entry count that the end-of-central-directory record in ``tail`` (a zip's last bytes) declares.

    None when there is no such record, or when it defers to a zip64 record (whose count zipfile's own index
    reports).
    """
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or at + 12 > len(tail):
        return None
    count = int.from_bytes(tail[at + 10: at + 12], "little")
    return None if count == 0xFFFF else count


def declared_entries(path: Path) -> int | None:
    """Entry count from the end-of-central-directory record, read before :mod:`zipfile` indexes every entry."""
    with path.open("rb") as fh:
        fh.seek(0, 2)
        size = fh.tell()
        fh.seek(max(0, size - ZIP_TAIL_BYTES))
        tail = fh.read()
    return entries_in_tail(tail)


def open_zip(path: Path, require_count: bool = False) -> zipfile.ZipFile:
    """The zip at ``path``, opened once its end record declares no more than :data:`MAX_ZIP_ENTRIES` entries.

    ``require_count`` also refuses a zip whose end record declares no count (none found, or a zip64 count that
    only zipfile's full index tells). Raises one of :data:`ZIP_ERRORS`: ``BadZipFile`` for a refused zip.
    """
    count = declared_entries(path)
    if count is None and require_count:
        raise zipfile.BadZipFile("the zip's end record declares no entry count")
    if count is not None and count > MAX_ZIP_ENTRIES:
        raise zipfile.BadZipFile(f"the zip declares {count} entries, more than {MAX_ZIP_ENTRIES}")
    return zipfile.ZipFile(path)


def read_part(zf: zipfile.ZipFile, name: str, max_bytes: int | None = None) -> bytes | None:
    """The part ``name`` of an open zip, whole; None when it is absent, damaged or larger than ``max_bytes``.

    The size is the one the zip's directory declares, checked before anything is decompressed.
    """
    try:
        if max_bytes is not None and zf.getinfo(name).file_size > max_bytes:
            return None
        return zf.read(name)
    except ZIP_ERRORS:
        return None


# --------------------------------------------------------------------------- XML


def parse_xml(data: bytes | str) -> Any:
    """The root element of a part's XML, parsed by defusedxml; raises one of :data:`XML_ERRORS`."""
    return ElementTree.fromstring(data)


def iterparse_xml(fh: IO[bytes], events: tuple[str, ...] = ("start", "end")) -> Any:
    """(event, element) of a part read as a stream, parsed by defusedxml; raises one of :data:`XML_ERRORS`."""
    return ElementTree.iterparse(fh, events=events)


# --------------------------------------------------------------------------- relationships and sheets


def rels_part(part: str) -> str:
    """The name of the part holding ``part``'s relationships (``xl/workbook.xml`` → ``xl/_rels/workbook.xml.rels``)."""
    folder, _, base = part.rpartition("/")
    return f"{folder}/_rels/{base}.rels" if folder else f"_rels/{base}.rels"


def relationships(rels_xml: bytes) -> list[dict[str, str]]:
    """The attributes (``Id``, ``Type``, ``Target`` …) of each relationship in a ``.rels`` part."""
    return [dict(r.attrib) for r in parse_xml(rels_xml).iter(f"{NS_PKG_REL}Relationship")]


def resolve_target(folder: str, target: str) -> str:
    """The part a relationship's ``target`` names, for a relationship of a part in ``folder``.

    A target is relative to that folder, or absolute from the package's root when it starts with ``/``.
    """
    path = target.lstrip("/") if target.startswith("/") else f"{folder}/{target}"
    return _PARENT_STEP.sub("", path)


def sheet_targets(workbook_xml: bytes, rels_xml: bytes | None) -> dict[str, tuple[str, str]]:
    """Sheet name → (part path, relationship id), from workbook.xml and its relationships (None: it has none).

    A sheet whose relationship is missing gets the part path ``xl/``, which no part has.
    """
    targets = {r.get("Id"): r.get("Target", "") for r in relationships(rels_xml)} if rels_xml is not None else {}
    out = {}
    for s in parse_xml(workbook_xml).iter(f"{NS_MAIN}sheet"):
        rid = s.get(f"{NS_REL}id", "")
        out[s.get("name", "")] = (resolve_target("xl", targets.get(rid, "")), rid)
    return out


# Workbooks made from one template share workbook.xml and its relationships byte for byte: a merge parses them
# once. The cache is keyed by a digest, so it keeps none of the parts' bytes, and only small parts are cached:
# a template's are a few KB, while a sheet list of megabytes (thousands of sheets, or padding) is parsed each
# time rather than kept. At most PARTS_CACHE_ENTRIES results of at most PARTS_CACHE_INPUT bytes each.
PARTS_CACHE_ENTRIES = 32
PARTS_CACHE_INPUT = 256 * 1024
_parts_cache: OrderedDict[bytes, dict[str, str]] = OrderedDict()
_parts_lock = threading.Lock()


def sheet_parts(workbook_xml: bytes, rels_xml: bytes) -> dict[str, str]:
    """Sheet name → part path, through a bounded cache (the result is shared: do not change it)."""
    if len(workbook_xml) + len(rels_xml) > PARTS_CACHE_INPUT:
        return _sheet_parts(workbook_xml, rels_xml)
    h = hashlib.blake2b(len(workbook_xml).to_bytes(8, "little"), digest_size=32)
    h.update(workbook_xml)
    h.update(rels_xml)
    digest = h.digest()
    with _parts_lock:
        hit = _parts_cache.get(digest)
        if hit is not None:
            _parts_cache.move_to_end(digest)
            return hit
    out = _sheet_parts(workbook_xml, rels_xml)
    with _parts_lock:
        _parts_cache[digest] = out
        while len(_parts_cache) > PARTS_CACHE_ENTRIES:
            _parts_cache.popitem(last=False)
    return out


def _sheet_parts(workbook_xml: bytes, rels_xml: bytes) -> dict[str, str]:
    return {name: part for name, (part, _) in sheet_targets(workbook_xml, rels_xml).items()}


# --------------------------------------------------------------------------- cell references


def column_index(letters: str | bytes) -> int:
    """0-based column of a reference's letters (A → 0, Z → 25, AA → 26), as text or as the XML's bytes."""
    n = 0
    for ch in letters.encode("ascii") if isinstance(letters, str) else letters:
        n = n * 26 + ch - 64
    return n - 1


_CELL_REF = re.compile(r"([A-Z]+)(\d+)$")


def cell_index(ref: str) -> tuple[int, int]:
    """(0-based row, 0-based column) of a cell reference such as ``B7``; ValueError for anything else."""
    m = _CELL_REF.match(ref)
    if not m:
        raise ValueError(f"not a cell reference: {ref}")
    return int(m.group(2)) - 1, column_index(m.group(1))
