"""Keeps the loaded detector between runs of one session (loading a model takes seconds)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from inspector.core.precision import INT8, encoder_choice
from inspector.core.progress import ProgressState
from inspector.core.recipe import Recipe
from inspector.detectors.base import Detector
from inspector.pipeline.int8 import HeldOutParts, Int8Outcome, switch_to_int8
from inspector.pipeline.runner import fit_for_recipe

if TYPE_CHECKING:
    from inspector.detectors.acceleration import Int8Gate

DetectorFactory = Callable[..., Detector]
"""``factory(recipe, *, device, dtype, random_weights, backend) -> Detector`` (default: the registry's)."""

_MODEL_FIELDS = ("detector", "model", "object_name", "extra_normal", "extra_anomalous", "detector_params")


def _detector_key(recipe: Recipe, device: str, dtype: str, random_weights: bool, backend: str) -> str:
    body = {k: v for k, v in recipe.to_dict().items() if k in _MODEL_FIELDS}
    return json.dumps([body, device, dtype, random_weights, backend], sort_keys=True)


class DetectorCache:
    """The detector of the last run, reloaded only when the recipe's model settings change and refitted
    only when its references change. Used from one thread at a time (the session's run thread).

    With ``dtype="int8"`` the detector is built on OpenVINO fp32, fitted, then switched to INT8 where
    it agrees with fp32 on the held-out good parts (:mod:`inspector.pipeline.int8`); the check is made
    again only when the model, the references or the recipe's calibration images change (or when there
    were no held-out parts to check on). :attr:`int8` says what it did.
    """

    def __init__(self, factory: DetectorFactory | None = None) -> None:
        self._factory = factory
        self._key: str | None = None
        self._images: list | None = None  # the references as read for the last fit
        self._fitted: tuple[str, ...] | None = None
        self._int8_key: tuple[tuple[str, ...], ...] | None = None
        self.detector: Detector | None = None
        self.int8: Int8Outcome | None = None
        """The INT8 step's outcome for the current detector (None: INT8 was not asked for)."""

    def get(
        self,
        recipe: Recipe,
        *,
        device: str,
        dtype: str,
        random_weights: bool,
        progress: ProgressState,
        backend: str = "torch",
        held_out: Callable[[], HeldOutParts] | None = None,
        int8_gate: Int8Gate | None = None,
    ) -> Detector:
        """The recipe's detector, loaded and fitted (and with ``dtype="int8"`` checked for INT8 on
        ``held_out()``'s good parts, with ``int8_gate`` or the default gate).

        Raises:
            InspectorError: ``int8`` asked for with the torch backend or a GPU, or the model cannot load.
        """
        choice = encoder_choice(device, dtype, backend)
        key = _detector_key(recipe, device, dtype, random_weights, backend)
        if self.detector is None or key != self._key:
            self.detector = None
            self._fitted = None
            self._int8_key, self.int8 = None, None
            progress.report(0, 0, f"Loading model {recipe.model_id} …")
            factory: DetectorFactory
            if self._factory is not None:
                factory = self._factory
            else:
                from inspector.detectors.factory import detector_for_recipe  # torch loads here

                factory = detector_for_recipe
            self.detector = factory(
                recipe, device=choice.device, dtype=choice.dtype, random_weights=random_weights, backend=choice.backend
            )
            self._key = key
        detector = self.detector
        if detector.needs_references and self._fitted != recipe.references:
            if detector.info.dtype == INT8:  # new references: learnt, and checked again, from fp32
                target: Any = getattr(detector, "inner", detector)  # only the OpenVINO detectors reach INT8
                target.use_openvino(choice.dtype)
            progress.report(0, 0, f"Learning {len(recipe.references)} good reference image(s) …")
            self._fitted = None
            self._images = fit_for_recipe(detector, recipe)
            self._fitted = recipe.references
        if choice.int8:
            int8_key = (recipe.references, recipe.calibration_images)
            if self.int8 is None or self._int8_key != int8_key:
                progress.check()
                parts = held_out if held_out is not None else HeldOutParts((), ())
                self.int8 = switch_to_int8(detector, parts, progress, int8_gate)
                self._int8_key = int8_key if self.int8.settled else None  # nothing to check on yet: next run tries
        return detector

    def references(self, recipe: Recipe) -> list | None:
        """The recipe's reference images as read when :meth:`get` fitted the detector on them, for the
        run's identity check (one read); None when the detector learns none (the run reads them)."""
        if self.detector is None or not self.detector.needs_references or self._fitted != recipe.references:
            return None
        return self._images
