"""LoRA fine-tuning of the captioner on operators' corrected captions (``inspector train-captioner``).

The job (a plain function taking a progress/cancel state, as the station's other long jobs):

1. **Data** (:func:`examples_from_store`): every part whose caption an operator corrected, its kept
   image and stored anomaly map, cropped by :func:`~inspector.captioning.regions.region_crop`, the
   function the caption scheduler crops with (same options, the inspection's threshold as map
   threshold): the model learns from the crop it is shown at inference. Parts of which only a
   thumbnail was kept are left out, and listed.
2. **Split**: a held-out share of the corrected parts (fixed seed) is kept for measuring.
3. **Before**: captions of the held-out crops by the base captioner; BLEU-4, ROUGE-L and CIDEr-D
   against the corrected captions (:mod:`inspector.core.caption_metrics`).
4. **LoRA** (Hu et al., 2021) through ``peft``: trainable low-rank ``B A`` beside frozen weights,
   ``B`` initialised to zero (the model starts exactly as the base), scaled by ``alpha / r``.
   Faithful defaults: adapters on the attention's **query and value** projections (the paper's
   choice; peft's default target list for BLIP-2 is ``q, v, q_proj, v_proj``), ``r = 8``,
   ``alpha = r`` (the paper sets alpha to the first r tried and does not tune it), no dropout
   (peft's default), AdamW with weight decay 0.01 and learning rate 2e-4 (the paper's GPT-2 values).
   For BLIP base the query/value layers are the text decoder's self- and cross-attention (its
   vision tower has one fused ``qkv`` layer, which would bring the keys in too: left frozen). The
   loss is the model's own captioning loss (BLIP: cross-entropy with label smoothing 0.1, as BLIP
   was trained) on the caption tokens only; the prompt and image tokens are not predicted.
   Named deviations: ``target="all-linear"`` (every linear layer, peft's ``all-linear``), a
   constant learning rate (the paper decays it linearly over thousands of steps; here there are
   tens).
5. **After**: the held-out captions again, with the adapter; the version is written only after
   the last cancel check (:func:`save_version`): the adapter weights alone (safetensors),
   fingerprinted, with the base model's id and fingerprint, the data used and the metrics.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from inspector.captioning.base import RANDOM_PREFIX
from inspector.captioning.regions import RegionOptions, region_crop
from inspector.captioning.text import caption_target
from inspector.core.caption_metrics import CaptionScores, caption_scores
from inspector.core.captioner_version import (
    ADAPTER,
    CaptionerVersion,
    CaptionerVersionError,
    read_version,
    version_folder,
    write_version,
)
from inspector.core.progress import ProgressState
from inspector.errors import InspectorError

log = logging.getLogger(__name__)

TARGETS = ("query-value", "all-linear")
#: Query/value projections per architecture (the LoRA paper's W_q and W_v).
QUERY_VALUE = {
    "BlipForConditionalGeneration": ["query", "value"],  # BLIP's text decoder (BERT) self- and cross-attention
    "Blip2ForConditionalGeneration": ["q", "v", "q_proj", "v_proj"],  # peft's list for BLIP-2
}
MIN_EXAMPLES = 4
VERSIONS_FOLDER = "captioners"


@dataclass(frozen=True)
class LoraOptions:
    """LoRA and training settings (see the module docstring for which are the paper's)."""

    rank: int = 8
    alpha: float | None = None  # None: alpha = rank
    dropout: float = 0.0
    target: str = "query-value"
    epochs: int = 5
    learning_rate: float = 2e-4
    weight_decay: float = 0.01
    batch_size: int = 8
    holdout: float = 0.2
    seed: int = 0
    max_target_tokens: int = 40

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise InspectorError(f"Unknown LoRA target '{self.target}'; choose one of {', '.join(TARGETS)}.")
        if not 1 <= self.rank <= 256:
            raise InspectorError(f"The LoRA rank must be between 1 and 256, got {self.rank}.")
        if self.epochs < 1 or self.batch_size < 1:
            raise InspectorError("--epochs and --batch-size must be at least 1.")
        if not 0.0 <= self.holdout < 1.0:
            raise InspectorError(f"--holdout must be in [0, 1), got {self.holdout}.")
        if not 0.0 <= self.dropout < 1.0 or self.learning_rate <= 0:
            raise InspectorError("--dropout must be in [0, 1) and --lr above 0.")

    @property
    def scaling_alpha(self) -> float:
        return float(self.alpha if self.alpha is not None else self.rank)


DEFAULTS = LoraOptions()


@dataclass(frozen=True)
class CaptionExample:
    """One corrected part: the crop the captioner sees, and the operator's caption."""

    inspection_id: str
    crop: np.ndarray
    object_name: str
    reference: str
    machine_caption: str | None = None


@dataclass(frozen=True)
class TrainReport:
    epoch_losses: tuple[float, ...]
    step_losses: tuple[float, ...]
    seconds: float
    seconds_per_epoch: tuple[float, ...]
    n_train: int
    trainable_parameters: int
    total_parameters: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "epoch_losses": list(self.epoch_losses),
            "seconds": self.seconds,
            "seconds_per_epoch": list(self.seconds_per_epoch),
            "n_train": self.n_train,
            "trainable_parameters": self.trainable_parameters,
            "total_parameters": self.total_parameters,
        }


