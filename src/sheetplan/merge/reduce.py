"""The reduce step of a merge: supersession, the roster, rules across schools, and the accounting."""

from __future__ import annotations

import datetime as dt
import functools
import json
import secrets
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from ..errors import IntegrityError
from ..layout import Layout
from ..problems import CATALOGUE, SEVERITY_ORDER, Problem, problem
from ..reading.roster import RosterEntry
from ..rules import check_across
from .figures import DistrictFigures, district_figures
from .results import STATUS, FileResult
from .spill import RowStore, Spill


@dataclass
class School:
    """One row of 汇总."""

    code: str
    name: str
    status: str  # a key of STATUS
    on_roster: bool
    source_file: str | None = None
    input: int | None = None  # position of that file among the inputs
    errors: int = 0
    warnings: int = 0
    rejected: int = 0  # rows of its file left out of the figures for an error (they are in 问题清单)


@dataclass
class MergeResult:
    """The combined tables, problems, submissions and schools of a merge."""

    layout: Layout
    files: list[FileResult]
    schools: list[School]
    merged: dict[str, RowStore]  # table → its merged rows (org_code, org_name, field values…, source_file, source_row), on disk
    problems: list[Problem]
    raw_rows: dict[tuple[int, str, int], dict[str, Any]]  # (input position, table, row) → raw row of a rejected row
    counts: dict[str, dict[str, int]]  # table → read / merged / rejected
    spill: Spill | None = field(default=None, repr=False)
    # Marks the district workbook and the export of one run, so that a workbook and an export folder left by
    # different runs (a run killed half-way, two runs at once) can be told apart: the time and a random part.
    run_id: str = field(default_factory=lambda: f"{dt.datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(3)}")

    def problem_records(self, lang: str = "zh", labels: bool = False) -> list[dict[str, Any]]:
        """problems.csv rows: source_file, org, severity, code, sheet, cell, row, field, value, message, raw.

        ``raw`` is the rejected row as JSON keyed by field key. With ``labels`` (the district workbook, read by
        people) ``raw`` is text such as ``摘要：退回多收会费；收入：500`` with the header labels, ``field`` is
        the field's label, and ``meaning`` says what the code means (from the catalogue).
        """
        out = []
        for p in self.problems:
            f = self.files[p.input] if p.input is not None else None
            code, name = (f.org_code, f.org_name) if f is not None else (None, None)
            raw = self.raw_rows.get((p.input if p.input is not None else -1, p.table or "", p.row or -1))
            field = p.field
            if labels:
                sheet = self._sheet(p.table)
                if sheet is not None and field is not None:
                    field = next((x.label[lang] for x in sheet.fields if x.key == field), field)
                text = None
                if raw and sheet is not None:
                    names = {x.key: x.label[lang] for x in sheet.fields}
                    sep = ("：", "；") if lang == "zh" else (": ", "; ")
                    text = sep[1].join(f"{names.get(k, k)}{sep[0]}{v}" for k, v in raw.items())
            else:
                text = json.dumps(raw, ensure_ascii=False) if raw else None
            rec = {"source_file": p.file, "org_code": code, "org_name": name, "severity": p.severity,
                   "code": p.code, "sheet": p.sheet, "cell": p.cell, "row": p.row, "field": field,
                   "value": None if p.value is None else str(p.value), "message": p.message(lang), "raw": text}
            if labels:
                entry = CATALOGUE.get(p.code)
                rec["meaning"] = (entry[1] if lang == "zh" else entry[2]) if entry else None
            out.append(rec)
        return out

    def _sheet(self, table: str | None) -> Any:
        """The layout's sheet of a problem, or None (a problem of the whole file)."""
        try:
            return self.layout.sheet(table) if table else None
        except KeyError:
            return None

    def submission_records(self, lang: str = "zh", board: bool = False) -> list[dict[str, Any]]:
        """submissions.csv rows (§6); with ``board``, also what 提交情况 shows beside them: ``on_roster`` (False
        for an accepted file of a school the roster does not list, None without a roster) and ``note`` (why a file
        was not merged, or that its school is not on the roster)."""
        word = 0 if lang == "zh" else 1
        roster = any(s.on_roster for s in self.schools)
        off_roster = {s.input for s in self.schools if not s.on_roster}
        out = []
        for f in self.files:
            rec = {"source_file": f.source_file, "sha256": f.sha256, "size": f.size, "modified": f.modified,
                   "layout": f.layout, "layout_version": f.layout_version, "org_code": f.org_code,
                   "org_name": f.org_name, "prepared_on": f.prepared_on, "status": STATUS[f.status][word]}
            if board:
                rec["layout_fingerprint"] = f.layout_fingerprint
                rec["on_roster"] = (f.index not in off_roster) if roster and f.status == "submitted" else None
                rec["note"] = _note(f, lang)
            out.append(rec)
        return out

    def status_words(self, lang: str = "zh") -> dict[str, str]:
        """Each status in the user's language (提交状态)."""
        return {k: v[0 if lang == "zh" else 1] for k, v in STATUS.items()}

    @functools.cached_property
    def figures(self) -> DistrictFigures:
        """Every figure of 汇总 and 分项统计 (computed once, when first asked for)."""
        return district_figures(self)

    @property
    def merged_nothing(self) -> bool:
        """Whether no file was merged (every input unreadable, or none yet)."""
        return not any(f.status == "submitted" for f in self.files)

    @property
    def exit_code(self) -> int:
        """§6: 2 nothing readable; 1 unreadable files or rejected rows/errors; 0 otherwise.

        With a roster and nothing readable yet (the first days of a collection) the status board of who has
        and has not submitted is still written: 1, written but with problems.
        """
        if self.merged_nothing:
            return 1 if any(s.on_roster for s in self.schools) else 2
        if any(f.status == "unreadable" for f in self.files):
            return 1
        if any(p.severity == "error" for p in self.problems):
            return 1
        return 0


