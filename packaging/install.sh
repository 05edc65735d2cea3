#!/usr/bin/env bash
# Sets up Inspector in ./.venv on a fresh Linux machine.
#
#   bash packaging/install.sh          # the station (as root also the window's system libraries)
#   bash packaging/install.sh --test   # the station + what the test suite needs (incl. Debian packages)
#
# torch is installed first and pinned through packaging/constraints-cpu.txt, so that no other
# package (open_clip_torch -> torchvision) can replace it with another build. On a machine with an
# NVIDIA GPU (nvidia-smi present) pip takes the default CUDA build of the same torch release.
set -euo pipefail
cd "$(dirname "$0")/.."

WITH_TEST=0
for arg in "$@"; do
  case "$arg" in
    --test) WITH_TEST=1 ;;
    *) echo "unknown option: $arg" >&2; exit 2 ;;
  esac
done

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
PIP=(.venv/bin/python -m pip --disable-pip-version-check -q)
CONSTRAINTS=packaging/constraints-cpu.txt

"${PIP[@]}" install --upgrade pip >/dev/null
if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
  "${PIP[@]}" install -c "$CONSTRAINTS" "torch==2.13.0"
fi

# System libraries (Debian/Ubuntu). The window on a real X11 display (Qt's xcb platform) needs these; the
# names follow what libqxcb.so links against (inspector/ui/display_libs.py keeps the same list, and
# 'inspector gui' names any that is missing). Other distributions: install the same libraries by hand.
WINDOW_DEBS="libglib2.0-0 libegl1 libgl1 libfontconfig1 libfreetype6 libdbus-1-3 libx11-6 libx11-xcb1 \
libxkbcommon0 libxkbcommon-x11-0 libxcb1 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 \
libxcb-randr0 libxcb-render0 libxcb-render-util0 libxcb-shape0 libxcb-shm0 libxcb-sync1 libxcb-util1 \
libxcb-xfixes0 libxcb-xkb1"
# The tests also need: the report tests render PDF pages to PNG with pdftoppm (poppler-utils); the fault
# tests build a power-cut shim (gcc, libc6-dev) and loop-mount a small ext4 disk that they make fail
# (e2fsprogs); the plant-network tests run against real servers started by packaging/services.sh; the
# window tests run once more under a real X server (xvfb, xauth), with real pointer events for the
# drag-and-drop test (xdotool).
TEST_DEBS="poppler-utils postgresql mosquitto mosquitto-clients openssl gcc libc6-dev e2fsprogs xvfb xauth xdotool"
DEBS=$WINDOW_DEBS
if [ "$WITH_TEST" = 1 ]; then DEBS="$DEBS $TEST_DEBS"; fi

if command -v dpkg >/dev/null && command -v apt-get >/dev/null; then
  missing=""
  for deb in $DEBS; do
    dpkg -s "$deb" >/dev/null 2>&1 || missing="$missing $deb"
  done
  if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
    else
      echo "These system packages are missing (the window needs them on a real display); as root:" >&2
      echo "  sudo apt-get install --no-install-recommends$missing" >&2
    fi
  fi
else
  echo "Not a Debian/Ubuntu system: install Qt's xcb libraries (libxcb-cursor, -icccm, -image, -keysyms," >&2
  echo "-randr, -render-util, -shape, -xkb, xkbcommon-x11 ...) with your package manager." >&2
fi

if [ "$WITH_TEST" = 1 ]; then
  "${PIP[@]}" install -c "$CONSTRAINTS" -e ".[test]"
else
  "${PIP[@]}" install -c "$CONSTRAINTS" -e .
fi
echo "Inspector is installed in $(pwd)/.venv  (run: .venv/bin/inspector --help)"
