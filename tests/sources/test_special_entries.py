"""Sources that one entry can no longer stop: FIFOs, links to /dev/zero, link loops, unreadable
sub-folders, unsupported formats, pixel bombs, a copy that stalls (the red-team cases, made here)."""

from __future__ import annotations

import hashlib
import json
import os
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path

import pytest

from inspector.sources import FolderSource, HotFolderSource
from inspector.sources.entries import ReadLimits, read_image_file, scan_entries
from tests.sources.util import encode, pattern, save, wait_until

FAST = {"poll_interval": 0.02, "settle_time": 0.05}


def header_only_png(path: Path, width: int, height: int) -> Path:
    """A PNG that claims ``width x height`` pixels in a few dozen bytes (a decompression bomb's header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    )
    return path


def hostile_folder(folder: Path) -> dict[str, Path]:
    """One good image among every entry the red-team pass used."""
    folder.mkdir(parents=True, exist_ok=True)
    made = {"good": save(folder / "a_good.png", pattern(1))}
    os.mkfifo(folder / "b_fifo.png")
    made["fifo"] = folder / "b_fifo.png"
    os.symlink("/dev/zero", folder / "c_zero.png")
    made["zero"] = folder / "c_zero.png"
    os.symlink(folder / "d_loop.png", folder / "d_loop.png")
    made["loop"] = folder / "d_loop.png"
    for suffix in (".gif", ".heic", ".avif"):
        made[suffix] = folder / f"e_photo{suffix}"
        made[suffix].write_bytes(b"not read")
    made["bomb"] = header_only_png(folder / "f_bomb.png", 12_000, 12_000)  # 144 MP
    return made


# the folder holds a 144-megapixel image on purpose (refused by the station's own pixel limit): PIL warns
@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_a_folder_of_hostile_entries_is_read_without_blocking_and_every_skip_has_its_true_reason(tmp_path):
    made = hostile_folder(tmp_path / "lot")
    with FolderSource(tmp_path / "lot") as src:
        frames = list(src.frames())
    by_path = {f.path.name: f for f in frames}
    assert by_path["a_good.png"].ok
    reasons = {name: f.error for name, f in by_path.items() if not f.ok}
    assert "FIFO" in reasons["b_fifo.png"]
    assert "character device" in reasons["c_zero.png"] and "/dev/zero" in reasons["c_zero.png"]
    assert "symbolic link loop" in reasons["d_loop.png"]
    for suffix, fmt in ((".gif", "GIF"), (".heic", "HEIC"), (".avif", "AVIF")):
        assert f"a {fmt} image, a format the station does not read" in reasons[made[suffix].name]
    assert "12000 x 12000 pixels" in reasons["f_bomb.png"] and "40,000,000" in reasons["f_bomb.png"]
    assert len(src.skipped) == len(frames) - 1 == 7


def test_a_folder_link_loop_and_an_unreadable_sub_folder_do_not_refuse_the_whole_folder(tmp_path):
    root = Path(tempfile.mkdtemp(dir="/tmp" if os.path.isdir("/tmp") else None))  # readable by other users
    try:
        os.chmod(root, 0o755)
        (root / "sub").mkdir()
        save(root / "sub" / "p.png", pattern(2))
        os.symlink(root, root / "sub" / "back")  # a folder link back to the top
        (root / "locked").mkdir(mode=0o000)
        os.chmod(root / "locked", 0o000)
        save(root / "top.png", pattern(3))
        images, reasons = _scan_as_unprivileged_user(root)
        assert images == ["p.png", "top.png"]
        assert any("leads back into the scanned folder" in r for r in reasons)
        assert any("locked cannot be listed (Permission denied)" in r for r in reasons)
    finally:
        os.chmod(root / "locked", 0o755)
        subprocess.run(["rm", "-rf", str(root)], check=False)


def _scan_as_unprivileged_user(root: Path) -> tuple[list[str], list[str]]:
    """scan_entries(root) in a forked child that dropped root's rights (chmod 000 stops anyone else)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: no exec, just the scan
        try:
            os.close(read_end)
            if os.geteuid() == 0:
                os.setgid(65534)
                os.setuid(65534)
            images, skipped = scan_entries(root, True)
            out = json.dumps([sorted(p.name for p in images), sorted(s.reason for s in skipped)])
            os.write(write_end, out.encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    return tuple(json.loads(data))


def test_a_file_read_is_bounded_and_the_hash_is_of_the_decoded_bytes(tmp_path):
    path = save(tmp_path / "p.png", pattern(4, (64, 64)))
    data = path.read_bytes()
    read = read_image_file(path)
    assert read.data == data and read.sha256 == hashlib.sha256(data).hexdigest() and read.image.shape == (64, 64, 3)
    with pytest.raises(Exception, match="more than the limit"):
        read_image_file(path, ReadLimits(max_bytes=len(data) - 1))


def test_scan_entries_records_what_it_skips(tmp_path):
    hostile_folder(tmp_path / "lot")
    images, skipped = scan_entries(tmp_path / "lot", recursive=False)
    # the bomb's header is only read later, when the file is loaded
    assert sorted(p.name for p in images) == ["a_good.png", "f_bomb.png"]
    assert len(skipped) == 6


def test_the_hot_folder_skips_special_files_and_keeps_inspecting(tmp_path):
    with HotFolderSource(tmp_path, incomplete_timeout=5, **FAST) as src:
        os.mkfifo(tmp_path / "pipe.png")
        os.symlink("/dev/zero", tmp_path / "zero.jpg")
        os.symlink(tmp_path / "loop.png", tmp_path / "loop.png")
        first = [src.read(timeout=30) for _ in range(3)]
        assert sorted(f.path.name for f in first) == ["loop.png", "pipe.png", "zero.jpg"]
        assert all(not f.ok for f in first)
        assert "symbolic link loop" in next(f.error for f in first if f.path.name == "loop.png")
        save(tmp_path / "later.png", pattern(5))
        later = src.read(timeout=30)
        assert later is not None and later.ok and later.path.name == "later.png"


def test_a_hot_folder_copy_that_stalls_is_inspected_once_it_completes(tmp_path):
    data = encode(pattern(6, (120, 160)), "PNG")
    target = tmp_path / "slow.png"
    with HotFolderSource(tmp_path, incomplete_timeout=0.3, **FAST) as src:
        target.write_bytes(data[: len(data) // 2])  # the copy pauses here, longer than the timeout
        stalled = src.read(timeout=30)
        assert stalled is not None and not stalled.ok and "stayed unchanged" in stalled.error
        with target.open("ab") as handle:  # ... and then completes
            handle.write(data[len(data) // 2 :])
        done = src.read(timeout=30)
        assert done is not None and done.ok and done.path == target
        assert done.content_hash == hashlib.sha256(data).hexdigest()
        wait_until(lambda: src.scans > 5, what="a few more scans")
        assert src.read(timeout=0) is None  # delivered once