def _note(f: FileResult, lang: str) -> str | None:
    """Why a file was not merged (the first of its most serious problems: what made it unreadable, the note
    that it was superseded …), or, for a merged file, that its school is not on the roster."""
    if f.status == "submitted":
        return next((p.message(lang) for p in f.problems if p.code == "not_on_roster"), None)
    if not f.problems:
        return None
    return min(f.problems, key=lambda p: SEVERITY_ORDER.get(p.severity, len(SEVERITY_ORDER))).message(lang)


def combine(results: list[FileResult], layout: Layout, roster: list[RosterEntry] | None = None,
            spill: Spill | None = None) -> MergeResult:
    """The reduce step: supersession, roster, cross-school rules, row accounting.

    Raises :class:`IntegrityError` when the accounting does not add up (read = merged + rejected per table),
    before anything is written.
    """
    if spill is None:
        for i, r in enumerate(results):
            r.index = i
        spill = Spill(layout)
        for r in results:
            spill.take(r)
    if [r.index for r in results] != list(range(len(results))):
        raise IntegrityError("输入文件的编号与读取顺序不一致。", "The inputs' positions do not match the reading order.")
    by_code: dict[str, list[FileResult]] = defaultdict(list)
    for r in results:
        if r.readable and r.org_code:
            by_code[r.org_code].append(r)
    for files in by_code.values():
        # The year first: a file of an earlier year never replaces the school's file of a later one, whatever
        # its 填报日期. Then the later 填报日期, the later modification, the later input.
        files.sort(key=lambda f: (f.year or 0, f.prepared_on or "", f.modified, f.index), reverse=True)
        for older in files[1:]:
            older.status = "superseded"
            # What was found in a replaced file is not the district's concern: only the replacement is listed.
            older.problems = [problem(
                "superseded", f"{older.org_name or ''}（{older.org_code}）另有更新的文件 {files[0].source_file}，本文件已被替代。",
                f"{older.org_name or ''} ({older.org_code}) has a newer file {files[0].source_file}; this one is superseded.",
                file=older.source_file)]
    for r in results:
        if r.readable and not r.org_code:
            r.status = "unreadable"
            r.problems.append(problem("unreadable_file", f"文件 {r.source_file} 中没有单位代码，无法归入学校。",
                                      f"The file {r.source_file} has no organisation code; it cannot be attributed.", file=r.source_file))
    accepted = [r for r in results if r.status == "submitted"]
    _flag_other_years(accepted)
    _flag_other_layouts(accepted, layout)
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
        s.status, s.source_file, s.input = "submitted", r.source_file, r.index
    for r in results:
        if r.status != "unreadable":
            continue
        guess = next((c for c in roster_codes if r.source_file.rsplit("/", 1)[-1].startswith(c + "_")), None)
        if guess and schools[guess].status == "missing":
            schools[guess].status, schools[guess].source_file, schools[guess].input = "unreadable", r.source_file, r.index
    spill.seal({r.index for r in accepted})
    merged = spill.stores
    _apply_merge_rules(accepted, layout, merged)
    counts: dict[str, dict[str, int]] = {}
    raw_rows: dict[tuple[int, str, int], dict[str, Any]] = {}
    for t in layout.tables:
        rejected = sum(len(r.rejected.get(t.key, ())) for r in accepted)
        counts[t.key] = {"read": sum(r.read_count(t.key) for r in accepted), "merged": len(merged[t.key]), "rejected": rejected}
        for r in accepted:
            for row_no, raw in r.rejected.get(t.key, ()):
                raw_rows[(r.index, t.key, row_no)] = raw
    for r in results:
        for p in r.problems:
            p.input = r.index
    problems = [p for r in results for p in r.problems]
    tally: dict[tuple[int | None, str], int] = defaultdict(int)
    for p in problems:
        tally[(p.input, p.severity)] += 1
    for s in schools.values():
        if s.input is not None:
            s.errors, s.warnings = tally[(s.input, "error")], tally[(s.input, "warning")]
        if s.status == "submitted" and s.input is not None:
            s.rejected = sum(len(rows) for rows in results[s.input].rejected.values())
    ordered = [schools[e.code] for e in roster or []] + sorted((s for s in schools.values() if not s.on_roster), key=lambda s: s.code)
    result = MergeResult(layout, results, ordered, merged, problems, raw_rows, counts, spill)
    check_accounting(result)
    return result


