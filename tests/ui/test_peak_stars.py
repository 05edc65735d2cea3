"""The peak stars shared by Live's trend and Review's timeline: one look, and a real click on a star or a
frame emits that part's inspection id (a click on a spot without one emits nothing)."""

from __future__ import annotations

from PySide6.QtCore import QPointF, Qt

from inspector.core.timeline import Peak, TimelinePoint
from inspector.ui.theme import VERDICT_COLOURS
from inspector.ui.timeline_view import TimelinePlot, peak_stars


def _click_at(qtbot, plot, x: float, y: float) -> None:
    scene = plot.getPlotItem().vb.mapViewToScene(QPointF(x, y))
    qtbot.mouseClick(plot.viewport(), Qt.MouseButton.LeftButton, pos=plot.mapFromScene(scene))


def test_peak_stars_look():
    stars = peak_stars(16)
    opts = stars.opts
    assert (opts["size"], opts["symbol"]) == (16, "star")
    assert opts["pen"].color().name() == "#ffffff"
    assert opts["brush"].color().name() == VERDICT_COLOURS["fail"].lower()


def test_a_click_on_a_star_or_a_frame_of_the_timeline_plot_emits_its_part(qtbot):
    plot = TimelinePlot()
    qtbot.addWidget(plot)
    plot.resize(600, 400)
    plot.show()
    points = [TimelinePoint(float(t), 0.1, f"part-{t}") for t in range(5)]
    points[3] = TimelinePoint(3.0, 0.9, "peak")
    points[1] = TimelinePoint(1.0, 0.1, None)  # a frame not stored: nothing to open
    plot.set_timeline(points, [Peak(3.0, 0.9, 0.8, 3, "peak")], threshold=0.5)
    plot.getPlotItem().vb.setRange(xRange=(-0.5, 4.5), yRange=(0.0, 1.0), padding=0)
    qtbot.waitExposed(plot)
    assert plot.stars.opts["symbol"] == "star"
    with qtbot.waitSignal(plot.part_chosen, timeout=10_000) as chosen:
        _click_at(qtbot, plot, 3.0, 0.9)
    assert chosen.args == ["peak"]
    with qtbot.waitSignal(plot.part_chosen, timeout=10_000) as chosen:
        _click_at(qtbot, plot, 2.0, 0.1)
    assert chosen.args == ["part-2"]
    emitted: list[str] = []
    plot.part_chosen.connect(emitted.append)
    _click_at(qtbot, plot, 1.0, 0.1)
    assert emitted == []
