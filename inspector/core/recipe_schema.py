"""The recipe file's schema (pydantic v2): every field checked on load, every bad field named.

:func:`validate_recipe_body` takes the JSON object of a recipe file and returns the checked fields,
or raises :class:`~inspector.errors.RecipeError` with one line per bad field, naming the field and
the value found (``threshold: must be a finite number (got 'high')``). Nothing is coerced silently:
a string is never split into a list of characters, ``true`` is not a version number, a name must
be text. Bounds that protect the station (how many references, the detector's input resolution)
live here too, so a recipe cannot ask for more memory than a station has.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import (
    AllowInfNan,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from inspector.core.detector_table import DETECTORS
from inspector.core.identity import IdentitySettings
from inspector.core.review_sampling import ReviewSampling
from inspector.errors import RecipeError

#: Most reference images a recipe may list (few-shot methods use 1-4; their patch memory grows
#: with every reference, so thousands would exhaust memory before the first part is scored).
MAX_REFERENCES = 256
#: Most held-out good images for calibration.
MAX_CALIBRATION_IMAGES = 10_000
#: Largest detector input side (AnomalyDINO's ``resolution``), pixels.
MAX_RESOLUTION = 2048

Text = Annotated[str, Strict(), StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
OptionalText = Annotated[str, Strict(), StringConstraints(strip_whitespace=True, max_length=500)]
Path_ = Annotated[str, Strict(), StringConstraints(min_length=1, max_length=4096)]
Number = Annotated[float, Strict(), AllowInfNan(False)]
Flag = Annotated[bool, Strict()]
Count = Annotated[int, Strict()]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AnomalyDinoParams(_Strict):
    """Options of :class:`~inspector.detectors.anomalydino.AnomalyDinoDetector`."""

    resolution: Annotated[Count, Field(ge=14, le=MAX_RESOLUTION)] = 448
    masking: Flag = False
    top_fraction: Annotated[Number, Field(gt=0.0, le=1.0)] = 0.01
    sigma: Annotated[Number, Field(ge=0.0, le=64.0)] = 4.0
    augment_rotations: Flag = False
    mask_references: Flag = False
    batch_size: Annotated[Count, Field(ge=1, le=256)] = 4
    # the first principal component threshold of the reference code (the detector's MASK_THRESHOLD)
    mask_threshold: Annotated[Number, Field(ge=-1000.0, le=1000.0)] = 10.0


class WinClipParams(_Strict):
    """Options of :class:`~inspector.detectors.winclip.WinClipDetector`."""

    scales: Annotated[list[Annotated[Count, Field(ge=1, le=16)]], Field(min_length=1, max_length=4)] = [2, 3]
    batch_windows: Annotated[Count, Field(ge=1, le=4096)] | None = None
    # Faithful defaults; each other value is a named deviation (see the detector's docstring).
    temperature: Annotated[Number, Field(gt=0.0, le=10.0)] | Literal["learned"] = 0.07
    map_sigma: Annotated[Number, Field(ge=0.0, le=64.0)] = 0.0
    prompt_set: Literal["paper", "anomalib"] = "paper"


class IdentityBody(_Strict):
    """The part-identity check (:class:`~inspector.core.identity.IdentitySettings`)."""

    enabled: Flag = True
    text_check: Literal["auto", "on", "off"] = "auto"
    alternatives: Annotated[list[Text], Field(max_length=100)] = []
    other_recipes: Flag = True
    text_threshold: Annotated[Number, Field(ge=0.0, le=1.0)] | None = None
    reference_threshold: Annotated[Number, Field(ge=-1.0, le=1.0)] | None = None


class ReviewBody(_Strict):
    """Which parts go to review on their own (:class:`~inspector.core.review_sampling.ReviewSampling`)."""

    near_threshold: Annotated[Number, Field(ge=0.0, le=1.0)] = 0.05
    pass_sample_rate: Annotated[Number, Field(ge=0.0, le=1.0)] = 0.01
    seed: Count = 0


Sha256 = Annotated[str, Strict(), StringConstraints(pattern=r"^[0-9a-f]{64}$")]
Seed = Annotated[Count, Field(ge=0, le=2**32 - 1)]
Epochs = Annotated[Count, Field(ge=1, le=10_000)]
LearningRate = Annotated[Number, Field(gt=0.0, le=10.0)]


class _Trained(_Strict):
    """What every trained detector records: its artefact (written by ``inspector train``)."""

    artifact: Path_ | None = None  # the safetensors file, relative to the recipe file
    artifact_sha256: Sha256 | None = None  # its fingerprint, checked on loading


class MemoryParams(_Trained, AnomalyDinoParams):
    """Options of :class:`~inspector.detectors.memory.MemoryDetector` (AnomalyDINO's plus the coreset)."""

    coreset_ratio: Annotated[Number, Field(gt=0.0, le=1.0)] = 0.1
    projection_dim: Annotated[Count, Field(ge=0, le=4096)] = 128  # 0: no projection
    seed: Seed = 0


class SimpleNetParams(_Trained):
    """Options of :class:`~inspector.detectors.simplenet.SimpleNetDetector`."""

    resolution: Annotated[Count, Field(ge=14, le=MAX_RESOLUTION)] = 448
    layers: Annotated[list[Annotated[Count, Field(ge=1, le=64)]], Field(min_length=1, max_length=4)] | None = None
    embed_dim: Annotated[Count, Field(ge=1, le=8192)] = 1536
    dsc_hidden: Annotated[Count, Field(ge=1, le=8192)] = 1024
    noise_std: Annotated[Number, Field(gt=0.0, le=10.0)] = 0.015
    margin: Annotated[Number, Field(ge=0.0, le=10.0)] = 0.5
    epochs: Epochs = 40
    batch_size: Annotated[Count, Field(ge=1, le=1024)] = 8
    adaptor_lr: LearningRate = 1e-4
    dsc_lr: LearningRate = 2e-4
    sigma: Annotated[Number, Field(ge=0.0, le=64.0)] = 4.0
    seed: Seed = 0


class PromptADParams(_Trained):
    """Options of :class:`~inspector.detectors.promptad.PromptADDetector`."""

    n_ctx: Annotated[Count, Field(ge=1, le=32)] = 4
    n_pro: Annotated[Count, Field(ge=1, le=64)] = 3
    n_ctx_ab: Annotated[Count, Field(ge=1, le=32)] = 1
    n_pro_ab: Annotated[Count, Field(ge=1, le=64)] = 4
    epochs: Epochs = 100
    lr: LearningRate = 0.002
    momentum: Annotated[Number, Field(ge=0.0, lt=1.0)] = 0.9
    weight_decay: Annotated[Number, Field(ge=0.0, le=1.0)] = 0.0005
    lambda1: Annotated[Number, Field(ge=0.0, le=100.0)] = 0.001
    margin: Annotated[Number, Field(ge=0.0, le=10.0)] = 0.0
    batch_size: Annotated[Count, Field(ge=1, le=100_000)] = 400
    sigma: Annotated[Number, Field(ge=0.0, le=64.0)] = 4.0
    seed: Seed = 0
    # the reference's; each other value is a named deviation (see the detector's docstring)
    logit_scale: Literal["reference", "clip"] = "reference"
    fusion: Literal["harmonic", "mean"] = "harmonic"


class StudentParams(_Trained):
    """Options of :class:`~inspector.detectors.student.StudentDetector`."""

    width: Annotated[Count, Field(ge=1, le=512)] = 32
    input_size: Annotated[Count, Field(ge=16, le=MAX_RESOLUTION, multiple_of=16)] = 224
    epochs: Epochs = 30
    batch_size: Annotated[Count, Field(ge=1, le=1024)] = 16
    lr: LearningRate = 1e-3
    synthetic_per_image: Annotated[Count, Field(ge=0, le=16)] = 1
    teacher_shots: Annotated[Count, Field(ge=1, le=MAX_REFERENCES)] = 4
    sigma: Annotated[Number, Field(ge=0.0, le=64.0)] = 4.0
    seed: Seed = 0


PARAMS: dict[str, type[_Strict]] = {
    "anomalydino": AnomalyDinoParams,
    "winclip": WinClipParams,
    "winclip+": WinClipParams,
    "memory": MemoryParams,
    "simplenet": SimpleNetParams,
    "promptad": PromptADParams,
    "student": StudentParams,
}


#: The recipe's list fields (tuples in a Recipe, lists in its JSON).
LIST_FIELDS = (
    "references",
    "calibration_images",
    "extra_normal",
    "extra_anomalous",
    "defect_classes",
    "library_excluded",
)
DetectorName = Literal[DETECTORS]  # type: ignore[valid-type]  # the detector table's names, as a Literal


class RecipeBody(_Strict):
    """The fields of a recipe file (``format`` and ``format_version`` are checked before)."""

    name: Text
    object_name: Text = "object"
    detector: DetectorName = "winclip"
    model: OptionalText = ""
    references: Annotated[list[Path_], Field(max_length=MAX_REFERENCES)] = []
    calibration_images: Annotated[list[Path_], Field(max_length=MAX_CALIBRATION_IMAGES)] = []
    extra_normal: Annotated[list[Text], Field(max_length=200)] = []
    extra_anomalous: Annotated[list[Text], Field(max_length=200)] = []
    defect_classes: Annotated[list[Text], Field(max_length=200)] = []
    threshold: Number = 0.5
    uncertain_band: tuple[Number, Number] | None = None
    detector_params: dict[str, Any] = {}
    calibration: dict[str, Any] = {}
    # Trained detectors (inspector train): the training record and the good-part library's exclusions.
    training: dict[str, Any] = {}
    library_excluded: Annotated[list[Path_], Field(max_length=100_000)] = []
    golden_policy: Literal["block", "warn"] = "block"
    identity: IdentityBody = IdentityBody()
    review: ReviewBody = ReviewBody()
    # A captioner version (LoRA adapter folder from inspector train-captioner), relative to the recipe file.
    captioner_version: Annotated[str, Strict(), StringConstraints(strip_whitespace=True, max_length=4096)] = ""
    # Frames per second of video scored (0: every frame), as the timeline system we were given samples.
    video_sample_fps: Annotated[float, Strict(), AllowInfNan(False), Field(ge=0, le=1000)] = 0.0

    @field_validator("uncertain_band")
    @classmethod
    def _band_ordered(cls, band: tuple[float, float] | None) -> tuple[float, float] | None:
        if band is not None and band[0] > band[1]:
            raise ValueError("must be [low, high] with low <= high")
        return band

    @model_validator(mode="after")
    def _band_holds_threshold(self) -> RecipeBody:
        band = self.uncertain_band
        if band is not None and not band[0] <= self.threshold <= band[1]:
            raise ValueError(f"uncertain_band {list(band)} must contain the threshold {self.threshold:g}")
        return self


def validate_recipe_body(body: dict[str, Any], source: str) -> dict[str, Any]:
    """Check a recipe file's fields; the checked values (lists as tuples), or one RecipeError naming every problem."""
    problems: list[str] = []
    if body.get("golden_parts"):  # written by a station before golden parts moved into the database
        problems.append(
            "golden_parts: golden parts now live in the station database (signed and audited), not in the "
            "recipe file: register them with `inspector golden add RECIPE IMAGE --expect good|defective` "
            "and remove the field"
        )
    elif "golden_parts" in body:  # an empty list: nothing is lost by dropping it
        body = {k: v for k, v in body.items() if k != "golden_parts"}
    checked: RecipeBody | None = None
    try:
        checked = RecipeBody.model_validate(body)
    except ValidationError as error:
        problems += [_line(e) for e in error.errors()]
    detector = body.get("detector", "winclip")
    params = body.get("detector_params", {})
    if isinstance(detector, str) and isinstance(params, dict):
        params, bad = _check_params(detector, params, ("detector_params",))
        problems += bad
    if problems:
        raise RecipeError(f"{source} is not a valid recipe:\n" + "\n".join(f"  - {p}" for p in problems))
    assert checked is not None
    values = checked.model_dump()
    for key in LIST_FIELDS:
        values[key] = tuple(values[key])
    values["uncertain_band"] = tuple(values["uncertain_band"]) if values["uncertain_band"] is not None else None
    values["detector_params"] = params
    values["identity"] = IdentitySettings.from_dict(values["identity"])
    values["review"] = ReviewSampling.from_dict(values["review"])
    return values


def _check_params(detector: str, params: dict[str, Any], prefix: tuple[str, ...]) -> tuple[dict[str, Any], list[str]]:
    model = PARAMS.get(detector)
    if model is None:
        return params, []
    try:
        return model.model_validate(params).model_dump(include=set(params)), []
    except ValidationError as error:
        return params, [_line(e, prefix=prefix) for e in error.errors()]


def validate_detector_params(detector: str, params: dict[str, Any], source: str) -> dict[str, Any]:
    """Check a detector's options alone (``inspector train --set``); the checked values or one RecipeError."""
    checked, problems = _check_params(detector, dict(params), ())
    if problems:
        raise RecipeError(f"{source}: bad {detector} option(s):\n" + "\n".join(f"  - {p}" for p in problems))
    return checked


_PLAIN = {
    "extra_forbidden": "is not a field this station knows",
    "missing": "is missing",
    "finite_number": "must be a finite number",
    "float_type": "must be a number",
    "int_type": "must be a whole number",
    "bool_type": "must be true or false",
    "string_type": "must be text",
    "list_type": "must be a list",
    "tuple_type": "must be a list [low, high]",
    "dict_type": "must be an object {...}",
}


def _line(error: Any, prefix: tuple[Any, ...] = ()) -> str:
    loc = [str(p) for p in (*prefix, *error["loc"]) if not str(p).startswith("function-")]
    where = ".".join(loc) if loc else "recipe"
    kind = error["type"]
    text = _PLAIN.get(kind) or str(error["msg"]).removeprefix("Value error, ")
    if kind == "too_long" and "max_length" in error.get("ctx", {}):
        text = (
            f"has {error['ctx'].get('actual_length', 'too many')} entries, at most {error['ctx']['max_length']} allowed"
        )
        return f"{where}: {text}"
    if kind == "extra_forbidden" or kind == "missing":
        return f"{where}: {text}" + ("" if kind == "missing" else f" (value {_show(error['input'])})")
    return f"{where}: {text} (got {_show(error['input'])})"


def _show(value: Any) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    text = repr(value) if not isinstance(value, (dict, list)) else _json(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _json(value: Any) -> str:
    import json

    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
