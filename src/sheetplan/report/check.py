"""`sheetplan check`: read, apply the rules, and report — as text or JSON."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..files import display_path
from ..layout import Layout
from ..problems import SEVERITIES, SEVERITY_WORDS, Problem
from ..reading.inputs import not_a_file
from ..reading.workbook import WorkbookData, read_workbook
from ..rules import apply_rules

GROUP_AFTER = 3  # more problems than this of one kind in one column are shown as one line


def check_file(path: str | Path, layout: Layout, display_name: str | None = None) -> WorkbookData:
    """Read one workbook and apply every rule of ``layout`` to it.

    Anything but a regular file (a pipe would block the reader for ever) is one problem, never opened.
    """
    bad = not_a_file(path, display_name or display_path(path))
    if bad is not None:
        data = WorkbookData(Path(path), display_name or display_path(path), layout)
        data.report.add(bad)
        return data
    data = read_workbook(path, layout, display_name)
    apply_rules(data)
    return data


def exit_code(results: Iterable[WorkbookData]) -> int:
    """§4: 2 when a file could not be read, 1 when the data has errors, else 0."""
    results = list(results)
    if any(not r.readable for r in results):
        return 2
    if any(r.report.has_errors for r in results):
        return 1
    return 0


def rows_read(data: WorkbookData) -> dict[str, int]:
    """Non-empty data rows read per table, valid and rejected alike."""
    return {key: len(t.records) for key, t in data.tables.items()}


def to_json(results: Iterable[WorkbookData], lang: str = "zh") -> dict[str, Any]:
    """The JSON object of §4."""
    files = []
    for r in results:
        year = r.year
        files.append({
            "path": display_path(r.display),
            "layout": r.layout.id if r.readable else None,
            "layout_version": int(r.identity["layout_version"]) if r.identity.get("layout_version", "").isdigit() else (r.layout.version if r.readable else None),
            "org_code": r.org_code,
            "org_name": r.org_name,
            "year": year,
            "rows": rows_read(r),
            "problems": [p.to_dict(lang) for p in r.report.sorted()],
        })
    return {"files": files}


def _group(problems: list[Problem]) -> list[tuple[Problem, list[Problem]]]:
    """Problems of one kind in one column become one line when there are many."""
    buckets: dict[tuple, list[Problem]] = defaultdict(list)
    for p in problems:
        buckets[(p.severity, p.code, p.field, p.sheet)].append(p)
    out: list[tuple[Problem, list[Problem]]] = []
    for p in problems:
        bucket = buckets[(p.severity, p.code, p.field, p.sheet)]
        if len(bucket) > GROUP_AFTER and p.cell:
            if bucket[0] is p:
                out.append((p, bucket))
        else:
            out.append((p, [p]))
    return out


def format_text(results: Iterable[WorkbookData], lang: str = "zh", width: int = 140) -> str:
    """A readable report: per file, per sheet, most serious first, one summary line per file."""
    from rich.console import Console
    from rich.table import Table as RichTable

    en = lang == "en"
    console = Console(record=True, width=width, force_terminal=False, color_system=None, file=_Discard())
    words = SEVERITY_WORDS[lang]
    for r in results:
        console.print(f"[bold]{r.display}[/bold]" + (f"  ({r.org_name or ''} {r.org_code or ''} {r.year or ''})" if r.readable else ""))
        by_sheet: dict[str, list[Problem]] = defaultdict(list)
        for p in r.report.sorted():
            by_sheet[p.sheet or ("(file)" if en else "（整个文件）")].append(p)
        for sheet in sheet_order(by_sheet, r.layout):
            t = RichTable(title=sheet, title_justify="left", show_lines=False, expand=False)
            for h in (("Severity", "Cell", "Code", "Message") if en else ("严重程度", "单元格", "代码", "说明")):
                t.add_column(h, overflow="fold")
            for first, bucket in _group(by_sheet[sheet]):
                if len(bucket) > 1:
                    cells = "、".join(x.cell for x in bucket[:GROUP_AFTER] if x.cell)
                    where = f"{cells} … ({len(bucket)})" if en else f"{cells} 等共 {len(bucket)} 处"
                    msg = first.message(lang) + (f" (and {len(bucket) - 1} more like it)" if en else f"（另有 {len(bucket) - 1} 处同类）")
                else:
                    where, msg = first.cell or "", first.message(lang)
                t.add_row(words.get(first.severity, first.severity), where, first.code, msg)
            console.print(t)
        console.print(_summary_line(r, lang))
        console.print()
    return console.export_text()


def sheet_order(by_sheet: dict[str, list[Problem]], layout: Layout) -> list[str]:
    """The sheets of a report in the order the workbook has them: problems about the whole file first, then the
    layout's sheets in the layout's order, then sheets the layout does not know (by name).

    A sheet is placed by the layout key its problems carry, so a renamed sheet keeps its place.
    """
    def rank(name: str) -> tuple[int, str]:
        return min(layout.sheet_rank(p.table, p.sheet) if p.sheet else -1 for p in by_sheet[name]), name

    return sorted(by_sheet, key=rank)


def _summary_line(r: WorkbookData, lang: str) -> str:
    """The last line of a file's report: how many problems of each severity, and the rows read per table."""
    en = lang == "en"
    e, w, i = (r.report.count(s) for s in SEVERITIES)
    if not r.readable:
        return f"{r.display}: not read." if en else f"{r.display}：未能读取。"
    rows = rows_read(r)
    names = {s.key: s.name[lang] for s in r.layout.sheets}
    counts = ", ".join(f"{names[k]} {n}" for k, n in rows.items()) if en else "，".join(f"{names[k]} {n} 行" for k, n in rows.items())
    if en:
        return f"{r.display}: {e} errors, {w} warnings, {i} notes; rows read: {counts}."
    return f"{r.display}：{e} 个错误，{w} 个提醒，{i} 条说明；读取 {counts}。"


class _Discard:
    """A file that throws away what is written to it: the console only records, and the text is exported."""

    def write(self, _: str) -> int:
        return 0

    def flush(self) -> None:
        pass


def dumps_json(results: Iterable[WorkbookData], lang: str = "zh") -> str:
    """The JSON report as text: always valid UTF-8 once encoded.

    A lone surrogate (a file name in GBK bytes that reached a message) cannot be encoded; it is written
    as the ``\\udcxx`` escape JSON allows instead of breaking the whole report.
    """
    text = json.dumps(to_json(results, lang), ensure_ascii=False, indent=2, default=str)
    if _SURROGATE.search(text):
        text = _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return text


_SURROGATE = re.compile("[\ud800-\udfff]")
