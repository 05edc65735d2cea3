"""Captions through the station session: stored after the verdicts, announced once committed."""

from __future__ import annotations

from inspector.captioning import CaptionScheduler, DefectTypeClassifier
from inspector.pipeline import CaptionStored, PartStored, RunRequest, SessionConfig, open_session
from inspector.sources import SourceKind, SourceSpec
from inspector.store import CaptionStatus
from tests.helpers import bracket_recipe, write_parts


def test_the_session_captions_flagged_parts_and_announces_each_caption(tmp_path, tiny_registry, tiny_blip, tiny_clip):
    recipe = bracket_recipe(tmp_path / "ref.png", defect_classes=("scratch", "dent"))
    write_parts(tmp_path / "parts", 4, defect_every=1)
    made = []

    def factory(on_result, **options):
        made.append(options)
        return CaptionScheduler(tiny_blip, on_result, classifier=DefectTypeClassifier(tiny_clip))

    config = SessionConfig(
        database=tmp_path / "db.sqlite",
        device="cpu",
        dtype="float32",
        random_weights=True,
        captioner="blip-base",
        caption_factory=factory,
    )
    with open_session(config) as session:
        flagged, captions = [], []
        session.subscribe(lambda n: flagged.append(n.result) if n.result.verdict.value != "pass" else None, PartStored)

        def on_caption(note: CaptionStored) -> None:  # already committed when announced
            record = session.store.get(note.inspection_id)
            captions.append((note.inspection_id, record.caption_status, record.caption == note.outcome.caption))

        session.subscribe(on_caption, CaptionStored)
        summary = session.run(RunRequest(recipe, SourceSpec(SourceKind.FOLDER, tmp_path / "parts")))
        assert session.wait_captions(120)
        session.writer.flush()
        assert flagged and summary.failed + summary.uncertain == len(flagged)
        assert sorted(c[0] for c in captions) == sorted(r.inspection_id for r in flagged)
        assert all(status is CaptionStatus.DONE and same for _id, status, same in captions)
        assert made[0]["captioner"] == "blip-base" and made[0]["random_weights"]
        session.set_captioner("none")  # closes the scheduler; the next run has no captions
        assert session.captions is None
