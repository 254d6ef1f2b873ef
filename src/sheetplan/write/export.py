"""`merge --export DIR`: tidy CSV files (UTF-8 with BOM, so Excel opens them right).

Text from a school that a spreadsheet would take for a formula is written with a leading apostrophe.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import errno
import io
import json
import os
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..files import atomic_output, sha256_of

if TYPE_CHECKING:  # merge's workers import this module; merge is only needed for the annotations
    from ..layout import Field
    from ..merge import MergeResult

PROVENANCE = ["org_code", "org_name", "source_file", "source_row"]
PROBLEM_COLUMNS = ["source_file", "org_code", "org_name", "severity", "code", "sheet", "cell", "row", "field",
                   "value", "message", "raw"]
SUBMISSION_COLUMNS = ["source_file", "sha256", "size", "modified", "layout", "layout_version", "org_code",
                      "org_name", "prepared_on", "status"]
# `--header zh`: the Chinese labels, for people who open the CSV files in Excel (field keys stay the default, §5).
# A table's fields take their labels from the layout; these are the columns every export has.
ZH_LABELS = {"org_code": "单位代码", "org_name": "单位名称", "source_file": "来源文件", "source_row": "来源行",
             "severity": "严重程度", "code": "代码", "sheet": "工作表", "cell": "单元格", "row": "行", "field": "字段",
             "value": "原值", "message": "说明", "raw": "原始行", "sha256": "SHA-256", "size": "大小(字节)",
             "modified": "修改时间", "layout": "版式", "layout_version": "版式版本", "prepared_on": "填报日期",
             "status": "状态"}
HEADERS = ("key", "zh")


# Excel, WPS and LibreOffice evaluate a CSV cell that starts with one of these as a formula (HYPERLINK, DDE …).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_DATE = dt.date


def _cell(v: Any) -> Any:
    t = type(v)
    if t is str:
        # A leading apostrophe makes the spreadsheet keep the text as text (and hides the apostrophe);
        # Parquet, read by programs rather than spreadsheets, keeps the text as it was.
        return "'" + v if v.startswith(FORMULA_START) else v
    if v is None:
        return ""
    if t is float:
        return int(v) if v.is_integer() and abs(v) < 1e15 else v
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, float) and v.is_integer():
        return int(v) if abs(v) < 1e15 else v
    return v


def _write_csv(path: Path, header: list[str], rows: Any) -> None:
    with atomic_output(path) as fh:
        fh.write("\ufeff".encode())
        text = _Text(fh)
        w = csv.writer(text, lineterminator="\r\n")
        w.writerow(header)
        for row in rows:
            w.writerow([_cell(v) for v in row])


def csv_lines(rows: Sequence[tuple], fields: Sequence[Field]) -> bytes:
    """Merged rows of one table as the lines of its CSV (UTF-8, no header): field values, then provenance.

    Merge workers call this for their own file's rows, so that the export only joins the pieces. The work
    goes column by column, each column converted only as its type needs (the same result as :func:`_cell`).
    """
    if not rows:
        return b""
    columns = list(zip(*rows, strict=True))  # org_code, org_name, fields…, source_file, source_row
    out = [_column(columns[2 + i], f.type) for i, f in enumerate(fields)]
    out += [_column(columns[0], "text"), _column(columns[1], "text"), _column(columns[-2], "text"), columns[-1]]
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(zip(*out, strict=True))
    return buf.getvalue().encode("utf-8")


def _column(values: Sequence[Any], kind: str) -> Sequence[Any]:
    """One column as :func:`_cell` writes it (csv writes None as empty and other values with str())."""
    if kind in ("int", "month"):
        return [v if type(v) is int or v is None else _cell(v) for v in values]
    if kind in ("money", "formula"):
        return [(int(v) if v.is_integer() and abs(v) < 1e15 else v) if type(v) is float else v if v is None else _cell(v)
                for v in values]
    if kind == "date":  # csv writes a date with str(), which is its ISO form
        return [v if v is None or v.__class__ is _DATE else _cell(v) for v in values]
    if _plain_text(values):
        return values
    return [("'" + v if v.startswith(FORMULA_START) else v) if type(v) is str else v if v is None else _cell(v)
            for v in values]


def _plain_text(values: Sequence[Any]) -> bool:
    """Whether a column holds only text (or blanks) that no spreadsheet would take for a formula: the usual case,
    told by one look at the whole column rather than a look at each cell."""
    try:
        joined = "\x00" + "\x00".join([v for v in values if v is not None])
    except TypeError:  # something other than text: cell by cell
        return False
    return not any("\x00" + start in joined for start in FORMULA_START)


def _write_table_csv(path: Path, header: list[str], pieces: Iterable[bytes]) -> None:
    with atomic_output(path) as fh:
        fh.write("\ufeff".encode())
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\r\n").writerow(header)
        fh.write(buf.getvalue().encode("utf-8"))
        for piece in pieces:
            fh.write(piece)


def _pieces(rows: Iterable[tuple], fields: Sequence[Field], size: int = 10_000) -> Iterable[bytes]:
    chunk: list[tuple] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield csv_lines(chunk, fields)
            chunk = []
    yield csv_lines(chunk, fields)


class _Text:
    """A minimal text adapter: csv writes str, the atomic file takes bytes."""

    def __init__(self, fh: Any) -> None:
        self.fh = fh

    def write(self, s: str) -> int:
        return self.fh.write(s.encode("utf-8"))


PARQUET_BATCH = 100_000


def _write_parquet(path: Path, sheet: Any, rows: Any) -> None:
    """Stream merged rows into a Parquet file in batches (memory stays flat, whatever the size)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    kinds = {"date": pa.date32(), "money": pa.float64(), "formula": pa.float64(), "int": pa.int64(), "month": pa.int64()}
    fields = [pa.field(f.key, kinds.get(f.type, pa.string())) for f in sheet.fields]
    fields += [pa.field("org_code", pa.string()), pa.field("org_name", pa.string()),
               pa.field("source_file", pa.string()), pa.field("source_row", pa.int64())]
    schema = pa.schema(fields)
    n = len(sheet.fields)

    def batch(chunk: list[tuple]) -> Any:
        columns = [[r[2 + i] for r in chunk] for i in range(n)]
        columns += [[r[0] for r in chunk], [r[1] for r in chunk], [r[-2] for r in chunk], [r[-1] for r in chunk]]
        return pa.record_batch([pa.array(c, type=f.type) for c, f in zip(columns, fields, strict=True)], schema=schema)

    with atomic_output(path) as fh, pq.ParquetWriter(fh, schema) as writer:
        chunk: list[tuple] = []
        for row in rows:
            chunk.append(row)
            if len(chunk) >= PARQUET_BATCH:
                writer.write_batch(batch(chunk))
                chunk = []
        writer.write_batch(batch(chunk))  # possibly empty: the file still has its schema


