"""AnomalyDINO: few-shot anomaly detection with DINOv2 patch features.

Damm et al., "AnomalyDINO: Boosting Patch-based Few-shot Anomaly Detection with DINOv2", WACV 2025
(reference code: github.com/dammsi/AnomalyDINO). The method, as implemented here:

1. Each image is resized to ``resolution`` x ``resolution`` pixels (448 by default) and passed
   through DINOv2; the patch tokens of the last layer (after the final layer norm, class token and
   register tokens dropped) are the patch features.
2. ``fit``: the L2-normalised patch features of the k good references form the memory bank
   (optionally with the references rotated by 0, 45, ..., 315 degrees, and optionally without
   their background patches).
3. ``predict``: each test patch gets the cosine distance (1 - cosine similarity) to its nearest
   neighbour in the memory bank; the image score is the mean of the 1% highest patch distances
   (the maximum when the grid has fewer than 100 patches, as in the reference code); the anomaly
   map is the patch-distance grid upsampled bilinearly, smoothed with a Gaussian (sigma = 4 px)
   and brought to the image's resolution.
4. Optional zero-shot masking (``masking=True``): the first principal component of an image's
   own patch features, thresholded at 10, separates object from background; if the centre of
   the image is mostly "background" the sign is flipped; the mask is then dilated and closed with
   a 3x3 kernel. Masked-out test patches get distance 0 (they count neither for the map nor the
   score). As in the reference code, references are not masked unless ``mask_references=True``.

Differences from the reference code, for a station that batches images of any size: images are
resized to a square (the reference resizes the shorter side to 448 and crops to a multiple of 14),
and the Gaussian smoothing is done at the model's input resolution before resizing to the
image (see :func:`~inspector.detectors.base.maps_to_image_size`) rather than at full image size.

Nearest-neighbour search is exhaustive (a matrix product against the whole bank, in chunks). With
an fp32 model it is exact. Where the model runs in reduced precision (bf16 on CPUs with AMX, fp16
on GPUs) the similarity matrix is computed in that precision to find a few candidates per patch,
whose distances are then recomputed in fp32: a reported distance is always a true distance, at
most a few thousandths above the exact nearest one, and identical patches give 0.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from inspector.core.types import AnomalyPrediction
from inspector.detectors.base import as_rgb_uint8, loaded_info, maps_to_image_size, preprocess
from inspector.errors import InspectorError

if TYPE_CHECKING:
    from inspector.backbones.loading import LoadedModel

log = logging.getLogger(__name__)

ROTATION_ANGLES = (0, 45, 90, 135, 180, 225, 270, 315)
MASK_THRESHOLD = 10.0  # first principal component threshold of the reference code
_CANDIDATES = 4  # low-precision NN candidates re-ranked exactly in fp32
_SIM_CHUNK_ELEMENTS = 1 << 22  # similarity entries computed at once (cache-friendly chunks)


def top_fraction_mean(distances, fraction: float = 0.01):
    """Image score: mean of the ``fraction`` highest patch distances (per row).

    As AnomalyDINO's ``mean_top1p``: the count is ``int(n * fraction)``; when that is 0 (fewer than
    100 patches at 1%) the maximum is used. ``distances`` is an ``(N, P)`` torch tensor or numpy
    array; returns a float64 numpy array of ``N`` scores.
    """
    d = np.asarray(distances, dtype=np.float64)
    if d.ndim == 1:
        d = d[None]
    d = d.reshape(d.shape[0], -1)
    k = int(d.shape[1] * fraction)
    if k <= 0:
        return d.max(axis=1)
    top = np.partition(d, d.shape[1] - k, axis=1)[:, d.shape[1] - k :]
    return top.mean(axis=1)


def background_mask(
    features: np.ndarray,
    grid_size: tuple[int, int],
    threshold: float = MASK_THRESHOLD,
    kernel_size: int = 3,
    border: float = 0.2,
) -> np.ndarray:
    """AnomalyDINO's zero-shot foreground mask from one image's patch features.

    Args:
        features: ``(h * w, D)`` patch features (not L2-normalised: the threshold refers to the
            scale of DINOv2's last-layer features).
        grid_size: ``(h, w)`` of the patch grid.
        threshold: Patches whose first principal component exceeds it are foreground.
        kernel_size: Size of the dilation / closing kernel (odd).
        border: The centre region used to choose the component's sign leaves out this fraction
            of the grid on each side.

    Returns:
        Boolean ``(h * w,)`` mask, True for the patches to keep.
    """
    import cv2

    h, w = grid_size
    x = np.asarray(features, dtype=np.float64).reshape(h * w, -1)
    centred = x - x.mean(axis=0, keepdims=True)
    _, vectors = np.linalg.eigh(centred.T @ centred)
    component = vectors[:, -1]
    if component[np.argmax(np.abs(component))] < 0:  # sklearn's sign convention (svd_flip)
        component = -component
    first_pc = centred @ component
    mask = first_pc > threshold
    centre = mask.reshape(h, w)[int(h * border) : int(h * (1 - border)), int(w * border) : int(w * (1 - border))]
    if centre.sum() <= centre.size * 0.35:  # the object is expected near the centre
        mask = -first_pc > threshold
    kernel = np.ones((kernel_size, kernel_size), np.uint8)
    grid = cv2.dilate(mask.reshape(h, w).astype(np.uint8), kernel)
    grid = cv2.morphologyEx(grid, cv2.MORPH_CLOSE, kernel)
    return grid.astype(bool).reshape(-1)


def rotated_copies(image: np.ndarray, angles: Sequence[float] = ROTATION_ANGLES) -> list[np.ndarray]:
    """The reference code's rotation augmentation: rotate about the centre, reflect at the border."""
    import cv2

    h, w = image.shape[:2]
    out = []
    for angle in angles:
        if angle % 360 == 0:
            out.append(image)
            continue
        matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
        out.append(cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_DEFAULT))
    return out


