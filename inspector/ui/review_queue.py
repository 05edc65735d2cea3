"""The review queue: filters, a lazy table over every inspection, the large detail view, and fast
relabelling from the keyboard. Every decision is an operation on the database-writer thread and an
append-only audit row under the operator's name; nothing here writes to the database directly.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from functools import partial

from PySide6.QtCore import QDate, QEvent, QItemSelectionModel, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QFont, QFontMetrics, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QStyledItemDelegate,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from inspector.store import InspectionFilter, InspectionRecord, Verdict
from inspector.store.labels import waiting_for_review
from inspector.ui.bridge import OpChange
from inspector.ui.caption_editor import attach_caption_editor
from inspector.ui.detail_view import REVIEW_SHORTCUTS, DetailData, DetailView, load_detail
from inspector.ui.review_decisions import ReviewDecisions, ask_label, ask_note
from inspector.ui.review_model import COLUMN, COLUMNS, InspectionTableModel
from inspector.ui.review_waiting import TO_REVIEW, WaitingLabel
from inspector.ui.station import Station
from inspector.ui.station_filter import StationFilter
from inspector.ui.theme import VERDICT_COLOURS
from inspector.ui.timeline_view import TimelineDialog
from inspector.ui.widgets import BannerArea, MessageBar
from inspector.ui.workers import describe_error

TABLE_SHARE = 0.45  # the table's share of the width until the operator moves the divider


class MiddleElide(QStyledItemDelegate):
    """Cuts a long text in the middle ("0123_blow…cam2_0017.png"): a file name's end tells parts apart."""

    def initStyleOption(self, option, index) -> None:  # noqa: N802
        super().initStyleOption(option, index)
        option.textElideMode = Qt.TextElideMode.ElideMiddle


