"""BLIP-2 and BLIP captioners (transformers), built from the model registry and loaded lazily.

* :class:`Blip2Captioner` — ``Blip2ForConditionalGeneration`` (default ``blip2-opt-2.7b``), asked a
  question about the flagged region: ``Question: What defect is visible on this {object}? Answer:``.
  The input ids are the 32 ``<image>`` tokens the query embeddings replace, OPT's BOS, then the
  question, as ``Blip2Processor`` builds them.
* :class:`BlipCaptioner` — ``BlipForConditionalGeneration`` (``blip-base``), the light choice for
  CPU-only stations: conditional captioning that completes ``a close-up photo of a {object} with``.

Loading happens on the first caption (or :meth:`load`), on the calling thread: from the folder
``inspector models import`` fills, else the hub cache, in the runtime's dtype (``from_pretrained(
dtype=...)``: BLIP-2 in bf16 needs ~7.5 GB, not the 15 GB of its fp32 checkpoint); the tokenizer
and image processor come from the same folder. Missing weights raise the registry's
:class:`~inspector.errors.WeightsMissingError`. Random weights only with ``random_weights=True``
(tests, benchmarks); every caption then starts with ``[random weights]``.

Generation is deterministic (greedy, or beam search with ``num_beams > 1``), bounded by
``max_new_tokens``, with ``no_repeat_ngram_size`` and a mild ``repetition_penalty``. A forward
pre-hook on every transformer layer calls the caption's ``checkpoint``: a caption can pause for
scoring or be cancelled between any two layers.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from inspector.captioning.base import (
    RANDOM_PREFIX,
    RANDOM_REASON,
    CaptionResult,
    Checkpoint,
    ResultStatus,
)
from inspector.captioning.text import CaptionPrompt, blip2_prompt, blip_prompt, clean_caption
from inspector.core.registry import ModelSpec, get_spec
from inspector.errors import InspectorError

if TYPE_CHECKING:
    from inspector.backbones.runtime import Runtime
    from inspector.core.captioner_version import CaptionerVersion

log = logging.getLogger(__name__)

MAX_NEW_TOKENS_LIMIT = 128
RANDOM_SEED = 0  # random-weight builds: the fingerprint is random:<seed>
MEMORY_MARGIN = 1.15  # loading needs the model plus a shard and the activations


def available_memory_bytes(runtime) -> int | None:
    """Free memory where the model goes: GPU memory for CUDA, else ``MemAvailable`` (Linux); None: unknown."""
    if runtime.device.startswith("cuda"):
        torch = _torch()
        free, _total = torch.cuda.mem_get_info(runtime.torch_device)
        return int(free)
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def check_memory(spec: ModelSpec, runtime) -> None:
    """Refuse to load a captioner that does not fit, with a plain message, instead of being killed.

    The need is estimated from the registry's download size (an fp32 checkpoint) scaled to the
    runtime's dtype; specs without a size (test architectures) are not checked.
    """
    if spec.size_mb <= 0:
        return
    bytes_per_value = 2 if runtime.dtype in ("bfloat16", "float16") else 4
    need = spec.size_mb * 1e6 * bytes_per_value / 4 * MEMORY_MARGIN
    free = available_memory_bytes(runtime)
    if free is not None and free < need:
        raise InspectorError(
            f"Not enough memory to load the captioner '{spec.id}' ({spec.title}): it needs about "
            f"{need / 2**30:.1f} GiB in {runtime.dtype} on {runtime.device}, {free / 2**30:.1f} GiB are free. "
            "Close other programs, or choose the light captioner 'blip-base' (or 'none')."
        )


class TransformersCaptioner:
    """What BLIP and BLIP-2 share: registry spec, lazy loading, generation and clean-up.

    Args:
        model: Registry id or spec of a captioner.
        device: ``auto``, ``cpu``, ``cuda``...
        dtype: ``auto`` (the registry's recommendation, measured per machine on CPUs), ``float32``,
            ``bfloat16``, ``float16``.
        random_weights: Build the architecture with random weights (tests and benchmarks only).
        max_new_tokens: Upper bound of generated tokens.
        min_new_tokens: Lower bound (benchmarks fix the length with min = max).
        num_beams: 1 is greedy decoding; more is beam search (slower, still deterministic).
        no_repeat_ngram_size: No n-gram of this size is generated twice.
        repetition_penalty: Penalty on tokens already in the sequence (1.0: none).
        prompt_template: Replaces the default prompt (``{object}`` is the part's name).
        tokenizer: Use this tokenizer instead of the weights folder's (tests).
        image_processor: Use this image processor instead of the weights folder's (tests).
        adapter: A captioner version folder (LoRA adapter, ``inspector train-captioner``) applied on
            loading; refused with a clear message when it was trained on other base weights.
    """

    architecture = ""
    default_model = ""

    def __init__(
        self,
        model: str | ModelSpec = "",
        *,
        device: str = "auto",
        dtype: str = "auto",
        random_weights: bool = False,
        max_new_tokens: int = 30,
        min_new_tokens: int = 0,
        num_beams: int = 1,
        no_repeat_ngram_size: int = 3,
        repetition_penalty: float = 1.15,
        prompt_template: str | None = None,
        tokenizer: Any = None,
        image_processor: Any = None,
        adapter: str | None = None,
    ):
        spec = model if isinstance(model, ModelSpec) else get_spec(model or self.default_model)
        if spec.role != "captioner" or spec.architecture != self.architecture:
            raise InspectorError(
                f"Model '{spec.id}' is a {spec.architecture} '{spec.role}' model; "
                f"{type(self).__name__} needs a {self.architecture} captioner."
            )
        if not 1 <= max_new_tokens <= MAX_NEW_TOKENS_LIMIT:
            raise InspectorError(f"max_new_tokens must be between 1 and {MAX_NEW_TOKENS_LIMIT}, got {max_new_tokens}.")
        if not 0 <= min_new_tokens <= max_new_tokens:
            raise InspectorError(f"min_new_tokens must be between 0 and max_new_tokens, got {min_new_tokens}.")
        if num_beams < 1:
            raise InspectorError(f"num_beams must be at least 1, got {num_beams}.")
        self.init_kwargs: dict[str, Any] = dict(
            device=device,
            dtype=dtype,
            random_weights=random_weights,
            max_new_tokens=max_new_tokens,
            min_new_tokens=min_new_tokens,
            num_beams=num_beams,
            no_repeat_ngram_size=no_repeat_ngram_size,
            repetition_penalty=repetition_penalty,
            prompt_template=prompt_template,
            tokenizer=tokenizer,
            image_processor=image_processor,
            adapter=adapter,
        )  # to build the same captioner in a caption process
        self.spec = spec
        self.adapter = str(adapter) if adapter else None
        self.version: CaptionerVersion | None = None  # the captioner version (LoRA adapter) once applied
        self.fingerprint = ""  # the base weights: "sha256:..." or "random:<seed>", set on loading
        self.model_id = spec.id
        if self.adapter:
            from inspector.core.captioner_version import read_version

            self.model_id = read_version(self.adapter).id
        self.device = device
        self.dtype = dtype
        self.random_weights = bool(random_weights)
        self.max_new_tokens = int(max_new_tokens)
        self.min_new_tokens = int(min_new_tokens)
        self.num_beams = int(num_beams)
        self.no_repeat_ngram_size = int(no_repeat_ngram_size)
        self.repetition_penalty = float(repetition_penalty)
        self.prompt_template = prompt_template
        self.runtime: Runtime | None = None
        self._model: Any = None  # the transformers model once loaded
        self._tokenizer = tokenizer
        self._image_processor = image_processor
        self._lock = threading.RLock()
        self._checkpoint: Checkpoint | None = None
        self._hooks: list[Any] = []
        self._lora: Any = None  # peft's wrapper once a LoRA adapter is in the model (inspector.captioning.lora)

    # -- loading --------------------------------------------------------------------------------
    @property
    def loaded(self) -> bool:
        return self._model is not None

    @property
    def model(self):
        """The transformers model (None until loaded)."""
        return self._model

    def load(self) -> None:
        """Load model, tokenizer and image processor on the calling thread (once).

        Raises:
            WeightsMissingError: The weights are not on this station (and random weights were not
                asked for).
            InspectorError: The weights folder lacks the tokenizer / image processor files, or the
                model does not fit in the free memory.
        """
        with self._lock:
            if self._model is not None:
                return
            from inspector.backbones.runtime import make_runtime, set_cpu_threads

            runtime = make_runtime(self.device, self.dtype, self.spec.dtype)
            if runtime.device == "cpu":
                set_cpu_threads()
            start = time.perf_counter()
            if self.random_weights:
                log.warning("Captioner %s built with RANDOM WEIGHTS: its captions are meaningless.", self.spec.id)
                check_memory(self.spec, runtime)
                model = self._build_random(runtime)
            else:
                model = self._load_pretrained(runtime)
            self._check_model(model)
            self.runtime = runtime
            self._model = model
            if self.adapter:
                from inspector.captioning.lora import apply_version

                try:
                    self.version = apply_version(self, self.adapter)
                except BaseException:
                    self._model = None
                    raise
            self._install_hooks(model)
            log.info(
                "Captioner %s loaded on %s/%s in %.1f s",
                self.spec.id,
                runtime.device,
                runtime.dtype,
                time.perf_counter() - start,
            )

    def _build_random(self, runtime):
        from inspector.captioning.architectures import build_random, byte_bpe_tokenizer
        from inspector.core.fingerprint import random_fingerprint

        model = build_random(self.spec, runtime, seed=RANDOM_SEED)
        self.fingerprint = random_fingerprint(RANDOM_SEED)
        if self._tokenizer is None:
            self._tokenizer = byte_bpe_tokenizer()
        if self._image_processor is None:
            from transformers import BlipImageProcessorPil

            side = int(model.config.vision_config.image_size)
            self._image_processor = BlipImageProcessorPil(
                size={"height": side, "width": side}, image_mean=list(self.spec.mean), image_std=list(self.spec.std)
            )
        return model

    def _load_pretrained(self, runtime):
        from inspector.captioning.architectures import model_classes

        spec = self.spec
        if spec.config is not None:
            raise InspectorError(f"Model '{spec.id}' is an inline test architecture: it has no weights.")
        model_cls, _ = model_classes(spec)
        local = spec.local_weights()
        source = str(local) if local is not None else (spec.hub_id if spec.cached_hub_weights() else None)
        if source is None:
            raise spec.missing_weights_error()
        check_memory(spec, runtime)
        from inspector.core.fingerprint import weights_fingerprint

        self.fingerprint = weights_fingerprint(spec.loaded_files())
        model = model_cls.from_pretrained(source, local_files_only=True, dtype=runtime.torch_dtype)
        model = model.to(runtime.torch_device).eval()
        for p in model.parameters():
            p.requires_grad_(False)
        if self._tokenizer is None or self._image_processor is None:
            from transformers import AutoProcessor

            try:
                processor = AutoProcessor.from_pretrained(source, local_files_only=True)
            except (OSError, ValueError, TypeError) as exc:
                raise InspectorError(
                    f"The weights of '{spec.id}' are on this station ({source}), but not its tokenizer and "
                    "image-processor files (tokenizer.json / vocab files, preprocessor_config.json). Copy the "
                    f"whole model folder and import it again: inspector models import PATH --model {spec.id}"
                ) from exc
            self._tokenizer = self._tokenizer or processor.tokenizer
            self._image_processor = self._image_processor or processor.image_processor
        return model

    def _check_model(self, model) -> None:
        """Subclasses check the config has what their input ids need."""

    def _install_hooks(self, model) -> None:
        torch = _torch()
        for module in model.modules():
            if isinstance(module, torch.nn.ModuleList):
                for layer in module:
                    self._hooks.append(layer.register_forward_pre_hook(self._layer_hook))

    def _layer_hook(self, _module, _args) -> None:
        checkpoint = self._checkpoint
        if checkpoint is not None:
            checkpoint()

    def close(self) -> None:
        with self._lock:
            for hook in self._hooks:
                hook.remove()
            self._hooks.clear()
            self._model = None
            self._lora = None
            self.version = None

    # -- prompts and inputs -------------------------------------------------------------------
    def prompt_for(self, object_name: str, defect_classes: Sequence[str] = ()) -> CaptionPrompt:
        raise NotImplementedError

    def _input_ids(self, prompt: str) -> list[int]:
        raise NotImplementedError

    def _prepare(self, image: np.ndarray, prompt: str) -> tuple[list[int], dict[str, Any]]:
        """Input ids and the vision inputs of ``generate`` for one RGB uint8 image (BLIP's layout)."""
        return self._input_ids(prompt), {"pixel_values": self.pixel_values(image)}

    def _prompt_length(self, input_ids: list[int]) -> int:
        """Where the new tokens start in the generated sequence."""
        return len(input_ids)

    def _generation_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = dict(
            max_new_tokens=self.max_new_tokens,
            num_beams=self.num_beams,
            do_sample=False,
            no_repeat_ngram_size=self.no_repeat_ngram_size,
            repetition_penalty=self.repetition_penalty,
        )
        if self.min_new_tokens:
            kwargs["min_new_tokens"] = self.min_new_tokens
        return kwargs

    def _text_ids(self, prompt: str) -> list[int]:
        return list(self._tokenizer(prompt, add_special_tokens=False)["input_ids"]) if prompt else []

    def pixel_values(self, image: np.ndarray):
        """The image processor's tensor for one RGB uint8 image, on the model's device and dtype."""
        from inspector.detectors.base import as_rgb_uint8

        image = as_rgb_uint8(np.asarray(image))
        pixels = self._image_processor(images=[image], return_tensors="pt")["pixel_values"]
        vision = self._model.vision_model
        dtype = next(vision.parameters()).dtype
        return pixels.to(device=self.loaded_runtime.torch_device, dtype=dtype)

    @property
    def loaded_runtime(self) -> Runtime:
        """The runtime the model was loaded on (inputs are prepared only after ``load``)."""
        if self.runtime is None:
            raise InspectorError(f"The captioner '{self.model_id}' is not loaded.")
        return self.runtime

    # -- captioning ---------------------------------------------------------------------------
    def caption(
        self, image: np.ndarray, prompt: CaptionPrompt | str, *, checkpoint: Checkpoint | None = None
    ) -> CaptionResult:
        """Describe an RGB uint8 image; the model loads first if it has not yet.

        Raises:
            WeightsMissingError: On the first call, when the weights are not on this station.
            CaptionCancelled: Raised by ``checkpoint`` (timeout, station stopping).
        """
        if isinstance(prompt, str):
            prompt = CaptionPrompt(text=prompt)
        with self._lock:
            self.load()
            torch = _torch()
            start = time.perf_counter()
            if checkpoint is not None:
                checkpoint()
            from inspector.detectors.base import as_rgb_uint8

            self._checkpoint = checkpoint
            try:
                with torch.inference_mode():
                    input_ids, vision = self._prepare(as_rgb_uint8(np.asarray(image)), prompt.text)
                    ids = torch.tensor([input_ids], dtype=torch.long, device=self.loaded_runtime.torch_device)
                    output = self._model.generate(
                        input_ids=ids,
                        attention_mask=torch.ones_like(ids),
                        **vision,
                        **self._generation_kwargs(),
                    )
            finally:
                self._checkpoint = None
            new = output[0, self._prompt_length(input_ids) :].tolist()
            vocab = len(self._tokenizer)
            text = self._tokenizer.decode([t for t in new if 0 <= t < vocab], skip_special_tokens=True)
            cleaned = clean_caption(text, prompt)
            seconds = time.perf_counter() - start
        status = ResultStatus.OK if cleaned.usable else ResultStatus.UNUSABLE
        reason = cleaned.reason
        caption = cleaned.text
        if self.random_weights:
            caption = RANDOM_PREFIX + caption
            reason = f"{RANDOM_REASON}; {reason}" if reason else RANDOM_REASON
        return CaptionResult(
            text=caption,
            status=status,
            reason=reason,
            seconds=seconds,
            model_id=self.model_id,
            random_weights=self.random_weights,
            new_tokens=len(new),
        )


class Blip2Captioner(TransformersCaptioner):
    """BLIP-2 (``Blip2ForConditionalGeneration``; default OPT-2.7B) asked about the flagged region."""

    architecture = "Blip2ForConditionalGeneration"
    default_model = "blip2-opt-2.7b"

    def prompt_for(self, object_name: str, defect_classes: Sequence[str] = ()) -> CaptionPrompt:
        return blip2_prompt(object_name, self.prompt_template) if self.prompt_template else blip2_prompt(object_name)

    def _check_model(self, model) -> None:
        config = model.config
        if getattr(config, "image_token_index", None) is None:
            raise InspectorError(
                f"The weights folder of '{self.spec.id}' has a config.json without 'image_token_index' (an export "
                "from transformers older than 4.47). Download the model again: inspector models download "
                f"{self.spec.id}"
            )

    def _input_ids(self, prompt: str) -> list[int]:
        config = self._model.config
        image = [int(config.image_token_index)] * int(config.num_query_tokens)
        bos = config.text_config.bos_token_id
        return image + ([int(bos)] if bos is not None else []) + self._text_ids(prompt)

    def _generation_kwargs(self) -> dict[str, Any]:
        kwargs = super()._generation_kwargs()
        text = self._model.config.text_config
        if text.eos_token_id is not None:
            kwargs["eos_token_id"] = text.eos_token_id
        if text.pad_token_id is not None:
            kwargs["pad_token_id"] = text.pad_token_id
        return kwargs


class BlipCaptioner(TransformersCaptioner):
    """BLIP base (``BlipForConditionalGeneration``) completing a caption prefix about the named part."""

    architecture = "BlipForConditionalGeneration"
    default_model = "blip-base"

    def prompt_for(self, object_name: str, defect_classes: Sequence[str] = ()) -> CaptionPrompt:
        if self.prompt_template:
            return blip_prompt(object_name, self.prompt_template, lead="")
        return blip_prompt(object_name)

    def _input_ids(self, prompt: str) -> list[int]:
        # [BOS] prompt [SEP]: BLIP's generate() drops the trailing [SEP] (BertTokenizer's layout).
        text = self._model.config.text_config
        return [int(text.bos_token_id)] + self._text_ids(prompt) + [int(text.sep_token_id)]

    def _prompt_length(self, input_ids: list[int]) -> int:
        return len(input_ids) - 1


def _torch():
    from inspector._torch import import_torch

    return import_torch()
