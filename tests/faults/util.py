"""Helpers for the fault tests: the power-cut shim, read-only mounts."""

from __future__ import annotations

import os
import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest

SHIM_SOURCE = Path(__file__).with_name("powercut_shim.c")


def build_powercut_shim(folder: Path) -> Path:
    """Compile the power-cut shim (skips the test where no C compiler is installed)."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler to build the power-cut shim (install gcc: packaging/install.sh --test)")
    out = folder / "powercut_shim.so"
    subprocess.run([cc, "-shared", "-fPIC", "-O1", "-o", str(out), str(SHIM_SOURCE), "-ldl"], check=True)
    return out


class Ext4Disk:
    """A small ext4 file system in a file, loop-mounted with ``errors=remount-ro`` (root only).

    :meth:`fail` makes the kernel record a file-system error, after which ext4 turns the disk
    read-only at once, with the station's files still open (what a failing disk does).
    """

    def __init__(self, image: Path, mountpoint: Path) -> None:
        self.image, self.mountpoint = image, mountpoint

    def mount(self) -> None:
        done = subprocess.run(
            ["mount", "-o", "loop,errors=remount-ro", str(self.image), str(self.mountpoint)], capture_output=True
        )
        if done.returncode != 0:
            pytest.skip(f"cannot loop-mount an ext4 image here: {done.stderr.decode().strip()}")

    def unmount(self) -> None:
        subprocess.run(["umount", str(self.mountpoint)], capture_output=True, check=True)

    def fail(self) -> None:
        """An ext4 error: the disk is remounted read-only by the kernel (``emergency_ro``)."""
        source = subprocess.run(
            ["findmnt", "-n", "-o", "SOURCE", str(self.mountpoint)], capture_output=True, text=True, check=True
        ).stdout.strip()
        Path(f"/sys/fs/ext4/{Path(source).name}/trigger_fs_error").write_text("inspector fault test\n")

    def repair_and_remount(self) -> None:
        """Unmount, check (``e2fsck -fy``) and mount it again writable, as after a reboot."""
        self.unmount()
        subprocess.run(["e2fsck", "-fy", str(self.image)], capture_output=True)
        self.mount()


@contextmanager
def ext4_disk(folder: Path, size_mb: int = 32):
    """Yield a mounted :class:`Ext4Disk` under ``folder``; skipped where loop mounts are impossible."""
    if os.geteuid() != 0:
        pytest.skip("loop-mounting a file system needs root")
    if not shutil.which("mkfs.ext4") or not shutil.which("losetup"):
        pytest.skip("mkfs.ext4 / losetup are not installed (e2fsprogs, mount)")
    image, mountpoint = folder / "disk.ext4", folder / "disk"
    mountpoint.mkdir(parents=True, exist_ok=True)
    with open(image, "wb") as handle:
        handle.truncate(size_mb << 20)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], check=True, capture_output=True)
    disk = Ext4Disk(image, mountpoint)
    disk.mount()
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], capture_output=True)