def _write_records_parquet(path: Path, columns: list[str], records: list[dict[str, Any]],
                           types: dict[str, str]) -> None:
    """problems or submissions as Parquet: the CSV's columns, typed (``types``: int, date, datetime; else text)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    kinds = {"int": pa.int64(), "date": pa.date32(), "datetime": pa.timestamp("s")}
    schema = pa.schema([pa.field(c, kinds.get(types.get(c, ""), pa.string())) for c in columns])

    def value(v: Any, kind: str | None) -> Any:
        if v is None or v == "":
            return None
        if kind in ("date", "datetime"):
            try:
                when = dt.datetime.fromisoformat(v) if isinstance(v, str) else v
            except ValueError:
                return None
            return when.date() if kind == "date" and isinstance(when, dt.datetime) else when
        return v if kind == "int" else str(v)

    arrays = [pa.array([value(r[c], types.get(c)) for r in records], type=f.type) for c, f in zip(columns, schema, strict=True)]
    with atomic_output(path) as fh:
        pq.write_table(pa.table(arrays, schema=schema), fh)


def export_csv(result: MergeResult, folder: str | Path, lang: str = "zh", parquet: bool = False,
               header: str = "key") -> list[Path]:
    """Write one CSV per table (field values + provenance), problems.csv and submissions.csv.

    ``header``: ``key`` (the default: the field keys, which scripts depend on) or ``zh`` (the Chinese labels,
    for people who open the CSV files in Excel). With ``parquet``, the same as Parquet files, always with keys:
    Parquet is read by programs.
    """
    if header not in HEADERS:
        raise ValueError(f"header must be one of {HEADERS}")
    zh = header == "zh"

    def head(keys: list[str], labels: dict[str, str] | None = None) -> list[str]:
        names = {**ZH_LABELS, **(labels or {})}
        return [names.get(k, k) for k in keys] if zh else keys

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    spilled = result.spill.csv if result.spill is not None else None
    for sheet in result.layout.tables:
        keys = [f.key for f in sheet.fields]
        path = out / f"{sheet.key}.csv"
        # The workers' CSV lines when the merge made them; otherwise rendered here from the rows.
        pieces = spilled[sheet.key].blobs() if spilled is not None else _pieces(result.merged.get(sheet.key, []), sheet.fields)
        _write_table_csv(path, head(keys + PROVENANCE, {f.key: f.label["zh"] for f in sheet.fields}), pieces)
        written.append(path)
        if parquet:
            p = out / f"{sheet.key}.parquet"
            _write_parquet(p, sheet, result.merged.get(sheet.key, []))
            written.append(p)
    probs = result.problem_records(lang)
    _write_csv(out / "problems.csv", head(PROBLEM_COLUMNS), ([p[c] for c in PROBLEM_COLUMNS] for p in probs))
    subs = result.submission_records(lang)
    _write_csv(out / "submissions.csv", head(SUBMISSION_COLUMNS), ([s[c] for c in SUBMISSION_COLUMNS] for s in subs))
    written += [out / "problems.csv", out / "submissions.csv"]
    if parquet:
        _write_records_parquet(out / "problems.parquet", PROBLEM_COLUMNS, probs, {"row": "int"})
        _write_records_parquet(out / "submissions.parquet", SUBMISSION_COLUMNS, subs,
                               {"size": "int", "modified": "datetime", "prepared_on": "date"})
        written += [out / "problems.parquet", out / "submissions.parquet"]
    return written


MANIFEST = "manifest.json"


def write_export(result: MergeResult, folder: str | Path, lang: str = "zh", parquet: bool = False,
                 workbook: Path | None = None, header: str = "key") -> list[Path]:
    """Write the export so that a folder is never a mix of two runs without saying so (§9).

    Every file is first written into a temporary folder inside ``folder``; then the old ``manifest.json``
    is removed, the files are moved in one by one (each move atomic), and the new manifest — naming the
    run, and each file with its size and SHA-256 — goes in last. A folder whose manifest is missing, or
    whose files differ from it, is not one run's export. Files of an earlier export that this run does
    not write (a Parquet file, say) are removed; anything else in the folder is left alone. A write that
    fails is an :class:`OutputError` naming the export folder; a folder this run made is then removed.
    """
    from .. import __version__
    from ..errors import OutputError
    from ..files import temp_folder_beside

    out = Path(folder)
    existed = out.exists()
    try:
        with temp_folder_beside(out) as tmp:
            try:
                written = export_csv(result, tmp, lang, parquet, header)
            except OutputError as exc:  # name the folder the user gave, not the temporary one
                raise OutputError.writing(out, exc.os_errno or errno.EIO) from exc
            files = []
            for p in written:
                with open(p, "rb") as fh:
                    files.append({"name": p.name, "size": p.stat().st_size, "sha256": sha256_of(fh)})
            manifest = {"run": result.run_id, "generator": f"sheetplan {__version__}", "layout": result.layout.id,
                        "header": header,
                        "layout_version": result.layout.version, "inputs": len(result.files),
                        "workbook": workbook.name if workbook is not None else None, "files": files}
            try:
                (tmp / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
                with contextlib.suppress(FileNotFoundError):
                    (out / MANIFEST).unlink()
                ours = {f"{name}{ext}" for name in [*(t.key for t in result.layout.tables), "problems", "submissions"]
                        for ext in (".csv", ".parquet")}
                for name in ours - {p.name for p in written}:
                    with contextlib.suppress(FileNotFoundError):
                        (out / name).unlink()
                for p in written:
                    os.replace(p, out / p.name)
                os.replace(tmp / MANIFEST, out / MANIFEST)
            except OSError as exc:
                raise OutputError.writing(out, exc) from exc
    except BaseException:
        if not existed:
            shutil.rmtree(out, ignore_errors=True)  # a folder made by this run holds nothing of any run
        raise
    return [out / p.name for p in written] + [out / MANIFEST]
