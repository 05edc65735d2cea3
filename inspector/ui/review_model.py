"""A lazy table model over the inspection store: 100,000 rows scroll without loading 100,000 rows.

The row count comes from ``store.count(filter)``; rows are fetched a page at a time with
``store.query(filter, offset, limit)`` on a reader thread when the view first paints them (a page
not yet loaded shows "…" for a moment). Pages are kept in a bounded cache; changing the filter
starts a new generation, and answers to an older generation are dropped.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont

from inspector.store import InspectionFilter, InspectionRecord, InspectionStore, Order
from inspector.ui.plain_text import plain_tooltip
from inspector.ui.theme import VERDICT_COLOURS, VERDICT_TEXT
from inspector.ui.widgets import fmt_score
from inspector.ui.workers import Tasks

PAGE = 200
MAX_PAGES = 60


def _time(value: datetime) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def file_name(record: InspectionRecord) -> str:
    """The part's file name (or its source, for camera frames)."""
    return (record.file_path or record.source).replace("\\", "/").rsplit("/", 1)[-1]


# (title, text, sample of the widest usual value: the column is made wide enough for both)
COLUMNS: list[tuple[str, Callable[[InspectionRecord], str], str]] = [
    ("Time", lambda r: _time(r.inspected_at), "2026-12-31 23:59:59"),
    ("Station", lambda r: r.station or "", "press-3-cam-1"),  # shown on a database of several stations
    ("File", file_name, "0123_pitting_cam2_0017.png"),  # longer names are cut in the middle
    ("Verdict", lambda r: VERDICT_TEXT[r.shown_verdict] + (" ✎" if r.reviewed else ""), "WRONG PART ✎"),
    ("Model", lambda r: VERDICT_TEXT[r.model_verdict.value], "UNCERTAIN"),
    ("Score", lambda r: fmt_score(r.score), "0.00000"),
    ("Threshold", lambda r: fmt_score(r.threshold), "0.00000"),
    ("Defect", lambda r: r.effective_defect_label or r.defect_type or "", "scratch"),
    ("Recipe", lambda r: f"{r.recipe_name} v{r.recipe_version}", "ball screw v12"),
    ("Reviewed by", lambda r: r.last_reviewed_by or "", "Ana Ruiz"),
    ("Why queued", lambda r: r.review_reason or "", "near threshold"),
    ("Caption", lambda r: r.effective_caption or "", ""),
]
COLUMN = {title: i for i, (title, _text, _sample) in enumerate(COLUMNS)}
VERDICT_COLUMN = COLUMN["Verdict"]
MODEL_COLUMN = COLUMN["Model"]


