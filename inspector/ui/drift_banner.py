"""Live's drift warning: the X-bar / S chart of the run's scores, shown only when it signals.

Fed with every scored part (the trend's points); parts the model failed outright are left out, as in
the report's chart (:mod:`inspector.reports.learning`). Limits come from the recipe's calibration
good scores (:mod:`inspector.core.drift`); a recipe without them shows nothing. The warning stays up
while any of the last :data:`HOLD` subgroups signalled, so a single quiet subgroup does not hide it.
"""

from __future__ import annotations

from collections import deque

from PySide6.QtWidgets import QLabel

from inspector.core.drift import DEFAULT_SUBGROUP, ControlLimits, drift_chart, reference_scores

HOLD = 3  # subgroups a signal stays shown
WINDOW = 200  # newest parts kept (the chart is recomputed on each complete subgroup)


class DriftBanner(QLabel):
    def __init__(self) -> None:
        super().__init__("")
        self.setObjectName("driftBanner")
        self.setWordWrap(True)
        self.setStyleSheet(
            "QLabel#driftBanner { background: #fff3cd; color: #5c4300; border: 1px solid #f0a000;"
            " border-radius: 4px; padding: 4px 8px; font-weight: 600; }"
        )
        self.limits: ControlLimits | None = None
        self._scores: deque[float] = deque(maxlen=WINDOW)
        self._since_chart = 0
        self.alarm_text = ""
        self.setVisible(False)

    def set_reference(self, calibration: dict) -> None:
        """A new run: limits from the recipe's calibration good scores (none: no drift check)."""
        ref = reference_scores(calibration or {})
        self.limits = ControlLimits.from_reference(ref, DEFAULT_SUBGROUP) if len(ref) >= 2 else None
        self._scores.clear()
        self._since_chart = 0
        self._show("")

    def add(self, score: float, verdict: str | None) -> None:
        if self.limits is None or verdict == "fail":
            return
        self._scores.append(float(score))
        self._since_chart += 1
        if self._since_chart < self.limits.subgroup:
            return
        self._since_chart = 0
        n = self.limits.subgroup
        usable = len(self._scores) - len(self._scores) % n  # whole subgroups, ending at the newest part
        chart = drift_chart(list(self._scores)[len(self._scores) - usable :], self.limits)
        recent = chart.latest_alarms(HOLD)
        if not recent:
            self._show("")
            return
        lim = self.limits
        rules = "; ".join(dict.fromkeys(a.rule for a in recent))
        self._show(
            f"Scores drifting: {rules} (last {n} parts: mean {chart.means[-1]:.4g}, spread {chart.spreads[-1]:.4g}; "
            f"control limits {lim.xbar_low:.4g} to {lim.xbar_high:.4g} from {lim.n_reference} calibration good "
            "scores). Check the line (lighting, lens, fixture) and the report's drift chart."
        )

    def _show(self, text: str) -> None:
        self.alarm_text = text
        self.setText(text)
        self.setVisible(bool(text))
