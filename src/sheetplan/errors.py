"""Exceptions that stop work, each carrying the process exit code.

Problems found *in the data* are not exceptions: they are records in a
:class:`sheetplan.problems.Report`. These classes are for the cases where
work cannot go on (a usage error, an unreadable layout, a bad roster).
"""

from __future__ import annotations


class SheetplanError(Exception):
    """Base class: a message for the user and the exit code it maps to."""

    exit_code = 2

    def __init__(self, zh: str, en: str | None = None) -> None:
        super().__init__(zh)
        self.zh = zh
        self.en = en if en is not None else zh

    def text(self, lang: str = "zh") -> str:
        """The message in the user's language (``zh`` or ``en``)."""
        return self.en if lang == "en" else self.zh


class UsageError(SheetplanError):
    """The command was misused (bad option, existing output without --force …)."""

    exit_code = 2


class LayoutError(SheetplanError):
    """A layout file is missing, malformed, or contradicts itself."""

    exit_code = 2


class RosterError(SheetplanError):
    """A roster file cannot be used; the message lists every bad line."""

    exit_code = 2


class ProblemsFound(SheetplanError):
    """Work finished, but the data has error-severity problems (exit code 1)."""

    exit_code = 1
