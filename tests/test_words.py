"""The words of rule messages: plain sentences a union clerk would say, numbers with their units.

tests/test_rule_kinds.py pins each kind's message word for word; these tests hold what every message of
every kind must be, whatever its wording: no comparison written as a formula, no label with its unit in
brackets where a number follows, each number with the unit the layout gives its field.
"""

from __future__ import annotations

import re

import pytest

from sheetplan.layout import Rule, load_layout
from sheetplan.rules import KINDS
from sheetplan.rules.apply import MISMATCH
from sheetplan.rules.compare import COMPARE_OPS
from sheetplan.rules.text import LANGS, Text, field_unit, joined, name, names

# What makes a message read like a formula: comparison and set signs, a multiplication sign, fields added up
# with "+", an operator handed in from the layout.
FORMULA_SIGNS = re.compile(r"<=|>=|==|‹|›|≤|≥|∈|⊃|×|\s\+\s|\+|\{op\}")
# A label with its unit in brackets: 预算(元), Budget (yuan).
BRACKETED_UNIT = re.compile(r"[（(](元|yuan)[)）]")


@pytest.fixture(scope="module")
def school():
    return load_layout("school")


def _all_templates() -> list[tuple[str, str, Text]]:
    out = [(kind.name, key, msg) for kind in KINDS.values() for key, msg in kind.messages.items()]
    out += [("subcategory_mismatch", key, msg) for key, msg in MISMATCH.items()]
    return out


@pytest.mark.parametrize(("kind", "key", "msg"), _all_templates(), ids=lambda v: v if isinstance(v, str) else "")
def test_no_message_template_reads_like_a_formula(kind, key, msg):
    """Issue point 14: 实际人数 120 不满足 ‹= 会员人数（86） read like a formula; no template of any kind, in
    either language, holds a comparison sign, ×, ∈, ⊃ or fields added up with +."""
    for lang in LANGS:
        assert not FORMULA_SIGNS.search(msg[lang]), (kind, key, lang, msg[lang])


@pytest.mark.parametrize("op", COMPARE_OPS)
@pytest.mark.parametrize("factor", [None, 1.5])
def test_every_comparison_is_said_in_words(school, op, factor):
    """Issue point 14: whichever comparison a layout writes (<=, <, >=, >, ==) and with or without a factor,
    the message is a sentence with both numbers and their units, and the limit a factor gives."""
    from test_rule_kinds import run, workbook

    params = {"field": "members", "op": op, "other": "staff", **({"factor": factor} if factor else {})}
    rule = Rule(kind="compare", code="members_exceed_staff", severity="warning", sheet="info", params=params)
    # a pair of values that breaks each comparison
    members, staff = {"<=": (90, 40), "<": (90, 40), ">=": (10, 60), ">": (10, 60), "==": (10, 60)}[op]
    (p,) = run(school, rule, workbook(school, info={"members": members, "staff": staff}))
    for lang in LANGS:
        text = p.message(lang)
        assert not FORMULA_SIGNS.search(text), text
        assert f"{members}" in text and f"{staff}" in text, text
    assert f"会员人数 {members} 人" in p.message_zh and f"在职职工人数 {staff} 人" in p.message_zh
    if factor:
        assert "1.5 倍" in p.message_zh and f"（{staff * factor:,.0f} 人）" in p.message_zh
        assert "1.5 times" in p.message_en


def test_over_budget_and_over_members_read_as_a_clerk_says_them(school):
    """Issue point 14, the issue's own examples: 实际人数 120 人，多于会员人数 86 人; 实际支出 6,500 元，超过预算
    5,000 元的 1.2 倍（6,000 元）."""
    from test_rule_kinds import run, school_rule, workbook

    rows = [{"month": 5, "activity": "运动会", "actual_people": 120, "budget": 5000.0, "spent": 6500.0}]
    data = workbook(school, {"schedule": rows}, info={"members": 86})
    people = run(school, school_rule(school, "schedule", "compare", 0), data)
    assert [p.message_zh for p in people] == ["实际人数 120 人，多于会员人数 86 人。"]
    data = workbook(school, {"schedule": rows}, info={"members": 86})
    money = run(school, school_rule(school, "schedule", "compare", 1), data)
    assert [p.message_zh for p in money] == ["实际支出 6,500 元，超过预算 5,000 元的 1.2 倍（6,000 元）。"]
    assert [p.message_en for p in money] == ["Spent 6,500 yuan is more than 1.2 times Budget 5,000 yuan (6,000 yuan)."]


def test_the_rule_messages_on_the_samples_are_plain_sentences():
    """Issue point 14: over every sample workbook, no message the rules add names a label with its unit in
    brackets (预算(元) → 预算 … 元) or reads like a formula. What the reader said before the rules ran (a value it
    could not read, quoting the cell's own header) is not the rules' and is left out."""
    from sheetplan.reading.workbook import read_workbook
    from sheetplan.rules import apply_rules
    from test_rule_kinds import SAMPLES

    layout = load_layout("school")
    seen = 0
    for path in sorted(SAMPLES.rglob("*.xlsx")):
        data = read_workbook(path, layout)
        before = len(data.report)
        apply_rules(data)
        for p in data.report.problems[before:]:
            seen += 1
            for lang in LANGS:
                text = p.message(lang)
                assert not BRACKETED_UNIT.search(text) and not FORMULA_SIGNS.search(text), (p.code, text)
    assert seen >= 4  # the samples' typical mistakes: a cap, a duplicate, both amounts, a negative balance


def test_a_fields_unit_comes_from_the_layout(school):
    """Issue point 14: the unit of a number is the layout's (the brackets of its label, the unit of its type);
    a count of people is said in 人 and an age in 岁; a field that is not a number has none."""
    schedule, care, entries = school.sheet("schedule"), school.sheet("care"), school.sheet("entries")
    assert field_unit(school, schedule, "budget") == Text("元", "yuan")
    assert field_unit(school, schedule, "actual_people") == Text("人", "")
    assert field_unit(school, schedule, "info.members") == Text("人", "")
    assert field_unit(school, entries, "age") == Text("岁", "")
    assert field_unit(school, school.sheet("ledger"), "balance") == Text("元", "yuan")  # a running balance of money
    assert field_unit(school, care, "member") == Text("", "")
    assert field_unit(school, schedule, "month") == Text("", "")


def test_fields_are_named_without_their_units_and_listed_as_a_sentence(school):
    """Issue point 14: a label loses the unit in brackets (it follows the number instead), and several fields are
    listed as a sentence lists them: 慰问金和慰问品价值, not 慰问金(元)+慰问品价值(元)."""
    care = school.sheet("care")
    assert name(school, care, "amount") == Text("慰问金", "Cash")
    assert names(school, care, ["amount", "goods_value"]) == Text("慰问金和慰问品价值", "Cash and Goods value")
    three = joined([Text("甲", "a"), Text("乙", "b"), Text("丙", "c")])
    assert three == Text("甲、乙和丙", "a, b and c")
