"""Zero-shot defect type: the flagged region against the recipe's defect classes, with CLIP.

Each class name goes into a small template ensemble with the part's name (``a photo of a screw
with a scratch defect.``, ...); the prompts' L2-normalised text embeddings are averaged per class
(CLIP's prompt ensembling), the crop's image embedding is compared with each class prototype,
and a softmax over the classes with CLIP's logit scale (capped at 100) gives the probabilities.
The top class and its probability are stored beside the caption as the machine's guess; the
operator's label in the review screen is what counts.

The CLIP model is the detector's own when the detector is WinCLIP (pass its ``LoadedModel``: no
second copy in memory), else the registry's ``clip-vit-b-16`` loaded lazily on first use. A
recipe without defect classes gets no defect type. One class only is not a choice: it is
returned with confidence 1.0.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from inspector.captioning.text import object_phrase
from inspector.core.registry import ModelSpec
from inspector.detectors.base import clip_of_detector  # noqa: F401 - re-exported: its home is the detectors
from inspector.errors import InspectorError

if TYPE_CHECKING:
    from inspector.backbones.loading import LoadedModel

DEFAULT_CLIP = "clip-vit-b-16"
MAX_LOGIT_SCALE = 100.0

DEFECT_TEMPLATES: tuple[str, ...] = (
    "a photo of a {object} with a {defect} defect.",
    "a close-up photo of a {object} with a {defect} defect.",
    "a cropped photo of the {object} with a {defect} defect.",
    "a photo of a {defect} defect on a {object}.",
    "a close-up photo of a {defect} defect on the {object}.",
    "a photo of the {object} showing {defect}.",
    "a photo of a {object} with {defect}, for visual inspection.",
)


def class_phrase(name: str) -> str:
    """A recipe class name in plain words: ``cut_inner_insulation`` -> ``cut inner insulation``."""
    return " ".join(str(name).replace("_", " ").replace("-", " ").split())


def defect_prompts(object_name: str, defect: str, templates: Sequence[str] = DEFECT_TEMPLATES) -> list[str]:
    """The prompts averaged into one class's text prototype."""
    obj, phrase = object_phrase(object_name), class_phrase(defect)
    return [t.format(object=obj, defect=phrase) for t in templates]


def unique_classes(classes: Sequence[str]) -> list[str]:
    """The recipe's classes without blanks and duplicates (same words), in their order."""
    seen: set[str] = set()
    out: list[str] = []
    for name in classes:
        key = class_phrase(name).lower()
        if key and key not in seen:
            seen.add(key)
            out.append(str(name).strip())
    return out


@dataclass(frozen=True)
class DefectTypeResult:
    """The classifier's guess for one region.

    Attributes:
        label: The recipe's class name (as the recipe spells it).
        confidence: Its softmax probability over the recipe's classes.
        probabilities: ``(class, probability)`` for every class, highest first.
        random_weights: The CLIP model had random weights (the guess is meaningless).
    """

    label: str
    confidence: float
    probabilities: tuple[tuple[str, float], ...]
    random_weights: bool = False


class DefectClassifier(Protocol):
    """What the caption scheduler asks of a defect-type classifier: this process's
    :class:`DefectTypeClassifier` or the one in a caption process (``ProcessCaptioner.classifier()``)."""

    def classify(self, image: np.ndarray, object_name: str, classes: Sequence[str]) -> DefectTypeResult | None: ...


