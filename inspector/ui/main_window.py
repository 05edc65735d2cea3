"""The station window: Live, Recipes and Review tabs, the status bar, log-in, settings, first run.

Nothing slow happens on the GUI thread: the store opens on a reader thread after the window shows,
models load on the inference thread when a run starts, and closing the window stops the run, lets
the pipeline commit everything it scored, and closes the database writer before the window goes.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import replace
from functools import partial

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QApplication, QMainWindow, QMessageBox, QTabWidget

from inspector.core.pins import PIN_ENV
from inspector.core.threads import lower_thread_priority
from inspector.core.types import DetectorInfo
from inspector.errors import InspectorError
from inspector.pipeline import StationSession, open_session
from inspector.pipeline.detector_cache import DetectorFactory
from inspector.pipeline.session import CaptionFactory
from inspector.store import InspectionStore
from inspector.store.accounts import Policy
from inspector.store.audit import VerifyReport
from inspector.ui.bridge import OpChange, SessionBridge
from inspector.ui.first_run import FirstRunPanel, WeightsReport, check_weights
from inspector.ui.live_controller import LiveController
from inspector.ui.live_view import SHORTCUTS_TEXT, LiveView
from inspector.ui.login import LoginDialog
from inspector.ui.plain_text import plain_labels, plain_tooltip
from inspector.ui.plant_panel import PlantStatusChip, start_window_link
from inspector.ui.recipe_editor import RecipeEditor
from inspector.ui.review_queue import REVIEW_SHORTCUTS, ReviewQueue
from inspector.ui.settings import SettingsDialog, StationSettings, save_settings
from inspector.ui.station import Station, recipe_files
from inspector.ui.theme import app_icon, apply_theme
from inspector.ui.widgets import ElidedLabel, random_weights_badge
from inspector.ui.workers import StoreOps, Tasks, describe_error

log = logging.getLogger(__name__)


def preload_torch() -> None:
    """Import torch on a low-priority background thread while the station is idle after start-up, so
    the first Start does not wait for it (the window itself never waits for torch)."""
    if "torch" in sys.modules:
        return

    def run() -> None:
        lower_thread_priority()
        try:
            from inspector._torch import import_torch

            import_torch()
        except Exception:  # the run will report it properly when it needs torch
            log.exception("preloading torch failed")

    threading.Thread(target=run, name="inspector-preload", daemon=True).start()


class MainWindow(QMainWindow):
    """One station window. Everything it shares with its screens is in ``self.station``."""

    store_ready = Signal()
    weights_checked = Signal(object)  # WeightsReport
    first_shown = Signal()

    def __init__(
        self,
        settings: StationSettings,
        *,
        operator: str = "",
        random_weights: bool = False,
        detector_factory: DetectorFactory | None = None,
        caption_factory: CaptionFactory | None = None,
        ask_login: bool = True,
        check_weights_on_start: bool = True,
        preload_torch_after_s: float | None = 2.0,
        database: str | None = None,  # a server URL: the central plant database (review across stations)
    ) -> None:
        super().__init__()
        self._database = database
        self.setWindowIcon(app_icon())
        self._fit_to_screen()
        self.tasks = Tasks(parent=self)
        self.station = Station(
            settings=settings,
            operator=operator,
            random_weights=random_weights,
            tasks=self.tasks,
            detector_factory=detector_factory,
            caption_factory=caption_factory,
        )
        self._ask_login = ask_login and not operator
        self._check_weights = check_weights_on_start and not random_weights
        self._preload_after = preload_torch_after_s
        self._closed = False
        self._closing = False
        self._shown, self._opening = False, None  # first show done; open_session's future
        # asks a yes/no question (title, text) -> bool; tests put an answer here
        self.confirm: Callable[[str, str], bool] = self._ask
        self.weights_report: WeightsReport | None = None

        self.live = LiveView()
        self.first_run = FirstRunPanel()
        self.live.banners.add_panel(self.first_run)
        self.controller = LiveController(self.live, self.station, self)
        self.recipes = RecipeEditor(self.station)
        self.review = ReviewQueue(self.station)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.live, "Live")
        self.tabs.addTab(self.recipes, "Recipes")
        self.tabs.addTab(self.review, "Review")
        self.tabs.setDocumentMode(True)
        self.setCentralWidget(self.tabs)

        self.source_label = ElidedLabel("Source: —")
        # each chip asks for a share of a 1280 px bar and shortens below it (the whole text in its tooltip)
        self.device_label = ElidedLabel(f"Device: {settings.device}", natural_width=165)
        self.model_label = ElidedLabel("Model: —", natural_width=250)
        self.operator_label = ElidedLabel("", natural_width=180)
        self.audit_label = ElidedLabel("Audit trail: …", natural_width=190)
        self.audit_report: VerifyReport | None = None
        self.random_badge = random_weights_badge()
        self.random_badge.setVisible(random_weights)
        bar = self.statusBar()
        bar.addWidget(self.source_label, 1)
        for label in (self.device_label, self.model_label, self.operator_label, self.audit_label):
            label.setObjectName("statusChip")
            bar.addPermanentWidget(label)
        self.plant_chip = PlantStatusChip()  # the plant network's state (hidden off the plant network)
        bar.addPermanentWidget(self.plant_chip)
        bar.addPermanentWidget(self.random_badge)
        self._build_menu()

        self.controller.detector_ready.connect(self._detector_ready)
        self.controller.source_state.connect(lambda text: self.source_label.setText(f"Source: {text}"))
        self.controller.weights_missing.connect(self.first_run.show_message)
        self.controller.running_changed.connect(self._running_changed)
        self.live.open_recipe_requested.connect(self._open_recipe_tab)
        self.live.open_inspection.connect(self.show_inspection)
        self.live.recipe_switch_requested.connect(self._switch_recipe_during_run)
        self.recipes.recipes_changed.connect(self._recipe_saved)
        self.first_run.check_again.connect(self.check_weights)
        self.tasks.error.connect(lambda text: self.live.messages.show_message(text, "error"))
        self.live.opacity.setValue(round(settings.heatmap_opacity * 100))
        self.live.colormap.setCurrentText(settings.colormap)
        self.live.set_source_choice(settings.last_source_kind, settings.last_source)
        self._recipes_changed(settings.last_recipe)
        self.recipes.show_recipe(self.live.recipe_path())
        self._update_title()
        plain_labels(self)  # user-typed text is never rich text
        self._open_store()

    def _fit_to_screen(self) -> None:
        """Open at 1500x920, or smaller on a smaller screen (room left for the window frame)."""
        screen = self.screen() or QApplication.primaryScreen()
        if screen is None:
            self.resize(1500, 920)
            return
        room = screen.availableGeometry()
        self.resize(min(1500, room.width() - 16), min(920, room.height() - 48))

    # -- start-up ----------------------------------------------------------------------------------------
    def _build_menu(self) -> None:
        station = self.menuBar().addMenu("&Station")
        for text, keys, slot in (
            ("Switch operator…", "Ctrl+L", self.switch_operator),
            ("Settings…", "Ctrl+,", self.edit_settings),
            ("Export report / dataset…", "Ctrl+E", self.open_export),
            (None, None, None),
            ("Quit", "Ctrl+Q", self.close),
        ):
            if text is None:
                station.addSeparator()
                continue
            action = QAction(text, self)
            action.setShortcut(QKeySequence(keys))
            action.triggered.connect(slot)
            station.addAction(action)
        view = self.menuBar().addMenu("&View")
        operator_view = QAction("Operator view (full screen)", self)
        operator_view.setShortcut(QKeySequence("F11"))
        operator_view.triggered.connect(self.toggle_operator_view)
        view.addAction(operator_view)
        view.addSeparator()
        for i, name in enumerate(("Live", "Recipes", "Review")):
            action = QAction(name, self)
            action.setShortcut(QKeySequence(f"Ctrl+{i + 1}"))
            action.triggered.connect(lambda _=False, i=i: self.tabs.setCurrentIndex(i))
            view.addAction(action)
        help_menu = self.menuBar().addMenu("&Help")
        shortcuts = QAction("Keyboard shortcuts", self)
        shortcuts.setShortcut(QKeySequence("F1"))
        shortcuts.triggered.connect(self.show_shortcuts)
        help_menu.addAction(shortcuts)
        weights = QAction("Model weights…", self)
        weights.triggered.connect(self.check_weights)
        help_menu.addAction(weights)
        about = QAction("About Inspector (audit trail)…", self)
        about.triggered.connect(self.show_about)
        help_menu.addAction(about)

    def _open_store(self) -> None:
        """Open the station session (database, writer thread) on a reader thread."""
        config = self.station.session_config()
        if self._database:  # a server URL: the central plant database, for review across stations
            from inspector.plant.settings import open_central_store

            config = replace(config, store_opener=partial(open_central_store, self._database))
        self._opening = self.tasks.submit(lambda: open_session(config), self._session_opened, self._store_failed)

    def _session_opened(self, session: StationSession) -> None:
        if self._closed:
            session.close()
            return
        self.station.session = session
        self.station.bridge = SessionBridge(session, self)
        self.station.bridge.parts_stored.connect(self.review.on_parts_stored)
        self.station.ops = StoreOps(session, self.tasks, self.station.bridge, self)
        self.station.ops.changed.connect(self._changed)
        self.station.ops.error.connect(lambda text: self.live.messages.show_message(text, "error"))
        self.review.attach_store()
        self.recipes.store_opened()
        self.recipes._load_versions(self.recipes.name.text().strip())
        self.recipes.recalibration.compute()
        self.store_ready.emit()
        self._check_logins(session.store)
        self.verify_audit()
        self.tasks.submit(lambda: start_window_link(session.store, session=session), self.plant_chip.set_link)

    def _store_failed(self, exc: BaseException) -> None:
        self.live.messages.show_message(f"The inspection database cannot be opened: {describe_error(exc)}", "error")
        self.live.start.setEnabled(False)

    def showEvent(self, event) -> None:  # noqa: N802
        super().showEvent(event)
        if not self._shown:
            self._shown = True
            QTimer.singleShot(0, self._after_first_show)

    def _after_first_show(self) -> None:
        self.first_shown.emit()
        self.recipes.load_models()
        if self._check_weights:
            self.check_weights()
        if self._ask_login:
            QTimer.singleShot(50, self.switch_operator)
        if self._preload_after is not None:
            QTimer.singleShot(round(self._preload_after * 1000), preload_torch)

    def check_weights(self) -> None:
        settings = self.station.settings
        folder = settings.recipes_dir
        extra = (settings.captioner_model,) if settings.captioner_enabled else ()
        self.tasks.submit(
            lambda: check_weights(folder, extra),
            self._weights_checked,
            lambda exc: self.live.messages.show_message(describe_error(exc), "warning"),
        )

    def _weights_checked(self, report: WeightsReport) -> None:
        self.weights_report = report
        self.first_run.show_report(report)
        self.weights_checked.emit(report)

    # -- operator, settings -----------------------------------------------------------------------------
    def _check_logins(self, store: InspectionStore) -> None:
        """Move an earlier station's settings-file PINs into the database (once), read the log-in
        policy, and make an operator named on the command line give the PIN when one is required."""
        settings, named = self.station.settings, self.station.operator

        def check() -> tuple[Policy, bool]:
            accounts = store.accounts
            if settings.pins:
                accounts.import_legacy_pins(settings.pins)
            if settings.require_pin and not accounts.policy().require_pin:
                accounts.set_policy(require_pin=True)
            policy = accounts.policy()
            verified = not policy.require_pin
            pin = os.environ.get(PIN_ENV)
            if named and policy.require_pin and pin:
                accounts.log_in(named, pin)  # automation: the PIN from the environment
                verified = True
            return policy, verified

        def done(result: tuple[Policy, bool]) -> None:
            policy, verified = result
            self.station.settings = replace(self.station.settings, pins={}, require_pin=policy.require_pin)
            if settings.pins or settings.require_pin != policy.require_pin:
                self._save_settings()  # the PINs now live in the database only
            if named and not verified and self.station.operator == named:
                self.station.operator = ""  # a name alone is not enough: ask for the PIN
                self._update_title()
                self.switch_operator(name=named)

        self.tasks.submit(check, done, lambda exc: self.live.messages.show_message(describe_error(exc), "error"))

    def switch_operator(self, name: str = "") -> None:
        """Log in (or hand over the station); the known operators and the policy are read off the GUI thread."""
        store = self.station.store
        if store is None:
            self._login([], Policy(), name)
            return
        self.tasks.submit(
            lambda: ([o.name for o in store.operators()], store.accounts.policy()),
            lambda found: self._login(found[0], found[1], name),
            lambda exc: self.live.messages.show_message(describe_error(exc), "error"),
        )

    def _login(self, operators: list[str], policy: Policy, name: str = "") -> None:
        store = self.station.store

        def check(who: str, pin: str, choose: bool) -> None:
            if store is None:
                raise InspectorError("The inspection database is not open yet: try again in a moment.")
            if choose:
                store.accounts.add_operator(who, pin=pin)
            store.accounts.log_in(who, pin)

        dialog = LoginDialog(
            operators,
            policy=policy,
            check=check,
            submit=self.tasks.submit,
            name=name or self.station.settings.last_operator,
            parent=self,
        )
        if dialog.exec():
            settings = replace(self.station.settings, last_operator=dialog.operator)
            self.station.settings = settings
            self.station.operator = dialog.operator
            self._save_settings()
            self._update_title()
        elif not self.station.operator:
            self.live.messages.show_message("Nobody is logged in: log in (Ctrl+L) before relabelling parts.", "warning")

    def edit_settings(self) -> None:
        dialog = SettingsDialog(self.station.settings, self)
        if not dialog.exec():
            return
        old = self.station.settings
        new = dialog.result_settings()
        self.station.settings = new
        self._save_settings()
        session = self.station.session
        if session is not None and not self.controller.running and self.station.captioner() != session.captioner:
            captioner = self.station.captioner()
            self.tasks.submit(lambda: session.set_captioner(captioner))  # may take a moment: off the GUI thread
        if new.theme != old.theme:
            apply_theme(QApplication.instance(), new.theme)
        if new.data_folder != old.data_folder:
            self.live.messages.show_message("The new data folder is used from the next start of the station.", "info")
        runtime = (new.device, new.dtype, new.backend)
        if session is not None and runtime != (old.device, old.dtype, old.backend):
            try:
                session.set_runtime(device=new.device, dtype=new.dtype, backend=new.backend)
            except InspectorError as exc:  # the dialog refuses these; a hand-edited file may not
                self.live.messages.show_message(describe_error(exc), "error")
            else:
                when = "after the run going on" if self.controller.running else "from the next run"
                text = f"Device {new.device}, precision {new.dtype}, backend {new.backend}: used {when}."
                self.live.messages.show_message(text, "info")
        if new.device != old.device:
            self.device_label.setText(f"Device: {new.device}")

    def open_export(self) -> None:
        """The export dialog (modeless; one per window, kept between uses)."""
        from inspector.ui.export_dialog import ExportDialog

        if getattr(self, "export_dialog", None) is None:
            self.export_dialog = ExportDialog(self.station, self)
        self.export_dialog.show()
        self.export_dialog.raise_()
        self.export_dialog.activateWindow()

    def _save_settings(self) -> None:
        try:
            save_settings(self.station.settings)
        except OSError as exc:
            self.live.messages.show_message(f"Settings not saved: {describe_error(exc)}", "warning")

    def _update_title(self) -> None:
        who = self.station.operator or "nobody logged in"
        title = f"Inspector — {who}"
        if self.station.random_weights:
            title += " — RANDOM WEIGHTS (demo)"
        self.setWindowTitle(title)
        self.operator_label.setText(f"Operator: {who}")

    def verify_audit(self) -> None:
        """Recompute the audit trail's hash chain off the GUI thread; the status bar shows the result."""
        store = self.station.store
        if store is None:
            return
        self.tasks.submit(store.verify_audit, self._audit_verified, self._audit_failed)

    def _audit_verified(self, report: VerifyReport) -> None:
        self.audit_report = report
        if report.ok:
            self.audit_label.setText(f"Audit trail: verified ({report.entries:,} entries)")
            self.audit_label.setToolTip(plain_tooltip(report.summary()))
            self.audit_label.setStyleSheet("")
        else:
            self.audit_label.setText(f"Audit trail: BROKEN ({len(report.findings)} problems)")
            self.audit_label.setToolTip(plain_tooltip(report.summary()))
            self.audit_label.setStyleSheet("color: #d93025; font-weight: 700;")
            self.live.messages.show_message(f"{report.summary()} (inspector audit verify --all lists them)", "error")

    def _audit_failed(self, exc: BaseException) -> None:
        self.audit_label.setText("Audit trail: not checked")
        self.audit_label.setToolTip(plain_tooltip(describe_error(exc)))

    def show_about(self) -> None:
        import inspector

        report = self.audit_report
        audit_text = report.summary() if report is not None else "The audit trail has not been checked yet."
        if report is not None and not report.ok:
            audit_text += "\n\n" + "\n".join(f.describe() for f in report.findings[:5])
        box = QMessageBox(self)
        box.setWindowTitle("About Inspector")
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setText(
            f"Inspector {inspector.__version__}\nDatabase: {self.station.settings.database_path}\n\n{audit_text}"
        )
        box.setModal(False)
        box.show()
        self.about_box = box

    def show_shortcuts(self) -> None:
        box = QMessageBox(self)
        box.setWindowTitle("Keyboard shortcuts")
        box.setText(
            "Live: "
            + SHORTCUTS_TEXT
            + "\n\nReview: "
            + REVIEW_SHORTCUTS
            + "\n\nWindow: F11 operator view (full screen; P / F / U decide, Esc leaves)"
            " · Ctrl+1/2/3 tabs · Ctrl+L switch operator · Ctrl+, settings · Ctrl+S save recipe · "
            "F1 this help · Ctrl+Q quit"
        )
        box.setModal(False)
        box.show()

    def toggle_operator_view(self) -> None:
        """F11: the full-screen operator view on this window's screen (F11 or Esc again leaves it)."""
        view = getattr(self, "operator_view", None)
        if view is not None and view.isVisible():
            view.close()
            return
        if view is None:
            from inspector.ui.operator_view import OperatorView

            view = OperatorView(self.review.decide_part, self)
            self.live.part_shown.connect(view.show_part)
            self.live.counters_changed.connect(view.set_counters)
            self.live.running_changed.connect(view.set_running)
            view.start_requested.connect(self.live._start_key)
            view.stop_requested.connect(self.live._stop_key)
            self.operator_view = view
        view.set_running(self.controller.running)
        if self.live.overlay.part is not None and self.live.last_shown is not None:
            view.show_part(self.live.last_shown)
        view.set_counters({k: tile.value.text() for k, tile in self.live.counters.items()})
        screen = self.screen()
        if screen is not None:
            view.setGeometry(screen.geometry())
        view.showFullScreen()
        view.raise_()
        view.activateWindow()

    # -- reactions --------------------------------------------------------------------------------------
    def _changed(self, change: OpChange) -> None:
        if change.kind == "override":
            self.station.session_overrides += 1
        self.controller.on_change(change)
        self.review.on_change(change)

    def _detector_ready(self, info: DetectorInfo) -> None:
        runtime = info.dtype if info.backend == "torch" else f"{info.backend} {info.dtype}"
        self.device_label.setText(f"Device: {info.device}/{runtime}")
        shots = f", {info.shots}-shot" if info.shots else ""
        self.model_label.setText(f"Model: {info.detector} [{info.model_id}]{shots}")
        if info.random_weights:
            self.random_badge.setVisible(True)

    def _running_changed(self, running: bool) -> None:
        if running:
            choice = self.live.source_choice()
            self.station.settings = replace(
                self.station.settings,
                last_source_kind=choice.kind,
                last_source=choice.target,
                last_recipe=self.live.recipe_path(),
            )
            self.source_label.setText(f"Source: starting {choice.target}")
        elif self.weights_report is not None and self.controller.summary is not None:
            self.first_run.setVisible(False)

    def _recipes_changed(self, select: str = "") -> None:
        """Re-list the recipes in the live screen and select ``select`` there (when given)."""
        self.live.set_recipes(recipe_files(self.station.settings.recipes_dir), select)

    def _recipe_saved(self, path: str) -> None:
        """A recipe was saved in the editor: the live screen lists it but keeps its own choice (saving
        never switches the recipe being inspected); with no recipe chosen yet, it takes this one."""
        self._recipes_changed(self.live.recipe_path() or path)

    def show_inspection(self, inspection_id: str) -> None:
        """Open one part in the review screen (from the live screen's flagged list)."""
        if inspection_id:
            self.tabs.setCurrentWidget(self.review)
            self.review.show_part(inspection_id)

    def _open_recipe_tab(self) -> None:
        self.tabs.setCurrentWidget(self.recipes)

    def _ask(self, title: str, text: str) -> bool:
        answer = QMessageBox.question(
            self,
            title,
            text,
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    def _switch_recipe_during_run(self, path: str) -> None:
        """Another recipe was chosen during a run: stop the run first (asked), then select it."""
        name = next((label for label, p in recipe_files(self.station.settings.recipes_dir) if p == path), path)
        if not self.confirm(
            "Switch recipe",
            f"A run is going on. Stop it and switch to “{name}”?\nEverything already scored is kept.",
        ):
            return

        def switch() -> None:
            self.live.select_recipe(path)
            self.live.messages.show_message(f"Run stopped; recipe switched to “{name}”. Press Start to go on.", "info")

        if self.controller.shutdown(then=switch):
            switch()

    # -- closing ------------------------------------------------------------------------------------------
    def closeEvent(self, event) -> None:  # noqa: N802
        if self._closed:
            event.accept()
            return
        if self.controller.running:
            event.ignore()
            if self._closing:
                return
            if not self.confirm(
                "Quit during a run",
                "A run is going on. Stop it and quit?\nEverything already scored is saved before the window closes.",
            ):
                return
            self._closing = True
            self.centralWidget().setEnabled(False)
            self.live.set_stage("Stopping the run — saving everything already scored, then closing …")
            self.source_label.setText("Stopping the run — saving everything already scored …")
            self.repaint()  # say so at once: the run may take a moment to finish its part
            self.controller.shutdown(then=self.close)
            return
        self.shutdown()
        event.accept()

    def shutdown(self) -> None:
        """Stop every worker and close the database; idempotent."""
        if self._closed:
            return
        self._closed = True
        self.controller.shutdown()
        settings = self.station.settings
        self.station.settings = replace(
            settings,
            heatmap_opacity=self.live.opacity.value() / 100,
            colormap=self.live.colormap.currentText(),
            advance_after_relabel=self.review.advance.isChecked(),
        )
        self._save_settings()
        export = getattr(self, "export_dialog", None)
        if export is not None and export.job is not None:  # it reads the store: stop it before the store closes
            export.job.cancel()
            export.job.wait(30)
        self.tasks.shutdown(wait=True)
        if self.station.bridge is not None:
            self.station.bridge.close()
        self.plant_chip.close_link()  # before the session: what waits stays in the spool
        if self.station.session is not None:  # captions first, then the writer, then the database
            self.station.session.close()
