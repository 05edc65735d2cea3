"""SimpleNet (Liu et al., "SimpleNet: A Simple Network for Image Anomaly Detection and
Localization", CVPR 2023; reference code github.com/DonaldRR/SimpleNet), on frozen DINOv2 features.

As in the paper and its code:

1. **Features**: two mid-level layers of a frozen pre-trained backbone; every position's feature
   is aggregated over its 3x3 neighbourhood (``patchsize=3``, stride 1) and average-pooled to
   ``embed_dim`` per layer, the layers are stacked and pooled again to ``embed_dim``
   (the reference code's ``Preprocessing`` + ``Aggregator``).
2. **Feature adaptor**: one linear layer (``pre_proj=1``), Xavier-normal initialised.
3. **Anomalous features**: the adapted good features plus i.i.d. Gaussian noise, sigma
   ``noise_std`` (0.015).
4. **Discriminator**: ``Linear(E, 1024) -> BatchNorm1d -> LeakyReLU(0.2) -> Linear(1024, 1)``
   (``dsc_layers=2``, ``dsc_hidden=1024``), trained with the truncated L1 loss
   ``max(0, th - D(good)) + max(0, th + D(noisy))`` with ``th = 0.5``; Adam for the discriminator
   (lr 2e-4, weight decay 1e-5), AdamW for the adaptor (lr 1e-4, the paper's value).
5. **Scoring**: a patch's anomaly score is ``-D(adaptor(feature))``; the image score is the
   maximum over patches; the map is the patch grid upsampled bilinearly and smoothed with a
   Gaussian (sigma 4 px), as the reference code's ``RescaleSegmentor``.

Deviations (each an option): the backbone is DINOv2 (the paper: WideResNet-50 layers 2 and 3) -
``layers`` chooses its blocks (default: the blocks at 1/2 and 3/4 of its depth); images are resized
to a square ``resolution`` (default 448, a multiple of the patch size); ``epochs`` defaults to 40
single passes over the data (the paper: 40 meta-epochs x 4 passes; fewer for CPU training) and
the last epoch is kept (the reference code keeps the epoch with the best *test* AUROC, which a
station without labelled defects cannot do); the backbone features are computed once and kept
(the backbone is frozen and SimpleNet uses no augmentation, so this changes nothing).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from inspector.core.progress import ProgressState
from inspector.core.types import AnomalyPrediction
from inspector.detectors.base import as_rgb_uint8, loaded_info, maps_to_image_size, preprocess
from inspector.detectors.trainable import Stopwatch, TrainReport, seeded_generator, training_autocast
from inspector.errors import InspectorError


def _modules(embed_dim: int, hidden: int):
    from inspector._torch import import_torch

    torch = import_torch()
    nn = torch.nn
    adaptor = nn.Linear(embed_dim, embed_dim)
    discriminator = nn.Sequential(
        nn.Linear(embed_dim, hidden), nn.BatchNorm1d(hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 1, bias=False)
    )
    for module in (*adaptor.modules(), *discriminator.modules()):
        if isinstance(module, nn.Linear):
            nn.init.xavier_normal_(module.weight)
    return adaptor, discriminator


def truncated_l1_loss(true_scores, fake_scores, margin: float = 0.5):
    """SimpleNet's loss: ``mean(max(0, th - D(good))) + mean(max(0, th + D(noisy)))``."""
    return (margin - true_scores).clamp(min=0).mean() + (fake_scores + margin).clamp(min=0).mean()


