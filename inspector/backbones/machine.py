"""What this machine's CPU is: model name and the instruction sets that decide inference speed."""

from __future__ import annotations

import functools
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# Instruction sets shown with every speed figure (the ones that change which backend/precision wins).
SHOWN_FLAGS = ("amx_bf16", "amx_int8", "avx512_bf16", "avx512_vnni", "avx512f", "avx_vnni", "avx2")


@dataclass(frozen=True)
class CpuInfo:
    model: str
    cores: int  # usable by this process
    flags: tuple[str, ...]  # those of SHOWN_FLAGS the CPU has

    @property
    def kind(self) -> str:
        """Short machine kind for tables: ``AMX``, ``AVX-512-BF16``, ``AVX-512``, ``AVX2`` or ``other``."""
        if "amx_bf16" in self.flags:
            return "AMX"
        if "avx512_bf16" in self.flags:
            return "AVX-512-BF16"
        if "avx512f" in self.flags:
            return "AVX-512"
        return "AVX2" if "avx2" in self.flags else "other"

    def describe(self) -> str:
        flags = ", ".join(self.flags) or "none of " + ", ".join(SHOWN_FLAGS)
        return f"{self.model} ({self.cores} cores; {flags})"


@functools.cache
def cpu_info() -> CpuInfo:
    """Read ``/proc/cpuinfo`` (Linux); elsewhere the platform's processor name and no flags."""
    import os

    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    model, flags = platform.processor() or platform.machine(), set()
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="ignore")
    except OSError:
        text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and value.strip():
            model = value.strip()
        elif key == "flags" and not flags:
            flags = set(value.split())
    return CpuInfo(model=model, cores=cores, flags=tuple(f for f in SHOWN_FLAGS if f in flags))


def load_average() -> tuple[float, float, float] | None:
    """The 1/5/15-minute load average (noted next to benchmark figures), None where unknown."""
    import os

    try:
        return os.getloadavg()
    except (AttributeError, OSError):  # pragma: no cover
        return None


def median_seconds(fn: Callable[[], object], repeats: int, *, warmup: bool = False) -> float:
    """Median wall time of ``repeats`` calls of ``fn`` (after one untimed call with ``warmup``)."""
    if warmup:
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
