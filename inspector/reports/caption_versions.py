"""The report's caption-version lines: which trained captioner a recipe version used, and how it scored.

A recipe version that selects a captioner version (``captioner_version``, a LoRA adapter from
``inspector train-captioner``) gets a block: the version's id, its base model and weights, the
corrected captions it learnt from and its held-out BLEU-4 / ROUGE-L / CIDEr-D before and after.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from inspector.core.captioner_version import CaptionerVersionError, read_version
from inspector.core.fingerprint import short_fingerprint
from inspector.reports.model import LearningData


def _scores(label: str, m: Mapping[str, Any] | None) -> str:
    if not m:
        return f"{label}: not measured (no held-out corrected captions)."
    return (
        f"{label}: BLEU-4 {float(m['bleu4']):.3f}, ROUGE-L {float(m['rouge_l']):.3f}, "
        f"CIDEr-D {float(m['cider']):.3f} on {int(m['n'])} held-out corrected captions."
    )


def caption_version_lines(body: Mapping[str, Any]) -> tuple[str, ...]:
    """What the report says about a recipe version's captioner version (nothing when it selects none)."""
    path = str(body.get("captioner_version") or "")
    if not path:
        return ()
    try:
        v = read_version(path)
    except CaptionerVersionError as error:
        return (f"Captioner version {path}: {error}",)
    data = v.data or {}
    lines = [
        f"Captioner version {v.id}: LoRA (r={v.lora.get('r')}, alpha={v.lora.get('lora_alpha')}, on "
        f"{v.lora.get('target_modules')}) over {v.base_model} weights {short_fingerprint(v.base_fingerprint)}; "
        f"adapter {short_fingerprint(v.adapter_fingerprint)}, trained {v.created_at}.",
        f"Learnt from {len(data.get('train', []))} operator-corrected captions; "
        f"{len(data.get('held_out', []))} held out for measuring.",
        _scores("Before (base captioner)", (v.metrics or {}).get("before")),
        _scores("After (with the adapter)", (v.metrics or {}).get("after")),
    ]
    if v.random_weights:
        lines.append("RANDOM WEIGHTS: the base captioner had random weights; its captions are meaningless.")
    return tuple(lines)


def caption_blocks(learning: LearningData) -> list:
    from inspector.reports.learning import Block

    return [Block(f"Captioner version - {v.name} v{v.version}", v.captioner) for v in learning.versions if v.captioner]
