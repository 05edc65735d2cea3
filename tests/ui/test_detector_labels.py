"""The recipe editor lists the detector table's detectors in its words (no list of its own)."""

from __future__ import annotations

from inspector.core.detector_table import KINDS
from inspector.ui.recipe_editor import DETECTOR_LABELS


def test_the_editor_lists_every_detector_with_the_tables_label():
    assert set(DETECTOR_LABELS) == set(KINDS)
    assert all(DETECTOR_LABELS[name] == kind.label for name, kind in KINDS.items())
    assert next(iter(DETECTOR_LABELS)) == "anomalydino"  # the recommended default stays on top
