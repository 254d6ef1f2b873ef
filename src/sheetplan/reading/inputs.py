"""What an input path is: a regular file to read, or something to report without opening it.

Opening a named pipe blocks until someone writes to it, and a device can be endless; a folder that
cannot be listed or a link to nothing has no content at all. Each is one clear problem for that input
(§9 "Inputs that are not regular files"), found with ``stat`` before anything is opened.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from ..problems import Problem, problem


def not_a_file(path: str | Path, display: str) -> Problem | None:
    """A ``not_a_file`` problem when ``path`` is not a regular file (None when it is one).

    A path that does not exist at all, or cannot be looked at, is an ``unreadable_file`` problem.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            return _problem(display, "指向的文件不存在（失效的链接）", "a link to a file that does not exist")
        return problem("unreadable_file", f"文件 {display} 不存在（可能在读取时被移走或删除）。",
                       f"The file {display} does not exist (moved or deleted while reading?).", file=display)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return _problem(display, "是循环的链接", "a link that loops")
        return problem("unreadable_file", f"文件 {display} 无法打开：{_reason(exc)}。",
                       f"The file {display} cannot be opened: {exc.strerror}.", file=display)
    mode = st.st_mode
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return problem("not_a_file", f"{display} 是一个无法打开的文件夹（没有权限，或是指向文件夹的链接），其中的文件未读取。",
                       f"{display} is a folder that cannot be opened (no permission, or a link to a folder); its files "
                       "were not read.", file=display)
    if stat.S_ISFIFO(mode):
        return _problem(display, "是一个管道，不是文件", "a pipe, not a file")
    if stat.S_ISSOCK(mode):
        return _problem(display, "是一个套接字，不是文件", "a socket, not a file")
    return _problem(display, "是一个设备，不是文件", "a device, not a file")


def _problem(display: str, zh: str, en: str) -> Problem:
    return problem("not_a_file", f"{display} {zh}，未读取。", f"{display} is {en}; it was not read.", file=display)


_REASONS_ZH = {errno.EACCES: "没有读取权限", errno.EPERM: "没有读取权限", errno.ENAMETOOLONG: "文件名太长",
               errno.EIO: "磁盘读取出错"}


def _reason(exc: OSError) -> str:
    return _REASONS_ZH.get(exc.errno or 0, exc.strerror or type(exc).__name__)
