"""The kind asking for every table to be filled in, or said to have nothing this year: empty_tables.

A school that sends back an untouched template would otherwise count as submitted, with zeros everywhere and
no word about it. A table may truly have nothing in a year (no competition entered, no visit paid): the school
says so on 基本信息, in a line the layout names, by writing the names of those tables there (慰问记录、比赛报名).
The names are the layout's own, in either language, or the tables' keys.
"""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING

from .base import FILE, NOT_YET, ONE, Param, RuleKind
from .context import FileContext
from .text import Msg, Text, name

if TYPE_CHECKING:
    from ..layout import Layout, Rule, Sheet

# What separates the names a clerk lists in one cell: 、，,；; / and spaces (line breaks too).
_SEPARATORS = re.compile(r"[、，,；;/／\s]+")
EMPTY_SUBMISSION = "empty_submission"  # the problem code when every table is empty


def _folded(text: str) -> str:
    """A name compared loosely: width-folded, lower case, without spaces."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).lower()


def _table_names(sheet: Sheet) -> Text:
    """A sheet's name in both languages."""
    return Text(sheet.name["zh"], sheet.name["en"])


class EmptyTables(RuleKind):
    """A table without a single row is flagged, unless 基本信息 says it has nothing this year; all of them empty
    (the template sent back as it came) is said once, for the whole workbook.

    Written under the rules of the 基本信息 form; ``field`` is its line listing the tables with nothing to
    report. A table the file lacks altogether is not this rule's business (it is a missing sheet).
    """

    name = "empty_tables"
    scope = FILE
    default_severity = "warning"
    params = {
        "field": Param(names=ONE),
    }
    messages = {
        "empty": Msg("{table}一行也没有填写。本年度确实没有的，请在{info}的“{field}”中写上“{table}”。",
                     "{table} has no rows. If there was nothing this year, write '{table}' under '{field}' on {info}."),
        "all_empty": Msg("各表都没有填写，这像是一份没有填过的空白工作簿。请填写后再报送；某表本年度确实没有的，"
                         "请在“{field}”中写上表名，如“{example}”。",
                         "None of the tables has a row: this looks like a blank template. Fill it in before sending it; "
                         "for a table with nothing this year, write its name under '{field}', e.g. '{example}'."),
        "unknown": Msg("（“{field}”中的“{words}”不是表名，可填：{names}。）",
                       " ('{words}' under '{field}' is not the name of a table; the names are: {names}.)"),
    }
    formula = NOT_YET

    def check(self, ctx: FileContext) -> None:
        key = ctx.p["field"]
        layout, data = ctx.layout, ctx.data
        tables = [s for s in layout.tables if (t := data.tables.get(s.key)) is not None and t.found]
        if not tables:
            return
        declared, unknown = self._declared(layout, ctx.value(None, key))
        empty = [s for s in tables if not data.tables[s.key].records]
        field = ctx.name(key)
        note = self._unknown(unknown, field, layout)
        if len(empty) == len(tables) and not declared:
            # The template as it came: once for the workbook, at the line where the school could say otherwise.
            message = self.messages["all_empty"].format(field=field, example=self._example(layout))
            self._add(ctx, EMPTY_SUBMISSION, Text(message.zh + note.zh, message.en + note.en), key)
            return
        info = _table_names(ctx.sheet)
        for s in empty:
            if s.key in declared:
                continue
            message = self.messages["empty"].format(table=_table_names(s), info=info, field=field)
            data.add(ctx.rule.code, message.zh + note.zh, message.en + note.en, ctx.rule.severity,
                     sheet=data.tables[s.key].sheet_name, table=s.key)

    @staticmethod
    def _declared(layout: Layout, text: object) -> tuple[set[str], list[str]]:
        """The tables a declaration names (their keys), and what else it holds, word by word.

        Names are found whole, the longest first, so that one holding spaces (Care visits) or another's name
        (Competition entries, entries) is taken as the clerk meant it; what is left, cut at the separators, names
        no table.
        """
        rest = _folded(str(text or ""))
        names = sorted(((_folded(n), s.key) for s in layout.tables for n in (s.key, *s.name.values())),
                       key=lambda pair: -len(pair[0]))
        declared: set[str] = set()
        for folded, key in names:
            if folded and folded in rest:
                declared.add(key)
                rest = rest.replace(folded, "、")
        return declared, [w for w in _SEPARATORS.split(rest) if w]

    def _unknown(self, words: list[str], field: Text, layout: Layout) -> Text:
        """The note on words of the declaration that name no table, with the names that do (nothing if none)."""
        if not words:
            return Text("", "")
        names = [_table_names(s) for s in layout.tables]
        return self.messages["unknown"].format(
            field=field, words=Text("、".join(words), ", ".join(words)),
            names=Text("、".join(n.zh for n in names), ", ".join(n.en for n in names)))

    def _add(self, ctx: FileContext, code: str, message: Text, key: str) -> None:
        """A problem of the whole workbook, at the 基本信息 line of the declaration."""
        from ..reading.cells import show  # reading.cells imports the layout, which imports this package

        raw = ctx.data.info_raw.get(key)
        ctx.data.add(code, message.zh, message.en, ctx.rule.severity, sheet=ctx.data.info_sheet,
                     cell=ctx.data.info_cells.get(key), field=key, value=show(raw) if raw is not None else None,
                     table=ctx.sheet.key)

    @staticmethod
    def _example(layout: Layout) -> Text:
        """A table's name to show as an example: the layout's last table."""
        return _table_names(layout.tables[-1])

    def description(self, rule: Rule, sheet: Sheet | None, layout: Layout) -> Text:
        field = name(layout, sheet, rule.params["field"])
        return Text("一行也没有填写的表会提醒；本年度确实没有的，请在“{field}”中写上表名，如“{example}”，多个表名用顿号隔开",
                    "a table without any row is flagged; for a table with nothing this year, write its name under "
                    "'{field}', e.g. '{example}' (several names separated by commas)").format(
            field=field, example=self._example(layout))


KINDS: tuple[RuleKind, ...] = (EmptyTables(),)
