"""A workbook's identity: which layout, version, organisation and year it is.

The writer stores it twice — as custom document properties and in a very
hidden ``_sheetplan`` sheet — because each survives different applications:
LibreOffice keeps both (very hidden becomes hidden), and a copy-paste into a
new workbook keeps neither, which the reader then reports. This module reads
the properties straight from the zip with defusedxml, without loading cells.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from ..layout.geometry import META_SHEET, PROPERTY_PREFIX
from .package import parse_xml

_CUSTOM = "{http://schemas.openxmlformats.org/officeDocument/2006/custom-properties}"
_VT = "{http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes}"
MAX_PROPERTIES_BYTES = 1_000_000


def identity_from_properties(zf: zipfile.ZipFile) -> dict[str, str]:
    """The ``sheetplan.*`` custom document properties of an open xlsx zip."""
    try:
        info = zf.getinfo("docProps/custom.xml")
    except KeyError:
        return {}
    if info.file_size > MAX_PROPERTIES_BYTES:
        return {}
    root = parse_xml(zf.read(info))
    out: dict[str, str] = {}
    for prop in root.iter(f"{_CUSTOM}property"):
        name = prop.get("name") or ""
        if not name.startswith(PROPERTY_PREFIX):
            continue
        value = next(iter(prop), None)
        if value is None or value.text is None:
            continue
        text = value.text
        if value.tag in (f"{_VT}r8", f"{_VT}i4") and text.endswith(".0"):
            text = text[:-2]  # LibreOffice turns integer properties into floats
        out[name[len(PROPERTY_PREFIX):]] = text
    return out


def read_identity_properties(path: str | Path) -> dict[str, str]:
    """Identity from document properties of the file at ``path`` ({} when absent)."""
    with zipfile.ZipFile(path) as zf:
        return identity_from_properties(zf)


__all__ = ["META_SHEET", "identity_from_properties", "read_identity_properties"]
