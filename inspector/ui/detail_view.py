"""The review screen's large view of one part: image and heatmap, verdicts, caption, and its history."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from inspector.core.images import load_image
from inspector.core.overlay import PreparedPart, prepare_part
from inspector.core.recipe import band_of_body
from inspector.core.review_sampling import queued_text
from inspector.errors import InspectorError
from inspector.store import (
    CaptionCorrectionRecord,
    InspectionRecord,
    InspectionStore,
    OverrideKind,
    OverrideRecord,
    StoreError,
)
from inspector.store.part_image import CHANGED, part_image
from inspector.ui.caption_editor import CaptionEditor, add_corrections
from inspector.ui.heatmap_overlay import OverlayView, overlay_controls
from inspector.ui.plain_text import plain_labels, plain_tooltip
from inspector.ui.theme import VERDICT_TEXT
from inspector.ui.widgets import ElidedLabel, VerdictBadge, section_title

REVIEW_SHORTCUTS = (
    "P pass · F fail · U uncertain · J/↓ next · K/↑ previous · D defect label · N note · "
    "Ctrl+Z undo · H heatmap · T video timeline · Ctrl+R refresh"
)


@dataclass(frozen=True)
class DetailData:
    record: InspectionRecord
    part: PreparedPart | None
    history: list[OverrideRecord]
    defect_classes: tuple[str, ...]
    image_note: str
    corrections: tuple[CaptionCorrectionRecord, ...] = ()  # the part's caption corrections, oldest first


def load_detail(store: InspectionStore, inspection_id: str, max_side: int = 1600) -> DetailData:
    """Read a part, its image, heatmap, audit trail and recipe's defect classes (on a reader thread)."""
    record = store.get(inspection_id)
    history = store.history(inspection_id)
    classes: tuple[str, ...] = ()
    band = None
    try:
        body = store.get_recipe_version(record.recipe_version_id).body
        classes = tuple(str(c) for c in body.get("defect_classes", ()) or ())
        band = band_of_body(body)
    except StoreError:
        pass
    image, note = _part_image(store, record)
    part = None
    if image is not None:
        heat = None
        if record.heatmap_artifact:
            try:
                heat = store.artifacts.load_heatmap(record.heatmap_artifact)
            except (StoreError, OSError):
                note += " The heatmap file is missing."
        part = prepare_part(
            image,
            heat,
            threshold=record.threshold,
            band=band,
            max_side=max_side,
            score=record.score,
            verdict=record.effective_verdict.value,
            path=record.file_path,
            inspection_id=record.id,
            random_weights=record.random_weights,
        )
    corrections = tuple(store.caption_corrections(inspection_id)) if record.caption_corrected else ()
    return DetailData(record, part, history, classes, note.strip(), corrections)


def _part_image(store: InspectionStore, record: InspectionRecord) -> tuple[np.ndarray | None, str]:
    """The inspected image (copy, verified original or thumbnail: :func:`inspector.store.part_image`)."""
    choice = part_image(store.artifacts.path, record)
    if choice.path is not None:
        try:
            return load_image(choice.path), choice.note
        except (InspectorError, OSError):
            pass
    return None, choice.note or "No image of this part was kept."


def _decision_text(row: OverrideRecord) -> str:
    """What one decision did: ``FAIL → PASS``, ``confirmed FAIL``, a label change."""
    if row.previous_verdict == row.new_verdict:
        text = f"confirmed {VERDICT_TEXT[row.new_verdict.value]}"
    else:
        text = f"{VERDICT_TEXT[row.previous_verdict.value]} → {VERDICT_TEXT[row.new_verdict.value]}"
    if row.defect_label != row.previous_defect_label:
        text += f" · label “{row.defect_label}”" if row.defect_label else " · label cleared"
    return text


def history_text(row: OverrideRecord, trail: list[OverrideRecord] | None = None) -> str:
    """One line of the audit trail; an undo names the decision it took back (found in ``trail``)."""
    when = row.created_at.astimezone().strftime("%Y-%m-%d %H:%M")
    if row.kind is OverrideKind.UNDO:
        undone = next((r for r in trail or () if r.id == row.undoes_id), None)
        what = (
            f"{undone.operator}'s {_decision_text(undone)} of {undone.created_at.astimezone():%H:%M}"
            if undone is not None
            else f"the decision {VERDICT_TEXT[row.previous_verdict.value]}"
        )
        text = f"{when}  {row.operator}: undid {what}; back to {VERDICT_TEXT[row.new_verdict.value]}"
    else:
        text = f"{when}  {row.operator}: {_decision_text(row)}"
    if row.note:
        text += f" · note “{row.note}”"
    return text


