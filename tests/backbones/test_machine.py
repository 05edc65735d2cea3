"""The CPU named with every speed figure, and the instruction-set cap that emulates an older CPU."""

from __future__ import annotations

import pytest

from inspector.backbones import machine

AMX_XEON = """processor\t: 0
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse2 avx avx2 fma avx512f avx512_vnni avx512_bf16 amx_bf16 amx_tile amx_int8 avx_vnni
"""
EPYC = """processor\t: 0
model name\t: AMD EPYC 7B12
flags\t\t: fpu sse2 avx avx2 fma
"""


def test_an_amx_xeon_is_named_with_its_instruction_sets():
    cpu = machine.parse_cpuinfo(AMX_XEON, 2)
    assert cpu.kind == "AMX"
    assert cpu.describe() == (
        "Intel(R) Xeon(R) Platinum 8480+ (2 cores; amx_bf16, amx_int8, avx512_bf16, avx512_vnni, avx512f, "
        "avx_vnni, avx2)"
    )
    assert machine.parse_cpuinfo(EPYC, 2).kind == "AVX2"


@pytest.mark.parametrize(
    ("cap", "kind"), [("AVX2", "AVX2"), ("AVX512_CORE", "AVX-512"), ("AVX512_CORE_BF16", "AVX-512-BF16")]
)
def test_an_isa_cap_leaves_only_what_it_allows_and_says_so(cap, kind):
    cpu = machine.parse_cpuinfo(AMX_XEON, 2, cap)
    assert cpu.kind == kind
    assert "amx_bf16" not in cpu.flags
    assert f"limited to {cap} by ONEDNN_MAX_CPU_ISA" in cpu.describe()


def test_the_cap_comes_from_onednn_s_own_variable_and_bf16_is_not_chosen_under_it(monkeypatch):
    from inspector.backbones.runtime import cpu_bf16_flags

    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "avx2")
    machine.cpu_info.cache_clear()
    try:
        assert machine.cpu_info().cap == "AVX2"
        assert machine.cpu_info().kind in ("AVX2", "other")  # whatever this CPU is, nothing above AVX2
        assert cpu_bf16_flags() == set()  # --dtype auto does not pick bf16 from the flags
        monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "ALL")  # no cap that removes anything
        machine.cpu_info.cache_clear()
        assert machine.cpu_info().cap == ""
    finally:
        machine.cpu_info.cache_clear()


def test_limit_isa_sets_the_environment_for_the_benchmark_processes(monkeypatch):
    for name in ("ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS"):
        # setenv, not delenv: delenv of an absent variable records nothing to undo, and the cap set
        # below would then stay for every later test of this process (OpenVINO's CPU plugin breaks)
        monkeypatch.setenv(name, "")
    try:
        env = machine.limit_isa("avx2")
        import os

        assert {k: os.environ[k] for k in env} == {
            "ONEDNN_MAX_CPU_ISA": "AVX2",
            "ATEN_CPU_CAPABILITY": "avx2",
            "MKL_ENABLE_INSTRUCTIONS": "AVX2",
        }
        assert machine.cpu_info().cap == "AVX2"
    finally:
        machine.cpu_info.cache_clear()
