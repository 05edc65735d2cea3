"""The inspection pipeline.

Threads (none of them the GUI's):

- the source's own thread reads frames into a bounded buffer (a live source drops the oldest frame
  when scoring falls behind; a folder source waits and skips nothing);
- the thread calling :meth:`InspectionPipeline.run` scores batches (it owns the accelerator);
- one post-processing thread writes the artifacts (heatmap, thumbnail, image copy) and queues the
  record, so scoring never waits for the disk;
- the :class:`~inspector.store.StoreWriter` thread commits records in batches. A part is reported
  ``STORED`` only after its transaction committed, so a crash or ``kill -9`` loses nothing that was
  reported as stored (SQLite WAL).

Re-running the same images with the same recipe version and the same weights (model fingerprint)
scores nothing twice: content hashes are looked up before scoring.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime

import numpy as np

from inspector.captioning.scheduler import FlaggedPart
from inspector.core.identity import IdentityResult
from inspector.core.images import IMAGE_SUFFIXES, downscale_to_max_side
from inspector.core.progress import ProgressState
from inspector.core.provenance import require_calibration
from inspector.core.recipe import Recipe
from inspector.core.review_sampling import review_reason
from inspector.core.timeline import DEFAULT_MIN_SEPARATION_S, Peak, TimelinePoint, recipe_peaks
from inspector.core.types import AnomalyPrediction, Verdict
from inspector.detectors.base import Detector
from inspector.detectors.identity import PartIdentityCheck, identity_check_for
from inspector.errors import InspectorError, SourceError
from inspector.pipeline.captions import CaptionSink
from inspector.pipeline.events import PartResult, PartStatus, RunSummary
from inspector.pipeline.golden import GoldenOutcome, check_golden_parts
from inspector.recipes import reference_images
from inspector.sources.base import Frame, Source
from inspector.store import (
    CaptionStatus,
    InspectionFilter,
    InspectionStore,
    NewInspection,
    RunOutcome,
    StoreError,
    StoreWriter,
    VerdictCounts,
    sha256_bytes,
    sha256_file,
)
from inspector.store.changes import require_signed

log = logging.getLogger(__name__)

KEEP_IMAGES = ("all", "flagged", "none")


def fit_for_recipe(detector: Detector, recipe: Recipe) -> list[np.ndarray] | None:
    """Fit a few-shot detector on the recipe's reference images (no-op for zero-shot).

    Returns the images it read, for the run's identity check (``InspectionPipeline(references=...)``);
    None when the detector needs none and nothing was read.

    Raises:
        RecipeError: A few-shot recipe lists no references.
        ImageLoadError: A reference cannot be read (the message names the file).
    """
    if not detector.needs_references:
        return None
    images = reference_images(recipe)
    detector.fit(images)
    return images


def _jpeg_bytes(image: np.ndarray, quality: int = 95) -> bytes:
    import cv2

    ok, data = cv2.imencode(".jpg", image[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise InspectorError("Could not encode a frame as JPEG.")
    return data.tobytes()


class InspectionPipeline:
    """Score every frame of a source with a recipe's detector and log each verdict.

    Args:
        recipe: The recipe (threshold, uncertain band, object name, defect classes).
        detector: A detector, already fitted for few-shot recipes (see :func:`fit_for_recipe`).
        store: The inspection store.
        source: A source, not yet opened (the pipeline opens and closes it).
        batch_size: Frames scored together when the source has them ready.
        operator: Who runs it (kept on the run).
        keep_images: ``all``, ``flagged`` (fail/uncertain only; default) or ``none``: which parts get a
            copy of the image in the artifact store (a thumbnail and the heatmap are always kept).
        heatmap_max_side: Stored heatmaps are downscaled to at most this many pixels per side.
        on_result: Called with each :class:`PartResult` (from worker threads; must be thread-safe).
        progress: Progress and cancel.
        with_pixels: Include the image and anomaly map in each result (the window shows them).
        captions: A :class:`~inspector.pipeline.captions.CaptionSink` (the caption scheduler): scoring
            runs inside its gate (captions wait while a batch is scored), flagged parts are stored with
            caption status "pending" and handed to it once their verdict is committed.
        golden: Score the recipe's golden parts before the run starts (:mod:`inspector.pipeline.golden`);
            a wrong verdict raises ``GoldenCheckFailed`` (no run is written) or, under
            ``golden_policy: warn``, is handed to ``on_golden`` with the rest of the outcome.
        recipe_path: The recipe file, for the messages (``inspector recipe sign PATH``).
        writer: The station's database-writer thread (a :class:`~inspector.pipeline.session.StationSession`
            passes its own); None: the run starts one of its own and closes it at the end.
        references: The recipe's reference images as already read (what :func:`fit_for_recipe` returns),
            for the identity check at the start; None: read from the recipe's files there.

    A station that requires PINs refuses a recipe nobody signed (:func:`inspector.store.changes.require_signed`).
    The source may already be open (the session opens it before the model loads).
    """

    def __init__(
        self,
        recipe: Recipe,
        detector: Detector,
        store: InspectionStore,
        source: Source,
        *,
        batch_size: int = 8,
        operator: str | None = None,
        keep_images: str = "flagged",
        heatmap_max_side: int = 256,
        on_result: Callable[[PartResult], None] | None = None,
        progress: ProgressState | None = None,
        with_pixels: bool = False,
        lot: str | None = None,
        captions: CaptionSink | None = None,
        writer: StoreWriter | None = None,
        identity: bool = True,
        other_objects: tuple[str, ...] | None = None,
        peak_separation_s: float = DEFAULT_MIN_SEPARATION_S,
        peak_prominence: float | None = None,
        golden: bool = True,
        on_golden: Callable[[GoldenOutcome], None] | None = None,
        recipe_path: str | None = None,
        references: Sequence[np.ndarray] | None = None,
    ) -> None:
        if keep_images not in KEEP_IMAGES:
            raise ValueError(f"keep_images must be one of {KEEP_IMAGES}")
        self.recipe = recipe
        self.detector = detector
        self.store = store
        self.source = source
        self.batch_size = max(1, batch_size)
        self.operator = operator
        self.keep_images = keep_images
        self.heatmap_max_side = heatmap_max_side
        self.on_result = on_result
        self.progress = progress or ProgressState()
        self.with_pixels = with_pixels
        self.lot = lot
        self.captions = captions
        self.writer = writer
        self._lock = threading.Lock()
        self._duplicates = 0
        self._skipped = 0
        self._done = 0
        self._store_error: str | None = None
        self._not_stored = 0
        self._duplicates_flagged = 0
        self._terminated = False
        self._predict_seconds = 0.0
        self._in_flight = threading.BoundedSemaphore(4 * self.batch_size)
        self.identity = identity and recipe.identity.enabled
        self.other_objects = other_objects
        self.references = references
        self._identity_check: PartIdentityCheck | None = None
        self._identity_note: str | None = None
        self.peak_separation_s = peak_separation_s
        self.peak_prominence = peak_prominence
        self._timeline: list[TimelinePoint] = []
        self.golden = golden
        self.on_golden = on_golden
        self.recipe_path = recipe_path
        self.golden_outcome: GoldenOutcome | None = None

    # -- public ---------------------------------------------------------------------------------
    def stop(self, *, terminated: bool = False) -> None:
        """Stop as Ctrl-C does (thread- and signal-safe); ``terminated``: asked by SIGTERM."""
        self._terminated = self._terminated or terminated
        self.progress.cancel()

    def run(self) -> RunSummary:
        """Run until the source ends, cancel is asked for, or the store fails. Blocks; call from a worker."""
        info = self.detector.info
        own_writer = self.writer is None
        writer = self.writer if self.writer is not None else StoreWriter(self.store)
        post = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inspector-post")
        start = time.perf_counter()
        version = run = None
        error: str | None = None
        error_kind: str | None = None
        recipe, operator, lot, source_id = self.recipe, self.operator, self.lot, self.source.source_id
        try:
            # the one rule for every face (CLI, window): no threshold measured with other weights
            require_calibration(self.recipe, info)
            body = recipe.to_dict()
            require_signed(self.store, recipe.name, body, self.recipe_path)  # signed changes only
            # every write goes through the one writer thread
            version = writer.call(lambda s: s.save_recipe_version(recipe.name, body)).result()
            if self.golden:  # golden parts first: a wrong verdict refuses the start (or warns)
                self.golden_outcome = check_golden_parts(
                    self.store, self.recipe, self.detector, version, trigger="run-start", operator=self.operator,
                    progress=self.progress, write=lambda fn: writer.call(fn).result(),
                )  # fmt: skip
                if self.on_golden is not None:
                    self.on_golden(self.golden_outcome)
            if operator:
                writer.call(lambda s: s.upsert_operator(operator)).result()
            run = writer.call(
                lambda s: s.start_run(source=source_id, recipe_version_id=version.id, operator=operator, lot=lot)
            ).result()
            if self.identity:
                self._identity_check, self._identity_note = self._open_identity_check()
            if not self.source.opened:
                self.source.open()
            while not self.progress.cancelled and not self._store_error:
                batch = self._next_batch()
                if batch is None:
                    break
                self._process(batch, version.id, run.id, writer, post)
        except SourceError as exc:
            error, error_kind = str(exc), "source"
        except StoreError as exc:
            error, error_kind = str(exc), "store"
        finally:
            self.source.close()
            post.shutdown(wait=True)  # everything scored is handed to the writer ...
            writer.flush()  # ... and committed before the run is closed
            if run is not None:
                run_id, outcome = run.id, self._outcome(error)
                try:
                    writer.call(lambda s: s.finish_run(run_id, outcome=outcome)).result()
                except StoreError as exc:
                    if error is None:
                        error, error_kind = str(exc), "store"
            counts, wrong_parts, count_error = self._stored_counts(run)
            if count_error and error is None:
                error, error_kind = count_error, "store"
            if own_writer:
                writer.close()
        seconds = time.perf_counter() - start
        cancelled = self.progress.cancelled
        return RunSummary(
            run_id=run.id if run else "",
            recipe=self.recipe.name,
            recipe_version=version.version if version else 0,
            source=self.source.source_id,
            detector=info.detector,
            model_id=info.model_id,
            passed=counts.passed,
            failed=counts.failed,
            uncertain=counts.uncertain,
            duplicates=self._duplicates,
            skipped=self._skipped,
            dropped_frames=self.source.dropped,
            seconds=seconds,
            predict_seconds=self._predict_seconds,
            random_weights=info.random_weights,
            model_fingerprint=info.fingerprint,
            cancelled=cancelled,
            error=error or self._store_error,
            error_kind=error_kind or ("store" if self._store_error else None),
            duplicates_flagged=self._duplicates_flagged,
            not_stored=self._not_stored,
            terminated=self._terminated,
            wrong_parts=wrong_parts,
            identity_note=self._identity_note,
            timeline_peaks=tuple(self._peaks()),
        )

    def _open_identity_check(self) -> tuple[PartIdentityCheck | None, str]:
        """The recipe's identity check, with the good references' embeddings (and thresholds when uncalibrated)."""
        others = self.other_objects
        if others is None:
            others = tuple(self.store.recipe_objects(exclude=self.recipe.name))
        return identity_check_for(self.recipe, self.detector, others, references=self.references)

    def _peaks(self) -> list[Peak]:
        return recipe_peaks(
            self._timeline,
            self.recipe.threshold,
            min_separation_s=self.peak_separation_s,
            min_prominence=self.peak_prominence,
        )

    def _stored_counts(self, run) -> tuple[VerdictCounts, int, str | None]:
        """The run's verdicts and wrong parts as the store holds them (committed by now): the summary
        counts what was stored, not a tally of its own. An unreadable store gives zeros and the reason."""
        if run is None:
            return VerdictCounts(), 0, None
        where = InspectionFilter(run_id=run.id)
        try:
            counts = self.store.count_by_verdict(where, effective=False)
            return counts, self.store.count(InspectionFilter(run_id=run.id, wrong_part=True)), None
        except StoreError as exc:
            return VerdictCounts(), 0, f"The run's parts could not be counted: {exc}"

    def _outcome(self, error: str | None) -> RunOutcome:
        if error or self._store_error:
            return RunOutcome.ERROR
        if self._terminated:
            return RunOutcome.TERMINATED
        return RunOutcome.CANCELLED if self.progress.cancelled else RunOutcome.FINISHED

    # -- scoring thread ---------------------------------------------------------------------------
    def _next_batch(self) -> list[Frame] | None:
        """Up to ``batch_size`` frames: waits for the first, takes the others only if already there."""
        first = None
        while first is None:
            if self.progress.cancelled or self._store_error:
                return None
            first = self.source.read(timeout=0.2)
            if first is None and self.source.exhausted:
                return None
        batch = [first]
        while len(batch) < self.batch_size:
            frame = self.source.read(timeout=0)
            if frame is None:
                break
            batch.append(frame)
        return batch

    def _content_hash(self, frame: Frame) -> str:
        if frame.content_hash is not None:  # the hash of the very bytes that were decoded
            return frame.content_hash
        if frame.path is not None and frame.path.suffix.lower() in IMAGE_SUFFIXES:
            return sha256_file(frame.path)
        image = np.ascontiguousarray(frame.image)
        return sha256_bytes(f"{image.shape}".encode() + image.tobytes())

    def _process(
        self, batch: list[Frame], version_id: str, run_id: str, writer: StoreWriter, post: ThreadPoolExecutor
    ) -> None:
        todo: list[tuple[Frame, str]] = []
        for frame in batch:
            if not frame.ok:
                self._skip(frame, frame.error or "unreadable", run_id, writer)
                continue
            try:
                todo.append((frame, self._content_hash(frame)))
            except OSError as exc:
                self._skip(frame, f"Cannot read {frame.path}: {exc.strerror or exc}", run_id, writer)
        if not todo:
            return
        existing = self.store.find_existing([h for _, h in todo], version_id, self.detector.info.fingerprint)
        known_verdicts = self.store.model_verdicts(set(existing.values())) if existing else {}
        seen: dict[str, bool] = {}
        fresh: list[tuple[Frame, str]] = []
        for frame, digest in todo:
            if digest in existing or digest in seen:
                self._emit(
                    PartResult(
                        PartStatus.DUPLICATE,
                        frame.index,
                        frame.source_id,
                        _path(frame),
                        frame.timestamp,
                        inspection_id=existing.get(digest),
                        reason="already inspected with this recipe version and these weights",
                    )
                )
                with self._lock:
                    self._duplicates += 1
                    self._done += 1
                    if known_verdicts.get(existing.get(digest, ""), Verdict.PASS) is not Verdict.PASS:
                        self._duplicates_flagged += 1
                continue
            seen[digest] = True
            fresh.append((frame, digest))
        if len(fresh) < len(todo):
            n_known = len(todo) - len(fresh)
            self._write(writer, lambda s: s.count_duplicates(run_id, n_known))
        if not fresh:
            return
        t0 = time.perf_counter()
        with self.captions.gate.scoring() if self.captions is not None else contextlib.nullcontext():
            predictions = self.detector.predict([f.image for f, _ in fresh if f.image is not None])
            identities = [self._check_identity(f.image, p) for (f, _), p in zip(fresh, predictions, strict=True)]
        self._predict_seconds += time.perf_counter() - t0
        for (frame, digest), prediction, identity in zip(fresh, predictions, identities, strict=True):
            self._in_flight.acquire()  # bounds the memory held by parts waiting for the disk
            post.submit(self._store_part, frame, digest, prediction, version_id, run_id, writer, identity)

    def _check_identity(self, image: np.ndarray | None, prediction: AnomalyPrediction) -> IdentityResult | None:
        check = self._identity_check
        if check is None or image is None:
            return None
        clip = prediction.embedding if check.shared_clip else None
        return check.check(image, embedding=prediction.embedding, clip_embedding=clip)

    def _skip(self, frame: Frame, reason: str, run_id: str, writer: StoreWriter) -> None:
        path = _path(frame) or f"{frame.source_id}#{frame.index}"
        self._write(writer, lambda s: s.record_skip(path, reason, run_id=run_id))
        with self._lock:
            self._skipped += 1
            self._done += 1
        self._emit(
            PartResult(PartStatus.SKIPPED, frame.index, frame.source_id, _path(frame), frame.timestamp, reason=reason)
        )

    # -- post-processing thread -------------------------------------------------------------------
    def _store_part(
        self,
        frame: Frame,
        digest: str,
        prediction: AnomalyPrediction,
        version_id: str,
        run_id: str,
        writer: StoreWriter,
        identity: IdentityResult | None = None,
    ) -> None:
        try:
            verdict = self.recipe.verdict(prediction.score)
            artifacts = self.store.artifacts
            image = frame.image
            assert image is not None
            try:
                heatmap = artifacts.save_heatmap(
                    downscale_to_max_side(prediction.anomaly_map, self.heatmap_max_side), compact=True
                )
                thumbnail = artifacts.save_thumbnail(image)
                image_key = None
                flagged = verdict is not Verdict.PASS or (identity is not None and identity.wrong_part)
                if self.keep_images == "all" or (self.keep_images == "flagged" and flagged):
                    if frame.data is not None and frame.path is not None:
                        image_key = artifacts.put_bytes(frame.data, frame.path.suffix.lower() or ".bin")
                    elif frame.path is not None and frame.path.suffix.lower() in IMAGE_SUFFIXES:
                        image_key = artifacts.save_image_copy(frame.path)
                    else:
                        image_key = artifacts.put_bytes(_jpeg_bytes(image), ".jpg")
            except (OSError, StoreError) as exc:
                self._lost(frame, prediction, exc)
                return
            latency = (datetime.now(UTC) - frame.timestamp).total_seconds() * 1000.0
            caption = self._wants_caption(verdict)
            r = self.recipe
            why = review_reason(prediction.score, verdict, r.threshold, r.uncertain_band, digest, r.review)
            item = NewInspection.from_prediction(
                prediction,
                self.detector.info,
                content_hash=digest,
                recipe_version_id=version_id,
                threshold=self.recipe.threshold,
                verdict=verdict,
                source=frame.source_id,
                file_path=_path(frame),
                run_id=run_id,
                latency_ms=latency,
                image_artifact=image_key,
                heatmap_artifact=heatmap,
                thumbnail_artifact=thumbnail,
                caption_status=CaptionStatus.PENDING if caption else None,
                media_time_s=frame.media_time_s,
                frame_index=frame.index if frame.media_time_s is not None else None,
                wrong_part=identity.wrong_part if identity is not None else None,
                identity_score=identity.score if identity is not None else None,
                identity_reason=(identity.reason or None) if identity is not None else None,
                review_reason=why.value if why is not None else None,
            )
            future = writer.add(item)
            future.add_done_callback(lambda f: self._stored(f, frame, prediction, verdict, latency, caption, identity))
        except Exception as exc:  # noqa: BLE001 - never swallowed: the part is reported lost and the run stops
            log.exception("could not store the result for %s", _path(frame) or frame.index)
            self._lost(frame, prediction, exc)
        finally:
            self._in_flight.release()

    def _lost(self, frame: Frame, prediction: AnomalyPrediction, exc: BaseException) -> None:
        """A scored part that will not be stored: stop the run and say so."""
        reason = str(exc) if isinstance(exc, InspectorError) else f"{type(exc).__name__}: {exc}"
        self._on_store_error(StoreError(f"The result for {_path(frame) or frame.index} could not be stored: {reason}"))
        self._not_stored_part(frame, prediction, reason)

    def _not_stored_part(
        self, frame: Frame, prediction: AnomalyPrediction, reason: str, verdict: Verdict | None = None
    ) -> None:
        """Count a scored part that is not stored and hand on its ``ERROR`` result (why: ``reason``)."""
        with self._lock:
            self._not_stored += 1
        self._emit(
            PartResult(
                PartStatus.ERROR,
                frame.index,
                frame.source_id,
                _path(frame),
                frame.timestamp,
                score=prediction.score,
                threshold=self.recipe.threshold,
                verdict=verdict,
                reason=reason,
                random_weights=prediction.random_weights,
            )
        )

    # -- writer thread ------------------------------------------------------------------------------
    def _stored(
        self,
        future: Future,
        frame: Frame,
        prediction: AnomalyPrediction,
        verdict: Verdict,
        latency: float,
        caption: bool,
        identity: IdentityResult | None = None,
    ) -> None:
        exc = future.exception()
        if exc is not None:
            self._on_store_error(exc)
            self._not_stored_part(frame, prediction, str(exc), verdict)
            return
        stored = future.result()
        with self._lock:
            if stored.duplicate:
                self._duplicates += 1
            else:
                if frame.media_time_s is not None:
                    self._timeline.append(
                        TimelinePoint(frame.media_time_s, float(prediction.score), stored.id, frame.index)
                    )
            self._done += 1
        status = PartStatus.DUPLICATE if stored.duplicate else PartStatus.STORED
        self._emit(
            PartResult(
                status,
                frame.index,
                frame.source_id,
                _path(frame),
                frame.timestamp,
                inspection_id=stored.id,
                score=prediction.score,
                threshold=self.recipe.threshold,
                verdict=verdict,
                latency_ms=latency,
                random_weights=prediction.random_weights,
                image=frame.image if self.with_pixels else None,
                anomaly_map=prediction.anomaly_map if self.with_pixels else None,
                media_time_s=frame.media_time_s,
                wrong_part=identity.wrong_part if identity is not None else None,
                identity_reason=(identity.reason or None) if identity is not None else None,
            )
        )
        if caption and not stored.duplicate:  # stored as "pending": always hand it over (a closed
            self._submit_caption(stored.id, frame, prediction, verdict)  # scheduler reports it missing)

    def _wants_caption(self, verdict: Verdict) -> bool:
        return self.captions is not None and self.captions.wants(verdict, self.recipe.defect_classes)

    def _submit_caption(
        self, inspection_id: str, frame: Frame, prediction: AnomalyPrediction, verdict: Verdict
    ) -> None:
        if self.captions is None or frame.image is None:
            return
        try:
            self.captions.submit(
                FlaggedPart(
                    inspection_id,
                    frame.image,
                    prediction.anomaly_map,
                    prediction.score,
                    verdict,
                    self.recipe.object_name,
                    tuple(self.recipe.defect_classes),
                    self.recipe.threshold,
                )
            )
        except Exception:  # noqa: BLE001 - a caption problem never touches the verdict
            log.exception("could not queue the caption of inspection %s", inspection_id)

    def _write(self, writer: StoreWriter, fn: Callable[[InspectionStore], object]) -> None:
        """A write whose failure stops the run (it is not waited for)."""
        writer.call(fn).add_done_callback(self._check_write)

    def _check_write(self, future: Future) -> None:
        exc = future.exception()
        if exc is not None:
            self._on_store_error(exc)

    def _on_store_error(self, exc: BaseException) -> None:
        with self._lock:
            if self._store_error is None:
                self._store_error = str(exc)
                log.error("store error, stopping the run: %s", exc)

    def _emit(self, result: PartResult) -> None:
        with self._lock:
            done = self._done
        total = self.source.total or 0
        self.progress.report(done, max(total, done), result.status.value)
        if self.on_result is not None:
            try:
                self.on_result(result)
            except Exception:  # noqa: BLE001 - a listener's bug must not lose the caption hand-off
                log.exception("result listener failed for %s", result.path or result.index)


def _path(frame: Frame) -> str | None:
    """The file's absolute path (never relative to where the run was started)."""
    return str(frame.path.absolute()) if frame.path is not None else None
