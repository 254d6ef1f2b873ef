"""Exceptions that stop work, each carrying the process exit code.

Problems found *in the data* are not exceptions: they are records in a
:class:`sheetplan.problems.Report`. These classes are for the cases where
work cannot go on (a usage error, an unreadable layout, a bad roster).
"""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path
from typing import Any


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

    def __reduce__(self) -> tuple[Any, ...]:
        # Raised in a worker process, the error crosses to the parent by pickling: keep both languages.
        return (self.__class__, (self.zh, self.en), self.__dict__)


class UsageError(SheetplanError):
    """The command was misused (bad option, existing output without --force …)."""

    exit_code = 2


class LayoutError(SheetplanError):
    """A layout file is missing, malformed, or contradicts itself."""

    exit_code = 2


class RosterError(SheetplanError):
    """A roster file cannot be used; the message lists every bad line."""

    exit_code = 2


class IntegrityError(SheetplanError):
    """A merge's accounting does not add up (read ≠ merged + rejected): nothing is written (§9)."""

    exit_code = 2


def _shown(path: str | Path) -> str:
    # As files.display_path (which cannot be imported here): names in GBK bytes shown as \xNN.
    return os.fsencode(path).decode("utf-8", "backslashreplace")


_BUSY_ZH = "（文件可能正在 Excel 或 WPS 中打开，请先关闭）" if sys.platform == "win32" else ""
_BUSY_EN = " (the file may be open in Excel or WPS: close it first)" if sys.platform == "win32" else ""
# errno → (Chinese, English): the reason an output could not be written, in words a clerk knows.
_WRITE_REASONS: dict[int, tuple[str, str]] = {
    errno.ENOSPC: ("磁盘已满，请腾出空间后再试", "the disk is full; free some space and try again"),
    errno.EACCES: ("没有写入权限" + _BUSY_ZH + "，请换一个文件夹，或请管理员开放权限",
                   "no permission to write there" + _BUSY_EN + "; choose another folder or ask for access"),
    errno.EPERM: ("没有写入权限，请换一个文件夹，或请管理员开放权限",
                  "no permission to write there; choose another folder or ask for access"),
    errno.EISDIR: ("该位置是一个文件夹，请换一个文件名", "a folder is in its place; choose another file name"),
    errno.EROFS: ("只读文件系统（例如写保护的 U 盘或光盘），请换一个位置", "the file system is read-only (a write-protected drive?); choose another place"),
    errno.ENOENT: ("所在的文件夹不存在或已被移走", "its folder does not exist or was moved"),
    errno.ENAMETOOLONG: ("文件名或路径太长", "the file name or path is too long"),
    errno.EIO: ("磁盘读写出错（设备可能已拔出或损坏）", "the disk reported an error (unplugged or damaged?)"),
    errno.EBUSY: ("文件正被其他程序占用", "the file is in use by another program"),
    errno.ETXTBSY: ("文件正被其他程序占用", "the file is in use by another program"),
    errno.EFBIG: ("文件超过了该磁盘允许的大小", "the file is larger than that disk allows"),
    errno.ELOOP: ("路径中的链接形成了循环", "links in the path form a loop"),
    errno.EMFILE: ("同时打开的文件太多", "too many files are open"),
}
if hasattr(errno, "EDQUOT"):
    _WRITE_REASONS[errno.EDQUOT] = ("磁盘配额已用完，请腾出空间后再试", "the disk quota is used up; free some space and try again")


class OutputError(SheetplanError):
    """An output cannot be written (full or read-only disk, no permission, a folder in the way): exit code 2.

    The message names the path and the reason in plain words; the writer has already removed whatever it
    had started, so nothing half-written is left (§9 "Outputs").
    """

    exit_code = 2
    os_errno: int | None = None  # the system's error number, when there was one

    @classmethod
    def writing(cls, path: str | Path, reason: OSError | int | str, blocker: str | Path | None = None) -> OutputError:
        """The error for writing ``path`` failing with ``reason`` (an OSError, an errno, or ``"not_regular"``).

        ``blocker``: with ``errno.ENOTDIR``, the file that stands where a folder of the path should be.
        """
        code = reason.errno if isinstance(reason, OSError) else reason
        if code == "not_regular":
            zh, en = "该位置不是普通文件（可能是设备或管道）", "what is in its place is not a regular file (a device or a pipe?)"
        elif code == errno.ENOTDIR or code == errno.EEXIST:
            if blocker is not None:
                zh = f"路径中的“{_shown(blocker)}”是一个文件，不是文件夹"
                en = f"'{_shown(blocker)}' in the path is a file, not a folder"
            else:
                zh, en = "路径中有一级是文件，不是文件夹", "part of the path is a file, not a folder"
        elif isinstance(code, int) and code in _WRITE_REASONS:
            zh, en = _WRITE_REASONS[code]
        else:
            detail = reason.strerror if isinstance(reason, OSError) and reason.strerror else str(reason)
            zh, en = f"系统报告：{detail}", f"the system says: {detail}"
        shown = _shown(path)
        err = cls(f"无法写入 {shown}：{zh}。没有留下写了一半的文件。",
                  f"Cannot write {shown}: {en}. No half-written file was left.")
        err.os_errno = code if isinstance(code, int) else None
        return err


class InternalError(SheetplanError):
    """A fault of the program itself, not of the user's files (exit code 3)."""

    exit_code = 3


class Terminated(BaseException):
    """The process was asked to stop (SIGTERM, or SIGHUP when its terminal closed).

    Raised by the command line's signal handler. Like KeyboardInterrupt it is not an ``Exception``, so no
    ``except Exception`` swallows it, and every ``with`` block on the way out removes its temporary files.
    """

    def __init__(self, signum: int = 15) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        """128 + the signal number, as a shell reports a process the signal ended (143 for SIGTERM)."""
        return 128 + self.signum
