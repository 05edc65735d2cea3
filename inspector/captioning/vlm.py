"""Small current vision-language models as captioners: Qwen3-VL and Florence-2 (transformers-native).

Both run through transformers' own model classes (no ``trust_remote_code``) and share loading,
generation, bounds and clean-up with BLIP / BLIP-2 (:class:`~inspector.captioning.blip.TransformersCaptioner`).

* :class:`Qwen3VLCaptioner` — ``Qwen3VLForConditionalGeneration`` (default ``qwen3-vl-2b``,
  Apache-2.0). An instruction-following chat model: it is told the part's name and the recipe's
  defect vocabulary and asked for one short sentence (:func:`~inspector.captioning.text.vlm_instruction`).
  The input ids are what the model's chat template makes of one user turn with one image
  (``<|im_start|>user\\n<|vision_start|><|image_pad|>*N<|vision_end|>TEXT<|im_end|>\\n<|im_start|>assistant\\n``),
  with ``N`` image tokens from the image processor's patch grid. The crop is first shrunk to at
  most :data:`QWEN_MAX_SIDE` pixels a side, which bounds the image tokens (and the time) per caption.
* :class:`Florence2Captioner` — ``Florence2ForConditionalGeneration`` (default ``florence-2-base``,
  MIT). Florence-2 is trained on task prompts, not free instructions: it is given its
  detailed-caption task prompt (the text the processor substitutes for ``<DETAILED_CAPTION>``); the
  part's name and the defect vocabulary cannot steer it reliably, so they are not put into the
  prompt (deviation from the issue's wording, by necessity; the defect *type* still comes from the
  CLIP classifier with the recipe's vocabulary). Input ids: ``N`` image tokens, BOS, prompt, EOS
  (the processor's layout); the answer is the decoder's sequence.

Random-weight builds (tests, benchmarks) use the registry's architecture hyper-parameters
(:data:`~inspector.captioning.architectures.HUB_CONFIGS`), transformers' image-processor classes
with the checkpoints' settings, and the tiny byte-level BPE tokenizer.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from inspector.captioning.blip import TransformersCaptioner, _torch
from inspector.captioning.text import CaptionPrompt, florence_prompt, vlm_prompt
from inspector.core.images import downscale_to_max_side
from inspector.errors import InspectorError

QWEN_MAX_SIDE = 448  # px: at most (448 / 32)^2 = 196 image tokens per crop


class _VisionLanguageCaptioner(TransformersCaptioner):
    """What the two VLM captioners share: the model's dtype for pixels and a generic input layout."""

    def _model_dtype(self):
        return next(self._model.parameters()).dtype

    def _prepare(self, image: np.ndarray, prompt: str) -> tuple[list[int], dict[str, Any]]:
        raise NotImplementedError

    def _load_pretrained(self, runtime):
        model = super()._load_pretrained(runtime)
        self._after_load(model)
        return model

    def _build_random(self, runtime):
        from inspector.captioning.architectures import build_random, byte_bpe_tokenizer

        model = build_random(self.spec, runtime)
        if self._tokenizer is None:
            self._tokenizer = byte_bpe_tokenizer()
        if self._image_processor is None:
            self._image_processor = self._random_image_processor(model)
        self._after_load(model)
        return model

    def _random_image_processor(self, model):
        raise NotImplementedError

    def _after_load(self, model) -> None:
        """Anything derived once from the loaded model (image-token counts)."""


