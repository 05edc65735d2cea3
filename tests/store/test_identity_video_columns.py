"""Schema 8: video frame time and index, and the part-identity verdict, stored, read back and filtered."""

from __future__ import annotations

from inspector.core.types import Verdict
from inspector.store import InspectionFilter, NewInspection, open_store
from inspector.store.domain import WRONG_PART_LABEL


def _part(n: int, version_id: str, **extra) -> NewInspection:
    return NewInspection(
        content_hash=f"{n:064x}",
        recipe_version_id=version_id,
        score=0.2,
        threshold=0.5,
        verdict=Verdict.PASS,
        detector="anomalydino",
        model_id="dinov2-small",
        **extra,
    )


def test_frame_time_and_wrong_part_round_trip_and_filter(tmp_path):
    with open_store(tmp_path / "s.db") as store:
        version = store.save_recipe_version("line", {"object_name": "ball screw"}).id
        right = _part(1, version, media_time_s=1.5, frame_index=45, wrong_part=False, identity_score=0.9)
        wrong = _part(
            2, version, wrong_part=True, identity_score=0.1, identity_reason="looks more like a magnetic tile"
        )
        unchecked = _part(3, version)
        assert store.add_inspections([right, wrong, unchecked]).n_inserted == 3
        rows = {r.id: r for r in store.query(InspectionFilter())}
        assert rows[right.id].media_time_s == 1.5 and rows[right.id].frame_index == 45
        assert rows[right.id].wrong_part is False and rows[right.id].verdict_label == "PASS"
        assert rows[wrong.id].wrong_part is True and rows[wrong.id].verdict_label == WRONG_PART_LABEL
        assert rows[wrong.id].identity_reason == "looks more like a magnetic tile"
        assert rows[unchecked.id].wrong_part is None and rows[unchecked.id].media_time_s is None
        assert [r.id for r in store.query(InspectionFilter(wrong_part=True))] == [wrong.id]
        assert {r.id for r in store.query(InspectionFilter(wrong_part=False))} == {right.id, unchecked.id}
