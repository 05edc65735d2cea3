"""PromptAD (Li et al., "PromptAD: Learning Prompts with only Normal Samples for Few-Shot Anomaly
Detection", CVPR 2024; reference code github.com/FuNz-0/PromptAD), on an open_clip CLIP.

As in the paper and its code:

* **Learnable prompts**: ``n_pro`` normal prompts ``[V_1..V_n_ctx] {object}.`` with learnable
  context vectors (CoOp style, N(0, 0.02) init), and anomaly prompts made by **semantic
  concatenation**: the normal context followed by an anomaly suffix, either hand-written
  (``[V] damaged {object}.``, ``[V] {object} with flaw.``, ...) or learnable
  (``[V][A_1..A_n_ctx_ab] {object}.``, ``n_pro_ab`` of them).
* **Losses**, from good images only: the CLIP contrastive loss of each image's class embedding
  against the mean normal prompt (positive) and every anomaly prompt (negatives); the **explicit
  anomaly margin** ``max(0, ||f - n||^2 - ||f - a||^2 + margin)`` (squared distances, as the
  reference's ``TripletLoss``) between the image feature, the mean normal and the mean anomaly
  prototype (margin 0, as the code); and the alignment
  ``lambda1 * ||mean(hand-written) - mean(learned anomaly prompts)||^2`` (lambda1 = 1e-3).
* **Temperature**: the reference multiplies the cosine similarities by CLIP's ``logit_scale``
  *parameter* as stored (the log of the scale, ln 100 = 4.6 for the LAION weights; ln(1/0.07) = 2.66
  at open_clip's initialisation), in the loss and in the textual scores alike, not by its
  exponential (100) as CLIP's own forward does. ``logit_scale="reference"`` (default) does the same;
  ``"clip"`` uses the exponential (a deviation: the textual probability then saturates, and after
  training it is near 0 for every image, so it dominates the harmonic fusion and the fused score
  separates worse than before training; seen in this project's tests).
  SGD (lr 2e-3, momentum 0.9, weight decay 5e-4) with cosine annealing to 1e-5, ``epochs`` epochs.
* The **text tower runs forward and backward** (the prompts' gradients flow through it; its
  weights stay frozen); the **image tower runs forward only**, once, on the good images: the
  reference code re-encodes the same un-augmented images every epoch, so precomputing is the same.
* **Scoring**: textual image score ``softmax(s * f . [n, a])_a`` from the class embedding; the
  visual memory (the good images' patch tokens) gives ``(1 - max cos) / 2`` per patch; the map is
  the harmonic combination ``1 / (1/textual + 1/visual)`` of the textual patch map and the visual
  map, and the image score ``1 / (1/textual + 1/max visual)`` (the reference's ``metric_cal_img``:
  the paper's harmonic mean up to the factor 2, which changes no ranking). ``fusion="mean"``
  (the arithmetic mean, commented out in the reference) is a named deviation.

Deviations: the anomaly suffixes are the station's WinCLIP anomalous states plus the recipe's own
(the reference has a longer generic list and per-MVTec-class lists); the visual memory uses the
last layer's patch tokens (the reference uses two intermediate layers of a modified CLIP); the
reference keeps the epoch with the best *test* AUROC, which needs labelled defects: here the last
epoch is kept; images are resized to the model's square input (the reference resizes and crops).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from inspector.core.progress import ProgressState
from inspector.core.types import AnomalyPrediction
from inspector.detectors.base import as_rgb_uint8, loaded_info, maps_to_image_size, preprocess
from inspector.detectors.prompts import ANOMALOUS_STATES
from inspector.detectors.trainable import Stopwatch, TrainReport, seeded_generator, training_autocast
from inspector.errors import InspectorError

BATCH = 8
#: ``reference``: CLIP's stored logit_scale parameter (its log) as the reference code; ``clip``: its exp.
LOGIT_SCALES = ("reference", "clip")
FUSIONS = ("harmonic", "mean")


def encode_text_embeddings(model, embeddings, tokens):
    """CLIP's text tower from token *embeddings* (so learnable vectors can stand in for words).

    ``tokens`` gives the end-of-text positions (argmax) as in ``encode_text``; positions after the
    longest prompt are not run (causal mask: they cannot change the pooled outputs).
    """
    from inspector._torch import import_torch

    torch = import_torch()
    end = tokens.argmax(dim=-1)
    length = int(end.max()) + 1
    dtype = model.transformer.get_cast_dtype()
    x = embeddings[:, :length].to(dtype) + model.positional_embedding[:length].to(dtype)
    x = model.transformer(x, attn_mask=model.attn_mask[:length, :length])
    x = model.ln_final(x)
    x = x[torch.arange(x.shape[0], device=x.device), end]
    projection = model.text_projection
    if projection is None:
        return x
    return projection(x) if isinstance(projection, torch.nn.Linear) else x @ projection


def fuse(textual: np.ndarray, visual: np.ndarray, fusion: str = "harmonic") -> np.ndarray:
    """The semantic (prompt) and the visual (memory) anomaly scores in one: ``1 / (1/t + 1/v)`` as the
    reference (half the harmonic mean), or their arithmetic mean (``fusion="mean"``, a deviation)."""
    if fusion == "mean":
        return 0.5 * (textual + visual)
    return 1.0 / (1.0 / textual + 1.0 / visual)


class PromptADDetector:
    """PromptAD on a CLIP model with a ViT image encoder (open_clip)."""

    def __init__(
        self,
        loaded,
        object_name: str = "object",
        extra_anomalous: Sequence[str] = (),
        n_ctx: int = 4,
        n_pro: int = 3,
        n_ctx_ab: int = 1,
        n_pro_ab: int = 4,
        epochs: int = 100,
        lr: float = 0.002,
        momentum: float = 0.9,
        weight_decay: float = 0.0005,
        lambda1: float = 0.001,
        margin: float = 0.0,
        batch_size: int = 400,
        sigma: float = 4.0,
        seed: int = 0,
        logit_scale: str = "reference",
        fusion: str = "harmonic",
    ) -> None:
        from inspector._torch import import_torch

        torch = import_torch()
        model = loaded.model
        if logit_scale not in LOGIT_SCALES:
            raise InspectorError(f"PromptAD logit_scale must be one of {', '.join(LOGIT_SCALES)}, got {logit_scale!r}.")
        if fusion not in FUSIONS:
            raise InspectorError(f"PromptAD fusion must be one of {', '.join(FUSIONS)}, got {fusion!r}.")
        self.logit_scale_mode, self.fusion = logit_scale, fusion
        if loaded.tokenizer is None or not hasattr(model, "token_embedding") or not hasattr(model.visual, "proj"):
            raise InspectorError(f"PromptAD needs an open_clip CLIP model with a ViT; '{loaded.spec.id}' is not one.")
        self.loaded = loaded
        self.object_name = object_name or "object"
        states = [*ANOMALOUS_STATES, *[s if "{}" in s else "{} with " + s for s in extra_anomalous]]
        self.anomaly_states = tuple(dict.fromkeys(states))
        self.n_ctx, self.n_pro, self.n_ctx_ab, self.n_pro_ab = int(n_ctx), int(n_pro), int(n_ctx_ab), int(n_pro_ab)
        self.epochs, self.lr, self.momentum, self.weight_decay = (
            int(epochs),
            float(lr),
            float(momentum),
            float(weight_decay),
        )
        self.lambda1, self.margin, self.batch_size, self.sigma, self.seed = (
            float(lambda1),
            float(margin),
            int(batch_size),
            float(sigma),
            int(seed),
        )
        if min(self.n_ctx, self.n_pro, self.n_ctx_ab, self.n_pro_ab, self.epochs, self.batch_size) < 1:
            raise InspectorError("PromptAD's prompt counts, epochs and batch size must be at least 1.")
        visual = model.visual
        self.image_size = (int(visual.image_size[0]), int(visual.image_size[1]))
        self.grid = (int(visual.grid_size[0]), int(visual.grid_size[1]))
        device = loaded.runtime.torch_device
        dim = int(model.ln_final.weight.shape[0])
        gen = seeded_generator(self.seed)
        self.normal_ctx = torch.nn.Parameter(
            torch.randn(self.n_pro, self.n_ctx, dim, generator=gen).mul_(0.02).to(device)
        )
        self.abnormal_ctx = torch.nn.Parameter(
            torch.randn(self.n_pro_ab, self.n_ctx_ab, dim, generator=gen).mul_(0.02).to(device)
        )
        self._build_prompt_tokens()
        with torch.inference_mode():
            stored = model.logit_scale.float()
            self.logit_scale = float(stored if logit_scale == "reference" else stored.exp().clamp(max=100.0))
        self._text = None  # (2, E): mean normal, mean anomaly (normalised)
        self._gallery = None  # (M, width) normalised patch tokens of the good images
        self.trained = False
        self.info = loaded_info(loaded, "promptad")

    @property
    def needs_references(self) -> bool:
        return not self.trained

    def settings(self) -> dict:
        keys = ("n_ctx", "n_pro", "n_ctx_ab", "n_pro_ab", "epochs", "lr", "momentum", "weight_decay")
        out = {k: getattr(self, k) for k in (*keys, "lambda1", "margin", "batch_size", "sigma", "seed", "fusion")}
        out["logit_scale"] = self.logit_scale_mode
        out["object_name"] = self.object_name
        out["anomaly_states"] = list(self.anomaly_states)
        return out

    # -- prompts ----------------------------------------------------------------------------
    def _build_prompt_tokens(self) -> None:
        from inspector._torch import import_torch

        torch = import_torch()
        tok, model = self.loaded.tokenizer, self.loaded.model
        device = self.loaded.runtime.torch_device
        name = self.object_name
        ctx = " ".join(["X"] * self.n_ctx)
        ctx_ab = " ".join(["X"] * self.n_ctx_ab)
        probe = tok([ctx])[0]
        if int(probe.argmax()) != self.n_ctx + 1:
            raise InspectorError("PromptAD: the tokenizer does not give one token per context placeholder.")
        normal = [f"{ctx} {name}."]
        handle = [f"{ctx} {state.format(name)}." for state in self.anomaly_states]
        learned = [f"{ctx} {ctx_ab} {name}."]
        self._tokens = {k: tok(v).to(device) for k, v in (("normal", normal), ("handle", handle), ("learned", learned))}
        with torch.no_grad():
            self._embedded = {k: model.token_embedding(t).detach() for k, t in self._tokens.items()}

    def _prompt_features(self):
        """Text features (normal ``(n_pro, E)``, hand-written anomaly, learned anomaly), unnormalised."""
        from inspector._torch import import_torch

        torch = import_torch()
        model, n = self.loaded.model, self.n_ctx
        dtype = self._embedded["normal"].dtype
        ctx = self.normal_ctx.to(dtype)
        e = self._embedded["normal"]
        normal = torch.cat([e[:, :1].expand(self.n_pro, -1, -1), ctx, e[:, 1 + n :].expand(self.n_pro, -1, -1)], 1)
        normal_t = self._tokens["normal"].expand(self.n_pro, -1)
        e = self._embedded["handle"]
        k = e.shape[0]
        ctx_h = ctx.unsqueeze(0).expand(k, -1, -1, -1).reshape(k * self.n_pro, n, -1)
        rep = lambda t: t.repeat_interleave(self.n_pro, dim=0)  # noqa: E731 - per state, every normal context
        handle = torch.cat([rep(e[:, :1]), ctx_h, rep(e[:, 1 + n :])], 1)
        handle_t = rep(self._tokens["handle"])
        e = self._embedded["learned"]
        m = self.n_pro * self.n_pro_ab
        ctx_l = ctx.unsqueeze(0).expand(self.n_pro_ab, -1, -1, -1).reshape(m, n, -1)
        ab = self.abnormal_ctx.to(dtype).unsqueeze(1).expand(-1, self.n_pro, -1, -1).reshape(m, self.n_ctx_ab, -1)
        learned = torch.cat([e[:, :1].expand(m, -1, -1), ctx_l, ab, e[:, 1 + n + self.n_ctx_ab :].expand(m, -1, -1)], 1)
        learned_t = self._tokens["learned"].expand(m, -1)
        return (
            encode_text_embeddings(model, normal, normal_t).float(),
            encode_text_embeddings(model, handle, handle_t).float(),
            encode_text_embeddings(model, learned, learned_t).float(),
        )

    def losses(self, image_features):
        """(total, contrastive, margin, alignment) losses for normalised class embeddings ``(B, E)``."""
        from inspector._torch import import_torch

        torch = import_torch()
        F = torch.nn.functional
        normal, handle, learned = self._prompt_features()
        align = (F.normalize(handle, dim=-1).mean(0) - F.normalize(learned, dim=-1).mean(0)).norm() ** 2
        n_anchor = F.normalize(normal.mean(0, keepdim=True), dim=-1)
        anomaly = torch.cat([handle, learned])
        a_anchor = F.normalize(anomaly.mean(0, keepdim=True), dim=-1)
        anomaly = F.normalize(anomaly, dim=-1)
        logits = torch.cat([image_features @ n_anchor.T, image_features @ anomaly.T], dim=1) * self.logit_scale
        target = torch.zeros(len(image_features), dtype=torch.long, device=logits.device)
        contrastive = F.cross_entropy(logits, target)
        d_pos = (image_features - n_anchor).pow(2).sum(dim=-1)  # squared, as the reference's TripletLoss
        d_neg = (image_features - a_anchor).pow(2).sum(dim=-1)
        eam = (d_pos - d_neg + self.margin).clamp(min=0).mean()
        return contrastive + eam + self.lambda1 * align, contrastive, eam, align

    def _refresh_text(self) -> None:
        from inspector._torch import import_torch

        torch = import_torch()
        F = torch.nn.functional
        with torch.no_grad():
            normal, handle, learned = self._prompt_features()
            anomaly = torch.cat([handle, learned])
            text = torch.stack([normal.mean(0), anomaly.mean(0)])  # the reference averages unnormalised features
            self._text = F.normalize(text, dim=-1)

    # -- image side -------------------------------------------------------------------------
    def encoder_forward(self, images: Sequence[np.ndarray]) -> None:
        self.embed(images)

    def embed(self, images: Sequence[np.ndarray]):
        """Normalised class embeddings ``(B, E)``, joint-space patch embeddings ``(B, P, E)`` and
        normalised patch tokens ``(B, P, width)`` (the visual memory's space), float32."""
        from inspector._torch import import_torch

        torch = import_torch()
        F = torch.nn.functional
        spec, visual = self.loaded.spec, self.loaded.model.visual
        cls_out, patch_out, token_out = [], [], []
        with torch.inference_mode():
            for start in range(0, len(images), BATCH):
                x = preprocess(images[start : start + BATCH], self.image_size, spec.mean, spec.std, self.loaded.runtime)
                before = visual.output_tokens
                visual.output_tokens = True
                try:
                    pooled, tokens = visual(x)
                finally:
                    visual.output_tokens = before
                cls_out.append(F.normalize(pooled.float(), dim=-1))
                patch_out.append(F.normalize((tokens @ visual.proj).float(), dim=-1))
                token_out.append(F.normalize(tokens.float(), dim=-1))
        return torch.cat(cls_out), torch.cat(patch_out), torch.cat(token_out)

    # -- training ---------------------------------------------------------------------------
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
            raise InspectorError("PromptAD needs at least one good image.")
        cls_feats, _, tokens = [], [], []
        for start in range(0, len(images), BATCH):
            progress.check()
            c, _p, t = self.embed(images[start : start + BATCH])
            cls_feats.append(c)
            tokens.append(t)
            progress.report(min(start + BATCH, len(images)), len(images), "image features")
        cls_feats = torch.cat(cls_feats).clone()
        gallery = torch.cat(tokens).reshape(-1, tokens[0].shape[-1]).clone()
        params = [self.normal_ctx, self.abnormal_ctx]
        opt = torch.optim.SGD(params, lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=self.epochs, eta_min=1e-5)
        gen = seeded_generator(self.seed)
        losses = []
        for epoch in range(self.epochs):
            order = torch.randperm(len(cls_feats), generator=gen)
            total, steps = 0.0, 0
            for start in range(0, len(order), self.batch_size):
                progress.check()
                batch = cls_feats[order[start : start + self.batch_size]]
                opt.zero_grad()
                with training_autocast(self.loaded.runtime):
                    loss = self.losses(batch)[0]
                loss.backward()
                opt.step()
                total += float(loss.detach())
                steps += 1
            sched.step()
            losses.append(total / steps)
            progress.report(epoch + 1, self.epochs, f"epoch {epoch + 1}/{self.epochs}, loss {losses[-1]:.4f}")
        self._gallery = gallery
        self._refresh_text()
        self.trained = True
        self.info = dataclasses.replace(self.info, shots=len(images))
        return TrainReport("promptad", len(images), tuple(losses), clock.seconds, {"gallery": float(len(gallery))})

    # -- state ------------------------------------------------------------------------------
    def state(self) -> dict[str, np.ndarray]:
        if self._gallery is None or self._text is None:
            raise InspectorError("PromptAD is not trained yet.")
        return {
            "normal_ctx": self.normal_ctx.detach().cpu().float().numpy(),
            "abnormal_ctx": self.abnormal_ctx.detach().cpu().float().numpy(),
            "text_features": self._text.cpu().numpy(),
            "gallery": self._gallery.cpu().numpy(),
            "shots": np.asarray([self.info.shots]),
        }

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        from inspector._torch import import_torch

        torch = import_torch()
        device = self.loaded.runtime.torch_device
        for name in ("normal_ctx", "abnormal_ctx"):
            value = torch.from_numpy(np.asarray(state[name], dtype=np.float32))
            if tuple(value.shape) != tuple(getattr(self, name).shape):
                raise InspectorError(
                    f"PromptAD state: {name} has shape {tuple(value.shape)}, "
                    f"expected {tuple(getattr(self, name).shape)}."
                )
            with torch.no_grad():
                getattr(self, name).copy_(value.to(device))
        self._text = torch.from_numpy(np.asarray(state["text_features"], dtype=np.float32)).to(device)
        self._gallery = torch.from_numpy(np.asarray(state["gallery"], dtype=np.float32)).to(device)
        self.trained = True
        self.info = dataclasses.replace(self.info, shots=int(np.asarray(state.get("shots", [0])).reshape(-1)[0]))

    # -- scoring ----------------------------------------------------------------------------
    def textual_scores(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """The textual image score alone (the part the prompts learn), ``(B,)``."""
        from inspector._torch import import_torch

        torch = import_torch()
        if self._text is None:
            raise InspectorError("PromptAD is not trained: train it on good parts (inspector train) first.")
        cls, _, _ = self.embed(images)
        with torch.inference_mode():
            return (self.logit_scale * cls @ self._text.T).softmax(-1)[:, 1].double().cpu().numpy()

    def score(self, images: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Image scores ``(B,)`` and patch-grid maps ``(B, h, w)``."""
        from inspector._torch import import_torch

        torch = import_torch()
        if self._text is None or self._gallery is None:
            raise InspectorError("PromptAD is not trained: train it on good parts (inspector train) first.")
        cls, patches, tokens = self.embed(images)
        with torch.inference_mode():
            textual = (self.logit_scale * cls @ self._text.T).softmax(-1)[:, 1]
            textual_map = (self.logit_scale * patches @ self._text.T).softmax(-1)[..., 1]
            sims = torch.stack([(t @ self._gallery.T).amax(-1) for t in tokens])
            visual = ((1.0 - sims) / 2.0).clamp(min=1e-12)
        t = textual.double().cpu().numpy()
        tm = textual_map.double().cpu().numpy().clip(1e-12)
        v = visual.double().cpu().numpy()
        maps = fuse(tm, v, self.fusion)
        scores = fuse(np.maximum(t, 1e-12), np.maximum(v.max(axis=1), 1e-12), self.fusion)
        return scores, maps.reshape(len(images), *self.grid)

    def visual_scores(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """The visual memory's image score alone (max over the patches), ``(B,)``: what training does not change."""
        from inspector._torch import import_torch

        torch = import_torch()
        if self._gallery is None:
            raise InspectorError("PromptAD is not trained: train it on good parts (inspector train) first.")
        _, _, tokens = self.embed(images)
        with torch.inference_mode():
            sims = torch.stack([(t @ self._gallery.T).amax(-1) for t in tokens])
        return ((1.0 - sims) / 2.0).amax(-1).double().cpu().numpy()

    def predict(self, images: Sequence[np.ndarray]) -> list[AnomalyPrediction]:
        images = [as_rgb_uint8(i) for i in images]
        if not images:
            return []
        scores, maps = self.score(images)
        full = maps_to_image_size(maps.astype(np.float32), images, self.image_size, self.sigma)
        rw = self.loaded.random_weights
        return [
            AnomalyPrediction(score=float(s), anomaly_map=m, random_weights=rw)
            for s, m in zip(scores, full, strict=True)
        ]
