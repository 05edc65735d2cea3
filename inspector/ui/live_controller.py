"""Drives the live screen: starts and stops sessions, and paints what they produce at screen rate.

A :class:`QTimer` (50 Hz while a session runs) drains the :class:`~inspector.ui.live_worker.LiveFeed`:
it takes only the newest prepared part and the newest preview frame, and the counters and trend
points of everything stored since the last tick. However fast results come, the GUI thread does at
most one paint of each per tick.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from functools import partial
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from inspector.captioning import CaptionOutcome
from inspector.core.provenance import uncalibrated_warning
from inspector.core.rate import RateMeter
from inspector.core.recipe import Recipe, load_recipe
from inspector.core.types import DetectorInfo
from inspector.errors import InspectorError, WeightsMissingError
from inspector.pipeline import (
    DetectorReady,
    PartNotStored,
    PartStored,
    RunRequest,
    RunSummary,
    SourceStateChanged,
    Subscription,
)
from inspector.sources import SourceState
from inspector.sources.hints import subfolder_hint
from inspector.store import CaptionStatus
from inspector.ui.bridge import OpChange
from inspector.ui.live_view import LiveView
from inspector.ui.live_worker import DisplayPreparer, LiveFeed, run_live
from inspector.ui.station import Station
from inspector.ui.theme import VERDICT_TEXT
from inspector.ui.widgets import fmt_score
from inspector.ui.workers import Job, describe_error

log = logging.getLogger(__name__)

TICK_MS = 20
CAPTIONS_KEPT = 64  # caption outcomes remembered for parts not painted yet


def _golden_note(feed: LiveFeed, outcome) -> None:
    if outcome.check:
        feed.notes.put((outcome.message, "info" if outcome.passed else "warning"))


class LiveController(QObject):
    """Glue between the live screen and a running session (one at a time)."""

    running_changed = Signal(bool)
    detector_ready = Signal(object)  # DetectorInfo
    source_state = Signal(str)
    weights_missing = Signal(str)  # the WeightsMissingError message (how to get the weights)
    run_finished = Signal(object)  # RunSummary or None

    def __init__(self, view: LiveView, station: Station, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.view = view
        self.station = station
        self.job: Job | None = None
        self.feed: LiveFeed | None = None
        self.preparer: DisplayPreparer | None = None
        self.recipe: Recipe | None = None
        self.summary: RunSummary | None = None
        self.counts = {"inspected": 0, "failed": 0, "uncertain": 0, "duplicates": 0, "skipped": 0}
        self.rate = RateMeter()
        self._shown_any = False
        self._overrides_at_start = 0
        self._current_id: str | None = None
        self._captions: OrderedDict[str, CaptionOutcome] = OrderedDict()
        self._subscription: Subscription | None = None
        self._stopping = False
        self._after_stop: list = []
        self.timer = QTimer(self)
        self.timer.setObjectName("live-screen-tick")  # paints the in-memory feed; never reads the store
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self.tick)
        view.start_requested.connect(self.start)
        view.stop_requested.connect(self.stop)
        view.colormap.currentTextChanged.connect(self._colormap_changed)

    def _colormap_changed(self, name: str) -> None:
        if self.feed is not None:
            self.feed.colormap = self.view.overlay.colormap

    @property
    def running(self) -> bool:
        return self.job is not None

    # -- start / stop ------------------------------------------------------------------------------
    def start(self) -> bool:
        if self.job is not None:
            return False
        station = self.station
        session = station.session
        if session is None or not station.ready:
            self.view.messages.show_message("The database is still opening; try again in a moment.", "warning")
            return False
        path = self.view.recipe_path()
        if not path:
            self.view.messages.show_message("Choose a recipe first (create one in the Recipes tab).", "warning")
            return False
        try:
            recipe = load_recipe(path)
            choice = self.view.source_choice()
            spec = choice.spec()
        except InspectorError as exc:
            self.view.messages.show_message(describe_error(exc), "error")
            return False
        if warning := uncalibrated_warning(recipe, path):  # other weights are refused by the pipeline itself
            self.view.messages.show_message(warning, "warning")
        self.recipe = recipe
        self.summary = None
        self.counts = dict.fromkeys(self.counts, 0)
        self.rate.clear()
        self._shown_any = False
        self._overrides_at_start = station.session_overrides
        self._current_id = None
        self._captions.clear()
        self.feed = LiveFeed()
        self.feed.band = recipe.uncertain_band
        self.feed.colormap = self.view.overlay.colormap
        self.preparer = DisplayPreparer(self.feed)
        request = RunRequest(
            recipe,
            spec,
            operator=station.operator,
            lot=self.view.lot_text() or None,
            batch_size=4,
            live=choice.live,
            with_pixels=True,
            recipe_path=path,
            on_frame=self.feed.on_frame if choice.has_preview else None,
            on_golden=partial(_golden_note, self.feed),  # the golden-part check at the start, as a message
        )
        self._subscription = session.subscribe(
            self.feed.on_note, PartStored, PartNotStored, SourceStateChanged, DetectorReady
        )
        self.job = Job(
            partial(run_live, session, request, station.captioner()), name="inspector-inference", parent=self
        )
        self.job.progress.connect(self._on_progress)
        self.job.finished.connect(self._on_finished)
        self.job.failed.connect(self._on_failed)
        self.job.cancelled.connect(lambda: self._on_finished(None))
        self.view.reset(recipe.threshold, recipe.uncertain_band)
        self.view.drift.set_reference(recipe.calibration)
        self.view.set_running(True, preview=choice.has_preview)
        self.view.set_stage(f"Starting {spec.describe()} with recipe '{recipe.name}' …")
        self._stopping = False
        self.job.start()
        self.timer.start()
        self.running_changed.emit(True)
        return True

    def stop(self) -> None:
        if self.job is None or self._stopping:
            return
        self._stopping = True
        self.view.stop.setEnabled(False)
        self.view.set_stage(
            "Stopping — the parts already being scored are finished and saved (they still appear), then it stops …"
        )
        self.job.cancel()

    def shutdown(self, then=None) -> bool:
        """Stop any session; ``then()`` runs once it has ended. True when nothing was running."""
        if self.job is None:
            self._stop_threads()
            return True
        if then is not None:
            self._after_stop.append(then)
        self.stop()
        return False

    def _stop_threads(self) -> None:
        if self._subscription is not None:
            self._subscription.cancel()
            self._subscription = None
        if self.preparer is not None:
            self.preparer.stop()
            self.preparer = None

    # -- job signals (GUI thread) ------------------------------------------------------------------
    def _on_progress(self, done: int, total: int, message: str) -> None:
        if self._stopping:
            return
        if message in ("stored", "duplicate", "skipped", "error"):
            suffix = f" {done} / {total}" if total else f" {done}"
            self.view.set_stage(f"Running '{self.recipe.name if self.recipe else ''}' —{suffix} done")
        elif message:
            self.view.set_stage(message)

    def _on_failed(self, message: str, exc: object) -> None:
        if isinstance(exc, WeightsMissingError):
            self.weights_missing.emit(message)
            self.view.messages.show_message(
                "The model's weights are not on this station — see above for how to get them.", "error"
            )
        else:
            self.view.messages.show_message(message, "error")
        self._on_finished(None)

    def _on_finished(self, summary: RunSummary | None) -> None:
        if self.preparer is not None:
            self.preparer.stop()  # (finishes the part it is preparing)
            self.preparer = None
        self.tick()  # the last results
        self.view.trend.refresh(force=True)
        self.timer.stop()
        self.job = None
        self.summary = summary
        self._stop_threads()
        self.view.set_running(False)
        stopped = self._stopping or (summary is not None and summary.cancelled)
        if summary is not None:
            head = "Stopped by the operator" if stopped else "Run finished"
            text = (
                f"{head}: {summary.inspected} inspected — {summary.passed} pass, {summary.failed} fail, "
                f"{summary.uncertain} uncertain"
            )
            if summary.duplicates:
                text += f"; {summary.duplicates} already inspected with this recipe version"
            if summary.skipped:
                text += f"; {summary.skipped} skipped"
            if summary.dropped_frames:
                text += f"; {summary.dropped_frames} frames dropped"
            lot = f", lot {self.view.lot_text()}" if self.view.lot_text() else ""
            self.view.set_stage(text + f" (recipe '{summary.recipe}' v{summary.recipe_version}{lot}).")
            if summary.error:
                self.view.messages.show_message(f"The run stopped: {summary.error}", "error")
        elif stopped:
            self.view.set_stage(f"Stopped by the operator: {self.counts['inspected']} inspected.")
        else:
            self.view.set_stage("Stopped.")
        if not self._shown_any:  # never "Waiting for the first part…" once the run is over
            if summary is None and not stopped or summary is not None and summary.error:
                self.view.overlay.clear_view("The run stopped with an error (see the message above)")
            elif summary is not None and summary.duplicates and not summary.inspected:
                self.view.overlay.clear_view("Every part here was already inspected with this recipe version")
            elif summary is not None and not stopped and not summary.inspected:
                self.view.overlay.clear_view("No part was inspected in this run")
            else:
                self.view.overlay.clear_view("Stopped before the first part" if stopped else "No part was inspected")
            if not stopped:
                self._hint_subfolders()
        self.running_changed.emit(False)
        self.run_finished.emit(summary)
        callbacks, self._after_stop = self._after_stop, []
        for callback in callbacks:
            callback()

    def _hint_subfolders(self) -> None:
        """A folder run found nothing: say so when the images sit in sub-folders (looked up off the GUI thread)."""
        choice = self.view.source_choice()
        if choice.kind not in ("folder", "hot") or not choice.target:
            return
        self.station.tasks.submit(
            lambda: subfolder_hint(Path(choice.target)),
            lambda hint: hint and self.view.messages.show_message(hint, "warning"),
            lambda _exc: None,
        )

    # -- the screen-rate tick ---------------------------------------------------------------------------
    def tick(self) -> None:
        feed = self.feed
        if feed is None:
            return
        view = self.view
        now = time.monotonic()
        skipped: list[str] = []
        for point in feed.points.drain():
            if point.status == "stored":
                self.counts["inspected"] += 1
                if point.verdict in ("fail", "uncertain"):
                    self.counts["failed" if point.verdict == "fail" else "uncertain"] += 1
                self.rate.add(point.at)
                shown = "wrong_part" if point.wrong_part else point.verdict
                if point.score is not None:
                    view.trend.add(point.score, shown, time_s=point.media_time_s, inspection_id=point.inspection_id)
                if shown in ("fail", "uncertain", "wrong_part"):
                    name = (point.path or "").rsplit("/", 1)[-1] or f"frame {point.index}"
                    label = VERDICT_TEXT[shown]
                    view.add_flagged(  # the time first: a narrow list shortens the file name, not the time
                        f"{time.strftime('%H:%M:%S')}  {label}  {fmt_score(point.score)}  {name}",
                        shown,
                        point.inspection_id,
                    )
            elif point.status == "duplicate":
                self.counts["duplicates"] += 1
            elif point.status == "skipped":
                self.counts["skipped"] += 1
                skipped.append(f"{point.path or point.index}: {point.reason}")
            elif point.status == "error":
                view.messages.show_message(f"Not stored: {point.reason}", "error")
        if skipped:
            more = f" (and {len(skipped) - 1} more)" if len(skipped) > 1 else ""
            view.messages.show_message(f"Skipped {skipped[0]}{more}", "warning")
        for message, level in feed.notes.drain():
            view.messages.show_message(message, level)
        for event in feed.states.drain():
            self.source_state.emit(f"{event.state.value}: {event.message}")
            if event.state in (SourceState.LOST, SourceState.RECONNECTING, SourceState.ERROR):
                view.messages.show_message(event.message, "error" if event.state is SourceState.ERROR else "warning")
            elif event.state is SourceState.RUNNING and "back" in event.message:
                view.messages.show_message(event.message, "info")
        info = feed.detector.take()
        if info is not None:
            self.rate.start(now)  # scoring starts: the rate counts from here, not from the model load
            self._detector_ready(info)
        part = feed.part.take()
        if part is not None:
            view.show_part(part, feed.band, self.station.random_weights)
            self._shown_any = True
            self._current_id = part.inspection_id
            if part.verdict in ("fail", "uncertain"):
                outcome = self._captions.get(part.inspection_id or "")
                if outcome is not None:
                    self._show_caption(outcome)
                elif self.station.settings.captioner_enabled:
                    view.set_caption(None, None, pending=True)
                else:
                    view.set_caption(None, None, off=True)
        frame = feed.frame.take()
        if frame is not None:
            view.show_frame(frame)
        rate = self.rate.rate(now)
        session = self.station.session
        source = session.source if session is not None else None
        view.set_counters(
            inspected=self.counts["inspected"],
            failed=self.counts["failed"],
            uncertain=self.counts["uncertain"],
            overridden=self.station.session_overrides - self._overrides_at_start,
            rate="—" if rate is None else rate,
            dropped=source.dropped if source is not None else 0,
        )
        view.trend.refresh()

    def _detector_ready(self, info: DetectorInfo) -> None:
        self.detector_ready.emit(info)

    # -- captions ------------------------------------------------------------------------------------------
    def on_change(self, change: OpChange) -> None:
        """A caption was stored (from the session bridge): show it if its part is on screen."""
        if change.kind != "caption" or not change.inspection_ids or change.detail is None:
            return
        inspection_id, outcome = change.inspection_ids[0], change.detail
        self._captions[inspection_id] = outcome
        while len(self._captions) > CAPTIONS_KEPT:
            self._captions.popitem(last=False)
        if inspection_id == self._current_id:
            self._show_caption(outcome)

    def _show_caption(self, outcome: CaptionOutcome) -> None:
        text = outcome.caption if outcome.status is CaptionStatus.DONE else outcome.reason
        self.view.set_caption(text, outcome.defect_type, pending=False)
