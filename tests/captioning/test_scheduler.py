"""The caption scheduler end to end into a real database: ordering, skipping, switching off, stopping,
timeouts, failures, the scoring gate, and the tiny BLIP-2 / BLIP models with a tiny CLIP."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from inspector.captioning import (
    CaptionOutcome,
    CaptionPrompt,
    CaptionResult,
    CaptionScheduler,
    FlaggedPart,
    NoCaptioner,
    ResultStatus,
    ScoringGate,
    create_captioner,
    store_callback,
)
from inspector.captioning.defect_type import DefectTypeClassifier
from inspector.captioning.scheduler import FELL_BEHIND, STOPPED, SWITCHED_OFF
from inspector.errors import WeightsMissingError
from inspector.store import CaptionStatus, StoreWriter, Verdict, open_store
from tests.captioning.conftest import blob_map, content_hash, part_image
from tests.helpers import failed_part

CLASSES = ("scratch", "crack", "hole", "contamination")


class FakeCaptioner:
    """A captioner without a model: ``steps`` checkpoints ``step_s`` apart, optionally held or failing."""

    model_id = "fake"

    def __init__(
        self,
        steps: int = 3,
        step_s: float = 0.0,
        fail: BaseException | None = None,
        hold: threading.Event | None = None,
    ):
        self.steps, self.step_s, self.fail, self.hold = steps, step_s, fail, hold
        self.loaded = False
        self.load_thread: str | None = None
        self.order: list[str] = []
        self.started = threading.Event()

    def load(self) -> None:
        self.load_thread = threading.current_thread().name
        self.loaded = True

    def prompt_for(self, object_name: str, defect_classes=()) -> CaptionPrompt:
        return CaptionPrompt(f"What defect is on this {object_name}?")

    def caption(self, image, prompt, *, checkpoint=None) -> CaptionResult:
        self.order.append(int(image[0, 0, 0]))
        self.started.set()
        while self.hold is not None and not self.hold.is_set():
            checkpoint()
            time.sleep(0.005)
        for _ in range(self.steps):
            checkpoint()
            time.sleep(self.step_s)
        if self.fail is not None:
            raise self.fail
        return CaptionResult(
            text=f"A scratch ({image.shape[1]}x{image.shape[0]})", status=ResultStatus.OK, model_id=self.model_id
        )

    def close(self) -> None:
        self.loaded = False


@pytest.fixture
def db(tmp_path):
    store = open_store(tmp_path / "db.sqlite", busy_timeout_s=1.0)
    writer = StoreWriter(store)
    recipe = store.save_recipe_version("bracket-A", {"object_name": "bracket", "defect_classes": list(CLASSES)})
    yield store, writer, recipe.id
    writer.close()
    store.close()


def _parts(db, n: int, start: int = 0, verdict: Verdict = Verdict.FAIL, image_size=(64, 96)) -> list[FlaggedPart]:
    """Store ``n`` inspections (verdict first, caption pending) and make their flagged parts."""
    store, writer, recipe_id = db
    parts = []
    for i in range(start, start + n):
        item = failed_part(
            content_hash(i),
            recipe_id,
            verdict=verdict,
            caption_status=CaptionStatus.PENDING,
        )
        stored = writer.add(item).result(60)
        image = part_image(i, image_size)
        image[..., 0] = i  # the fake captioner's tag: which part it saw (in any crop)
        amap = blob_map(image_size, [(70, 20)], sigma=3.0)
        parts.append(FlaggedPart(stored.id, image, amap, 0.9, verdict, "bracket", CLASSES))
    return parts


def _scheduler(db, captioner, **kwargs):
    store, writer, _ = db
    results: list[tuple[str, CaptionOutcome]] = []
    errors: list[BaseException] = []
    then = lambda iid, outcome: results.append((iid, outcome))  # noqa: E731
    scheduler = CaptionScheduler(captioner, store_callback(writer, then), on_error=errors.append, **kwargs)
    return scheduler, results, errors


def _settle(scheduler, writer):
    assert scheduler.wait_idle(120)
    writer.flush(60)


# -- the gate --------------------------------------------------------------------------------------
def test_gate_lets_captions_run_only_when_scoring_is_idle():
    gate = ScoringGate(resume_after_s=0.05)
    assert gate.wait_turn() < 1.0  # never scored: go at once (nothing to wait for)
    gate.enter()
    done = threading.Event()
    waited = []
    threading.Thread(target=lambda: (waited.append(gate.wait_turn()), done.set())).start()
    assert not done.wait(0.2)
    gate.exit()
    assert done.wait(60) and waited[0] >= 0.2  # it waited at least as long as scoring lasted
    with gate.scoring():
        assert gate.busy
        cancel = threading.Event()
        threading.Timer(0.05, lambda: (cancel.set(), gate.wake())).start()
        assert gate.wait_turn(cancel.is_set) < 60  # a cancelled caption stops waiting (else: forever)


def test_gate_busy_share_lets_some_work_through():
    gate = ScoringGate(busy_share=0.25, max_burst_s=0.02)
    with gate.scoring():
        start = time.monotonic()
        for _ in range(5):
            gate.wait_turn()
            time.sleep(0.02)  # "caption work" charged at the next turn
        elapsed = time.monotonic() - start
    assert elapsed > 0.25  # ~0.1 s of work at a 25% share: at least ~0.4 s (more on a loaded machine)


# -- scheduling, into the database -------------------------------------------------------------------
def test_captions_land_beside_the_stored_verdicts(db):
    store, writer, _ = db
    captioner = FakeCaptioner()
    scheduler, results, errors = _scheduler(db, captioner)
    parts = _parts(db, 3)
    assert all(scheduler.wants(p.verdict) for p in parts) and not scheduler.wants(Verdict.PASS)
    for part in parts:
        assert scheduler.submit(part)
    _settle(scheduler, writer)
    scheduler.close()
    assert captioner.load_thread == "inspector-captions"  # loaded lazily, on the caption thread
    assert len(results) == 3 and not errors
    for part in parts:
        record = store.get(part.inspection_id)
        assert record.model_verdict == Verdict.FAIL and record.effective_verdict == Verdict.FAIL
        assert record.caption_status == CaptionStatus.DONE
        assert record.caption.startswith("A scratch (")  # the crop around the blob, not the 96x64 image
        assert record.caption != "A scratch (96x64)"
        assert record.defect_type is None and record.caption_reason is None
    outcome = dict(results)[parts[0].inspection_id]
    x0, y0, x1, y1 = outcome.crop_box
    assert x0 <= 70 < x1 and y0 <= 20 < y1


def test_newest_first_and_oldest_dropped_when_behind(db):
    store, writer, _ = db
    hold = threading.Event()
    captioner = FakeCaptioner(hold=hold)
    scheduler, results, _ = _scheduler(db, captioner, max_pending=2)
    a, b, c, d, e = _parts(db, 5)
    scheduler.submit(a)
    assert captioner.started.wait(60)  # A is being captioned
    for part in (b, c, d, e):
        scheduler.submit(part)
    assert scheduler.pending == 3 and scheduler.skipped == 2
    hold.set()
    _settle(scheduler, writer)
    scheduler.close()
    assert captioner.order == [0, 4, 3]  # A, then the newest (E) before D
    for dropped in (b, c):
        record = store.get(dropped.inspection_id)
        assert record.caption_status == CaptionStatus.MISSING and record.caption_reason == FELL_BEHIND
    for done in (a, d, e):
        assert store.get(done.inspection_id).caption_status == CaptionStatus.DONE
    assert len(results) == 5


def test_switching_off(db):
    store, writer, _ = db
    hold = threading.Event()
    captioner = FakeCaptioner(hold=hold)
    scheduler, _, _ = _scheduler(db, captioner, enabled=False)
    (a, b, c, d) = _parts(db, 4)
    assert not scheduler.wants(Verdict.FAIL)
    assert not scheduler.submit(a)  # refused at once, recorded as missing
    scheduler.set_enabled(True)
    scheduler.submit(b)
    assert captioner.started.wait(60)
    scheduler.submit(c)
    scheduler.set_enabled(False)  # stops B in progress, drops C
    _settle(scheduler, writer)
    for part in (a, b, c):
        record = store.get(part.inspection_id)
        assert record.caption_status == CaptionStatus.MISSING and record.caption_reason == SWITCHED_OFF
    hold.set()
    scheduler.set_enabled(True)
    scheduler.submit(d)
    _settle(scheduler, writer)
    scheduler.close()
    assert store.get(d.inspection_id).caption_status == CaptionStatus.DONE


def test_stopping_marks_the_rest_missing(db):
    store, writer, _ = db
    captioner = FakeCaptioner(hold=threading.Event())  # never finishes by itself
    scheduler, results, _ = _scheduler(db, captioner)
    a, b, c = _parts(db, 3)
    scheduler.submit(a)
    assert captioner.started.wait(60)
    scheduler.submit(b)
    scheduler.close(timeout=60)
    assert not scheduler.running
    assert not scheduler.submit(c)
    writer.flush(60)
    assert len(results) == 3
    for part in (a, b, c):
        record = store.get(part.inspection_id)
        assert record.caption_status == CaptionStatus.MISSING and record.caption_reason == STOPPED
        assert record.model_verdict == Verdict.FAIL


def test_slow_captioner_times_out_but_waiting_for_scoring_does_not_count(db):
    store, writer, _ = db
    captioner = FakeCaptioner(steps=40, step_s=0.01)  # ~0.4 s of work
    scheduler, _, _ = _scheduler(db, captioner, timeout_s=0.15)
    (slow,) = _parts(db, 1)
    scheduler.submit(slow)
    _settle(scheduler, writer)
    record = store.get(slow.inspection_id)
    assert record.caption_status == CaptionStatus.MISSING
    assert record.caption_reason == "captioner too slow: no caption within 0.15 s"
    scheduler.close()

    # ~0.01 s of work, paused for 3 s of scoring: only the work counts against the 2 s limit (the
    # margins hold on a loaded machine: the work would have to be 200 times slower to time out)
    captioner = FakeCaptioner(steps=10, step_s=0.001)
    scheduler, results, _ = _scheduler(db, captioner, timeout_s=2.0)
    (part,) = _parts(db, 1, start=1)
    scheduler.gate.enter()
    scheduler.submit(part)
    time.sleep(3.0)  # scoring takes this long (not a synchronisation: the caption must wait it out)
    assert store.get(part.inspection_id).caption_status == CaptionStatus.PENDING  # waits for scoring
    scheduler.gate.exit()
    _settle(scheduler, writer)
    scheduler.close()
    assert store.get(part.inspection_id).caption_status == CaptionStatus.DONE
    assert results[0][1].waited_s >= 2.9 and results[0][1].seconds < 2.0


def test_failing_captioner_keeps_the_verdict_and_says_why(db):
    store, writer, _ = db
    scheduler, results, errors = _scheduler(db, FakeCaptioner(fail=RuntimeError("out of memory")))
    parts = _parts(db, 2)
    for part in parts:
        scheduler.submit(part)
    _settle(scheduler, writer)
    assert scheduler.running  # the worker goes on
    scheduler.close()
    for part in parts:
        record = store.get(part.inspection_id)
        assert record.caption_status == CaptionStatus.MISSING
        assert record.caption_reason == "captioner failed: RuntimeError: out of memory"
        assert record.model_verdict == Verdict.FAIL and record.score == 0.9
    assert len(errors) == 1  # the same error is reported to the window once


def test_broken_callback_does_not_stop_the_worker(db):
    _, writer, _ = db
    calls = []

    def on_result(iid, outcome):
        calls.append(iid)
        raise ValueError("window gone")

    scheduler = CaptionScheduler(FakeCaptioner(), on_result)
    for part in _parts(db, 2):
        scheduler.submit(part)
    assert scheduler.wait_idle(10) and len(calls) == 2 and scheduler.running
    scheduler.close()


def test_preload_on_the_caption_thread(db):
    captioner = FakeCaptioner()
    scheduler, _, _ = _scheduler(db, captioner)
    scheduler.preload()
    deadline = time.monotonic() + 60
    while not captioner.loaded and time.monotonic() < deadline:
        time.sleep(0.01)
    scheduler.close()
    assert captioner.load_thread == "inspector-captions"


# -- with the tiny real architectures ------------------------------------------------------------------
@pytest.mark.parametrize("name", ["tiny_blip2", "tiny_blip"])
def test_end_to_end_with_tiny_models(name, request, db, tiny_clip):
    store, writer, _ = db
    captioner = request.getfixturevalue(name)
    classifier = DefectTypeClassifier(tiny_clip)
    scheduler, results, errors = _scheduler(db, captioner, classifier=classifier)
    parts = _parts(db, 2, image_size=(120, 160)) + _parts(db, 1, start=2, verdict=Verdict.UNCERTAIN)
    for part in parts:
        assert scheduler.wants(part.verdict)
        scheduler.submit(part)
    _settle(scheduler, writer)
    scheduler.close()
    assert not errors
    for part in parts:
        record = store.get(part.inspection_id)
        assert record.model_verdict == part.verdict
        assert record.caption_status == CaptionStatus.DONE
        assert record.caption.startswith("[random weights] ")
        assert "random weights" in record.caption_reason
        assert record.defect_type in CLASSES
        assert 1 / len(CLASSES) <= record.defect_confidence <= 1.0
    outcome = results[-1][1]
    assert outcome.model_id == captioner.model_id and outcome.random_weights and outcome.seconds > 0


def test_missing_weights_leave_the_caption_missing_but_defect_type_done(db, tiny_clip):
    store, writer, _ = db
    scheduler, _, errors = _scheduler(db, create_captioner("blip-base"), classifier=DefectTypeClassifier(tiny_clip))
    parts = _parts(db, 2)
    for part in parts:
        scheduler.submit(part)
    _settle(scheduler, writer)
    scheduler.close()
    for part in parts:
        record = store.get(part.inspection_id)
        assert record.caption_status == CaptionStatus.MISSING and record.caption is None
        assert record.caption_reason.startswith("captioner unavailable: The weights of model 'blip-base'")
        assert record.defect_type in CLASSES
    assert len(errors) == 1 and isinstance(errors[0], WeightsMissingError)


def test_no_captioner_still_names_the_defect_type(db, tiny_clip):
    store, writer, _ = db
    scheduler, _, _ = _scheduler(db, NoCaptioner(), classifier=DefectTypeClassifier(tiny_clip))
    (part,) = _parts(db, 1)
    no_classes = FlaggedPart(part.inspection_id, part.image, None, 0.9, Verdict.FAIL, "bracket", ())
    assert scheduler.wants(Verdict.FAIL, CLASSES) and not scheduler.wants(Verdict.FAIL, ())
    without_classifier = CaptionScheduler(NoCaptioner(), lambda i, o: None)
    assert not without_classifier.wants(Verdict.FAIL, CLASSES)  # nothing to do: do not mark it pending
    without_classifier.close()
    scheduler.submit(part)
    _settle(scheduler, writer)
    record = store.get(part.inspection_id)
    assert record.caption_status == CaptionStatus.MISSING and record.caption is None
    assert "captions are set to 'none'" in record.caption_reason
    assert "random weights" in record.caption_reason  # the tiny CLIP's guess is marked too
    assert record.defect_type in CLASSES
    scheduler.submit(no_classes)
    _settle(scheduler, writer)
    scheduler.close()
    assert store.get(part.inspection_id).defect_type is None


def test_flat_or_missing_map_captions_the_whole_part(db, tiny_blip):
    store, writer, _ = db
    scheduler, results, _ = _scheduler(db, tiny_blip)
    (part,) = _parts(db, 1)
    scheduler.submit(
        FlaggedPart(part.inspection_id, part.image, np.zeros((8, 8), np.float32), 0.9, Verdict.FAIL, "bracket")
    )
    _settle(scheduler, writer)
    scheduler.close()
    assert results[0][1].crop_box == (0, 0, 96, 64)
    assert store.get(part.inspection_id).caption_status == CaptionStatus.DONE


def test_a_cancel_after_the_gate_closed_leaves_no_control_file_behind():
    import os

    from inspector.captioning.gate import GATE_PREFIX, _shm_dir
    from inspector.core.processes import process_tag

    folder = _shm_dir() or __import__("tempfile").gettempdir()

    def ours() -> set[str]:
        return {n for n in os.listdir(folder) if n.startswith(f"{GATE_PREFIX}{process_tag()}-")}

    before = ours()
    gate = ScoringGate()
    gate.share()  # the caption process's control block exists
    assert len(ours() - before) == 1
    gate.close()
    assert ours() == before
    gate.cancel_job(7)  # e.g. the scheduler cancelling while it shuts down
    assert ours() == before  # no new block that nobody would ever remove
