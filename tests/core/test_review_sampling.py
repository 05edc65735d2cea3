"""Auto-collection for review: which parts are queued, and why, decided from the score and the part."""

from __future__ import annotations

import hashlib

import pytest

from inspector.core.recipe import Recipe
from inspector.core.review_sampling import ReviewReason, ReviewSampling, review_reason, sample_draw
from inspector.core.types import Verdict
from inspector.errors import RecipeError


def h(i: int) -> str:
    return hashlib.sha256(f"part-{i}".encode()).hexdigest()


def test_reasons_in_order_uncertain_near_threshold_sample():
    s = ReviewSampling(near_threshold=0.1, pass_sample_rate=0.0)
    band = (0.4, 0.6)
    assert review_reason(0.5, Verdict.UNCERTAIN, 0.5, band, h(0), s) is ReviewReason.UNCERTAIN
    assert review_reason(0.37, Verdict.PASS, 0.5, band, h(0), s) is ReviewReason.NEAR_THRESHOLD  # 0.03 <= 0.04
    assert review_reason(0.35, Verdict.PASS, 0.5, band, h(0), s) is None  # 0.05 > 0.04
    assert review_reason(0.65, Verdict.FAIL, 0.5, band, h(0), s) is ReviewReason.NEAR_THRESHOLD  # 0.05 <= 0.06
    assert review_reason(0.9, Verdict.FAIL, 0.5, band, h(0), s) is None  # failed far above: listed anyway
    assert review_reason(0.46, Verdict.PASS, 0.5, None, h(0), s) is ReviewReason.NEAR_THRESHOLD
    assert review_reason(0.44, Verdict.PASS, 0.5, None, h(0), s) is None


def test_the_spot_check_sample_is_fixed_by_seed_and_part_and_has_the_rate():
    s = ReviewSampling(near_threshold=0.0, pass_sample_rate=0.05, seed=7)
    chosen = [i for i in range(4000) if review_reason(0.1, Verdict.PASS, 0.5, None, h(i), s) is ReviewReason.SAMPLE]
    assert chosen == [i for i in range(4000) if sample_draw(7, h(i)) < 0.05]  # same parts every time
    assert 160 <= len(chosen) <= 240  # 4000 x 5 % = 200; these 4000 hashes give a fixed count inside 4 sigma
    other_seed = [i for i in range(4000) if sample_draw(8, h(i)) < 0.05]
    assert chosen != other_seed
    assert review_reason(0.9, Verdict.FAIL, 0.5, None, h(chosen[0]), s) is None  # only passed parts are sampled
    assert sample_draw(7, h(1)) == int.from_bytes(hashlib.sha256(f"7:{h(1)}".encode()).digest()[:8], "big") / 2**64


def test_recipe_keeps_review_settings_and_its_old_body_when_default():
    plain = Recipe(name="r")
    assert "review" not in plain.to_dict()
    tuned = Recipe(name="r", review=ReviewSampling(near_threshold=0.1, pass_sample_rate=0.02, seed=3))
    again = Recipe.from_dict(tuned.to_dict())
    assert again.review == tuned.review
    body = {**plain.to_dict(), "review": {"pass_sample_rate": 2.0}}
    with pytest.raises(RecipeError, match="review.pass_sample_rate"):
        Recipe.from_dict(body)
