"""Still images from disk: a list of files, or a folder scanned once.

Every file is delivered, in order, and nothing is skipped silently: the source waits while inference
is busy, and a file that cannot be read comes out as an error frame (``image=None``, ``error`` set)
that the pipeline records. If the folder disappears mid-run (a USB disk pulled, a share unmounted)
the source waits ``missing_grace`` seconds for it to come back, then reports every file not yet read
as skipped, with the reason, and finishes normally.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from inspector.core.images import ImageLoadError
from inspector.sources.base import Source, SourceError, SourceState, StateCallback
from inspector.sources.entries import ReadImage, ReadLimits, SkippedEntry, read_image_file, scan_entries

__all__ = ["FolderSource", "ImageListSource", "natural_key", "scan_folder", "scan_images"]

_DIGITS = re.compile(r"(\d+)")


def natural_key(path: Path | str) -> tuple[tuple[int, int | str], ...]:
    """Sort key that orders ``part2.png`` before ``part10.png`` (case-insensitive otherwise)."""
    parts = _DIGITS.split(str(path).replace(os.sep, "/").lower())
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in parts if p)


def scan_images(folder: Path, *, recursive: bool = False) -> list[Path]:
    """The image files in ``folder`` (hidden files and other suffixes left out), in natural order.

    Raises:
        SourceError: The folder does not exist, is not a folder or cannot be listed.
    """
    return scan_folder(folder, recursive=recursive)[0]


def scan_folder(folder: Path, *, recursive: bool = False) -> tuple[list[Path], list[SkippedEntry]]:
    """:func:`scan_images`, plus the entries that are skipped with their reasons (special files,
    link loops, unreadable sub-folders, unsupported formats), both in natural order.

    Raises:
        SourceError: The folder does not exist, is not a folder or cannot be listed.
    """
    if not folder.exists():
        raise SourceError(
            f"The folder {folder} does not exist. Check the path, or that the disk or share is connected."
        )
    if not folder.is_dir():
        raise SourceError(f"{folder} is a file, not a folder.")
    try:
        found, skipped = scan_entries(folder, recursive)
    except OSError as exc:
        raise SourceError(f"The folder {folder} cannot be read ({exc.strerror or exc}).") from exc
    found.sort(key=lambda p: natural_key(p.relative_to(folder)))
    skipped.sort(key=lambda s: natural_key(s.path.relative_to(folder)))
    return found, skipped


class ImageListSource(Source):
    """Given image files, delivered in the order given; never live, never drops.

    Args:
        paths: The image files.
        source_id: Name stored with every frame (default ``images:<first file>``).
        buffer_size: Images decoded ahead of the consumer.
        missing_grace: Seconds to wait for a vanished folder to come back before skipping its files.
        on_state: State-change callback (see :class:`~inspector.sources.base.Source`).
    """

    def __init__(
        self,
        paths: Iterable[str | os.PathLike[str]],
        *,
        source_id: str | None = None,
        buffer_size: int = 4,
        missing_grace: float = 5.0,
        on_state: StateCallback | None = None,
        limits: ReadLimits | None = None,
    ) -> None:
        self._paths: list[Path] = [Path(p) for p in paths]
        self.limits = limits or ReadLimits()
        self._rejected: dict[Path, str] = {}  # entries skipped without reading, with the reason
        if source_id is None:
            source_id = f"images:{self._paths[0]}" if self._paths else "images:"
        super().__init__(source_id, live=False, buffer_size=buffer_size, on_state=on_state)
        self.missing_grace = missing_grace
        self._lost_folder: Path | None = None

    @property
    def paths(self) -> Sequence[Path]:
        """The files this source delivers, in order (known after :meth:`open`)."""
        return tuple(self._paths)

    @property
    def total(self) -> int:
        """How many frames this source delivers (for a progress bar; known after :meth:`open`)."""
        return len(self._paths)

    def _setup(self) -> None:
        pass

    def _run_loop(self) -> None:
        for index, path in enumerate(self._paths):
            if self._stop_event.is_set():
                return
            if path in self._rejected:
                if not self._emit(None, path=path, error=self._rejected[path], index=index):
                    return
                continue
            error: str | None = None
            read: ReadImage | None = None
            try:
                read = read_image_file(path, self.limits)
            except (ImageLoadError, OSError) as exc:
                error = _message(path, exc)
                folder = self._folder_of(path)
                if not path.exists() and self._folder_vanishing(folder):
                    if not self._wait_for_folder(folder):
                        self._skip_rest(index, folder)
                        return
                    read, error = self._retry(path)
            if not self._emit(None, path=path, error=error, index=index, read=read):
                return

    def _folder_vanishing(self, folder: Path, settle: float = 0.5) -> bool:
        """After a file went missing: is its whole folder gone (or going)?

        Removing a folder deletes its files one by one before the folder itself, so a file can vanish
        while the folder still exists for a moment: watch it for ``settle`` seconds before deciding
        that only this one file is missing.
        """
        deadline = time.monotonic() + settle
        while folder.is_dir():
            if time.monotonic() >= deadline or self._wait(0.05):
                return False
        return True

    def _folder_of(self, path: Path) -> Path:
        """The folder whose disappearance would explain ``path`` missing."""
        return path.parent

    def _retry(self, path: Path) -> tuple[ReadImage | None, str | None]:
        """Read a file again once its folder is back."""
        if not path.exists():
            return None, f"Cannot load image {path}: the file was gone when its folder came back."
        try:
            return read_image_file(path, self.limits), None
        except (ImageLoadError, OSError) as exc:
            return None, _message(path, exc)

    def _wait_for_folder(self, folder: Path) -> bool:
        """After a file's folder was found missing: True when it came back within ``missing_grace``."""
        self._set_state(
            SourceState.LOST,
            f"The folder {folder} has disappeared (disk removed or share "
            f"unmounted?). Waiting {self.missing_grace:g} s for it to come back.",
        )
        deadline = time.monotonic() + self.missing_grace
        while time.monotonic() < deadline:
            if self._wait(min(0.1, self.missing_grace)):
                return False
            if folder.is_dir():
                self._set_state(SourceState.RUNNING, f"The folder {folder} is back.")
                return True
        return False

    def _skip_rest(self, start: int, folder: Path) -> None:
        """Report the files from ``start`` on as skipped because their folder is gone."""
        if self._stop_event.is_set():
            return
        self._lost_folder = folder
        rest = self._paths[start:]
        reason = (
            f"Not inspected: the folder {folder} disappeared during the run (disk removed or share "
            f"unmounted?); {len(rest)} image(s) of this run could not be read."
        )
        for index, path in enumerate(rest, start):
            if not self._emit(None, path=path, error=reason, index=index):
                return

    def _finished_message(self) -> str:
        skipped = len(self.skipped)
        folder = self._lost_folder
        text = f"Finished: {self.total - skipped} of {self.total} image(s) read"
        if folder is not None:
            return f"{text}; the folder {folder} disappeared, {skipped} image(s) skipped"
        return f"{text}, {skipped} could not be read" if skipped else text


