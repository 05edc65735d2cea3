"""Parts queued for review at store time by a real pipeline run, with the reason stored."""

from __future__ import annotations

from dataclasses import replace

from inspector.core.review_sampling import ReviewSampling, review_reason
from inspector.store import InspectionFilter
from inspector.store.labels import waiting_for_review
from tests.helpers import write_parts
from tests.pipeline.test_pipeline import run, setup  # noqa: F401 - the shared tiny-detector fixture


def test_a_run_queues_uncertain_near_and_sampled_parts_with_their_reason(tmp_path, setup):  # noqa: F811
    recipe, detector, store = setup
    recipe = replace(recipe, review=ReviewSampling(near_threshold=0.2, pass_sample_rate=0.5, seed=1))
    write_parts(tmp_path / "parts", 12)
    summary, _results = run(recipe, detector, store, tmp_path / "parts")
    records = store.query(InspectionFilter(), limit=100)
    assert len(records) == 12 == summary.inspected
    for r in records:
        expected = review_reason(r.score, r.model_verdict, 0.05, (0.04, 0.06), r.content_hash, recipe.review)
        assert r.review_reason == (expected.value if expected else None)
    queued = {r.id for r in records if r.review_reason}
    assert queued  # random tiny weights: the scores vary, but half of the passed parts are sampled anyway
    assert {r.id for r in store.query(InspectionFilter(to_review=True), limit=100)} == queued
    counts = waiting_for_review(store)
    assert sum(counts.values()) == len(queued)
    first = next(iter(queued))
    store.add_override(first, "ana", store.get(first).model_verdict)  # reviewed: no longer waiting
    assert sum(waiting_for_review(store).values()) == len(queued) - 1
    assert store.count(InspectionFilter(to_review=True)) == len(queued) - 1
