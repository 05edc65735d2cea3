"""A hot folder: images are inspected as they arrive (a camera's or line PC's output folder).

The folder is polled (no extra dependency, works on network shares where change notifications do
not). A file is read only once it is complete:

1. its size and modification time have not changed for ``settle_time`` seconds, it is not empty, and
2. for JPEG, PNG and BMP, its end (JPEG end-of-image marker, PNG ``IEND`` chunk, BMP declared size)
   is there, and it decodes completely.

A file that fails these checks is *not* reported as corrupt while it may still be being written: it
is retried whenever it changes, and reported (as an error frame) only once it has not changed for
``incomplete_timeout`` seconds and still cannot be read. Each file is delivered once; files already
in the folder when watching starts are skipped unless ``include_existing`` is set. If the folder
disappears the source goes to :attr:`~inspector.sources.base.SourceState.LOST` and keeps polling;
when it comes back the source is running again and files already delivered are not repeated.

A hot folder never finishes on its own: it runs until :meth:`~inspector.sources.base.Source.stop`.
It is not live: when inference falls behind it waits, and skips nothing.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from inspector.core.images import ImageLoadError
from inspector.sources.base import Source, SourceError, SourceState, StateCallback
from inspector.sources.entries import ReadImage, ReadLimits, read_image_file, skip_reason, wants_entry
from inspector.sources.folder import natural_key

__all__ = ["HotFolderSource", "looks_complete"]

Signature = tuple[int, int]
"""(size in bytes, modification time in ns) of a file."""

_JPEG = (".jpg", ".jpeg", ".jpe", ".jfif")
_PNG_END = b"IEND\xaeB`\x82"


def looks_complete_bytes(data: bytes, suffix: str) -> bool | None:
    """:func:`looks_complete` for a file's bytes already read."""
    suffix = suffix.lower()
    if suffix not in _JPEG and suffix not in (".png", ".bmp"):
        return None
    if suffix == ".bmp":
        if len(data) < 6 or data[:2] != b"BM":
            return False
        declared = int.from_bytes(data[2:6], "little")
        return declared == 0 or len(data) >= declared
    tail = data[-64:]
    if suffix == ".png":
        return _PNG_END in tail
    return tail.rstrip(b"\x00").endswith(b"\xff\xd9")


def looks_complete(path: Path) -> bool | None:
    """Whether the file's format-specific end is present.

    Returns:
        True when a JPEG ends with its end-of-image marker, a PNG with its ``IEND`` chunk, or a BMP is
        at least as long as its header says; False when that end is missing (probably still being
        written); None for formats without a cheap check.

    Raises:
        OSError: The file cannot be read.
    """
    suffix = path.suffix.lower()
    if suffix not in _JPEG and suffix not in (".png", ".bmp"):
        return None
    with path.open("rb") as fh:
        if suffix == ".bmp":
            header = fh.read(6)
            if len(header) < 6 or header[:2] != b"BM":
                return False
            declared = int.from_bytes(header[2:6], "little")
            return declared == 0 or os.fstat(fh.fileno()).st_size >= declared
        size = os.fstat(fh.fileno()).st_size
        fh.seek(max(0, size - 64))
        tail = fh.read()
    if suffix == ".png":
        return _PNG_END in tail
    return tail.rstrip(b"\x00").endswith(b"\xff\xd9")


@dataclass
class _Pending:
    """A file seen but not delivered yet."""

    signature: Signature
    changed_at: float
    """monotonic() when its signature last changed (or when it was first seen)."""
    failed: Signature | None = None
    """Signature at the last failed read: it is retried only when the file changes (or times out)."""


