"""Recipe operations that need a detector: calibration and fitting from the recipe's references."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from inspector.core.calibration import Calibration, calibrate_threshold
from inspector.core.images import load_image
from inspector.core.progress import ProgressState
from inspector.core.recipe import Recipe
from inspector.detectors.base import Detector
from inspector.errors import RecipeError


def reference_images(recipe: Recipe) -> list:
    if recipe.few_shot and not recipe.references:
        raise RecipeError(
            f"Recipe '{recipe.name}' uses {recipe.detector}, which needs good reference images; the recipe lists none."
        )
    return [load_image(Path(p)) for p in recipe.references]


def good_scores(
    recipe: Recipe, detector: Detector, held_out: Sequence[Path] = (), progress: ProgressState | None = None
) -> tuple[list[float], str]:
    """Scores of good parts the detector did not learn from, and how they were obtained.

    With held-out good images: the detector is fitted on all references and scores those images.
    Otherwise, for a few-shot detector: leave-one-out over the references (each scored by a detector
    fitted on the others). A zero-shot detector scores the references directly.
    """
    progress = progress or ProgressState()
    refs = reference_images(recipe)
    held = [load_image(Path(p)) for p in held_out] or [load_image(Path(p)) for p in recipe.calibration_images]
    if held:
        if detector.needs_references:
            detector.fit(refs)
        scores = []
        for i, image in enumerate(held):
            progress.check()
            scores.append(detector.predict([image])[0].score)
            progress.report(i + 1, len(held), "held-out good images")
        return scores, f"{len(held)} held-out good images"
    if not detector.needs_references:
        if len(refs) < 2:
            raise RecipeError("Calibration needs at least two good images (references or --images).")
        scores = [p.score for p in detector.predict(refs)]
        return scores, f"{len(refs)} good references (zero-shot)"
    if len(refs) < 2:
        raise RecipeError(
            f"Recipe '{recipe.name}' has {len(refs)} reference(s): leave-one-out calibration needs at "
            "least 2. Give held-out good images (--images) or more references."
        )
    scores = []
    for i in range(len(refs)):
        progress.check()
        detector.fit(refs[:i] + refs[i + 1 :])
        scores.append(detector.predict([refs[i]])[0].score)
        progress.report(i + 1, len(refs), "leave-one-out")
    detector.fit(refs)
    return scores, f"leave-one-out over {len(refs)} references"


def calibrate_recipe(
    recipe: Recipe,
    held_out: Sequence[Path] = (),
    *,
    quantile: float = 0.99,
    margin: float = 1.0,
    band: float = 1.0,
    device: str = "auto",
    dtype: str = "auto",
    random_weights: bool = False,
    detector: Detector | None = None,
    progress: ProgressState | None = None,
    backend: str = "torch",
) -> tuple[Recipe, Calibration]:
    """Compute the recipe's threshold and uncertain band from good parts; return the new recipe."""
    if detector is None:
        from inspector.detectors.factory import detector_for_recipe

        detector = detector_for_recipe(
            recipe, device=device, dtype=dtype, random_weights=random_weights, backend=backend
        )
    scores, method = good_scores(recipe, detector, held_out, progress)
    calibration = calibrate_threshold(scores, quantile=quantile, margin=margin, band=band, method=method)
    summary = calibration.as_dict()
    summary["good_scores"] = [float(s) for s in scores]
    summary["model"] = detector.info.model_id
    summary["random_weights"] = detector.info.random_weights
    # provenance: a run refuses this threshold with other weights (inspector.core.provenance)
    summary["model_fingerprint"] = detector.info.fingerprint
    summary["device"] = detector.info.device
    summary["dtype"] = detector.info.dtype
    return recipe.with_threshold(calibration.threshold, calibration.uncertain_band, summary), calibration