class ReviewQueue(ReviewDecisions, QWidget):
    """Filters on top; table and detail side by side; keyboard first."""

    override_done = Signal(str)  # inspection id

    def __init__(self, station: Station, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.station = station
        self.ask_label: Callable[[QWidget, tuple[str, ...], str | None], str | None] = ask_label
        self.ask_note: Callable[[QWidget], str | None] = ask_note
        self._undo_stack: list[str] = []
        self._detail_for: str | None = None
        self.messages = MessageBar()
        self.model = InspectionTableModel(station.tasks, self)
        self.model.error.connect(lambda text: self.messages.show_message(text, "error"))

        # -- filters -------------------------------------------------------------------------------
        self.verdict_boxes: dict[Verdict, QCheckBox] = {}
        filters = QHBoxLayout()
        for verdict in (Verdict.FAIL, Verdict.UNCERTAIN, Verdict.PASS):
            box = QCheckBox(verdict.value.capitalize())
            box.setChecked(True)
            box.setStyleSheet(f"QCheckBox {{ color: {VERDICT_COLOURS[verdict.value]}; font-weight: 700; }}")
            box.toggled.connect(self._filters_changed)
            self.verdict_boxes[verdict] = box
            filters.addWidget(box)
        self.wrong_part_box = QCheckBox("Wrong part only")
        self.wrong_part_box.setToolTip("Parts the part-identity check called another part than the recipe's")
        self.wrong_part_box.setStyleSheet(f"QCheckBox {{ color: {VERDICT_COLOURS['wrong_part']}; font-weight: 700; }}")
        self.wrong_part_box.toggled.connect(self._filters_changed)
        filters.addWidget(self.wrong_part_box)
        self.recipe = QComboBox()
        self.recipe.addItem("All recipes", None)
        self.recipe.currentIndexChanged.connect(self._filters_changed)
        self.reviewed = QComboBox()
        for text, value in (
            ("Reviewed or not", None),
            ("Not reviewed", False),
            ("Reviewed (overridden/confirmed)", True),
            ("To review (queued by the station)", TO_REVIEW),
        ):
            self.reviewed.addItem(text, value)
        self.reviewed.currentIndexChanged.connect(self._filters_changed)
        self.use_dates = QCheckBox("From")
        self.date_from = QDateEdit(QDate.currentDate().addDays(-7))
        self.date_to = QDateEdit(QDate.currentDate())
        for edit in (self.date_from, self.date_to):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
            edit.dateChanged.connect(self._filters_changed)
        self.use_dates.toggled.connect(self._filters_changed)
        self.use_dates.toggled.connect(self.date_from.setEnabled)
        self.use_dates.toggled.connect(self.date_to.setEnabled)
        self.date_from.setEnabled(False)
        self.date_to.setEnabled(False)
        self.text = QLineEdit()
        self.text.setPlaceholderText("File name, part id or caption…")
        self.text.setToolTip("Finds parts whose file name or caption contains the text, or whose id starts with it")
        self.text.setMinimumWidth(220)
        self.text.setClearButtonEnabled(True)
        self._new_parts = QTimer(self)  # coalesces "parts stored" notifications into one reload
        self._new_parts.setSingleShot(True)
        self._new_parts.setInterval(300)
        self._new_parts.timeout.connect(self.refresh)
        self._text_timer = QTimer(self)
        self._text_timer.setSingleShot(True)
        self._text_timer.setInterval(300)
        self._text_timer.timeout.connect(self._filters_changed)
        self.text.textChanged.connect(lambda _t: self._text_timer.start())
        self.count_label = QLabel("")
        self.count_label.setObjectName("scoreLine")
        self.waiting = WaitingLabel()
        self.waiting.clicked.connect(self.show_to_review)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip("Reload the list (Ctrl+R)")
        self.refresh_button.clicked.connect(self._refresh_clicked)
        self.advance = QCheckBox("Next part after a decision")
        self.advance.setChecked(station.settings.advance_after_relabel)
        for widget in (
            QLabel("  Recipe"),
            self.recipe,
            self.reviewed,
            self.use_dates,
            self.date_from,
            QLabel("to"),
            self.date_to,
        ):
            filters.addWidget(widget)
        filters.addStretch(1)
        search = QHBoxLayout()  # a row of its own: room for a whole file name or part id at any width
        search.addWidget(QLabel("Find"))
        search.addWidget(self.text, 1)
        search.addWidget(self.count_label)
        search.addWidget(self.waiting)
        search.addWidget(self.refresh_button)

        # -- table and detail ------------------------------------------------------------------------
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setDefaultSectionSize(26)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setStretchLastSection(True)
        self.table.setItemDelegateForColumn(COLUMN["File"], MiddleElide(self.table))  # full path: its tooltip
        self._fit_columns()
        self.table.selectionModel().currentRowChanged.connect(self._row_changed)
        self.station_filter = StationFilter(self.table)  # a central database: parts of many stations
        self.station_filter.currentIndexChanged.connect(self._filters_changed)
        filters.insertWidget(filters.count() - 1, self.station_filter.label)
        filters.insertWidget(filters.count() - 1, self.station_filter)
        self.detail = DetailView()
        attach_caption_editor(self)  # "Save correction" in the detail: an audited caption correction
        buttons = QHBoxLayout()  # the three verdicts on one row, the other decisions on the next
        more = QHBoxLayout()
        self.buttons: dict[str, QPushButton] = {}
        for key, text, slot in (
            ("pass", "Pass  (P)", partial(self.relabel, Verdict.PASS)),
            ("fail", "Fail  (F)", partial(self.relabel, Verdict.FAIL)),
            ("uncertain", "Uncertain  (U)", partial(self.relabel, Verdict.UNCERTAIN)),
            ("label", "Defect label…  (D)", self.edit_label),
            ("note", "Note…  (N)", self.edit_note),
            ("undo", "Undo  (Ctrl+Z)", self.undo),
            ("timeline", "Timeline…  (T)", self.show_timeline),
        ):
            button = QPushButton(text)
            if key in VERDICT_COLOURS:
                button.setStyleSheet(f"QPushButton {{ border: 2px solid {VERDICT_COLOURS[key]}; font-weight: 700; }}")
            button.clicked.connect(slot)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            self.buttons[key] = button
            (buttons if key in VERDICT_COLOURS else more).addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.advance)
        more.addStretch(1)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(self.detail, 1)
        rl.addLayout(buttons)
        rl.addLayout(more)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.table)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 1)
        splitter.setChildrenCollapsible(False)
        self.splitter = splitter
        self.divider_moved = False  # by the operator: the split is theirs from then on
        splitter.splitterMoved.connect(self._divider_moved)
        help_line = QLabel(REVIEW_SHORTCUTS)
        help_line.setObjectName("shortcutHelp")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 6)
        layout.addWidget(BannerArea(self.messages, max_height=140))
        layout.addLayout(filters)
        layout.addLayout(search)
        layout.addWidget(splitter, 1)
        layout.addWidget(help_line)

        # -- keyboard --------------------------------------------------------------------------------
        for keys, slot in (
            (("P",), partial(self.relabel, Verdict.PASS)),
            (("F",), partial(self.relabel, Verdict.FAIL)),
            (("U",), partial(self.relabel, Verdict.UNCERTAIN)),
            (("J",), self.next_part),
            (("K",), self.previous_part),
            (("D",), self.edit_label),
            (("N",), self.edit_note),
            (("Ctrl+Z",), self.undo),
            (("Ctrl+R",), lambda: self.refresh()),
            (("H",), self.detail.show_heat.toggle),
            (("Z",), self.detail.overlay.reset_zoom),
            (("T",), self.show_timeline),
        ):
            action = QAction(self)
            action.setShortcuts([QKeySequence(k) for k in keys])
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            action.triggered.connect(slot)
            self.addAction(action)
        self.model.count_changed.connect(self._count_changed)
        self.timeline_dialog: TimelineDialog | None = None
        self.buttons["timeline"].setEnabled(False)
        self.buttons["timeline"].setToolTip("The score of this part's video against time, with its peaks")

    def _fit_columns(self) -> None:
        """Each column as wide as its title and its usual widest value (nothing cut to "hresho")."""
        body = self.table.fontMetrics()
        head = self.table.horizontalHeader().fontMetrics()
        bold = QFont(self.table.font())
        bold.setBold(True)
        for column, (title, _text, sample) in enumerate(COLUMNS):
            text = QFontMetrics(bold) if column == COLUMN["Verdict"] else body  # the verdict is bold
            width = max(head.horizontalAdvance(title) + 34, text.horizontalAdvance(sample) + 22)
            self.table.setColumnWidth(column, width)

    def changeEvent(self, event) -> None:  # noqa: N802
        super().changeEvent(event)
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.StyleChange):
            self._fit_columns()

    # -- data ------------------------------------------------------------------------------------------
    def attach_store(self) -> None:
        """Called once the store is open: list the recipes and load the table."""
        store = self.station.store
        if store is None:
            return
        self.model.set_store(store)
        self.station.tasks.submit(store.recipe_names, self._recipes_loaded)
        self.station_filter.load(self.station.tasks, store)
        self.refresh()

    def _recipes_loaded(self, names: list[str]) -> None:
        current = self.recipe.currentData()
        self.recipe.blockSignals(True)
        self.recipe.clear()
        self.recipe.addItem("All recipes", None)
        for name in names:
            self.recipe.addItem(name, name)
        index = self.recipe.findData(current) if current else 0
        self.recipe.setCurrentIndex(max(index, 0))
        self.recipe.blockSignals(False)

    def current_filter(self) -> InspectionFilter:
        verdicts = frozenset(v for v, box in self.verdict_boxes.items() if box.isChecked())
        values: dict = {
            "effective_verdict": verdicts if len(verdicts) < 3 else None,
            "recipe_name": self.recipe.currentData(),
            "reviewed": self.reviewed.currentData(),
            "station": self.station_filter.currentData(),
        }
        if values["reviewed"] == TO_REVIEW:
            values.update(reviewed=None, to_review=True)
        if self.use_dates.isChecked():
            start = self.date_from.date().toPython()
            end = self.date_to.date().toPython()
            local = datetime.now().astimezone().tzinfo
            values["since"] = datetime.combine(start, time.min, tzinfo=local).astimezone(UTC)
            values["until"] = datetime.combine(end + timedelta(days=1), time.min, tzinfo=local).astimezone(UTC)
        text = self.text.text().strip()
        if text:
            values["search"] = text
        if not verdicts:
            values["effective_verdict"] = frozenset()
        if self.wrong_part_box.isChecked():
            values["wrong_part"] = True
        return InspectionFilter(**values)

    def _filters_changed(self, *_args) -> None:
        self.refresh()

    def _refresh_clicked(self) -> None:
        self.refresh()  # (``clicked`` would pass its checked flag as ``then``)

    def refresh(self, then: Callable[[], None] | None = None) -> None:
        """Reload the list with the current filters, keeping the part on screen selected when listed."""
        keep = self.shown_record() or self.current_record()
        self._reload(keep.id if keep else None, then)

    def _reload(self, keep_id: str | None, then: Callable[[], None] | None = None, *, fallback: bool = True) -> None:
        if self.station.store is None:
            return
        self.model.set_filter(self.current_filter(), then=lambda: self._after_reload(keep_id, then, fallback))
        store, recipe = self.station.store, self.recipe.currentData()
        self.station.tasks.submit(lambda: waiting_for_review(store, recipe), self.waiting.set_counts)

    def show_to_review(self) -> None:
        """The parts the station queued for review and nobody reviewed yet."""
        self.reviewed.setCurrentIndex(self.reviewed.findData(TO_REVIEW))

    def _after_reload(self, keep_id: str | None, then: Callable[[], None] | None, fallback: bool) -> None:
        """Select the part kept (else, with ``fallback``, the first one); without fallback the part on
        screen stays, unselected, when the list does not hold it."""
        row = self.model.row_of(keep_id) if keep_id else None
        if row is None and fallback and self.model.rowCount() > 0:
            row = 0
        if row is not None:
            if fallback or keep_id == self._detail_for:
                self.select_row(row)
        elif fallback:
            self.detail.clear("No parts match these filters")
        if then is not None:
            then()

    def _count_changed(self, n: int) -> None:
        self.count_label.setText(f"{n:,} part{'s' if n != 1 else ''}")

    # -- selection -------------------------------------------------------------------------------------
    def current_row(self) -> int:
        index = self.table.currentIndex()
        return index.row() if index.isValid() else -1

    def current_record(self) -> InspectionRecord | None:
        row = self.current_row()
        return self.model.record(row) if row >= 0 else None

    def shown_record(self) -> InspectionRecord | None:
        """The part in the detail pane: every decision applies to this one, whatever the table shows."""
        data = self.detail.data
        if data is not None and data.record.id == self._detail_for:
            return data.record
        return None

    def show_part(self, inspection_id: str) -> None:
        """Show one part (from the live screen) and select its row; filters that hide it are reset."""
        row = self.model.row_of(inspection_id)
        if row is not None:
            self.select_row(row)
            if self._detail_for != inspection_id:
                self.load_detail(inspection_id)
            return
        self._clear_selection()
        self.load_detail(inspection_id)
        self.reset_filters(keep_id=inspection_id)

    def _clear_selection(self) -> None:
        model = self.table.selectionModel()
        model.blockSignals(True)
        model.clear()
        model.blockSignals(False)
        self.table.viewport().update()

    def reset_filters(self, keep_id: str | None = None) -> None:
        """Every verdict, every recipe and station, reviewed or not, no dates, no text; then reload."""
        widgets = [
            *self.verdict_boxes.values(),
            self.recipe,
            self.station_filter,
            self.reviewed,
            self.use_dates,
            self.text,
        ]
        for widget in widgets:
            widget.blockSignals(True)
        for box in self.verdict_boxes.values():
            box.setChecked(True)
        self.recipe.setCurrentIndex(0)
        self.station_filter.setCurrentIndex(0)
        self.reviewed.setCurrentIndex(0)
        self.use_dates.setChecked(False)
        self.date_from.setEnabled(False)
        self.date_to.setEnabled(False)
        self.text.clear()
        for widget in widgets:
            widget.blockSignals(False)
        self._text_timer.stop()
        self._reload(keep_id, fallback=False)

    def select_row(self, row: int) -> None:
        if not 0 <= row < self.model.rowCount():
            return
        index = self.model.index(row, 0)
        self.table.selectionModel().setCurrentIndex(
            index, QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
        )
        self.table.scrollTo(index)

    def next_part(self) -> None:
        self.select_row(self.current_row() + 1)

    def previous_part(self) -> None:
        self.select_row(max(0, self.current_row() - 1))

    def _row_changed(self, current, _previous) -> None:
        if not current.isValid():
            return
        record = self.model.record(current.row())
        if record is None:  # its page is loading: show it when it comes
            self.model.page_loaded.connect(self._page_arrived, Qt.ConnectionType.SingleShotConnection)
            return
        self.load_detail(record.id)

    def _page_arrived(self, _page: int) -> None:
        record = self.current_record()
        if record is not None and record.id != self._detail_for:
            self.load_detail(record.id)

    def show_timeline(self) -> None:
        """The timeline of the shown part's video run (a frame or a peak clicked there opens it here)."""
        record = self.shown_record()
        if record is None or not record.run_id or record.media_time_s is None:
            self.messages.show_message("This part is not a frame of a video: it has no timeline.", "info")
            return
        if self.timeline_dialog is not None:
            self.timeline_dialog.close()
        self.timeline_dialog = TimelineDialog(self.station, record.run_id, record.threshold, self)
        self.timeline_dialog.part_chosen.connect(self.show_part)
        self.timeline_dialog.show()

    def load_detail(self, inspection_id: str) -> None:
        store = self.station.store
        if store is None:
            return
        self._detail_for = inspection_id
        self.station.tasks.submit(
            lambda: load_detail(store, inspection_id),
            self._detail_loaded,
            lambda exc: self.messages.show_message(describe_error(exc), "error"),
        )

    def _detail_loaded(self, data: DetailData) -> None:
        if data.record.id != self._detail_for:
            return  # the reviewer moved on meanwhile
        self.detail.show_data(data)
        self.model.replace_record(data.record)
        self.buttons["timeline"].setEnabled(bool(data.record.run_id) and data.record.media_time_s is not None)

    def on_parts_stored(self, _count: int) -> None:
        """New parts were stored (a run is going): show them, at most a few times a second."""
        if self.isVisible():
            if not self._new_parts.isActive():
                self._new_parts.start()
        else:
            self._stale = True

    def on_change(self, change: OpChange) -> None:
        """React to a database change (Anki-style): reload the parts concerned, or the list."""
        if change.kind in ("override", "caption"):
            store = self.station.store
            for inspection_id in change.inspection_ids:
                if inspection_id == self._detail_for:
                    self.load_detail(inspection_id)
                elif store is not None:
                    self.station.tasks.submit(
                        partial(store.get, inspection_id), self.model.replace_record, lambda _exc: None
                    )
        elif change.kind in ("inspections", "recipe"):
            if self.station.store is not None:
                self.station.tasks.submit(self.station.store.recipe_names, self._recipes_loaded)
            if self.isVisible():
                self.refresh()
            else:
                self._stale = True

    def _divider_moved(self, *_args) -> None:
        self.divider_moved = True

    def _first_split(self) -> None:
        """The table gets TABLE_SHARE of the width (the detail its minimum at least) until the operator
        moves the divider; from then on the splitter keeps the operator's sizes."""
        total = self.splitter.width() - self.splitter.handleWidth()
        if self.divider_moved or not self.isVisible() or total <= 0:
            return
        detail = self.splitter.widget(1).minimumSizeHint().width()
        table = max(0, min(round(total * TABLE_SHARE), total - detail))
        self.splitter.setSizes([table, total - table])

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._first_split()

    def showEvent(self, event) -> None:  # noqa: N802
        super().showEvent(event)
        self._first_split()
        self.table.setFocus()  # the relabel keys work at once
        if getattr(self, "_stale", False):
            self._stale = False
            self.refresh()
