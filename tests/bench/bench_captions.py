"""Caption benchmark (a script, not a test): real-size BLIP-2 OPT-2.7B, BLIP base, Qwen3-VL-2B and
Florence-2 base with random weights.

Seconds per caption at a fixed generation length, and peak memory, per model and dtype; each
configuration runs in its own subprocess (a clean peak RSS) under ``flock /tmp/inspector-bench.lock``
(other people share the machine: heavy builds one at a time, never two BLIP-2 builds at once)::

    .venv/bin/python tests/bench/bench_captions.py captions                       # all four, bf16 + fp32
    .venv/bin/python tests/bench/bench_captions.py captions --models blip-base --dtypes bfloat16 --repeats 5

Scoring throughput with captions on and off, as in the station: AnomalyDINO (dinov2-small, 448 px,
random weights, 1 reference) is built, fitted and run on one inference thread and scores
``--images`` parts one at a time; every ``--flag-every``-th part is "flagged" and submitted to a
:class:`~inspector.captioning.CaptionScheduler` with BLIP base in a caption process (``--in-process``:
on the scheduler's thread instead). Modes: ``off`` (no captions), ``gated`` (the pipeline marks
scoring on the scheduler's gate: captions run when scoring is idle), ``share`` (gated, but captions
may use ``--busy-share`` of the time while scoring is busy), ``ungated`` (no gate, only the caption
side's lower OS priority), ``naive`` (no gate, same priority: what the gate prevents). With
``--interval`` parts arrive at that pace (a camera) instead of back to back. Other processes'
CPU use during each measurement is printed (the machine is shared); ``--wait-quiet`` waits for a
quiet machine before each mode::

    flock /tmp/inspector-bench.lock .venv/bin/python tests/bench/bench_captions.py throughput
    flock /tmp/inspector-bench.lock .venv/bin/python tests/bench/bench_captions.py throughput --in-process
    flock /tmp/inspector-bench.lock .venv/bin/python tests/bench/bench_captions.py throughput --interval 0.4

Not collected by pytest (no ``test_`` prefix).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
LOCK = "/tmp/inspector-bench.lock"
QUIET_CORES = 0.2  # a measurement counts as quiet when other processes used less than this


def _cpu_busy_s() -> float:
    """CPU seconds all processes of the machine have used (from /proc/stat)."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def _own_cpu_s() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _pid_cpu_s(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


class OtherLoad:
    """Cores other processes kept busy during a measurement (the machine is shared: report it).

    ``pids`` are our own helper processes (the caption process): counted as ours, not as others'.
    """

    def __init__(self, pids=()):
        self.pids = tuple(pids)

    def _ours(self) -> float:
        return _own_cpu_s() + sum(_pid_cpu_s(pid) for pid in self.pids)

    def __enter__(self):
        self.busy, self.own, self.t = _cpu_busy_s(), self._ours(), time.monotonic()
        return self

    def __exit__(self, *_exc):
        elapsed = time.monotonic() - self.t
        self.cores = max(0.0, (_cpu_busy_s() - self.busy) - (self._ours() - self.own)) / max(elapsed, 1e-9)


def wait_quiet(limit_cores: float = 0.2, max_wait_s: float = 600.0) -> float:
    """Wait (at most ``max_wait_s``) until other processes use less than ``limit_cores``; returns their load."""
    deadline = time.monotonic() + max_wait_s
    while True:
        with OtherLoad() as load:
            time.sleep(1.0)
        if load.cores < limit_cores or time.monotonic() > deadline:
            return load.cores


def _rss_peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB on Linux


def _image(seed: int, size: int = 320) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


# -- one captioner configuration (runs in a subprocess) ---------------------------------------------
def run_one(model: str, dtype: str, tokens: int, repeats: int) -> dict:
    from inspector.backbones.runtime import set_cpu_threads
    from inspector.captioning import create_captioner

    set_cpu_threads()
    import torch

    rss_before = _rss_peak_gib()
    captioner = create_captioner(
        model, device="cpu", dtype=dtype, random_weights=True, min_new_tokens=tokens, max_new_tokens=tokens
    )
    start = time.perf_counter()
    captioner.load()
    build_s = time.perf_counter() - start
    params = sum(p.numel() for p in captioner.model.parameters())
    prompt = captioner.prompt_for("ball screw", ("pitting", "scratch", "corrosion"))
    warm = captioner.caption(_image(0), prompt)
    times, loads = [], []
    with OtherLoad() as load:
        for i in range(repeats):
            with OtherLoad() as one:
                result = captioner.caption(_image(i + 1), prompt)
            assert result.new_tokens == tokens, result
            times.append(result.seconds)
            loads.append(one.cores)
    quiet = [t for t, other in zip(times, loads, strict=True) if other < QUIET_CORES]
    return {
        "model": model,
        "dtype": dtype,
        "tokens": tokens,
        "params_m": round(params / 1e6, 1),
        "build_s": round(build_s, 1),
        "warmup_s": round(warm.seconds, 2),
        "s_per_caption_median": round(statistics.median(times), 3),
        "s_per_caption_best": round(min(times), 3),
        "s_per_caption_quiet_median": round(statistics.median(quiet), 3) if quiet else None,
        "n_quiet": len(quiet),
        "times": [round(t, 3) for t in times],
        "other_cores_per_caption": [round(c, 2) for c in loads],
        "peak_rss_gib": round(_rss_peak_gib(), 2),
        "rss_before_build_gib": round(rss_before, 2),
        "threads": torch.get_num_threads(),
        "other_load_cores": round(load.cores, 2),
    }


