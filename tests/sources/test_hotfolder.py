"""Hot folder: files written slowly are read once, only when complete; existing files; folder loss."""

from __future__ import annotations

import shutil
import threading
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from inspector.sources import HotFolderSource, SourceError, SourceState
from inspector.sources.base import utc_now
from inspector.sources.hotfolder import looks_complete
from tests.sources.util import StateLog, decode, encode, pattern, save, wait_until

FAST = {"poll_interval": 0.02, "settle_time": 0.05}


def write_slowly(path: Path, data: bytes, chunks: int = 10, pause: float = 0.1) -> datetime:
    """Append ``data`` in chunks with pauses longer than the settle time; return when the last chunk began."""
    step = -(-len(data) // chunks)
    last_started = utc_now()
    with path.open("wb") as fh:
        for start in range(0, len(data), step):
            if start + step >= len(data):
                last_started = utc_now()
            fh.write(data[start : start + step])
            fh.flush()
            if start + step < len(data):
                time.sleep(pause)
    return last_started


def no_more_frames(src: HotFolderSource, scans: int = 5) -> bool:
    """Let the source look at the folder a few more times; True when it delivered nothing new."""
    target = src.scans + scans
    wait_until(lambda: src.scans >= target, what=f"{scans} more scans")
    return src.read(timeout=0) is None


def test_files_written_slowly_are_read_once_and_only_when_complete(tmp_path):
    jpeg = encode(pattern(1, (120, 160)), "JPEG")
    png = encode(pattern(2, (120, 160)), "PNG")
    last_chunk: dict[str, datetime] = {}
    second_go = threading.Event()

    def writer():
        # Pauses (0.1 s) are longer than the settle time (0.05 s): only the completeness check stops
        # the source from reading a half-written file.
        last_chunk["jpg"] = write_slowly(tmp_path / "part_001.jpg", jpeg)
        second_go.wait(10)
        last_chunk["png"] = write_slowly(tmp_path / "part_002.png", png, chunks=8)

    with HotFolderSource(tmp_path, incomplete_timeout=10, **FAST) as src:
        thread = threading.Thread(target=writer)
        thread.start()
        first = src.read(timeout=60)
        second_go.set()
        second = src.read(timeout=60)
        thread.join(10)
        assert no_more_frames(src)
        assert src.skipped == [] and src.pending == 0
    assert first is not None and second is not None
    assert (first.path.name, second.path.name) == ("part_001.jpg", "part_002.png")
    assert first.timestamp > last_chunk["jpg"] and second.timestamp > last_chunk["png"]
    np.testing.assert_array_equal(first.image, decode(jpeg))
    np.testing.assert_array_equal(second.image, decode(png))
    assert [first.index, second.index] == [0, 1]
    assert src.state is SourceState.STOPPED


@pytest.mark.parametrize("include_existing", [False, True])
def test_existing_files_are_skipped_or_included(tmp_path, include_existing):
    save(tmp_path / "old_b.png", pattern(2))
    save(tmp_path / "old_a.png", pattern(1))
    with HotFolderSource(tmp_path, include_existing=include_existing, **FAST) as src:
        if include_existing:
            existing = [src.read(timeout=60).path.name for _ in range(2)]
            assert existing == ["old_b.png", "old_a.png"] or existing == ["old_a.png", "old_b.png"]
        assert no_more_frames(src)
        save(tmp_path / "new.png", pattern(3))
        assert src.read(timeout=60).path.name == "new.png"
        assert no_more_frames(src)


def test_a_corrupt_file_that_stops_changing_is_reported_and_watching_goes_on(tmp_path):
    with HotFolderSource(tmp_path, incomplete_timeout=0.3, **FAST) as src:
        (tmp_path / "bad.jpg").write_bytes(b"this is no jpeg" * 50)
        bad = src.read(timeout=60)
        save(tmp_path / "good.png", pattern(7))
        good = src.read(timeout=60)
        assert no_more_frames(src)
    assert bad.path.name == "bad.jpg" and bad.image is None
    assert "Cannot load image" in bad.error and "unchanged for 0.3 s" in bad.error
    assert good.ok and good.path.name == "good.png"
    assert [r.path.name for r in src.skipped] == ["bad.jpg"]


def test_non_images_hidden_and_temporary_files_are_ignored(tmp_path):
    with HotFolderSource(tmp_path, **FAST) as src:
        (tmp_path / "readme.txt").write_text("hello")
        save(tmp_path / ".part.png", pattern(1))
        tmp = tmp_path / "x.png.tmp"
        tmp.write_bytes(encode(pattern(2), "PNG"))
        tmp.rename(tmp_path / "x.png")  # the usual write-then-rename
        frame = src.read(timeout=60)
        assert no_more_frames(src)
    assert frame.path.name == "x.png" and frame.ok


def test_folder_disappearing_and_coming_back_is_lost_then_running(tmp_path):
    folder = tmp_path / "hot"
    folder.mkdir()
    log = StateLog()
    with HotFolderSource(folder, on_state=log, **FAST) as src:
        save(folder / "a.png", pattern(1))
        assert src.read(timeout=60).path.name == "a.png"
        shutil.rmtree(folder)
        lost = log.wait_for(SourceState.LOST)
        assert "cannot be reached" in lost.message and str(folder) in lost.message
        folder.mkdir()
        save(folder / "b.png", pattern(2))
        log.wait_for(SourceState.RUNNING, after=log.events.index(lost))
        frame = src.read(timeout=60)
        assert frame.path.name == "b.png" and frame.ok
        assert no_more_frames(src)
    assert log.states == [SourceState.RUNNING, SourceState.LOST, SourceState.RUNNING, SourceState.STOPPED]


def test_a_replaced_file_is_read_again_only_when_asked(tmp_path):
    for reprocess in (False, True):
        folder = tmp_path / str(reprocess)
        folder.mkdir()
        with HotFolderSource(folder, reprocess_modified=reprocess, **FAST) as src:
            save(folder / "latest.png", pattern(1))
            assert src.read(timeout=60).ok
            new = folder / "latest.png.part"
            new.write_bytes(encode(pattern(2), "PNG"))
            new.replace(folder / "latest.png")
            if reprocess:
                frame = src.read(timeout=60)
                np.testing.assert_array_equal(frame.image, pattern(2))
            assert no_more_frames(src)


def test_recursive_hot_folder_sees_new_sub_folders(tmp_path):
    with HotFolderSource(tmp_path, recursive=True, **FAST) as src:
        (tmp_path / "lot7").mkdir()
        save(tmp_path / "lot7" / "p.png", pattern(3))
        frame = src.read(timeout=60)
        assert no_more_frames(src)
    assert frame.path == tmp_path / "lot7" / "p.png" and frame.ok


def test_missing_hot_folder_is_a_clear_error(tmp_path):
    with pytest.raises(SourceError, match="does not exist"):
        HotFolderSource(tmp_path / "nope").open()


def test_completeness_check(tmp_path):
    jpeg, png = encode(pattern(1), "JPEG"), encode(pattern(1), "PNG")
    bmp = tmp_path / "a.bmp"
    save(bmp, pattern(1))
    for name, data in (("a.jpg", jpeg), ("a.png", png), ("b.bmp", bmp.read_bytes())):
        (tmp_path / name).write_bytes(data)
        assert looks_complete(tmp_path / name) is True
        (tmp_path / name).write_bytes(data[: len(data) // 2])
        assert looks_complete(tmp_path / name) is False
    (tmp_path / "a.tif").write_bytes(b"II*\0")
    assert looks_complete(tmp_path / "a.tif") is None
