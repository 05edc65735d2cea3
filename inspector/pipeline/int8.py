"""INT8 for a station run (``inspector run --dtype int8``, the window's Precision ``int8``).

INT8 is not a dtype the detector is built in: the detector is built on OpenVINO fp32 and fitted on
the recipe's references as always, then :func:`switch_to_int8` quantises its image encoder and keeps
INT8 only where its maps and scores agree with fp32 on the recipe's *held-out* good parts
(:func:`~inspector.detectors.acceleration.try_int8`, :class:`~inspector.detectors.acceleration.Int8Gate`).
Held-out good parts are the recipe's ``calibration_images`` and the good-part library's reviewed
store parts (:func:`~inspector.training.library.build_library`) that are not references: a few-shot
detector scores its own references as ~0, where no agreement can be measured. Without any, the run
stays on OpenVINO fp32 and says so.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from inspector.core.precision import INT8, EncoderChoice, encoder_choice, model_dtype
from inspector.core.progress import ProgressState
from inspector.core.recipe import Recipe
from inspector.errors import InspectorError

if TYPE_CHECKING:
    from inspector.detectors.acceleration import Int8Gate, Int8Report
    from inspector.detectors.base import Detector

log = logging.getLogger(__name__)

__all__ = [
    "INT8",
    "NO_HELD_OUT",
    "EncoderChoice",
    "HeldOutParts",
    "Int8Outcome",
    "encoder_choice",
    "held_out_good_parts",
    "model_dtype",
    "switch_to_int8",
]

HELD_OUT_LIMIT = 12
"""At most this many held-out good parts are quantised with and compared on (the check takes seconds each)."""

NO_HELD_OUT = (
    "INT8 needs held-out good parts to be checked against fp32: add calibration images to the recipe "
    "(its calibration_images, or the Recipes tab's held-out good images) or review passed parts;"
)
"""The start of the message when there is nothing to check INT8 on (it ends with what runs instead)."""


@dataclass(frozen=True)
class HeldOutParts:
    """Good parts the detector did not learn from: the INT8 check quantises with and compares on them."""

    images: tuple[np.ndarray, ...]
    paths: tuple[str, ...]
    unreadable: tuple[str, ...] = ()  # "path: reason" of the files that could not be read


def held_out_good_parts(recipe: Recipe, store=None, limit: int = HELD_OUT_LIMIT) -> HeldOutParts:
    """The recipe's calibration images, then the library's reviewed good store parts, without the
    references, golden parts and removed parts; at most ``limit``, read with the station's image loader."""
    from inspector.core.images import load_image
    from inspector.store.artifacts import sha256_file
    from inspector.training.library import PartOrigin, build_library

    library = build_library(recipe, store)
    excluded = {p.content_hash for p in library.parts if p.origin is PartOrigin.REFERENCE}
    excluded |= set(recipe.library_excluded)
    if store is not None:
        excluded |= store.golden.hashes(recipe.name)
    candidates: list[tuple[str, str]] = []
    for path in recipe.calibration_images:
        if Path(path).is_file():
            candidates.append((path, sha256_file(Path(path))))
    candidates += [(p.path, p.content_hash) for p in library.parts if p.origin is not PartOrigin.REFERENCE]
    images: list[np.ndarray] = []
    paths: list[str] = []
    unreadable: list[str] = []
    seen = set(excluded)
    for path, content_hash in candidates:
        if len(images) >= limit:
            break
        if content_hash in seen:
            continue
        seen.add(content_hash)
        try:
            images.append(load_image(path))
        except InspectorError as exc:
            unreadable.append(f"{path}: {exc}")
            continue
        paths.append(path)
    missing = [f"{p}: the calibration image is missing" for p in recipe.calibration_images if not Path(p).is_file()]
    return HeldOutParts(tuple(images), tuple(paths), tuple(missing + unreadable))


@dataclass(frozen=True)
class Int8Outcome:
    """What the INT8 step did: ``message`` is shown to the user (stderr, the window's message area)."""

    dtype: str  # what the detector runs now: int8, or its float precision
    message: str
    report: Int8Report | None = None  # None: no check was made (nothing to check on, or not possible)
    final: bool = False  # no report, and trying again with the same recipe would end the same way

    @property
    def settled(self) -> bool:
        """Checked (or not possible): the next run of the same references and calibration images keeps it."""
        return self.report is not None or self.final

    @property
    def accepted(self) -> bool:
        return self.report is not None and self.report.accepted


def switch_to_int8(
    detector: Detector,
    held_out: HeldOutParts | Callable[[], HeldOutParts],
    progress: ProgressState | None = None,
    gate: Int8Gate | None = None,
) -> Int8Outcome:
    """Switch a fitted OpenVINO fp32 detector to INT8 where the gate accepts it; else it stays on its float model.

    ``held_out`` (or a function giving them, called only when INT8 is possible) are the good parts the
    check quantises with and compares on. A detector already on INT8 (checked again because its
    calibration images changed) goes back to fp32 first: INT8 is never compared with itself. A tiled
    detector is checked as it scores, tile by tile (it passes the switch on to its inner detector).
    """
    from inspector.detectors.acceleration import try_int8

    if not callable(getattr(detector, "use_openvino", None)):
        info = detector.info
        message = f"INT8 is not available for '{info.detector}': its image encoder has no OpenVINO path; "
        return Int8Outcome(info.dtype, f"{message}running {info.backend} {info.dtype}.", final=True)
    if detector.info.dtype == INT8:
        detector.use_openvino("float32")  # type: ignore[attr-defined]  # checked just above
    info = detector.info
    running = f"running {info.backend} {info.dtype}"
    parts = held_out() if callable(held_out) else held_out
    if not parts.images:
        if parts.unreadable:
            return Int8Outcome(info.dtype, f"{NO_HELD_OUT} {running}. Not readable: {'; '.join(parts.unreadable[:2])}.")
        return Int8Outcome(info.dtype, f"{NO_HELD_OUT} {running}.")
    if progress is not None:
        progress.report(0, 0, f"Checking INT8 against fp32 on {len(parts.images)} good part(s) …")
    try:
        report = try_int8(detector, parts.images, gate)
    except (InspectorError, RuntimeError) as exc:  # quantising or its self-check failed: the float model stays
        log.warning("INT8 could not be built: %s", exc)
        return Int8Outcome(detector.info.dtype, f"INT8 could not be built ({exc}); {running}.", final=True)
    names = ", ".join(Path(p).name for p in parts.paths[:3]) + (", …" if len(parts.paths) > 3 else "")
    return Int8Outcome(detector.info.dtype, f"{report.describe()} (held out: {names}).", report)
