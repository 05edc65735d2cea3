"""Image sources behind one interface: folders (scanned or watched), cameras, video files, streams.

Example::

    from inspector.sources import open_source

    with open_source("hot:/data/line3", on_state=print) as source:
        for frame in source.frames():          # until source.stop() from another thread
            if frame.ok:
                score(frame.image)              # RGB uint8 (H, W, 3)
            else:
                record_skip(frame.path, frame.error)
"""

from inspector.sources.base import (
    Frame,
    FrameBuffer,
    FrameCallback,
    SkipRecord,
    Source,
    SourceError,
    SourceEvent,
    SourceState,
    SourceStats,
    StateCallback,
)
from inspector.sources.factory import SourceKind, SourceSpec, make_source, open_source, parse_source_spec
from inspector.sources.folder import FolderSource, ImageListSource, scan_images
from inspector.sources.hotfolder import HotFolderSource
from inspector.sources.video import VIDEO_SUFFIXES, Capture, CaptureFactory, VideoSource

__all__ = [
    "VIDEO_SUFFIXES",
    "Capture",
    "CaptureFactory",
    "FolderSource",
    "Frame",
    "FrameBuffer",
    "FrameCallback",
    "HotFolderSource",
    "ImageListSource",
    "SkipRecord",
    "Source",
    "SourceError",
    "SourceEvent",
    "SourceKind",
    "SourceSpec",
    "SourceState",
    "SourceStats",
    "StateCallback",
    "VideoSource",
    "make_source",
    "open_source",
    "parse_source_spec",
    "scan_images",
]