@dataclass(frozen=True)
class TrainOutcome:
    version: CaptionerVersion
    folder: Path
    report: TrainReport
    before: CaptionScores | None
    after: CaptionScores | None
    skipped: tuple[str, ...] = field(default_factory=tuple)


# -- data -------------------------------------------------------------------------------------------
def examples_from_store(store, *, recipe_name: str | None = None, regions: RegionOptions = RegionOptions()):
    """The corrected parts as training examples, and a sentence for each part left out."""
    from inspector.core.images import load_image
    from inspector.store import InspectionFilter, StoreError
    from inspector.store.part_image import part_image

    where = InspectionFilter(recipe_name=recipe_name) if recipe_name else None
    examples: list[CaptionExample] = []
    skipped: list[str] = []
    objects: dict[str, str] = {}
    for record in store.corrected_records(where):
        choice = part_image(store.artifacts.path, record)
        if choice.path is None or choice.kind == "thumbnail":
            skipped.append(f"{record.id}: only a thumbnail (or no image) was kept, the crop cannot be made")
            continue
        try:
            image = load_image(choice.path)
        except (InspectorError, OSError) as error:
            skipped.append(f"{record.id}: the image cannot be read ({error})")
            continue
        anomaly_map = None
        if record.heatmap_artifact:
            try:
                anomaly_map = store.artifacts.load_heatmap(record.heatmap_artifact)
            except (StoreError, OSError):
                skipped.append(f"{record.id}: the anomaly map is missing, the whole part was used")
        if record.recipe_version_id not in objects:
            try:
                body = store.get_recipe_version(record.recipe_version_id).body
                objects[record.recipe_version_id] = str(body.get("object_name") or "part")
            except StoreError:
                objects[record.recipe_version_id] = "part"
        crop = region_crop(image, anomaly_map, regions, record.threshold).crop
        examples.append(
            CaptionExample(
                record.id, crop, objects[record.recipe_version_id], str(record.corrected_caption), record.caption
            )
        )
    return examples, skipped


def split_examples(
    examples: Sequence[CaptionExample], holdout: float, seed: int
) -> tuple[list[CaptionExample], list[CaptionExample]]:
    """(training, held-out): ``holdout`` of them (at least 1 when there are 5 or more) held out."""
    n = len(examples)
    n_held = int(round(holdout * n))
    if holdout > 0 and n >= 5:
        n_held = max(1, n_held)
    n_held = min(n_held, max(0, n - 2))
    order = np.random.default_rng(seed).permutation(n)
    held = {int(i) for i in order[:n_held]}
    return [e for i, e in enumerate(examples) if i not in held], [e for i, e in enumerate(examples) if i in held]


# -- the model --------------------------------------------------------------------------------------
def _check_supported(captioner) -> None:
    architecture = getattr(getattr(captioner, "spec", None), "architecture", "")
    if architecture not in QUERY_VALUE:
        raise InspectorError(
            f"LoRA fine-tuning is available for BLIP base and BLIP-2; '{getattr(captioner, 'model_id', '?')}' "
            f"is a {architecture or 'different'} captioner."
        )


