"""The live screen's side of a station session, off the GUI thread (no Qt in here).

Threads of a running session:

- the *inference* thread (a :class:`~inspector.ui.workers.Job`) runs
  :meth:`~inspector.pipeline.StationSession.run`: the source opens first (a hot folder watches, a
  camera previews from the moment Start was pressed), then the detector loads (torch is imported
  here, never on the GUI thread) and the pipeline runs with its source, post-processing and
  database-writer threads;
- cameras, streams and videos hand every frame to the preview through the source's ``on_frame``
  (camera rate), while scoring takes them at its own rate (oldest frames dropped when behind);
- a *display* thread (:class:`DisplayPreparer`) turns the newest stored result into a
  :class:`~inspector.ui.heatmap_overlay.PreparedPart` (downsized image, normalised heatmap,
  outline) so the GUI thread only paints.

Everything reaches the live screen through a :class:`LiveFeed` (subscribed to the session) that the
screen-rate timer drains.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inspector.core.progress import ProgressState
from inspector.core.threads import lower_thread_priority
from inspector.core.types import DetectorInfo
from inspector.pipeline import (
    DetectorReady,
    Notification,
    PartNotStored,
    PartResult,
    PartStatus,
    PartStored,
    RunRequest,
    RunSummary,
    SourceStateChanged,
    StationSession,
)
from inspector.sources import Frame, SourceError, SourceEvent, SourceKind, SourceSpec
from inspector.ui.heatmap_overlay import PreparedPart, downsize, prepare_part
from inspector.ui.workers import LatestSlot, Mailbox

log = logging.getLogger(__name__)

SOURCE_KINDS = {
    "folder": "Folder",
    "hot": "Hot folder (new images)",
    "video": "Video file",
    "camera": "Camera",
    "stream": "Network stream",
}
PREVIEW_KINDS = ("video", "camera", "stream")


@dataclass(frozen=True)
class SourceChoice:
    """What the operator picked in the live screen."""

    kind: str  # a key of SOURCE_KINDS
    target: str  # folder, file, camera number / device, or stream URL
    play_live: bool = True  # video file: play at its own frame rate, like a camera

    def spec(self) -> SourceSpec:
        """The source it names (built here, never parsed from text)."""
        target = self.target.strip()
        if not target:
            raise SourceError(f"Choose a {SOURCE_KINDS.get(self.kind, 'source').lower()} first.")
        if self.kind == "hot":
            return SourceSpec(SourceKind.HOT_FOLDER, Path(target).expanduser())
        if self.kind == "folder":
            return SourceSpec(SourceKind.FOLDER, Path(target).expanduser())
        if self.kind == "video":
            return SourceSpec(SourceKind.VIDEO_FILE, Path(target).expanduser())
        if self.kind == "camera":
            if target.isdigit():
                return SourceSpec(SourceKind.CAMERA, int(target))
            if target.startswith("/dev/"):
                return SourceSpec(SourceKind.CAMERA, target)
            raise SourceError(f"Camera {target!r} is not a camera number (0, 1, ...) or a device such as /dev/video0.")
        if "://" not in target:
            raise SourceError(f"{target!r} is not a stream address (rtsp://... or http://...).")
        return SourceSpec(SourceKind.STREAM, target)

    @property
    def live(self) -> bool | None:
        if self.kind == "video":
            return self.play_live
        return None

    @property
    def has_preview(self) -> bool:
        return self.kind in PREVIEW_KINDS


@dataclass(frozen=True)
class ResultPoint:
    """The light part of a result, for counters and the trend (no pixels)."""

    status: str
    index: int
    score: float | None
    verdict: str | None
    inspection_id: str | None
    path: str | None
    reason: str | None
    random_weights: bool
    at: float  # time.monotonic() when it arrived
    wrong_part: bool = False  # the part-identity check saw another part
    media_time_s: float | None = None  # video frames: the time in the video


class LiveFeed:
    """What the session hands to the window; written by worker threads, drained by the GUI timer.

    Which stored part is painted: the newest one, except that a failed or uncertain part stays on
    screen for at least ``flagged_hold_s`` (batches of parts are stored together, so without the hold a
    flagged part in the middle of a batch would never be seen); a newer flagged part replaces it at once.
    """

    def __init__(
        self,
        *,
        part_max_side: int = 1280,
        preview_max_side: int = 960,
        preview_fps: float = 60.0,
        flagged_hold_s: float = 1.0,
    ) -> None:
        self.points: Mailbox[ResultPoint] = Mailbox()
        self.states: Mailbox[SourceEvent] = Mailbox()
        self.notes: Mailbox[tuple[str, str]] = Mailbox()  # (message, level): golden-part and INT8 checks at start
        self.part: LatestSlot[PreparedPart] = LatestSlot()
        self.frame: LatestSlot[np.ndarray] = LatestSlot()
        self.detector: LatestSlot[DetectorInfo] = LatestSlot()
        self.flagged_hold_s = flagged_hold_s
        self._lock = threading.Lock()
        self._seq = 0
        self._shown_seq = 0
        self._hold_until = 0.0
        self._latest_pass: tuple[int, PartResult] | None = None
        self._latest_flagged: tuple[int, PartResult] | None = None
        self.part_max_side = part_max_side
        self.preview_max_side = preview_max_side
        self._min_frame_gap = 1.0 / preview_fps
        self._last_frame = 0.0
        self.frames_seen = 0
        self._wake = threading.Event()
        self.band: tuple[float, float] | None = None
        self.colormap = "inferno"  # the colour map parts are prepared in (the live screen's choice)

    # -- called from worker threads ----------------------------------------------------------------
    def on_note(self, note: Notification) -> None:
        """The session's notifications (its subscriber for a run): parts, source states, the detector."""
        if isinstance(note, PartStored | PartNotStored):
            self.on_result(note.result)
        elif isinstance(note, SourceStateChanged):
            self.states.put(note.event)
        elif isinstance(note, DetectorReady):
            if note.notice:  # e.g. the INT8 check's outcome: shown in the live message area
                self.notes.put((note.notice, "warning" if note.warning else "info"))
            self.detector.put(note.info)

    def on_result(self, result: PartResult) -> None:
        """The pipeline's ``on_result`` (database-writer thread): cheap, never blocks the writer."""
        self.points.put(
            ResultPoint(
                result.status.value,
                result.index,
                result.score,
                result.verdict.value if result.verdict else None,
                result.inspection_id,
                result.path,
                result.reason,
                result.random_weights,
                time.monotonic(),
                bool(result.wrong_part),
                result.media_time_s,
            )
        )
        if result.status is PartStatus.STORED and result.image is not None:
            with self._lock:
                self._seq += 1
                if result.verdict is not None and result.verdict.value != "pass":
                    self._latest_flagged = (self._seq, result)
                else:
                    self._latest_pass = (self._seq, result)
            self._wake.set()

    def next_for_display(self, now: float) -> tuple[PartResult | None, float]:
        """The result to prepare next (or None), and how long to wait before asking again."""
        with self._lock:
            if self._latest_flagged is not None:
                seq, result = self._latest_flagged
                self._latest_flagged = None
                if self._latest_pass is not None and self._latest_pass[0] < seq:
                    self._latest_pass = None
                self._shown_seq, self._hold_until = seq, now + self.flagged_hold_s
                return result, 0.0
            if self._latest_pass is not None:
                if now < self._hold_until:
                    return None, self._hold_until - now
                seq, result = self._latest_pass
                self._latest_pass = None
                if seq > self._shown_seq:
                    self._shown_seq = seq
                    return result, 0.0
            return None, 0.25

    def on_state(self, event: SourceEvent) -> None:
        self.states.put(event)

    def on_frame(self, frame: Frame) -> None:
        """Every camera frame (the source's thread): downsized for the preview, at most ``preview_fps``."""
        self.frames_seen += 1
        now = time.monotonic()
        if not frame.ok or now - self._last_frame < self._min_frame_gap:
            return
        self._last_frame = now
        self.frame.put(downsize(frame.image, self.preview_max_side))


