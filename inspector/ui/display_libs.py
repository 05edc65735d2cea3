"""The system libraries Qt's X11 (xcb) platform needs, checked before Qt starts (no Qt imported here).

Qt's own complaint on a box without them ("Could not load the Qt platform plugin "xcb" ... xcb-cursor0
is needed") names one library, often the wrong one. :func:`missing_display_libraries` loads each
shared library the plugin links against and names every one that is missing, with its Debian/Ubuntu
package, so the message can give the exact ``apt-get`` line (``packaging/install.sh`` installs them).
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# what libqxcb.so and libQt6XcbQpa.so.6 (PySide6 6.x) link against beyond the C/C++ runtime: soname -> package
XCB_LIBRARIES: Mapping[str, str] = {
    "libglib-2.0.so.0": "libglib2.0-0",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libX11.so.6": "libx11-6",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxcb.so.1": "libxcb1",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
}


@dataclass(frozen=True)
class MissingLibrary:
    soname: str
    package: str  # the Debian/Ubuntu package that ships it


def missing_display_libraries(libraries: Mapping[str, str] = XCB_LIBRARIES) -> list[MissingLibrary]:
    """The libraries of ``libraries`` (soname -> package) that the dynamic loader cannot load."""
    missing = []
    for soname, package in libraries.items():
        try:
            ctypes.CDLL(soname)
        except OSError:
            missing.append(MissingLibrary(soname, package))
    return missing


def apt_line(missing: Iterable[MissingLibrary]) -> str:
    packages = " ".join(dict.fromkeys(m.package for m in missing))
    return f"sudo apt-get install --no-install-recommends {packages}"


def missing_message(missing: list[MissingLibrary]) -> str:
    """What to tell the person starting the window (plain text, one library per line)."""
    lines = [
        "The station window cannot open on this display: Qt's X11 (xcb) platform needs system "
        f"libraries that are not installed ({len(missing)} missing):"
    ]
    lines += [f"  {m.soname}  (Debian/Ubuntu package {m.package})" for m in missing]
    lines += [
        "Install them (as root) with:",
        f"  {apt_line(missing)}",
        "or run 'bash packaging/install.sh' as root, which installs them.",
    ]
    return "\n".join(lines)


def uses_xcb(environ: Mapping[str, str] = os.environ, platform: str = sys.platform) -> bool:
    """Whether Qt will try its xcb platform: on Linux, asked for by QT_QPA_PLATFORM or (unset) with an
    X display and no Wayland session."""
    if not platform.startswith("linux"):
        return False
    chosen = environ.get("QT_QPA_PLATFORM", "").strip().lower()
    if chosen:
        return chosen.split(":", 1)[0].split(";", 1)[0] == "xcb"
    return bool(environ.get("DISPLAY")) and not environ.get("WAYLAND_DISPLAY")