def lora_settings(captioner, options: LoraOptions) -> dict[str, Any]:
    """peft ``LoraConfig`` arguments for the captioner's architecture."""
    _check_supported(captioner)
    targets: Any = "all-linear" if options.target == "all-linear" else list(QUERY_VALUE[captioner.spec.architecture])
    return {
        "r": int(options.rank),
        "lora_alpha": options.scaling_alpha,
        "lora_dropout": float(options.dropout),
        "target_modules": targets,
        "bias": "none",
    }


def attach_lora(captioner, settings: dict[str, Any]):
    """Put fresh LoRA layers into the loaded captioner's model (in place); returns peft's wrapper."""
    from peft import LoraConfig, get_peft_model

    captioner.load()
    if getattr(captioner, "_lora", None) is not None:
        raise InspectorError("This captioner has a LoRA adapter already; load a fresh one to train another.")
    config = LoraConfig(**settings)
    wrapper = get_peft_model(captioner.model, config)
    captioner._lora = wrapper
    return wrapper


def _ids_and_labels(captioner, prompt_text: str, target: str, max_target_tokens: int) -> tuple[list[int], list[int]]:
    """Model input ids and labels (-100 where nothing is predicted) of one caption, inference layout first."""
    prompt_ids = captioner._input_ids(prompt_text)
    text = captioner.model.config.text_config
    target_ids = captioner._text_ids(" " + target if target and prompt_text else target)[:max_target_tokens]
    if captioner.spec.architecture == "BlipForConditionalGeneration":
        # inference feeds [BOS] prompt (the trailing [SEP] dropped) and BLIP stops at [SEP]
        prompt_ids = prompt_ids[:-1]
        end = int(text.sep_token_id)
    else:
        end = int(text.eos_token_id)
    ids = prompt_ids + target_ids + [end]
    labels = [-100] * len(prompt_ids) + target_ids + [end]
    return ids, labels


def _batch(captioner, items: Sequence[tuple[list[int], list[int]]], pixels):
    torch = _torch()
    pad = captioner.model.config.text_config.pad_token_id
    pad = int(pad) if pad is not None else 0
    length = max(len(ids) for ids, _ in items)
    ids = torch.full((len(items), length), pad, dtype=torch.long)
    labels = torch.full((len(items), length), -100, dtype=torch.long)
    mask = torch.zeros((len(items), length), dtype=torch.long)
    for row, (i, lab) in enumerate(items):
        ids[row, : len(i)] = torch.tensor(i)
        labels[row, : len(lab)] = torch.tensor(lab)
        mask[row, : len(i)] = 1
    device = captioner.runtime.torch_device
    return {
        "input_ids": ids.to(device),
        "attention_mask": mask.to(device),
        "labels": labels.to(device),
        "pixel_values": torch.cat(list(pixels)),
    }


