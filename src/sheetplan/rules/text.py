"""The words of rule messages and descriptions: templates, numbers, labels, units and nouns.

A message template names what it shows (``{field}``, ``{total}``); the words filling it come from the
layout: a field's label, the unit of its type (元 for money), a noun taken from a label (收入 out of
收入(元)). The few nouns the layout has no place for yet are in :data:`VOCABULARY`, in one place, so that
no message spells one out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..layout import Field, Layout, Sheet

LANGS = ("zh", "en")


@dataclass(frozen=True)
class Text:
    """The same text in Chinese and English."""

    zh: str
    en: str

    def __getitem__(self, lang: str) -> str:
        return self.en if lang == "en" else self.zh

    def format(self, **values: Any) -> Text:
        """This text as a template filled with ``values``; a :class:`Text` value gives each language its own words."""
        return Text(*(self._fill(lang, values) for lang in LANGS))

    def _fill(self, lang: str, values: Mapping[str, Any]) -> str:
        words = {k: v[lang] if isinstance(v, Text) else v for k, v in values.items()}
        return self[lang].format_map(words)

    def placeholders(self, lang: str) -> set[str]:
        """Names the template of ``lang`` fills."""
        return set(_PLACEHOLDER.findall(self[lang]))


# A message template: a Text whose English fills no placeholder its Chinese lacks.
Msg = Text

_PLACEHOLDER = re.compile(r"(?<!\{)\{([a-z_]+)\}")

# Nouns a message needs that the layout has no place for yet (a school layout: its organisations are
# 学校, a person entered is 人). They live here, once, rather than inside the messages.
VOCABULARY: dict[str, Text] = {
    "org": Text("校", "school"),  # 本校, 每校: the organisation a workbook belongs to
    "orgs": Text("学校", "schools"),  # 各学校, 跨学校: the organisations of a merge
    "person": Text("人", "person"),  # 每人, 8 人: a person entered
    "entered": Text("报名", "entered"),  # 也由 一校 报名: what a school did with a row of its table
}


def word(key: str) -> Text:
    """A noun of :data:`VOCABULARY`."""
    return VOCABULARY[key]


def orgs_word(lang: str) -> str:
    """The organisations a merge compares (学校 / schools)."""
    return VOCABULARY["orgs"][lang]


# --------------------------------------------------------------------------- numbers


def num(x: float) -> str:
    """A number in a message: thousands separated, no needless decimals (2,200; 1.2; 3,572.46)."""
    return f"{x:,.2f}".rstrip("0").rstrip(".") if isinstance(x, float) and not x.is_integer() else f"{x:,.0f}"


def plain(x: float | None) -> str:
    """A number in a description: as written in the layout (2200, 1.2)."""
    if x is None:
        return ""
    return str(int(x)) if float(x).is_integer() else str(x)


# --------------------------------------------------------------------------- units of field types

# Words of a field type: ``unit`` follows a number (800 元), ``measure`` counts the rows that hold such
# values (一笔 / an entry of money), ``noun`` names such a value (金额 / the amount).
TYPE_WORDS: dict[str, dict[str, Text]] = {
    "money": {"unit": Text("元", "yuan"), "measure": Text("笔", "entry"), "noun": Text("金额", "the amount")},
}
NO_WORD = Text("", "")

# What a count is said in when neither its label nor its type gives a unit: a clerk says 120 人 and 40 岁,
# not a bare 120. Keyed by how the Chinese label ends; English says the bare number. These are words of
# the language, not of a layout: a layout that names a field's unit (a unit in brackets) is followed instead.
COUNTED_IN: dict[str, Text] = {
    "人数": Text("人", ""),  # 会员人数, 实际人数: people
    "年龄": Text("岁", ""),  # an age: years
}
NUMBER_TYPES = frozenset({"int", "money"})


def _type_of(sheet: Sheet, key: str) -> str | None:
    """The type of field ``key`` of ``sheet``; a running balance has the type of what it adds up."""
    try:
        f = sheet.field(key)
    except KeyError:
        return None
    if f.type == "formula" and f.formula and "running_balance" in f.formula:
        return _type_of(sheet, f.formula["running_balance"]["plus"])
    return f.type


def _split(layout: Layout, sheet: Sheet, key: str) -> tuple[Sheet, str]:
    """The sheet and key a field reference names ("sheet.field" names another sheet's field)."""
    if "." in key:
        s, k = key.split(".", 1)
        return layout.sheet(s), k
    return sheet, key


def type_word(layout: Layout, sheet: Sheet, keys: Iterable[str], what: str) -> Text:
    """The ``what`` (unit, measure) shared by the fields ``keys``; empty when they differ or have none."""
    found = set()
    for key in keys:
        s, k = _split(layout, sheet, key)
        found.add(TYPE_WORDS.get(_type_of(s, k) or "", {}).get(what, NO_WORD))
    return found.pop() if len(found) == 1 else NO_WORD


def value_noun(layout: Layout, sheet: Sheet, keys: Iterable[str]) -> Text:
    """What the values of ``keys`` are called (金额 / the amount for money), or 数值 / the value."""
    found = type_word(layout, sheet, keys, "noun")
    return found if found != NO_WORD else Text("数值", "the value")


def field_unit(layout: Layout, sheet: Sheet, key: str) -> Text:
    """The unit a number of field ``key`` is said in: 元 for 预算(元), 人 for 会员人数, nothing for a plain number.

    The layout's own words come first — a unit the field declares, then the unit in brackets its label ends
    with (预算(元) → 元, Budget (yuan) → yuan) — then the unit of its type, then :data:`COUNTED_IN`.
    """
    s, k = _split(layout, sheet, key)
    try:
        f = s.field(k)
    except KeyError:
        return NO_WORD
    declared = getattr(f, "unit", None)  # a layout that names the unit of a field
    if declared:
        return Text(declared["zh"], declared.get("en", ""))
    kind = _type_of(s, k)
    if kind not in NUMBER_TYPES:
        return NO_WORD
    zh, en = (_bracketed(f.label.get(lang, "")) for lang in LANGS)
    if zh:
        return Text(zh, en or "")
    typed = TYPE_WORDS.get(kind or "", {}).get("unit")
    if typed is not None:
        return typed
    return next((w for end, w in COUNTED_IN.items() if _UNIT_SUFFIX.sub("", f.label.get("zh", "")).endswith(end)), NO_WORD)


def unit(layout: Layout, sheet: Sheet, keys: Iterable[str]) -> Text:
    """The unit shared by the values of ``keys`` (元 for money), or nothing when they differ or have none."""
    found = {field_unit(layout, sheet, k) for k in keys}
    return found.pop() if len(found) == 1 else NO_WORD


def measured(x: float, unit_word: Text) -> Text:
    """A number followed by its unit, when it has one (800 元)."""
    return Text(*(f"{num(x)} {unit_word[lang]}" if unit_word[lang] else num(x) for lang in LANGS))


def followed(number: Text) -> Text:
    """A number that Chinese words follow: a bare number keeps a space before them (500 的), a unit needs none (500 元的)."""
    return Text(number.zh + " " if number.zh[-1:].isdigit() else number.zh, number.en)


def amount(layout: Layout, sheet: Sheet, key: str, x: float) -> Text:
    """A value of field ``key`` with the unit of that field (6,500 元, 120 人)."""
    return measured(x, field_unit(layout, sheet, key))


def row_measure(sheet: Sheet) -> Text:
    """What one row of ``sheet`` is counted in: 笔 / entry for a table of amounts, otherwise 行 / row."""
    if any(f.type == "money" for f in sheet.fields):
        return TYPE_WORDS["money"]["measure"]
    return Text("行", "row")


# --------------------------------------------------------------------------- labels

_UNIT_SUFFIX = re.compile(r"\s*[（(]([^（()）]*)[)）]\s*$")


def _bracketed(lab: str) -> str:
    """What the brackets a label ends with hold (元 of 预算(元)); empty when it has none."""
    m = _UNIT_SUFFIX.search(lab)
    return m.group(1).strip() if m else ""


def field_of(layout: Layout, sheet: Sheet | None, key: str) -> Field:
    """Field ``key`` of ``sheet``, or the field a "sheet.field" reference names."""
    if "." in key:
        s, f = key.split(".", 1)
        return layout.sheet(s).field(f)
    assert sheet is not None, key
    return sheet.field(key)


def label(layout: Layout, sheet: Sheet | None, key: str) -> Text:
    """A field's label in both languages."""
    lab = field_of(layout, sheet, key).label
    return Text(lab["zh"], lab["en"])


def labels(layout: Layout, sheet: Sheet | None, keys: Iterable[str], zh: str = "、", en: str = ", ") -> Text:
    """Several labels joined (by 、 and ", " unless told)."""
    labs = [label(layout, sheet, k) for k in keys]
    return Text(zh.join(t.zh for t in labs), en.join(t.en for t in labs))


def bare_label(layout: Layout, sheet: Sheet | None, key: str) -> Text:
    """A field's label without the unit in brackets it may end with: 收入 out of 收入(元), income out of Income (yuan)."""
    lab = unbracketed(label(layout, sheet, key))
    return Text(lab.zh, lab.en.lower())


def name(layout: Layout, sheet: Sheet | None, key: str) -> Text:
    """A field as a message names it: its label without the unit in brackets, case kept (预算, Budget).

    The unit goes after the number instead (预算 5,000 元), as a clerk says it.
    """
    return unbracketed(label(layout, sheet, key))


def unbracketed(lab: Text) -> Text:
    """A label without the unit in brackets it may end with, case kept: 预算 of 预算(元), Budget of Budget (yuan)."""
    return Text(_UNIT_SUFFIX.sub("", lab.zh), _UNIT_SUFFIX.sub("", lab.en))


def joined(parts: Iterable[Text], zh_last: str = "和", en_last: str = " and ") -> Text:
    """Several words as a sentence lists them: A和B, A、B和C / A and B, A, B and C."""
    items = list(parts)

    def one(lang: str, sep: str, last: str) -> str:
        words = [t[lang] for t in items]
        return sep.join(words[:-1]) + last + words[-1] if len(words) > 1 else "".join(words)

    return Text(one("zh", "、", zh_last), one("en", ", ", en_last))


def names(layout: Layout, sheet: Sheet | None, keys: Iterable[str]) -> Text:
    """Several fields as a sentence lists them, without their units: 慰问金和慰问品价值 / Cash and Goods value."""
    return joined(name(layout, sheet, k) for k in keys)


def pairs(layout: Layout, sheet: Sheet | None, keys: Iterable[str], values: Iterable[Any]) -> Text:
    """Each field with the value it holds: 比赛项目“羽毛球”、姓名“陈明” / Event '羽毛球', Name '陈明'."""
    return named_values([(name(layout, sheet, k), v) for k, v in zip(keys, values, strict=True)])


def named_values(items: Iterable[tuple[Text, Any]]) -> Text:
    """Names, each with its value: 姓名“陈明”、联系电话“138…” / Name '陈明', Phone '138…'."""
    listed = list(items)
    return Text("、".join(f"{n.zh}“{v}”" for n, v in listed), ", ".join(f"{n.en} '{v}'" for n, v in listed))


def sentence(text: Text) -> Text:
    """``text`` as the start of a sentence: the English begins with a capital (the Chinese is left as it is)."""
    return Text(text.zh, text.en[:1].upper() + text.en[1:])


def with_article(noun: str) -> str:
    """An English noun phrase with "a" or "an"."""
    return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun


def conditions(layout: Layout, sheet: Sheet | None, when: Mapping[str, Any]) -> Text:
    """The conditions of a ``when`` in words: 完成情况为“已完成” / Status is 已完成."""
    parts = [(label(layout, sheet, k), v) for k, v in when.items()]
    return Text("、".join(f"{lab.zh}为“{v}”" for lab, v in parts), ", ".join(f"{lab.en} is {v}" for lab, v in parts))


def spaced(word_: Text) -> Text:
    """A unit after a number in a description: " 元" / " yuan", or nothing when there is no unit."""
    return Text(*(f" {word_[lang]}" if word_[lang] else "" for lang in LANGS))