def _message(path: Path, exc: BaseException) -> str:
    if isinstance(exc, ImageLoadError):
        return str(exc)
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return f"Cannot load image {path}: {reason}."


class FolderSource(ImageListSource):
    """Every image in a folder, scanned once when opened, in natural file-name order.

    Files with other suffixes and hidden files are ignored; files that cannot be read come out as
    error frames. Never live: it waits for the consumer and skips nothing.

    Args:
        path: The folder.
        recursive: Include sub-folders.
        source_id: Name stored with every frame (default ``folder:<absolute path>``).
        buffer_size: Images decoded ahead of the consumer.
        missing_grace: Seconds to wait for the folder to come back if it disappears mid-run.
        on_state: State-change callback.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        recursive: bool = False,
        source_id: str | None = None,
        buffer_size: int = 4,
        missing_grace: float = 5.0,
        on_state: StateCallback | None = None,
        limits: ReadLimits | None = None,
    ) -> None:
        self.folder = Path(path).expanduser().absolute()
        self.recursive = recursive
        super().__init__(
            (),
            source_id=source_id or f"folder:{self.folder}",
            buffer_size=buffer_size,
            missing_grace=missing_grace,
            on_state=on_state,
            limits=limits,
        )

    def _setup(self) -> None:
        images, skipped = scan_folder(self.folder, recursive=self.recursive)
        self._rejected = {s.path: s.reason for s in skipped}
        self._paths = sorted([*images, *self._rejected], key=lambda p: natural_key(p.relative_to(self.folder)))

    def _folder_of(self, path: Path) -> Path:
        # The scanned folder itself may be what vanished, not just the file's sub-folder.
        return path.parent if self.folder.is_dir() else self.folder