class InspectionTableModel(QAbstractTableModel):
    """Rows are :class:`~inspector.store.InspectionRecord`, fetched lazily page by page."""

    count_changed = Signal(int)
    page_loaded = Signal(int)  # page number
    error = Signal(str)

    def __init__(self, tasks: Tasks, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._tasks = tasks
        self._store: InspectionStore | None = None
        self._filter = InspectionFilter()
        self._order = Order.NEWEST
        self._rows = 0
        self._generation = 0
        self._pages: OrderedDict[int, list[InspectionRecord]] = OrderedDict()
        self._pending: set[int] = set()
        self._bold = QFont()
        self._bold.setBold(True)
        self._brushes = {k: QBrush(QColor(c)) for k, c in VERDICT_COLOURS.items()}
        self.loading = False

    # -- filter ------------------------------------------------------------------------------------
    def set_store(self, store: InspectionStore) -> None:
        self._store = store

    def set_filter(
        self, where: InspectionFilter, order: Order = Order.NEWEST, then: Callable[[], None] | None = None
    ) -> None:
        """Count the rows for a new filter (off the GUI thread), then show them; ``then`` runs after."""
        self._filter, self._order = where, order
        self.reload(then)

    @property
    def filter(self) -> InspectionFilter:
        return self._filter

    def reload(self, then: Callable[[], None] | None = None) -> None:
        store = self._store
        if store is None:
            return
        self._generation += 1
        generation, where = self._generation, self._filter
        self.loading = True

        def load():  # count and the first page in one go: the table shows at once
            n = store.count(where)
            first = store.query(where, offset=0, limit=PAGE, order=self._order) if n else []
            return n, first

        self._tasks.submit(load, lambda result: self._counted(generation, result, then), self._failed)

    def _counted(self, generation: int, result: tuple[int, list[InspectionRecord]], then) -> None:
        if generation != self._generation:
            return
        n, first = result
        self.beginResetModel()
        self._rows = n
        self._pages.clear()
        self._pending.clear()
        if first:
            self._pages[0] = first
        self.endResetModel()
        self.loading = False
        self.count_changed.emit(n)
        if first:
            self.page_loaded.emit(0)
        if then is not None:
            then()

    def _failed(self, exc: BaseException) -> None:
        from inspector.ui.workers import describe_error

        self.loading = False
        self.error.emit(describe_error(exc))

    # -- Qt model ----------------------------------------------------------------------------------
    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else self._rows

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if role == Qt.ItemDataRole.DisplayRole:
            if orientation == Qt.Orientation.Horizontal:
                return COLUMNS[section][0]
            return str(section + 1)
        return None

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        record = self.record(index.row())
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if record is None:
                return "…"
            return COLUMNS[column][1](record)
        if record is None:
            return None
        if role == Qt.ItemDataRole.ForegroundRole and column in (VERDICT_COLUMN, MODEL_COLUMN):
            key = record.shown_verdict if column == VERDICT_COLUMN else record.model_verdict.value
            return self._brushes.get(key)
        if role == Qt.ItemDataRole.FontRole and column == VERDICT_COLUMN:
            return self._bold
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == COLUMN["Caption"] and record.effective_caption:
                return plain_tooltip(record.effective_caption)
            if column == COLUMN["File"]:
                return plain_tooltip(record.file_path or record.source)
            if record.random_weights:
                return "Scored with RANDOM WEIGHTS (demo): meaningless."
        if role == Qt.ItemDataRole.UserRole:
            return record.id
        return None

    # -- records -----------------------------------------------------------------------------------
    def record(self, row: int, *, fetch: bool = True) -> InspectionRecord | None:
        """The record at ``row`` if its page is loaded (else it is requested, and None returned)."""
        if row < 0 or row >= self._rows:
            return None
        page, offset = divmod(row, PAGE)
        records = self._pages.get(page)
        if records is None:
            if fetch:
                self._request(page)
            return None
        self._pages.move_to_end(page)
        return records[offset] if offset < len(records) else None

    def row_of(self, inspection_id: str) -> int | None:
        for page, records in self._pages.items():
            for i, record in enumerate(records):
                if record.id == inspection_id:
                    return page * PAGE + i
        return None

    def _request(self, page: int) -> None:
        store = self._store
        if store is None or page in self._pending:
            return
        self._pending.add(page)
        generation, where, order = self._generation, self._filter, self._order
        self._tasks.submit(
            lambda: store.query(where, offset=page * PAGE, limit=PAGE, order=order),
            lambda records: self._loaded(generation, page, records),
            self._failed,
        )

    def _loaded(self, generation: int, page: int, records: list[InspectionRecord]) -> None:
        self._pending.discard(page)
        if generation != self._generation:
            return
        self._pages[page] = records
        while len(self._pages) > MAX_PAGES:
            self._pages.popitem(last=False)
        first = page * PAGE
        last = min(self._rows, first + PAGE) - 1
        if last >= first:
            self.dataChanged.emit(self.index(first, 0), self.index(last, len(COLUMNS) - 1))
        self.page_loaded.emit(page)

    def refresh_records(self, ids: set[str] | tuple[str, ...]) -> None:
        """Reload the pages holding these inspections (after an override), keeping the rows in place."""
        wanted = set(ids)
        for page, records in list(self._pages.items()):
            if any(r.id in wanted for r in records):
                self._pages.pop(page)
                self._request(page)

    def replace_record(self, record: InspectionRecord) -> None:
        """Put a freshly read record in place (no page reload) and repaint its row."""
        for page, records in self._pages.items():
            for i, existing in enumerate(records):
                if existing.id == record.id:
                    records[i] = record
                    row = page * PAGE + i
                    self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))
                    return

    @property
    def pages_loaded(self) -> int:
        return len(self._pages)

    @staticmethod
    def pages_for(rows: int) -> int:
        return math.ceil(rows / PAGE)