def train_lora(
    captioner,
    examples: Sequence[CaptionExample],
    options: LoraOptions = DEFAULTS,
    progress: ProgressState | None = None,
) -> TrainReport:
    """Attach LoRA to ``captioner`` and train it on the examples (the model is left in eval mode)."""
    torch = _torch()
    progress = progress or ProgressState()
    if not examples:
        raise InspectorError("There are no corrected captions to train on.")
    wrapper = attach_lora(captioner, lora_settings(captioner, options))
    model = captioner.model
    items = []
    pixels = []
    for e in examples:
        prompt = captioner.prompt_for(e.object_name)
        items.append(
            _ids_and_labels(captioner, prompt.text, caption_target(e.reference, prompt), options.max_target_tokens)
        )
        with torch.no_grad():
            pixels.append(captioner.pixel_values(e.crop))
    params = [p for p in model.parameters() if p.requires_grad]
    trainable = sum(p.numel() for p in params)
    total = sum(p.numel() for p in model.parameters())
    optimizer = torch.optim.AdamW(params, lr=options.learning_rate, weight_decay=options.weight_decay)
    generator = np.random.default_rng(options.seed)
    torch.manual_seed(options.seed)
    steps_per_epoch = (len(items) + options.batch_size - 1) // options.batch_size
    total_steps = steps_per_epoch * options.epochs
    step_losses: list[float] = []
    epoch_losses: list[float] = []
    epoch_seconds: list[float] = []
    start = time.perf_counter()
    step = 0
    progress.report(0, total_steps, f"LoRA r={options.rank} on {len(items)} captions, {trainable:,} trainable")
    model.train()
    try:
        for epoch in range(options.epochs):
            epoch_start = time.perf_counter()
            order = generator.permutation(len(items))
            losses = []
            for s in range(steps_per_epoch):
                progress.check()
                chosen = order[s * options.batch_size : (s + 1) * options.batch_size]
                batch = _batch(captioner, [items[i] for i in chosen], [pixels[i] for i in chosen])
                out = model(**batch)
                loss = out.loss
                if not torch.isfinite(loss):
                    raise InspectorError(
                        f"The training loss became {float(loss)} at epoch {epoch + 1}: lower the learning rate."
                    )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                value = float(loss.detach())
                losses.append(value)
                step_losses.append(value)
                step += 1
                progress.report(step, total_steps, f"epoch {epoch + 1}/{options.epochs} loss {value:.4f}")
            epoch_losses.append(float(np.mean(losses)))
            epoch_seconds.append(time.perf_counter() - epoch_start)
            log.info("LoRA epoch %d: mean loss %.4f in %.1f s", epoch + 1, epoch_losses[-1], epoch_seconds[-1])
    finally:
        model.eval()
        for p in params:
            p.grad = None
    del wrapper
    return TrainReport(
        tuple(epoch_losses),
        tuple(step_losses),
        time.perf_counter() - start,
        tuple(epoch_seconds),
        len(items),
        trainable,
        total,
    )


def evaluation_loss(captioner, examples: Sequence[CaptionExample], max_target_tokens: int = 40) -> float:
    """The mean captioning loss of the examples under the model as it is (eval mode, no gradients)."""
    torch = _torch()
    captioner.load()
    values = []
    with torch.no_grad():
        for e in examples:
            prompt = captioner.prompt_for(e.object_name)
            item = _ids_and_labels(captioner, prompt.text, caption_target(e.reference, prompt), max_target_tokens)
            values.append(float(captioner.model(**_batch(captioner, [item], [captioner.pixel_values(e.crop)])).loss))
    return float(np.mean(values))


def generate(captioner, examples: Sequence[CaptionExample], progress: ProgressState | None = None) -> list[str]:
    """The captioner's captions of the examples' crops (without the random-weights marker)."""
    progress = progress or ProgressState()
    out = []
    for e in examples:
        progress.check()
        result = captioner.caption(e.crop, captioner.prompt_for(e.object_name))
        out.append(result.text.removeprefix(RANDOM_PREFIX))
    return out


def score(captioner, examples: Sequence[CaptionExample], progress: ProgressState | None = None) -> CaptionScores:
    return caption_scores(generate(captioner, examples, progress), [e.reference for e in examples])


# -- versions: save, check, apply ---------------------------------------------------------------------
def adapter_state(captioner) -> dict[str, Any]:
    from peft import get_peft_model_state_dict

    wrapper = getattr(captioner, "_lora", None)
    if wrapper is None:
        raise InspectorError("This captioner has no LoRA adapter to save.")
    return {k: v.detach().to("cpu").contiguous() for k, v in get_peft_model_state_dict(wrapper).items()}


