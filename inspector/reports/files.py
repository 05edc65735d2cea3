"""Writing output files: all or nothing (a cancelled or failed export leaves no half-written file)."""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from inspector.reports.scope import ReportError


@contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; it replaces ``path`` only if the block succeeds."""
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        os.close(fd)
    except OSError as error:
        raise output_error(error, target) from error
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except OSError as error:
        raise output_error(error, target) from error
    finally:
        tmp.unlink(missing_ok=True)


def output_error(error: OSError, target: Path) -> ReportError:
    if error.errno == errno.ENOSPC:
        return ReportError(f"The disk is full: {target} was not written. Free some space and try again.")
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return ReportError(f"Cannot write {target}: the folder is read-only or this user lacks permission.")
    return ReportError(f"Cannot write {target}: {error.strerror or error}.")
