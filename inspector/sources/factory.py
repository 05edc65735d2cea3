"""One entry point from what an operator types (or the CLI gets) to a :class:`Source`.

Accepted specs:

======================================  ================================================
``D:/lots/42``  ``folder:PATH``          a folder, scanned once (``watch=True``: a hot folder)
``hot:PATH``  ``watch:PATH``             a hot folder, watched for new images
``part.png``                            one image file
``0``  ``camera:1``  ``/dev/video0``     a camera
``line.mp4``  ``video:PATH``             a video file
``rtsp://...``  ``http://...``           a network stream (also rtsps, rtmp, https, udp, tcp, srt)
``file:///data/lot42``                  a local path written as a URL
======================================  ================================================
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from inspector.core.images import IMAGE_SUFFIXES, is_image_file
from inspector.sources.base import Source, SourceError, StateCallback
from inspector.sources.entries import ReadLimits
from inspector.sources.folder import FolderSource, ImageListSource
from inspector.sources.hotfolder import HotFolderSource
from inspector.sources.video import STREAM_SCHEMES, VIDEO_SUFFIXES, CaptureFactory, VideoSource, redact_url

__all__ = ["SourceKind", "SourceSpec", "make_source", "open_source", "parse_source_spec"]

_HINT = (
    "Give a folder, an image or video file, a camera number (0, 1, ...) or a stream address (rtsp://... or http://...)."
)


class SourceKind(enum.StrEnum):
    """What a source spec names."""

    FOLDER = "folder"
    HOT_FOLDER = "hot"
    IMAGE = "image"
    CAMERA = "camera"
    VIDEO_FILE = "video"
    STREAM = "stream"

    @property
    def is_live(self) -> bool:
        """True for kinds read live by default (newest frames kept)."""
        return self in (SourceKind.CAMERA, SourceKind.STREAM)


@dataclass(frozen=True)
class SourceSpec:
    """A parsed source spec.

    Attributes:
        kind: What it names.
        target: Camera index (int), camera device or stream URL (str), or a path.
    """

    kind: SourceKind
    target: int | str | Path

    def describe(self) -> str:
        """For the operator; stream passwords are hidden."""
        target = redact_url(self.target) if isinstance(self.target, str) else self.target
        return f"{self.kind.value} {target}"


def parse_source_spec(spec: str | int | os.PathLike[str], *, watch: bool = False) -> SourceSpec:
    """Work out what ``spec`` names (see the module doc). Plain paths are looked up on disk.

    Args:
        spec: What the operator gave.
        watch: A folder is a hot folder (watched for new images) rather than scanned once.

    Raises:
        SourceError: The spec names nothing the station can read, with a hint of what it accepts.
    """
    if isinstance(spec, bool):
        raise SourceError(f"{spec!r} is not a source. {_HINT}")
    if isinstance(spec, int):
        return _camera(spec)
    if isinstance(spec, os.PathLike):
        return _path_spec(Path(os.fspath(spec)), watch)
    text = spec.strip()
    if not text:
        raise SourceError(f"No source given. {_HINT}")
    prefix, sep, rest = text.partition(":")
    key = prefix.lower()
    if sep and key in ("hot", "watch") and rest:
        return SourceSpec(SourceKind.HOT_FOLDER, Path(rest).expanduser())
    if sep and key == "folder" and rest:
        return SourceSpec(SourceKind.HOT_FOLDER if watch else SourceKind.FOLDER, Path(rest).expanduser())
    if sep and key in ("camera", "cam") and rest:
        return _camera(rest.strip())
    if sep and key == "video" and rest:
        return SourceSpec(SourceKind.VIDEO_FILE, Path(rest).expanduser())
    if text.isdigit():
        return _camera(int(text))
    if text.startswith("/dev/video"):
        return _camera(text)
    if "://" in text:
        scheme = text.split("://", 1)[0].lower()
        if scheme in STREAM_SCHEMES:
            return SourceSpec(SourceKind.STREAM, text)
        if scheme == "file":
            return _path_spec(Path(unquote(urlsplit(text).path)), watch)
        raise SourceError(
            f"Unsupported address {redact_url(text)}: the station reads "
            f"{', '.join(s + '://' for s in STREAM_SCHEMES)} streams. {_HINT}"
        )
    return _path_spec(Path(text).expanduser(), watch)


def _camera(value: int | str) -> SourceSpec:
    if isinstance(value, str):
        if value.isdigit():
            value = int(value)
        elif not value.startswith("/dev/"):
            raise SourceError(f"Camera {value!r} is not a camera number (0, 1, ...) or a device such as /dev/video0.")
    if isinstance(value, int) and value < 0:
        raise SourceError(f"Camera numbers start at 0, not {value}.")
    return SourceSpec(SourceKind.CAMERA, value)


def _path_spec(path: Path, watch: bool) -> SourceSpec:
    if path.is_dir():
        return SourceSpec(SourceKind.HOT_FOLDER if watch else SourceKind.FOLDER, path)
    if watch:
        if path.exists():
            raise SourceError(f"{path} is a file; only a folder can be watched.")
        raise SourceError(f"The folder {path} does not exist, so it cannot be watched.")
    suffix = path.suffix.lower()
    if path.is_file() or path.exists():
        if suffix in VIDEO_SUFFIXES:
            return SourceSpec(SourceKind.VIDEO_FILE, path)
        if is_image_file(path):
            return SourceSpec(SourceKind.IMAGE, path)
        kinds = ", ".join(s.lstrip(".") for s in IMAGE_SUFFIXES + VIDEO_SUFFIXES)
        raise SourceError(f"{path} is neither an image nor a video the station reads ({kinds}).")
    raise SourceError(f"Nothing found at {path}. {_HINT}")


def make_source(
    spec: str | int | os.PathLike[str] | SourceSpec,
    *,
    watch: bool = False,
    include_existing: bool = False,
    recursive: bool = False,
    live: bool | None = None,
    source_id: str | None = None,
    on_state: StateCallback | None = None,
    capture_factory: CaptureFactory | None = None,
    limits: ReadLimits | None = None,
    sample_fps: float | None = None,
) -> Source:
    """Build (without opening) the source a spec names.

    Args:
        spec: See :func:`parse_source_spec`, or an already parsed :class:`SourceSpec`.
        watch: Treat a folder as a hot folder.
        include_existing: Hot folder: also deliver the images already there.
        recursive: Folders: include sub-folders.
        live: Cameras, streams and video files: override the default (live for cameras and streams).
            Folder sources are never live and ignore it.
        source_id: Override the source's default name.
        on_state: State-change callback.
        capture_factory: Cameras, streams and video files: replaces ``cv2.VideoCapture`` (tests).
        limits: Image files: the largest file (bytes) and image (pixels) read.
        sample_fps: Cameras, streams and video files: score at most this many frames per second.

    Raises:
        SourceError: The spec names nothing the station can read.
    """
    parsed = spec if isinstance(spec, SourceSpec) else parse_source_spec(spec, watch=watch)
    target = parsed.target
    if parsed.kind is SourceKind.FOLDER:
        return FolderSource(Path(target), recursive=recursive, source_id=source_id, on_state=on_state, limits=limits)
    if parsed.kind is SourceKind.HOT_FOLDER:
        return HotFolderSource(
            Path(target),
            include_existing=include_existing,
            recursive=recursive,
            source_id=source_id,
            on_state=on_state,
            limits=limits,
        )
    if parsed.kind is SourceKind.IMAGE:
        return ImageListSource([Path(target)], source_id=source_id, on_state=on_state, limits=limits)
    uri: int | str = target if isinstance(target, int) else str(target)
    return VideoSource(
        uri,
        live=live,
        capture_factory=capture_factory,
        source_id=source_id,
        on_state=on_state,
        sample_fps=sample_fps,
    )


def open_source(
    spec: str | int | os.PathLike[str] | SourceSpec,
    *,
    watch: bool = False,
    include_existing: bool = False,
    recursive: bool = False,
    live: bool | None = None,
    source_id: str | None = None,
    on_state: StateCallback | None = None,
    capture_factory: CaptureFactory | None = None,
) -> Source:
    """:func:`make_source`, then :meth:`~inspector.sources.base.Source.open` it (its thread starts).

    Raises:
        SourceError: The spec names nothing readable, or the folder, file, camera or stream cannot be opened.
    """
    source = make_source(
        spec,
        watch=watch,
        include_existing=include_existing,
        recursive=recursive,
        live=live,
        source_id=source_id,
        on_state=on_state,
        capture_factory=capture_factory,
    )
    return source.open()
