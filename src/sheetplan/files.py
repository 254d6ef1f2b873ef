"""File-system helpers: safe file names, atomic writes, and temporary files that never outlive their run.

Every output is written to a temporary file next to it and renamed into place, so a failed or interrupted
run leaves the old file (or none), never a half-written one. Temporary names carry the writing process's
id (and a tag of the machine), so a later run can tell the leftovers of a killed run — whose process is
gone — from the files of a run still going on, and remove only those.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import os
import re
import secrets
import shutil
import signal
import socket
import stat
import sys
import tempfile
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO

from .errors import OutputError

_UNSAFE = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]')
_SPACES = re.compile(r"\s+")
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL"} | {f"COM{i}" for i in range(1, 10)} | {f"LPT{i}" for i in range(1, 10)}
MAX_NAME_PART = 60  # characters of the school name kept in a file name

TEMP_PREFIX = ".~sheetplan-"
TEMP_SUFFIX = ".tmp"
# A folder may be shared between machines (a network drive): a process id means something only on the
# machine that wrote it, so names carry a short tag of the host and leftovers of other hosts are never touched.
HOST_TAG = hashlib.sha256(socket.gethostname().encode("utf-8", "backslashreplace")).hexdigest()[:6]
# ``.~sheetplan-<pid>-<host>-<random>.tmp``, next to an output (a file, or a folder for a batch of outputs).
_TEMP_NAME = re.compile(r"^\.~sheetplan-(\d+)-([0-9a-f]{6})-[0-9a-f]+\.tmp$")
# ``sheetplan-<purpose>-<pid>-<host>-<random>``: working folders in the system's temporary folder.
_TEMP_DIR_NAME = re.compile(r"^sheetplan-([a-z]+)-(\d+)-([0-9a-f]{6})-[a-z0-9_]+$")


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


def display_path(path: str | Path) -> str:
    """A path as people read it: valid UTF-8 always, undecodable bytes of the name shown as ``\\xNN``.

    A name in GBK bytes (old USB sticks, zip files) arrives from the OS as surrogate escapes, which
    cannot be written to a UTF-8 file, a JSON report or a workbook.
    """
    raw = os.fsencode(path)
    return raw.decode("utf-8", "backslashreplace")


# ----------------------------------------------------------------------------- process ids in names


def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine (when in doubt: yes, so nothing is removed)."""
    if pid <= 0:
        return True
    if pid == os.getpid():
        return True
    if sys.platform == "win32":
        return _pid_alive_windows(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists, under another account
        return True
    return True


def _pid_alive_windows(pid: int) -> bool:
    # os.kill(pid, 0) would *terminate* the process on Windows: ask the kernel about it instead.
    try:
        import ctypes

        kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return kernel32.GetLastError() != 87  # ERROR_INVALID_PARAMETER: no such process
        try:
            code = ctypes.c_ulong()
            if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
                return True
            return code.value == 259  # STILL_ACTIVE
        finally:
            kernel32.CloseHandle(handle)
    except Exception:  # noqa: BLE001 - when in doubt the process is alive and its files stay
        return True


def _stale(name: str) -> bool:
    """Whether ``name`` is one of our temporary names whose process, on this machine, is gone."""
    m = _TEMP_NAME.match(name)
    if m:
        pid, host = m.group(1), m.group(2)
    else:
        m = _TEMP_DIR_NAME.match(name)
        if not m:
            return False
        pid, host = m.group(2), m.group(3)
    return host == HOST_TAG and not pid_alive(int(pid))


def clear_stale(folder: str | Path) -> int:
    """Remove what killed runs left in ``folder``; return how many entries went.

    Only entries named by this module (``.~sheetplan-<pid>-…tmp`` files or folders next to outputs,
    ``sheetplan-<purpose>-<pid>-…`` folders in a temporary folder), written on this machine by a process
    that no longer exists, are removed — never anything else. Errors are ignored: clearing is a courtesy.
    """
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        try:
            if not _stale(entry.name):
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                os.unlink(entry.path)
            removed += 1
        except OSError:
            continue
    return removed


def temp_dir(purpose: str, parent: str | Path | None = None, clear: bool = True) -> str:
    """Make a private working folder ``sheetplan-<purpose>-<pid>-<host>-<random>`` and return its path.

    ``parent`` defaults to the system's temporary folder. Leftovers of killed runs there are cleared
    first, so a run that was killed (``kill -9``, a power cut) costs disk space only until the next run.
    The caller removes the folder when done (``shutil.rmtree``).
    """
    if not re.fullmatch(r"[a-z]+", purpose):
        raise ValueError(f"purpose must be lower-case letters: {purpose!r}")
    base = str(parent) if parent is not None else tempfile.gettempdir()
    if clear:
        clear_stale(base)
    return tempfile.mkdtemp(prefix=f"sheetplan-{purpose}-{os.getpid()}-{HOST_TAG}-", dir=base)


@contextlib.contextmanager
def temp_folder(purpose: str, parent: str | Path | None = None) -> Iterator[Path]:
    """:func:`temp_dir` as a block: the folder and everything in it are removed when the block ends.

    Made under :func:`signals_held`, so a Ctrl+C or SIGTERM cannot fall between making the folder and
    the clean-up being in place (``tempfile.TemporaryDirectory`` has that gap).
    """
    folder: str | None = None
    base = str(parent) if parent is not None else tempfile.gettempdir()
    clear_stale(base)  # before holding signals: removing a large leftover may take a while
    try:
        with signals_held():
            folder = temp_dir(purpose, base, clear=False)
        yield Path(folder)
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def temp_folder_beside(parent: str | Path) -> Iterator[Path]:
    """A private folder ``.~sheetplan-<pid>-<host>-<random>.tmp`` inside ``parent``, removed when the block ends.

    For outputs written as a whole folder (an export) and moved into place: on the same disk as the
    outputs, hidden, and — if the run is killed — removed by the next run that writes into ``parent``.
    Failing to make it is an :class:`OutputError` naming ``parent``.
    """
    folder = Path(parent)
    made = _make_folder(folder, folder)
    clear_stale(folder)
    temp: Path | None = None
    try:
        with signals_held():
            temp = _make_temp_folder(folder)
        yield temp
    finally:
        if temp is not None:
            shutil.rmtree(temp, ignore_errors=True)
        _remove_empty(made)


def _make_temp_folder(folder: Path) -> Path:
    for _ in range(100):
        temp = folder / _temp_name()
        try:
            os.mkdir(temp, 0o700)
            return temp
        except FileExistsError:
            continue
        except OSError as exc:
            raise OutputError.writing(folder, exc) from exc
    raise OutputError.writing(folder, FileExistsError(errno.EEXIST, "no free temporary name"))


_SYSTEM_TEMP: str | None = None


def system_temp_dir() -> str:
    """The system's temporary folder, even while :func:`run_temp_root` points ``tempfile`` elsewhere."""
    return _SYSTEM_TEMP or tempfile.gettempdir()


@contextlib.contextmanager
def run_temp_root() -> Iterator[str]:
    """Send every temporary file of this run (and of its worker processes) into one private folder.

    Libraries make temporary files of their own (xlsxwriter's sheet data, a merge's spilled rows) that a
    killed process cannot remove. With ``tempfile``'s folder and ``TMPDIR`` pointing at
    ``sheetplan-run-<pid>-…``, all of them sit in a folder that is removed at the end, and that the next
    run removes if this one is killed.
    """
    global _SYSTEM_TEMP
    base = tempfile.gettempdir()
    old_tempdir, old_env, old_system = tempfile.tempdir, os.environ.get("TMPDIR"), _SYSTEM_TEMP
    folder = None
    clear_stale(base)  # before holding signals: removing a large leftover may take a while
    try:
        with signals_held():  # the folder is made and recorded before Ctrl+C or SIGTERM can strike
            try:
                folder = temp_dir("run", base, clear=False)
            except OSError:  # no usable temporary folder: work as before rather than refuse to start
                folder = None
            if folder is not None:
                tempfile.tempdir, os.environ["TMPDIR"], _SYSTEM_TEMP = folder, folder, base
        yield folder if folder is not None else base
    finally:
        if folder is not None:
            tempfile.tempdir, _SYSTEM_TEMP = old_tempdir, old_system
            if old_env is None:
                os.environ.pop("TMPDIR", None)
            else:
                os.environ["TMPDIR"] = old_env
            _remove_run_folder(folder)


def _remove_run_folder(folder: str) -> None:
    """Remove a run's temporary folder now — or at exit, when multiprocessing keeps a folder of its own in it.

    A pool started with forkserver or spawn gives multiprocessing a ``pymp-…`` folder (the server's
    socket), which it removes itself at exit, after stopping the server: removed before that, it complains
    with a traceback. Its removal is then left to the same exit handlers, to run after its own.
    """
    mp_process = sys.modules.get("multiprocessing.process")
    config = getattr(mp_process.current_process(), "_config", {}) if mp_process is not None else {}
    mp_temp = config.get("tempdir") if isinstance(config, dict) else None
    if isinstance(mp_temp, str) and os.path.dirname(mp_temp) == folder:
        from multiprocessing import util

        util.Finalize(None, shutil.rmtree, args=(folder, True), exitpriority=-200)
        return
    shutil.rmtree(folder, ignore_errors=True)


# ----------------------------------------------------------------------------- writing outputs


def _temp_name() -> str:
    return f"{TEMP_PREFIX}{os.getpid()}-{HOST_TAG}-{secrets.token_hex(4)}{TEMP_SUFFIX}"


def _open_temp(folder: Path, mode: int) -> tuple[int, Path]:
    """Create a new temporary file in ``folder``; the system applies the umask to ``mode``."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = folder / _temp_name()
        try:
            return os.open(tmp, flags, mode), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary file name", str(folder))


def output_target(path: str | Path) -> Path:
    """Where writing ``path`` really writes: the file a symbolic link points to, so the link stays a link."""
    p = Path(path)
    if p.is_symlink():
        return Path(os.path.realpath(p))
    return p


def _existing_mode(target: Path, shown: str | Path) -> int | None:
    """The permission bits of the file being replaced, None when there is none yet.

    Raises :class:`OutputError` when something other than a regular file is in the output's place.
    """
    try:
        st = os.stat(target)
    except (FileNotFoundError, NotADirectoryError):
        return None  # a file in the way of a folder of the path is reported when the folder is made
    except OSError as exc:
        raise OutputError.writing(shown, exc) from exc
    if stat.S_ISDIR(st.st_mode):
        raise OutputError.writing(shown, errno.EISDIR)
    if not stat.S_ISREG(st.st_mode):
        raise OutputError.writing(shown, "not_regular")
    return stat.S_IMODE(st.st_mode)


def _make_folder(folder: Path, shown: str | Path) -> list[Path]:
    """Make ``folder`` and its parents; return the folders made, deepest first (to remove them on failure)."""
    made: list[Path] = []
    for p in (folder, *folder.parents):
        if os.path.lexists(p):
            break
        made.append(p)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        return made
    except OSError as exc:
        if isinstance(exc, FileExistsError) or exc.errno == errno.ENOTDIR:
            # A file where a folder of the path should be: name it, it is what the user must move.
            blocker = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), None)
            raise OutputError.writing(shown, errno.ENOTDIR, blocker) from exc
        raise OutputError.writing(shown, exc) from exc


class _RawOutput(io.FileIO):
    """The raw file under an output: remembers a failed write, so the failure is reported as the output's.

    The code writing an output may also read files (a merge reads its inputs while it writes): only an
    error of a write to this file is an output error.
    """

    failure: OSError | None = None

    def write(self, b: bytes) -> int:  # type: ignore[override]
        try:
            return super().write(b)
        except OSError as exc:
            self.failure = exc
            raise


def _remove_empty(folders: Sequence[Path]) -> None:
    """Remove folders this run made for an output that was not written, if they are still empty."""
    for folder in folders:
        try:
            os.rmdir(folder)
        except OSError:
            return


def _sync(fd: int) -> None:
    try:
        os.fsync(fd)
    except OSError as exc:
        # Some network and FUSE file systems cannot sync: the rename still makes the write all-or-nothing.
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise


def _set_mode(fd: int, path: Path, mode: int) -> None:
    if hasattr(os, "fchmod"):
        os.fchmod(fd, mode)
    else:  # Windows: only the read-only flag exists
        os.chmod(path, mode)


@contextlib.contextmanager
def atomic_output(path: str | Path) -> Iterator[IO[bytes]]:
    """Write to a temporary file next to ``path`` and rename it into place.

    An interrupted or failed write leaves the old file (or none), never a truncated one, and no
    temporary file. Any failure to create, write or rename is an :class:`OutputError` naming ``path``
    with the reason in plain words (exit code 2).

    Permissions are those of an ordinary new file: the temporary file is created with ``0o666`` and the
    system applies the user's umask (and a folder's default ACL) itself — nothing reads or changes the
    process's umask, so no other thread can be affected. A file that is replaced keeps its permissions.
    When ``path`` is a symbolic link, the file it points to is written and the link stays a link.
    """
    shown = path
    target = output_target(path)
    mode = _existing_mode(target, shown)
    made = _make_folder(target.parent, shown)
    clear_stale(target.parent)
    tmp: Path | None = None
    fd = -1
    fh: io.BufferedWriter | None = None
    try:
        # Ctrl+C or SIGTERM between creating the temporary file and knowing its name would leave it behind:
        # they wait until both are known here (and are raised inside this ``try``, which removes it).
        with signals_held():
            try:
                # Replacing a file: the temporary file is never more open than the file it replaces.
                fd, tmp = _open_temp(target.parent, 0o666 if mode is None else mode)
            except OSError as exc:
                raise OutputError.writing(shown, exc) from exc
            raw = _RawOutput(fd, "wb", closefd=True)
            fh = io.BufferedWriter(raw)
        with _failed_writes_named(raw, shown):
            yield fh
        try:
            fh.flush()
            if mode is not None:
                _set_mode(fd, tmp, mode)
            _sync(fd)
            fh.close()
            os.replace(tmp, target)
        except OSError as exc:
            raise OutputError.writing(shown, exc) from exc
    except BaseException:
        if fh is not None:
            with contextlib.suppress(Exception):
                fh.close()  # a full disk fails the flush of close too; the file is closed all the same
        elif fd >= 0:
            with contextlib.suppress(OSError):
                os.close(fd)
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        _remove_empty(made)
        raise


@contextlib.contextmanager
def _failed_writes_named(raw: _RawOutput, shown: str | Path) -> Iterator[None]:
    """Whatever a writer raises after a write to the output failed (xlsxwriter's own error, say) is that
    output's failure: an :class:`OutputError` naming ``shown`` with the system's reason."""
    try:
        yield
    except Exception as exc:
        if raw.failure is not None and not isinstance(exc, OutputError):
            raise OutputError.writing(shown, raw.failure) from exc
        raise


_HELD = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Hold Ctrl+C and SIGTERM back for a few instructions; they arrive, unchanged, when the block ends.

    For the moment between making a temporary file or folder and recording it for removal. Where signals
    cannot be held (Windows), the block runs as it is.
    """
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def write_atomic(path: str | Path, produce: Callable[[IO[bytes]], None]) -> None:
    """Call ``produce(fh)`` on a temporary file and rename it to ``path``."""
    with atomic_output(path) as fh:
        produce(fh)


def write_new(path: str | Path, produce: Callable[[IO[bytes]], None], shown: str | Path | None = None) -> None:
    """Write a file that must not exist yet (a member of an :class:`OutputBatch`), removing it on failure.

    Failures are an :class:`OutputError` naming ``shown`` (the final name the user will see).
    """
    p = Path(path)
    who = shown if shown is not None else p
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(p, flags, 0o666)
    except OSError as exc:
        raise OutputError.writing(who, exc) from exc
    raw = _RawOutput(fd, "wb", closefd=True)
    fh = io.BufferedWriter(raw)
    try:
        with _failed_writes_named(raw, who):
            produce(fh)
        try:
            fh.flush()
            _sync(fd)
            fh.close()
        except OSError as exc:
            raise OutputError.writing(who, exc) from exc
    except BaseException:
        with contextlib.suppress(Exception):
            fh.close()
        with contextlib.suppress(OSError):
            os.unlink(p)
        raise


class OutputBatch:
    """Many outputs in one folder, all or nothing.

    Decision: the files are written into one temporary folder *inside* the output folder
    (``.~sheetplan-<pid>-<host>-<random>.tmp/``, on the same disk, so moving a file in is a rename that
    cannot run out of space), then moved into place together by :meth:`commit`. Until then the output
    folder holds nothing new. If anything fails — a full disk at the 57th file, a worker process that
    dies, Ctrl+C — the temporary folder is removed with everything in it. If a move fails half-way (a
    file held open by Excel on Windows), the files moved so far are taken back: a new file is removed and
    a replaced file gets its old content back. A killed run leaves only the temporary folder, which the
    next run writing into that folder removes.

    Use as a context manager; :meth:`path_for` gives the temporary path for a final name (worker
    processes may write there with :func:`write_new`).
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self._made = _make_folder(self.folder, self.folder)
        clear_stale(self.folder)
        self.committed = False
        self.temp = self.folder / _temp_name()
        self._created = False

    def __enter__(self) -> OutputBatch:
        try:
            with signals_held():  # made and recorded before Ctrl+C or SIGTERM can strike
                self._create()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _create(self) -> None:
        self.temp = _make_temp_folder(self.folder)
        self._created = True

    def __exit__(self, *exc: object) -> None:
        if not self.committed:
            self.discard()
            _remove_empty(self._made)  # the output folder too, when this run made it and nothing went in

    def path_for(self, target: Path) -> Path:
        """The temporary path where the file that will become ``target`` is written."""
        return self.temp / target.name

    def discard(self) -> None:
        """Remove the temporary folder and everything in it (a no-op after a full commit)."""
        if self._created:
            shutil.rmtree(self.temp, ignore_errors=True)

    def commit(self, targets: Sequence[Path]) -> None:
        """Move every written file to its target, or — if one move fails — undo the moves already made."""
        done: list[tuple[Path, Path | None]] = []  # (target, backup of what it replaced)
        try:
            for i, target in enumerate(targets):
                new = self.path_for(target)
                try:
                    mode = _existing_mode(target, target)
                    backup = None
                    if mode is not None:
                        # Move the old file aside first: if the new one cannot go in, it goes back.
                        backup = self.temp / f".old-{i}"
                        os.replace(target, backup)
                    done.append((target, backup))
                    if mode is not None:
                        os.chmod(new, mode)  # a replaced file keeps its permissions
                    os.replace(new, target)
                except OSError as exc:
                    raise OutputError.writing(target, exc) from exc
        except BaseException as exc:
            kept = self._undo(done)
            if not kept:
                self.discard()
            elif isinstance(exc, OutputError):
                self.committed = True  # keeps the backups: they are the only copy of those files now
                raise OutputError(
                    f"{exc.zh} 另有 {len(kept)} 个原有文件未能放回，保存在 {display_path(self.temp)}。",
                    f"{exc.en} {len(kept)} earlier files could not be put back; they are kept in {display_path(self.temp)}.",
                ) from exc
            else:
                self.committed = True
            raise
        self.discard()
        self.committed = True

    def _undo(self, done: list[tuple[Path, Path | None]]) -> list[Path]:
        """Take back the moves made; return the backups that could not be put back."""
        kept: list[Path] = []
        for target, backup in reversed(done):
            try:
                if backup is None:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(target)
                elif backup.exists():
                    os.replace(backup, target)
            except OSError:
                if backup is not None:
                    kept.append(backup)
        return kept


def sha256_of(fh: IO[bytes]) -> str:
    """The SHA-256 of what ``fh`` holds from where it stands, read a megabyte at a time (any size, flat memory)."""
    h = hashlib.sha256()
    for chunk in iter(lambda: fh.read(1 << 20), b""):
        h.update(chunk)
    return h.hexdigest()
