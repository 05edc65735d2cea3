"""Device and dtype choice per machine."""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass

from inspector._torch import import_torch

DTYPES = {
    "float32": "float32",
    "fp32": "float32",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
    "float16": "float16",
    "fp16": "float16",
}


@dataclass(frozen=True)
class Runtime:
    """Where and in which precision a model runs."""

    device: str  # "cpu", "cuda", "cuda:1"
    dtype: str  # "float32", "bfloat16", "float16"

    @property
    def torch_device(self):
        return import_torch().device(self.device)

    @property
    def torch_dtype(self):
        return getattr(import_torch(), self.dtype)


def resolve_device(requested: str = "auto") -> str:
    torch = import_torch()
    if requested in ("", "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        from inspector.errors import InspectorError

        raise InspectorError(f"Device '{requested}' was asked for, but no CUDA GPU is available.")
    return requested


def cpu_bf16_flags() -> set[str]:
    """The processor's native bf16 instruction sets still usable under any ISA cap (Linux; empty elsewhere)."""
    from inspector.backbones.machine import cpu_info

    return set(cpu_info().flags) & {"amx_bf16", "avx512_bf16"}


@functools.cache
def cpu_bf16_speedup(repeats: int = 7) -> float:
    """Measured speed ratio fp32/bf16 of a ViT-sized matrix product on this CPU (best of ``repeats``).

    Returns 0.0 where oneDNN has no bf16 support on this CPU. Takes about 0.2 s, once per process.
    """
    torch = import_torch()
    try:
        if not torch.ops.mkldnn._is_mkldnn_bf16_supported():
            return 0.0
    except (AttributeError, RuntimeError):
        return 0.0
    timings = {}
    with torch.inference_mode():
        for dtype in (torch.float32, torch.bfloat16):
            a = torch.randn(1024, 768, dtype=dtype)
            b = torch.randn(768, 3072, dtype=dtype)
            a @ b
            best = float("inf")
            for _ in range(repeats):
                start = time.perf_counter()
                a @ b
                best = min(best, time.perf_counter() - start)
            timings[dtype] = best
    return timings[torch.float32] / max(timings[torch.bfloat16], 1e-9)


def cpu_prefers_bf16() -> bool:
    """bf16 on processors with native bf16 instructions (AMX / AVX-512-BF16), else by measurement.

    The flags decide first because a timing taken while other programs load the CPU can be wrong;
    on other processors bf16 is chosen only when a measured product is at least 1.5x faster.
    """
    torch = import_torch()
    try:
        supported = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        supported = False
    if not supported:
        return False
    return bool(cpu_bf16_flags()) or cpu_bf16_speedup() >= 1.5


def resolve_dtype(device: str, requested: str = "auto", recommended: dict[str, str] | None = None) -> str:
    """Pick a dtype: an explicit request wins, then the registry's recommendation.

    ``auto`` on a CPU means bf16 on processors with native bf16 instructions, or where a measured
    matrix product is at least 1.5x faster in bf16 than in fp32 (see :func:`cpu_prefers_bf16`).
    On CUDA, ``auto`` means fp16 (bf16 where the GPU supports it better is chosen by the registry).
    """
    kind = "cuda" if device.startswith("cuda") else "cpu"
    choice = requested if requested not in ("", "auto") else (recommended or {}).get(kind, "auto")
    if choice not in ("", "auto"):
        if choice not in DTYPES:
            from inspector.errors import InspectorError

            raise InspectorError(f"Unknown dtype '{choice}'; use float32, bfloat16 or float16.")
        choice = DTYPES[choice]
        if kind == "cpu" and choice == "float16":
            return "float32"  # fp16 matmuls are slow or missing on CPUs
        return choice
    if kind == "cuda":
        return "float16"
    return "bfloat16" if cpu_prefers_bf16() else "float32"


def make_runtime(device: str = "auto", dtype: str = "auto", recommended: dict[str, str] | None = None) -> Runtime:
    dev = resolve_device(device)
    return Runtime(device=dev, dtype=resolve_dtype(dev, dtype, recommended))


def set_cpu_threads(threads: int | None = None) -> None:
    """Use every core for intra-op parallelism (torch's default can be lower in containers)."""
    import os

    torch = import_torch()
    n = threads or len(os.sched_getaffinity(0))
    torch.set_num_threads(max(1, n))
