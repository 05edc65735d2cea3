"""The live inspection session, off the GUI thread (no Qt in here).

Threads of a running session:

- the *inference* thread (a :class:`~inspector.ui.workers.Job`) loads the detector (torch is
  imported here, never on the GUI thread), fits the references and runs the
  :class:`~inspector.pipeline.InspectionPipeline`, which brings its own source, post-processing and
  database-writer threads;
- for cameras, streams and videos, a :class:`TappedSource` thread hands every frame to the live
  preview (camera rate) *and* to the pipeline (scoring rate, oldest frames dropped when behind);
- a *display* thread (:class:`DisplayPreparer`) turns the newest stored result into a
  :class:`~inspector.ui.heatmap_overlay.PreparedPart` (downsized image, normalised heatmap,
  outline) so the GUI thread only paints.

Everything reaches the window through a :class:`LiveFeed` that the window's screen-rate timer drains.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from inspector.core.progress import ProgressState
from inspector.core.recipe import Recipe
from inspector.core.types import DetectorInfo
from inspector.pipeline import FlaggedPart, InspectionPipeline, PartResult, PartStatus, RunSummary, fit_for_recipe
from inspector.sources import Frame, Source, SourceError, SourceEvent, make_source
from inspector.sources.entries import ReadImage
from inspector.store import InspectionStore
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

    def spec(self) -> str:
        target = self.target.strip()
        if not target:
            raise SourceError(f"Choose a {SOURCE_KINDS.get(self.kind, 'source').lower()} first.")
        if self.kind == "hot":
            return f"hot:{target}"
        if self.kind == "folder":
            return f"folder:{target}"
        if self.kind == "video":
            return f"video:{target}"
        if self.kind == "camera":
            return target if target.startswith("/dev/") else f"camera:{target}"
        return target

    @property
    def live(self) -> bool | None:
        if self.kind == "video":
            return self.play_live
        return None

    @property
    def has_preview(self) -> bool:
        return self.kind in PREVIEW_KINDS


class TappedSource(Source):
    """Wraps a source: every frame goes to ``on_frame`` (the preview, at camera rate) and then on to
    the consumer (the pipeline, at scoring rate). A live source keeps dropping its oldest frames when
    scoring falls behind, exactly as without the tap.

    :meth:`open_early` opens it before the consumer is ready: a hot folder starts watching (and a
    camera shows its picture) the moment the operator presses Start, while the model is still
    loading; a wrong folder or camera is reported before any model loads. The consumer's later
    :meth:`open` then finds it running.
    """

    def __init__(self, inner: Source, on_frame: Callable[[Frame], None] | None = None) -> None:
        super().__init__(inner.source_id, live=inner.is_live, buffer_size=2 if inner.is_live else 8)
        self.inner = inner
        self._on_frame = on_frame

    def open_early(self) -> TappedSource:
        """Open now (raises SourceError as :meth:`open` would)."""
        return self.open()

    def open(self) -> TappedSource:
        if self._opened:
            return self
        super().open()
        return self

    @property
    def total(self) -> int | None:
        return self.inner.total

    @property
    def dropped(self) -> int:
        return self._buffer.dropped + self.inner.dropped

    def _setup(self) -> None:
        self.inner.open()

    def _run_loop(self) -> None:
        for frame in self.inner.frames(poll=0.1):
            if self._stop_event.is_set():
                return
            if self._on_frame is not None:
                try:
                    self._on_frame(frame)
                except Exception:  # the preview never stops the inspection
                    log.exception("live preview failed for a frame")
            read = None
            if frame.image is not None and frame.content_hash is not None and frame.data is not None:
                read = ReadImage(frame.image, frame.data, frame.content_hash)  # read once: not hashed again
            if not self._emit(
                frame.image,
                path=frame.path,
                error=frame.error,
                index=frame.index,
                media_time_s=frame.media_time_s,  # a video frame keeps its time on the timeline
                read=read,
            ):
                return

    def _teardown(self) -> None:
        self.inner.close()

    def stop(self) -> None:
        super().stop()
        self.inner.stop()

    def _finished_message(self) -> str:
        return self.inner.message


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
        self.notes: Mailbox[tuple[str, str]] = Mailbox()  # (message, level): the golden-part check at start
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
        self.source: Source | None = None  # the running source, for its dropped-frame counter
        self.colormap = "inferno"  # the colour map parts are prepared in (the live screen's choice)

    # -- called from worker threads ----------------------------------------------------------------
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
        """Every camera frame (the tap's thread): downsized for the preview, at most ``preview_fps``."""
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


WORKER_NICENESS = 10


def lower_thread_priority(niceness: int = WORKER_NICENESS) -> None:
    """Make the calling thread (and the threads it starts later, e.g. torch's and the pipeline's) yield
    the CPU to the GUI thread. On a 2-core station inference saturates both cores; without this the
    window can stall for tens of milliseconds while the scheduler serves the workers. Linux only;
    elsewhere a no-op. Lowering a priority needs no privileges."""
    if not hasattr(os, "setpriority") or not sys.platform.startswith("linux"):
        return
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, max(os.getpriority(os.PRIO_PROCESS, tid), niceness))
    except OSError:
        log.debug("could not lower the priority of thread %s", threading.current_thread().name)


