"""Screenshot of the Recipes screen's "Threshold from reviewed parts" panel on real images (a script).

    .venv/bin/python tests/scripts/recalibration_screenshot.py OUT [--good 60 --defective 60] [--readme]

Scores Magnetic Tile test images (``../shared/datasets``) with the real AnomalyDINO recipe on the
real DINOv2-small architecture with RANDOM WEIGHTS (no weights on this machine), then records the
dataset's ground truth as an operator's review of each part (good = PASS, any defect = FAIL), opens
the station window's Recipes screen and grabs it. The scores come from random weights: the ROC shows
what random DINOv2 features separate, not what the real model does. ``--readme`` also writes
``resources/screenshots/recalibration_magnetic_tile.png``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

TILE = ROOT.parent / "shared" / "datasets" / "magnetic_tile" / "magnetic_tile"
DEFECTS = ("blowhole", "break", "crack", "fray", "uneven")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out")
    parser.add_argument("--good", type=int, default=60)
    parser.add_argument("--defective", type=int, default=60)
    parser.add_argument("--target-escape", type=float, default=5.0, help="percent")
    parser.add_argument("--readme", action="store_true")
    parser.add_argument("--reuse", action="store_true", help="keep OUT's scored database, only take the screenshot")
    args = parser.parse_args()

    from inspector.ui.settings import StationSettings

    out = Path(args.out)
    settings = StationSettings(data_folder=str(out / "station"))
    path = settings.recipes_dir / "magnetic-tile.json"
    if not (args.reuse and settings.database_path.is_file()):
        shutil.rmtree(out, ignore_errors=True)
        settings.recipes_dir.mkdir(parents=True)
        _score_and_review(settings, path, out / "parts", args.good, args.defective)
    _screenshot(settings, path, out, args.target_escape, args.readme)
    return 0


def _score_and_review(settings, path: Path, parts: Path, n_good: int, n_defective: int) -> None:
    """The recipe, calibrated; the test images scored by a headless run; each one reviewed."""
    from inspector.core.recipe import Recipe, load_recipe, save_recipe
    from inspector.detectors.factory import detector_for_recipe
    from inspector.pipeline import InspectionPipeline, fit_for_recipe
    from inspector.recipes import calibrate_recipe
    from inspector.sources import make_source
    from inspector.store import InspectionFilter, Verdict, open_store

    good = sorted((TILE / "train" / "good").glob("*.jpg"))
    save_recipe(
        Recipe(
            name="magnetic tile",
            object_name="magnetic tile",
            detector="anomalydino",
            model="dinov2-small",
            references=tuple(map(str, good[:4])),
            calibration_images=tuple(map(str, good[4:16])),
            defect_classes=DEFECTS,
        ),
        path,
    )
    recipe = load_recipe(path)
    detector = detector_for_recipe(recipe, device="cpu", random_weights=True)
    recipe, _cal = calibrate_recipe(recipe, detector=detector, random_weights=True)
    save_recipe(recipe, path)
    recipe = load_recipe(path)
    parts.mkdir()
    truth: dict[str, bool] = {}
    tests = sorted((TILE / "test" / "good").glob("*.jpg"))[:n_good]
    per = max(1, n_defective // len(DEFECTS))
    tests += [p for d in DEFECTS for p in sorted((TILE / "test" / d).glob("*.jpg"))[:per]]
    for i, src in enumerate(tests):
        link = parts / f"{i:04d}_{src.parent.name}_{src.name}"
        link.symlink_to(src)
        truth[str(link)] = src.parent.name != "good"
    fit_for_recipe(detector, recipe)
    settings.data_path.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with open_store(settings.database_path) as store:
        summary = InspectionPipeline(recipe, detector, store, make_source(parts), operator="setup").run()
        print(f"scored {summary.inspected} parts in {time.monotonic() - started:.0f} s")
        for r in store.query(InspectionFilter(), limit=10_000):
            store.add_override(r.id, "Ana Ruiz", Verdict.FAIL if truth[r.file_path] else Verdict.PASS)


def _screenshot(settings, path: Path, out: Path, target_escape: float, readme: bool) -> None:
    from PySide6.QtWidgets import QApplication

    from inspector.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    window = MainWindow(settings, operator="Ana Ruiz", random_weights=True, ask_login=False)
    window.resize(1280, 800)
    window.show()
    _wait(app, lambda: window.station.ready)
    window.tabs.setCurrentWidget(window.recipes)
    window.recipes.show_recipe(str(path))
    panel = window.recipes.recalibration
    panel.target.setValue(target_escape)
    done: list = []
    panel.computed.connect(done.append)
    panel.compute()
    _wait(app, lambda: bool(done))
    scroll = window.recipes.form_scroll
    _wait(app, lambda: True, settle=0.3)
    scroll.verticalScrollBar().setValue(panel.mapTo(scroll.widget(), panel.rect().topLeft()).y() - 4)
    _wait(app, lambda: True, settle=0.5)
    shot = out / "recalibration_magnetic_tile.png"
    window.grab().save(str(shot))
    print(panel.text.text())
    print(f"screenshot: {shot}")
    if readme:
        target = ROOT / "resources" / "screenshots" / shot.name
        shutil.copy2(shot, target)
        print(f"wrote {target}")
    window.close()


def _wait(app, condition, timeout: float = 120.0, settle: float = 0.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the window did not get there in time")
        app.processEvents()
        time.sleep(0.02)
    end = time.monotonic() + settle
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)


if __name__ == "__main__":
    sys.exit(main())