class DefectTypeClassifier:
    """Zero-shot defect-type classification of a region with an open_clip CLIP model.

    Args:
        loaded: An already loaded CLIP model (the WinCLIP detector's), shared, not copied.
        model: Registry id (or spec) of the CLIP model to load when ``loaded`` is None.
        device / dtype: For that model.
        random_weights: Build it with random weights (tests and benchmarks only).
        templates: Prompt templates with ``{object}`` and ``{defect}``.
    """

    def __init__(
        self,
        loaded: LoadedModel | None = None,
        *,
        model: str | ModelSpec = DEFAULT_CLIP,
        device: str = "auto",
        dtype: str = "auto",
        random_weights: bool = False,
        templates: Sequence[str] = DEFECT_TEMPLATES,
    ):
        if loaded is not None and (loaded.tokenizer is None or not hasattr(loaded.model, "encode_text")):
            raise InspectorError(f"Model '{loaded.spec.id}' is not a CLIP model: defect types need one.")
        if not templates or any("{defect}" not in t for t in templates):
            raise InspectorError("Every defect-type template needs a {defect} slot.")
        self._loaded = loaded
        self.model = loaded.spec if loaded is not None else model
        self.model_id = self.model.id if isinstance(self.model, ModelSpec) else str(self.model)
        self.device = device if loaded is None else loaded.runtime.device
        self.dtype = dtype if loaded is None else loaded.runtime.dtype
        self.random_weights = bool(random_weights) if loaded is None else loaded.random_weights
        self.templates = tuple(templates)
        self._lock = threading.Lock()
        self._text_cache: dict[tuple[str, tuple[str, ...]], Any] = {}

    @property
    def loaded(self) -> bool:
        return self._loaded is not None

    def load(self) -> LoadedModel:
        """The CLIP model, loaded on the calling thread the first time.

        Raises:
            WeightsMissingError: Its weights are not on this station.
        """
        if self._loaded is None:
            from inspector.backbones.loading import load_for_role

            self._loaded = load_for_role(
                self.model,
                "clip",
                "defect types need a CLIP model",
                device=self.device,
                dtype=self.dtype,
                random_weights=self.random_weights,
            )
        return self._loaded

    def _text_prototypes(self, object_name: str, classes: tuple[str, ...]):
        from inspector._torch import import_torch
        from inspector.detectors.vit_runtime import encode_text

        key = (object_phrase(object_name), classes)
        if key not in self._text_cache:
            torch = import_torch()
            F = torch.nn.functional
            loaded = self.load()  # loaded already: classify() loads before it asks for the prototypes
            prompts = [p for c in classes for p in defect_prompts(object_name, c, self.templates)]
            with torch.inference_mode():
                tokens = loaded.tokenizer(prompts).to(loaded.runtime.torch_device)
                emb = F.normalize(encode_text(loaded.model, tokens).float(), dim=-1)
                emb = emb.view(len(classes), len(self.templates), -1).mean(dim=1)
                self._text_cache[key] = F.normalize(emb, dim=-1)
        return self._text_cache[key]

    def rebuild_args(self) -> dict[str, Any]:
        """Keyword arguments that build the same classifier elsewhere (a caption process loads its own copy)."""
        return dict(
            model=self.model,
            device=self.device,
            dtype=self.dtype,
            random_weights=self.random_weights,
            templates=self.templates,
        )

    def classify(self, image: np.ndarray, object_name: str, classes: Sequence[str]) -> DefectTypeResult | None:
        """The most likely of ``classes`` for an RGB uint8 region; None without classes."""
        names = tuple(unique_classes(classes))
        if not names:
            return None
        with self._lock:
            loaded = self.load()
            if len(names) == 1:
                return DefectTypeResult(names[0], 1.0, ((names[0], 1.0),), loaded.random_weights)
            from inspector._torch import import_torch
            from inspector.detectors.base import preprocess

            torch = import_torch()
            text = self._text_prototypes(object_name, names)
            visual = loaded.model.visual
            size = getattr(visual, "image_size", None) or (loaded.spec.input_size, loaded.spec.input_size)
            size = (int(size[0]), int(size[1])) if isinstance(size, (tuple, list)) else (int(size), int(size))
            x = preprocess([image], size, loaded.spec.mean, loaded.spec.std, loaded.runtime)
            with torch.inference_mode():
                emb = torch.nn.functional.normalize(loaded.model.encode_image(x).float(), dim=-1)
                scale = (
                    float(loaded.model.logit_scale.float().exp())
                    if hasattr(loaded.model, "logit_scale")
                    else MAX_LOGIT_SCALE
                )
                probs = (min(scale, MAX_LOGIT_SCALE) * emb @ text.T).softmax(dim=-1)[0].double().cpu().numpy()
        order = np.argsort(-probs, kind="stable")
        ranked = tuple((names[i], float(probs[i])) for i in order)
        return DefectTypeResult(ranked[0][0], ranked[0][1], ranked, loaded.random_weights)
