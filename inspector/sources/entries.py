"""What a folder entry is, and reading one image file safely: once, bounded, never blocking.

Sources read only regular files. Before anything is opened, an entry is classified; a FIFO, a
device (a link to ``/dev/zero``), a socket, a symbolic-link loop, a broken link and an image format
the station does not read (GIF, HEIC, AVIF, ...) are each *skipped with their true reason*, and the
run carries on with the rest. A regular file is then read with ``O_NONBLOCK`` (a FIFO swapped in
meanwhile cannot block), checked again on the open handle, and read to at most
:attr:`ReadLimits.max_bytes`. The bytes read are decoded, hashed and (for flagged parts) copied:
the image that is scored is always the image whose hash, thumbnail and copy are stored, even if the
file is replaced while it is being read. The pixel count is checked from the header before decoding.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from inspector.core.images import IMAGE_SUFFIXES, ImageLoadError, decode_image

#: Image formats the station recognises but does not read: skipped and recorded, never ignored.
UNSUPPORTED_SUFFIXES: dict[str, str] = {
    ".gif": "GIF",
    ".heic": "HEIC",
    ".heif": "HEIF",
    ".avif": "AVIF",
    ".jxl": "JPEG XL",
    ".jp2": "JPEG 2000",
    ".j2k": "JPEG 2000",
    ".svg": "SVG",
    ".ico": "ICO",
    ".psd": "Photoshop",
    ".exr": "OpenEXR",
    ".dng": "camera raw (DNG)",
    ".cr2": "camera raw (CR2)",
    ".nef": "camera raw (NEF)",
    ".arw": "camera raw (ARW)",
    ".raw": "camera raw",
}


@dataclass(frozen=True)
class ReadLimits:
    """Bounds on one image file a source reads (a station setting).

    Attributes:
        max_bytes: Largest file read (default 256 MiB).
        max_pixels: Largest image decoded, width x height (default 40 megapixels: three of them
            decode in well under 1 GB; a 144 MP PNG of 170 KB is refused from its header).
    """

    max_bytes: int = 256 << 20
    max_pixels: int = 40_000_000


@dataclass(frozen=True)
class ReadImage:
    """An image file read once: the decoded pixels, the bytes they came from and their sha256."""

    image: np.ndarray
    data: bytes = field(repr=False)
    sha256: str


@dataclass(frozen=True)
class SkippedEntry:
    """A folder entry that is not inspected, with the reason (for the operator)."""

    path: Path
    reason: str


def wants_entry(name: str) -> bool:
    """True for names that are images (read) or images the station cannot read (recorded as skipped)."""
    suffix = os.path.splitext(name)[1].lower()
    return not name.startswith(".") and (suffix in IMAGE_SUFFIXES or suffix in UNSUPPORTED_SUFFIXES)


def skip_reason(path: Path) -> str | None:
    """Why ``path`` must not be read (special file, loop, broken link, unsupported format), else None."""
    try:
        st = os.stat(path)
    except OSError as exc:
        return _stat_reason(path, exc)
    kind = special_kind(st.st_mode)
    if kind is not None:
        target = f" (a link to {os.readlink(path)})" if os.path.islink(path) else ""
        return f"Not read: {path} is {kind}{target}, not an image file."
    fmt = UNSUPPORTED_SUFFIXES.get(path.suffix.lower())
    if fmt is not None:
        return f"Not read: {path} is a {fmt} image, a format the station does not read (convert it to PNG or JPEG)."
    return None


def special_kind(mode: int) -> str | None:
    """``"a FIFO (named pipe)"`` etc. for anything but a regular file or folder."""
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def _stat_reason(path: Path, exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return f"Not read: {path} is a symbolic link loop (it leads back to itself)."
    if exc.errno == errno.ENOENT and os.path.islink(path):
        return f"Not read: {path} is a broken symbolic link (it points to {os.readlink(path)}, which does not exist)."
    if exc.errno == errno.ENOENT:
        return f"Cannot load image {path}: the file does not exist."
    return f"Cannot load image {path}: {exc.strerror or exc}."


def read_image_file(path: Path, limits: ReadLimits | None = None) -> ReadImage:
    """Read, hash and decode one image file (see the module doc).

    Raises:
        ImageLoadError: The entry is not a regular image file, is too large (bytes or pixels), or
            cannot be decoded; the message gives the true reason.
    """
    limits = limits or ReadLimits()
    reason = skip_reason(path)
    if reason is not None:
        raise ImageLoadError(reason)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise ImageLoadError(_stat_reason(path, exc)) from exc
    with os.fdopen(fd, "rb") as handle:
        st = os.fstat(handle.fileno())
        kind = special_kind(st.st_mode)
        if kind is not None:  # replaced between the check and the open
            raise ImageLoadError(f"Not read: {path} is {kind}, not an image file.")
        if st.st_size == 0:
            raise ImageLoadError(f"Cannot load image {path}: the file is empty (0 bytes).")
        if st.st_size > limits.max_bytes:
            raise ImageLoadError(_too_big(path, st.st_size, limits))
        data = handle.read(limits.max_bytes + 1)
    if len(data) > limits.max_bytes:
        raise ImageLoadError(_too_big(path, len(data), limits))
    if not data:
        raise ImageLoadError(f"Cannot load image {path}: the file is empty (0 bytes).")
    image = decode_image(data, path, max_pixels=limits.max_pixels)
    return ReadImage(image, data, hashlib.sha256(data).hexdigest())


def _too_big(path: Path, size: int, limits: ReadLimits) -> str:
    return (
        f"Not read: {path} is {size / 2**20:.1f} MiB, more than the limit of {limits.max_bytes / 2**20:.0f} MiB "
        "for one image file (a station setting)."
    )


def scan_entries(folder: Path, recursive: bool) -> tuple[list[Path], list[SkippedEntry]]:
    """Image files under ``folder`` and the entries skipped with their reasons (no order).

    A sub-folder that cannot be listed, or a folder link that leads back into the tree (a loop),
    is recorded as skipped and the scan carries on; only ``folder`` itself failing raises OSError.
    """
    images: list[Path] = []
    skipped: list[SkippedEntry] = []
    top = os.stat(folder)
    _scan(folder, recursive, images, skipped, {(top.st_dev, top.st_ino)}, top=True)
    return images, skipped


def _scan(
    folder: Path,
    recursive: bool,
    images: list[Path],
    skipped: list[SkippedEntry],
    visited: set[tuple[int, int]],
    top: bool,
) -> None:
    try:
        entries = list(os.scandir(folder))
    except OSError as exc:
        if top:
            raise
        skipped.append(SkippedEntry(folder, f"Not read: the sub-folder {folder} cannot be listed ({exc.strerror})."))
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        path = Path(entry.path)
        try:
            is_dir = entry.is_dir()
        except OSError:
            is_dir = False
        if is_dir:
            if not recursive:
                continue
            try:
                st = os.stat(path)
            except OSError as exc:
                skipped.append(SkippedEntry(path, _stat_reason(path, exc)))
                continue
            key = (st.st_dev, st.st_ino)
            if key in visited:
                skipped.append(
                    SkippedEntry(path, f"Not read: {path} is a folder link that leads back into the scanned folder.")
                )
                continue
            visited.add(key)
            _scan(path, recursive, images, skipped, visited, top=False)
        elif wants_entry(entry.name):
            reason = skip_reason(path)
            if reason is None:
                images.append(path)
            else:
                skipped.append(SkippedEntry(path, reason))
        elif entry.is_symlink():  # a link loop under any name is worth telling about
            reason = skip_reason(path)
            if reason is not None and "loop" in reason:
                skipped.append(SkippedEntry(path, reason))
