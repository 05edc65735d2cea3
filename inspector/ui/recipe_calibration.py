"""The recipe editor's threshold calibration: the calibration dialog on good parts (worker thread),
its result copied into the form, and the line saying how the threshold was calibrated.

:class:`RecipeCalibration` is that half of :class:`~inspector.ui.recipe_editor.RecipeEditor` (which
supplies the station, the form's fields and the message bar); saving the recipe stays in the editor.
"""

from __future__ import annotations

from PySide6.QtCore import Qt

from inspector.core.precision import model_dtype
from inspector.core.recipe import Recipe
from inspector.errors import InspectorError
from inspector.ui.calibration_dialog import CalibrationDialog
from inspector.ui.widgets import fmt_score
from inspector.ui.workers import describe_error


class RecipeCalibration:
    """Calibrate the recipe in the form; mixed into the recipe editor (see the module docstring)."""

    def _show_calibration(self) -> None:
        c = self.calibration
        if not c:
            self.calibration_label.setText("Not calibrated yet: the threshold is the one typed above.")
            return
        rw = "  RANDOM WEIGHTS." if c.get("random_weights") else ""
        self.calibration_label.setText(
            f"Calibrated on {c.get('n_good', '?')} good parts ({c.get('method', '')}): good max "
            f"{fmt_score(c.get('good_max'))}, quantile {c.get('quantile')}, margin {c.get('margin')} σ.{rw}"
        )

    def calibrate(self) -> CalibrationDialog | None:
        try:
            recipe = self.recipe()
        except InspectorError as exc:
            self.messages.show_message(describe_error(exc), "error")
            return None
        station = self.station

        def run(r: Recipe, progress):
            from inspector.recipes import calibrate_recipe

            detector = None
            if station.detector_factory is not None:
                detector = station.detector_factory(
                    r,
                    device=station.settings.device,
                    dtype=model_dtype(station.settings.dtype),
                    random_weights=station.random_weights,
                )
            return calibrate_recipe(
                r,
                device=station.settings.device,
                dtype=model_dtype(station.settings.dtype),
                random_weights=station.random_weights,
                detector=detector,
                progress=progress,
            )

        dialog = CalibrationDialog(recipe, run, self)
        dialog.accepted.connect(lambda: self._calibrated(dialog))
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.show()
        dialog.start()
        self.calibration_dialog = dialog
        return dialog

    def _calibrated(self, dialog: CalibrationDialog) -> None:
        recipe = dialog.result_recipe
        if recipe is None:
            return
        self._set_exact(self.threshold, recipe.threshold)
        band = recipe.uncertain_band
        self.use_band.setChecked(band is not None)
        if band:
            self._set_exact(self.band_low, band[0])
            self._set_exact(self.band_high, band[1])
        self.calibration = dict(recipe.calibration)
        self._show_calibration()
        self.messages.show_message("Threshold calibrated. Save the recipe to use it.", "info")
