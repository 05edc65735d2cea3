"""Captions after the verdict, on their own thread, never in the way of scoring.

The pipeline stores each verdict first, then hands flagged parts to :meth:`CaptionScheduler.submit`
(:meth:`CaptionScheduler.wants` says which verdicts are captioned: failed and uncertain, while
captions are switched on). The scheduler's worker thread

* takes the **newest** part first; when parts come faster than captions, the stack is bounded
  (``max_pending``) and the oldest waiting part is dropped and recorded as missing with the
  reason ``skipped: captioner fell behind``;
* crops the flagged region (:mod:`inspector.captioning.regions`), captions it and classifies its
  defect type against the recipe's classes (:mod:`inspector.captioning.defect_type`);
* reports exactly one :class:`CaptionOutcome` per submitted part through ``on_result`` (the
  pipeline passes :func:`store_callback` ``(writer)``, which writes it through the database thread);
  a failing, missing or too slow captioner leaves the stored verdict alone and marks the caption
  missing with the reason.

**Scoring first.** On a CPU station the detector and the captioner share the same few cores; run
together, both slow down. The pipeline wraps each detector call in ``scheduler.gate.scoring()``;
the captioner checks the :class:`~inspector.captioning.gate.ScoringGate` before every transformer
layer and waits while scoring runs (and for ``resume_after_s`` after it stops, so back-to-back
parts are not interleaved with caption work). A caption therefore runs in the gaps between parts
and overlaps a part by at most one transformer layer. With ``busy_share > 0`` captions also
progress while scoring never pauses, using about that fraction of the time. The caption thread
(or process) also lowers its OS priority (``nice``). Waiting for scoring does not count towards
``timeout_s``.

**Thread or process.** The scheduler's own thread runs an in-process captioner itself; with a
:class:`~inspector.captioning.process.ProcessCaptioner` it only crops, sends and waits, and the
model runs in a child process. On CPU stations the process is the better choice (see that module:
two torch threads in one process slow each other down through OpenMP even when they take turns);
:func:`~inspector.captioning.factory.create_caption_scheduler` picks it wherever it is available.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from inspector.captioning.base import CaptionCancelled, Captioner, CaptionResult, NoCaptioner, ResultStatus
from inspector.captioning.gate import ScoringGate
from inspector.captioning.regions import RegionCrop, RegionOptions, region_crop
from inspector.core.threads import lower_thread_priority
from inspector.core.types import Verdict
from inspector.errors import InspectorError
from inspector.store.domain import CaptionStatus

if TYPE_CHECKING:
    from inspector.captioning.defect_type import DefectClassifier, DefectTypeResult
    from inspector.store.repository import InspectionStore
    from inspector.store.writer import StoreWriter

log = logging.getLogger(__name__)

FELL_BEHIND = "skipped: captioner fell behind"
STOPPED = "station stopped before captioning"
SWITCHED_OFF = "captions are switched off"


# -- what goes in and what comes out --------------------------------------------------------------
@dataclass(frozen=True)
class FlaggedPart:
    """A scored part whose verdict is already stored, to be captioned.

    Attributes:
        inspection_id: The stored inspection's id.
        image: RGB uint8 ``(H, W, 3)`` (the scheduler does not copy it: do not modify it afterwards).
        anomaly_map: The detector's map (any resolution; None: caption the whole part).
        score: Image score.
        verdict: The model verdict.
        object_name: The recipe's object name (goes into the prompts).
        defect_classes: The recipe's defect vocabulary (empty: no defect type).
        map_threshold: The recipe's threshold in anomaly-map units, if it has one.
    """

    inspection_id: str
    image: np.ndarray
    anomaly_map: np.ndarray | None
    score: float
    verdict: Verdict
    object_name: str = "part"
    defect_classes: tuple[str, ...] = ()
    map_threshold: float | None = None
    submitted_at: float = field(default_factory=time.monotonic, compare=False)


@dataclass(frozen=True)
class CaptionOutcome:
    """What is stored beside a flagged part's verdict.

    Attributes:
        status: ``done`` (a caption, possibly one that says the model's output was unusable) or
            ``missing`` (see ``reason``).
        caption: The caption text, or None.
        reason: Why there is no plain caption (missing, unusable, random weights), or None.
        defect_type / defect_confidence: The zero-shot defect type and its probability, or None.
        model_id: The captioner's registry id (``none`` for no captioner).
        seconds: Time the caption work took (waiting for scoring excluded).
        waited_s: Time from submit to the outcome that was spent waiting (queue and scoring).
        crop_box: ``(x0, y0, x1, y1)`` of the region that was described, in image pixels.
        random_weights: A model had random weights: caption and defect type are meaningless.
    """

    status: CaptionStatus
    caption: str | None = None
    reason: str | None = None
    defect_type: str | None = None
    defect_confidence: float | None = None
    model_id: str = ""
    seconds: float = 0.0
    waited_s: float = 0.0
    crop_box: tuple[int, int, int, int] | None = None
    random_weights: bool = False

    @classmethod
    def missing(cls, reason: str, model_id: str = "", waited_s: float = 0.0) -> CaptionOutcome:
        return cls(status=CaptionStatus.MISSING, reason=reason, model_id=model_id, waited_s=waited_s)

    def apply(self, store: InspectionStore, inspection_id: str) -> None:
        """Write it into the store's caption slots of the inspection (on the database thread)."""
        store.set_caption(
            inspection_id,
            status=self.status,
            caption=self.caption,
            reason=self.reason,
            defect_type=self.defect_type,
            defect_confidence=self.defect_confidence,
        )


ResultCallback = Callable[[str, CaptionOutcome], None]


def store_callback(writer: StoreWriter, then: ResultCallback | None = None) -> ResultCallback:
    """An ``on_result`` that writes each outcome through the database thread.

    ``then(inspection_id, outcome)`` (e.g. a bridge to the window) runs once the write committed.
    A failed write is reported by the writer's ``on_error``.
    """

    def on_result(inspection_id: str, outcome: CaptionOutcome) -> None:
        future = writer.call(lambda store: outcome.apply(store, inspection_id))
        if then is not None:
            future.add_done_callback(lambda f: then(inspection_id, outcome) if f.exception() is None else None)

    return on_result


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]