def nearest_neighbour_distances(queries, bank, bank_low=None, candidates: int = _CANDIDATES):
    """Cosine distance of each query to its nearest neighbour in ``bank``.

    Args:
        queries: ``(Q, D)`` float32 tensor, rows L2-normalised.
        bank: ``(M, D)`` float32 tensor, rows L2-normalised.
        bank_low: Optional ``(D, M)`` copy of the bank in reduced precision (bf16/fp16). When given,
            the similarities are computed in that precision to pick ``candidates`` neighbours per
            query, whose distances are then recomputed exactly in fp32.
        candidates: Candidates re-ranked per query in the reduced-precision path.

    Returns:
        ``(Q,)`` float32 tensor of distances in [0, 2].
    """
    from inspector._torch import import_torch

    torch = import_torch()
    m = bank.shape[0]
    step = max(1, _SIM_CHUNK_ELEMENTS // max(m, 1))
    out = torch.empty(queries.shape[0], dtype=torch.float32, device=queries.device)
    k = min(candidates, m)
    for start in range(0, queries.shape[0], step):
        q = queries[start : start + step]
        if bank_low is None:
            best = (q @ bank.T).amax(dim=1)
        else:
            sims = q.to(bank_low.dtype) @ bank_low
            idx = sims.topk(k, dim=1).indices if k > 1 else sims.argmax(dim=1, keepdim=True)
            best = torch.einsum("qd,qkd->qk", q, bank[idx]).amax(dim=1)
        out[start : start + step] = (1.0 - best).clamp_(min=0.0)
    return out


class AnomalyDinoDetector:
    """Few-shot AnomalyDINO detector on a DINOv2 backbone (``Dinov2Model``).

    Args:
        loaded: The DINOv2 model from :func:`~inspector.backbones.loading.load_model`.
        resolution: Side of the square model input in pixels (a multiple of the patch size).
        masking: Zero-shot background masking of the test images' patches.
        mask_references: Also drop the references' background patches from the memory bank
            (only with ``masking``; off in the reference code).
        top_fraction: Fraction of the highest patch distances averaged into the image score.
        sigma: Gaussian smoothing of the anomaly map, in pixels at ``resolution``.
        augment_rotations: Add the references rotated by 45, 90, ..., 315 degrees to the bank.
        batch_size: Most images per forward pass (4: about 10% more images/s than 1 on a
            2-core CPU in bf16; 8 is no faster).
        mask_threshold: Threshold on the first principal component for masking.
    """

    needs_references = True

    def __init__(
        self,
        loaded: LoadedModel,
        resolution: int = 448,
        masking: bool = False,
        top_fraction: float = 0.01,
        sigma: float = 4.0,
        augment_rotations: bool = False,
        mask_references: bool = False,
        batch_size: int = 4,
        mask_threshold: float = MASK_THRESHOLD,
    ) -> None:
        patch = int(loaded.model.config.patch_size)
        if resolution <= 0 or resolution % patch:
            raise InspectorError(
                f"AnomalyDINO resolution {resolution} must be a positive multiple of the patch size "
                f"{patch} (e.g. {max(1, round(resolution / patch)) * patch})."
            )
        if not 0.0 < top_fraction <= 1.0:
            raise InspectorError(f"top_fraction must be in (0, 1], got {top_fraction}.")
        if batch_size < 1:
            raise InspectorError(f"batch_size must be at least 1, got {batch_size}.")
        self.loaded = loaded
        self.resolution = int(resolution)
        self.masking = bool(masking)
        self.mask_references = bool(mask_references)
        self.top_fraction = float(top_fraction)
        self.sigma = float(sigma)
        self.augment_rotations = bool(augment_rotations)
        self.batch_size = int(batch_size)
        self.mask_threshold = float(mask_threshold)
        self.grid_size = (self.resolution // patch, self.resolution // patch)
        self._skip_tokens = 1 + int(getattr(loaded.model.config, "num_register_tokens", 0) or 0)
        self._bank: Any = None  # torch tensors once fitted (torch is imported lazily)
        self._bank_low: Any = None
        self._references: list[np.ndarray] = []
        self.encoder: Any = None  # an OpenVinoModel when the OpenVINO backend runs the DINOv2 forward
        self.info = loaded_info(loaded, "anomalydino")

    # -- features -------------------------------------------------------------------------
    def _pixels(self, images: Sequence[np.ndarray]):
        spec = self.loaded.spec
        return preprocess(
            images, (self.resolution, self.resolution), spec.mean, spec.std, self.loaded.runtime, spec.interpolation
        )

    def _forward(self, images: Sequence[np.ndarray]):
        from inspector._torch import import_torch

        torch = import_torch()
        if self.encoder is not None:
            return torch.from_numpy(self.encoder(self._pixels(images).numpy())[0])
        with torch.inference_mode():
            return self.loaded.model(pixel_values=self._pixels(images)).last_hidden_state

    # -- backend --------------------------------------------------------------------------
    def use_openvino(self, precision: str = "float32", calibration_images: Sequence[np.ndarray] = ()) -> None:
        """Run the DINOv2 forward through OpenVINO (self-checked against torch); refits the memory bank.

        ``precision``: ``float32``, ``bfloat16`` or ``int8`` (calibrated on ``calibration_images``;
        see :func:`inspector.detectors.acceleration.try_int8` for the gate on maps and scores).
        """
        from inspector.detectors.acceleration import compile_dino

        self.encoder = compile_dino(self, precision, calibration_images)
        self.info = dataclasses.replace(self.info, backend="openvino", dtype=precision)
        self._refit()

    def use_torch(self) -> None:
        """Back to the torch forward (in the model's own dtype); refits the memory bank."""
        self.encoder = None
        self.info = dataclasses.replace(self.info, backend="torch", dtype=self.loaded.runtime.dtype)
        self._refit()

    def _refit(self) -> None:
        if self._references:
            self.fit(self._references)

    def encoder_forward(self, images: Sequence[np.ndarray]) -> None:
        """Only preprocessing and the DINOv2 forward pass (what ``inspector bench`` compares with)."""
        self._forward(images)

    def patch_features(self, images: Sequence[np.ndarray]):
        """Last-layer patch features ``(N, h * w, D)`` as float32 (not L2-normalised)."""
        from inspector._torch import import_torch

        torch = import_torch()
        chunks = []
        with torch.inference_mode():
            for start in range(0, len(images), self.batch_size):
                hidden = self._forward(images[start : start + self.batch_size])
                chunks.append(hidden[:, self._skip_tokens :].float())
        return torch.cat(chunks) if len(chunks) > 1 else chunks[0]

    def _masks(self, features) -> np.ndarray:
        """``(N, h * w)`` foreground masks of a batch of patch features."""
        array = features.cpu().numpy()
        return np.stack([background_mask(f, self.grid_size, self.mask_threshold) for f in array])

    # -- few-shot memory ------------------------------------------------------------------
    def fit(self, references: Sequence[np.ndarray]) -> None:
        """Build the memory bank from known-good reference images (replaces any previous one)."""
        from inspector._torch import import_torch

        torch = import_torch()
        references = [as_rgb_uint8(r) for r in references]
        if not references:
            raise InspectorError("AnomalyDINO needs at least one good reference image.")
        images = []
        for ref in references:
            images.extend(rotated_copies(ref) if self.augment_rotations else [ref])
        with torch.inference_mode():
            feats = self.patch_features(images)
            if self.masking and self.mask_references:
                keep = torch.from_numpy(self._masks(feats)).to(feats.device)
                bank = feats[keep]
                if bank.shape[0] == 0:
                    raise InspectorError(
                        "Background masking removed every patch of the references; turn masking off for this product."
                    )
            else:
                bank = feats.reshape(-1, feats.shape[-1])
            bank = torch.nn.functional.normalize(bank, dim=1).contiguous()
            low = self.loaded.runtime.torch_dtype
            self._bank = bank
            self._bank_low = bank.T.to(low).contiguous() if low != torch.float32 else None
        self._references = list(references)
        self.info = dataclasses.replace(self.info, shots=len(references))
        log.info(
            "AnomalyDINO memory bank: %d patches from %d reference(s)%s.",
            bank.shape[0],
            len(references),
            " with rotations" if self.augment_rotations else "",
        )

    @property
    def memory_bank_size(self) -> int:
        return 0 if self._bank is None else int(self._bank.shape[0])

    # -- scoring --------------------------------------------------------------------------
    def patch_distances(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Nearest-neighbour cosine distance of every patch, ``(N, h, w)`` float32.

        Masked-out patches (with ``masking``) are 0.
        """
        return self._distances_and_classes(images)[0]

    def _distances_and_classes(self, images: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """``patch_distances`` and the unit class-token embeddings of the same forward passes."""
        from inspector._torch import import_torch

        torch = import_torch()
        if self._bank is None:
            raise InspectorError("AnomalyDINO has no good references yet: call fit(references) before predict().")
        images = [as_rgb_uint8(i) for i in images]
        if not images:
            return np.zeros((0, *self.grid_size), dtype=np.float32), np.zeros((0, 0), np.float32)
        h, w = self.grid_size
        out = np.empty((len(images), h, w), dtype=np.float32)
        classes = []
        with torch.inference_mode():
            for start in range(0, len(images), self.batch_size):
                batch = images[start : start + self.batch_size]
                hidden = self._forward(batch)
                classes.append(torch.nn.functional.normalize(hidden[:, 0].float(), dim=-1).cpu().numpy())
                feats = hidden[:, self._skip_tokens :].float()
                queries = torch.nn.functional.normalize(feats.reshape(-1, feats.shape[-1]), dim=1)
                dist = nearest_neighbour_distances(queries, self._bank, self._bank_low)
                dist = dist.reshape(len(batch), h * w).cpu().numpy()
                if self.masking:
                    dist = np.where(self._masks(feats), dist, np.float32(0.0))
                out[start : start + len(batch)] = dist.reshape(len(batch), h, w)
        return out, np.concatenate(classes)

    def image_embeddings(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Unit DINOv2 class-token embeddings ``(N, D)`` of whole images (as ``predict`` gives them)."""
        from inspector._torch import import_torch

        torch = import_torch()
        images = [as_rgb_uint8(i) for i in images]
        rows = []
        with torch.inference_mode():
            for start in range(0, len(images), self.batch_size):
                hidden = self._forward(images[start : start + self.batch_size])
                rows.append(torch.nn.functional.normalize(hidden[:, 0].float(), dim=-1).cpu().numpy())
        return np.concatenate(rows) if rows else np.zeros((0, 0), np.float32)

    def predict(self, images: Sequence[np.ndarray]) -> list[AnomalyPrediction]:
        """Score a batch of RGB uint8 images of any sizes; maps have each image's resolution."""
        images = [as_rgb_uint8(i) for i in images]
        distances, classes = self._distances_and_classes(images)
        if not images:
            return []
        scores = top_fraction_mean(distances, self.top_fraction)
        maps = maps_to_image_size(distances, images, (self.resolution, self.resolution), self.sigma)
        random_weights = self.loaded.random_weights
        return [
            AnomalyPrediction(score=float(s), anomaly_map=m, random_weights=random_weights, embedding=e)
            for s, m, e in zip(scores, maps, classes, strict=True)
        ]
