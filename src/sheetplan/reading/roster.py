"""Read a district's roster of schools (CSV: 单位代码,单位名称).

The roster may be UTF-8 (with or without BOM) or GBK/GB18030, as saved by
Excel or WPS on a Chinese Windows. Header labels come from the layout's
基本信息 fields, so a roster with the layout's own labels (zh or en) works.
Every bad line is reported by number; a roster with any bad line is refused
as a whole, so nothing is half-generated from it.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from ..errors import RosterError
from ..layout import Layout
from ..layout.fields import field_spec

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class RosterEntry:
    """One school of the roster, with the CSV line it came from."""

    code: str
    name: str
    line: int


def decode_text(data: bytes) -> tuple[str, str]:
    """Decode CSV bytes as UTF-8 (BOM or not) or GB18030; return (text, encoding)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8"), "utf-8-sig"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    # GB18030 is a superset of GBK and GB2312: one decoder covers all three.
    return data.decode("gb18030"), "gb18030"


def read_roster(path: str | Path, layout: Layout) -> list[RosterEntry]:
    """Read and check a roster; raise :class:`RosterError` listing every bad line."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise RosterError(f"名册 {p} 无法打开：{exc.strerror}", f"Roster {p} cannot be opened: {exc.strerror}") from exc
    try:
        text, _ = decode_text(data)
    except UnicodeDecodeError as exc:
        raise RosterError(
            f"名册 {p.name} 不是 UTF-8 或 GBK 编码的文本文件，请在 Excel 中另存为“CSV UTF-8”。",
            f"Roster {p.name} is not UTF-8 or GBK text; save it from Excel as 'CSV UTF-8'.",
        ) from exc
    info = layout.sheet("info")
    code_f, name_f = info.field("org_code"), info.field("org_name")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    header_at = next((i for i, r in enumerate(rows) if any(c.strip() for c in r)), None)
    if header_at is None:
        raise RosterError(f"名册 {p.name} 是空的。", f"Roster {p.name} is empty.")
    header = [unicodedata.normalize("NFKC", c).strip() for c in rows[header_at]]

    def find(names: set[str]) -> int | None:
        return next((i for i, h in enumerate(header) if h in names), None)

    code_col = find({code_f.label["zh"], code_f.label["en"], "org_code"})
    name_col = find({name_f.label["zh"], name_f.label["en"], "org_name"})
    if code_col is None or name_col is None:
        raise RosterError(
            f"名册 {p.name} 第 {header_at + 1} 行应为表头“{code_f.label['zh']},{name_f.label['zh']}”，实际是：{','.join(header)}",
            f"Roster {p.name} line {header_at + 1} must be the header '{code_f.label['en']},{name_f.label['en']}' "
            f"(or '{code_f.label['zh']},{name_f.label['zh']}'); found: {','.join(header)}",
        )
    # The limits the reader applies to 单位代码 and 单位名称, derived once per field.
    code_s, name_s = field_spec(code_f, None, layout), field_spec(name_f, None, layout)
    pattern = code_s.pattern or re.compile(r".+")
    max_name = name_s.max_length or 100
    entries: list[RosterEntry] = []
    errors_zh: list[str] = []
    errors_en: list[str] = []
    seen: dict[str, int] = {}
    for i, row in enumerate(rows[header_at + 1:], start=header_at + 2):
        if not any(c.strip() for c in row):
            continue
        code = row[code_col].strip() if code_col < len(row) else ""
        name = row[name_col].strip() if name_col < len(row) else ""
        has_control = bool(_CONTROL.search(re.sub(r"[\t\r\n]", " ", name)))
        if not has_control:
            name = " ".join(name.split())  # line breaks and doubled spaces typed into a cell
        bad_zh, bad_en = [], []
        if not name:
            bad_zh.append("单位名称为空")
            bad_en.append("the name is empty")
        elif has_control:
            bad_zh.append("单位名称含有不可见的控制字符")
            bad_en.append("the name contains control characters")
        elif len(name) > max_name:
            bad_zh.append(f"单位名称超过 {max_name} 字")
            bad_en.append(f"the name is longer than {max_name} characters")
        if not code:
            bad_zh.append("单位代码为空")
            bad_en.append("the code is empty")
        elif not pattern.match(code):
            hint = code_f.pattern_hint or {"zh": code_f.pattern or "", "en": code_f.pattern or ""}
            bad_zh.append(f"单位代码“{code}”无效（应为{hint['zh']}）")
            bad_en.append(f"the code '{code}' is invalid (expected {hint['en']})")
        elif code in seen:
            bad_zh.append(f"单位代码“{code}”与第 {seen[code]} 行重复")
            bad_en.append(f"the code '{code}' repeats line {seen[code]}")
        if bad_zh:
            errors_zh.append(f"  第 {i} 行：" + "；".join(bad_zh))
            errors_en.append(f"  line {i}: " + "; ".join(bad_en))
            continue
        seen[code] = i
        entries.append(RosterEntry(code, name, i))
    if errors_zh:
        raise RosterError(
            f"名册 {p.name} 有 {len(errors_zh)} 行有误，未生成任何文件：\n" + "\n".join(errors_zh),
            f"Roster {p.name} has {len(errors_en)} bad lines; nothing was written:\n" + "\n".join(errors_en),
        )
    if not entries:
        raise RosterError(f"名册 {p.name} 中没有学校。", f"Roster {p.name} lists no schools.")
    return entries
