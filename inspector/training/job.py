"""``inspector train``: train a detector from a recipe's good-part library into a new recipe version.

The job (a plain function taking a progress/cancel state, as Orange3's long jobs) does:

1. split the library: a held-out share of the *reviewed* parts (all non-reference parts when none
   are reviewed) is kept for measuring; the rest, references first, is the training set;
2. train the chosen method (:mod:`inspector.detectors.trainable`);
3. measure the recipe's current detector ("before") and the trained one ("after") on the held-out
   good parts plus synthetic defects made from them (cut-paste and noise, fixed seed, with masks):
   image AUROC, pixel AUROC, AUPRO, F1-max; for the student also its agreement with its teacher;
4. calibrate the new threshold from the trained detector's held-out good scores, and decide the
   gate (:mod:`inspector.core.training_gate`: not worse than the current detector on the held-out
   set) that the Train panel asks before the version is used;
5. write the artefact (safetensors, content-addressed, fingerprinted) and then the new recipe file
   (atomically). Cancel is checked throughout and once more before anything is written, so a
   cancelled job leaves no new recipe; at worst an unreferenced artefact file, which is harmless.

With a scoring gate, the job waits at each progress check while a part is being scored (it yields
to scoring as captions do).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from inspector.core.agreement import Agreement, agreement
from inspector.core.calibration import calibrate_threshold
from inspector.core.images import load_image
from inspector.core.metrics import EvalMetrics, evaluate
from inspector.core.progress import Cancelled, ProgressState
from inspector.core.recipe import DEFAULT_MODELS, TRAINED_DETECTORS, Recipe, save_recipe
from inspector.core.recipe_schema import validate_detector_params
from inspector.core.training_gate import DEFAULT_TOLERANCE, GateResult, training_gate
from inspector.detectors.artifact import StoredArtifact, save_state, settings_metadata
from inspector.detectors.synthetic import synthetic_defect
from inspector.detectors.trainable import TrainableDetector
from inspector.errors import InspectorError
from inspector.training.library import GoodPart, Library, PartOrigin

log = logging.getLogger(__name__)
ARTIFACT_FOLDER = "trained"


class GatedProgress(ProgressState):
    """A progress state whose ``check`` also waits while a part is being scored."""

    def __init__(self, on_progress=None, gate=None, parent: ProgressState | None = None) -> None:
        super().__init__(on_progress)
        self.gate = gate
        self.parent = parent  # a cancel asked of the parent (a window's job) counts too

    @property
    def cancelled(self) -> bool:
        return super().cancelled or (self.parent is not None and self.parent.cancelled)

    def check(self) -> None:
        if self.gate is not None:
            self.gate.wait_turn(lambda: self.cancelled)
        if self.cancelled:
            raise Cancelled()


@dataclass(frozen=True)
class HeldOut:
    metrics: EvalMetrics
    good_scores: tuple[float, ...]
    defect_scores: tuple[float, ...]
    images_per_s: float

    def as_dict(self) -> dict:
        return {**dataclasses.asdict(self.metrics), "images_per_s": self.images_per_s}


@dataclass(frozen=True)
class TrainOutcome:
    recipe: Recipe
    recipe_path: Path
    artifact: StoredArtifact
    report: object  # TrainReport
    before: HeldOut | None
    after: HeldOut | None
    agreement: Agreement | None = None
    teacher_images_per_s: float | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    gate: GateResult | None = None


def split_library(library: Library, holdout: float, seed: int) -> tuple[list[GoodPart], list[GoodPart]]:
    """(training parts, held-out parts); references always train; the held-out come from reviewed parts."""
    parts = list(library.parts)
    if not 0.0 <= holdout < 1.0:
        raise InspectorError(f"--holdout must be in [0, 1), got {holdout}.")
    reviewed = [p for p in parts if p.origin in (PartOrigin.REVIEWED_PASS, PartOrigin.MARKED_GOOD)]
    pool = reviewed or [p for p in parts if p.origin != PartOrigin.REFERENCE]
    rng = np.random.default_rng(seed)
    n = int(round(holdout * len(pool)))
    if holdout > 0 and len(pool) >= 4:
        n = max(2, n)
    n = min(n, len(parts) - 1) if len(pool) else 0
    chosen = {pool[i].content_hash for i in rng.permutation(len(pool))[:n]}
    train = [p for p in parts if p.content_hash not in chosen]
    held = [p for p in parts if p.content_hash in chosen]
    return train, held


def held_out_set(images: Sequence[np.ndarray], seed: int):
    """Held-out goods plus one synthetic defect of each: images, labels, masks."""
    rng = np.random.default_rng(seed + 1)
    defects = [synthetic_defect(i, rng) for i in images]
    all_images = list(images) + [d[0] for d in defects]
    labels = np.r_[np.zeros(len(images), int), np.ones(len(defects), int)]
    masks = [np.zeros(i.shape[:2], bool) for i in images] + [d[1] for d in defects]
    return all_images, labels, masks


def measure(detector, images, labels, masks, progress: ProgressState, batch: int = 8):
    start = time.perf_counter()
    preds = []
    for i in range(0, len(images), batch):
        progress.check()
        preds += detector.predict(images[i : i + batch])
    seconds = time.perf_counter() - start
    scores = np.asarray([p.score for p in preds])
    metrics = evaluate(labels, scores, masks, [p.anomaly_map for p in preds])
    held = HeldOut(
        metrics,
        tuple(float(s) for s in scores[labels == 0]),
        tuple(float(s) for s in scores[labels == 1]),
        len(images) / seconds if seconds > 0 else 0.0,
    )
    return held, preds


def _relative(target: Path, base: Path) -> str:
    try:
        return os.path.relpath(target.resolve(), base.resolve())
    except ValueError:  # another drive (Windows)
        return str(target.resolve())


def default_output(recipe_path: Path, method: str) -> Path:
    """``<stem>.<method>.json`` next to the recipe, or ``.<method>-2.json`` ... if taken."""
    stem = recipe_path.name[: -len(".json")] if recipe_path.name.endswith(".json") else recipe_path.name
    candidate = recipe_path.with_name(f"{stem}.{method}.json")
    n = 2
    while candidate.exists():
        candidate = recipe_path.with_name(f"{stem}.{method}-{n}.json")
        n += 1
    return candidate


def train_recipe(
    recipe: Recipe,
    method: str,
    library: Library,
    out_path: Path,
    *,
    model: str = "",
    params: dict | None = None,
    holdout: float = 0.2,
    seed: int = 0,
    before: bool = True,
    device: str = "auto",
    dtype: str = "auto",
    random_weights: bool = False,
    progress: ProgressState | None = None,
    source_sha256: str = "",
    gate_tolerance: float = DEFAULT_TOLERANCE,
) -> TrainOutcome:
    """Train ``method`` on the library and write the new recipe version to ``out_path``."""
    from inspector.detectors.factory import create_detector, detector_for_recipe
    from inspector.pipeline import fit_for_recipe

    if method not in TRAINED_DETECTORS:
        raise InspectorError(f"Unknown training method '{method}'; choose one of {', '.join(TRAINED_DETECTORS)}.")
    if params:  # the same schema as the recipe file's detector_params: a bad value is named before anything runs
        params = validate_detector_params(method, params, "--set")
    if not 0.0 <= gate_tolerance < 1.0:
        raise InspectorError(f"--gate-tolerance must be in [0, 1), got {gate_tolerance}.")
    progress = progress or ProgressState()
    out_path = Path(out_path)
    if out_path.exists():
        raise InspectorError(f"{out_path} exists already; a training never overwrites a recipe (choose --out).")
    train_parts, held_parts = split_library(library, holdout, seed)
    if not train_parts:
        raise InspectorError(f"Recipe '{recipe.name}' has no good parts to train from.")
    train_images = [load_image(Path(p.path)) for p in train_parts]
    held_images = [load_image(Path(p.path)) for p in held_parts]
    from inspector.detectors.factory import ROLES

    same_role = ROLES[recipe.detector] == ROLES[method]  # e.g. the recipe's CLIP for promptad / the student
    model_id = model or (recipe.model if same_role else "") or DEFAULT_MODELS[method]
    detector = create_detector(
        method,
        model=model_id,
        object_name=recipe.object_name,
        device=device,
        dtype=dtype,
        random_weights=random_weights,
        extra_normal=recipe.extra_normal,
        extra_anomalous=(*recipe.extra_anomalous, *recipe.defect_classes),
        params=params,
    )
    if not isinstance(detector, TrainableDetector):  # every TRAINED_DETECTORS method builds one
        raise InspectorError(f"The '{method}' detector cannot be trained.")
    report = detector.train(train_images, progress)
    notes: list[str] = []
    before_m = after_m = agree = None
    teacher_ips = None
    threshold, band, calib = recipe.threshold, recipe.uncertain_band, dict(recipe.calibration)
    if len(held_images) >= 2:
        images, labels, masks = held_out_set(held_images, seed)
        after_m, after_preds = measure(detector, images, labels, masks, progress)
        cal = calibrate_threshold(list(after_m.good_scores), method=f"{len(held_images)} held-out good parts")
        threshold, band = cal.threshold, cal.uncertain_band
        calib = {**cal.as_dict(), "good_scores": list(after_m.good_scores), "model": model_id}
        if before:
            try:
                old = detector_for_recipe(recipe, device=device, dtype=dtype, random_weights=random_weights)
                fit_for_recipe(old, recipe)
                before_m, _ = measure(old, images, labels, masks, progress)
            except InspectorError as exc:
                notes.append(f"before: the recipe's current detector could not be measured: {exc}")
        if method == "student":
            from inspector.detectors.student import StudentDetector

            # its train() above refused to run without the teacher
            assert isinstance(detector, StudentDetector) and detector.teacher is not None
            start = time.perf_counter()
            teacher_preds = []
            for i in range(0, len(images), 8):
                progress.check()
                teacher_preds += detector.teacher.predict(images[i : i + 8])
            teacher_ips = len(images) / max(time.perf_counter() - start, 1e-9)
            teacher_good = np.asarray([p.score for p in teacher_preds])[labels == 0]
            t_threshold = (
                recipe.threshold if recipe.detector == "winclip+" else calibrate_threshold(list(teacher_good)).threshold
            )
            agree = agreement(
                [p.score for p in after_preds],
                [p.score for p in teacher_preds],
                [p.anomaly_map for p in after_preds],
                [p.anomaly_map for p in teacher_preds],
                t_threshold,
            )
    else:
        notes.append("fewer than 2 held-out parts: no before/after metrics, the threshold was not recalibrated")
    gate = training_gate(
        before_m.metrics if before_m else None,
        after_m.metrics if after_m else None,
        random_weights=detector.info.random_weights,
        tolerance=gate_tolerance,
    )
    settings = detector.settings()
    metadata = settings_metadata(method, detector.info.model_id, settings)
    metadata["random_weights"] = "1" if detector.info.random_weights else "0"
    metadata["backbone_fingerprint"] = detector.info.fingerprint  # the weights it was trained on
    metadata["recipe"] = recipe.name
    progress.check()  # the last point a cancel is honoured: nothing has been written yet
    artifact = save_state(detector.state(), metadata, out_path.parent / ARTIFACT_FOLDER)
    params_out = {k: v for k, v in settings.items() if k not in ("object_name", "anomaly_states")}
    params_out.update(artifact=_relative(artifact.path, out_path.parent), artifact_sha256=artifact.sha256)
    training = {
        "method": method,
        "trained_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "from_recipe": {"name": recipe.name, "detector": recipe.detector, "body_sha256": source_sha256},
        "model": detector.info.model_id,
        "random_weights": detector.info.random_weights,
        "device": detector.info.device,
        "dtype": detector.info.dtype,
        "artifact_sha256": artifact.sha256,
        "artifact_bytes": artifact.size_bytes,
        "settings": settings,
        "data": {
            "library": library.counts(),
            "train": [{"sha256": p.content_hash, "origin": str(p.origin)} for p in train_parts],
            "held_out": [{"sha256": p.content_hash, "origin": str(p.origin)} for p in held_parts],
            "held_out_defects": f"one synthetic defect (cut-paste or noise patch) per held-out part, seed {seed + 1}",
        },
        "report": report.as_dict(),
        "before": before_m.as_dict() if before_m else None,
        "after": after_m.as_dict() if after_m else None,
        "notes": notes,
        "gate": gate.as_dict(),
    }
    if agree is not None:
        training["agreement"] = agree.as_dict()
        training["teacher_images_per_s"] = teacher_ips
    new = replace(
        recipe,
        detector=method,
        model=detector.info.model_id,
        detector_params=params_out,
        training=training,
        threshold=threshold,
        uncertain_band=band,
        calibration=calib,
    )
    save_recipe(new, out_path)
    return TrainOutcome(new, out_path, artifact, report, before_m, after_m, agree, teacher_ips, tuple(notes), gate)
