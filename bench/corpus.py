"""A corpus of realistic filled school workbooks for the benchmark.

Each workbook is the project's own template with ≈40 plan, 60 schedule,
50 care, 150 ledger and 80 entry rows of varied data; about one in ten has
typical problems (text amounts, dates outside the year, duplicates, caps).
Distinct data sets are built with xlsxwriter (a few hundred at most) and
stamped with each school's name and code (sheetplan.write.stamp.Stamp's trick),
so that 30,000 schools can be made in minutes.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import random
import zipfile
from concurrent.futures import ProcessPoolExecutor
from html import escape
from pathlib import Path

from sheetplan.layout import load_layout
from sheetplan.write import Filled, Org, write_template
from sheetplan.write.stamp import CODE_MARK, NAME_MARK

YEAR = 2025
ROWS = {"plan": 40, "schedule": 60, "care": 50, "ledger": 150, "entries": 80}
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN = ["丽", "强", "敏", "洋", "静", "帆", "磊", "婷", "杰", "芳", "明", "悦", "军", "琳", "峰", "平", "颖", "超", "红", "伟"]


def _date(rng: random.Random, month: int | None = None) -> dt.date:
    m = month or rng.randint(1, 12)
    return dt.date(YEAR, m, rng.randint(1, 28))


# Stands in each entry's phone number for digits of the school's own, so that schools stamped from one data set
# do not enter the same people: across a real district two schools rarely enter the same person.
SCHOOL_MARK = "⟦bench-school⟧"


def filled_data(seed: int, school_mark: str | None = None) -> Filled:
    """One school's year of varied data; every tenth seed makes typical mistakes.

    With ``school_mark``, phone numbers carry that mark where four digits of the school's number go.
    """
    layout = load_layout("school")
    rng = random.Random(seed)
    lists = layout.lists
    bad = seed % 10 == 3
    people = [s + g for s in SURNAMES for g in GIVEN]
    rng.shuffle(people)
    plan = []
    for i in range(ROWS["plan"]):
        status = rng.choice(lists["plan_status"].values)
        month = rng.randint(1, 12)
        row = {"category": rng.choice(lists["plan_category"].values), "task": f"第{i + 1}项工作：{rng.choice(['学习', '座谈', '走访', '评选', '培训'])}",
               "owner": people[i], "due": _date(rng, month), "status": status}
        if status == "已完成":
            row["done_on"] = _date(rng, month)
        plan.append(row)
    schedule = []
    for i in range(ROWS["schedule"]):
        month = 1 + i % 12
        budget = rng.choice([0, 500, 1000, 2000, 3000])
        schedule.append({"month": month, "date": _date(rng, month), "activity": f"{month}月活动{i}",
                         "kind": rng.choice(lists["schedule_kind"].values), "planned_people": rng.randint(10, 80),
                         "actual_people": rng.randint(5, 60), "budget": budget,
                         "spent": round(budget * rng.uniform(0.5, 1.1), 2), "status": rng.choice(["计划中", "已完成"])})
    care = []
    for i in range(ROWS["care"]):
        reason = rng.choice(["节日慰问", "生日", "生病住院", "结婚", "困难帮扶", "夏送清凉"])
        care.append({"date": _date(rng), "member": people[100 + i], "reason": reason, "form": rng.choice(lists["care_form"].values),
                     "amount": rng.choice([100, 200, 300]), "goods_value": rng.choice([0, 50, 100])})
    ledger = []
    days = sorted(_date(rng) for _ in range(ROWS["ledger"]))
    for i, d in enumerate(days):
        if i % 5 == 0:
            ledger.append({"date": d, "voucher": f"{i + 1:04d}", "summary": "会费收入", "category": "会费收入", "income": round(rng.uniform(500, 5000), 2)})
        else:
            parent = rng.choice(["职工活动支出", "维权支出", "业务支出"])
            ledger.append({"date": d, "voucher": f"{i + 1:04d}", "summary": f"支出{i}", "category": parent,
                           "subcategory": rng.choice(lists["ledger_subcategory"].children[parent]),
                           "expense": round(rng.uniform(50, 800), 2), "handler": people[i % 50]})
    entries = []
    events = [e for e in lists["entry_event"].values if e != "教学技能比武"]
    for i in range(ROWS["entries"]):
        entries.append({"event": events[i % len(events)], "group": "不分组", "name": people[200 + i // 2],
                        "gender": rng.choice("男女"), "age": rng.randint(23, 58),
                        "phone": f"139{school_mark}{rng.randint(1000, 9999)}" if school_mark else f"139{rng.randint(10**7, 10**8 - 1)}"})
    if bad:
        ledger[3]["income"] = "1200元"
        ledger[7]["date"] = dt.date(YEAR + 1, 2, 1)
        entries[5]["name"] = entries[0]["name"]
        entries[5]["event"] = entries[0]["event"]
        care[2].update(reason="生日", amount=800)
    info = {"members": 80, "staff": 90, "opening_balance": 20000.0, "prepared_on": dt.date(YEAR, 12, 28), "phone": "13800000000"}
    return Filled(info=info, rows={"plan": plan, "schedule": schedule, "care": care, "ledger": ledger, "entries": entries})


def _marked(seed: int) -> list[tuple[zipfile.ZipInfo, bytes]]:
    buf = io.BytesIO()
    write_template(load_layout("school"), Org(NAME_MARK, CODE_MARK, YEAR), buf, filled=filled_data(seed, SCHOOL_MARK))
    with zipfile.ZipFile(buf) as zf:
        return [(info, zf.read(info)) for info in zf.infolist()]


def _write_group(args: tuple[int, list[int], str]) -> int:
    seed, indexes, folder = args
    parts = _marked(seed)
    for i in indexes:
        code, name = f"B{i:06d}", f"基准测试第{i}学校"
        path = Path(folder) / f"{code}_{name}_{YEAR}.xlsx"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
            for info, data in parts:
                if NAME_MARK.encode() in data or CODE_MARK.encode() in data or SCHOOL_MARK.encode() in data:
                    data = (data.replace(NAME_MARK.encode(), escape(name, quote=False).encode()).replace(CODE_MARK.encode(), code.encode())
                            .replace(SCHOOL_MARK.encode(), f"{i % 10000:04d}".encode()))
                zout.writestr(info, data)
    return len(indexes)


def make_corpus(folder: Path, n: int, distinct: int = 300, jobs: int | None = None) -> Path:
    """Write ``n`` workbooks into ``folder`` (reused when it already holds them)."""
    folder.mkdir(parents=True, exist_ok=True)
    if len(list(folder.glob("*.xlsx"))) == n:
        return folder
    for old in folder.glob("*.xlsx"):
        old.unlink()
    groups = min(n, distinct)
    tasks = [(g, list(range(g, n, groups)), str(folder)) for g in range(groups)]
    with ProcessPoolExecutor(max_workers=jobs or os.cpu_count() or 1) as pool:
        list(pool.map(_write_group, tasks))
    return folder
