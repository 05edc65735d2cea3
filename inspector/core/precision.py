"""The precisions and inference backends a station offers, and what ``int8`` means for a build.

Qt- and torch-free: the command line, the window's settings and the session share these choices.
"""

from __future__ import annotations

from dataclasses import dataclass

from inspector.errors import InspectorError

INT8 = "int8"
PRECISIONS = ("auto", "float32", "bfloat16", "float16", INT8)
"""``--dtype`` of a station run (``auto``: measured per machine; ``int8``: see :func:`encoder_choice`)."""
BACKENDS = ("auto", "torch", "openvino")
"""``--backend``: the CPU inference runtime of the image encoder (``auto``: measured once per machine and model)."""


@dataclass(frozen=True)
class EncoderChoice:
    """How a run's detector is built for the requested device, dtype and backend.

    ``dtype`` is the float precision the detector is built in; with ``int8`` it is then switched to
    INT8 by :func:`~inspector.pipeline.int8.switch_to_int8` (OpenVINO fp32 on the CPU first).
    """

    device: str
    dtype: str
    backend: str
    int8: bool = False


def encoder_choice(device: str, dtype: str, backend: str) -> EncoderChoice:
    """The build for ``device`` / ``dtype`` / ``backend``; ``int8`` means OpenVINO on the CPU.

    Raises:
        InspectorError: INT8 with the torch backend or on a GPU (exit code 2).
    """
    if dtype != INT8:
        return EncoderChoice(device, dtype, backend)
    if backend == "torch":
        raise InspectorError(
            "INT8 runs on OpenVINO, not torch: choose the openvino or auto backend, or another precision for torch."
        )
    if device not in ("auto", "cpu"):
        raise InspectorError(
            f"INT8 runs on the CPU (OpenVINO); device '{device}' cannot use it: choose the cpu or auto device, "
            "or another precision (float16 on a GPU)."
        )
    return EncoderChoice("cpu", "float32", "openvino", int8=True)


def model_dtype(dtype: str) -> str:
    """The float precision of the models a station builds besides the run's detector (calibration,
    golden-part checks, captions): INT8's is fp32, which its gate compares against."""
    return "float32" if dtype == INT8 else dtype
