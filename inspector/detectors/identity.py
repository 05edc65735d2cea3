"""The part-identity check on CLIP (text) and the detector's own image embeddings (references).

See :mod:`inspector.core.identity` for the method and the thresholds. This module holds the torch
side: the CLIP text prototypes of the expected object and its alternatives (a small prompt
ensemble, averaged per object as CLIP's prompt ensembling does), the softmax at CLIP's logit scale
(capped at 100), and the cosine similarity of a part's embedding to the good-part library.

Embeddings come from the detector (``AnomalyPrediction.embedding``, ``detector.reference_embeddings``):
WinCLIP's CLIP class-token embedding serves both signals with no extra forward; AnomalyDINO's DINOv2
class token serves the reference signal, and the text signal then needs CLIP's own forward
(``text_check: on``).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from inspector.core.identity import (
    IdentityCalibration,
    IdentityResult,
    IdentitySettings,
    alternatives_for,
    calibrate_identity,
    decide_identity,
    with_calibration,
)
from inspector.core.registry import ModelSpec

if TYPE_CHECKING:
    from inspector.backbones.loading import LoadedModel

DEFAULT_CLIP = "clip-vit-b-16"
MAX_LOGIT_SCALE = 100.0
OBJECT_TEMPLATES: tuple[str, ...] = (
    "a photo of a {}.",
    "a close-up photo of a {}.",
    "a photo of the {} for visual inspection.",
    "a cropped photo of a {}.",
)


def _unit_rows(array: np.ndarray) -> np.ndarray:
    array = np.asarray(array, dtype=np.float64)
    array = array.reshape(1, -1) if array.ndim == 1 else array
    return array / np.maximum(np.linalg.norm(array, axis=1, keepdims=True), 1e-12)


def leave_one_out_similarities(embeddings: np.ndarray) -> list[float]:
    """Each good part's highest similarity to the *other* good parts (never to itself)."""
    unit = _unit_rows(embeddings)
    if len(unit) < 2:
        return []
    sims = unit @ unit.T
    np.fill_diagonal(sims, -np.inf)
    return [float(v) for v in sims.max(axis=1)]


