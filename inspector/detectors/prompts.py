"""WinCLIP's compositional prompt ensemble (Jeong et al., CVPR 2023, Section 4.1).

Every state word (normal or anomalous, with the object name in it) is put into every template;
the text embeddings of each state's prompts are averaged into one prototype per state.

``prompt_set="paper"`` (the default) uses the lists of the paper's supplementary: 7 normal states,
4 anomalous states and 22 templates. ``prompt_set="anomalib"`` uses anomalib's reference lists
(``winclip/prompting.py``) for side-by-side comparisons with it: the same states, and 21 templates,
which lack "a cropped photo of a {}." and "a jpeg corrupted photo of a {}." and list "a jpeg
corrupted photo of the {}." twice (so that template weighs double in the prototypes). More states
come only from the recipe (``extra_normal`` / ``extra_anomalous``). Pure Python: the GUI shows the
ensemble to the process engineer before any model loads.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

NORMAL_STATES: tuple[str, ...] = (
    "{}",
    "flawless {}",
    "perfect {}",
    "unblemished {}",
    "{} without flaw",
    "{} without defect",
    "{} without damage",
)

ANOMALOUS_STATES: tuple[str, ...] = (
    "damaged {}",
    "{} with flaw",
    "{} with defect",
    "{} with damage",
)

TEMPLATES: tuple[str, ...] = (
    "a cropped photo of the {}.",
    "a cropped photo of a {}.",
    "a close-up photo of a {}.",
    "a close-up photo of the {}.",
    "a bright photo of a {}.",
    "a bright photo of the {}.",
    "a dark photo of the {}.",
    "a dark photo of a {}.",
    "a jpeg corrupted photo of a {}.",
    "a jpeg corrupted photo of the {}.",
    "a blurry photo of the {}.",
    "a blurry photo of a {}.",
    "a photo of a {}.",
    "a photo of the {}.",
    "a photo of a small {}.",
    "a photo of the small {}.",
    "a photo of a large {}.",
    "a photo of the large {}.",
    "a photo of the {} for visual inspection.",
    "a photo of a {} for visual inspection.",
    "a photo of the {} for anomaly detection.",
    "a photo of a {} for anomaly detection.",
)

#: anomalib's template list, as its reference code has it (see the module docstring).
ANOMALIB_TEMPLATES: tuple[str, ...] = (
    "a cropped photo of the {}.",
    "a close-up photo of a {}.",
    "a close-up photo of the {}.",
    "a bright photo of a {}.",
    "a bright photo of the {}.",
    "a dark photo of the {}.",
    "a dark photo of a {}.",
    "a jpeg corrupted photo of the {}.",
    "a jpeg corrupted photo of the {}.",
    "a blurry photo of the {}.",
    "a blurry photo of a {}.",
    "a photo of a {}.",
    "a photo of the {}.",
    "a photo of a small {}.",
    "a photo of the small {}.",
    "a photo of a large {}.",
    "a photo of the large {}.",
    "a photo of the {} for visual inspection.",
    "a photo of a {} for visual inspection.",
    "a photo of the {} for anomaly detection.",
    "a photo of a {} for anomaly detection.",
)

PROMPT_SETS: dict[str, tuple[str, ...]] = {"paper": TEMPLATES, "anomalib": ANOMALIB_TEMPLATES}


@dataclass(frozen=True)
class PromptEnsemble:
    """The prompts whose text embeddings are averaged into the normal and anomalous prototypes."""

    normal: list[str]
    anomalous: list[str]


def _states(defaults: Iterable[str], extra: Iterable[str], name: str) -> list[str]:
    states: list[str] = []
    for state in (*defaults, *extra):
        state = " ".join(str(state).split())
        if not state:
            continue
        # A recipe may give extra states with or without the "{}" slot for the object name.
        text = state.replace("{}", name) if "{}" in state else state
        if text not in states:
            states.append(text)
    return states


def build_prompt_ensemble(
    object_name: str,
    extra_normal: Iterable[str] = (),
    extra_anomalous: Iterable[str] = (),
    prompt_set: str = "paper",
) -> PromptEnsemble:
    """Compose the state words with the templates for one object.

    Args:
        object_name: What the part is called in plain words (``"screw"``, ``"metal tile"``).
        extra_normal: More normal states from the recipe; ``"{}"`` marks where the object name
            goes (``"{} with a smooth surface"``); a state without it is used as written.
        extra_anomalous: More anomalous states (``"{} with a crack"``, ``"scratched {}"``).
        prompt_set: ``paper`` (default) or ``anomalib`` (its reference template list).

    Returns:
        Every template filled with every state: ``len(states) * len(templates)`` prompts per class.

    Raises:
        ValueError: The object name is empty, or the prompt set is unknown.
    """
    if prompt_set not in PROMPT_SETS:
        raise ValueError(f"Unknown WinCLIP prompt set '{prompt_set}'; choose {' or '.join(PROMPT_SETS)}.")
    templates = PROMPT_SETS[prompt_set]
    name = " ".join(str(object_name).split())
    if not name:
        raise ValueError("The object name for the prompts is empty; name the part (e.g. 'screw').")
    normal_states = _states(NORMAL_STATES, extra_normal, name)
    anomalous_states = _states(ANOMALOUS_STATES, extra_anomalous, name)
    return PromptEnsemble(
        normal=[template.format(state) for state in normal_states for template in templates],
        anomalous=[template.format(state) for state in anomalous_states for template in templates],
    )
