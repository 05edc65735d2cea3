"""Which models a detector can use: one home for the rule (the factory refuses, the editor warns first)."""

from __future__ import annotations

from inspector.core.detector_table import DETECTOR_TABLE
from inspector.core.registry import ModelSpec

ROLES = {k.name: k.role for k in DETECTOR_TABLE}  # a view of the detector table
ROLE_WORDS = {
    "clip": "a CLIP model (image and text)",
    "vision": "a vision model with patch features (DINOv2)",
    "captioner": "a captioner",
}


def model_fit_problem(detector: str, spec: ModelSpec) -> str | None:
    """None when ``detector`` can use ``spec``; else a plain sentence saying why not."""
    wanted = ROLES.get(detector)
    if wanted is None or spec.role == wanted:
        return None
    return (
        f"Detector '{detector}' needs {ROLE_WORDS.get(wanted, wanted)}; '{spec.id}' is "
        f"{ROLE_WORDS.get(spec.role, spec.role)}. Choose another model or another detector."
    )
