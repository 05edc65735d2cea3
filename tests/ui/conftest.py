"""Fixtures for the window tests: a tiny real DINOv2 (random weights) in a throw-away registry, a
recipe using it, a store with inspected parts, and the station window itself (offscreen)."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtWidgets import QApplication

from inspector.core.recipe import Recipe, save_recipe
from inspector.store import open_store
from inspector.ui.settings import StationSettings
from tests.captioning.conftest import blip_spec, tiny_blip, tiny_clip, tokenizer  # noqa: F401
from tests.helpers import bracket_recipe, fitted_tiny_dino
from tests.pipeline.conftest import TINY_DINO, texture, tiny_registry, write_parts, write_reference  # noqa: F401

WAIT_MS = 60_000


@pytest.fixture(scope="session", autouse=True)
def _gc_on_the_gui_thread(qapp):
    """As in the station (inspector.ui.gc_guard): no widget is ever freed by a worker thread's collection."""
    from inspector.ui import gc_guard

    collector = gc_guard.install(qapp)
    yield collector
    collector.uninstall()


@pytest.fixture
def settings(tmp_path) -> StationSettings:
    return StationSettings(data_folder=str(tmp_path / "station"))


@pytest.fixture
def tiny_recipe(tmp_path, settings, tiny_registry) -> tuple[Recipe, object]:  # noqa: F811
    """A few-shot recipe on the tiny DINOv2, saved in the station's recipe folder."""
    recipe = bracket_recipe(tmp_path / "ref_0.png", uncertain_band=(0.04, 0.06), defect_classes=("square", "scratch"))
    settings.recipes_dir.mkdir(parents=True, exist_ok=True)
    path = settings.recipes_dir / "bracket.json"
    save_recipe(recipe, path)
    return recipe, path


@pytest.fixture
def caption_factory(tiny_blip, tiny_clip):  # noqa: F811
    """Builds the session's caption scheduler on the tiny real BLIP and CLIP (random weights)."""
    from inspector.captioning import CaptionScheduler, DefectTypeClassifier

    def make(on_result, **options):
        return CaptionScheduler(
            tiny_blip, on_result, classifier=DefectTypeClassifier(tiny_clip), on_error=options.get("on_error")
        )

    return make


@pytest.fixture
def inspected(tmp_path, settings, tiny_recipe):
    """A station database holding a headless folder run of 9 parts (every image kept)."""
    from inspector.pipeline import InspectionPipeline
    from inspector.sources import make_source

    recipe, _path = tiny_recipe
    write_parts(tmp_path / "parts", 9)
    detector = fitted_tiny_dino(recipe)
    settings.data_path.mkdir(parents=True, exist_ok=True)
    with open_store(settings.database_path) as store:
        summary = InspectionPipeline(
            recipe, detector, store, make_source(tmp_path / "parts"), keep_images="all", operator="setup"
        ).run()
    assert summary.inspected == 9
    return summary


def _why_not_ready(window) -> str:
    """What a window whose session never opened shows and what its threads are doing (for a CI log)."""
    import sys
    import traceback

    opening = window._opening
    state = "not submitted" if opening is None else ("done" if opening.done() else "running or queued")
    if opening is not None and opening.done() and opening.exception() is not None:
        state = f"failed: {opening.exception()!r}"
    stacks = []
    for thread in threading.enumerate():
        frame = sys._current_frames().get(thread.ident)
        if frame is not None and thread is not threading.current_thread():
            stacks.append(f"--- {thread.name}\n" + "".join(traceback.format_stack(frame, limit=12)))
    skipped = window.tasks._gui.skipped
    return f"open_session {state}; messages {window.live.messages.texts()}; skipped {skipped}\n" + "\n".join(stacks)


@pytest.fixture
def make_window(qtbot, settings):
    """Build station windows (closed, and their workers stopped, at the end of the test)."""
    from inspector.ui.main_window import MainWindow

    windows = []

    def make(**kwargs):
        kwargs.setdefault("operator", "ana")
        kwargs.setdefault("random_weights", True)
        window = MainWindow(kwargs.pop("settings", settings), **kwargs)
        qtbot.addWidget(window)
        window.show()
        if QApplication.platformName() == "xcb":  # a real X server: keys reach the active window only
            qtbot.waitExposed(window, timeout=WAIT_MS)
            window.activateWindow()
            qtbot.waitUntil(window.isActiveWindow, timeout=WAIT_MS)
        windows.append(window)
        opened = True
        try:
            qtbot.waitUntil(lambda: window.station.ready, timeout=WAIT_MS)
        except qtbot.TimeoutError:
            opened = False
        if not opened:
            pytest.fail(f"the station session did not open: {_why_not_ready(window)}", pytrace=False)
        return window

    yield make
    for window in windows:
        if window.controller.running:
            with qtbot.waitSignal(window.controller.run_finished, timeout=WAIT_MS):
                window.controller.stop()
        window.close()
        assert window._closed
    leftovers = [t.name for t in threading.enumerate() if t.name.startswith(("inspector-inference", "source-"))]
    assert not leftovers, f"worker threads still running: {leftovers}"
