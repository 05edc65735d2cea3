"""Folder scanned once: order, non-images, unreadable files, a folder vanishing mid-run."""

from __future__ import annotations

import os
import shutil
import threading

import numpy as np
import pytest

from inspector.errors import InspectorError
from inspector.sources import FolderSource, ImageListSource, SourceError, SourceState
from tests.sources.util import StateLog, encode, pattern, save, wait_until


@pytest.fixture
def lot(tmp_path):
    """img1, img2, img10 (natural order), a text file, a hidden file, a sub-folder image."""
    folder = tmp_path / "lot"
    folder.mkdir()
    for i in (10, 2, 1):
        save(folder / f"img{i}.png", pattern(i))
    (folder / "notes.txt").write_text("not an image")
    save(folder / ".hidden.png", pattern(99))
    (folder / "sub").mkdir()
    save(folder / "sub" / "img3.png", pattern(3))
    return folder


def test_folder_yields_images_in_natural_order_and_ignores_other_files(lot):
    with FolderSource(lot) as src:
        assert src.total == 3
        frames = list(src.frames())
    assert [f.path.name for f in frames] == ["img1.png", "img2.png", "img10.png"]
    assert [f.index for f in frames] == [0, 1, 2]
    for frame, value in zip(frames, (1, 2, 10), strict=True):
        assert frame.ok and frame.error is None
        np.testing.assert_array_equal(frame.image, pattern(value))
    assert src.state is SourceState.FINISHED and src.skipped == [] and src.dropped == 0
    assert src.source_id == f"folder:{lot.absolute()}"


def test_recursive_folder_includes_sub_folders(lot):
    with FolderSource(lot, recursive=True) as src:
        names = [f.path.relative_to(lot).as_posix() for f in src.frames()]
    assert names == ["img1.png", "img2.png", "img10.png", "sub/img3.png"]


def test_unreadable_files_become_error_frames_in_place_and_the_run_goes_on(lot):
    (lot / "img4.png").write_bytes(b"definitely not a png")
    (lot / "img5.jpg").write_bytes(b"")
    (lot / "img6.jpg").write_bytes(encode(pattern(6), "JPEG")[:300])  # truncated copy
    log = StateLog()
    with FolderSource(lot, on_state=log) as src:
        frames = list(src.frames())
    assert [f.path.name for f in frames] == ["img1.png", "img2.png", "img4.png", "img5.jpg", "img6.jpg", "img10.png"]
    bad = {f.path.name: f for f in frames if not f.ok}
    assert set(bad) == {"img4.png", "img5.jpg", "img6.jpg"}
    assert all(f.image is None and "img" in f.error for f in bad.values())
    assert "empty" in bad["img5.jpg"].error
    assert "truncated" in bad["img6.jpg"].error
    assert [(r.path.name, r.reason) for r in src.skipped] == [(n, bad[n].error) for n in sorted(bad)]
    assert log.states == [SourceState.RUNNING, SourceState.FINISHED]
    assert "3 could not be read" in src.message


def test_folder_removed_mid_run_reports_every_remaining_file_as_skipped(tmp_path):
    folder = tmp_path / "usb"
    folder.mkdir()
    for i in range(8):
        save(folder / f"p{i}.png", pattern(i))
    log = StateLog()
    src = FolderSource(folder, buffer_size=1, missing_grace=0.2, on_state=log).open()
    first = [src.read(10), src.read(10)]
    assert all(f is not None and f.ok for f in first)
    shutil.rmtree(folder)
    rest = list(src.frames())  # no exception, no hang
    src.close()
    frames = first + rest
    assert [f.index for f in frames] == list(range(8))  # every file accounted for, in order
    skipped = [f for f in frames if not f.ok]
    assert len(skipped) >= 4  # at most buffer + one in hand were decoded before the removal
    assert all(f.image is None and "disappeared during the run" in f.error and str(folder) in f.error for f in skipped)
    assert [r.path for r in src.skipped] == [f.path for f in skipped]
    assert log.states == [SourceState.RUNNING, SourceState.LOST, SourceState.FINISHED]
    assert "disappeared" in src.message and f"{len(skipped)} image(s) skipped" in src.message


def test_folder_that_comes_back_within_the_grace_time_loses_nothing(tmp_path):
    folder = tmp_path / "share"
    folder.mkdir()
    for i in range(6):
        save(folder / f"p{i}.png", pattern(i))
    log = StateLog()
    src = FolderSource(folder, buffer_size=1, missing_grace=30, on_state=log).open()
    assert src.read(10).ok
    moved = tmp_path / "share-unmounted"
    os.rename(folder, moved)
    rest: list = []
    # keep consuming while the folder is away: frames decoded before the move drain, then the source
    # reaches a file of the missing folder and reports LOST
    consumer = threading.Thread(target=lambda: rest.extend(src.frames()))
    consumer.start()
    log.wait_for(SourceState.LOST)
    os.rename(moved, folder)
    consumer.join(30)
    src.close()
    assert [f.index for f in rest] == list(range(1, 6))
    assert all(f.ok for f in rest) and src.skipped == []
    assert log.states == [SourceState.RUNNING, SourceState.LOST, SourceState.RUNNING, SourceState.FINISHED]


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(SourceError, match="does not exist") as info:
        FolderSource(tmp_path / "nope").open()
    assert isinstance(info.value, InspectorError)
    with pytest.raises(SourceError, match="is a file"):
        FolderSource(save(tmp_path / "a.png", pattern(1))).open()


def test_image_list_keeps_the_given_order_and_reports_missing_files(tmp_path):
    a = save(tmp_path / "a.png", pattern(1))
    b = save(tmp_path / "b.png", pattern(2))
    with ImageListSource([b, tmp_path / "gone.png", a]) as src:
        frames = list(src.frames())
    assert [f.path.name for f in frames] == ["b.png", "gone.png", "a.png"]
    assert [f.ok for f in frames] == [True, False, True]
    assert "does not exist" in frames[1].error and src.state is SourceState.FINISHED


def test_closing_mid_run_stops_promptly(tmp_path):
    for i in range(20):
        save(tmp_path / f"p{i:02d}.png", pattern(i))
    src = FolderSource(tmp_path, buffer_size=2).open()
    wait_until(lambda: src.stats().queued == 2, what="a full buffer")
    src.close(timeout=30)
    assert src.state is SourceState.STOPPED
    assert src.skipped == []  # stopping is not skipping
