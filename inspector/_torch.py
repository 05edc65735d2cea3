"""Lazy, guarded import of torch and torchvision.

Every module that needs torch calls :func:`import_torch` inside a function, never at
module import time, so the non-model parts of the station import quickly.

The guard: on a CPU-only torch build, the torchvision wheel from PyPI is a CUDA build whose
compiled extension cannot load. ``import torchvision`` then raises
``RuntimeError: operator torchvision::nms does not exist`` and takes open_clip, timm and
transformers down with it. When (and only when) the extension does not load, we define the
two operator schemas torchvision's Python side needs at import time and give them a plain
torch CPU implementation. Where torchvision matches torch, the guard does nothing.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

_LIBRARIES: list[object] = []  # keep torch.library.Library objects alive


def _nms_reference(dets, scores, iou_threshold: float):
    """Greedy non-maximum suppression in plain torch (boxes as x1, y1, x2, y2)."""
    import torch

    order = torch.argsort(scores, descending=True)
    keep: list[int] = []
    x1, y1, x2, y2 = dets.unbind(1)
    areas = (x2 - x1).clamp(min=0) * (y2 - y1).clamp(min=0)
    suppressed = torch.zeros(len(order), dtype=torch.bool)
    for rank, idx in enumerate(order.tolist()):
        if suppressed[rank]:
            continue
        keep.append(idx)
        rest = order[rank + 1 :]
        xx1 = torch.maximum(x1[idx], x1[rest])
        yy1 = torch.maximum(y1[idx], y1[rest])
        xx2 = torch.minimum(x2[idx], x2[rest])
        yy2 = torch.minimum(y2[idx], y2[rest])
        inter = (xx2 - xx1).clamp(min=0) * (yy2 - yy1).clamp(min=0)
        iou = inter / (areas[idx] + areas[rest] - inter)
        suppressed[rank + 1 :] |= iou > iou_threshold
    return torch.tensor(keep, dtype=torch.int64)


def _torchvision_extension_loads(torch: ModuleType) -> bool:
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return True  # nothing to guard
    folder = Path(next(iter(spec.submodule_search_locations)))
    libs = sorted(folder.glob("_C*.so")) + sorted(folder.glob("_C*.pyd"))
    if not libs:
        return False
    try:
        torch.ops.load_library(str(libs[0]))
    except (OSError, RuntimeError):
        return False
    return True


def _define_torchvision_ops(torch: ModuleType) -> None:
    lib = torch.library.Library("torchvision", "DEF")
    for name in ("nms", "qnms"):
        lib.define(f"{name}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        lib.impl(name, _nms_reference, "CPU")
    _LIBRARIES.append(lib)


@functools.cache
def import_torch() -> ModuleType:
    """Import torch once, making torchvision importable on CPU-only torch builds."""
    import torch

    if "torchvision" not in sys.modules and not _torchvision_extension_loads(torch):
        with contextlib.suppress(RuntimeError):  # already defined: a matching extension loaded after all
            _define_torchvision_ops(torch)
    return torch
