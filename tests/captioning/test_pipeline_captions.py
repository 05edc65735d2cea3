"""Captions end to end: pipeline (tiny DINOv2) -> verdicts stored -> tiny BLIP/BLIP-2 captions -> database."""

from __future__ import annotations

import threading

import pytest

from inspector.captioning import store_callback
from inspector.captioning.defect_type import DefectTypeClassifier
from inspector.captioning.scheduler import CaptionScheduler
from inspector.core.types import Verdict
from inspector.pipeline import InspectionPipeline, PartStatus
from inspector.sources import make_source
from inspector.store import CaptionStatus, StoreWriter, open_store
from tests.helpers import bracket_recipe, fitted_tiny_dino, write_parts

CLASSES = ("scratch", "dent", "stain")


@pytest.mark.parametrize("name", ["tiny_blip", "tiny_blip2"])
def test_flagged_parts_get_captions_and_defect_types_in_the_database(name, request, tmp_path, tiny_registry, tiny_clip):
    captioner = request.getfixturevalue(name)
    recipe = bracket_recipe(tmp_path / "ref.png", defect_classes=CLASSES)
    detector = fitted_tiny_dino(recipe)
    write_parts(tmp_path / "parts", 9)
    with open_store(tmp_path / "db.sqlite") as store:
        writer = StoreWriter(store)
        scheduler = CaptionScheduler(captioner, store_callback(writer), classifier=DefectTypeClassifier(tiny_clip))
        gate_entered = threading.Event()
        real_scoring = scheduler.gate.scoring

        def scoring():
            gate_entered.set()
            return real_scoring()

        scheduler.gate.scoring = scoring
        results = []
        pipeline = InspectionPipeline(
            recipe,
            detector,
            store,
            make_source(tmp_path / "parts"),
            batch_size=3,
            on_result=results.append,
            captions=scheduler,
        )
        summary = pipeline.run()
        assert scheduler.wait_idle(60)
        scheduler.close()
        writer.close()
        assert gate_entered.is_set()  # scoring ran inside the caption gate
        flagged = [r for r in results if r.status is PartStatus.STORED and r.verdict is not Verdict.PASS]
        passed = [r for r in results if r.status is PartStatus.STORED and r.verdict is Verdict.PASS]
        assert flagged and passed and summary.failed + summary.uncertain == len(flagged)
        for r in flagged:
            record = store.get(r.inspection_id)
            assert record.model_verdict == r.verdict  # the verdict stands, whatever the captioner does
            assert record.caption_status == CaptionStatus.DONE
            assert record.caption.startswith("[random weights]")
            assert record.defect_type in CLASSES and record.defect_confidence > 0
        for r in passed:  # passed parts are not captioned
            record = store.get(r.inspection_id)
            assert record.caption_status is None and record.caption is None