def check_accounting(result: MergeResult) -> None:
    """The invariants a roll-up rests on, checked before anything is written (§9).

    Per table, the rows read from the accepted files equal the rows merged plus the rows rejected, where
    "merged" is what the row store (the source of the detail sheets, the totals and the export) holds; every
    input has one status; a school's row in 汇总 points at an accepted file of that school.
    """
    accepted = [f for f in result.files if f.status == "submitted"]
    for t in result.layout.tables:
        read = sum(f.read_count(t.key) for f in accepted)
        merged = len(result.merged[t.key])
        rejected = sum(len(f.rejected.get(t.key, ())) for f in accepted)
        if read != merged + rejected or result.counts[t.key] != {"read": read, "merged": merged, "rejected": rejected}:
            raise IntegrityError(
                f"行数核对不成立：{t.name['zh']} 读取 {read} 行，汇总 {merged} 行，退回 {rejected} 行。汇总未写出。",
                f"The row accounting does not hold: {t.name['en']} read {read}, merged {merged}, rejected {rejected}. "
                "Nothing was written.")
    if any(f.status not in STATUS for f in result.files):
        raise IntegrityError("有输入文件没有确定的状态。", "An input has no settled status.")
    codes = [f.org_code for f in accepted]
    if len(codes) != len(set(codes)):
        raise IntegrityError("同一学校有多个文件被同时汇总。", "Several files of one school were accepted.")
    by_index = {f.index: f for f in accepted}
    for s in result.schools:
        if s.status == "submitted" and (s.input not in by_index or by_index[s.input].org_code != s.code):
            raise IntegrityError(f"汇总中 {s.code} 的来源文件不对。", f"The source file of {s.code} in the summary is wrong.")


def _flag_other_layouts(accepted: list[FileResult], layout: Layout) -> None:
    """A warning on each accepted file made with another edition of the layout than the one merging it (its
    fingerprint differs): its lists, caps and labels may not be the district's. Files made before workbooks
    carried a fingerprint are left alone."""
    for r in accepted:
        if r.layout_fingerprint and r.layout_fingerprint != layout.fingerprint:
            r.problems.append(problem(
                "layout_edition", f"{r.org_name or ''}（{r.org_code}）的工作簿用另一版本的版式生成（指纹 {r.layout_fingerprint}，"
                f"本次汇总用的是 {layout.fingerprint}）：下拉列表、上限或栏目可能不同，请核对。",
                f"{r.org_name or ''} ({r.org_code}) used another edition of the layout (fingerprint {r.layout_fingerprint}; "
                f"this merge uses {layout.fingerprint}): its lists, caps or columns may differ. Please check.",
                file=r.source_file, value=r.layout_fingerprint))


def _flag_other_years(accepted: list[FileResult]) -> None:
    """A warning on each accepted file whose 年度 differs from that of most files: its figures are another year's."""
    years = Counter(r.year for r in accepted if r.year)
    if len(years) < 2:
        return
    main = max(years, key=lambda y: (years[y], y))
    for r in accepted:
        if r.year and r.year != main:
            r.problems.append(problem(
                "other_year", f"{r.org_name or ''}（{r.org_code}）报送的是 {r.year} 年度的工作簿，其他学校是 {main} 年度；已一并汇总，请核对。",
                f"{r.org_name or ''} ({r.org_code}) sent a workbook of {r.year}; the others are of {main}. It is included; "
                "please check.", file=r.source_file))


def _apply_merge_rules(accepted: list[FileResult], layout: Layout, stores: dict[str, RowStore]) -> None:
    """Rules across schools (the same person entered by two schools …), as warnings on later files."""
    by_code = {r.org_code: r for r in accepted}  # accepted files have one code each: the others were superseded
    for sheet in layout.tables:
        for rule in sheet.merge_rules:
            for p in check_across(rule, sheet, stores[sheet.key]):
                r = by_code[p.org_code]
                col = r.cells.get(sheet.key, {}).get(p.field)
                r.problems.append(problem(p.code, p.zh, p.en, p.severity, file=r.source_file, sheet=r.sheets.get(sheet.key),
                                          cell=f"{col}{p.row}" if col else None, row=p.row, field=p.field, value=p.value,
                                          table=sheet.key))
