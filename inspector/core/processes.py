"""Which process left a file or a run behind, and whether it is still alive.

A *process tag* is ``<pid>-<start time>`` (the start time from ``/proc/<pid>/stat`` on Linux, so a
reused process id does not look like the process that left the file; ``0`` elsewhere). Files and
runs carry the tag of the process that made them; on the next start, those whose process is gone
are the leftovers of a crash, a ``kill -9`` or a power cut, and are cleaned up.
"""

from __future__ import annotations

import os
import re

_TAG = re.compile(r"(\d+)-(\d+)")


def _start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (Linux), 0 where unknown, None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read().decode("ascii", "replace")
    except FileNotFoundError:
        return None
    except OSError:
        return 0
    # The command name (field 2) is in parentheses and may hold spaces: count fields after it.
    fields = stat[stat.rfind(")") + 2 :].split()
    return int(fields[19]) if len(fields) > 19 else 0


_OWN: dict[int, str] = {}


def process_tag(pid: int | None = None) -> str:
    """The tag of process ``pid`` (default: this one)."""
    if pid is None:
        pid = os.getpid()
        if pid not in _OWN:  # keyed by pid: a forked child gets its own tag
            _OWN[pid] = f"{pid}-{_start_time(pid) or 0}"
        return _OWN[pid]
    return f"{pid}-{_start_time(pid) or 0}"


def tag_alive(tag: str) -> bool:
    """True when the process that made ``tag`` is still running (unknown tags count as alive)."""
    match = _TAG.fullmatch(tag or "")
    if match is None:
        return True
    pid, started = int(match[1]), int(match[2])
    if os.path.isdir("/proc/self"):
        now = _start_time(pid)
        return now is not None and (started == 0 or now == 0 or now == started)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def tag_in_name(name: str) -> str | None:
    """The process tag inside a file name such as ``.tmp-1234-5678-abc`` or ``inspector-gate-1234-5678-x``."""
    match = re.search(r"(?:^|-)(\d+-\d+)-", name)
    return match[1] if match else None
