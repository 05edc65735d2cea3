"""At start the window opens its database once, through the station session: the Recipes screen's
training panels read through the session's store. A second connection opened by a panel at the same
moment could hold a new or migrating database locked past the session's busy timeout, and the station
then refused to start ("in use by another program": seen in CI on a loaded machine)."""

from __future__ import annotations

import threading

from tests.ui.conftest import WAIT_MS


def test_the_window_opens_its_database_once_and_the_panels_read_through_the_session(
    qtbot, make_window, inspected, settings, monkeypatch
):
    from inspector.store import repository

    opened: list[str] = []
    real = repository.open_database

    def counting(target=None, **options):
        if target is not None and str(target) == str(settings.database_path):
            opened.append(threading.current_thread().name)
        return real(target, **options)

    monkeypatch.setattr(repository, "open_database", counting)
    window = make_window()
    editor = window.recipes
    window.tabs.setCurrentWidget(editor)
    editor.list.setCurrentRow(0)  # the panels read the library and the corrections of this recipe
    qtbot.waitUntil(lambda: editor.train_panel.library is not None, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: "corrected caption" in editor.caption_panel.count.text(), timeout=WAIT_MS)
    assert len(opened) == 1, opened  # the session's open only
    assert editor.train_panel.library.parts  # read, through the session's store (the reference at least)
