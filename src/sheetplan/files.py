"""File-system helpers: safe file names and atomic writes."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

_UNSAFE = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]')
_SPACES = re.compile(r"\s+")
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL"} | {f"COM{i}" for i in range(1, 10)} | {f"LPT{i}" for i in range(1, 10)}
MAX_NAME_PART = 60  # characters of the school name kept in a file name


def safe_part(text: str, limit: int = MAX_NAME_PART) -> str:
    """Make one part of a file name safe on Windows, macOS and Linux.

    Path separators, ``..``, reserved characters and control characters
    (NUL included) cannot survive, so the result can never leave a folder.
    """
    s = unicodedata.normalize("NFC", text)
    s = _UNSAFE.sub("_", s)
    s = _SPACES.sub(" ", s).strip()
    s = s.replace("..", "_")
    s = s[:limit].strip(" .")
    if not s or s.upper() in _WINDOWS_RESERVED:
        s = f"_{s}"
    return s


def inside(folder: Path, name: str) -> Path:
    """``folder / name``, refusing any name that would resolve outside ``folder``."""
    target = (folder / name).resolve()
    if target.parent != folder.resolve():
        raise ValueError(f"unsafe file name: {name!r}")
    return target


@contextlib.contextmanager
def atomic_output(path: Path) -> Iterator[IO[bytes]]:
    """Write to a temporary file next to ``path`` and rename it into place.

    An interrupted write leaves the old file (or none), never a truncated one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".~sheetplan-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_atomic(path: Path, produce: Callable[[IO[bytes]], None]) -> None:
    """Call ``produce(fh)`` on a temporary file and rename it to ``path``."""
    with atomic_output(path) as fh:
        produce(fh)


def display_path(path: str | Path) -> str:
    """A path as people read it: valid UTF-8 always, undecodable bytes of the name shown as ``\\xNN``.

    A name in GBK bytes (old USB sticks, zip files) arrives from the OS as surrogate escapes, which
    cannot be written to a UTF-8 file, a JSON report or a workbook.
    """
    raw = os.fsencode(path)
    return raw.decode("utf-8", "backslashreplace")
