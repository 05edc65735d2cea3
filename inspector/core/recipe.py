"""Recipes: what a process engineer sets up per product.

A recipe is a versioned JSON file: object name, prompts, defect classes, reference images,
detector and model, threshold and uncertain band. The ``format_version`` lets an older station
refuse a recipe written by a newer one with a clear message instead of misreading it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from inspector.core.detector_table import DETECTOR_TABLE, DETECTORS, KINDS
from inspector.core.identity import IdentitySettings
from inspector.core.recipe_schema import LIST_FIELDS, validate_recipe_body
from inspector.core.review_sampling import ReviewSampling
from inspector.core.types import Verdict
from inspector.errors import RecipeError

RECIPE_FORMAT = "inspector-recipe"
RECIPE_FORMAT_VERSION = 1
# Views of the detector table (inspector.core.detector_table), the one home of these properties.
#: Detectors trained from the station's good parts (``inspector train``); see inspector.detectors.trainable.
TRAINED_DETECTORS = tuple(k.name for k in DETECTOR_TABLE if k.trained)
DEFAULT_MODELS = {k.name: k.default_model for k in DETECTOR_TABLE}

# Fields added with trained detectors: left out of a recipe's JSON while empty.
_OMIT_WHEN_EMPTY = ("training", "library_excluded", "captioner_version", "video_sample_fps")
#: What a run start does when a golden part gets the wrong verdict (inspector.pipeline.golden).
GOLDEN_POLICIES = ("block", "warn")


@dataclass(frozen=True)
class Recipe:
    """One product's inspection set-up.

    Attributes:
        name: Recipe name shown to operators.
        object_name: What the part is called in prompts ("ball screw", "magnetic tile").
        detector: ``winclip`` (zero-shot), ``winclip+`` or ``anomalydino`` (few-shot).
        model: Registry id of the backbone; empty means the detector's default.
        references: Known-good reference images (paths; relative paths are relative to the recipe file).
        calibration_images: Extra held-out good images used only to calibrate the threshold.
        extra_normal / extra_anomalous: Prompt state words added to WinCLIP's ensemble.
        defect_classes: The defect vocabulary of this product (scratch, crack, ...).
        threshold: Score at or above which a part fails (when no uncertain band is set).
        uncertain_band: ``(low, high)``: below ``low`` pass, at or above ``high`` fail, between uncertain.
        detector_params: Extra detector options (e.g. ``{"resolution": 448, "masking": false}``); a trained
            detector's are its training settings plus ``artifact`` (the safetensors file, relative to the
            recipe file) and ``artifact_sha256`` (its fingerprint, checked on loading).
        calibration: Summary of the last calibration (for display and audit).
        identity: The part-identity check (WRONG PART), see :mod:`inspector.core.identity`.
        training: For a trained detector: method, data used, settings, losses and before/after metrics.
        library_excluded: Content hashes of parts an engineer removed from the good-part library.
        golden_policy: ``block`` (default): a run does not start when a golden part gets the wrong
            verdict; ``warn``: it starts with a warning. The golden parts themselves live in the
            station database (``inspector golden add``), signed and audited, not in the file.
        review: Which parts go to review on their own (:mod:`inspector.core.review_sampling`).
        captioner_version: A captioner version folder (LoRA adapter from ``inspector train-captioner``,
            relative to the recipe file) that captions this recipe's parts; empty: the station's captioner.
        video_sample_fps: Video files, cameras and streams: score at most this many frames per second of
            video (0: every frame); ``inspector run --sample-fps`` overrides it for one run.
    """

    name: str
    object_name: str = "object"
    detector: str = "winclip"
    model: str = ""
    references: tuple[str, ...] = ()
    calibration_images: tuple[str, ...] = ()
    extra_normal: tuple[str, ...] = ()
    extra_anomalous: tuple[str, ...] = ()
    defect_classes: tuple[str, ...] = ()
    threshold: float = 0.5
    uncertain_band: tuple[float, float] | None = None
    detector_params: dict[str, Any] = field(default_factory=dict)
    calibration: dict[str, Any] = field(default_factory=dict)
    identity: IdentitySettings = field(default_factory=IdentitySettings)
    training: dict[str, Any] = field(default_factory=dict)
    library_excluded: tuple[str, ...] = ()
    golden_policy: str = "block"
    review: ReviewSampling = field(default_factory=ReviewSampling)
    captioner_version: str = ""
    video_sample_fps: float = 0.0

    def __post_init__(self) -> None:
        if self.golden_policy not in GOLDEN_POLICIES:
            raise RecipeError(f"Recipe '{self.name}': golden_policy must be one of {', '.join(GOLDEN_POLICIES)}.")
        if self.detector not in DETECTORS:
            raise RecipeError(
                f"Recipe '{self.name}': unknown detector '{self.detector}' (choose one of {', '.join(DETECTORS)})."
            )
        if self.uncertain_band is not None:
            low, high = self.uncertain_band
            if not low <= self.threshold <= high:
                raise RecipeError(
                    f"Recipe '{self.name}': the uncertain band {low:g}..{high:g} must "
                    f"contain the threshold {self.threshold:g}."
                )

    @property
    def model_id(self) -> str:
        return self.model or DEFAULT_MODELS[self.detector]

    @property
    def artifact(self) -> str:
        """The trained detector's artefact file ('' when the recipe has none)."""
        return str(self.detector_params.get("artifact", "") or "")

    @property
    def few_shot(self) -> bool:
        """Whether scoring needs the reference images (a trained detector with its artefact does not)."""
        kind = KINDS.get(self.detector)
        if kind is None:
            return False
        return kind.few_shot and not (kind.trained and self.artifact)

    def verdict(self, score: float) -> Verdict:
        """The model verdict for an image score."""
        if self.uncertain_band is None:
            return Verdict.FAIL if score >= self.threshold else Verdict.PASS
        low, high = self.uncertain_band
        if score >= high:
            return Verdict.FAIL
        return Verdict.PASS if score < low else Verdict.UNCERTAIN

    def to_dict(self) -> dict[str, Any]:
        body = asdict(self)
        body["uncertain_band"] = list(self.uncertain_band) if self.uncertain_band else None
        for key in LIST_FIELDS:
            body[key] = list(body[key])
        for key in _OMIT_WHEN_EMPTY:  # recipes without them keep the body (and hash) they had before
            if not body[key]:
                del body[key]
        if self.golden_policy == "block":  # the default: recipes keep the body (and hash) they had
            del body["golden_policy"]
        if self.identity == IdentitySettings():  # the default identity check: same body as before too
            del body["identity"]
        else:
            body["identity"] = self.identity.to_dict()
        if self.review == ReviewSampling():  # the default sampling: the body (and hash) stay as they were
            del body["review"]
        else:
            body["review"] = self.review.to_dict()
        return {"format": RECIPE_FORMAT, "format_version": RECIPE_FORMAT_VERSION, **body}

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "recipe") -> Recipe:
        if data.get("format") != RECIPE_FORMAT:
            raise RecipeError(f"{source} is not an Inspector recipe (no 'format: {RECIPE_FORMAT}').")
        version = data.get("format_version")
        if type(version) is not int or version < 1:  # bool is an int in Python: true is no version
            raise RecipeError(f"{source}: format_version must be a whole number >= 1 (got {version!r}).")
        if version > RECIPE_FORMAT_VERSION:
            raise RecipeError(
                f"{source} was written by a newer Inspector (recipe format {version}); this station "
                f"reads format {RECIPE_FORMAT_VERSION} and older. Update the station to use this recipe; "
                "the file was not changed."
            )
        body = {k: v for k, v in data.items() if k not in ("format", "format_version")}
        values = validate_recipe_body(body, source)
        try:
            return cls(**values)
        except TypeError as exc:
            raise RecipeError(f"{source} is not a valid recipe: {exc}") from exc

    def with_threshold(
        self, threshold: float, band: tuple[float, float] | None, calibration: dict[str, Any] | None = None
    ) -> Recipe:
        return replace(
            self, threshold=float(threshold), uncertain_band=band, calibration=dict(calibration or self.calibration)
        )