class DisplayPreparer:
    """The display thread: prepares the newest stored result for painting (older ones are skipped)."""

    def __init__(self, feed: LiveFeed) -> None:
        self.feed = feed
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name="inspector-display", daemon=True)
        self._thread.start()

    def _main(self) -> None:
        lower_thread_priority()
        feed = self.feed
        wait = 0.25
        while not self._stop.is_set():
            feed._wake.wait(wait)
            feed._wake.clear()
            result, wait = feed.next_for_display(time.monotonic())
            if result is None or result.image is None:
                continue
            try:
                part = prepare_part(
                    result.image,
                    result.anomaly_map,
                    threshold=result.threshold,
                    band=feed.band,
                    max_side=feed.part_max_side,
                    colormap=feed.colormap,
                    score=result.score,
                    verdict=result.verdict.value if result.verdict else None,
                    index=result.index,
                    path=result.path,
                    inspection_id=result.inspection_id,
                    source_id=result.source_id,
                    latency_ms=result.latency_ms,
                    random_weights=result.random_weights,
                    wrong_part=bool(result.wrong_part),
                    identity_reason=result.identity_reason,
                )
            except Exception:
                log.exception("could not prepare part %s for display", result.inspection_id)
                continue
            feed.part.put(part)

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        self.feed._wake.set()
        self._thread.join(timeout)


def run_live(session: StationSession, request: RunRequest, captioner: str, progress: ProgressState) -> RunSummary:
    """One live run: the inference thread's whole job (its priority is lowered first, and with it that
    of every thread started from here: source, pipeline, torch)."""
    lower_thread_priority()
    session.set_captioner(captioner)
    return session.run(request, progress)
