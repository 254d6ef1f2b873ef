"""Make the sample submissions in samples/submitted/ from the project's own template.

Each school's year is typed into its template through LibreOffice
(../shared/tools/xlsx-fill, as a clerk would type it), so the samples are
files "saved by a real spreadsheet application". One school makes the
typical mistakes; one school sends an older version too; one roster school
sends nothing; one school is not on the roster. Then the district workbook
samples/区汇总_2025.xlsx is merged from them.

    python samples/make_samples.py [--tools DIR]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from sheetplan.layout import load_layout
from sheetplan.layout.geometry import data_cell, form_cell
from sheetplan.write import Org, write_template

HERE = Path(__file__).resolve().parent
YEAR = 2025

PLAN = [
    ("思想政治引领", "组织教职工学习党的二十届三中全会精神", "全体会员参加专题学习不少于 2 次", "工会主席"),
    ("民主管理与校务公开", "召开第五届教代会第三次会议", "审议学校工作报告、财务报告", "工会主席"),
    ("民主管理与校务公开", "每学期校务公开不少于 2 次", "公开栏和校园网同步公开", "工会委员"),
    ("师德建设与素质提升", "开展师德标兵评选", "评出校级师德标兵 5 名", "组织委员"),
    ("维权服务", "开展劳动法律法规宣传月活动", "举办讲座 1 场", "工会副主席"),
    ("送温暖与帮扶", "春节、中秋送温暖慰问困难教职工", "走访困难教职工全覆盖", "工会主席"),
    ("文体活动", "三八节女教工活动", "女教工参与率 90% 以上", "女工委员"),
    ("文体活动", "教工踏青活动", "全体会员参加", "文体委员"),
    ("文体活动", "羽毛球比赛分四组进行", "男子组、女子组、混合组、青年组", "文体委员"),
    ("文体活动", "国庆登山活动", "安全第一，分批进行", "文体委员"),
    ("女职工工作", "女教工健康体检", "体检覆盖全部女教工", "女工委员"),
    ("工会自身建设", "工会委员培训", "参加区工会培训 1 次", "工会主席"),
    ("经费管理", "年度经费预决算与公开", "年底前公开收支情况", "经审委员"),
]
SCHEDULE = [  # month, day, activity, kind, audience, planned, budget
    (1, 10, "新春送温暖慰问", "慰问帮扶", "困难教职工", 12, 6000),
    (2, 20, "工会委员会例会", "工会例会", "工会委员", 7, 0),
    (3, 8, "三八节女教工活动", "节日活动", "全体女教工", 60, 3000),
    (3, 20, "教代会第三次会议", "会议", "教代会代表", 45, 800),
    (4, 12, "教工踏青", "文体活动", "全体会员", 80, 4000),
    (5, 16, "羽毛球比赛（分四组）", "文体活动", "全体会员", 40, 2500),
    (6, 20, "劳动法律讲座", "学习培训", "全体会员", 80, 500),
    (7, 5, "夏送清凉", "慰问帮扶", "后勤职工", 20, 2000),
    (9, 10, "教师节表彰", "节日活动", "全体会员", 85, 5000),
    (10, 1, "国庆登山", "文体活动", "全体会员", 70, 3500),
    (11, 15, "工会干部培训", "学习培训", "工会委员", 7, 1200),
    (12, 28, "迎新年联欢", "节日活动", "全体会员", 85, 4500),
]
NAMES = ["王丽", "李强", "张敏", "刘洋", "陈静", "杨帆", "赵磊", "黄婷", "周杰", "吴芳", "徐明", "孙悦", "胡军", "朱琳",
         "高峰", "林芳", "何平", "郭颖", "马超", "罗敏"]
DEPTS = ["语文组", "数学组", "英语组", "综合组", "行政办", "后勤处", "一年级组", "三年级组"]
SCHOOLS = [  # code, name, members, staff, opening balance, prepared_on
    ("XQ001", "新桥区第一实验小学", 86, 92, 32560.5, "2025-12-26"),
    ("XQ002", "新桥区实验中学", 124, 130, 51230.0, "2025-12-28"),
    ("XQ003", "新桥区育才小学", 58, 61, 18760.0, "2025-12-25"),
    ("XQ004", "新桥区城南中学", 97, 104, 40120.8, "2025-12-30"),
    ("XQ005", "新桥区阳光幼儿园", 32, 35, 9850.0, "2025-12-27"),
    ("XQ101", "新桥区教师发展中心", 40, 42, 15000.0, "2025-12-29"),  # not on the roster
]


def school_cells(layout, code: str, name: str, members: int, staff: int, opening: float, prepared: str,
                 rng: random.Random, mistakes: bool = False) -> dict:
    """What a clerk types into one school's workbook over the year."""
    cells: dict[str, dict] = defaultdict(dict)
    info, plan, sched, care, ledger, entries = (layout.sheet(k) for k in ("info", "plan", "schedule", "care", "ledger", "entries"))
    i_ = cells[info.name["zh"]]
    i_.update({form_cell(info, "parent_union"): "新桥区教育工会", form_cell(info, "chair"): rng.choice(NAMES),
               form_cell(info, "contact"): rng.choice(NAMES), form_cell(info, "phone"): f"13{rng.randint(5, 9)}{rng.randint(10000000, 99999999)}",
               form_cell(info, "members"): members, form_cell(info, "staff"): staff,
               form_cell(info, "opening_balance"): opening, form_cell(info, "prepared_by"): rng.choice(NAMES),
               form_cell(info, "prepared_on"): prepared})
    p_ = cells[plan.name["zh"]]
    for i, (cat, task, target, owner) in enumerate(PLAN):
        due_month = min(12, 2 + i)
        status = "已完成" if due_month <= 11 else "进行中"
        if i == 11 and code == "XQ003":
            status = "已取消"
        p_.update({data_cell(plan, "category", i): cat, data_cell(plan, "task", i): task,
                   data_cell(plan, "target", i): target, data_cell(plan, "owner", i): owner,
                   data_cell(plan, "due", i): f"{due_month}月底前", data_cell(plan, "status", i): status})
        if status == "已完成" and not (mistakes and i == 3):  # the mistake: 已完成 without 完成日期
            p_[data_cell(plan, "done_on", i)] = f"{YEAR}-{due_month:02d}-{rng.randint(10, 28)}"
    s_ = cells[sched.name["zh"]]
    spent_by_month = {}
    for i, (month, day, act, kind, aud, planned, budget) in enumerate(SCHEDULE):
        done = month <= 11
        spent = round(budget * rng.uniform(0.8, 1.05), 2) if done and budget else None
        s_.update({data_cell(sched, "month", i): month, data_cell(sched, "date", i): f"{YEAR}-{month:02d}-{day:02d}",
                   data_cell(sched, "activity", i): act, data_cell(sched, "kind", i): kind,
                   data_cell(sched, "audience", i): aud, data_cell(sched, "planned_people", i): min(planned, members),
                   data_cell(sched, "budget", i): budget, data_cell(sched, "owner", i): rng.choice(NAMES),
                   data_cell(sched, "status", i): "已完成" if done else "计划中"})
        if done:
            s_[data_cell(sched, "actual_people", i)] = min(members, planned - rng.randint(0, 3))
        if spent is not None:
            s_[data_cell(sched, "spent", i)] = spent
            spent_by_month[(month, act)] = spent
    c_ = cells[care.name["zh"]]
    visits = [("2025-01-20", "节日慰问", "集中发放", 300, 200), ("2025-03-15", "生病住院", "医院探望", 800, 200),
              ("2025-04-02", "生日", "集中发放", 0, 200), ("2025-05-18", "结婚", "上门看望", 1000, 0),
              ("2025-07-05", "夏送清凉", "集中发放", 0, 100), ("2025-09-10", "节日慰问", "集中发放", 300, 200),
              ("2025-10-22", "生育", "上门看望", 800, 300), ("2025-11-30", "困难帮扶", "上门看望", 1500, 0)]
    care_cash = 0.0
    for i, (date, reason, form, cash, goods) in enumerate(visits):
        member = NAMES[(i * 3 + len(code)) % len(NAMES)]
        c_.update({data_cell(care, "date", i): date, data_cell(care, "member", i): member,
                   data_cell(care, "dept", i): rng.choice(DEPTS), data_cell(care, "reason", i): reason,
                   data_cell(care, "form", i): form, data_cell(care, "visitors", i): "工会主席、工会委员"})
        if cash:
            c_[data_cell(care, "amount", i)] = cash
            care_cash += cash
        if goods:
            c_[data_cell(care, "goods", i)] = "水果、牛奶" if goods < 300 else "慰问品礼包"
            c_[data_cell(care, "goods_value", i)] = goods
    if mistakes:  # a birthday visit far over the 500 cap
        n = len(visits)
        c_.update({data_cell(care, "date", n): "2025-12-01", data_cell(care, "member", n): "孙悦",
                   data_cell(care, "reason", n): "生日", data_cell(care, "amount", n): 800})
    l_ = cells[ledger.name["zh"]]
    entries_ledger = [("2025-01-08", "收取上半年会费", "会费收入", None, round(members * 60.0, 2), None),
                      ("2025-01-15", "行政拨缴工会经费", "拨缴经费收入", None, round(staff * 320.0, 2), None),
                      ("2025-03-30", "上级工会回拨经费", "上级补助收入", "回拨补助", round(staff * 40.0, 2), None),
                      ("2025-07-08", "收取下半年会费", "会费收入", None, round(members * 60.0, 2), None)]
    rows = []
    for date, summary, cat, sub, inc, exp in entries_ledger:
        rows.append((date, summary, cat, sub, inc, exp))
    # Every activity of 月度安排 is booked as 职工活动支出; the care visits' cash as 送温暖费:
    # so the two cross-sheet checks of the layout balance for a school that books carefully.
    for (month, act), spent in sorted(spent_by_month.items()):
        summary = act.replace("慰问", "活动物资") + "支出"
        if "慰问" in act or "清凉" in act:
            sub = "其他活动支出"
        elif "培训" in act or "讲座" in act:
            sub = "职工教育支出"
        elif "会议" in act or "例会" in act:
            sub = "其他活动支出"
        else:
            sub = "文体活动支出"
        rows.append((f"{YEAR}-{month:02d}-25", summary, "职工活动支出", sub, None, spent))
    rows.append(("2025-12-20", "全年慰问金发放", "维权支出", "送温暖费", None, care_cash))
    rows = [r for r in rows if not (r[4] is None and r[5] is None)]
    rows.sort(key=lambda r: r[0])
    for i, (date, summary, cat, sub, inc, exp) in enumerate(rows):
        l_.update({data_cell(ledger, "date", i): date, data_cell(ledger, "voucher", i): f"{i + 1:03d}",
                   data_cell(ledger, "summary", i): summary, data_cell(ledger, "category", i): cat,
                   data_cell(ledger, "handler", i): rng.choice(NAMES)})
        if sub:
            l_[data_cell(ledger, "subcategory", i)] = sub
        if inc is not None:
            l_[data_cell(ledger, "income", i)] = inc
        if exp is not None:
            l_[data_cell(ledger, "expense", i)] = exp
    if mistakes:
        n = len(rows)
        l_.update({data_cell(ledger, "date", n): "12月28日",  # typed without a year: the application adds this year
                   data_cell(ledger, "summary", n): "购买活动器材", data_cell(ledger, "category", n): "职工活动支出",
                   data_cell(ledger, "expense", n): {"text": "1200元"}})
        l_.update({data_cell(ledger, "date", n + 1): "2025-12-29", data_cell(ledger, "voucher", n + 1): "003",
                   data_cell(ledger, "summary", n + 1): "退回多收会费", data_cell(ledger, "category", n + 1): "会费收入",
                   data_cell(ledger, "income", n + 1): 200, data_cell(ledger, "expense", n + 1): 200})
    e_ = cells[entries.name["zh"]]
    events = [("羽毛球", "男子组", 2), ("羽毛球", "女子组", 2), ("羽毛球", "混合组", 2), ("羽毛球", "青年组(35岁以下)", 2),
              ("乒乓球", "男子组", 3), ("拔河", "不分组", 3), ("跳绳", "不分组", 3), ("教学技能比武", "不分组", 2), ("合唱", "不分组", 3)]
    people = [s + g for s in "王李张刘陈杨赵黄周吴" for g in ("丽", "强", "敏", "洋", "静", "帆")]
    rng.shuffle(people)
    row = 0
    for event, group, most in events:
        for _ in range(rng.randint(1, most)):
            person = people.pop()
            gender = "男" if group == "男子组" else "女" if group == "女子组" else rng.choice("男女")
            age = rng.randint(24, 34) if group.startswith("青年组") else rng.randint(26, 55)
            e_.update({data_cell(entries, "event", row): event, data_cell(entries, "group", row): group,
                       data_cell(entries, "name", row): person, data_cell(entries, "gender", row): gender,
                       data_cell(entries, "age", row): age, data_cell(entries, "dept", row): rng.choice(DEPTS),
                       data_cell(entries, "phone", row): f"139{rng.randint(10000000, 99999999)}"})
            row += 1
    if mistakes:  # the same person twice in one event
        e_.update({data_cell(entries, "event", row): "羽毛球", data_cell(entries, "group", row): "男子组",
                   data_cell(entries, "name", row): e_[data_cell(entries, "name", 0)], data_cell(entries, "gender", row): "男"})
    return dict(cells)