class Qwen3VLCaptioner(_VisionLanguageCaptioner):
    """Qwen3-VL (``Qwen3VLForConditionalGeneration``) told the part and its defect vocabulary."""

    architecture = "Qwen3VLForConditionalGeneration"
    default_model = "qwen3-vl-2b"

    def prompt_for(self, object_name: str, defect_classes=()) -> CaptionPrompt:
        return vlm_prompt(object_name, defect_classes, self.prompt_template)

    def _random_image_processor(self, model):
        from transformers import Qwen2VLImageProcessor

        vision = model.config.vision_config
        return Qwen2VLImageProcessor(
            patch_size=int(vision.patch_size),
            temporal_patch_size=int(vision.temporal_patch_size),
            merge_size=int(vision.spatial_merge_size),
            image_mean=list(self.spec.mean),
            image_std=list(self.spec.std),
        )

    def _prepare(self, image, prompt):
        config = self._model.config
        crop = downscale_to_max_side(image, QWEN_MAX_SIDE)  # the processor enlarges tiny crops itself
        encoded = self._image_processor(images=[crop], return_tensors="pt")
        grid = encoded["image_grid_thw"]
        merge = int(config.vision_config.spatial_merge_size)
        n_image = int(grid.prod()) // (merge * merge)
        ids = (
            self._text_ids("<|im_start|>user\n")
            + [int(config.vision_start_token_id)]
            + [int(config.image_token_id)] * n_image
            + [int(config.vision_end_token_id)]
            + self._text_ids(f"{prompt}<|im_end|>\n<|im_start|>assistant\n")
        )
        pixels = encoded["pixel_values"].to(device=self.loaded_runtime.torch_device, dtype=self._model_dtype())
        return ids, {"pixel_values": pixels, "image_grid_thw": grid.to(self.loaded_runtime.torch_device)}

    def _generation_kwargs(self) -> dict[str, Any]:
        kwargs = super()._generation_kwargs()
        text = self._model.config.text_config
        eos = [text.eos_token_id] if isinstance(text.eos_token_id, int) else list(text.eos_token_id or ())
        im_end = self._tokenizer.convert_tokens_to_ids("<|im_end|>") if self._tokenizer is not None else None
        if isinstance(im_end, int) and im_end != getattr(self._tokenizer, "unk_token_id", None):
            eos.append(im_end)
        if eos:
            kwargs["eos_token_id"] = sorted(set(eos))
        if text.pad_token_id is not None:
            kwargs["pad_token_id"] = text.pad_token_id
        return kwargs


class Florence2Captioner(_VisionLanguageCaptioner):
    """Florence-2 (``Florence2ForConditionalGeneration``) given its detailed-caption task prompt."""

    architecture = "Florence2ForConditionalGeneration"
    default_model = "florence-2-base"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._image_tokens = 0

    def prompt_for(self, object_name: str, defect_classes=()) -> CaptionPrompt:
        return florence_prompt(self.prompt_template)

    def _random_image_processor(self, model):
        from transformers import CLIPImageProcessor

        side = int(self.spec.input_size)
        return CLIPImageProcessor(
            size={"height": side, "width": side},
            crop_size={"height": side, "width": side},
            do_center_crop=False,
            image_mean=list(self.spec.mean),
            image_std=list(self.spec.std),
        )

    def _after_load(self, model) -> None:
        """The number of image tokens: one dry pass of the vision tower (the processor's ``image_seq_length``)."""
        torch = _torch()
        side = int(self.spec.input_size)
        device = next(model.parameters()).device
        probe = torch.zeros(1, 3, side, side, dtype=next(model.parameters()).dtype, device=device)
        with torch.inference_mode():
            features = model.get_image_features(probe)
        features = getattr(features, "pooler_output", features)
        self._image_tokens = int(features.shape[1])
        if self._image_tokens <= 0:
            raise InspectorError(f"The vision tower of '{self.spec.id}' produced no image tokens.")

    def _prepare(self, image, prompt):
        text = self._model.config.text_config
        ids = (
            [int(self._model.config.image_token_id)] * self._image_tokens
            + [int(text.bos_token_id)]
            + self._text_ids(prompt)
            + [int(text.eos_token_id)]
        )
        pixels = self._image_processor(images=[image], return_tensors="pt")["pixel_values"]
        return ids, {"pixel_values": pixels.to(device=self.loaded_runtime.torch_device, dtype=self._model_dtype())}

    def _prompt_length(self, input_ids: list[int]) -> int:
        return 1  # an encoder-decoder: the output is the decoder's, after its start token

    def _generation_kwargs(self) -> dict[str, Any]:
        kwargs = super()._generation_kwargs()
        text = self._model.config.text_config
        for key in ("eos_token_id", "pad_token_id", "decoder_start_token_id"):
            value = getattr(text, key, None)
            if value is not None:
                kwargs[key] = value
        return kwargs
