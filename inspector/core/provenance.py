"""Calibration provenance: a threshold is used only with the weights it was measured with.

``inspector recipe calibrate`` records the model and the fingerprint of its weights in the recipe's
``calibration``. Before a run scores anything (``inspector run``, the window's Start), the recipe's
calibration is compared with the weights now loaded:

- calibrated with random weights, with other weights (another fingerprint), or before fingerprints
  were recorded: refused (:class:`CalibrationRefused`), unless the run itself uses random weights
  (then nothing it produces means anything, and it is marked so);
- never calibrated: allowed, with a warning (the threshold is a default, not measured on good parts);
- a trained version whose training gate did not pass (``recipe.training["gate"]``): refused, unless
  the run uses random weights. The Train panel does not offer such a version; this keeps a selected
  file from being used anyway.
"""

from __future__ import annotations

from dataclasses import dataclass

from inspector.core.fingerprint import short_fingerprint
from inspector.core.recipe import Recipe
from inspector.core.types import DetectorInfo
from inspector.errors import RecipeError


class CalibrationRefused(RecipeError):
    """The recipe's threshold was not measured with the weights loaded now (exit code 2)."""


@dataclass(frozen=True)
class CalibrationCheck:
    """The outcome: ``refusal`` (the run must not start) and/or ``warning`` (it may, with this said)."""

    refusal: str | None = None
    warning: str | None = None


def _how(recipe_path: str | None) -> str:
    target = recipe_path or "RECIPE.json"
    return f"recalibrate: `inspector recipe calibrate {target}` (or Calibrate in the window's Recipes tab)"


def is_calibrated(recipe: Recipe) -> bool:
    return bool(recipe.calibration) and "threshold" in recipe.calibration


def uncalibrated_warning(recipe: Recipe, recipe_path: str | None = None) -> str | None:
    """The start-up warning for a recipe whose threshold was never measured, else None."""
    if is_calibrated(recipe):
        return None
    threshold = f"{recipe.threshold:g}" if isinstance(recipe.threshold, int | float) else repr(recipe.threshold)
    return (
        f"Recipe '{recipe.name}' is not calibrated: its threshold {threshold} is a default, not "
        f"measured on good parts, so verdicts may be wrong. Calibrate it: `inspector recipe calibrate "
        f"{recipe_path or 'RECIPE.json'}` (or Calibrate in the window's Recipes tab)."
    )


def gate_refusal(recipe: Recipe) -> str | None:
    """Why a trained recipe version must not score parts (its training gate did not pass), else None."""
    gate = recipe.training.get("gate") if isinstance(recipe.training, dict) else None
    if not isinstance(gate, dict) or gate.get("passed", True):
        return None
    reasons = "; ".join(str(r) for r in gate.get("reasons", ())) or "no reason recorded"
    return (
        f"Recipe '{recipe.name}' is a trained version that did not pass its training gate ({reasons}). "
        "Not started; use the version it was trained from, or train again with more good parts."
    )


def check_calibration(recipe: Recipe, info: DetectorInfo, recipe_path: str | None = None) -> CalibrationCheck:
    """Compare the recipe's calibration with the weights that will score the run (and its training gate)."""
    if not info.random_weights and (refusal := gate_refusal(recipe)):
        return CalibrationCheck(refusal=refusal)
    warning = uncalibrated_warning(recipe, recipe_path)
    if warning is not None or info.random_weights:
        return CalibrationCheck(warning=warning)
    cal = recipe.calibration
    loaded = f"{info.model_id}, weights {short_fingerprint(info.fingerprint)}"
    if cal.get("random_weights"):
        problem = "was calibrated with RANDOM WEIGHTS, so its threshold means nothing for real ones"
    elif not cal.get("model_fingerprint"):
        problem = "was calibrated before the station recorded which weights a calibration used"
    elif cal["model_fingerprint"] != info.fingerprint:
        made = f"{cal.get('model', '?')}, weights {short_fingerprint(str(cal['model_fingerprint']))}"
        problem = f"was calibrated with other weights ({made})"
    else:
        return CalibrationCheck()
    return CalibrationCheck(
        refusal=f"Recipe '{recipe.name}' {problem}; the weights loaded now are {loaded}. "
        f"Not started; {_how(recipe_path)}."
    )


def require_calibration(recipe: Recipe, info: DetectorInfo, recipe_path: str | None = None) -> str | None:
    """Raise :class:`CalibrationRefused` when the run must not start; else return the warning (or None)."""
    check = check_calibration(recipe, info, recipe_path)
    if check.refusal:
        raise CalibrationRefused(check.refusal)
    return check.warning