def captions(args) -> None:
    flock = shutil.which("flock")
    rows = []
    for model in args.models:
        for dtype in args.dtypes:
            cmd = [
                sys.executable,
                __file__,
                "one",
                "--model",
                model,
                "--dtype",
                dtype,
                "--tokens",
                str(args.tokens),
                "--repeats",
                str(args.repeats),
            ]
            if flock and not args.no_lock:
                cmd = [flock, LOCK, *cmd]
            if args.wait_quiet:
                print(
                    f"others use {wait_quiet(max_wait_s=args.wait_quiet):.2f} cores before {model} {dtype}", flush=True
                )
            out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
            lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
            if out.returncode or not lines:
                print(f"{model} {dtype}: failed (exit {out.returncode})\n{out.stderr[-2000:]}", flush=True)
                continue
            row = json.loads(lines[-1])
            rows.append(row)
            print(
                f"{model:15s} {dtype:9s} {row['params_m']:7.1f} M params  build {row['build_s']:5.1f} s  "
                f"{row['tokens']} tokens: {row['s_per_caption_median']:6.3f} s/caption median, "
                f"{row['s_per_caption_best']:6.3f} best, {row['s_per_caption_quiet_median'] or float('nan'):6.3f} "
                f"median of the {row['n_quiet']} quiet ones  peak RSS {row['peak_rss_gib']:5.2f} GiB  "
                f"(other processes: {row['other_load_cores']:.2f} cores)",
                flush=True,
            )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


