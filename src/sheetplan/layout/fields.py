"""What one field accepts in one year, derived once: the bounds, the date window, the length, the choices.

A :class:`~sheetplan.layout.Field` says what the layout author wrote (``min``, ``allow_negative``,
``within`` …); what follows from it — that money without a ``min`` may not be negative, that
``year_plus_january`` ends on 31 January of the next year, that a date of a workbook without a known
year has no window — is worked out here, in :func:`field_spec`, and nowhere else. The reader's parser
and its shortcut, the template's data validations and input prompts, and the plain-language
descriptions of the 填写说明 all take these figures from one :class:`FieldSpec`, so a limit cannot
mean one thing to the reader and another to the workbook a school fills in.

This module imports nothing of the layout at run time (the classes appear in type hints only), so
that any module may use it while the layout itself is still loading.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from . import Field, Layout

# What the template's data validation puts where the layout sets no bound. A validation needs both ends;
# these are far beyond any school's figures, and well inside what Excel, WPS and LibreOffice accept.
VALIDATION_INT_LIMIT = 1_000_000_000
VALIDATION_MONEY_LIMIT = 1e12
# The dates a validation of a date "of any year" (``within: any``) allows.
VALIDATION_DATES = (dt.date(1900, 1, 1), dt.date(2100, 12, 31))
# A month is a number 1–12, whatever the layout says.
MONTHS = (1, 12)

TEXT_TYPES = ("text", "code")


@dataclass(frozen=True)
class FieldSpec:
    """What a field accepts in a workbook of ``year`` (``None``: the year is not known).

    ``low`` and ``high`` bound an int, money or month value (``None``: no bound on that side); ``start`` and
    ``end`` are the first and last day a date may be (``None`` for a date of any year, or when the year is not
    known); ``max_length`` bounds a text or code; ``choices`` are a dropdown's values in the layout's order.
    Build one with :func:`field_spec`, which derives each figure once and caches the result.
    """

    key: str
    type: str
    year: int | None
    low: float | None = None
    high: float | None = None
    signed: bool = False  # money that may be negative (allow_negative)
    within: str = "year"  # the layout's date window: "year", "year_plus_january" or "any"
    start: dt.date | None = None
    end: dt.date | None = None
    max_length: int | None = None
    choices: tuple[str, ...] = ()
    choice_set: frozenset[str] = frozenset()
    pattern: re.Pattern[str] | None = None

    def validation_bounds(self) -> tuple[float, float]:
        """The minimum and maximum of the template's validation of a number: the bounds, or far limits where none.

        A whole number's bounds are whole (an Excel "whole number" validation takes no fraction), rounded inwards:
        a ``min`` of 0.5 lets the validation take 1, the least whole number the reader takes too.
        """
        if self.type == "money":
            return (self.low if self.low is not None else -VALIDATION_MONEY_LIMIT,
                    self.high if self.high is not None else VALIDATION_MONEY_LIMIT)
        return (-VALIDATION_INT_LIMIT if self.low is None else math.ceil(self.low),
                VALIDATION_INT_LIMIT if self.high is None else math.floor(self.high))

    def validation_window(self) -> tuple[dt.date, dt.date]:
        """The first and last day of the template's validation of a date: the window, or :data:`VALIDATION_DATES`."""
        if self.start is None or self.end is None:
            return VALIDATION_DATES
        return self.start, self.end


def date_window(within: str, year: int | None) -> tuple[dt.date, dt.date] | None:
    """The first and last day a date may be: inside ``year``; up to 31 January of the next year for
    ``year_plus_january`` (a task of December done in January); ``None`` for ``any`` or an unknown year.

    A year no date can be in (0, or one past 9998 read from a damaged file) gives no window either,
    rather than an exception: the year itself is reported where it was read.
    """
    if within == "any" or not year or not dt.MINYEAR <= year < dt.MAXYEAR:
        return None
    end = dt.date(year + 1, 1, 31) if within == "year_plus_january" else dt.date(year, 12, 31)
    return dt.date(year, 1, 1), end


def _derive(f: Field, year: int | None, layout: Layout) -> FieldSpec:
    kw: dict = {"key": f.key, "type": f.type, "year": year}
    if f.type in ("int", "money"):
        low = f.min
        if low is None and f.type == "money" and not f.allow_negative:
            low = 0  # money is ≥ 0 unless the layout says it may be negative
        kw.update(low=low, high=f.max, signed=f.type == "money" and f.allow_negative)
    elif f.type == "month":
        kw.update(low=MONTHS[0], high=MONTHS[1])
    elif f.type == "date":
        window = date_window(f.within, year)
        kw.update(within=f.within, start=window[0] if window else None, end=window[1] if window else None)
    if f.type in TEXT_TYPES:
        kw["max_length"] = f.max_length
    if f.type == "code" and f.pattern:
        kw["pattern"] = re.compile(f.pattern)
    if f.type == "list":
        lst = layout.lists[f.list]  # type: ignore[index]
        kw.update(choices=lst.values, choice_set=lst.value_set)
    return FieldSpec(**kw)


# Field holds mappings (its label), so it cannot be a dict key: specs are cached by the identity of the field
# and of the layout, each entry keeping both alive so that an identity is never reused while its entry stands.
_SPECS: dict[tuple[int, int | None, int], tuple[FieldSpec, Field, Layout]] = {}
_MAX_SPECS = 4096  # a process sees a few layouts; tests and layout edits may build more, so the cache is bounded


def field_spec(f: Field, year: int | None, layout: Layout) -> FieldSpec:
    """The :class:`FieldSpec` of ``f`` (a field of ``layout``) in a workbook of ``year``, derived once (cached)."""
    key = (id(f), year, id(layout))
    hit = _SPECS.get(key)
    if hit is not None:
        return hit[0]
    spec = _derive(f, year, layout)
    if len(_SPECS) >= _MAX_SPECS:
        _SPECS.clear()
    _SPECS[key] = (spec, f, layout)
    return spec
