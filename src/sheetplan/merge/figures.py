"""The figures of 汇总 and 分项统计: each school's in its worker, the district's from the accepted files.

The district writer gets them as plain data (:class:`DistrictFigures`), not by calling into the merge.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..layout import Layout
from .results import FileResult

if TYPE_CHECKING:  # pragma: no cover
    from .reduce import MergeResult


@dataclass
class DistrictFigures:
    """What 汇总 and 分项统计 show, as plain data for the writer."""

    schools: dict[str, dict[str, float | None]]  # school code → district column key → value (accepted files only)
    totals: dict[str, float | None]  # district column key → the 合计 row's value
    items: list[list[Any]]  # per 分项统计 block, the values of its columns (a list's items, or months)
    breakdowns: list[dict[str, list[float]]]  # per block, school code → one figure per item


def info_keys(layout: Layout) -> frozenset[str]:
    """基本信息 fields a merge keeps of each file: those that district columns show, and the openings of running
    balances (:func:`rebalance` starts from them)."""
    district = layout.district
    shown = {c.field for c in district.columns if c.kind == "info" and c.field} if district else set()
    return frozenset(shown | {opening for _, _, opening, _, _ in running_balances(layout)})


def running_balances(layout: Layout) -> list[tuple[str, int, str, int, int]]:
    """Every running-balance field of the layout's tables, as positions in a merged row:
    (table, balance position, 基本信息 key of the opening, plus position, minus position)."""
    out = []
    for t in layout.tables:
        keys = [f.key for f in t.fields]
        for i, f in enumerate(t.fields):
            rb = (f.formula or {}).get("running_balance")
            if rb:  # merged rows start with org_code, org_name
                out.append((t.key, i + 2, rb["opening"].split(".", 1)[1], keys.index(rb["plus"]) + 2,
                            keys.index(rb["minus"]) + 2))
    return out


def rebalance(layout: Layout, res: FileResult) -> None:
    """Recompute each running balance (余额) over the file's accepted rows, from its opening (上年结余).

    A row with an error is left out of the district's figures; the balance the school's own sheet shows
    still counts it. Recomputed over what the district keeps, the last 余额 of a school in the detail is
    the 期末余额 of 汇总 (上年结余 + Σ 收入 − Σ 支出 over the same rows), and no third figure appears.
    """
    for table, at, opening, plus, minus in running_balances(layout):
        rows = res.rows.get(table)
        if not rows:
            continue
        balance = res.info.get(opening) or 0.0
        out = []
        for row in rows:
            balance = round(balance + (row[plus] or 0) - (row[minus] or 0), 2)  # money: two decimals, no drift
            out.append((*row[:at], balance, *row[at + 1:]))
        res.rows[table] = out


def file_figures(layout: Layout, res: FileResult) -> tuple[dict[str, float | None], list[list[float]]]:
    """One school's 汇总 figures and 分项统计 rows, from its accepted rows (computed in the worker).

    The running balances of those rows are recomputed first (:func:`rebalance`), so that the detail rows,
    the export and the figures all stand on the same rows.
    """
    rebalance(layout, res)
    district = layout.district
    if district is None:
        return {}, []
    # merged rows start with org_code, org_name
    index = {t.key: {f.key: i + 2 for i, f in enumerate(t.fields)} for t in layout.tables}
    vals: dict[str, float | None] = {}
    for c in district.columns:
        if c.kind in ("count", "sum"):
            idx = index[c.table]  # type: ignore[index]
            where = [(idx[k], v) for k, v in c.where.items()]
            rows = res.rows.get(c.table, [])  # type: ignore[arg-type]
            if len(where) == 1:  # the usual case, without a generator per row
                (i, v), = where
                sel = [r for r in rows if r[i] == v]
            else:
                sel = [r for r in rows if all(r[i] == v for i, v in where)]
            vals[c.key] = float(len(sel)) if c.kind == "count" else float(sum(r[idx[c.field]] or 0 for r in sel))  # type: ignore[index]
        elif c.kind == "info":
            vals[c.key] = res.info.get(c.field)  # type: ignore[arg-type]
        elif c.kind == "ratio":
            vals[c.key] = ratio(vals, c.refs)
        else:
            vals[c.key] = sum(vals[r] or 0 for r in c.refs) - sum(vals[r] or 0 for r in c.minus)
    blocks = []
    for b in district.breakdowns:
        fields = [f.key for f in layout.sheet(b.table).fields]
        bi, si = fields.index(b.by) + 2, [fields.index(x) + 2 for x in b.sum]
        items = breakdown_items(layout, b.table, b.by)
        pos = {v: i for i, v in enumerate(items)}
        block = [0.0] * len(items)
        for row in res.rows.get(b.table, []):
            i = pos.get(row[bi])
            if i is not None:
                block[i] += (row[si[0]] or 0) if len(si) == 1 else sum(row[j] or 0 for j in si) if si else 1
        blocks.append(block)
    return vals, blocks


def school_figures(result: MergeResult) -> dict[str, dict[str, float | None]]:
    """汇总 figures per school code (the formulas' cached values): those of the school's accepted file."""
    return {s.code: result.files[s.input].figures for s in result.schools
            if s.status == "submitted" and s.input is not None}


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
    if district is None:
        return []
    out: list[dict[str, list[float]]] = []
    for n, b in enumerate(district.breakdowns):
        items = breakdown_items(result.layout, b.table, b.by)
        block: dict[str, list[float]] = {}
        for s in result.schools:
            f = result.files[s.input] if s.input is not None else None
            block[s.code] = list(f.breakdowns[n]) if f is not None and s.status == "submitted" and f.breakdowns else [0.0] * len(items)
        out.append(block)
    return out


def district_figures(result: MergeResult) -> DistrictFigures:
    """Every figure the district workbook shows, from the merge's accepted files."""
    schools = school_figures(result)
    totals: dict[str, float | None] = {}
    district = result.layout.district
    if district is not None:
        submitted = [s.code for s in result.schools if s.status == "submitted"]
        for c in district.columns:
            if c.kind != "ratio":
                totals[c.key] = sum((schools.get(code, {}).get(c.key) or 0) for code in submitted)
        for c in district.columns:
            if c.kind == "ratio":
                totals[c.key] = ratio(totals, c.refs)
    items = [breakdown_items(result.layout, b.table, b.by) for b in district.breakdowns] if district else []
    return DistrictFigures(schools, totals, items, breakdown_values(result))
