"""Many-shot memory: AnomalyDINO with a PatchCore coreset over all the station's good parts.

AnomalyDINO (Damm et al., WACV 2025) scores a patch by its cosine distance to the nearest patch of
the good references; with 1-4 references the memory is small. Full-shot methods reach their
98-99 % image AUROC with the patches of *all* good parts, subsampled by a greedy coreset (PatchCore,
Roth et al., CVPR 2022) so memory and search stay bounded. ``train`` does exactly that: DINOv2
patch features of every good part (as AnomalyDINO: last layer, L2-normalised), k-center greedy
selection of ``coreset_ratio`` of them (:mod:`inspector.detectors.coreset`), and AnomalyDINO's
scoring against the selection (exact nearest neighbour, top-1 % mean image score, smoothed map).

Deviations: PatchCore's own features (WideResNet mid-level, 3x3 aggregation) are replaced by
AnomalyDINO's DINOv2 features, which is the point of this method; nearest neighbours are exact
(an exhaustive matrix product; faiss was not added: the exact search over a 10 % coreset of 300
parts is already fast on the CPU, see the README's figures).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from inspector.core.progress import ProgressState
from inspector.detectors.anomalydino import AnomalyDinoDetector, rotated_copies
from inspector.detectors.base import as_rgb_uint8
from inspector.detectors.coreset import k_center_greedy
from inspector.detectors.trainable import Stopwatch, TrainReport
from inspector.errors import InspectorError


class MemoryDetector(AnomalyDinoDetector):
    """AnomalyDINO over a coreset-subsampled memory of many good parts.

    Args:
        loaded: The DINOv2 backbone.
        coreset_ratio: Fraction of the good parts' patches kept in the memory (PatchCore: 0.1; 1 keeps all).
        projection_dim: Dimensions of the random projection used for the coreset distances.
        seed: Seed of the projection and the first coreset point.
        **params: AnomalyDINO's options (resolution, masking, top_fraction, sigma, ...).
    """

    def __init__(self, loaded, coreset_ratio: float = 0.1, projection_dim: int = 128, seed: int = 0, **params) -> None:
        super().__init__(loaded, **params)
        if not 0.0 < coreset_ratio <= 1.0:
            raise InspectorError(f"coreset_ratio must be in (0, 1], got {coreset_ratio}.")
        self.coreset_ratio = float(coreset_ratio)
        self.projection_dim = int(projection_dim)
        self.seed = int(seed)
        self.trained = False
        self.info = dataclasses.replace(self.info, detector="memory")

    @property
    def needs_references(self) -> bool:  # type: ignore[override]
        return not self.trained

    def settings(self) -> dict:
        return {
            "coreset_ratio": self.coreset_ratio,
            "projection_dim": self.projection_dim,
            "seed": self.seed,
            "resolution": self.resolution,
            "masking": self.masking,
            "top_fraction": self.top_fraction,
            "sigma": self.sigma,
            "augment_rotations": self.augment_rotations,
        }

    def fit(self, references: Sequence[np.ndarray]) -> None:
        if not self.trained:
            self.train(references)

    def train(self, images: Sequence[np.ndarray], progress: ProgressState | None = None) -> TrainReport:
        """Patch features of every good image, then the greedy coreset of them as the memory."""
        from inspector._torch import import_torch

        torch = import_torch()
        progress = progress or ProgressState()
        clock = Stopwatch()
        images = [as_rgb_uint8(i) for i in images]
        if not images:
            raise InspectorError("The memory detector needs at least one good image.")
        feats = []
        for i in range(0, len(images), self.batch_size):
            progress.check()
            batch = images[i : i + self.batch_size]
            if self.augment_rotations:
                batch = [r for image in batch for r in rotated_copies(image)]
            f = self.patch_features(batch)
            if self.masking and self.mask_references:
                f = f[torch.from_numpy(self._masks(f)).to(f.device)]
            feats.append(f.reshape(-1, f.shape[-1]))
            progress.report(min(i + self.batch_size, len(images)), len(images), "features")
        full = torch.nn.functional.normalize(torch.cat(feats), dim=1)
        result = k_center_greedy(
            full, self.coreset_ratio, projection_dim=self.projection_dim, seed=self.seed, progress=progress
        )
        self._set_bank(full[result.indices].contiguous())
        self.trained = True
        self.info = dataclasses.replace(self.info, shots=len(images))
        bank_mb = self._bank.numel() * 4 / 2**20
        return TrainReport(
            method="memory",
            n_images=len(images),
            losses=result.radii,
            seconds=clock.seconds,
            details={"patches": float(full.shape[0]), "bank_size": float(self._bank.shape[0]), "bank_mb": bank_mb},
        )

    def _set_bank(self, bank) -> None:
        from inspector._torch import import_torch

        torch = import_torch()
        low = self.loaded.runtime.torch_dtype
        self._bank = bank.float().to(self.loaded.runtime.torch_device).contiguous()
        self._bank_low = self._bank.T.to(low).contiguous() if low != torch.float32 else None

    def state(self) -> dict[str, np.ndarray]:
        if self._bank is None:
            raise InspectorError("The memory detector is not trained yet.")
        return {"bank": self._bank.cpu().numpy(), "shots": np.asarray([self.info.shots])}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        from inspector._torch import import_torch

        torch = import_torch()
        bank = np.asarray(state["bank"], dtype=np.float32)
        width = int(self.loaded.model.config.hidden_size)
        if bank.ndim != 2 or bank.shape[1] != width:
            raise InspectorError(f"The memory bank has shape {bank.shape}; this backbone needs (N, {width}).")
        self._set_bank(torch.from_numpy(bank))
        self.trained = True
        self.info = dataclasses.replace(self.info, shots=int(np.asarray(state.get("shots", [0])).reshape(-1)[0]))
