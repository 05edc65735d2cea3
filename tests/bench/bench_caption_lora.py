"""LoRA training speed of the real-size BLIP base captioner (a script, not a test).

BLIP base (224 M parameters, ViT-B/16 at 384 px + BERT-base decoder) with random weights (compute
does not depend on the values), LoRA r=8 on the text decoder's query/value (the defaults of
``inspector train-captioner``), ``--crops`` crops of the shared Magnetic Tile images (a 224 px
square from each) with a fixed ten-word corrected caption each, batch 8. Prints seconds per epoch
(median of ``--epochs``), the loss, peak RSS and the CPU::

    flock /tmp/inspector-bench.lock .venv/bin/python tests/bench/bench_caption_lora.py --dtype float32
    flock /tmp/inspector-bench.lock .venv/bin/python tests/bench/bench_caption_lora.py --dtype bfloat16

Not collected by pytest (no ``test_`` prefix).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                flags = Path("/proc/cpuinfo").read_text()
                extra = [f for f in ("amx_bf16", "avx512_bf16", "avx512f", "avx2") if f in flags]
                return f"{line.split(':', 1)[1].strip()} ({', '.join(extra)}), {os.cpu_count()} cores"
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--crops", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()

    from inspector.captioning import create_captioner
    from inspector.captioning.lora import CaptionExample, LoraOptions, train_lora
    from inspector.core.images import load_image

    images = sorted((ROOT.parent / "shared" / "datasets" / "magnetic_tile").rglob("*.jpg"))[: args.crops]
    if len(images) < args.crops:
        images = sorted((ROOT.parent / "shared" / "datasets").rglob("*.png"))[: args.crops]
    examples = []
    for i, path in enumerate(images):
        image = load_image(path)
        side = min(224, *image.shape[:2])
        examples.append(
            CaptionExample(
                f"c{i}",
                image[:side, :side].copy(),
                "magnetic tile",
                "Magnetic tile with a crack running across the upper edge of the surface.",
            )
        )
    captioner = create_captioner("blip-base", device="cpu", dtype=args.dtype, random_weights=True)
    start = time.perf_counter()
    captioner.load()
    load_s = time.perf_counter() - start
    load1 = os.getloadavg()[0]
    options = LoraOptions(epochs=args.epochs, batch_size=args.batch_size, holdout=0.0)
    report = train_lora(captioner, examples, options)
    load2 = os.getloadavg()[0]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(
        f"BLIP base LoRA r=8 query/value, {len(examples)} crops, batch {args.batch_size}, {captioner.runtime.dtype}: "
        f"{statistics.median(report.seconds_per_epoch):.1f} s/epoch (median of {args.epochs}: "
        f"{', '.join(f'{s:.1f}' for s in report.seconds_per_epoch)}), loss {report.epoch_losses[0]:.3f} -> "
        f"{report.epoch_losses[-1]:.3f}, {report.trainable_parameters:,} of {report.total_parameters:,} trained, "
        f"load {load_s:.1f} s, peak RSS {peak:.1f} GiB; CPU {cpu_name()}; load average {load1:.1f} / {load2:.1f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
