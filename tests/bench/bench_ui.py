"""Station window benchmark (a script, not a test). Run the heavy timings alone:

    flock /tmp/inspector-bench.lock .venv/bin/python tests/bench/bench_ui.py
    flock /tmp/inspector-bench.lock .venv/bin/python tests/bench/bench_ui.py --model tiny --seconds 10

Figures printed:

1. time from launching ``python -m inspector.ui`` (a new process) until the window is on screen,
   and whether torch was already imported then (it must not be: models load after the window);
2. the largest gap between ticks of a 1 ms GUI timer (how long the event loop was ever blocked)
   while a 30 fps video source plays in real time and the detector scores it (DINOv2-small
   architecture with RANDOM WEIGHTS by default: the compute is real, the weights are not), with the
   live preview at camera rate; also while the model loads;
3. the time for the review table to open on 100,000 inspections (count and first page shown), to
   jump to the last row, and to open on a derived-verdict filter.

Runs offscreen (``QT_QPA_PLATFORM=offscreen``) unless a display is set.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def show(label: str, value: float, unit: str) -> None:
    print(f"{label:<78} {value:>9,.1f} {unit}", flush=True)


# -- 1. launch -------------------------------------------------------------------------------------------
def bench_launch(folder: Path, repeats: int) -> None:
    samples, inside = [], []
    torch_loaded = set()
    for i in range(repeats):
        env = dict(os.environ, INSPECTOR_DATA_DIR=str(folder / f"launch-{i}"))
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "inspector.ui", "--operator", "bench", "--random-weights", "--quit-after-show"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        line = ""
        for line in proc.stdout:
            if line.startswith("window-visible"):
                samples.append(time.perf_counter() - t0)
                inside.append(float(line.split()[1]))
                torch_loaded.add(line.split()[2])
                break
        proc.wait(60)
    show(f"launch -> window visible, new process (median of {repeats})", statistics.median(samples) * 1000, "ms")
    show("launch -> window visible, worst", max(samples) * 1000, "ms")
    show(
        "  of which inside the process (from importing inspector.ui.app), median",
        statistics.median(inside) * 1000,
        "ms",
    )
    print(f"  torch imported when the window showed: {', '.join(sorted(torch_loaded))}")


# -- 2. event-loop gaps with a 30 fps video and inference ---------------------------------------------------------
def write_video(path: Path, seconds: float, fps: float = 30.0, size=(1280, 720)) -> None:
    import cv2
    import numpy as np

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    rng = np.random.default_rng(0)
    base = cv2.resize(rng.integers(0, 256, (18, 32, 3), dtype=np.uint8), size, interpolation=cv2.INTER_CUBIC)
    for i in range(int(seconds * fps)):
        frame = np.roll(base, i * 4, axis=1)
        if i % 15 == 0:
            cv2.circle(frame, (200 + 3 * i % 900, 360), 40, (255, 255, 255), -1)
        writer.write(frame)
    writer.release()


class GapMeter:
    """A 1 ms timer on the GUI thread; the largest interval between two ticks is the longest stall."""

    def __init__(self) -> None:
        from PySide6.QtCore import Qt, QTimer

        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(1)
        self.timer.timeout.connect(self._tick)
        self.last = None
        self.gaps: list[float] = []

    def start(self) -> None:
        self.last = time.perf_counter()
        self.gaps = []
        self.timer.start()

    def stop(self) -> list[float]:
        self.timer.stop()
        return self.gaps

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps.append(now - self.last)
        self.last = now


def bench_event_loop(folder: Path, model: str, seconds: float) -> None:
    from PySide6.QtWidgets import QApplication

    from inspector.core.recipe import Recipe, save_recipe
    from inspector.ui.main_window import MainWindow
    from inspector.ui.settings import StationSettings
    from inspector.ui.theme import apply_theme
    from tests.pipeline.conftest import TINY_DINO, write_reference

    app = QApplication.instance() or QApplication([])
    apply_theme(app, "light")
    if model == "tiny":
        models = folder / "models"
        models.mkdir(exist_ok=True)
        (models / "tiny-dino.json").write_text(json.dumps(TINY_DINO))
        os.environ["INSPECTOR_MODELS_DIR"] = str(models)
        model_id, params = "tiny-dino", {"resolution": 56}
    else:
        model_id, params = "dinov2-small", {"resolution": 448}
    settings = StationSettings(data_folder=str(folder / "station-live"))
    settings.recipes_dir.mkdir(parents=True)
    refs = tuple(str(write_reference(folder / f"ref{i}.png", size=(640, 360))) for i in range(2))
    recipe_path = settings.recipes_dir / "bench.json"
    save_recipe(
        Recipe(
            name="bench",
            object_name="part",
            detector="anomalydino",
            model=model_id,
            references=refs,
            threshold=0.3,
            uncertain_band=(0.25, 0.35),
            detector_params=params,
        ),
        recipe_path,
    )
    video = folder / "line.avi"
    write_video(video, seconds + 25)
    window = MainWindow(settings, operator="bench", random_weights=True)
    window.resize(1600, 960)
    window.show()
    deadline = time.time() + 30
    while not window.station.ready and time.time() < deadline:
        app.processEvents()
        time.sleep(0.005)
    window._recipes_changed(str(recipe_path))
    window.live.set_source_choice("video", str(video), play_live=True)
    meter = GapMeter()
    import threading

    meter.start()  # idle: torch is preloaded on a background thread 2 s after the window shows
    t_idle = time.perf_counter()
    preloading = lambda: any(t.name == "inspector-preload" for t in threading.enumerate())  # noqa: E731
    while (time.perf_counter() - t_idle < 2.5 or preloading()) and time.perf_counter() - t_idle < 60:
        app.processEvents()
        time.sleep(0.001)
    idle = meter.stop()
    idle_s = time.perf_counter() - t_idle
    meter.start()
    window.controller.start()
    t0 = time.perf_counter()
    while window.live.overlay.part is None and time.perf_counter() - t0 < 120:  # model loading
        app.processEvents()
        time.sleep(0.001)
    loading = meter.stop()
    load_s = time.perf_counter() - t0
    counts0 = dict(window.controller.counts)
    frames0 = window.live.frames_shown
    meter.start()
    t1 = time.perf_counter()
    while time.perf_counter() - t1 < seconds:
        app.processEvents()
        time.sleep(0.0005)
    running = meter.stop()
    elapsed = time.perf_counter() - t1
    scored = window.controller.counts["inspected"] - counts0["inspected"]
    painted = window.live.frames_shown - frames0
    feed_source = window.station.session.source
    dropped = feed_source.dropped if feed_source is not None else 0
    window.controller.stop()
    while window.controller.running:
        app.processEvents()
        time.sleep(0.005)
    info = window.model_label.text()
    window.close()
    print(f"30 fps 1280x720 video played live, {info}, RANDOM WEIGHTS, {elapsed:.0f} s measured")
    show("  while scoring: largest GUI event-loop gap", max(running) * 1000, "ms")
    show("  while scoring: 99.9th percentile gap", sorted(running)[int(len(running) * 0.999)] * 1000, "ms")
    show("  while scoring: gaps over 50 ms", sum(g > 0.05 for g in running), "")
    show("  while scoring: parts scored per second", scored / elapsed, "/s")
    show("  while scoring: preview frames painted per second (camera rate 30)", painted / elapsed, "/s")
    show("  frames dropped by the live source (scoring slower than the camera)", dropped, "")
    show(
        f"  idle after start-up while torch is preloaded in the background ({idle_s:.1f} s): largest gap",
        max(idle) * 1000,
        "ms",
    )
    show(
        f"  from Start until the first part is shown (model built, references fitted: {load_s:.1f} s): largest gap",
        max(loading) * 1000,
        "ms",
    )


# -- 3. review table on 100,000 inspections -------------------------------------------------------------------------
def bench_review(folder: Path, rows: int) -> None:
    from PySide6.QtWidgets import QApplication

    from inspector.store import NewInspection, Verdict, open_store
    from inspector.ui.main_window import MainWindow
    from inspector.ui.settings import StationSettings

    app = QApplication.instance() or QApplication([])
    settings = StationSettings(data_folder=str(folder / "station-review"))
    settings.data_path.mkdir(parents=True)
    verdicts = (Verdict.PASS,) * 8 + (Verdict.FAIL, Verdict.UNCERTAIN)
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    start = time.perf_counter()
    with open_store(settings.database_path) as store:
        version = store.save_recipe_version("bench", {"n": 1})
        run = store.start_run(source="folder:/bench", recipe_version_id=version.id, operator="bench")
        for k in range(0, rows, 10_000):
            store.add_inspections(
                [
                    NewInspection(
                        content_hash=hashlib.sha256(f"bench-{i}".encode()).hexdigest(),
                        recipe_version_id=version.id,
                        score=(i * 7919 % 1000) / 1000,
                        threshold=0.5,
                        verdict=verdicts[i % len(verdicts)],
                        detector="anomalydino",
                        model_id="dinov2-small",
                        source="folder:/bench",
                        file_path=f"/bench/part_{i:07d}.png",
                        run_id=run.id,
                        inspected_at=t0 + timedelta(milliseconds=100 * i),
                        latency_ms=20.0,
                    )
                    for i in range(k, min(rows, k + 10_000))
                ]
            )
        for row in store.query(limit=500):
            store.add_override(row.id, "bench", Verdict.FAIL, defect_label="scratch")
    show(
        f"built the database: {rows:,} inspections with add_inspections (batches of 10,000)",
        time.perf_counter() - start,
        "s",
    )

    def pump_until(condition, timeout: float = 30.0) -> float:
        t = time.perf_counter()
        while not condition() and time.perf_counter() - t < timeout:
            app.processEvents()
            time.sleep(0.0005)
        return time.perf_counter() - t

    window = MainWindow(settings, operator="bench", random_weights=True, check_weights_on_start=False)
    window.resize(1600, 960)
    window.show()
    review = window.review
    pump_until(lambda: window.station.ready)
    window.tabs.setCurrentWidget(review)
    pump_until(lambda: review.model.rowCount() == rows and review.model.record(0, fetch=False) is not None)
    samples = []
    for _ in range(5):
        t = time.perf_counter()
        review.refresh()
        app.processEvents()
        pump_until(lambda: not review.model.loading and review.model.record(0, fetch=False) is not None)
        review.table.viewport().repaint()
        samples.append(time.perf_counter() - t)
    show(
        f"review table opens on {rows:,} inspections (count + first page painted), median of 5",
        statistics.median(samples) * 1000,
        "ms",
    )
    t = time.perf_counter()
    review.table.scrollToBottom()
    app.processEvents()
    pump_until(lambda: review.model.record(rows - 1, fetch=False) is not None)
    review.table.viewport().repaint()
    show(
        f"  jump to the last row (the page at offset {rows - 1:,} loaded and painted)",
        (time.perf_counter() - t) * 1000,
        "ms",
    )
    review.verdict_boxes[Verdict.PASS].setChecked(False)  # effective fail + uncertain (derived from the audit)
    t = time.perf_counter()
    app.processEvents()
    pump_until(lambda: not review.model.loading and review.model.record(0, fetch=False) is not None)
    review.table.viewport().repaint()
    show(
        f"  filter on effective verdict fail/uncertain ({review.model.rowCount():,} rows) shown",
        (time.perf_counter() - t) * 1000,
        "ms",
    )
    window.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=("dinov2-small", "tiny"), default="dinov2-small")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to measure the event loop")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--launches", type=int, default=5)
    parser.add_argument("--only", choices=("launch", "loop", "review"), help="run one part only")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        os.environ["INSPECTOR_DATA_DIR"] = str(folder / "data")
        print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, platform {os.environ['QT_QPA_PLATFORM']}")
        if args.only in (None, "launch"):
            bench_launch(folder, args.launches)
        if args.only in (None, "review"):
            bench_review(folder, args.rows)
        if args.only in (None, "loop"):
            bench_event_loop(folder, args.model, args.seconds)


if __name__ == "__main__":
    main()