def load_recipe(path: str | os.PathLike[str]) -> Recipe:
    """Read a recipe file; reference paths become absolute (relative to the file)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise RecipeError(f"Recipe file {path} does not exist.") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RecipeError(f"Recipe file {path} cannot be read: {exc}") from exc
    if not isinstance(data, dict):
        raise RecipeError(f"Recipe file {path} does not hold a recipe.")
    recipe = Recipe.from_dict(data, source=str(path))
    base = path.resolve().parent
    params = dict(recipe.detector_params)
    if params.get("artifact"):
        params["artifact"] = str((base / str(params["artifact"])).resolve())
    return replace(
        recipe,
        captioner_version=str((base / recipe.captioner_version).resolve()) if recipe.captioner_version else "",
        references=tuple(str((base / p).resolve()) for p in recipe.references),
        calibration_images=tuple(str((base / p).resolve()) for p in recipe.calibration_images),
        detector_params=params,
    )


def save_recipe(recipe: Recipe, path: str | os.PathLike[str]) -> None:
    """Write a recipe atomically (a crash never leaves half a file)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(recipe.to_dict(), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def band_of_body(body: Mapping[str, Any]) -> tuple[float, float] | None:
    """The uncertain band a stored recipe body names (``None`` when it has none or it is malformed)."""
    raw = body.get("uncertain_band") if isinstance(body, Mapping) else None
    if isinstance(raw, list | tuple) and len(raw) == 2:
        try:
            return float(raw[0]), float(raw[1])
        except (TypeError, ValueError):
            return None
    return None