# -- scoring throughput with captions on and off ------------------------------------------------------
def throughput(args) -> None:
    from inspector.backbones.runtime import set_cpu_threads
    from inspector.captioning import (
        CaptionScheduler,
        FlaggedPart,
        ProcessCaptioner,
        ScoringGate,
        create_captioner,
    )
    from inspector.core.types import Verdict
    from inspector.detectors.factory import create_detector

    set_cpu_threads()
    # As in the station, all detector work (build, fit, score) runs on one inference thread and the
    # captioner loads and runs on the caption thread: every thread that runs torch gets its own OpenMP
    # pool, and with more pool threads than cores every pool stops spin-waiting (slow small ops).
    pool = None if args.main_thread else ThreadPoolExecutor(1, thread_name_prefix="inspector-inference")

    def inference(fn):
        return fn() if pool is None else pool.submit(fn).result()

    def build_detector():
        detector = create_detector("anomalydino", random_weights=True, dtype=args.detector_dtype)
        detector.fit([_image(1000, 448)])
        return detector

    detector = inference(build_detector)
    images = [_image(i, 448) for i in range(args.images)]
    inference(lambda: detector.predict(images[:2]))  # warm-up
    captioner = create_captioner(
        args.captioner,
        device="cpu",
        dtype=args.caption_dtype,
        random_weights=True,
        min_new_tokens=args.tokens,
        max_new_tokens=args.tokens,
    )
    if args.main_thread and args.in_process:
        captioner.load()
    print(
        f"detector: {detector.info.describe()}; captioner: {captioner.model_id} {args.caption_dtype} "
        f"{'in-process (caption thread)' if args.in_process else 'in a caption process'}, "
        f"{args.tokens} tokens; {args.images} parts, every {args.flag_every} flagged; "
        f"{'back to back' if not args.interval else f'one every {args.interval} s'}; scoring on the "
        f"{'main thread' if args.main_thread else 'inference thread'}",
        flush=True,
    )

    def run(mode: str) -> dict:
        done: list[float] = []
        outcomes = []
        gate = ScoringGate(busy_share=args.busy_share if mode == "share" else 0.0)
        scheduler = None
        child = None
        if mode != "off":
            nice = 0 if mode == "naive" else 10
            if not args.in_process:
                child = ProcessCaptioner(captioner, gate=gate, nice=nice)
            scheduler = CaptionScheduler(
                child or captioner,
                lambda iid, o: (done.append(time.perf_counter()), outcomes.append(o)),
                gate=gate,
                max_pending=args.max_pending,
                timeout_s=None,
                nice=nice,
            )
            # warm up: the model loads (first time) and the caption thread's pool starts, before timing
            scheduler.submit(FlaggedPart("warm-up", images[0], None, 1.0, Verdict.FAIL, "ball screw", ()))
            scheduler.wait_idle(600)
            done.clear()
            outcomes.clear()
        latencies = []

        def score_all() -> float:
            start = time.perf_counter()
            for i, image in enumerate(images):
                if args.interval:
                    time.sleep(max(0.0, start + i * args.interval - time.perf_counter()))
                t0 = time.perf_counter()
                if mode in ("gated", "share"):
                    with gate.scoring():
                        prediction = detector.predict([image])[0]
                else:
                    prediction = detector.predict([image])[0]
                latencies.append(time.perf_counter() - t0)
                if scheduler is not None and i % args.flag_every == 0:
                    scheduler.submit(
                        FlaggedPart(
                            f"part-{i}", image, prediction.anomaly_map, prediction.score, Verdict.FAIL, "ball screw", ()
                        )
                    )
            return start

        load = OtherLoad([child._proc.pid] if child is not None and child._proc is not None else []).__enter__()
        start = inference(score_all)
        scoring_s = time.perf_counter() - start
        load.__exit__()
        if scheduler is not None:
            scheduler.wait_idle(600)
            scheduler.close()
        if child is not None:
            child.close()
        gate.close()
        captions_s = (max(done) - start) if done else 0.0
        captioned = sum(1 for o in outcomes if o.status == "done")
        return {
            "mode": mode,
            "scoring_s": scoring_s,
            "parts_per_s": len(images) / scoring_s,
            "latency_median_ms": 1e3 * statistics.median(latencies),
            "latency_p95_ms": 1e3 * float(np.percentile(latencies, 95)),
            "captioned": captioned,
            "skipped": len(outcomes) - captioned,
            "all_captions_done_s": captions_s,
            "caption_s_median": statistics.median([o.seconds for o in outcomes if o.status == "done"] or [0.0]),
            "other_load_cores": load.cores,
        }

    rows = []
    for mode in args.modes:
        if args.wait_quiet:
            wait_quiet(max_wait_s=args.wait_quiet)
        row = run(mode)
        rows.append(row)
        print(
            f"{mode:8s} scoring {row['parts_per_s']:6.2f} parts/s ({row['scoring_s']:6.2f} s), latency "
            f"{row['latency_median_ms']:6.1f} ms median / {row['latency_p95_ms']:6.1f} p95; captions "
            f"{row['captioned']} done, {row['skipped']} skipped, last at {row['all_captions_done_s']:6.2f} s, "
            f"{row['caption_s_median']:.2f} s each; other processes {row['other_load_cores']:.2f} cores",
            flush=True,
        )
    off = [r["parts_per_s"] for r in rows if r["mode"] == "off"]
    if off:
        base = statistics.mean(off)
        for r in rows:
            if r["mode"] != "off":
                print(f"throughput {r['mode']:8s}/off = {r['parts_per_s'] / base:5.1%}")
    print(f"peak RSS {_rss_peak_gib():.2f} GiB")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("captions", help="seconds per caption and peak memory per model and dtype")
    p.add_argument("--models", nargs="+", default=["blip-base", "florence-2-base", "qwen3-vl-2b", "blip2-opt-2.7b"])
    p.add_argument("--dtypes", nargs="+", default=["bfloat16", "float32"])
    p.add_argument("--tokens", type=int, default=20)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--no-lock", action="store_true", help="do not take " + LOCK)
    p.add_argument(
        "--wait-quiet",
        type=float,
        default=300.0,
        help="wait up to this many seconds for other processes to go quiet before each run (0: no)",
    )
    p.add_argument("--json")
    p = sub.add_parser("one", help="one configuration (what 'captions' runs in a subprocess)")
    p.add_argument("--model", required=True)
    p.add_argument("--dtype", required=True)
    p.add_argument("--tokens", type=int, default=20)
    p.add_argument("--repeats", type=int, default=3)
    p = sub.add_parser("throughput", help="scoring throughput with captions on and off")
    p.add_argument("--images", type=int, default=40)
    p.add_argument("--flag-every", type=int, default=2)
    p.add_argument("--captioner", default="blip-base")
    p.add_argument("--caption-dtype", default="auto")
    p.add_argument("--detector-dtype", default="auto")
    p.add_argument("--tokens", type=int, default=20)
    p.add_argument("--modes", nargs="+", default=["off", "gated", "share", "ungated", "naive", "off"])
    p.add_argument("--busy-share", type=float, default=0.1)
    p.add_argument("--max-pending", type=int, default=64)
    p.add_argument("--interval", type=float, default=0.0, help="seconds between parts (0: back to back)")
    p.add_argument(
        "--wait-quiet",
        type=float,
        default=300.0,
        help="wait up to this many seconds for other processes to go quiet before each mode (0: no)",
    )
    p.add_argument("--main-thread", action="store_true", help="score on the main thread (default: a thread)")
    p.add_argument(
        "--in-process",
        action="store_true",
        help="caption on a thread of the station's process (default: in a caption process)",
    )
    p.add_argument("--json")
    args = parser.parse_args()
    if args.command == "one":
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        print(json.dumps(run_one(args.model, args.dtype, args.tokens, args.repeats)), flush=True)
    elif args.command == "captions":
        captions(args)
    else:
        throughput(args)


if __name__ == "__main__":
    main()
