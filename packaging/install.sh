#!/usr/bin/env bash
# Sets up Inspector in ./.venv on a fresh Linux machine.
#
#   bash packaging/install.sh          # the station
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

if [ "$WITH_TEST" = 1 ]; then
  "${PIP[@]}" install -c "$CONSTRAINTS" -e ".[test]"
  # Qt without a display (offscreen platform) needs these shared libraries; the report tests render
  # PDF pages to PNG with pdftoppm (poppler-utils); the fault tests build a power-cut shim (gcc,
  # libc6-dev) and loop-mount a small ext4 disk that they make fail (e2fsprogs).
  # The plant-network tests run against real servers started by packaging/services.sh.
  QT_DEBS="libglib2.0-0 libegl1 libgl1 libfontconfig1 libfreetype6 libdbus-1-3 libx11-6 libxkbcommon0 poppler-utils"
  QT_DEBS="$QT_DEBS postgresql mosquitto mosquitto-clients openssl gcc libc6-dev e2fsprogs"
  missing=""
  for deb in $QT_DEBS; do
    dpkg -s "$deb" >/dev/null 2>&1 || missing="$missing $deb"
  done
  if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
    else
      echo "Please install these Debian packages (as root):$missing" >&2
    fi
  fi
else
  "${PIP[@]}" install -c "$CONSTRAINTS" -e .
fi
echo "Inspector is installed in $(pwd)/.venv  (run: .venv/bin/inspector --help)"
