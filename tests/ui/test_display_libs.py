"""`inspector gui` on a box without the X11 libraries names every missing one and the apt-get line (#13)."""

from __future__ import annotations

from inspector.ui import app, display_libs
from inspector.ui.display_libs import XCB_LIBRARIES, missing_display_libraries, uses_xcb


def test_missing_libraries_are_found_by_loading_them():
    found = missing_display_libraries({"libc.so.6": "libc6", "libinspector-no-such-lib.so.9": "inspector-none"})
    assert [(m.soname, m.package) for m in found] == [("libinspector-no-such-lib.so.9", "inspector-none")]
    assert "libxcb-cursor.so.0" in XCB_LIBRARIES and XCB_LIBRARIES["libxcb-icccm.so.4"] == "libxcb-icccm4"


def test_which_platform_qt_will_use():
    assert uses_xcb({"QT_QPA_PLATFORM": "xcb"}, "linux")
    assert not uses_xcb({"QT_QPA_PLATFORM": "offscreen", "DISPLAY": ":0"}, "linux")
    assert uses_xcb({"DISPLAY": ":0"}, "linux") and not uses_xcb({"DISPLAY": ":0", "WAYLAND_DISPLAY": "w"}, "linux")
    assert not uses_xcb({"QT_QPA_PLATFORM": "xcb"}, "win32")


def test_gui_names_the_missing_library_instead_of_starting_qt(monkeypatch, capsys):
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    table = dict(XCB_LIBRARIES, **{"libinspector-no-such-xcb.so.0": "libinspector-no-such-xcb0"})
    monkeypatch.setattr(display_libs, "XCB_LIBRARIES", table)
    monkeypatch.setattr(display_libs.missing_display_libraries, "__defaults__", (table,))
    assert app.main(["--operator", "ana"]) == app.EXIT_NO_DISPLAY_LIBRARIES
    err = capsys.readouterr().err
    assert "libinspector-no-such-xcb.so.0  (Debian/Ubuntu package libinspector-no-such-xcb0)" in err
    assert "sudo apt-get install --no-install-recommends" in err and "libinspector-no-such-xcb0" in err
    assert "packaging/install.sh" in err