class SimpleNetDetector:
    """SimpleNet on a frozen DINOv2 (``Dinov2Model``) backbone."""

    def __init__(
        self,
        loaded,
        resolution: int = 448,
        layers: Sequence[int] | None = None,
        embed_dim: int = 1536,
        dsc_hidden: int = 1024,
        noise_std: float = 0.015,
        margin: float = 0.5,
        epochs: int = 40,
        batch_size: int = 8,
        adaptor_lr: float = 1e-4,
        dsc_lr: float = 2e-4,
        sigma: float = 4.0,
        seed: int = 0,
    ) -> None:
        from inspector._torch import import_torch

        torch = import_torch()
        config = loaded.model.config
        patch = int(config.patch_size)
        if resolution <= 0 or resolution % patch:
            raise InspectorError(f"SimpleNet resolution {resolution} must be a positive multiple of {patch}.")
        depth = int(config.num_hidden_layers)
        self.layers = tuple(int(v) for v in (layers or (max(1, depth // 2), max(1, (3 * depth) // 4))))
        if any(not 1 <= v <= depth for v in self.layers):
            raise InspectorError(f"SimpleNet layers must be in 1..{depth}, got {self.layers}.")
        if epochs < 1 or batch_size < 1 or noise_std <= 0:
            raise InspectorError("SimpleNet needs epochs >= 1, batch_size >= 1 and noise_std > 0.")
        self.loaded = loaded
        self.resolution = int(resolution)
        self.grid_size = (self.resolution // patch, self.resolution // patch)
        self.embed_dim = int(embed_dim)
        self.dsc_hidden = int(dsc_hidden)
        self.noise_std = float(noise_std)
        self.margin = float(margin)
        self.epochs = int(epochs)
        self.batch_size = int(batch_size)
        self.adaptor_lr = float(adaptor_lr)
        self.dsc_lr = float(dsc_lr)
        self.sigma = float(sigma)
        self.seed = int(seed)
        self._skip = 1 + int(getattr(config, "num_register_tokens", 0) or 0)
        torch.manual_seed(self.seed)
        self.adaptor, self.discriminator = _modules(self.embed_dim, self.dsc_hidden)
        device = loaded.runtime.torch_device
        self.adaptor.to(device).eval()
        self.discriminator.to(device).eval()
        self.trained = False
        self.info = loaded_info(loaded, "simplenet")

    @property
    def needs_references(self) -> bool:
        return not self.trained

    def settings(self) -> dict:
        return {
            k: getattr(self, k)
            for k in (
                "resolution",
                "layers",
                "embed_dim",
                "dsc_hidden",
                "noise_std",
                "margin",
                "epochs",
                "batch_size",
                "adaptor_lr",
                "dsc_lr",
                "sigma",
                "seed",
            )
        }

    # -- features -------------------------------------------------------------------------
    def encoder_forward(self, images: Sequence[np.ndarray]) -> None:
        self._hidden(images)

    def _hidden(self, images):
        from inspector._torch import import_torch

        torch = import_torch()
        spec = self.loaded.spec
        x = preprocess(images, (self.resolution, self.resolution), spec.mean, spec.std, self.loaded.runtime)
        with torch.inference_mode():
            return self.loaded.model(pixel_values=x, output_hidden_states=True).hidden_states

    def features(self, images: Sequence[np.ndarray]):
        """Locally aggregated backbone features ``(N, h * w, embed_dim)`` float32 (frozen, no grad)."""
        from inspector._torch import import_torch

        torch = import_torch()
        F = torch.nn.functional
        h, w = self.grid_size
        out = []
        with torch.inference_mode():
            for start in range(0, len(images), self.batch_size):
                hidden = self._hidden(images[start : start + self.batch_size])
                per_layer = []
                for layer in self.layers:
                    t = hidden[layer][:, self._skip :].float()  # (B, h*w, C)
                    b, _, c = t.shape
                    grid = t.transpose(1, 2).reshape(b, c, h, w)
                    # 3x3 neighbourhood of every position (zero padding), then pooled to embed_dim
                    local = F.unfold(grid, kernel_size=3, padding=1).transpose(1, 2)  # (B, h*w, C*9)
                    local = F.adaptive_avg_pool1d(local.reshape(b * h * w, 1, c * 9), self.embed_dim)
                    per_layer.append(local.reshape(b * h * w, 1, self.embed_dim))
                stacked = torch.cat(per_layer, dim=1).reshape(-1, 1, len(self.layers) * self.embed_dim)
                pooled = F.adaptive_avg_pool1d(stacked, self.embed_dim).reshape(-1, h * w, self.embed_dim)
                out.append(pooled)
        return torch.cat(out)

    # -- training -------------------------------------------------------------------------
    def fit(self, references: Sequence[np.ndarray]) -> None:
        if not self.trained:
            self.train(references)

    def train(self, images: Sequence[np.ndarray], progress: ProgressState | None = None) -> TrainReport:
        from inspector._torch import import_torch

        torch = import_torch()
        progress = progress or ProgressState()
        clock = Stopwatch()
        images = [as_rgb_uint8(i) for i in images]
        if not images:
            raise InspectorError("SimpleNet needs at least one good image.")
        feats = []
        for i in range(0, len(images), self.batch_size):
            progress.check()
            feats.append(self.features(images[i : i + self.batch_size]))
            progress.report(min(i + self.batch_size, len(images)), len(images), "features")
        feats = torch.cat(feats)  # (N, P, E)
        device = self.loaded.runtime.torch_device
        gen = seeded_generator(self.seed)
        opt_a = torch.optim.AdamW(self.adaptor.parameters(), lr=self.adaptor_lr)
        opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=self.dsc_lr, weight_decay=1e-5)
        self.adaptor.train()
        self.discriminator.train()
        losses = []
        steps = -(-len(images) // self.batch_size)
        try:
            for epoch in range(self.epochs):
                order = torch.randperm(len(images), generator=gen)
                total = 0.0
                for s in range(steps):
                    progress.check()
                    idx = order[s * self.batch_size : (s + 1) * self.batch_size]
                    true = feats[idx].reshape(-1, self.embed_dim).to(device)
                    noise = torch.randn(true.shape, generator=gen).to(device) * self.noise_std
                    opt_a.zero_grad()
                    opt_d.zero_grad()
                    with training_autocast(self.loaded.runtime):
                        adapted = self.adaptor(true)
                        scores = self.discriminator(torch.cat([adapted, adapted + noise])).float()
                    loss = truncated_l1_loss(scores[: len(true)], scores[len(true) :], self.margin)
                    loss.backward()
                    opt_a.step()
                    opt_d.step()
                    total += float(loss.detach())
                losses.append(total / steps)
                progress.report(epoch + 1, self.epochs, f"epoch {epoch + 1}/{self.epochs}, loss {losses[-1]:.4f}")
        finally:
            self.adaptor.eval()
            self.discriminator.eval()
        self.trained = True
        self.info = dataclasses.replace(self.info, shots=len(images))
        return TrainReport(
            "simplenet", len(images), tuple(losses), clock.seconds, {"patches": float(feats.shape[0] * feats.shape[1])}
        )

    # -- state ----------------------------------------------------------------------------
    def state(self) -> dict[str, np.ndarray]:
        out = {f"adaptor.{k}": v.detach().cpu().float().numpy() for k, v in self.adaptor.state_dict().items()}
        for k, v in self.discriminator.state_dict().items():
            if v.dtype.is_floating_point:
                out[f"discriminator.{k}"] = v.detach().cpu().float().numpy()
        out["shots"] = np.asarray([self.info.shots])
        return out

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        from inspector._torch import import_torch

        torch = import_torch()
        device = self.loaded.runtime.torch_device
        try:
            self.adaptor.load_state_dict(
                {k[8:]: torch.from_numpy(np.asarray(v)) for k, v in state.items() if k.startswith("adaptor.")}
            )
            self.discriminator.load_state_dict(
                {k[14:]: torch.from_numpy(np.asarray(v)) for k, v in state.items() if k.startswith("discriminator.")},
                strict=False,
            )
        except RuntimeError as exc:
            raise InspectorError(f"The SimpleNet state does not fit this configuration: {exc}") from exc
        self.adaptor.to(device).eval()
        self.discriminator.to(device).eval()
        self.trained = True
        self.info = dataclasses.replace(self.info, shots=int(np.asarray(state.get("shots", [0])).reshape(-1)[0]))

    # -- scoring --------------------------------------------------------------------------
    def patch_scores(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """``-D(adaptor(feature))`` per patch, ``(N, h, w)`` float32."""
        from inspector._torch import import_torch

        torch = import_torch()
        feats = self.features(images)
        with torch.inference_mode():
            flat = feats.reshape(-1, self.embed_dim).to(self.loaded.runtime.torch_device)
            scores = -self.discriminator(self.adaptor(flat)).float()
        return scores.reshape(len(images), *self.grid_size).cpu().numpy()

    def predict(self, images: Sequence[np.ndarray]) -> list[AnomalyPrediction]:
        images = [as_rgb_uint8(i) for i in images]
        if not images:
            return []
        if not self.trained:
            raise InspectorError("SimpleNet is not trained: train it on good parts (inspector train) first.")
        grids = self.patch_scores(images)
        maps = maps_to_image_size(grids, images, (self.resolution, self.resolution), self.sigma)
        rw = self.loaded.random_weights
        return [
            AnomalyPrediction(score=float(g.max()), anomaly_map=m, random_weights=rw)
            for g, m in zip(grids, maps, strict=True)
        ]
