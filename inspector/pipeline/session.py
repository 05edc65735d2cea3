"""The station session: one Qt-free object behind both ``inspector run`` and the window.

:func:`open_session` opens the store and starts the one database-writer thread; the session then
owns the detector cache (the model stays loaded between runs), the caption scheduler (captions after
the verdicts, never delaying scoring) and runs the :class:`~inspector.pipeline.InspectionPipeline`.
Every change it makes is published as a typed notification (:mod:`inspector.pipeline.notifications`):
part stored, caption stored, override written, recipe saved, run and source state. The window
subscribes through its one Qt bridge; the command line, MQTT publishers and forwarders subscribe
directly with :meth:`StationSession.subscribe`.

Example::

    with open_session(SessionConfig(database="station.db", captioner="blip-base")) as session:
        session.subscribe(print, PartStored)
        summary = session.run(RunRequest(recipe, parse_source_spec("/data/lot42")))
        session.wait_captions(600)
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from inspector.captioning.scheduler import CaptionOutcome, CaptionScheduler, store_callback
from inspector.core.precision import encoder_choice, model_dtype
from inspector.core.progress import ProgressState
from inspector.core.provenance import require_calibration
from inspector.core.recipe import Recipe
from inspector.detectors.base import Detector
from inspector.errors import InspectorError
from inspector.pipeline.detector_cache import DetectorCache, DetectorFactory
from inspector.pipeline.events import PartResult, PartStatus, RunSummary
from inspector.pipeline.golden import GoldenOutcome
from inspector.pipeline.int8 import held_out_good_parts
from inspector.pipeline.notifications import (
    CaptionStored,
    DetectorReady,
    Notification,
    Notifier,
    PartNotStored,
    PartStored,
    RunState,
    RunStateChanged,
    SourceStateChanged,
    Subscriber,
    Subscription,
)
from inspector.pipeline.runner import InspectionPipeline
from inspector.sources import FrameCallback, Source, SourceEvent, SourceSpec, make_source
from inspector.sources.entries import ReadLimits
from inspector.store import InspectionStore, StoreWriter, open_store

if TYPE_CHECKING:
    from inspector.detectors.acceleration import Int8Gate

log = logging.getLogger(__name__)
T = TypeVar("T")

NO_CAPTIONER = "none"

CaptionFactory = Callable[..., CaptionScheduler]
"""``factory(on_result, *, captioner, detector, device, dtype, random_weights, on_error)``, as
:func:`~inspector.captioning.create_caption_scheduler` (the default)."""


@dataclass(frozen=True)
class SessionConfig:
    """How a station session is set up.

    Attributes:
        database: The database file (None: ``<data folder>/inspector.db``, see ``INSPECTOR_DATA_DIR``).
        durability: ``normal`` or ``full`` (see :func:`~inspector.store.open_store`).
        device / dtype: Where and in which precision the models run (``auto``: measured per machine).
            ``int8``: the detector's image encoder on OpenVINO INT8, used only where it agrees with fp32
            on the recipe's held-out good parts (:mod:`inspector.pipeline.int8`); other models in fp32.
        random_weights: Build the models with random weights (tests and demos; marked on every record).
        backend: Inference backend of the detector: ``torch``, ``openvino`` or ``auto`` (see
            :func:`~inspector.detectors.factory.detector_for_recipe`).
        int8_gate: The agreement INT8 must reach on the held-out good parts (None: the default
            :class:`~inspector.detectors.acceleration.Int8Gate`, map Pearson >= 0.99, scores within 0.01).
        captioner: ``none``, ``blip-base``, ``blip2-opt-2.7b`` (see :meth:`StationSession.set_captioner`).
        detector_factory: Builds a recipe's detector (tests and benchmarks; default: the registry's).
        caption_factory: Builds the caption scheduler (default: ``create_caption_scheduler``).
        store_opener: Opens the store instead of ``database`` (e.g. the central plant database that
            the window reviews across stations: ``inspector gui --db postgresql://...``).
    """

    database: str | os.PathLike[str] | None = None
    durability: str = "normal"
    device: str = "auto"
    dtype: str = "auto"
    random_weights: bool = False
    backend: str = "torch"
    int8_gate: Int8Gate | None = None
    captioner: str = NO_CAPTIONER
    detector_factory: DetectorFactory | None = None
    caption_factory: CaptionFactory | None = None
    store_opener: Callable[[], InspectionStore] | None = None


@dataclass(frozen=True)
class RunRequest:
    """One inspection run.

    Attributes:
        recipe: The recipe to inspect with.
        source: What to read (:func:`~inspector.sources.parse_source_spec` turns text into one).
        operator / lot: Kept with the run.
        batch_size / keep_images: See :class:`~inspector.pipeline.InspectionPipeline`.
        include_existing: Hot folder: also inspect the images already there.
        recursive: Folders: include sub-folders.
        live: Video files: play at their own frame rate (dropping frames when behind), like a camera.
        with_pixels: Part notifications carry the image and anomaly map (the window paints them).
        on_frame: Every frame the source reads (a live preview), on the source's thread.
        limits: Image files: the largest file and image read (None: the sources' defaults).
        sample_fps: Cameras, streams and video files: score at most this many frames per second (None:
            the recipe's ``video_sample_fps``; 0: every frame).
        recipe_path: The recipe's file, named in messages (e.g. how to recalibrate or sign it).
        on_golden: Called with the golden-part check's outcome at the run's start (see
            :class:`~inspector.pipeline.InspectionPipeline`; a wrong verdict refuses the run instead).
    """

    recipe: Recipe
    source: SourceSpec
    operator: str | None = None
    lot: str | None = None
    batch_size: int = 8
    keep_images: str = "flagged"
    include_existing: bool = False
    recursive: bool = False
    live: bool | None = None
    with_pixels: bool = False
    on_frame: FrameCallback | None = None
    limits: ReadLimits | None = None
    sample_fps: float | None = None
    recipe_path: str | None = None
    on_golden: Callable[[GoldenOutcome], None] | None = None

    @property
    def frames_per_second(self) -> float | None:
        """The sampling rate the run uses: its own, else the recipe's (None: every frame)."""
        rate = self.sample_fps if self.sample_fps is not None else self.recipe.video_sample_fps
        return rate or None


class StationSession:
    """Store, writer thread, detector cache, caption scheduler and runs of one station.

    Thread-safe: :meth:`run` blocks its caller (a worker thread, or the command line's main thread),
    one run at a time; :meth:`write`, :meth:`subscribe` and :meth:`publish` work from any thread.
    Create it with :func:`open_session`; :meth:`close` it at the end.
    """

    def __init__(self, config: SessionConfig, store: InspectionStore) -> None:
        self.config = config
        self.store = store
        self.writer = StoreWriter(store, name="inspector-db")
        self.detectors = DetectorCache(config.detector_factory)
        self._notifier = Notifier()
        self._run_lock = threading.Lock()
        self._caption_lock = threading.Lock()
        self._captioner = config.captioner or NO_CAPTIONER
        self._captions: CaptionScheduler | None = None
        self._captions_key: tuple[str, int] | None = None
        self._closed = False
        self.source: Source | None = None
        """The source of the current (or last) run, for its counters (e.g. dropped frames)."""
        self._pipeline: InspectionPipeline | None = None
        self._progress: ProgressState | None = None
        self._terminated = False

    # -- notifications --------------------------------------------------------------------------------
    def subscribe(self, callback: Subscriber, *kinds: type[Notification]) -> Subscription:
        """``callback(note)`` for each notification of these kinds (none: all), on the publishing thread."""
        return self._notifier.subscribe(callback, *kinds)

    def publish(self, note: Notification) -> None:
        self._notifier.publish(note)

    # -- writes ---------------------------------------------------------------------------------------
    def write(
        self, fn: Callable[[InspectionStore], T], notify: Notification | Callable[[T], Notification] | None = None
    ) -> Future[T]:
        """Run ``fn(store)`` on the writer thread; once it committed, publish ``notify`` (or ``notify(result)``).

        Raises:
            StoreError: The writer has stopped (the session is closed).
        """

        def run(store: InspectionStore) -> T:
            result = fn(store)
            if notify is not None:
                self.publish(notify if isinstance(notify, Notification) else notify(result))
            return result

        return self.writer.call(run)

    # -- captions -------------------------------------------------------------------------------------
    @property
    def captioner(self) -> str:
        return self._captioner

    def set_captioner(self, name: str | None) -> None:
        """Choose the captioner for the next runs (``none``/None: no captions). A different choice closes
        the scheduler in use (its waiting parts are marked missing); the new one loads on the first part."""
        name = (name or NO_CAPTIONER).strip() or NO_CAPTIONER
        with self._caption_lock:
            if name == self._captioner:
                return
            self._captioner = name
            old, self._captions, self._captions_key = self._captions, None, None
        if old is not None:
            old.close()

    @property
    def captions(self) -> CaptionScheduler | None:
        """The caption scheduler of the current (or last) run, if captions are on."""
        return self._captions

    def wait_captions(self, timeout: float | None = None) -> bool:
        """Wait until every flagged part submitted so far has its caption outcome; False on timeout."""
        captions = self._captions
        return True if captions is None else captions.wait_idle(timeout)

    def _caption_sink(self, recipe: Recipe, detector: Detector) -> CaptionScheduler | None:
        from inspector.captioning.defect_type import clip_of_detector
        from inspector.captioning.factory import recipe_captioner

        with self._caption_lock:
            if self._captioner == NO_CAPTIONER:
                return None
            name = recipe_captioner(recipe, self._captioner)  # a recipe may select a trained captioner version
            key = (name, id(clip_of_detector(detector)))  # defect types share a WinCLIP detector's CLIP
            if self._captions is not None and self._captions_key == key:
                return self._captions
            old = self._captions
            factory: CaptionFactory
            if self.config.caption_factory is not None:
                factory = self.config.caption_factory
            else:
                from inspector.captioning.factory import create_caption_scheduler

                factory = create_caption_scheduler
            self._captions = factory(
                store_callback(self.writer, then=self._caption_stored),
                captioner=name,
                detector=detector,
                device=self.config.device,
                dtype=model_dtype(self.config.dtype),
                random_weights=self.config.random_weights,
                on_error=lambda exc: log.warning("captions: %s", exc),
            )
            self._captions_key = key
        if old is not None:
            old.close()
        return self._captions

    def _caption_stored(self, inspection_id: str, outcome: CaptionOutcome) -> None:
        self.publish(CaptionStored(inspection_id, outcome))

    # -- runs -----------------------------------------------------------------------------------------
    def set_runtime(self, *, device: str | None = None, dtype: str | None = None, backend: str | None = None) -> None:
        """Where, in which precision and on which backend the next runs score (a run going on keeps its
        own); the detector reloads at the next run when they changed. A bad choice (e.g. ``int8`` with
        ``torch``) is refused here and at the next run's start.

        Raises:
            InspectorError: The choice cannot run (see :func:`~inspector.core.precision.encoder_choice`).
        """
        from dataclasses import replace

        config = self.config
        chosen = replace(
            config,
            device=device if device is not None else config.device,
            dtype=dtype if dtype is not None else config.dtype,
            backend=backend if backend is not None else config.backend,
        )
        encoder_choice(chosen.device, chosen.dtype, chosen.backend)
        self.config = chosen

    def stop(self, *, terminated: bool = False) -> None:
        """Stop the current run as Ctrl-C does (thread- and signal-safe); ``terminated``: asked by SIGTERM.
        Everything already scored is stored; a model still loading stops the run before it scores."""
        self._terminated = self._terminated or terminated
        pipeline, progress = self._pipeline, self._progress
        if pipeline is not None:
            pipeline.stop(terminated=terminated)
        elif progress is not None:
            progress.cancel()

    @property
    def terminated(self) -> bool:
        """The last run was stopped by :meth:`stop` with ``terminated`` (SIGTERM)."""
        return self._terminated

    def run(
        self,
        request: RunRequest,
        progress: ProgressState | None = None,
        on_result: Callable[[PartResult], None] | None = None,
    ) -> RunSummary:
        """One run: open the source (a wrong folder or camera is reported before any model loads; a hot
        folder watches from now on), load and fit the detector, inspect until the source ends or cancel.

        Raises:
            SourceError: The source cannot be opened.
            InspectorError: Another run is going, or the model cannot be loaded.
            Cancelled: Cancel was asked for while the model loaded.
        """
        if not self._run_lock.acquire(blocking=False):
            raise InspectorError("A run is already going on this station; stop it first.")
        self._progress, self._terminated = progress or ProgressState(), False
        try:
            return self._run(request, self._progress, on_result)
        finally:
            self._pipeline = self._progress = None
            self._run_lock.release()

    def _run(
        self, request: RunRequest, progress: ProgressState, on_result: Callable[[PartResult], None] | None
    ) -> RunSummary:
        recipe = request.recipe
        described = request.source.describe()
        config = self.config  # the whole run uses these settings (set_runtime changes the next run's)

        def state(value: RunState, message: str = "", summary: RunSummary | None = None) -> None:
            self.publish(RunStateChanged(value, recipe.name, described, message, summary))

        state(RunState.STARTING)
        try:
            # a bad precision choice (e.g. INT8 on torch) fails before anything opens
            encoder_choice(config.device, config.dtype, config.backend)
            source = self._open_source(request)
        except BaseException as exc:
            state(RunState.FAILED, str(exc))
            raise
        self.source = source
        try:
            state(RunState.LOADING, f"Loading model {recipe.model_id}")
            detector = self.detectors.get(
                recipe,
                device=config.device,
                dtype=config.dtype,
                random_weights=config.random_weights,
                backend=config.backend,
                progress=progress,
                held_out=lambda: held_out_good_parts(recipe, self.store),
                int8_gate=config.int8_gate,
            )
            int8 = self.detectors.int8
            if int8 is None:
                self.publish(DetectorReady(detector.info))
            else:
                self.publish(DetectorReady(detector.info, int8.message, warning=not int8.accepted))
            require_calibration(recipe, detector.info, request.recipe_path)  # refused: nothing is scored
            progress.check()
            captions = self._caption_sink(recipe, detector)
        except BaseException as exc:
            source.close()
            state(RunState.FAILED, str(exc))
            raise
        progress.report(0, source.total or 0, "Running")
        state(RunState.RUNNING)

        def result(part: PartResult) -> None:
            self.publish(PartStored(part) if part.status is PartStatus.STORED else PartNotStored(part))
            if on_result is not None:
                on_result(part)

        pipeline = InspectionPipeline(
            recipe,
            detector,
            self.store,
            source,
            batch_size=request.batch_size,
            operator=request.operator,
            keep_images=request.keep_images,
            on_result=result,
            progress=progress,
            with_pixels=request.with_pixels,
            recipe_path=request.recipe_path,
            on_golden=request.on_golden,
            lot=request.lot,
            captions=captions,
            writer=self.writer,
            references=self.detectors.references(recipe),
        )
        self._pipeline = pipeline
        if self._terminated:
            pipeline.stop(terminated=True)
        try:
            summary = pipeline.run()
        except BaseException as exc:
            state(RunState.FAILED, str(exc))
            raise
        state(RunState.FINISHED, summary.error or "", summary)
        return summary

    def _open_source(self, request: RunRequest) -> Source:
        def on_state(event: SourceEvent) -> None:
            self.publish(SourceStateChanged(event))

        source = make_source(
            request.source,
            include_existing=request.include_existing,
            recursive=request.recursive,
            live=request.live,
            on_state=on_state,
            limits=request.limits,
            sample_fps=request.frames_per_second,
        )
        source.on_frame = request.on_frame
        return source.open()

    # -- end --------------------------------------------------------------------------------------------
    def close(self, caption_timeout: float | None = 30.0) -> None:
        """Stop captions (waiting parts are marked missing), commit what is queued, close the store."""
        if self._closed:
            return
        self._closed = True
        with self._caption_lock:
            captions, self._captions = self._captions, None
        if captions is not None:  # before the writer its outcomes go through
            try:
                captions.close(timeout=caption_timeout)
            except Exception:  # noqa: BLE001 - closing must go on
                log.exception("closing the caption scheduler failed")
        self.writer.close()
        self.store.close()

    def __enter__(self) -> StationSession:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def open_session(config: SessionConfig | None = None, **options: Any) -> StationSession:
    """Open the store (creating its folder) and start the session's writer thread.

    ``options`` override fields of ``config`` (e.g. ``open_session(database="x.db")``).

    Raises:
        StoreError: The database cannot be opened (or is from a newer station).
    """
    from dataclasses import replace

    config = replace(config or SessionConfig(), **options)
    if config.store_opener is not None:
        return StationSession(config, config.store_opener())
    if config.database is not None:
        Path(config.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    store = open_store(config.database, durability=config.durability)
    return StationSession(config, store)
