"""Captions in a child process: same results as in-process, the gate reaches the child, cancel, crash."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

import pytest

from inspector.captioning import (
    Blip2Captioner,
    CaptionCancelled,
    CaptionScheduler,
    DefectTypeClassifier,
    FlaggedPart,
    NoCaptioner,
    ProcessCaptioner,
    ScoringGate,
    create_caption_scheduler,
    create_captioner,
    process_isolation_available,
    store_callback,
)
from inspector.core.registry import ModelSpec
from inspector.errors import WeightsMissingError
from inspector.store import CaptionStatus, StoreWriter, Verdict, open_store
from tests.captioning.conftest import TINY_CLIP, blob_map, content_hash, part_image
from tests.helpers import failed_part

pytestmark = pytest.mark.skipif(not process_isolation_available(), reason="needs POSIX")
CLASSES = ("scratch", "crack", "hole")

# A new caption child loads torch and its model: minutes on a loaded 2-core machine (a deadline, not a pace)
WAIT_S = 600


@pytest.fixture(scope="module")
def child(blip2_spec, tokenizer):
    template = Blip2Captioner(
        blip2_spec, device="cpu", dtype="float32", random_weights=True, tokenizer=tokenizer, max_new_tokens=12
    )
    classifier = DefectTypeClassifier(
        model=ModelSpec.from_dict(TINY_CLIP), device="cpu", dtype="float32", random_weights=True
    )
    captioner = ProcessCaptioner(template, classifier, gate=ScoringGate())
    captioner.load()
    yield captioner
    captioner.close()
    captioner.gate.close()


def test_same_caption_and_defect_type_as_in_process(child, tiny_blip2):
    assert child.loaded and child.runtime_info == {"device": "cpu", "dtype": "float32"}
    prompt = child.prompt_for("screw")
    assert prompt == tiny_blip2.prompt_for("screw")
    remote = child.caption(part_image(0), prompt)
    local = tiny_blip2.caption(part_image(0), prompt)  # same architecture, same (seeded) weights
    assert remote.text == local.text and remote.new_tokens == local.new_tokens
    assert remote.random_weights and remote.model_id == "tiny-blip2"
    defect = child.classify(part_image(0), "screw", CLASSES)
    assert defect.label in CLASSES and abs(sum(p for _, p in defect.probabilities) - 1) < 1e-6
    assert child.classify(part_image(0), "screw", ()) is None


def test_the_child_waits_while_the_station_scores(child):
    done = threading.Event()
    results = []
    with child.gate.scoring():
        worker = threading.Thread(
            target=lambda: (results.append(child.caption(part_image(1), "a photo of")), done.set())
        )
        worker.start()
        assert not done.wait(0.6)  # paused at its first layer
    assert done.wait(120)
    assert results[0].new_tokens > 0


def test_cancel_stops_the_job_and_the_child_stays_usable(child):
    pid = child._proc.pid
    calls = []

    def checkpoint():
        calls.append(1)
        if len(calls) > 3:
            raise CaptionCancelled("station stopped before captioning")

    # the child is kept paused (scoring) so that the job still runs when it is cancelled
    with child.gate.scoring(), pytest.raises(CaptionCancelled):
        child.caption(part_image(2), "a photo of", checkpoint=checkpoint)
    assert child._proc.pid == pid and child.loaded
    assert child.caption(part_image(2), "a photo of").new_tokens > 0


def test_missing_weights_are_reported_at_once_or_from_the_child():
    captioner = ProcessCaptioner(create_captioner("blip-base"))
    with pytest.raises(WeightsMissingError, match="inspector models import"):
        captioner.load()
    assert captioner._proc is None  # known without starting a process
    defect_only = ProcessCaptioner(NoCaptioner(), DefectTypeClassifier())  # clip-vit-b-16 is not here
    try:
        defect_only.load()
        with pytest.raises(WeightsMissingError, match="clip-vit-b-16"):
            defect_only.classify(part_image(3), "screw", CLASSES)
        assert defect_only.loaded  # the child reported the error and goes on
    finally:
        defect_only.close()


def test_create_caption_scheduler_wiring(tiny_clip):
    from inspector.detectors.winclip import WinClipDetector

    results = []
    scheduler = create_caption_scheduler(lambda i, o: results.append(o), captioner="none", defect_types=False)
    assert not isinstance(scheduler.captioner, ProcessCaptioner) and scheduler.classifier is None
    scheduler.close()
    detector = WinClipDetector(tiny_clip, "screw")
    scheduler = create_caption_scheduler(
        lambda i, o: results.append(o), captioner="blip-base", detector=detector, isolate=False
    )
    assert scheduler.classifier.load() is tiny_clip  # WinCLIP's own CLIP model, shared in-process
    scheduler.close()
    scheduler = create_caption_scheduler(
        lambda i, o: results.append(o), captioner="blip2-opt-2.7b", detector=detector, isolate=True
    )
    assert isinstance(scheduler.captioner, ProcessCaptioner)
    assert scheduler.classifier.model_id == "tiny-clip"  # the child loads the same CLIP model
    assert scheduler.captioner.gate is scheduler.gate
    scheduler.close()
    scheduler.captioner.close()


def test_scheduler_with_a_child_end_to_end_and_a_crash(tmp_path, child):
    store = open_store(tmp_path / "db.sqlite")
    writer = StoreWriter(store)
    recipe = store.save_recipe_version("bracket", {"object_name": "bracket"})
    ids = [
        writer.add(
            failed_part(
                content_hash(i),
                recipe.id,
                caption_status=CaptionStatus.PENDING,
            )
        )
        .result(60)
        .id
        for i in range(3)
    ]
    captioner = child
    scheduler = CaptionScheduler(
        captioner, store_callback(writer), classifier=captioner.classifier(), gate=captioner.gate
    )

    def part(i):
        return FlaggedPart(
            ids[i], part_image(i, (96, 128)), blob_map((96, 128), [(30, 30)]), 0.9, Verdict.FAIL, "bracket", CLASSES
        )

    scheduler.submit(part(0))
    assert scheduler.wait_idle(WAIT_S)
    writer.flush(10)
    record = store.get(ids[0])
    assert record.caption_status == CaptionStatus.DONE and record.caption.startswith("[random weights] ")
    assert record.defect_type in CLASSES

    # the child dies in the middle of a caption (as when the system runs out of memory): the station
    # starts scoring just as the caption is sent, so the child is paused inside the job when it dies
    sent = threading.Event()
    request = captioner._request

    def scoring_starts(payload, checkpoint, **kwargs):
        if payload[0] == "caption" and not sent.is_set():
            scheduler.gate.enter()
            conn = captioner._conn
            send = conn.send

            def send_then_tell(message):  # the child is killed only once it has the job
                send(message)
                conn.send = send
                sent.set()

            conn.send = send_then_tell
        return request(payload, checkpoint, **kwargs)

    captioner._request = scoring_starts
    scheduler.submit(part(1))
    assert sent.wait(WAIT_S)
    os.kill(captioner._proc.pid, signal.SIGKILL)
    scheduler.gate.exit()
    assert scheduler.wait_idle(WAIT_S)
    writer.flush(10)
    record = store.get(ids[1])
    assert record.caption_status == CaptionStatus.MISSING
    assert record.caption_reason.startswith(
        "captioner failed: caption process: the caption process stopped unexpectedly (killed - probably out of memory)"
    )
    assert record.model_verdict == Verdict.FAIL

    scheduler.submit(part(2))  # a new child is started for the next part
    assert scheduler.wait_idle(WAIT_S)
    scheduler.close()
    writer.close()
    assert store.get(ids[2]).caption_status == CaptionStatus.DONE
    assert captioner.loaded
    store.close()


@pytest.mark.parametrize(
    ("last_words", "reason"),
    [("raise SystemExit(7)", "exit code 7"), ("os.kill(os.getpid(), 9)", "killed - probably out of memory")],
)
def test_the_cause_of_death_is_read_after_the_child_is_reaped(last_words, reason):
    """The pipe closes before the exit is registered: the reason must not be 'exit code None'."""

    captioner = ProcessCaptioner(NoCaptioner())
    # a child whose pipe is already gone but that takes a moment to exit, as under load
    captioner._proc = subprocess.Popen([sys.executable, "-c", f"import os, time; time.sleep(0.5); {last_words}"])
    error = captioner._died(loading=False)
    assert reason in str(error), error
    assert captioner._proc is None
