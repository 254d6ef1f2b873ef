"""`sheetplan merge`: a map over files, then a reduce.

Map: :func:`read_one` reads and checks one file and returns a compact,
picklable :class:`FileResult` (row tuples, not objects) — a pure function
that parallel processes run. Reduce: :func:`combine` settles double
submissions, joins the roster, applies the cross-school rules and counts
every row: read = merged + rejected, per table.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import signal
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import UsageError
from .fieldtypes import show
from .layout import Layout
from .problems import Problem, problem
from .roster import RosterEntry, read_roster
from .sniff import is_ignored_name

STATUS = {"submitted": ("已提交", "submitted"), "missing": ("未提交", "not submitted"),
          "unreadable": ("无法读取", "unreadable"), "superseded": ("已被替代", "superseded")}
FILE_TIMEOUT = 120  # seconds one file may take before it is given up (a pathological file cannot hang a merge)


@dataclass
class FileResult:
    """What reading one file gives the reduce step (compact and picklable)."""

    path: str
    source_file: str
    sha256: str = ""
    size: int = 0
    modified: str = ""
    readable: bool = False
    layout: str | None = None
    layout_version: str | None = None
    org_code: str | None = None
    org_name: str | None = None
    year: int | None = None
    prepared_on: str | None = None
    opening_balance: float | None = None
    rows: dict[str, list[tuple]] = field(default_factory=dict)  # accepted: field values…, source_row
    rejected: dict[str, list[tuple[int, dict[str, Any]]]] = field(default_factory=dict)  # (source_row, raw row)
    cells: dict[str, dict[str, str]] = field(default_factory=dict)  # table → field → column letter
    sheets: dict[str, str] = field(default_factory=dict)  # table → sheet name in the file
    problems: list[Problem] = field(default_factory=list)
    status: str = "submitted"
    seconds: float = 0.0

    def read_count(self, table: str) -> int:
        return len(self.rows.get(table, ())) + len(self.rejected.get(table, ()))


def find_inputs(inputs: Iterable[str | Path]) -> list[tuple[Path, str]]:
    """Every file to read, with its ``source_file`` name (relative to the folder it was found in)."""
    out: list[tuple[Path, str]] = []
    seen: set[Path] = set()
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                rel = f.relative_to(p)
                if any(is_ignored_name(part) for part in rel.parts) or not f.is_file():
                    continue
                if f.resolve() not in seen:
                    seen.add(f.resolve())
                    out.append((f, rel.as_posix()))
        elif p.exists():
            if p.resolve() not in seen:
                seen.add(p.resolve())
                out.append((p, p.name))
        else:
            raise UsageError(f"找不到输入：{p}", f"Input not found: {p}")
    return out


# ----------------------------------------------------------------------------- map

_LAYOUT: Layout | None = None


def _init(layout: Layout) -> None:
    global _LAYOUT
    _LAYOUT = layout


class _Timeout(Exception):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise _Timeout


def read_one(task: tuple[str, str], layout: Layout | None = None, timeout: int = FILE_TIMEOUT) -> FileResult:
    """Read and check one file into a compact result. Never raises for a bad file."""
    from .check import check_file

    lay = layout or _LAYOUT
    assert lay is not None
    path, source = task
    start = time.perf_counter()
    res = FileResult(path, source)
    try:
        st = os.stat(path)
        res.size = st.st_size
        res.modified = dt.datetime.fromtimestamp(st.st_mtime).isoformat(timespec="seconds")
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        res.sha256 = h.hexdigest()
    except OSError as exc:
        res.problems.append(problem("unreadable_file", f"文件 {source} 无法打开：{exc.strerror}。", f"The file {source} cannot be opened: {exc.strerror}.", file=source))
        res.status = "unreadable"
        return res
    use_alarm = timeout > 0 and hasattr(signal, "SIGALRM")
    old = signal.signal(signal.SIGALRM, _alarm) if use_alarm else None
    try:
        if use_alarm:
            signal.alarm(timeout)
        data = check_file(path, lay, source)
    except _Timeout:
        res.problems.append(problem("timeout", f"读取 {source} 超过 {timeout} 秒，已放弃。", f"Reading {source} took over {timeout} s; given up.", file=source))
        res.status = "unreadable"
        return res
    except Exception as exc:  # the last line of defence: one file never stops a merge
        res.problems.append(problem("unreadable_file", f"文件 {source} 无法读取：{type(exc).__name__}。", f"The file {source} cannot be read: {type(exc).__name__}.", file=source))
        res.status = "unreadable"
        return res
    finally:
        if use_alarm:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, old)
    res.problems = list(data.report)
    res.seconds = time.perf_counter() - start
    if not data.readable:
        res.status = "unreadable"
        return res
    res.readable = True
    res.layout = lay.id
    res.layout_version = data.identity.get("layout_version") or str(lay.version)
    res.org_code = data.org_code if isinstance(data.org_code, str) else None
    res.org_name = data.org_name if isinstance(data.org_name, str) else None
    res.year = data.year
    prepared = data.info.get("prepared_on")
    res.prepared_on = prepared.isoformat() if isinstance(prepared, dt.date) else None
    ob = data.info.get("opening_balance")
    res.opening_balance = float(ob) if isinstance(ob, (int, float)) else None
    for key, table in data.tables.items():
        sheet = lay.sheet(key)
        keys = [f.key for f in sheet.fields]
        res.sheets[key] = table.sheet_name or sheet.name["zh"]
        res.cells[key] = {k: "".join(ch for ch in c if ch.isalpha()) for k, c in (table.records[0].cells.items() if table.records else [])}
        accepted, rejected = [], []
        for rec in table.records:
            if rec.rejected:
                rejected.append((rec.row, {k: show(v) for k, v in rec.raw.items() if v is not None}))
            else:
                accepted.append((*(rec.values.get(k) for k in keys), rec.row))
        res.rows[key] = accepted
        res.rejected[key] = rejected
    return res


def read_all(files: Sequence[tuple[Path, str]], layout: Layout, jobs: int | None = None,
             progress: Callable[[int, int], None] | None = None) -> list[FileResult]:
    """Map :func:`read_one` over files, in parallel processes (default: one per core)."""
    tasks = [(str(p), s) for p, s in files]
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(tasks) or 1))
    results: list[FileResult] = []
    if jobs == 1:
        for t in tasks:
            results.append(read_one(t, layout))
            if progress:
                progress(len(results), len(tasks))
        return results
    with ProcessPoolExecutor(max_workers=jobs, initializer=_init, initargs=(layout,)) as pool:
        for r in pool.map(read_one, tasks, chunksize=max(1, min(16, len(tasks) // (jobs * 4) or 1))):
            results.append(r)
            if progress:
                progress(len(results), len(tasks))
    return results


# ----------------------------------------------------------------------------- reduce


@dataclass
class School:
    """One row of 汇总."""

    code: str
    name: str
    status: str  # a key of STATUS
    on_roster: bool
    source_file: str | None = None
    opening_balance: float | None = None
    errors: int = 0
    warnings: int = 0


@dataclass
class MergeResult:
    """The combined tables, problems, submissions and schools of a merge."""

    layout: Layout
    files: list[FileResult]
    schools: list[School]
    rows: dict[str, list[tuple]]  # table → accepted rows: org_code, org_name, field values…, source_file, source_row
    problems: list[Problem]
    raw_rows: dict[tuple[str, str, int], dict[str, Any]]  # (source_file, table, row) → raw row of a rejected row
    counts: dict[str, dict[str, int]]  # table → read / merged / rejected

    # -- pandas views for analysts
    def table(self, key: str) -> Any:
        """Accepted rows of one table as a DataFrame (field keys + provenance)."""
        import pandas as pd

        sheet = self.layout.sheet(key)
        cols = ["org_code", "org_name", *[f.key for f in sheet.fields], "source_file", "source_row"]
        frame = pd.DataFrame(self.rows.get(key, []), columns=cols)
        for f in sheet.fields:
            if f.type == "date":
                frame[f.key] = pd.to_datetime(frame[f.key])
            elif f.type in ("money", "formula"):
                frame[f.key] = pd.to_numeric(frame[f.key]).astype("float64")
            elif f.type in ("int", "month"):
                frame[f.key] = frame[f.key].astype("Int64")
            else:
                frame[f.key] = frame[f.key].astype("string")
        for c in ("org_code", "org_name", "source_file"):
            frame[c] = frame[c].astype("string")
        return frame

    @property
    def tables(self) -> dict[str, Any]:
        """Every table as a DataFrame."""
        return {t.key: self.table(t.key) for t in self.layout.tables}

    def problem_records(self, lang: str = "zh", labels: bool = False) -> list[dict[str, Any]]:
        """problems.csv rows: source_file, org, severity, code, sheet, cell, row, field, value, message, raw.

        ``raw`` is the rejected row as JSON, keyed by field key (or by header label with ``labels``).
        """
        orgs = {f.source_file: (f.org_code, f.org_name) for f in self.files}
        out = []
        for p in self.problems:
            code, name = orgs.get(p.file or "", (None, None))
            raw = self.raw_rows.get((p.file or "", p.table or "", p.row or -1))
            if raw and labels:
                sheet = self.layout.sheet(p.table)  # type: ignore[arg-type]
                raw = {sheet.field(k).label[lang]: v for k, v in raw.items()}
            out.append({"source_file": p.file, "org_code": code, "org_name": name, "severity": p.severity,
                        "code": p.code, "sheet": p.sheet, "cell": p.cell, "row": p.row, "field": p.field,
                        "value": None if p.value is None else str(p.value), "message": p.message(lang),
                        "raw": json.dumps(raw, ensure_ascii=False) if raw else None})
        return out

    @property
    def problems_frame(self) -> Any:
        import pandas as pd

        return pd.DataFrame(self.problem_records())

    def submission_records(self, lang: str = "zh") -> list[dict[str, Any]]:
        """submissions.csv rows."""
        word = 0 if lang == "zh" else 1
        return [{"source_file": f.source_file, "sha256": f.sha256, "size": f.size, "modified": f.modified,
                 "layout": f.layout, "layout_version": f.layout_version, "org_code": f.org_code, "org_name": f.org_name,
                 "prepared_on": f.prepared_on, "status": STATUS[f.status][word]} for f in self.files]

    @property
    def submissions(self) -> Any:
        import pandas as pd

        return pd.DataFrame(self.submission_records())

    @property
    def exit_code(self) -> int:
        """§6: 2 nothing readable; 1 unreadable files or rejected rows/errors; 0 otherwise."""
        if not any(f.status == "submitted" for f in self.files):
            return 2
        if any(f.status == "unreadable" for f in self.files):
            return 1
        if any(p.severity == "error" for p in self.problems):
            return 1
        return 0


def combine(results: list[FileResult], layout: Layout, roster: list[RosterEntry] | None = None) -> MergeResult:
    """The reduce step: supersession, roster, cross-school rules, row accounting."""
    by_code: dict[str, list[FileResult]] = defaultdict(list)
    for r in results:
        if r.readable and r.org_code:
            by_code[r.org_code].append(r)
    for files in by_code.values():
        files.sort(key=lambda f: (f.prepared_on or "", f.modified, f.source_file), reverse=True)
        for older in files[1:]:
            older.status = "superseded"
            older.problems.append(problem(
                "superseded", f"{older.org_name or ''}（{older.org_code}）另有更新的文件 {files[0].source_file}，本文件已被替代。",
                f"{older.org_name or ''} ({older.org_code}) has a newer file {files[0].source_file}; this one is superseded.",
                file=older.source_file))
    for r in results:
        if r.readable and not r.org_code:
            r.status = "unreadable"
            r.problems.append(problem("unreadable_file", f"文件 {r.source_file} 中没有单位代码，无法归入学校。",
                                      f"The file {r.source_file} has no organisation code; it cannot be attributed.", file=r.source_file))
    accepted = [r for r in results if r.status == "submitted"]
    roster_codes = {e.code: e for e in roster or []}
    schools: dict[str, School] = {}
    for e in roster or []:
        schools[e.code] = School(e.code, e.name, "missing", True)
    for r in accepted:
        s = schools.get(r.org_code)  # type: ignore[arg-type]
        if s is None:
            s = schools[r.org_code] = School(r.org_code, r.org_name or "", "submitted", False)  # type: ignore[index]
            if roster is not None:
                r.problems.append(problem("not_on_roster", f"{r.org_name}（{r.org_code}）不在名册中，已一并汇总。",
                                          f"{r.org_name} ({r.org_code}) is not on the roster; it is included.", file=r.source_file))
        s.status, s.source_file, s.opening_balance = "submitted", r.source_file, r.opening_balance
    for r in results:
        if r.status != "unreadable":
            continue
        guess = next((c for c in roster_codes if r.source_file.rsplit("/", 1)[-1].startswith(c + "_")), None)
        if guess and schools[guess].status == "missing":
            schools[guess].status, schools[guess].source_file = "unreadable", r.source_file
    _apply_merge_rules(accepted, layout)
    rows: dict[str, list[tuple]] = {}
    counts: dict[str, dict[str, int]] = {}
    raw_rows: dict[tuple[str, str, int], dict[str, Any]] = {}
    for t in layout.tables:
        merged = [(r.org_code, r.org_name, *row[:-1], r.source_file, row[-1]) for r in accepted for row in r.rows.get(t.key, [])]
        rows[t.key] = merged
        rejected = sum(len(r.rejected.get(t.key, ())) for r in accepted)
        counts[t.key] = {"read": sum(r.read_count(t.key) for r in accepted), "merged": len(merged), "rejected": rejected}
        for r in accepted:
            for row_no, raw in r.rejected.get(t.key, ()):
                raw_rows[(r.source_file, t.key, row_no)] = raw
    problems = [p for r in results for p in r.problems]
    for s in schools.values():
        if s.source_file:
            ps = [p for p in problems if p.file == s.source_file]
            s.errors, s.warnings = sum(p.severity == "error" for p in ps), sum(p.severity == "warning" for p in ps)
    ordered = [schools[e.code] for e in roster or []] + sorted((s for s in schools.values() if not s.on_roster), key=lambda s: s.code)
    return MergeResult(layout, results, ordered, rows, problems, raw_rows, counts)


def _apply_merge_rules(accepted: list[FileResult], layout: Layout) -> None:
    """Rules across schools (the same person entered by two schools …), as warnings on later files."""
    for sheet in layout.tables:
        keys = [f.key for f in sheet.fields]
        for rule in sheet.merge_rules:
            fields = rule.params["fields"]
            idx = [keys.index(k) for k in fields]
            first: dict[tuple, FileResult] = {}
            for r in accepted:
                for row in r.rows.get(sheet.key, []):
                    k = tuple(row[i] for i in idx)
                    if any(v is None for v in k):
                        continue
                    owner = first.setdefault(k, r)
                    if owner.org_code != r.org_code:
                        labels = "+".join(sheet.field(f).label["zh"] for f in fields)
                        col = r.cells.get(sheet.key, {}).get(fields[0])
                        what = "、".join(map(str, k))
                        r.problems.append(problem(
                            rule.code, f"{labels}“{what}”也由 {owner.org_name}（{owner.org_code}）报名。",
                            f"'{what}' is also entered by {owner.org_name} ({owner.org_code}).", rule.severity,
                            file=r.source_file, sheet=r.sheets.get(sheet.key), cell=f"{col}{row[-1]}" if col else None,
                            row=row[-1], field=fields[0], value=what, table=sheet.key))


def merge(inputs: Iterable[str | Path], roster: str | Path | None = None, layout: str | Path | Layout = "school",
          jobs: int | None = None, progress: Callable[[int, int], None] | None = None) -> MergeResult:
    """Read every workbook under ``inputs`` and combine them (the Python API of `sheetplan merge`)."""
    from .layout import load_layout

    lay = layout if isinstance(layout, Layout) else load_layout(layout)
    entries = read_roster(roster, lay) if roster is not None else None
    files = find_inputs(inputs)
    results = read_all(files, lay, jobs, progress)
    return combine(results, lay, entries)


# ----------------------------------------------------------------------------- figures


def school_figures(result: MergeResult) -> dict[str, dict[str, float | None]]:
    """汇总 figures per school code, computed in Python (the formulas' cached values)."""
    district = result.layout.district
    if district is None:
        return {}
    layout = result.layout
    index = {t.key: {f.key: i + 2 for i, f in enumerate(t.fields)} for t in layout.tables}
    by_school: dict[str, dict[str, list[tuple]]] = defaultdict(lambda: defaultdict(list))
    for key, rows in result.rows.items():
        for row in rows:
            by_school[row[0]][key].append(row)
    out: dict[str, dict[str, float | None]] = {}
    for s in result.schools:
        vals: dict[str, float | None] = {}
        mine = by_school.get(s.code, {})
        for c in district.columns:
            if c.kind in ("count", "sum"):
                rows = mine.get(c.table, [])  # type: ignore[arg-type]
                idx = index[c.table]  # type: ignore[index]
                sel = [r for r in rows if all(r[idx[k]] == v for k, v in c.where.items())]
                vals[c.key] = float(len(sel)) if c.kind == "count" else float(sum(r[idx[c.field]] or 0 for r in sel))  # type: ignore[index]
            elif c.kind == "info":
                vals[c.key] = s.opening_balance if c.field == "opening_balance" else None
            elif c.kind == "ratio":
                vals[c.key] = ratio(vals, c.refs)
            else:
                vals[c.key] = sum(vals[r] or 0 for r in c.refs) - sum(vals[r] or 0 for r in c.minus)
        out[s.code] = vals
    return out


def ratio(vals: dict[str, float | None], refs: tuple[str, ...]) -> float | None:
    """A / (B − C), or None (an empty cell) when B − C is 0."""
    num, den = vals[refs[0]] or 0, (vals[refs[1]] or 0) - (vals[refs[2]] or 0 if len(refs) > 2 else 0)
    return num / den if den else None


def breakdown_items(layout: Layout, table: str, by: str) -> list[Any]:
    """The column values of a 分项统计 block: the field's list, or the months 1–12."""
    f = layout.sheet(table).field(by)
    return list(layout.lists[f.list].values) if f.type == "list" else list(range(1, 13))  # type: ignore[index]


def breakdown_values(result: MergeResult) -> list[dict[str, list[float]]]:
    """Per 分项统计 block: school code → one figure per item."""
    district = result.layout.district
    out: list[dict[str, list[float]]] = []
    if district is None:
        return out
    for b in district.breakdowns:
        fields = [f.key for f in result.layout.sheet(b.table).fields]
        bi = fields.index(b.by) + 2
        si = [fields.index(s) + 2 for s in b.sum]
        items = breakdown_items(result.layout, b.table, b.by)
        pos = {v: i for i, v in enumerate(items)}
        block: dict[str, list[float]] = {s.code: [0.0] * len(items) for s in result.schools}
        for row in result.rows.get(b.table, []):
            i = pos.get(row[bi])
            if i is None or row[0] not in block:
                continue
            block[row[0]][i] += sum(row[j] or 0 for j in si) if si else 1
        out.append(block)
    return out
