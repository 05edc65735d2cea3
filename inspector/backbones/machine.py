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

# oneDNN's ISA cap (``ONEDNN_MAX_CPU_ISA``, read by torch's and OpenVINO's oneDNN): which of the shown
# flags each cap leaves usable. With ``ATEN_CPU_CAPABILITY`` and ``MKL_ENABLE_INSTRUCTIONS`` set to the
# same level, a CPU runs as one without the newer instruction sets (``inspector bench --isa avx2``).
ISA_ENV = "ONEDNN_MAX_CPU_ISA"
_AVX512 = ("avx2", "avx512f")
_BF16 = (*_AVX512, "avx512_vnni", "avx512_bf16")
ISA_CAPS: dict[str, tuple[str, ...]] = {
    "SSE41": (),
    "AVX": (),
    "AVX2": ("avx2",),
    "AVX2_VNNI": ("avx2", "avx_vnni"),
    "AVX2_VNNI_2": ("avx2", "avx_vnni"),
    "AVX512_CORE": _AVX512,
    "AVX512_CORE_VNNI": (*_AVX512, "avx512_vnni"),
    "AVX512_CORE_BF16": _BF16,
    "AVX512_CORE_FP16": _BF16,
    "AVX10_1_512": _BF16,
}


@dataclass(frozen=True)
class CpuInfo:
    model: str
    cores: int  # usable by this process
    flags: tuple[str, ...]  # those of SHOWN_FLAGS the CPU has and the ISA cap (if any) leaves usable
    cap: str = ""  # the ONEDNN_MAX_CPU_ISA cap in force, e.g. "AVX2" (empty: none)

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
        capped = f"; limited to {self.cap} by {ISA_ENV}" if self.cap else ""
        return f"{self.model} ({self.cores} cores; {flags}{capped})"


@functools.cache
def cpu_info() -> CpuInfo:
    """This machine's CPU, from ``/proc/cpuinfo`` (Linux; elsewhere the platform's processor name, no flags)."""
    import os

    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="ignore")
    except OSError:
        text = ""
    return parse_cpuinfo(text, cores, isa_cap(), default_model=platform.processor() or platform.machine())


def parse_cpuinfo(text: str, cores: int, cap: str = "", default_model: str = "unknown CPU") -> CpuInfo:
    """The CPU described by ``/proc/cpuinfo`` text, with the flags an ISA ``cap`` (a key of ISA_CAPS) leaves."""
    model, flags = default_model, set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and value.strip():
            model = value.strip()
        elif key == "flags" and not flags:
            flags = set(value.split())
    if cap:
        flags &= set(ISA_CAPS[cap])
    return CpuInfo(model=model, cores=cores, flags=tuple(f for f in SHOWN_FLAGS if f in flags), cap=cap)


# ``--isa`` levels: the environment that makes torch (ATen, MKL, oneDNN) and OpenVINO (oneDNN) use
# no instruction set above the level. Read when those libraries load: set before starting a process.
ISA_LEVELS: dict[str, dict[str, str]] = {
    "avx2": {ISA_ENV: "AVX2", "ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"},
    "avx512": {ISA_ENV: "AVX512_CORE", "ATEN_CPU_CAPABILITY": "avx512", "MKL_ENABLE_INSTRUCTIONS": "AVX512"},
}


def limit_isa(level: str) -> dict[str, str]:
    """Set the environment of :data:`ISA_LEVELS` ``level`` for child processes; what was set.

    Emulates the instruction sets of an older CPU on this one, not its clock, caches or memory.
    """
    import os

    env = ISA_LEVELS[level.lower()]
    os.environ.update(env)
    cpu_info.cache_clear()
    return dict(env)


def isa_cap() -> str:
    """The ``ONEDNN_MAX_CPU_ISA`` cap that removes shown instruction sets (e.g. ``AVX2``), else empty.

    Caps at or above AMX (``ALL``, ``AVX512_CORE_AMX``, ...) or unknown ones change nothing shown.
    """
    import os

    value = os.environ.get(ISA_ENV, "").strip().upper()
    return value if value in ISA_CAPS else ""


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
