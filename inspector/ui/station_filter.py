"""Review across stations: the station filter and the Station column, shown when the database holds
parts of more than one station (a central plant database, ``inspector gui --db postgresql://...``).

On a station's own database (one station) both stay hidden: nothing to choose.
"""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QLabel, QTableView

from inspector.store import InspectionStore
from inspector.ui.review_model import COLUMN
from inspector.ui.workers import Tasks

STATION_COLUMN = COLUMN["Station"]


class StationFilter(QComboBox):
    """ "All stations" or one station; fills itself from the store on a worker thread."""

    def __init__(self, table: QTableView) -> None:
        super().__init__()
        self.table = table
        self.label = QLabel("  Station")
        self.addItem("All stations", None)
        self.setToolTip("Only this station's parts (the database holds several stations' parts)")
        self._show(False)

    def load(self, tasks: Tasks, store: InspectionStore) -> None:
        tasks.submit(store.station_names, self._loaded)

    def _loaded(self, names: list[str]) -> None:
        current = self.currentData()
        self.blockSignals(True)
        self.clear()
        self.addItem("All stations", None)
        for name in names:
            self.addItem(name, name)
        self.setCurrentIndex(max(self.findData(current) if current else 0, 0))
        self.blockSignals(False)
        self._show(len(names) > 1)

    def _show(self, many: bool) -> None:
        self.setVisible(many)
        self.label.setVisible(many)
        self.table.setColumnHidden(STATION_COLUMN, not many)
