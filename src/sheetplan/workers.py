"""What every worker process of a parallel `new` or `merge` does first."""

from __future__ import annotations

import os
import threading
import time


def exit_with_parent(poll_seconds: float = 0.5, parent: int | None = None) -> None:
    """End this worker soon after its parent dies.

    A killed `sheetplan merge` (Ctrl+C in a closed terminal, the task manager, an out-of-memory kill) cannot
    shut its pool down; without this its workers would wait for work forever, holding memory and file handles.
    ``parent`` is the pid the parent had when it started the pool: a worker that starts just after its parent
    was killed already has another parent, and ends at once.
    """
    if parent is not None and os.getppid() != parent:
        os._exit(1)
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(poll_seconds)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


WORKER_NICENESS = 5


def yield_to_parent() -> None:
    """Let the parent process go first when it needs the processor.

    In a merge to a workbook the parent writes the detail while the workers read, and one process writing is
    the longest part of the job: it should not wait behind the readers. When the parent is idle the workers
    still use every core. (Where the system has no niceness, e.g. Windows, nothing changes.)
    """
    if hasattr(os, "nice"):
        try:
            os.nice(WORKER_NICENESS)
        except OSError:
            pass


GEN0_THRESHOLD = 50_000


def collect_garbage_rarely() -> None:
    """Run the cycle collector less often in a worker.

    A worker makes tens of thousands of short-lived cell values and rows per file and keeps none of them (a
    file's result leaves with it, and next to nothing it builds is cyclic), so the collector's frequent young-generation
    passes find nothing. What the worker holds from start-up is frozen out of every pass.
    """
    import gc

    gc.freeze()
    gc.set_threshold(GEN0_THRESHOLD, *gc.get_threshold()[1:])
