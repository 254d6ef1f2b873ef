"""Fuzzing: mutated workbooks never make the reader raise; shuffled tables read the same.

`FUZZ_EXAMPLES=2000 pytest tests/test_fuzz.py` runs a longer campaign.
"""

from __future__ import annotations

import io
import os
import random
import zipfile
from collections import Counter

import openpyxl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corpus import LAYOUT, filled_bytes
from sheetplan.report.check import check_file

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "40"))
BASE = filled_bytes()
with zipfile.ZipFile(io.BytesIO(BASE)) as _z:
    PARTS = [n for n in _z.namelist() if n.endswith((".xml", ".rels"))]


def _mutate(part: str, seed: int, how: str) -> bytes:
    rng = random.Random(seed)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(BASE)) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = bytearray(zin.read(info))
            if info.filename == part and data:
                if how == "bytes":
                    for _ in range(rng.randint(1, 20)):
                        data[rng.randrange(len(data))] = rng.randrange(256)
                elif how == "truncate":
                    data = data[: rng.randrange(len(data))]
                elif how == "duplicate":
                    i, j = sorted(rng.randrange(len(data)) for _ in range(2))
                    data = data[:j] + data[i:j] + data[j:]
                else:  # swap two random tags' text
                    text = data.decode("utf-8", errors="replace")
                    pieces = text.split("<")
                    if len(pieces) > 3:
                        a, b = rng.randrange(1, len(pieces)), rng.randrange(1, len(pieces))
                        pieces[a], pieces[b] = pieces[b], pieces[a]
                    data = bytearray("<".join(pieces).encode("utf-8"))
            zout.writestr(info.filename, bytes(data))
    return out.getvalue()


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(part=st.sampled_from(PARTS), seed=st.integers(0, 2**32 - 1), how=st.sampled_from(["bytes", "truncate", "duplicate", "swap"]))
def test_mutated_xml_never_raises(tmp_path_factory, part, seed, how):
    path = tmp_path_factory.mktemp("fz") / "f.xlsx"
    path.write_bytes(_mutate(part, seed, how))
    data = check_file(path, LAYOUT)  # must not raise
    if not data.readable:
        assert [p.cell for p in data.report if p.severity == "error"][-1:] == [None]
    for p in data.report:
        assert p.message_zh and p.message_en


@settings(max_examples=max(10, EXAMPLES // 4), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1))
def test_shuffled_rows_and_columns_read_the_same(tmp_path_factory, seed):
    rng = random.Random(seed)
    sheet = LAYOUT.sheet("ledger")
    wb = openpyxl.load_workbook(io.BytesIO(BASE))
    ws = wb[sheet.name["zh"]]
    ncols = len(sheet.fields)
    grid = [[ws.cell(r, c).value for c in range(1, ncols + 1)] for r in range(2, 12)]
    header, rows = grid[0], grid[1:]
    keep = [i for i, f in enumerate(sheet.fields) if f.type != "formula"]  # the balance column goes away
    order = keep[:]
    rng.shuffle(order)
    rng.shuffle(rows)
    for r in range(2, 12):
        for c in range(1, ncols + 1):
            ws.cell(r, c).value = None
    for c, src in enumerate(order, start=1):
        ws.cell(2, c).value = header[src]
        for i, row in enumerate(rows):
            ws.cell(3 + i * 2, c).value = row[src]  # blank rows in between
    path = tmp_path_factory.mktemp("sh") / "s.xlsx"
    wb.save(path)
    got = check_file(path, LAYOUT)
    original = check_file(io_path(tmp_path_factory), LAYOUT)
    key = lambda d: Counter(tuple(sorted((k, str(v)) for k, v in r.values.items() if k != "balance"))  # noqa: E731
                            for r in d.tables["ledger"].records)
    assert key(got) == key(original)


def io_path(factory) -> object:
    path = factory.mktemp("orig") / "o.xlsx"
    path.write_bytes(BASE)
    return path