def fill(tools: Path, template: Path, out: Path, cells: dict) -> None:
    """Type the cells through LibreOffice."""
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "cells.json"
        spec.write_text(json.dumps(cells, ensure_ascii=False), encoding="utf-8")
        subprocess.run([str(tools / "xlsx-fill"), str(template), str(out), str(spec)], check=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tools", type=Path, default=HERE.parent.parent / "shared" / "tools",
                    help="folder with xlsx-fill (LibreOffice test tools)")
    args = ap.parse_args()
    if not (args.tools / "xlsx-fill").exists() or shutil.which("soffice") is None:
        print("xlsx-fill and LibreOffice are needed to type the samples in; see README.", file=sys.stderr)
        return 2
    layout = load_layout("school")
    out = HERE / "submitted"
    shutil.rmtree(out, ignore_errors=True)
    (out / "城区片").mkdir(parents=True)
    (out / "城南片").mkdir(parents=True)
    rng = random.Random(2025)
    with tempfile.TemporaryDirectory() as tmp:
        for i, (code, name, members, staff, opening, prepared) in enumerate(SCHOOLS):
            template = Path(tmp) / f"{code}.xlsx"
            write_template(layout, Org(name, code, YEAR), template)
            folder = out / ("城区片" if i % 2 == 0 else "城南片")
            cells = school_cells(layout, code, name, members, staff, opening, prepared, rng, mistakes=(code == "XQ004"))
            fill(args.tools, template, folder / f"{code}_{name}_{YEAR}.xlsx", cells)
            if code == "XQ002":  # an earlier version sent in November, replaced by the one above
                old = school_cells(layout, code, name, members, staff, opening, "2025-11-20", random.Random(7))
                fill(args.tools, template, folder / f"{code}_{name}_{YEAR}_初稿.xlsx", old)
    (out / "城南片" / "说明.docx").write_bytes(b"PK\x03\x04 not really a document")
    subprocess.run([sys.executable, "-m", "sheetplan.cli", "merge", str(out), "--roster", str(HERE / "roster.csv"),
                    "-o", str(HERE / "区汇总_2025.xlsx")], check=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
