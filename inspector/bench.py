"""``inspector bench``: throughput and peak memory of each detector on this machine.

Each configuration (detector, device, backend, dtype) runs in a fresh child process, so its peak
memory is its own. In the child: build the detector, fit it (few-shot: 1 reference), warm up, then
for each batch size time ``predict`` and the bare image-encoder forward pass on the same batch,
``repeats`` times each, and keep the medians. The ratio predict / encoder is everything the
detector does besides the backbone (pre-processing, windows, nearest neighbours, upsampling).

OpenVINO configurations are first converted (and, for INT8, quantised) in a separate child whose
result lands in the on-disk cache, so the timed child's peak memory is that of a station loading a
cached model. INT8 is calibrated and checked on the good images (``good_folder``): the lowest map
Pearson and largest score difference against OpenVINO fp32 are reported with the gate's verdict.
Every table names the CPU and its instruction sets and the load average at the start and the end.
"""

from __future__ import annotations

import multiprocessing as mp
import resource
import traceback
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from inspector.backbones.machine import median_seconds
from inspector.core.detector_table import DETECTOR_TABLE
from inspector.errors import InspectorError

DEFAULT_DETECTORS = tuple(k.name for k in DETECTOR_TABLE if k.bench)  # the detector table says which


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
    backend: str = "torch"
    int8_pearson: float | None = None  # lowest map Pearson INT8 vs fp32 on the good images
    int8_score_diff: float | None = None  # largest score difference INT8 vs fp32
    int8_accepted: bool | None = None
    tiles: str = ""  # "4x3" when scored as tiles
    gpu_name: str = ""
    cpu: str = ""  # the CPU as the benchmark process saw it (model, instruction sets, any ISA cap)

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


@dataclass(frozen=True)
class BenchConfig:
    """One benchmarked configuration (runs in its own process)."""

    detector: str
    model: str = ""
    device: str = "cpu"
    dtype: str = "float32"  # float32, bfloat16, float16; int8 with the openvino backend
    backend: str = "torch"
    batches: tuple[int, ...] = (1,)
    repeats: int = 5
    random_weights: bool = False
    image_folder: str | None = None
    good_folder: str | None = None  # INT8 calibration and agreement check
    tiles: str = ""  # "COLSxROWS": score each image as overlapping tiles
    image_size: str = ""  # "WxH": resize the bench images to this size first
    prepare_only: bool = False  # only build the OpenVINO cache


def _good_images(folder: str | None, count: int = 8) -> list[np.ndarray]:
    from inspector.core.images import load_image
    from inspector.sources.folder import scan_images

    if not folder:
        return []
    return [load_image(p) for p in scan_images(Path(folder), recursive=True)[:count]]


def _resize_all(images: list[np.ndarray], size: str) -> list[np.ndarray]:
    import cv2

    w, h = (int(v) for v in size.lower().split("x"))
    return [cv2.resize(i, (w, h), interpolation=cv2.INTER_CUBIC) for i in images]


def _run_config(config: BenchConfig) -> BenchResult:
    from inspector._torch import import_torch
    from inspector.backbones.machine import cpu_info
    from inspector.detectors.acceleration import measure_int8
    from inspector.detectors.factory import create_detector

    torch = import_torch()
    c = config
    int8 = c.dtype == "int8"
    good = _good_images(c.good_folder)
    if int8 and not good:
        raise InspectorError("INT8 needs good images to calibrate and check it (bench --good-images FOLDER).")
    detector = create_detector(
        c.detector,
        model=c.model,
        device=c.device,
        dtype="float32" if int8 else c.dtype,
        random_weights=c.random_weights,
        object_name="part",
        backend=c.backend,
    )
    batches = c.batches
    images, described = bench_images(Path(c.image_folder) if c.image_folder else None, max(batches) + 1)
    if c.image_size:
        images = _resize_all(images, c.image_size)
        good = _resize_all(good, c.image_size)
        described = f"{c.image_size} (resized) from {c.image_folder or 'generated'}"
    if c.tiles:
        from inspector.detectors.tiling import TiledDetector, TilingOptions

        cols, rows = (int(v) for v in c.tiles.lower().split("x"))
        detector = TiledDetector(detector, TilingOptions(grid=(cols, rows)))
    if detector.needs_references:
        detector.fit(images[-1:])
    report = None
    if int8:
        report = measure_int8(getattr(detector, "inner", detector), good)
    if c.prepare_only:
        return BenchResult(c.detector, c.model, c.device, c.dtype, "", "", c.random_weights, (), 0.0, None)
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
        reps = c.repeats
        predict_s = median_seconds(lambda c=chunk: (detector.predict(c), sync()), reps)
        encoder_s = median_seconds(lambda c=chunk: (detector.encoder_forward(c), sync()), reps)
        timings.append(BatchTiming(batch, predict_s, encoder_s))
    spec_size = getattr(detector, "input_size", None) or getattr(detector, "resolution", None)
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
        backend=detector.info.backend,
        int8_pearson=report.map_pearson if report else None,
        int8_score_diff=report.score_diff if report else None,
        int8_accepted=report.accepted if report else None,
        tiles=c.tiles,
        gpu_name=torch.cuda.get_device_name(detector.info.device) if cuda else "",
        cpu=cpu_info().describe(),
    )


