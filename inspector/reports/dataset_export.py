"""Export reviewed parts as a dataset in MVTec AD layout, labelled by the operators' decisions.

Layout written under the output folder (which must be new or empty)::

    <category>/train/good/<name>.<ext>          a share of the good parts (train_good_fraction)
    <category>/test/good/<name>.<ext>           the other good parts
    <category>/test/<defect>/<name>.<ext>       failed parts, one folder per defect type
    <category>/uncertain/<name>.<ext>           only with uncertain="aside" (outside train/ and test/)
    anomaly_maps/<category>/<split>/<label>/<name>.tiff   the station's anomaly maps, float32
    overlays/<category>/<split>/<label>/<name>.png        only with overlays=True: the heatmap over the
                                                 part, rendered as the station shows it
    manifest.csv                                 one row per exported part (ids, scores, verdicts, paths)
    export.json                                  what was exported and what was left out, and why

``<category>`` is the recipe's name (or the one given). Labels are the verdicts *after review*; a
failed part's defect folder is the operator's label, else (unless ``captioner_labels=False``) the
captioner's guess, else ``defect``. Parts still uncertain after review are left out (or set aside)
and counted. There are no ``ground_truth`` masks: the station has none. The anomaly-map layout is
the one the MVTec AD evaluation script reads (``<maps>/<category>/test/<defect>/<name>.tiff``).
Maps scored with random weights are meaningless and are not exported (the parts are, and the
manifest marks them). Images are the station's own copies (or the original files, if unchanged
since inspection), copied byte for byte.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from PIL import Image

import inspector
from inspector.core.images import load_image
from inspector.core.overlay import render_overlay
from inspector.core.progress import ProgressState
from inspector.core.recipe import band_of_body
from inspector.errors import InspectorError
from inspector.reports.files import output_error
from inspector.reports.scope import ReportError, ReportScope, count_in_scope, iter_records, resolve_scope
from inspector.store import InspectionRecord, InspectionStore, Verdict

PHASE_EXPORT = "Exporting dataset"
MAP_FORMATS = ("tiff", "npy", "none")
MANIFEST_COLUMNS = (
    "category", "split", "label", "image", "anomaly_map", "inspection_id", "content_hash", "inspected_at",
    "score", "threshold", "model_verdict", "effective_verdict", "label_source", "reviewed_by", "override_count",
    "random_weights", "source_file",
)  # fmt: skip
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class DatasetOptions:
    """Choices for :func:`export_dataset`.

    Attributes:
        include_unreviewed: Also export parts nobody reviewed, labelled by the model's verdict.
        uncertain: ``exclude`` (count them only) or ``aside`` (copy to ``<category>/uncertain``).
        train_good_fraction: Share of good parts put in ``train/good`` (chosen by content hash, so a
            part lands in the same split every time); the MVTec AD layout and every tool reading it
            need some training images. 0 puts every good part in ``test/good``.
        category: Category folder name for all parts (default: each part's recipe name).
        anomaly_maps: ``tiff`` (float32, as the MVTec AD evaluation reads), ``npy`` or ``none``.
        captioner_labels: Use the captioner's defect guess when the operator gave no label.
        overlays: Also write each part's heatmap overlay as a PNG, rendered by
            :mod:`inspector.core.overlay` (the window's scale, tied to the threshold), for people to look at.
    """

    include_unreviewed: bool = False
    uncertain: str = "exclude"
    train_good_fraction: float = 0.5
    category: str | None = None
    anomaly_maps: str = "tiff"
    captioner_labels: bool = True
    overlays: bool = False

    def __post_init__(self) -> None:
        if self.uncertain not in ("exclude", "aside"):
            raise ReportError(f"uncertain must be 'exclude' or 'aside', not '{self.uncertain}'.")
        if not 0.0 <= self.train_good_fraction <= 1.0:
            raise ReportError(f"The training share of good parts must be 0 to 1, not {self.train_good_fraction}.")
        if self.anomaly_maps not in MAP_FORMATS:
            raise ReportError(f"Anomaly maps as '{self.anomaly_maps}'? Choose {', '.join(MAP_FORMATS)}.")


@dataclass(frozen=True)
class DatasetExportResult:
    root: Path
    manifest: Path
    exported: int
    counts: dict[str, int]  # "<category>/<split>/<label>" -> parts
    excluded: dict[str, int]  # reason -> parts left out
    maps: int  # anomaly maps written
    random_weights: int  # exported parts scored with random weights (their maps were not exported)
    overlays: int = 0  # overlay PNGs written


def safe_name(text: str, fallback: str) -> str:
    """A folder or file name safe on every file system."""
    name = _SAFE.sub("_", text.strip()).strip("._")[:100]
    return name or fallback


def defect_folder(record: InspectionRecord, captioner_labels: bool) -> tuple[str, str]:
    """``(folder, source)`` of a failed part: the operator's label, the captioner's guess, or ``defect``."""
    if record.effective_defect_label:
        label, source = record.effective_defect_label, "operator"
    elif captioner_labels and record.defect_type:
        label, source = record.defect_type, "captioner"
    else:
        return "defect", "none"
    folder = safe_name(label.lower(), "defect")
    return ("defect_good" if folder == "good" else folder), source


def in_train(content_hash: str, fraction: float) -> bool:
    """Deterministic split: the same part always lands on the same side."""
    return int(hashlib.sha256(f"split/{content_hash}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < fraction


class _Writer:
    """Copies images and maps into the staging folder, keeping names unique per folder."""

    def __init__(self, store: InspectionStore, stage: Path, options: DatasetOptions) -> None:
        self.store, self.stage, self.options = store, stage, options
        self.taken: dict[Path, set[str]] = {}
        self.maps = 0
        self.overlays = 0
        self._bands: dict[str, tuple[float, float] | None] = {}

    def unique(self, folder: Path, stem: str, suffix: str) -> str:
        used = self.taken.setdefault(folder, set())
        name, k = stem, 2
        while name.lower() in used:
            name, k = f"{stem}_{k}", k + 1
        used.add(name.lower())
        return name + suffix

    def image_source(self, r: InspectionRecord) -> tuple[Path | None, str, str]:
        """``(file, expected sha256, why not)`` of the part's image."""
        if r.image_artifact:
            try:
                path = self.store.artifacts.path(r.image_artifact)
                if path.is_file():
                    return path, path.name.split(".", 1)[0], ""
            except ValueError:
                pass
        if r.file_path and Path(r.file_path).is_file():
            return Path(r.file_path), r.content_hash, ""
        return None, "", "image not available"

    def copy_image(self, source: Path, expected: str, target: Path) -> bool:
        digest = hashlib.sha256()
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(source, "rb") as src, open(target, "wb") as dst:
            while chunk := src.read(1 << 20):
                digest.update(chunk)
                dst.write(chunk)
        if digest.hexdigest() != expected:
            target.unlink()
            return False
        return True

    def _band(self, recipe_version_id: str) -> tuple[float, float] | None:
        if recipe_version_id not in self._bands:
            try:
                body = self.store.get_recipe_version(recipe_version_id).body
            except InspectorError:
                body = {}
            self._bands[recipe_version_id] = band_of_body(body)
        return self._bands[recipe_version_id]

    def write_overlay(self, r: InspectionRecord, image: Path, target_stem: Path) -> None:
        """The part's heatmap over its image, as the station renders it (skipped without a usable map)."""
        if not self.options.overlays or not r.heatmap_artifact or r.random_weights:
            return
        try:
            anomaly_map = self.store.artifacts.load_heatmap(r.heatmap_artifact)
            rgb = render_overlay(
                load_image(image), anomaly_map, threshold=r.threshold, band=self._band(r.recipe_version_id)
            )
        except (InspectorError, ValueError):
            return
        target_stem.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rgb).save(target_stem.with_suffix(".png"))
        self.overlays += 1

    def write_map(self, r: InspectionRecord, target_stem: Path) -> str:
        if self.options.anomaly_maps == "none" or not r.heatmap_artifact or r.random_weights:
            return ""
        try:
            anomaly_map = self.store.artifacts.load_heatmap(r.heatmap_artifact)
        except (InspectorError, ValueError):
            return ""
        target_stem.parent.mkdir(parents=True, exist_ok=True)
        if self.options.anomaly_maps == "npy":
            path = target_stem.with_suffix(".npy")
            np.save(path, anomaly_map.astype(np.float32), allow_pickle=False)
        else:
            path = target_stem.with_suffix(".tiff")
            Image.fromarray(anomaly_map.astype(np.float32)).save(path)  # mode F: 32-bit float TIFF
        self.maps += 1
        return path.relative_to(self.stage).as_posix()


def export_dataset(
    store: InspectionStore,
    scope: ReportScope | None,
    out: str | os.PathLike[str],
    options: DatasetOptions | None = None,
    *,
    progress: ProgressState | None = None,
) -> DatasetExportResult:
    """Export the parts in ``scope`` to ``out`` (see the module doc for the layout and the labels).

    Everything is written to a staging folder next to ``out`` and moved into place at the end, so a
    cancelled or failed export leaves nothing behind.

    Raises:
        ReportError: ``out`` exists and is not empty, a bad option or scope, or a disk error.
        Cancelled: ``progress.cancel()`` was called.
    """
    options = options or DatasetOptions()
    progress = progress or ProgressState()
    out = Path(out).expanduser()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ReportError(f"{out} already exists and is not empty: choose a new folder for the dataset.")
    resolved = resolve_scope(store, scope or ReportScope())
    total = count_in_scope(store, resolved)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    except OSError as error:
        raise output_error(error, out) from error
    try:
        result = _export(store, resolved, stage, options, total, progress)
        if out.exists():
            out.rmdir()
        os.replace(stage, out)
    except OSError as error:
        shutil.rmtree(stage, ignore_errors=True)
        raise output_error(error, out) from error
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return DatasetExportResult(out, out / "manifest.csv", **result)


def _export(store, resolved, stage: Path, options: DatasetOptions, total: int, progress: ProgressState) -> dict:
    writer = _Writer(store, stage, options)
    counts: Counter[str] = Counter()
    excluded: Counter[str] = Counter()
    exported = random = 0
    progress.report(0, total, PHASE_EXPORT)
    with open(stage / "manifest.csv", "w", encoding="utf-8", newline="") as handle:
        manifest = csv.writer(handle, lineterminator="\r\n")
        manifest.writerow(MANIFEST_COLUMNS)
        for i, r in enumerate(iter_records(store, resolved, check=progress.check), 1):
            progress.check()
            if i % 50 == 0:
                progress.report(min(i, total), max(i, total), PHASE_EXPORT)
            reviewed = r.override_count > 0
            if not reviewed and not options.include_unreviewed:
                excluded["not reviewed by an operator"] += 1
                continue
            category = safe_name(options.category or r.recipe_name, "parts")
            if r.effective_verdict == Verdict.UNCERTAIN:
                if options.uncertain == "exclude":
                    excluded["still uncertain after review"] += 1
                    continue
                split, label, source = "uncertain", "uncertain", "operator" if reviewed else "model"
                folder = stage / category / "uncertain"
            elif r.effective_verdict == Verdict.PASS:
                split = "train" if in_train(r.content_hash, options.train_good_fraction) else "test"
                label, source = "good", "operator" if reviewed else "model"
                folder = stage / category / split / "good"
            else:
                split = "test"
                label, source = defect_folder(r, options.captioner_labels)
                if source == "none":
                    source = "operator" if reviewed else "model"
                folder = stage / category / "test" / label
            path, expected, why = writer.image_source(r)
            if path is None:
                excluded[why] += 1
                continue
            stem = safe_name(Path(r.file_path or path.name).stem, "part")
            name = writer.unique(folder, stem, path.suffix.lower() or ".png")
            if not writer.copy_image(path, expected, folder / name):
                excluded["image changed since inspection"] += 1
                continue
            map_rel = ""
            if split != "uncertain":
                map_rel = writer.write_map(r, stage / "anomaly_maps" / category / split / label / Path(name).stem)
            writer.write_overlay(r, folder / name, stage / "overlays" / category / split / label / Path(name).stem)
            random += r.random_weights
            counts[f"{category}/{split}/{label}"] += 1
            exported += 1
            manifest.writerow([
                category, split, label, (folder / name).relative_to(stage).as_posix(), map_rel, r.id,
                r.content_hash, r.inspected_at.isoformat(), repr(r.score), repr(r.threshold),
                r.model_verdict.value, r.effective_verdict.value, source, r.last_reviewed_by or "",
                r.override_count, "true" if r.random_weights else "false", r.file_path or "",
            ])  # fmt: skip
    progress.report(total, total, PHASE_EXPORT)
    summary = {
        "format": "inspector-dataset-export",
        "created_at": datetime.now(UTC).isoformat(),
        "inspector_version": inspector.__version__,
        "scope": {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in asdict(resolved.scope).items()},
        "options": asdict(options),
        "exported": exported,
        "counts": dict(sorted(counts.items())),
        "excluded": dict(sorted(excluded.items())),
        "anomaly_maps": writer.maps,
        "overlays": writer.overlays,
        "random_weights": random,
        "notes": [
            "Labels are the verdicts after operator review; defect folders are operator labels "
            + ("or, where none, the captioner's guess." if options.captioner_labels else "only."),
            "No ground_truth masks: the station records image-level labels only.",
        ]
        + (
            [f"{random} exported parts were scored with RANDOM WEIGHTS: their anomaly maps are not exported."]
            if random
            else []
        ),
    }
    (stage / "export.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return {
        "exported": exported,
        "counts": dict(counts),
        "excluded": dict(excluded),
        "maps": writer.maps,
        "overlays": writer.overlays,
        "random_weights": random,
    }