def save_version(
    captioner,
    out_dir: Path,
    settings: dict[str, Any],
    *,
    training: dict[str, Any],
    data: dict[str, Any],
    metrics: dict[str, Any],
) -> tuple[CaptionerVersion, Path]:
    """Write the adapter (safetensors) and its record into a new folder under ``out_dir``."""
    from safetensors.torch import save_file

    from inspector.core.fingerprint import short_fingerprint, weights_fingerprint

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = out_dir / f".staging-{time.time_ns()}"
    staging.mkdir()
    adapter = staging / ADAPTER
    save_file(adapter_state(captioner), str(adapter), metadata={"base_model": captioner.spec.id})
    fingerprint = weights_fingerprint([adapter], cache_file=staging / "fingerprints.json")
    (staging / "fingerprints.json").unlink(missing_ok=True)
    version = CaptionerVersion(
        id=f"{captioner.spec.id}-lora-{short_fingerprint(fingerprint)}",
        base_model=captioner.spec.id,
        base_fingerprint=captioner.fingerprint,
        adapter_fingerprint=fingerprint,
        lora={k: v for k, v in settings.items()},
        training=training,
        data=data,
        metrics=metrics,
        random_weights=bool(captioner.random_weights),
        created_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    write_version(staging, version)
    folder = out_dir / version.id
    if folder.exists():  # the same adapter bytes were saved before: keep that one
        for f in staging.iterdir():
            f.unlink()
        staging.rmdir()
        return read_version(folder), folder
    staging.rename(folder)
    return version, folder


def check_version(captioner, version: CaptionerVersion, folder: Path) -> None:
    """Refuse a version for another base model or other base weights, or whose adapter file changed."""
    from inspector.core.fingerprint import short_fingerprint, weights_fingerprint

    if version.base_model != captioner.spec.id:
        raise CaptionerVersionError(
            f"The captioner version {version.id} was trained on '{version.base_model}', not on "
            f"'{captioner.spec.id}': choose a version of this captioner, or the captioner it was made for."
        )
    if version.base_fingerprint != captioner.fingerprint:
        raise CaptionerVersionError(
            f"The captioner version {version.id} was trained on other '{version.base_model}' weights "
            f"({short_fingerprint(version.base_fingerprint)}) than this station has "
            f"({short_fingerprint(captioner.fingerprint)}): the adapter would not fit them. Import the "
            "weights it was trained on, or train a new version here: inspector train-captioner --from-reviews"
        )
    adapter = folder / ADAPTER
    if not adapter.is_file():
        raise CaptionerVersionError(f"The captioner version {version.id} has no {ADAPTER} in {folder}.")
    found = weights_fingerprint([adapter])
    if found != version.adapter_fingerprint:
        raise CaptionerVersionError(
            f"The adapter file of captioner version {version.id} has changed since it was trained "
            f"(fingerprint {short_fingerprint(found)}, recorded {short_fingerprint(version.adapter_fingerprint)}); "
            "it is not used. Train the version again or restore the file."
        )


def apply_version(captioner, path: str | Path) -> CaptionerVersion:
    """Load a version's adapter into the captioner's (just loaded) model, after :func:`check_version`."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    folder = version_folder(path)
    version = read_version(folder)
    _check_supported(captioner)
    check_version(captioner, version, folder)
    wrapper = attach_lora(captioner, dict(version.lora))
    state = load_file(str(folder / ADAPTER))
    result = set_peft_model_state_dict(wrapper, state)
    unexpected = list(getattr(result, "unexpected_keys", []) or [])
    if unexpected:
        raise CaptionerVersionError(
            f"The adapter of captioner version {version.id} does not fit this model ({len(unexpected)} unknown "
            f"weights, e.g. {unexpected[0]})."
        )
    captioner.model.eval()
    for p in captioner.model.parameters():
        p.requires_grad_(False)
    captioner.model_id = version.id
    return version


# -- the whole job ------------------------------------------------------------------------------------
def default_versions_dir() -> Path:
    from inspector.core.paths import data_dir

    return data_dir() / VERSIONS_FOLDER


def train_from_reviews(
    store,
    *,
    captioner: Any = "blip-base",
    recipe_name: str | None = None,
    out_dir: Path | None = None,
    options: LoraOptions = DEFAULTS,
    device: str = "auto",
    dtype: str = "auto",
    random_weights: bool = False,
    progress: ProgressState | None = None,
    captioner_options: dict[str, Any] | None = None,
) -> TrainOutcome:
    """Fine-tune a captioner on the store's corrected captions and write the new version.

    ``captioner``: a registry id or spec (``blip-base``, ``blip2-opt-2.7b``), or a loaded captioner
    (tests). Raises :class:`~inspector.core.progress.Cancelled` when cancelled: nothing is written.
    """
    from inspector.captioning.factory import create_captioner

    progress = progress or ProgressState()
    examples, skipped = examples_from_store(store, recipe_name=recipe_name)
    if len(examples) < MIN_EXAMPLES:
        where = f" under recipe '{recipe_name}'" if recipe_name else ""
        raise InspectorError(
            f"{len(examples)} corrected caption(s) with a kept image{where}; at least {MIN_EXAMPLES} are needed "
            f"({MIN_EXAMPLES - len(examples)} more). Correct captions in the review screen or with "
            "'inspector review caption ID TEXT'."
            + (f" Left out: {len(skipped)} part(s), e.g. {skipped[0]}." if skipped else "")
        )
    model = (
        captioner
        if hasattr(captioner, "caption")
        else create_captioner(
            captioner, device=device, dtype=dtype, random_weights=random_weights, **(captioner_options or {})
        )
    )
    _check_supported(model)
    from inspector.captioning.blip import TransformersCaptioner

    assert isinstance(model, TransformersCaptioner)  # so are BLIP and BLIP-2, the architectures it takes
    train, held = split_examples(examples, options.holdout, options.seed)
    progress.report(0, 1, f"loading {model.model_id}")
    model.load()
    if held:
        progress.report(0, len(held), f"captioning {len(held)} held-out parts with {model.model_id} (before)")
    before = score(model, held, progress) if held else None
    settings = lora_settings(model, options)
    report = train_lora(model, train, options, progress)
    if held:
        progress.report(0, len(held), f"captioning {len(held)} held-out parts with the adapter (after)")
    after = score(model, held, progress) if held else None
    progress.check()  # the last point a cancel is honoured: nothing has been written yet
    training = {
        "options": {k: v for k, v in vars(replace(options)).items()},
        **report.as_dict(),
        "device": model.loaded_runtime.device,
        "dtype": model.loaded_runtime.dtype,
        "loss": "the model's captioning loss on the caption tokens (BLIP: label smoothing 0.1)",
    }
    data = {
        "recipe": recipe_name,
        "train": [e.inspection_id for e in train],
        "held_out": [e.inspection_id for e in held],
        "skipped": skipped,
        "crop": "inspector.captioning.regions.region_crop, default RegionOptions, inspection threshold",
    }
    metrics = {"before": before.as_dict() if before else None, "after": after.as_dict() if after else None}
    version, folder = save_version(
        model, out_dir or default_versions_dir(), settings, training=training, data=data, metrics=metrics
    )
    return TrainOutcome(version, folder, report, before, after, tuple(skipped))


def format_outcome(outcome: TrainOutcome) -> str:
    r, v = outcome.report, outcome.version
    lines = [
        f"Captioner version {v.id} written to {outcome.folder}",
        f"  base {v.base_model} (weights {v.base_fingerprint[:19]}), adapter {v.adapter_fingerprint[:19]}"
        + ("  [RANDOM WEIGHTS: meaningless]" if v.random_weights else ""),
        f"  LoRA r={v.lora['r']} alpha={v.lora['lora_alpha']:g} on {v.lora['target_modules']}: "
        f"{r.trainable_parameters:,} of {r.total_parameters:,} parameters trained",
        f"  {r.n_train} captions, {len(r.epoch_losses)} epochs in {r.seconds:.1f} s "
        f"({np.median(r.seconds_per_epoch):.1f} s/epoch); loss {r.epoch_losses[0]:.4f} -> {r.epoch_losses[-1]:.4f}",
    ]
    if outcome.before is not None and outcome.after is not None:
        lines.append(f"  held-out before: {outcome.before.describe()}")
        lines.append(f"  held-out after:  {outcome.after.describe()}")
    else:
        lines.append("  no held-out captions (--holdout 0 or too few parts): no before/after scores")
    if outcome.skipped:
        lines.append(f"  left out {len(outcome.skipped)} part(s): {outcome.skipped[0]}")
    lines.append(f'  select it in a recipe: "captioner_version": "{outcome.folder}"')
    return "\n".join(lines)


def _torch():
    from inspector._torch import import_torch

    return import_torch()
