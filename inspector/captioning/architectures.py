"""Captioner architectures for random-weight builds (tests, benchmarks) on a machine without the hub.

* :data:`HUB_CONFIGS`: the architecture hyper-parameters of the registered captioners, the same
  values as the hub's ``config.json`` files (``Salesforce/blip2-opt-2.7b``: EVA ViT-g/14 at 224 px,
  Q-Former with 32 queries, OPT-2.7B with its 50,304-token embedding and ``<image>`` token 50265;
  ``Salesforce/blip-image-captioning-base``: ViT-B/16 at 384 px and a BERT-base decoder;
  ``florence-community/Florence-2-base``: DaViT at 768 px and BART-base, 0.23 B parameters;
  ``Qwen/Qwen3-VL-2B-Instruct``: a 24-layer ViT with DeepStack and a 28-layer 2048-wide decoder).
* :func:`build_random`: builds a model on the ``meta`` device, allocates it in the target dtype
  with ``to_empty`` and fills it cheaply (a repeating block of Gaussian noise, LayerNorms at 1/0,
  position-id buffers as ``arange``), then ties the weights again. BLIP-2 at full size builds in
  seconds instead of the ~50 s of transformers' own initialisation; compute does not depend on
  the values. Modules transformers keeps in fp32 (BLIP-2's Q-Former) stay in fp32, as with
  ``from_pretrained(dtype=...)``.
* :func:`byte_bpe_tokenizer`: no GPT-2/OPT/BERT vocabulary ships here, so random builds (and the
  tests) get a tiny byte-level BPE tokenizer trained on a few sentences, wrapped as
  ``PreTrainedTokenizerFast``. It encodes any text; its ids are below the models' vocabularies.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from typing import Any

from inspector._torch import import_torch
from inspector.core.registry import ModelSpec
from inspector.errors import InspectorError

HUB_CONFIGS: dict[str, dict[str, Any]] = {
    "Salesforce/blip2-opt-2.7b": {
        "num_query_tokens": 32,
        "image_token_index": 50265,
        "image_text_hidden_size": 256,
        "vision_config": {
            "hidden_size": 1408,
            "intermediate_size": 6144,
            "num_hidden_layers": 39,
            "num_attention_heads": 16,
            "image_size": 224,
            "patch_size": 14,
            "layer_norm_eps": 1e-6,
            "qkv_bias": True,
        },
        "qformer_config": {
            "vocab_size": 30522,
            "hidden_size": 768,
            "num_hidden_layers": 12,
            "num_attention_heads": 12,
            "intermediate_size": 3072,
            "cross_attention_frequency": 2,
            "encoder_hidden_size": 1408,
            "max_position_embeddings": 512,
        },
        "text_config": {
            "model_type": "opt",
            "vocab_size": 50304,
            "hidden_size": 2560,
            "ffn_dim": 10240,
            "num_hidden_layers": 32,
            "num_attention_heads": 32,
            "max_position_embeddings": 2048,
            "word_embed_proj_dim": 2560,
            "do_layer_norm_before": True,
            "activation_function": "relu",
            "bos_token_id": 2,
            "eos_token_id": 50118,
            "pad_token_id": 1,
        },
    },
    "Salesforce/blip-image-captioning-base": {
        "projection_dim": 512,
        "image_text_hidden_size": 256,
        "vision_config": {
            "hidden_size": 768,
            "intermediate_size": 3072,
            "num_hidden_layers": 12,
            "num_attention_heads": 12,
            "image_size": 384,
            "patch_size": 16,
            "layer_norm_eps": 1e-5,
        },
        "text_config": {
            "vocab_size": 30524,
            "hidden_size": 768,
            "intermediate_size": 3072,
            "num_hidden_layers": 12,
            "num_attention_heads": 12,
            "max_position_embeddings": 512,
            "layer_norm_eps": 1e-12,
            "bos_token_id": 30522,
            "sep_token_id": 102,
            "pad_token_id": 0,
            "eos_token_id": 2,
        },
    },
    # transformers-native Florence-2 (DaViT vision tower + BART-base encoder-decoder), MIT licence.
    "florence-community/Florence-2-base": {
        "image_token_id": 51289,
        "vision_config": {
            "depths": [1, 1, 9, 1],
            "embed_dim": [128, 256, 512, 1024],
            "num_heads": [4, 8, 16, 32],
            "num_groups": [4, 8, 16, 32],
            "window_size": 12,
            "projection_dim": 768,
        },
        "text_config": {
            "model_type": "bart",
            "vocab_size": 51290,  # BART's 51289 ids (with Florence-2's location tokens) + the <image> token
            "d_model": 768,
            "encoder_layers": 6,
            "decoder_layers": 6,
            "encoder_attention_heads": 12,
            "decoder_attention_heads": 12,
            "encoder_ffn_dim": 3072,
            "decoder_ffn_dim": 3072,
            "max_position_embeddings": 1024,
            "bos_token_id": 0,
            "pad_token_id": 1,
            "eos_token_id": 2,
            "decoder_start_token_id": 2,
        },
    },
    # Qwen3-VL-2B-Instruct (ViT with DeepStack + Qwen3-1.7B-sized language model), Apache-2.0.
    "Qwen/Qwen3-VL-2B-Instruct": {
        "image_token_id": 151655,
        "video_token_id": 151656,
        "vision_start_token_id": 151652,
        "vision_end_token_id": 151653,
        "tie_word_embeddings": True,
        "vision_config": {
            "depth": 24,
            "hidden_size": 1024,
            "intermediate_size": 4096,
            "num_heads": 16,
            "out_hidden_size": 2048,
            "patch_size": 16,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "num_position_embeddings": 2304,
            "deepstack_visual_indexes": [5, 11, 17],
        },
        "text_config": {
            "vocab_size": 151936,
            "hidden_size": 2048,
            "intermediate_size": 6144,
            "num_hidden_layers": 28,
            "num_attention_heads": 16,
            "num_key_value_heads": 8,
            "head_dim": 128,
            "max_position_embeddings": 262144,
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 5000000.0,
                "mrope_section": [24, 20, 20],
                "mrope_interleaved": True,
            },
            "tie_word_embeddings": True,
            "bos_token_id": 151643,
            "eos_token_id": 151645,
            "pad_token_id": 151643,
        },
    },
}

# Sentences the fallback tokenizer is trained on: the prompts' words and the usual defect words.
TOKENIZER_CORPUS = (
    "Question: What defect is visible on this part? Answer: a scratch on the surface",
    "a close-up photo of a screw with a crack near the edge",
    "a photo of a metal tile with a hole, a dent, contamination, rust and a stain",
    "the ball screw shows pitting, corrosion, a chip and a missing thread",
    "a broken bottle, a bent wire, a cut cable, a print defect and some glue",
)


def model_classes(spec: ModelSpec):
    """The transformers model and config classes of a captioner spec."""
    import_torch()
    import transformers

    names = {
        "Blip2ForConditionalGeneration": "Blip2Config",
        "BlipForConditionalGeneration": "BlipConfig",
        "Florence2ForConditionalGeneration": "Florence2Config",
        "Qwen3VLForConditionalGeneration": "Qwen3VLConfig",
    }
    if spec.architecture not in names:
        raise InspectorError(
            f"Model '{spec.id}' ({spec.architecture}) is not a captioner this station knows; "
            f"use one of {', '.join(names)}."
        )
    return getattr(transformers, spec.architecture), getattr(transformers, names[spec.architecture])


def random_config(spec: ModelSpec):
    """The config of a random-weight build: the spec's inline config, else the hub's hyper-parameters."""
    _, config_cls = model_classes(spec)
    if spec.config is not None:
        return config_cls(**copy.deepcopy(spec.config))
    if spec.hub_id not in HUB_CONFIGS:
        raise InspectorError(
            f"No architecture hyper-parameters are known for model '{spec.id}' ({spec.hub_id}); "
            "random weights need them (add them to HUB_CONFIGS or an inline config)."
        )
    return config_cls(**copy.deepcopy(HUB_CONFIGS[spec.hub_id]))


def _fill_cheaply(model, seed: int = 0) -> None:
    torch = import_torch()
    generator = torch.Generator().manual_seed(seed)
    pool32 = torch.randn(1_000_003, generator=generator) * 0.02  # a prime length: no exact periodicity
    pools: dict[Any, Any] = {}
    norms = tuple(
        m
        for m in model.modules()
        if isinstance(m, torch.nn.LayerNorm) or type(m).__name__.endswith(("LayerNorm", "RMSNorm"))
    )
    norm_params = {id(p) for m in norms for p in m.parameters(recurse=False)}
    with torch.no_grad():
        for module in model.modules():
            for name, p in module.named_parameters(recurse=False):
                if id(p) in norm_params:
                    p.fill_(1.0 if name == "weight" else 0.0)
                    continue
                pool = pools.setdefault((p.dtype, p.device), pool32.to(device=p.device, dtype=p.dtype))
                flat = p.view(-1)
                for start in range(0, flat.numel(), pool.numel()):
                    n = min(pool.numel(), flat.numel() - start)
                    flat[start : start + n].copy_(pool[:n])
            for name, buf in module.named_buffers(recurse=False):
                if "position_ids" in name:
                    buf.copy_(torch.arange(buf.shape[-1], device=buf.device).expand_as(buf))
                else:  # no other buffers in these models; zeros are a safe value for any that appear
                    buf.zero_()


def build_random(spec: ModelSpec, runtime, config=None, seed: int = 0):
    """The spec's architecture with random weights, on the runtime's device and dtype, in eval mode."""
    torch = import_torch()
    model_cls, _ = model_classes(spec)
    config = config if config is not None else random_config(spec)
    with torch.device("meta"):
        model = model_cls(config)
    model = model.to(dtype=runtime.torch_dtype)
    for name in getattr(model, "_keep_in_fp32_modules", None) or ():
        part = getattr(model, name, None)
        if isinstance(part, torch.nn.Module):
            part.to(dtype=torch.float32)
        elif isinstance(part, torch.nn.Parameter):
            part.data = part.data.float()
    model = model.to_empty(device=runtime.torch_device)
    _fill_cheaply(model, seed)
    if hasattr(model, "tie_weights"):
        model.tie_weights()
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def byte_bpe_tokenizer(
    corpus: Iterable[str] = TOKENIZER_CORPUS,
    vocab_size: int = 400,
    special_tokens: Sequence[str] = ("<pad>", "</s>", "<unk>", "[SEP]", "[DEC]"),
):
    """A tiny byte-level BPE tokenizer (``PreTrainedTokenizerFast``) that encodes any text.

    The special tokens get the first ids in the given order (``<pad>`` = 0, ``</s>`` = 1, ...).
    """
    import_torch()
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(special_tokens),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(list(corpus) * 4, trainer)
    named = dict(zip(("pad_token", "eos_token", "unk_token"), ("<pad>", "</s>", "<unk>"), strict=True))
    named = {k: v for k, v in named.items() if v in special_tokens}
    if "</s>" in special_tokens:
        named["bos_token"] = "</s>"
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, **named)