def _child(queue, config: BenchConfig) -> None:
    try:
        queue.put(("ok", _run_config(config)))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent as text
        from inspector.errors import InspectorError

        text = str(exc) if isinstance(exc, InspectorError) else traceback.format_exc(limit=4)
        queue.put(("error", (text, exc.exit_code if isinstance(exc, InspectorError) else 1)))


def _isolated(config: BenchConfig):
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(queue, config))
    proc.start()
    try:
        return queue.get()
    finally:
        proc.join()


def run_config_isolated(config: BenchConfig) -> BenchResult:
    """Run one configuration in a fresh process and return its result (or the error).

    OpenVINO configurations are converted first in another fresh process (into the cache).
    """
    import dataclasses

    if config.backend == "openvino":
        status, payload = _isolated(dataclasses.replace(config, prepare_only=True))
        if status != "ok":
            return _failed(config, payload)
    status, payload = _isolated(config)
    return payload if status == "ok" else _failed(config, payload)


def _failed(c: BenchConfig, payload: tuple[str, int]) -> BenchResult:
    text, code = payload
    return BenchResult(
        c.detector,
        c.model,
        c.device,
        c.dtype,
        "",
        "",
        c.random_weights,
        (),
        0.0,
        None,
        error=text,
        error_code=code,
        backend=c.backend,
    )


def machine_header(load_before=None, load_after=None) -> str:
    """The CPU (model, cores, instruction sets) and load averages, printed with every table."""
    from inspector.backbones.machine import cpu_info

    cpu = cpu_info()
    text = f"CPU: {cpu.describe()} [kind {cpu.kind}]"

    def fmt(load):
        return "/".join(f"{v:.1f}" for v in load) if load else "?"

    if load_before is not None or load_after is not None:
        text += f"\nload average (1/5/15 min) at start {fmt(load_before)}, at end {fmt(load_after)}"
    return text


def format_table(results: Sequence[BenchResult], load_before=None, load_after=None) -> str:
    header = (
        f"{'detector':<12} {'model':<24} {'device':<6} {'backend':<8} {'dtype':<9} {'tiles':<5} {'b1 img/s':>9} "
        f"{'best':>12} {'ratio b1':>8} {'ratio best':>10} {'peak MB':>8} {'int8 Pearson':>12} {'int8 dscore':>11}"
    )
    lines = [machine_header(load_before, load_after), header, "-" * len(header)]
    for r in results:
        if r.error:
            lines.append(
                f"{r.detector:<12} {r.model_id:<24} {r.device:<6} {r.backend:<8} {r.dtype:<9} ERROR: "
                f"{r.error.strip().splitlines()[0]}"
            )
            continue
        b1, best = r.batch1, r.best
        peak = r.gpu_peak_memory_mb if r.gpu_peak_memory_mb is not None else r.peak_memory_mb
        gate = ""
        if r.int8_pearson is not None:
            gate = f" {r.int8_pearson:>12.4f} {r.int8_score_diff:>11.4f} {'accepted' if r.int8_accepted else 'REFUSED'}"
        lines.append(
            f"{r.detector:<12} {r.model_id:<24} {r.device:<6} {r.backend:<8} {r.dtype:<9} {r.tiles or '-':<5} "
            f"{(b1.images_per_s if b1 else float('nan')):>9.2f} "
            f"{best.images_per_s:>7.2f} @b{best.batch:<3} "
            f"{(b1.ratio if b1 else float('nan')):>8.2f} {best.ratio:>10.2f} {peak:>8.0f}{gate}"
        )
        if r.gpu_name:
            lines.append(f"    GPU: {r.gpu_name}")
    if any(r.random_weights for r in results):
        lines.append("Models built with RANDOM WEIGHTS (speed does not depend on weight values).")
    lines.append(
        "ratio = whole predict / bare image-encoder forward on the same batch, same run. "
        "peak MB = peak RSS of the benchmark process (GPU: peak allocated on the GPU). "
        "int8 Pearson / dscore: lowest map Pearson and largest score difference of INT8 against OpenVINO fp32 "
        "on the good images (gate: >= 0.99 and <= 0.01)."
    )
    return "\n".join(lines)
