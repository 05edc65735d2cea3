"""A small image-only student distilled from the WinCLIP+ teacher.

The "multimodal guidance, image-only student" idea: a teacher that uses image *and* text (here
WinCLIP+ with the recipe's prompts and a few good references) labels the station's good parts and
synthetic defects made from them (cut-paste and noise patches, :mod:`inspector.detectors.synthetic`)
with anomaly maps and scores; a compact CNN learns to reproduce both from the image alone, and
then scores at camera rate without CLIP.

Student: four 3x3 stride-2 convolutions (BatchNorm, ReLU; ``width``, 2x, 4x, 4x channels) give a
``input_size / 16`` grid; a 1x1 convolution + sigmoid gives the map (the teacher's map averaged
onto that grid is its target), and a linear layer on the pooled features and the map's maximum +
sigmoid gives the score (target: the teacher's score). Loss: mean squared error of map + score.
Adam (lr 1e-3), ``epochs`` epochs; random flips of image and target maps as augmentation.
Its agreement with the teacher (map Pearson, score Spearman, verdict agreement at the recipe's
threshold) is measured on held-out images by the training job.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from inspector.backbones.runtime import Runtime
from inspector.core.progress import ProgressState
from inspector.core.types import AnomalyPrediction, DetectorInfo
from inspector.detectors.base import as_rgb_uint8, maps_to_image_size, preprocess
from inspector.detectors.synthetic import synthetic_defect
from inspector.detectors.trainable import Stopwatch, TrainReport, seeded_generator, training_autocast
from inspector.errors import InspectorError

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
STRIDE = 16


def build_student_net(width: int = 32):
    from inspector._torch import import_torch

    torch = import_torch()
    nn = torch.nn

    class StudentNet(nn.Module):  # type: ignore[name-defined]  # torch is imported lazily
        def __init__(self) -> None:
            super().__init__()
            chans = [3, width, 2 * width, 4 * width, 4 * width]
            layers = []
            for cin, cout in zip(chans[:-1], chans[1:], strict=True):
                layers += [nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
            self.body = nn.Sequential(*layers)
            self.map_head = nn.Conv2d(chans[-1], 1, 1)
            self.score_head = nn.Linear(2 * chans[-1] + 1, 1)

        def forward(self, x):
            f = self.body(x)
            amap = torch.sigmoid(self.map_head(f))[:, 0]
            pooled = torch.cat([f.mean(dim=(2, 3)), f.amax(dim=(2, 3)), amap.flatten(1).amax(1, keepdim=True)], 1)
            return amap, torch.sigmoid(self.score_head(pooled))[:, 0]

    return StudentNet()


class StudentDetector:
    """The distilled student. ``teacher`` (a fitted WinCLIP+) is needed only to train it.

    Args:
        runtime: Where the student runs.
        teacher: A WinCLIP+ detector (None when loading a trained student); ``train`` fits it on the
            first ``teacher_shots`` good images (the recipe's references come first in the library).
        random_weights: Whether the teacher had random weights (the student is marked so too).
        model_id: The teacher's model id (for the record).
    """

    def __init__(
        self,
        runtime: Runtime,
        teacher=None,
        *,
        random_weights: bool = False,
        model_id: str = "",
        width: int = 32,
        input_size: int = 224,
        epochs: int = 30,
        batch_size: int = 16,
        lr: float = 1e-3,
        synthetic_per_image: int = 1,
        teacher_shots: int = 4,
        sigma: float = 4.0,
        seed: int = 0,
    ) -> None:
        from inspector._torch import import_torch

        torch = import_torch()
        if input_size <= 0 or input_size % STRIDE:
            raise InspectorError(f"The student's input_size must be a positive multiple of {STRIDE}, got {input_size}.")
        self.runtime = runtime
        self.teacher = teacher
        self.width, self.input_size, self.epochs = int(width), int(input_size), int(epochs)
        self.batch_size, self.lr, self.synthetic_per_image = int(batch_size), float(lr), int(synthetic_per_image)
        self.sigma, self.seed, self.teacher_shots = float(sigma), int(seed), int(teacher_shots)
        self.grid = (self.input_size // STRIDE, self.input_size // STRIDE)
        torch.manual_seed(self.seed)
        self.net = build_student_net(self.width).to(runtime.torch_device).eval()
        self.trained = False
        rw = bool(random_weights or (teacher is not None and teacher.info.random_weights))
        self.info = DetectorInfo(
            detector="student",
            model_id=model_id or (teacher.info.model_id if teacher is not None else ""),
            device=runtime.device,
            dtype="float32",
            random_weights=rw,
            fingerprint=teacher.info.fingerprint if teacher is not None else "",
        )

    @property
    def needs_references(self) -> bool:
        return not self.trained

    def settings(self) -> dict:
        keys = (
            "width",
            "input_size",
            "epochs",
            "batch_size",
            "lr",
            "synthetic_per_image",
            "teacher_shots",
            "sigma",
            "seed",
        )
        return {k: getattr(self, k) for k in keys}

    def encoder_forward(self, images: Sequence[np.ndarray]) -> None:
        self._forward(images)

    def _forward(self, images):
        from inspector._torch import import_torch

        torch = import_torch()
        x = preprocess(
            images, (self.input_size, self.input_size), MEAN, STD, dataclasses.replace(self.runtime, dtype="float32")
        )
        with torch.inference_mode():
            return self.net(x.float())

    # -- training -------------------------------------------------------------------------
    def teacher_targets(self, images: Sequence[np.ndarray], progress: ProgressState | None = None):
        """The teacher's maps (on the student's grid) and scores, ``(N, h, w)`` and ``(N,)``."""
        import cv2

        if self.teacher is None:
            raise InspectorError("The student needs its WinCLIP+ teacher to train.")
        progress = progress or ProgressState()
        maps, scores = [], []
        h, w = self.grid
        for start in range(0, len(images), 8):
            progress.check()
            for pred in self.teacher.predict(images[start : start + 8]):
                maps.append(cv2.resize(pred.anomaly_map, (w, h), interpolation=cv2.INTER_AREA))
                scores.append(pred.score)
            progress.report(min(start + 8, len(images)), len(images), "teacher")
        return np.stack(maps).astype(np.float32), np.asarray(scores, dtype=np.float32)

    def training_set(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """The good images and ``synthetic_per_image`` synthetic defects of each (fixed seed)."""
        rng = np.random.default_rng(self.seed)
        out = list(images)
        for image in images:
            for _ in range(self.synthetic_per_image):
                out.append(synthetic_defect(image, rng)[0])
        return out

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
            raise InspectorError("The student needs at least one good image.")
        if self.teacher is None:
            raise InspectorError("The student needs its WinCLIP+ teacher to train.")
        self.teacher.fit(images[: max(1, self.teacher_shots)])
        data = self.training_set(images)
        maps, scores = self.teacher_targets(data, progress)
        device = self.runtime.torch_device
        fp32 = dataclasses.replace(self.runtime, dtype="float32")
        x_all = torch.cat(
            [
                preprocess(data[i : i + 32], (self.input_size, self.input_size), MEAN, STD, fp32)
                for i in range(0, len(data), 32)
            ]
        )
        m_all = torch.from_numpy(maps).to(device)
        s_all = torch.from_numpy(scores).to(device)
        gen = seeded_generator(self.seed)
        opt = torch.optim.Adam(self.net.parameters(), lr=self.lr)
        losses = []
        self.net.train()
        try:
            for epoch in range(self.epochs):
                order = torch.randperm(len(data), generator=gen)
                total, steps = 0.0, 0
                for start in range(0, len(order), self.batch_size):
                    progress.check()
                    idx = order[start : start + self.batch_size]
                    x, m, s = x_all[idx], m_all[idx], s_all[idx]
                    if bool(torch.rand(1, generator=gen) < 0.5):
                        x, m = x.flip(-1), m.flip(-1)
                    if bool(torch.rand(1, generator=gen) < 0.5):
                        x, m = x.flip(-2), m.flip(-2)
                    opt.zero_grad()
                    with training_autocast(self.runtime):
                        pm, ps = self.net(x)
                    loss = torch.nn.functional.mse_loss(pm.float(), m) + torch.nn.functional.mse_loss(ps.float(), s)
                    loss.backward()
                    opt.step()
                    total += float(loss.detach())
                    steps += 1
                losses.append(total / steps)
                progress.report(epoch + 1, self.epochs, f"epoch {epoch + 1}/{self.epochs}, loss {losses[-1]:.5f}")
        finally:
            self.net.eval()
        self.trained = True
        self.info = dataclasses.replace(self.info, shots=len(images))
        return TrainReport("student", len(images), tuple(losses), clock.seconds, {"training_images": float(len(data))})

    # -- state ----------------------------------------------------------------------------
    def state(self) -> dict[str, np.ndarray]:
        out = {
            k: v.detach().cpu().float().numpy() for k, v in self.net.state_dict().items() if v.dtype.is_floating_point
        }
        out["shots"] = np.asarray([self.info.shots])
        return out

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        from inspector._torch import import_torch

        torch = import_torch()
        weights = {k: torch.from_numpy(np.asarray(v)) for k, v in state.items() if k != "shots"}
        try:
            missing = self.net.load_state_dict(weights, strict=False)
        except RuntimeError as exc:
            raise InspectorError(f"The student state does not fit this configuration: {exc}") from exc
        if [k for k in missing.missing_keys if not k.endswith("num_batches_tracked")]:
            raise InspectorError(f"The student state lacks {', '.join(missing.missing_keys)}.")
        self.net.to(self.runtime.torch_device).eval()
        self.trained = True
        self.info = dataclasses.replace(self.info, shots=int(np.asarray(state.get("shots", [0])).reshape(-1)[0]))

    # -- scoring --------------------------------------------------------------------------
    def predict(self, images: Sequence[np.ndarray]) -> list[AnomalyPrediction]:
        images = [as_rgb_uint8(i) for i in images]
        if not images:
            return []
        if not self.trained:
            raise InspectorError("The student is not trained: train it on good parts (inspector train) first.")
        amap, score = self._forward(images)
        grids = amap.float().cpu().numpy()
        maps = maps_to_image_size(grids, images, (self.input_size, self.input_size), self.sigma)
        rw = self.info.random_weights
        return [
            AnomalyPrediction(score=float(s), anomaly_map=m, random_weights=rw)
            for s, m in zip(score.float().cpu().numpy(), maps, strict=True)
        ]
