"""Which files a merge reads, and the names people see for them."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from ..errors import UsageError
from ..files import display_path
from ..reading.sniff import is_ignored_name


def find_inputs(inputs: Iterable[str | Path], skip: Iterable[str | Path] = ()) -> list[tuple[Path, str]]:
    """Every entry to read, in input order, with its ``source_file`` name (§6).

    ``source_file`` is the path relative to the nearest folder that holds every input, so two folders
    ``a/`` and ``b/`` with the same file name give ``a/报送.xlsx`` and ``b/报送.xlsx``; a name that is not
    valid UTF-8 is shown with its bytes escaped. It is for people: inside the program an input is known by
    its position in this list. Entries that are not regular files (pipes, devices, broken links, folders
    that cannot be opened) are listed too, so that reading reports them (nothing is skipped silently);
    hidden and temporary files are not. Paths in ``skip`` (the merge's own outputs) are left out.
    """
    items = [Path(i) for i in inputs]
    for p in items:
        if not os.path.lexists(p):
            raise UsageError(f"找不到输入：{display_path(p)}", f"Input not found: {display_path(p)}")
    skipped = {os.path.realpath(s) for s in skip}
    seen: set[str] = set()
    found: list[Path] = []

    def add(f: Path) -> None:
        real = os.path.realpath(f)
        if real in seen or real in skipped or any(real.startswith(s + os.sep) for s in skipped):
            return
        seen.add(real)
        found.append(f)

    for p in items:
        if p.is_dir():
            for f in _walk(p):
                add(f)
        else:
            add(p)
    bases = [os.path.abspath(p if p.is_dir() else p.parent) for p in items]
    try:
        root = os.path.commonpath(bases)
    except ValueError:  # different drives (Windows): absolute names are unique too
        root = ""
    names: set[str] = set()
    out: list[tuple[Path, str]] = []
    for f in found:
        name = display_path(os.path.relpath(os.path.abspath(f), root) if root else os.path.abspath(f)).replace(os.sep, "/")
        unique, n = name, 1
        while unique in names:  # only escaped names could collide; still, two inputs never share a name
            n += 1
            unique = f"{name} ({n})"
        names.add(unique)
        out.append((f, unique))
    return out


def _walk(folder: Path) -> Iterator[Path]:
    """Everything below ``folder`` in name order, hidden and temporary names left out; a sub-folder that
    cannot be opened is yielded itself (reading then reports it)."""
    unreadable: list[Path] = []

    def failed(exc: OSError) -> None:
        if exc.filename is not None:
            unreadable.append(Path(os.fsdecode(exc.filename)))

    entries: list[Path] = []
    for here, dirs, files in os.walk(folder, onerror=failed):
        dirs[:] = sorted(d for d in dirs if not is_ignored_name(d))
        base = Path(here)
        for name in files:
            if not is_ignored_name(name):
                entries.append(base / name)
        # os.walk lists a link to a folder among the folders and does not follow it: read it as an entry
        # (a link to a folder is reported, not followed, so a loop of links cannot hang a merge).
        entries.extend(base / d for d in dirs if os.path.islink(base / d))
    entries.extend(unreadable)
    return iter(sorted(entries))
