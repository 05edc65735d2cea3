"""Content-addressed artifact files: naming, dedupe, exact round trips and atomic writes."""

from __future__ import annotations

import errno
import hashlib
import os

import numpy as np
import pytest
from PIL import Image

from inspector.store import ArtifactStore, DiskFullError, StoreError, sha256_file


@pytest.fixture
def arts(tmp_path) -> ArtifactStore:
    return ArtifactStore(tmp_path / "artifacts")


def _image_file(path, seed=0, size=(640, 480)):
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return path


def _heatmap(seed=0, shape=(240, 320)):
    rng = np.random.default_rng(seed)
    return (rng.random(shape) * 3.0 - 0.5).astype(np.float32)


def test_files_are_named_by_their_content_hash(arts, tmp_path):
    src = _image_file(tmp_path / "Part_01.PNG")
    key = arts.save_image_copy(src)
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    assert key == f"{digest[:2]}/{digest}.png" and digest == sha256_file(src)
    assert arts.path(key).read_bytes() == src.read_bytes() and arts.verify(key)


def test_the_same_content_is_stored_once(arts, tmp_path):
    a = _image_file(tmp_path / "a.png")
    b = tmp_path / "copy-of-a.png"
    b.write_bytes(a.read_bytes())
    c = _image_file(tmp_path / "c.png", seed=1)
    keys = [arts.save_image_copy(p) for p in (a, b, c)]
    assert keys[0] == keys[1] != keys[2]
    stored = [p for p in arts.root.rglob("*") if p.is_file()]
    assert len(stored) == 2  # and no temporary files left behind


def test_heatmaps_round_trip_exactly_and_deduplicate(arts):
    heat = _heatmap()
    key = arts.save_heatmap(heat)
    assert key.endswith(".npy.gz") and arts.verify(key)
    back = arts.load_heatmap(key)
    assert back.dtype == np.float32 and np.array_equal(back, heat)
    assert arts.save_heatmap(heat.copy()) == key  # same map, same bytes, same file
    assert arts.save_heatmap(_heatmap(seed=1)) != key


def test_compact_heatmaps_stay_within_a_16_bit_step(arts):
    heat = _heatmap()
    key = arts.save_heatmap(heat, compact=True)
    back = arts.load_heatmap(key)
    assert back.shape == heat.shape and back.dtype == np.float32
    step = (heat.max() - heat.min()) / 65535
    assert np.abs(back - heat).max() <= step  # half a step of rounding, plus float error
    assert arts.path(key).stat().st_size < arts.path(arts.save_heatmap(heat)).stat().st_size
    flat = arts.load_heatmap(arts.save_heatmap(np.full((8, 8), 0.25, np.float32), compact=True))
    assert np.array_equal(flat, np.full((8, 8), 0.25, np.float32))


def test_bad_heatmaps_are_refused(arts):
    with pytest.raises(ValueError, match="2-D"):
        arts.save_heatmap(np.zeros((3, 4, 4), np.float32))
    with pytest.raises(ValueError, match="NaN"):
        arts.save_heatmap(np.array([[0.0, np.nan]], np.float32))


def test_thumbnails_fit_in_256_pixels_and_keep_the_aspect(arts, tmp_path):
    for source in (_image_file(tmp_path / "wide.png", size=(1200, 300)), np.zeros((900, 600, 3), np.uint8)):
        key = arts.save_thumbnail(source)
        with Image.open(arts.path(key)) as thumb:
            assert thumb.format == "JPEG" and max(thumb.size) == 256
            w, h = thumb.size
        assert (w, h) in ((256, 64), (171, 256))
    with pytest.raises(StoreError, match="thumbnail"):
        arts.save_thumbnail(tmp_path / "missing.png")


def test_keys_cannot_escape_the_artifact_folder(arts):
    for bad in ("../../etc/passwd", "ab/../../x.png", "zz/" + "0" * 64 + ".png", "ab/ab" + "0" * 62):
        with pytest.raises(ValueError):
            arts.path(bad)


def test_a_failed_write_leaves_no_file_under_the_key(arts, monkeypatch):
    data = b"heatmap bytes"
    key = ArtifactStore.key_for(hashlib.sha256(data).hexdigest(), ".bin")

    def disk_full(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)  # fails after the bytes were written to the temp file
    with pytest.raises(DiskFullError, match="full"):
        arts.put_bytes(data, ".bin")
    monkeypatch.undo()
    assert not arts.exists(key)
    assert [p for p in arts.root.rglob("*") if p.is_file()] == []  # the temporary file was removed
    assert arts.put_bytes(data, ".bin") == key and arts.path(key).read_bytes() == data


def test_a_failed_copy_leaves_no_file_under_the_key(arts, tmp_path, monkeypatch):
    src = _image_file(tmp_path / "a.png")
    real_replace = os.replace

    def read_only(*_args):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(os, "replace", read_only)
    with pytest.raises(StoreError, match="read-only"):
        arts.save_image_copy(src)
    monkeypatch.setattr(os, "replace", real_replace)
    assert [p for p in arts.root.rglob("*") if p.is_file()] == []


def test_stale_temporary_files_are_cleaned_up(arts):
    arts.put_bytes(b"x", ".bin")
    stale = arts.root / "ab" / ".tmp-crashed"
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(b"half")
    fresh = arts.root / ".tmp-in-progress"
    fresh.write_bytes(b"writing")
    os.utime(stale, (0, 0))
    assert arts.remove_stale_temp_files(older_than_s=3600) == 1
    assert not stale.exists() and fresh.exists()


def test_a_damaged_file_fails_verification(arts):
    key = arts.put_bytes(b"original", ".bin")
    arts.path(key).write_bytes(b"tampered")
    assert not arts.verify(key)
