"""``inspector bench``: throughput and peak memory of each detector on this machine.

Each configuration (detector, device, dtype) runs in a fresh child process, so its peak memory
is its own. In the child: build the detector, fit it (few-shot: 1 reference), warm up, then for
each batch size time ``predict`` and the bare image-encoder forward pass on the same batch,
``repeats`` times each, and keep the medians. The ratio predict / encoder is everything the
detector does besides the backbone (pre-processing, windows, nearest neighbours, upsampling).
"""

from __future__ import annotations

import multiprocessing as mp
import resource
import statistics
import time
import traceback
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

DEFAULT_DETECTORS = ("anomalydino", "winclip", "winclip+")


@dataclass(frozen=True)
class BatchTiming:
    batch: int
    predict_s: float  # median seconds for one predict call on the batch
    encoder_s: float  # median seconds for the bare encoder forward on the same batch

    @property
    def images_per_s(self) -> float:
        return self.batch / self.predict_s

    @property
    def ratio(self) -> float:
        return self.predict_s / self.encoder_s


@dataclass(frozen=True)
class BenchResult:
    detector: str
    model_id: str
    device: str
    dtype: str
    input_size: str
    image_size: str
    random_weights: bool
    timings: tuple[BatchTiming, ...]
    peak_memory_mb: float
    gpu_peak_memory_mb: float | None
    error: str = ""
    error_code: int = 0  # the command's exit code for this error (3: weights missing), 0 when none

    @property
    def batch1(self) -> BatchTiming | None:
        return next((t for t in self.timings if t.batch == 1), None)

    @property
    def best(self) -> BatchTiming | None:
        return max(self.timings, key=lambda t: t.images_per_s) if self.timings else None

    def as_dict(self) -> dict:
        data = asdict(self)
        data["timings"] = [dict(asdict(t), images_per_s=t.images_per_s, ratio=t.ratio) for t in self.timings]
        return data


def bench_images(folder: Path | None, count: int) -> tuple[list[np.ndarray], str]:
    """Test images: from ``folder`` if given, else generated 1024x1024 noise (said in the table)."""
    from inspector.core.images import load_image
    from inspector.sources.folder import scan_images

    if folder is not None:
        paths = scan_images(Path(folder), recursive=True)[:count]
        if paths:
            images = [load_image(p) for p in paths]
            while len(images) < count:
                images += images[: count - len(images)]
            return images, f"{images[0].shape[1]}x{images[0].shape[0]} from {folder}"
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (1024, 1024, 3), dtype=np.uint8) for _ in range(count)]
    return images, "1024x1024 generated"


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _run_config(
    detector_name: str,
    model: str,
    device: str,
    dtype: str,
    batches: Sequence[int],
    repeats: int,
    random_weights: bool,
    image_folder: str | None,
) -> BenchResult:
    from inspector._torch import import_torch
    from inspector.detectors.factory import create_detector

    torch = import_torch()
    detector = create_detector(
        detector_name, model=model, device=device, dtype=dtype, random_weights=random_weights, object_name="part"
    )
    images, described = bench_images(Path(image_folder) if image_folder else None, max(batches) + 1)
    if detector.needs_references:
        detector.fit(images[-1:])
    cuda = detector.info.device.startswith("cuda")

    def sync():
        if cuda:
            torch.cuda.synchronize()

    if cuda:
        torch.cuda.reset_peak_memory_stats()
    timings = []
    for batch in batches:
        chunk = images[:batch]
        detector.predict(chunk)  # warm-up (also lets oneDNN pick kernels for this shape)
        detector.encoder_forward(chunk)
        sync()
        reps = repeats if batch == 1 else max(2, repeats // 2)
        predict_s = _median_time(lambda c=chunk: (detector.predict(c), sync()), reps)
        encoder_s = _median_time(lambda c=chunk: (detector.encoder_forward(c), sync()), reps)
        timings.append(BatchTiming(batch, predict_s, encoder_s))
    spec_size = getattr(detector, "input_size", None)
    return BenchResult(
        detector=detector.info.detector,
        model_id=detector.info.model_id,
        device=detector.info.device,
        dtype=detector.info.dtype,
        input_size=str(spec_size or ""),
        image_size=described,
        random_weights=detector.info.random_weights,
        timings=tuple(timings),
        peak_memory_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        gpu_peak_memory_mb=torch.cuda.max_memory_allocated() / 2**20 if cuda else None,
    )


def _child(queue, args) -> None:
    try:
        queue.put(("ok", _run_config(*args)))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent as text
        from inspector.errors import InspectorError

        text = str(exc) if isinstance(exc, InspectorError) else traceback.format_exc(limit=4)
        queue.put(("error", (text, exc.exit_code if isinstance(exc, InspectorError) else 1)))


def run_config_isolated(
    detector: str,
    model: str,
    device: str,
    dtype: str,
    batches: Sequence[int],
    repeats: int,
    random_weights: bool,
    image_folder: str | None,
) -> BenchResult:
    """Run one configuration in a fresh process and return its result (or the error)."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    args = (detector, model, device, dtype, tuple(batches), repeats, random_weights, image_folder)
    proc = ctx.Process(target=_child, args=(queue, args))
    proc.start()
    try:
        status, payload = queue.get()
    finally:
        proc.join()
    if status == "ok":
        return payload
    text, code = payload
    return BenchResult(
        detector, model, device, dtype, "", "", random_weights, (), 0.0, None, error=text, error_code=code
    )


def format_table(results: Sequence[BenchResult]) -> str:
    header = (
        f"{'detector':<12} {'model':<24} {'device':<6} {'dtype':<9} {'b1 img/s':>9} {'best':>12} "
        f"{'ratio b1':>8} {'ratio best':>10} {'peak MB':>8}"
    )
    lines = [header, "-" * len(header)]
    for r in results:
        if r.error:
            lines.append(
                f"{r.detector:<12} {r.model_id:<24} {r.device:<6} {r.dtype:<9} ERROR: {r.error.strip().splitlines()[0]}"
            )
            continue
        b1, best = r.batch1, r.best
        peak = r.gpu_peak_memory_mb if r.gpu_peak_memory_mb is not None else r.peak_memory_mb
        lines.append(
            f"{r.detector:<12} {r.model_id:<24} {r.device:<6} {r.dtype:<9} "
            f"{(b1.images_per_s if b1 else float('nan')):>9.2f} "
            f"{best.images_per_s:>7.2f} @b{best.batch:<3} "
            f"{(b1.ratio if b1 else float('nan')):>8.2f} {best.ratio:>10.2f} {peak:>8.0f}"
        )
    if any(r.random_weights for r in results):
        lines.append("Models built with RANDOM WEIGHTS (speed does not depend on weight values).")
    lines.append(
        "ratio = whole predict / bare image-encoder forward on the same batch, same run. "
        "peak MB = peak RSS of the benchmark process (GPU: peak allocated on the GPU)."
    )
    return "\n".join(lines)
