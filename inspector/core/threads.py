"""Thread niceness: the one helper that lets worker threads yield the CPU (Linux; elsewhere a no-op)."""

from __future__ import annotations

import logging
import os
import sys
import threading

log = logging.getLogger(__name__)

WORKER_NICENESS = 10


def lower_thread_priority(niceness: int = WORKER_NICENESS, *, relative: bool = False) -> bool:
    """Lower the calling thread's OS priority (and that of the threads it starts later).

    On a 2-core station inference saturates both cores; without this the window can stall for tens
    of milliseconds while the scheduler serves the workers. Lowering a priority needs no privileges.

    Args:
        niceness: The nice value to reach (``relative``: to add), capped at 19.
        relative: Add ``niceness`` to the current value instead of raising it to at least ``niceness``.

    Returns:
        True when the priority was lowered (or already that low).
    """
    if niceness <= 0 or not hasattr(os, "setpriority") or not sys.platform.startswith("linux"):
        return False
    try:
        tid = threading.get_native_id()
        current = os.getpriority(os.PRIO_PROCESS, tid)
        target = current + niceness if relative else max(current, niceness)
        os.setpriority(os.PRIO_PROCESS, tid, min(19, target))
    except OSError:
        log.debug("could not lower the priority of thread %s", threading.current_thread().name)
        return False
    return True