@dataclass
class _Clock:
    """Active time of one caption: wall time minus the time spent waiting for scoring."""

    started: float = field(default_factory=time.monotonic)
    paused: float = 0.0

    def active(self) -> float:
        return time.monotonic() - self.started - self.paused


# -- the scheduler ----------------------------------------------------------------------------------
class CaptionScheduler:
    """Captions and defect types for flagged parts, on a worker thread of its own.

    Args:
        captioner: A :class:`~inspector.captioning.base.Captioner` (None: :class:`NoCaptioner`).
            Its model loads on this scheduler's thread, on the first part (or :meth:`preload`).
        on_result: Called once per submitted part, on the caption thread (or on the caller's
            thread for parts refused at once): ``on_result(inspection_id, outcome)``.
        classifier: Zero-shot defect-type classifier (None: no defect types).
        enabled: Captions on (they can be switched with :meth:`set_enabled`).
        verdicts: The verdicts :meth:`wants` captions.
        max_pending: Parts waiting at most; beyond it the oldest is dropped (``fell behind``).
        timeout_s: A caption still running after this much active time is stopped and marked
            missing (None: no limit). Waiting for scoring and loading the model do not count.
        gate: The :class:`ScoringGate` the pipeline marks scoring on (a new one when None).
        regions: How the flagged region is cropped.
        nice: Lower the caption thread's OS priority by this much (Linux; 0: leave it).
        on_error: Told about captioner errors (a missing model, a crash), once per distinct message.
        close_captioner: :meth:`close` also closes the captioner (frees the model, stops a caption
            process); :func:`~inspector.captioning.factory.create_caption_scheduler` sets it.
    """

    def __init__(
        self,
        captioner: Captioner | None,
        on_result: ResultCallback,
        *,
        classifier: DefectClassifier | None = None,
        enabled: bool = True,
        verdicts: Iterable[Verdict] = (Verdict.FAIL, Verdict.UNCERTAIN),
        max_pending: int = 16,
        timeout_s: float | None = 120.0,
        gate: ScoringGate | None = None,
        regions: RegionOptions = RegionOptions(),
        nice: int = 10,
        on_error: Callable[[BaseException], None] | None = None,
        close_captioner: bool = False,
        name: str = "inspector-captions",
    ):
        if max_pending < 1:
            raise ValueError(f"max_pending must be at least 1, got {max_pending}")
        self.captioner: Captioner = captioner if captioner is not None else NoCaptioner()
        self.classifier = classifier
        self.on_result = on_result
        self.on_error = on_error
        self.verdicts = frozenset(Verdict(v) for v in verdicts)
        self.max_pending = int(max_pending)
        self.timeout_s = timeout_s
        self.gate = gate if gate is not None else ScoringGate()
        self._owns_gate = gate is None
        self.close_captioner = bool(close_captioner)
        self.regions = regions
        self.nice = int(nice)
        for part in (self.captioner, self.classifier):  # a caption process waits on this gate too
            attach = getattr(part, "attach_gate", None)
            if attach is not None:
                attach(self.gate)
        self._cond = threading.Condition()
        self._stack: list[FlaggedPart] = []
        self._current: FlaggedPart | None = None
        self._cancel: str | None = None
        self._enabled = bool(enabled)
        self._closed = False
        self._preload = False
        self._submitted = 0
        self._reported = 0
        self._errors_reported: set[str] = set()
        self.skipped = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    # -- control ----------------------------------------------------------------------------------
    @property
    def enabled(self) -> bool:
        return self._enabled and not self._closed

    def wants(self, verdict: Verdict, defect_classes: Iterable[str] = ()) -> bool:
        """Whether a part with this verdict should be submitted (and its caption marked pending).

        False while captions are off, for verdicts not captioned (passed parts), and when there is
        nothing to do: no captioner (``none``) and no defect classes to classify against.
        """
        if not self.enabled or Verdict(verdict) not in self.verdicts:
            return False
        if self.captioner.model_id == NoCaptioner.model_id:
            return self.classifier is not None and any(str(c).strip() for c in defect_classes)
        return True

    def set_enabled(self, enabled: bool) -> None:
        """Switch captions on or off; switching off marks waiting parts missing and stops the current one."""
        dropped: list[FlaggedPart] = []
        with self._cond:
            self._enabled = bool(enabled)
            if not self._enabled:
                dropped, self._stack = self._stack, []
                if self._current is not None:
                    self._cancel = SWITCHED_OFF
        self.gate.wake()
        for part in dropped:
            self._report(part, CaptionOutcome.missing(SWITCHED_OFF, self.captioner.model_id, self._age(part)))

    def preload(self) -> None:
        """Load the captioner on the caption thread now (when scoring is idle), before the first part."""
        with self._cond:
            self._preload = True
            self._cond.notify_all()

    @property
    def pending(self) -> int:
        """Parts waiting or being captioned."""
        with self._cond:
            return len(self._stack) + (self._current is not None)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def submit(self, part: FlaggedPart) -> bool:
        """Queue a flagged part (any verdict: the caller decides; see :meth:`wants`).

        Returns True when it was queued. A part that cannot be (captions off, scheduler closed)
        gets its missing outcome at once, on the calling thread. When the stack is full, the
        oldest waiting part is dropped and reported as missing.
        """
        dropped: FlaggedPart | None = None
        refused: str | None = None
        with self._cond:
            self._submitted += 1
            if self._closed:
                refused = STOPPED
            elif not self._enabled:
                refused = SWITCHED_OFF
            else:
                self._stack.append(part)
                if len(self._stack) > self.max_pending:
                    dropped = self._stack.pop(0)
                    self.skipped += 1
                self._cond.notify_all()
        if refused is not None:
            self._report(part, CaptionOutcome.missing(refused, self.captioner.model_id))
            return False
        if dropped is not None:
            self._report(dropped, CaptionOutcome.missing(FELL_BEHIND, self.captioner.model_id, self._age(dropped)))
        return True

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until every submitted part has its outcome; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._reported < self._submitted:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def close(self, timeout: float | None = 10.0) -> None:
        """Stop: waiting parts and the one in progress are marked missing (station stopped).

        Call it before closing the store writer that ``on_result`` writes through. Safe to call twice.
        With ``close_captioner`` the captioner is closed too (a caption process stops).
        """
        with self._cond:
            if self._closed:
                leftover: list[FlaggedPart] = []
            else:
                self._closed = True
                leftover, self._stack = self._stack, []
                if self._current is not None:
                    self._cancel = STOPPED
                self._cond.notify_all()
        self.gate.wake()
        for part in leftover:
            self._report(part, CaptionOutcome.missing(STOPPED, self.captioner.model_id, self._age(part)))
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)
            if self.close_captioner and not self._thread.is_alive():
                self.captioner.close()
            if self._owns_gate and not self._thread.is_alive():
                self.gate.close()

    # -- the worker -------------------------------------------------------------------------------
    def _run(self) -> None:
        self._lower_priority()
        while True:
            with self._cond:
                while not self._stack and not self._closed and not self._preload:
                    self._cond.wait()
                if self._closed:
                    return
                if self._preload and not self._stack:
                    self._preload = False
                    part = None
                else:
                    part = self._stack.pop()
                    self._current = part
                    self._cancel = None
            if part is None:
                self._load_quietly()
                continue
            try:
                outcome = self._process(part)
            except BaseException as error:  # never lose the outcome of a part
                log.exception("caption of %s failed", part.inspection_id)
                outcome = CaptionOutcome.missing(f"captioner failed: {_first_line(error)}", self.captioner.model_id)
            with self._cond:
                self._current = None
                self._cancel = None
            self._report(part, outcome)

    def _lower_priority(self) -> None:  # if not allowed, captions still wait for scoring at the gate
        lower_thread_priority(self.nice, relative=True)

    def _cancelled(self) -> bool:
        return self._cancel is not None

    def _checkpoint(self, clock: _Clock, timeout_s: float | None) -> Callable[[], None]:
        def checkpoint() -> None:
            if self._cancel is not None:
                raise CaptionCancelled(self._cancel)
            clock.paused += self.gate.wait_turn(self._cancelled)
            if self._cancel is not None:
                raise CaptionCancelled(self._cancel)
            if timeout_s is not None and clock.active() > timeout_s:
                raise CaptionCancelled(f"captioner too slow: no caption within {timeout_s:g} s")

        return checkpoint

    def _load_quietly(self) -> None:
        self.gate.wait_turn(lambda: self._closed)
        try:
            if not self._closed and not self.captioner.loaded:
                self.captioner.load()
        except Exception as error:  # reported now; each part will say why it has no caption
            self._report_error(error)

    def _process(self, part: FlaggedPart) -> CaptionOutcome:
        model_id = self.captioner.model_id
        self.gate.wait_turn(self._cancelled)
        if self._cancel is not None:
            return CaptionOutcome.missing(self._cancel, model_id, self._age(part))
        queue_wait = time.monotonic() - part.submitted_at
        try:
            region = region_crop(part.image, part.anomaly_map, self.regions, part.map_threshold)
        except ValueError as error:
            return CaptionOutcome.missing(f"the flagged region could not be cropped: {error}", model_id)
        reasons: list[str] = []
        result, clock = None, _Clock()
        try:
            if not self.captioner.loaded:
                self.captioner.load()  # not timed: a first load takes long, captions after it do not
            clock = _Clock()
            prompt = self.captioner.prompt_for(part.object_name, part.defect_classes)
            result = self.captioner.caption(region.crop, prompt, checkpoint=self._checkpoint(clock, self.timeout_s))
        except CaptionCancelled as cancel:
            if self._cancel is not None:  # stopping or switched off: nothing more for this part
                return CaptionOutcome.missing(cancel.reason, model_id, queue_wait)
            reasons.append(cancel.reason)
        except InspectorError as error:
            reasons.append(f"captioner unavailable: {_first_line(error)}")
            self._report_error(error)
        except Exception as error:
            log.exception("captioner %s failed on %s", model_id, part.inspection_id)
            reasons.append(f"captioner failed: {getattr(error, 'kind', type(error).__name__)}: {_first_line(error)}")
            self._report_error(error)
        seconds = clock.active()
        defect, defect_reason = self._defect_type(part, region)
        if self._cancel is not None:
            return CaptionOutcome.missing(self._cancel, model_id, queue_wait)
        if defect_reason:
            reasons.append(defect_reason)
        return self._outcome(result, reasons, defect, region, model_id, seconds, waited_s=queue_wait + clock.paused)

    def _defect_type(self, part: FlaggedPart, region: RegionCrop) -> tuple[DefectTypeResult | None, str | None]:
        if self.classifier is None or not part.defect_classes:
            return None, None
        try:
            self._checkpoint(_Clock(), None)()
            return self.classifier.classify(region.crop, part.object_name, part.defect_classes), None
        except CaptionCancelled:
            return None, None
        except InspectorError as error:
            self._report_error(error)
            return None, f"defect type unavailable: {_first_line(error)}"
        except Exception as error:
            log.exception("defect-type classification failed on %s", part.inspection_id)
            self._report_error(error)
            return None, f"defect type failed: {getattr(error, 'kind', type(error).__name__)}: {_first_line(error)}"

    @staticmethod
    def _outcome(
        result: CaptionResult | None,
        reasons: list[str],
        defect: DefectTypeResult | None,
        region: RegionCrop,
        model_id: str,
        seconds: float,
        waited_s: float,
    ) -> CaptionOutcome:
        random = bool(defect is not None and defect.random_weights)
        if result is not None and result.status in (ResultStatus.OK, ResultStatus.UNUSABLE):
            status, caption = CaptionStatus.DONE, result.text
            reasons = ([result.reason] if result.reason else []) + reasons
            random = random or result.random_weights
        else:
            status, caption = CaptionStatus.MISSING, None
            if result is not None and result.reason:
                reasons = [result.reason] + reasons
        if defect is not None and defect.random_weights and (result is None or not result.random_weights):
            reasons.append("defect type from a CLIP model with random weights")
        return CaptionOutcome(
            status=status,
            caption=caption,
            reason="; ".join(reasons) or None,
            defect_type=defect.label if defect is not None else None,
            defect_confidence=defect.confidence if defect is not None else None,
            model_id=model_id,
            seconds=seconds,
            waited_s=waited_s,
            crop_box=region.box.as_tuple(),
            random_weights=random,
        )

    # -- reporting --------------------------------------------------------------------------------
    @staticmethod
    def _age(part: FlaggedPart) -> float:
        return time.monotonic() - part.submitted_at

    def _report(self, part: FlaggedPart, outcome: CaptionOutcome) -> None:
        try:
            self.on_result(part.inspection_id, outcome)
        except Exception as error:  # a broken callback must not stop the caption thread
            log.exception("on_result failed for %s", part.inspection_id)
            self._report_error(error)
        finally:
            with self._cond:
                self._reported += 1
                self._cond.notify_all()

    def _report_error(self, error: BaseException) -> None:
        key = f"{type(error).__name__}: {error}"
        if self.on_error is None or key in self._errors_reported:
            return
        if len(self._errors_reported) < 100:
            self._errors_reported.add(key)
        try:
            self.on_error(error)
        except Exception:
            log.exception("the caption scheduler's on_error handler failed")