class PartIdentityCheck:
    """Is this the recipe's object? Text (CLIP zero-shot) and reference (image-image) signals.

    Args:
        settings: The recipe's identity settings (thresholds, text mode, alternatives).
        object_name: The recipe's object.
        other_objects: The station's other recipes' objects (alternatives when ``other_recipes``).
        clip: The detector's CLIP model when the detector is WinCLIP (shared, not copied); its
            embeddings then come with each prediction.
        clip_model / device / dtype / random_weights: The CLIP model to load for ``text_check: on``
            when the detector is not CLIP-based.
    """

    def __init__(
        self,
        settings: IdentitySettings,
        object_name: str,
        other_objects: Sequence[str] = (),
        *,
        clip: LoadedModel | None = None,
        clip_model: str | ModelSpec = DEFAULT_CLIP,
        device: str = "auto",
        dtype: str = "auto",
        random_weights: bool = False,
    ):
        self.settings = settings
        self.object_name = " ".join(str(object_name).split()) or "part"
        self.alternatives = alternatives_for(self.object_name, settings, other_objects)
        self.shared_clip = clip is not None
        self._clip = clip
        self._clip_model = clip_model
        self.device, self.dtype, self.random_weights = device, dtype, bool(random_weights)
        self.text_enabled = settings.enabled and (
            settings.text_check == "on" or (settings.text_check == "auto" and self.shared_clip)
        )
        self._text: Any = None
        self._references: np.ndarray | None = None
        self._lock = threading.Lock()

    # -- models ---------------------------------------------------------------------------------
    def _load_clip(self) -> LoadedModel:
        if self._clip is None:
            from inspector.backbones.loading import load_for_role

            self._clip = load_for_role(
                self._clip_model,
                "clip",
                "the identity check needs CLIP",
                device=self.device,
                dtype=self.dtype,
                random_weights=self.random_weights,
            )
        return self._clip

    def _text_prototypes(self):
        if self._text is None:
            from inspector._torch import import_torch
            from inspector.detectors.vit_runtime import encode_text

            torch = import_torch()
            clip = self._load_clip()
            names = (self.object_name, *self.alternatives)
            prompts = [t.format(name) for name in names for t in OBJECT_TEMPLATES]
            with torch.inference_mode():
                tokens = clip.tokenizer(prompts).to(clip.runtime.torch_device)
                emb = torch.nn.functional.normalize(encode_text(clip.model, tokens).float(), dim=-1)
                emb = emb.view(len(names), len(OBJECT_TEMPLATES), -1).mean(dim=1)
                self._text = torch.nn.functional.normalize(emb, dim=-1).double().cpu().numpy()
        return self._text

    def _logit_scale(self) -> float:
        model = self._load_clip().model
        if not hasattr(model, "logit_scale"):
            return MAX_LOGIT_SCALE
        return min(float(model.logit_scale.detach().float().exp()), MAX_LOGIT_SCALE)

    def clip_embeddings(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """CLIP image embeddings (unit rows) of RGB uint8 images, by CLIP's own forward (no detector to share)."""
        from inspector._torch import import_torch
        from inspector.detectors.base import preprocess

        torch = import_torch()
        clip = self._load_clip()
        visual = clip.model.visual
        size = getattr(visual, "image_size", None) or (clip.spec.input_size, clip.spec.input_size)
        size = (int(size[0]), int(size[1])) if isinstance(size, (tuple, list)) else (int(size), int(size))
        x = preprocess(list(images), size, clip.spec.mean, clip.spec.std, clip.runtime)
        with torch.inference_mode():
            emb = clip.model.encode_image(x).float()
        return _unit_rows(emb.cpu().numpy())

    # -- signals ----------------------------------------------------------------------------------
    def text_probabilities(self, clip_embeddings: np.ndarray) -> list[tuple[float, str]]:
        """For each CLIP embedding: probability of the expected object, and the likeliest alternative."""
        with self._lock:
            text = self._text_prototypes()
            logits = self._logit_scale() * (_unit_rows(clip_embeddings) @ text.T)
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        out = []
        for row in probs:
            best = int(np.argmax(row[1:])) if len(row) > 1 else None
            out.append((float(row[0]), self.alternatives[best] if best is not None else ""))
        return out

    def set_references(self, embeddings: np.ndarray | None) -> None:
        """The good-part library's embeddings (in the detector's embedding space); None: no reference signal."""
        self._references = None if embeddings is None or len(embeddings) == 0 else _unit_rows(embeddings)

    def reference_similarity(self, embedding: np.ndarray | None) -> float | None:
        if self._references is None or embedding is None:
            return None
        return float((_unit_rows(embedding) @ self._references.T).max())

    # -- the check --------------------------------------------------------------------------------
    def check(
        self, image: np.ndarray, embedding: np.ndarray | None = None, clip_embedding: np.ndarray | None = None
    ) -> IdentityResult | None:
        """The identity of one part (None when the check is off).

        Args:
            image: The RGB uint8 part (for CLIP's own forward when no CLIP embedding is given).
            embedding: The detector's image embedding (reference signal).
            clip_embedding: The CLIP image embedding (text signal); WinCLIP's prediction embedding.
        """
        if not self.settings.enabled:
            return None
        text_p, alternative = None, None
        if self.text_enabled:
            if clip_embedding is None:
                clip_embedding = self.clip_embeddings([image])[0]
            ((text_p, alternative),) = self.text_probabilities(clip_embedding)
        return decide_identity(
            self.settings,
            text_probability=text_p,
            best_alternative=alternative,
            reference_similarity=self.reference_similarity(embedding),
            object_name=self.object_name,
        )

    def calibrate(
        self, good_images: Sequence[np.ndarray], good_embeddings: np.ndarray | None, good_clip: np.ndarray | None
    ) -> IdentityCalibration:
        """Thresholds from known-good parts (their detector embeddings, leave-one-out, and their text probabilities)."""
        text = []
        if self.text_enabled and len(good_images):
            clip = good_clip if good_clip is not None else self.clip_embeddings(good_images)
            text = [p for p, _ in self.text_probabilities(clip)]
        refs = leave_one_out_similarities(good_embeddings) if good_embeddings is not None else []
        return calibrate_identity(text, refs)


def identity_check_for(
    recipe, detector, other_objects: Sequence[str] = (), *, references: Sequence[np.ndarray] | None = None
) -> tuple[PartIdentityCheck | None, str]:
    """The recipe's identity check for this detector, and a line saying how it runs.

    The good references' embeddings (the detector's own, one forward each at start) are the
    reference signal; a recipe without calibrated identity thresholds is calibrated here from those
    references (leave-one-out similarities, never self-matches), and the line says so.
    ``references``: the recipe's reference images as already read (e.g. to fit the detector);
    None: read here from the recipe's files.
    """
    from inspector.detectors.base import clip_of_detector
    from inspector.recipes import reference_images

    settings = recipe.identity
    if not settings.enabled:
        return None, "identity check off (recipe)"
    clip = clip_of_detector(detector)
    check = PartIdentityCheck(
        settings,
        recipe.object_name,
        other_objects,
        clip=clip,
        device=detector.info.device,
        dtype=detector.info.dtype,
        random_weights=detector.info.random_weights,
    )
    embed = getattr(detector, "image_embeddings", None)
    if not recipe.references or embed is None:
        references = []
    elif references is None:
        references = reference_images(recipe)
    embeddings = embed(references) if references and embed is not None else None
    check.set_references(embeddings)
    signals = [name for name, on in (("text", check.text_enabled), ("references", embeddings is not None)) if on]
    if not signals:
        return check, "identity check: no signal (no CLIP text check and no references)"
    if settings.calibrated:
        return check, f"identity check on ({', '.join(signals)}; thresholds from the recipe)"
    calibration = check.calibrate(references, embeddings, embeddings if check.shared_clip else None)
    check.settings = with_calibration(settings, calibration)
    note = f"identity check on ({', '.join(signals)}; thresholds from the {len(references)} references at start"
    if calibration.notes:
        note += "; " + "; ".join(calibration.notes)
    return check, note + ")"