def _detector_key(recipe: Recipe, device: str, dtype: str, random_weights: bool) -> str:
    body = {
        k: v
        for k, v in recipe.to_dict().items()
        if k in ("detector", "model", "object_name", "extra_normal", "extra_anomalous", "detector_params")
    }
    return json.dumps([body, device, dtype, random_weights], sort_keys=True)


class DetectorCache:
    """Keeps the loaded detector between runs (loading a model takes seconds). Inference thread only."""

    def __init__(self, factory: Callable[..., Any] | None = None) -> None:
        self._factory = factory
        self._key: str | None = None
        self._fitted: tuple[str, ...] | None = None
        self.detector: Any = None

    def get(self, recipe: Recipe, *, device: str, dtype: str, random_weights: bool, progress: ProgressState):
        key = _detector_key(recipe, device, dtype, random_weights)
        if self.detector is None or key != self._key:
            self.detector = None
            self._fitted = None
            progress.report(0, 0, f"Loading model {recipe.model_id} …")
            factory = self._factory
            if factory is None:
                from inspector.detectors.factory import detector_for_recipe as factory  # torch loads here
            self.detector = factory(recipe, device=device, dtype=dtype, random_weights=random_weights)
            self._key = key
        if self.detector.needs_references and self._fitted != recipe.references:
            progress.report(0, 0, f"Learning {len(recipe.references)} good reference image(s) …")
            self._fitted = None
            fit_for_recipe(self.detector, recipe)
            self._fitted = recipe.references
        return self.detector


@dataclass
class SessionConfig:
    recipe: Recipe
    source: SourceChoice
    store: InspectionStore
    operator: str
    device: str = "auto"
    dtype: str = "auto"
    random_weights: bool = False
    batch_size: int = 4
    keep_images: str = "flagged"
    lot: str | None = None
    caption_hook: Callable[[FlaggedPart], None] | None = None


def run_session(config: SessionConfig, feed: LiveFeed, cache: DetectorCache, progress: ProgressState) -> RunSummary:
    """One live run (the inference thread's whole job): source, model, references, pipeline.

    The source opens first: a wrong folder or camera is reported at once, a hot folder watches (and
    a camera previews) from the moment Start was pressed, while the model loads.
    """
    lower_thread_priority()  # inherited by every thread started from here: source, pipeline, torch
    inner = make_source(config.source.spec(), include_existing=False, live=config.source.live, on_state=feed.on_state)
    source = TappedSource(inner, feed.on_frame if config.source.has_preview else None)
    source.open_early()
    try:
        detector = cache.get(
            config.recipe,
            device=config.device,
            dtype=config.dtype,
            random_weights=config.random_weights,
            progress=progress,
        )
        feed.detector.put(detector.info)
        progress.check()
    except BaseException:
        source.close()
        raise
    feed.source = source
    progress.report(0, source.total or 0, "Running")
    # a caption scheduler goes to the pipeline itself (scoring inside its gate, captions pending in the store)
    scheduler = getattr(config.caption_hook, "scheduler", None)
    pipeline = InspectionPipeline(
        config.recipe,
        detector,
        config.store,
        source,
        batch_size=config.batch_size,
        operator=config.operator,
        keep_images=config.keep_images,
        on_result=feed.on_result,
        on_flagged=None if scheduler else config.caption_hook,
        progress=progress,
        with_pixels=True,
        lot=config.lot,
        captions=scheduler,
        on_golden=lambda o: o.check and feed.notes.put((o.message, "info" if o.passed else "warning")),
    )
    return pipeline.run()
