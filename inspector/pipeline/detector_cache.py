"""Keeps the loaded detector between runs of one session (loading a model takes seconds)."""

from __future__ import annotations

import json
from collections.abc import Callable

from inspector.core.progress import ProgressState
from inspector.core.recipe import Recipe
from inspector.detectors.base import Detector
from inspector.pipeline.runner import fit_for_recipe

DetectorFactory = Callable[..., Detector]
"""``factory(recipe, *, device, dtype, random_weights, backend) -> Detector`` (default: the registry's)."""

_MODEL_FIELDS = ("detector", "model", "object_name", "extra_normal", "extra_anomalous", "detector_params")


def _detector_key(recipe: Recipe, device: str, dtype: str, random_weights: bool, backend: str) -> str:
    body = {k: v for k, v in recipe.to_dict().items() if k in _MODEL_FIELDS}
    return json.dumps([body, device, dtype, random_weights, backend], sort_keys=True)


class DetectorCache:
    """The detector of the last run, reloaded only when the recipe's model settings change and refitted
    only when its references change. Used from one thread at a time (the session's run thread)."""

    def __init__(self, factory: DetectorFactory | None = None) -> None:
        self._factory = factory
        self._key: str | None = None
        self._images: list | None = None  # the references as read for the last fit
        self._fitted: tuple[str, ...] | None = None
        self.detector: Detector | None = None

    def get(
        self,
        recipe: Recipe,
        *,
        device: str,
        dtype: str,
        random_weights: bool,
        progress: ProgressState,
        backend: str = "torch",
    ) -> Detector:
        key = _detector_key(recipe, device, dtype, random_weights, backend)
        if self.detector is None or key != self._key:
            self.detector = None
            self._fitted = None
            progress.report(0, 0, f"Loading model {recipe.model_id} …")
            factory: DetectorFactory
            if self._factory is not None:
                factory = self._factory
            else:
                from inspector.detectors.factory import detector_for_recipe  # torch loads here

                factory = detector_for_recipe
            self.detector = factory(recipe, device=device, dtype=dtype, random_weights=random_weights, backend=backend)
            self._key = key
        detector = self.detector
        if detector.needs_references and self._fitted != recipe.references:
            progress.report(0, 0, f"Learning {len(recipe.references)} good reference image(s) …")
            self._fitted = None
            self._images = fit_for_recipe(detector, recipe)
            self._fitted = recipe.references
        return detector

    def references(self, recipe: Recipe) -> list | None:
        """The recipe's reference images as read when :meth:`get` fitted the detector on them, for the
        run's identity check (one read); None when the detector learns none (the run reads them)."""
        if self.detector is None or not self.detector.needs_references or self._fitted != recipe.references:
            return None
        return self._images
