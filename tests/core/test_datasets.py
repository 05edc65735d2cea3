"""MVTec AD-layout reader: a tiny layout built here, error cases, and the shared real datasets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from inspector.core.datasets import (
    CategoryData,
    TestItem,
    find_categories,
    load_category,
    select_references,
)
from inspector.core.images import IMAGE_SUFFIXES, load_image, load_mask
from inspector.errors import DatasetError
from tests.conftest import shared_dataset


def _img(path: Path, size=(8, 6)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((size[1], size[0]), np.uint8)).save(path)


def make_category(root: Path, name: str = "widget", n_train: int = 5) -> Path:
    cat = root / name
    for i in range(n_train):
        _img(cat / "train" / "good" / f"{i:03d}.png")
    _img(cat / "test" / "good" / "000.png")
    _img(cat / "test" / "good" / "001.png")
    _img(cat / "test" / "crack" / "001.png")
    _img(cat / "test" / "crack" / "000.png")
    _img(cat / "test" / "scratch" / "000.jpg")
    _img(cat / "ground_truth" / "crack" / "000_mask.png")
    _img(cat / "ground_truth" / "crack" / "001.png")  # plain-stem mask naming is accepted
    (cat / "ground_truth" / "scratch").mkdir(parents=True)  # scratch/000 has no mask
    (cat / "train" / "good" / ".DS_Store").write_bytes(b"junk")
    (cat / "train" / "good" / "._000.png").write_bytes(b"junk")
    (cat / "test" / "crack" / "notes.txt").write_text("not an image")
    (cat / "test" / ".hidden").mkdir()
    return cat


def test_tiny_layout(tmp_path):
    cat = make_category(tmp_path)
    assert find_categories(cat) == [cat]
    assert find_categories(tmp_path) == [cat]
    data = load_category(cat)
    assert isinstance(data, CategoryData)
    assert data.name == "widget" and data.path == cat
    assert [p.name for p in data.train_good] == ["000.png", "001.png", "002.png", "003.png", "004.png"]
    assert [(t.defect_type, t.path.name, t.label) for t in data.test] == [
        ("crack", "000.png", 1),
        ("crack", "001.png", 1),
        ("good", "000.png", 0),
        ("good", "001.png", 0),
        ("scratch", "000.jpg", 1),
    ]
    masks = {(t.defect_type, t.path.name): t.mask_path for t in data.test}
    assert masks[("crack", "000.png")] == cat / "ground_truth" / "crack" / "000_mask.png"
    assert masks[("crack", "001.png")] == cat / "ground_truth" / "crack" / "001.png"
    assert masks[("good", "000.png")] is None
    assert masks[("scratch", "000.jpg")] is None
    assert data.defect_types == ["crack", "scratch"]
    assert [t.path.name for t in data.missing_masks] == ["000.jpg"]
    assert not data.has_masks
    assert all(isinstance(t, TestItem) and t.is_defective == (t.label == 1) for t in data.test)
    assert load_category(cat) == data  # deterministic


def test_root_with_several_categories(tmp_path):
    b = make_category(tmp_path, "bravo")
    a = make_category(tmp_path, "alpha")
    (tmp_path / "README.md").write_text("a dataset")
    (tmp_path / "docs").mkdir()
    assert find_categories(tmp_path) == [a, b]


def test_missing_and_wrong_folders(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        find_categories(tmp_path / "nope")
    with pytest.raises(DatasetError, match="does not exist"):
        load_category(tmp_path / "nope")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(DatasetError, match="is a file, not a folder"):
        find_categories(tmp_path / "file.txt")
    (tmp_path / "photos" / "holiday").mkdir(parents=True)
    with pytest.raises(DatasetError, match=r"neither a category folder.*found: holiday.*train/good"):
        find_categories(tmp_path / "photos")
    with pytest.raises(DatasetError, match=r"has no train/ folder.*<category>/train/good"):
        load_category(tmp_path / "photos")


def test_category_errors(tmp_path):
    cat = make_category(tmp_path)
    for p in (cat / "train" / "good").iterdir():
        p.unlink()
    with pytest.raises(DatasetError, match=r"train/good holds no images"):
        load_category(cat)
    (cat / "train" / "good").rmdir()
    with pytest.raises(DatasetError, match="without train/good"):
        load_category(cat)

    cat2 = make_category(tmp_path, "no_test")
    for p in sorted((cat2 / "test").rglob("*"), reverse=True):
        p.rmdir() if p.is_dir() else p.unlink()
    with pytest.raises(DatasetError, match="holds no test images"):
        load_category(cat2)
    (cat2 / "test").rmdir()
    with pytest.raises(DatasetError, match="has no test/ folder"):
        load_category(cat2)


def test_select_references(tmp_path):
    data = load_category(make_category(tmp_path, n_train=10))
    four = select_references(data, 4)
    assert len(four) == 4 and len(set(four)) == 4 and set(four) <= set(data.train_good)
    assert select_references(data, 4) == four
    assert select_references(data.path, 4) == four
    assert select_references(data, 1) == four[:1]
    assert select_references(data, 2) == four[:2]  # 1 of 2 of 4 shots
    assert select_references(data, 0) == []
    assert sorted(select_references(data, 10)) == data.train_good
    assert any(select_references(data, 4, seed=s) != four for s in range(1, 5))
    # Depends on the file names only: the same names elsewhere give the same choice.
    other = load_category(make_category(tmp_path / "copy", n_train=10))
    assert [p.name for p in select_references(other, 4)] == [p.name for p in four]
    with pytest.raises(DatasetError, match="Asked for 11 reference images but .* has only 10"):
        select_references(data, 11)
    with pytest.raises(ValueError):
        select_references(data, -1)


# ------------------------------------------------------------------------------------- real datasets


def _on_disk(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


@pytest.mark.parametrize(
    ("dataset", "category", "defects"),
    [
        ("magnetic_tile", "magnetic_tile", ["blowhole", "break", "crack", "fray", "uneven"]),
        ("bsdata", "ball_screw", ["pitting"]),
    ],
)
def test_shared_datasets(dataset, category, defects):
    root = shared_dataset(dataset)
    (cat,) = find_categories(root)
    assert cat.name == category
    data = load_category(cat)
    assert data.train_good == _on_disk(cat / "train" / "good")
    assert data.defect_types == defects
    for defect in [*defects, "good"]:
        items = [t for t in data.test if t.defect_type == defect]
        assert [t.path for t in items] == _on_disk(cat / "test" / defect)
        assert all(t.label == (defect != "good") for t in items)
    n_masks = sum(len(_on_disk(cat / "ground_truth" / d)) for d in defects)
    with_mask = [t for t in data.test if t.mask_path is not None]
    assert len(with_mask) == n_masks == sum(t.label for t in data.test)
    assert data.has_masks and not data.missing_masks
    for t in with_mask:  # every defective image has a mask of its own size (headers only: fast)
        with Image.open(t.path) as im, Image.open(t.mask_path) as mask:
            assert im.size == mask.size, t.path
    # Decode a few of each through the station's loaders.
    for t in [*data.test[:: max(1, len(data.test) // 6)], *with_mask[:3]]:
        image = load_image(t.path)
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
        if t.mask_path is not None:
            mask = load_mask(t.mask_path)
            assert mask.shape == image.shape[:2] and mask.dtype == bool
    assert len(select_references(data, 4)) == 4
