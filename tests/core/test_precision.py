"""What ``--dtype int8`` means for a build, and when it is refused (one rule for run, session and window)."""

from __future__ import annotations

import pytest

from inspector.core.precision import BACKENDS, PRECISIONS, EncoderChoice, encoder_choice, model_dtype
from inspector.errors import InspectorError


def test_int8_builds_openvino_fp32_on_the_cpu_whatever_auto_would_pick():
    for device in ("auto", "cpu"):
        for backend in ("auto", "openvino"):
            assert encoder_choice(device, "int8", backend) == EncoderChoice("cpu", "float32", "openvino", int8=True)


def test_other_precisions_pass_through_unchanged():
    assert encoder_choice("cuda", "float16", "torch") == EncoderChoice("cuda", "float16", "torch")
    assert encoder_choice("auto", "auto", "auto") == EncoderChoice("auto", "auto", "auto")
    assert model_dtype("int8") == "float32" and model_dtype("bfloat16") == "bfloat16"


def test_int8_on_torch_or_a_gpu_is_refused_with_exit_code_2():
    with pytest.raises(InspectorError, match="INT8 runs on OpenVINO, not torch") as torch_case:
        encoder_choice("cpu", "int8", "torch")
    assert torch_case.value.exit_code == 2
    with pytest.raises(InspectorError, match="device 'cuda:1' cannot use it"):
        encoder_choice("cuda:1", "int8", "openvino")
    assert "int8" in PRECISIONS and BACKENDS == ("auto", "torch", "openvino")