class HotFolderSource(Source):
    """Watches a folder and delivers each new image file once, when it is completely written.

    Args:
        path: The folder to watch; it must exist when the source is opened.
        include_existing: Also deliver the images already in the folder (oldest first).
        recursive: Watch sub-folders too.
        poll_interval: Seconds between two looks at the folder.
        settle_time: Seconds a file's size and modification time must stay unchanged before it is read.
        incomplete_timeout: Seconds a file that cannot be read must stay unchanged before it is reported
            as unreadable (until then it is treated as still being written).
        reprocess_modified: Deliver a file again when it is replaced by a new version under the same name
            (for cameras that always write ``latest.jpg``).
        source_id: Name stored with every frame (default ``hot:<absolute path>``).
        buffer_size: Images decoded ahead of the consumer.
        on_state: State-change callback.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        include_existing: bool = False,
        recursive: bool = False,
        poll_interval: float = 0.2,
        settle_time: float = 0.3,
        incomplete_timeout: float = 10.0,
        reprocess_modified: bool = False,
        source_id: str | None = None,
        buffer_size: int = 4,
        on_state: StateCallback | None = None,
        limits: ReadLimits | None = None,
    ) -> None:
        self.folder = Path(path).expanduser()
        super().__init__(
            source_id or f"hot:{self.folder.absolute()}", live=False, buffer_size=buffer_size, on_state=on_state
        )
        self.include_existing = include_existing
        self.recursive = recursive
        self.poll_interval = poll_interval
        self.settle_time = settle_time
        self.incomplete_timeout = incomplete_timeout
        self.reprocess_modified = reprocess_modified
        self.limits = limits or ReadLimits()
        self._pending: dict[Path, _Pending] = {}
        self._done: dict[Path, Signature] = {}
        self._gave_up: dict[Path, Signature] = {}  # reported unreadable: retried if the file changes again
        self._rejected: dict[Path, str] = {}  # special files, loops, unsupported formats: reported once
        self._scans = 0
        self._rejected_reported: set[Path] = set()

    @property
    def scans(self) -> int:
        """How many times the folder was looked at (for status displays and tests)."""
        return self._scans

    @property
    def pending(self) -> int:
        """Files seen but not yet complete."""
        return len(self._pending)

    # ----------------------------------------------------------------- worker

    def _setup(self) -> None:
        if not self.folder.exists():
            raise SourceError(
                f"The hot folder {self.folder} does not exist. Create it, or check that the disk or share is connected."
            )
        if not self.folder.is_dir():
            raise SourceError(f"{self.folder} is a file, not a folder to watch.")
        try:
            listing = self._scan()
        except OSError as exc:
            raise SourceError(f"The hot folder {self.folder} cannot be read ({exc.strerror or exc}).") from exc
        now = time.monotonic()
        for path, signature in listing.items():
            if self.include_existing:
                self._pending[path] = _Pending(signature, now)
            else:
                self._done[path] = signature
        if not self.include_existing:
            self._rejected_reported = set(self._rejected)  # there before watching began: not this run's

    def _run_loop(self) -> None:
        while not self._stop_event.is_set():
            self._poll()
            self._scans += 1
            if self._wait(self.poll_interval):
                return

    def _finished_message(self) -> str:
        return f"Stopped watching {self.folder}"

    # ----------------------------------------------------------------- polling

    def _scan(self, unreadable: list[Path] | None = None) -> dict[Path, Signature]:
        """Image files under the folder with their signatures. Raises OSError when the folder is gone.

        Args:
            unreadable: Collects sub-folders that could not be listed this time.
        """
        found: dict[Path, Signature] = {}
        top = os.stat(self.folder)
        visited = {(top.st_dev, top.st_ino)}
        self._scan_into(self.folder, found, unreadable if unreadable is not None else [], True, visited)
        return found

    def _scan_into(
        self,
        folder: Path,
        found: dict[Path, Signature],
        unreadable: list[Path],
        top: bool,
        visited: set[tuple[int, int]],
    ) -> None:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            if top:
                raise
            unreadable.append(folder)  # a sub-folder removed or unreachable while listing
            return
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            try:
                is_dir = entry.is_dir()
            except OSError:  # a link loop raises ELOOP here: it is classified below
                is_dir = False
            try:
                if is_dir:
                    if self.recursive:
                        st = os.stat(path)
                        if (st.st_dev, st.st_ino) in visited:
                            continue  # a folder link back into the tree: never followed twice
                        visited.add((st.st_dev, st.st_ino))
                        self._scan_into(path, found, unreadable, False, visited)
                elif wants_entry(entry.name) or entry.is_symlink():
                    done = self._done.get(path)
                    if done is not None and not self.reprocess_modified and path not in self._gave_up:
                        found[path] = done  # delivered already: no need to stat it again
                        continue
                    reason = skip_reason(path)
                    if reason is not None:
                        if wants_entry(entry.name) or "loop" in reason:
                            self._rejected.setdefault(path, reason)
                        continue
                    st = os.stat(path)
                    found[path] = (st.st_size, st.st_mtime_ns)
            except OSError:
                continue  # removed between listing and stat

    def _poll(self) -> None:
        unreadable: list[Path] = []
        try:
            listing = self._scan(unreadable)
            if not self.folder.is_dir():
                raise FileNotFoundError(self.folder)
        except OSError as exc:
            if self._state is not SourceState.LOST:
                reason = exc.strerror or "it is gone"
                self._set_state(
                    SourceState.LOST,
                    f"The hot folder {self.folder} cannot be reached ({reason}): "
                    f"disk removed or share unmounted? Waiting for it to come back.",
                )
            self._pending.clear()  # half-seen files are looked at afresh when it is back
            return
        if self._state is SourceState.LOST:
            self._set_state(SourceState.RUNNING, f"The hot folder {self.folder} is back; watching again.")

        for path, reason in list(self._rejected.items()):
            if path in self._rejected_reported:
                continue
            self._rejected_reported.add(path)
            self._emit(None, path=path, error=reason)  # recorded as skipped; never opened
        for path in [p for p in self._rejected if not os.path.lexists(p)]:
            del self._rejected[path]
            self._rejected_reported.discard(path)

        now = time.monotonic()
        for path in [p for p in self._done if p not in listing and not _under(p, unreadable)]:
            del self._done[path]  # deleted or moved away: a new file of that name later is a new image
            self._gave_up.pop(path, None)
        for path in [p for p in self._pending if p not in listing]:
            del self._pending[path]  # a temporary file, or removed before it was complete
        for path, signature in listing.items():
            done = self._done.get(path)
            if done is not None:
                retry = path in self._gave_up and self._gave_up[path] != signature  # a stalled copy resumed
                if done == signature or not (self.reprocess_modified or retry):
                    continue
                del self._done[path]
                self._gave_up.pop(path, None)
            entry = self._pending.get(path)
            if entry is None:
                self._pending[path] = _Pending(signature, now)
            elif entry.signature != signature:
                entry.signature = signature
                entry.changed_at = now

        ready = [(path, entry) for path, entry in self._pending.items() if self._is_ready(entry, now)]
        ready.sort(key=lambda item: (item[1].signature[1], natural_key(item[0])))
        for path, entry in ready:
            if self._stop_event.is_set():
                return
            self._try_read(path, entry, now)

    def _is_ready(self, entry: _Pending, now: float) -> bool:
        quiet = now - entry.changed_at
        if quiet < self.settle_time:
            return False
        if quiet >= self.incomplete_timeout:
            return True  # last chance: read it, or report it
        return entry.signature[0] > 0 and entry.failed != entry.signature

    def _try_read(self, path: Path, entry: _Pending, now: float) -> None:
        stale = now - entry.changed_at >= self.incomplete_timeout
        read: ReadImage | None = None
        error: str | None = None
        try:
            read = read_image_file(path, self.limits)  # read once: hashed, checked and decoded together
            if looks_complete_bytes(read.data, path.suffix) is False and not stale:
                entry.failed = entry.signature  # its end is not written yet: wait for it to change
                return
        except (ImageLoadError, OSError) as exc:
            if not path.exists():
                self._pending.pop(path, None)  # removed meanwhile (a temporary file?)
                return
            if not stale:
                entry.failed = entry.signature
                return
            error = str(exc) if isinstance(exc, ImageLoadError) else f"Cannot load image {path}: {exc}."
            error += (
                f" (It stayed unchanged for {self.incomplete_timeout:g} s; if it is still being copied, it is "
                "read again once it changes.)"
            )
            self._gave_up[path] = entry.signature
        self._pending.pop(path, None)
        self._done[path] = entry.signature
        self._emit(None, path=path, error=error, read=read)


def _under(path: Path, folders: list[Path]) -> bool:
    """True when ``path`` lies in one of ``folders``."""
    return any(folder in path.parents for folder in folders)
