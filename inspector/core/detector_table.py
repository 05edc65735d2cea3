"""The detector table: one row per detector, the one home of every property other modules ask about.

The recipe (which names are valid, whether scoring needs references), the detector factory (default
backbone, which model role fits), the command line (``--detector`` choices), the benchmark (which
detectors it times by default) and the recipe editor (the words in its list, whether prompts matter)
all read this table; none keeps a list of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from inspector.errors import InspectorError


@dataclass(frozen=True)
class DetectorKind:
    """One detector.

    Attributes:
        name: The recipe's ``detector`` value.
        role: The model role it needs (``clip``: image and text; ``vision``: patch features).
        default_model: Registry id of its backbone when the recipe names none.
        few_shot: Scoring compares with good reference images (a trained detector with its artefact
            does not need them: :attr:`inspector.core.recipe.Recipe.few_shot`).
        trained: Trained from the station's good parts (``inspector train``).
        label: How the recipe editor lists it.
        prompts: Uses WinCLIP's text prompt ensemble (the editor's prompt preview).
        bench: Timed by ``inspector bench`` when no ``--detector`` is given.
    """

    name: str
    role: str
    default_model: str
    few_shot: bool
    trained: bool
    label: str
    prompts: bool = False
    bench: bool = False


_CLIP, _DINO = "clip-vit-b-16-plus-240", "dinov2-small"
# name, role, default model, few-shot, trained, label, prompts, bench
DETECTOR_TABLE: tuple[DetectorKind, ...] = (
    DetectorKind("winclip", "clip", _CLIP, False, False, "Zero-shot — WinCLIP (CLIP)", True, True),
    DetectorKind("winclip+", "clip", _CLIP, True, False, "Few-shot — WinCLIP+ (CLIP)", True, True),
    DetectorKind("anomalydino", "vision", _DINO, True, False, "Few-shot — AnomalyDINO (DINOv2)", bench=True),
    DetectorKind("memory", "vision", _DINO, True, True, "Trained — many-shot memory (DINOv2 coreset)"),
    DetectorKind("simplenet", "vision", _DINO, True, True, "Trained — SimpleNet (DINOv2)"),
    DetectorKind("promptad", "clip", _CLIP, True, True, "Trained — PromptAD (learned CLIP prompts)"),
    # The student's backbone is its WinCLIP+ teacher's.
    DetectorKind("student", "clip", _CLIP, True, True, "Trained — distilled student (WinCLIP+ teacher)"),
)  # fmt: skip

KINDS: dict[str, DetectorKind] = {kind.name: kind for kind in DETECTOR_TABLE}
DETECTORS: tuple[str, ...] = tuple(KINDS)


def detector_kind(name: str) -> DetectorKind:
    """The table's row for ``name``; an unknown name is refused with the valid ones."""
    kind = KINDS.get(name)
    if kind is None:
        raise InspectorError(f"Unknown detector '{name}'; choose one of {', '.join(DETECTORS)}.")
    return kind