class DetailView(QWidget):
    """A large view of the selected part with everything the reviewer needs to decide."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.data: DetailData | None = None
        self.overlay = OverlayView(placeholder="Select a part")
        heat_controls = overlay_controls(self.overlay, slider_width=64)  # narrow: the table needs the width
        self.show_heat, self.show_outline, self.opacity = (
            heat_controls.show_heat,
            heat_controls.show_outline,
            heat_controls.opacity,
        )
        self.image_note = QLabel("")  # on a line of its own: a long note must not widen the pane
        self.image_note.setObjectName("muted")
        self.image_note.setWordWrap(True)
        self.image_note.setVisible(False)
        tools = QHBoxLayout()
        tools.addWidget(self.show_heat)
        tools.addWidget(self.show_outline)
        tools.addWidget(QLabel("Opacity"))
        tools.addWidget(self.opacity)
        tools.addStretch(1)
        image_box = QWidget()
        il = QVBoxLayout(image_box)
        il.setContentsMargins(0, 0, 0, 0)
        il.addWidget(self.overlay, 1)
        il.addLayout(tools)
        il.addWidget(self.image_note)

        self.badge = VerdictBadge(size=30)
        self.model_line = QLabel("")
        self.model_line.setObjectName("muted")
        self.model_line.setWordWrap(True)
        self.fields: dict[str, QLabel] = {}
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        for key in ("Defect label", "Defect type", "Caption", "Recipe", "Model", "Inspected", "File", "Why queued"):
            # a file name has nowhere to wrap: cut in the middle (the full path is its tooltip)
            label = ElidedLabel("", elide=Qt.TextElideMode.ElideMiddle) if key == "File" else QLabel("")
            label.setWordWrap(key != "File")
            label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.fields[key] = label
            form.addRow(key, label)
        self.fields["Defect label"].setObjectName("scoreLine")
        self.caption_editor = CaptionEditor()  # corrections are recorded by the review queue
        form.insertRow(list(self.fields).index("Caption") + 1, self.caption_editor)  # the whole row's width
        info = QFrame()
        info.setObjectName("panel")
        info.setLayout(form)
        self.history = QListWidget()
        self.history.setAlternatingRowColors(True)
        self.history.setWordWrap(True)
        self.history.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.history.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        side = QWidget()
        side.setMinimumWidth(320)
        sl = QVBoxLayout(side)
        sl.setContentsMargins(0, 0, 0, 0)
        sl.addWidget(self.badge)
        sl.addWidget(self.model_line)
        sl.addWidget(info)
        sl.addWidget(section_title("History (audit trail)"))
        sl.addWidget(self.history, 1)
        self.history.setMinimumHeight(80)
        side_scroll = QScrollArea()  # a short screen scrolls the facts instead of cutting them
        side_scroll.setWidget(side)
        side_scroll.setWidgetResizable(True)
        side_scroll.setFrameShape(QFrame.Shape.NoFrame)
        side_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        side_scroll.setMinimumWidth(side.minimumWidth() + 16)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(image_box)
        splitter.addWidget(side_scroll)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)
        plain_labels(self)
        self.clear()

    def clear(self, message: str = "Select a part") -> None:
        self.data = None
        self.overlay.clear_view(message)
        self.badge.set_verdict(None)
        self.model_line.setText("")
        for label in self.fields.values():
            label.setText("")
        self.caption_editor.set_record(None)
        self.history.clear()
        self.image_note.setText("")
        self.image_note.setVisible(False)

    def show_data(self, data: DetailData) -> None:
        same_part = self.data is not None and self.data.record.id == data.record.id
        self.data = data
        r = data.record
        if data.part is not None:
            self.overlay.set_part(data.part)
            if not same_part:
                self.overlay.reset_zoom()
        else:
            self.overlay.clear_view("No image of this part was kept")
        note = "RANDOM WEIGHTS — meaningless" if r.random_weights else ""
        if r.shown_verdict == "wrong_part":
            note = " · ".join(n for n in (r.identity_reason or "not the recipe's part", note) if n)
        self.badge.set_verdict(r.shown_verdict, r.score, r.threshold, note=note)
        if r.overridden:
            self.model_line.setText(
                f"The model said {VERDICT_TEXT[r.model_verdict.value]}; {r.last_reviewed_by} changed it."
            )
        elif r.reviewed:
            self.model_line.setText(f"Confirmed by {r.last_reviewed_by}.")
        else:
            self.model_line.setText("Not reviewed yet.")
        confidence = f" ({r.defect_confidence:.0%})" if r.defect_confidence is not None else ""
        caption = r.effective_caption or (
            r.caption_reason if r.caption_status and r.caption_status.value == "missing" else ""
        )
        self.caption_editor.set_record(r)
        if not caption and r.caption_status is not None and r.caption_status.value == "pending":
            caption = "Caption pending…"
        values = {
            "Defect label": r.effective_defect_label or "—",
            "Defect type": (r.defect_type + confidence) if r.defect_type else "—",
            "Caption": caption or "—",
            "Recipe": f"{r.recipe_name} v{r.recipe_version}",
            "Model": f"{r.detector} [{r.model_id}], weights {r.short_fingerprint}",
            "Inspected": r.inspected_at.astimezone().strftime("%Y-%m-%d %H:%M:%S"),
            "File": (Path(r.file_path).name if r.file_path else r.source)
            + (f" ({CHANGED})" if CHANGED in data.image_note else ""),
            "Why queued": queued_text(r.review_reason),
        }
        for key, value in values.items():
            self.fields[key].setText(value)
        self.fields["File"].setToolTip(plain_tooltip(r.file_path or r.source))
        self.history.clear()
        if not data.history:
            self.history.addItem(QListWidgetItem("No decisions yet."))
        for row in reversed(data.history):  # newest first
            self.history.addItem(QListWidgetItem(history_text(row, data.history)))
        add_corrections(self.history, data.corrections)
        self.image_note.setText(data.image_note)
        self.image_note.setVisible(bool(data.image_note))

    def history_texts(self) -> list[str]:
        return [self.history.item(i).text() for i in range(self.history.count())]
