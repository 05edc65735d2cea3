"""Reading labelled image folders in MVTec AD layout.

A *category* folder holds::

    <category>/train/good/*.png                      normal parts (few-shot references)
    <category>/test/good/*.png                       normal test parts (label 0, no mask)
    <category>/test/<defect>/*.png                   defective test parts (label 1)
    <category>/ground_truth/<defect>/<stem>_mask.png  their masks (``<stem>.png`` is accepted too)

A *dataset root* is a category folder itself or a folder of category folders (the MVTec AD download).
Listings are sorted by name, so every run sees the same order. Hidden files and files whose suffix is
not an image suffix are ignored. A defective test image without a mask file gets ``mask_path=None``
(image-level labels only); :attr:`CategoryData.missing_masks` lists them so that pixel metrics can
be skipped rather than computed against a wrong, empty mask.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from inspector.core.images import IMAGE_SUFFIXES, is_image_file
from inspector.errors import DatasetError

GOOD = "good"

_LAYOUT = (
    "expected the MVTec AD layout <category>/train/good/<images>, <category>/test/<defect or good>/<images> "
    "and <category>/ground_truth/<defect>/<name>_mask.png"
)


@dataclass(frozen=True)
class TestItem:
    """One labelled test image.

    Attributes:
        path: The image file.
        defect_type: Name of its ``test/`` sub-folder: ``good`` or the defect, e.g. ``crack``.
        label: 0 for a good part, 1 for a defective one.
        mask_path: Ground-truth mask of a defective part; None for good parts (all normal) and for
            defective parts that have no mask file.
    """

    __test__ = False  # not a pytest test class

    path: Path
    defect_type: str
    label: int
    mask_path: Path | None = None

    @property
    def is_defective(self) -> bool:
        return self.label == 1


@dataclass(frozen=True)
class CategoryData:
    """One category of an MVTec AD-layout dataset.

    Attributes:
        name: The category folder's name, e.g. ``magnetic_tile``.
        train_good: Normal training images (few-shot reference candidates), sorted.
        test: Test images, sorted by defect type and then file name.
        path: The category folder.
    """

    name: str
    train_good: list[Path]
    test: list[TestItem]
    path: Path

    @property
    def defect_types(self) -> list[str]:
        """Sorted defect types among the test images, without ``good``."""
        return sorted({t.defect_type for t in self.test if t.defect_type != GOOD})

    @property
    def missing_masks(self) -> list[TestItem]:
        """Defective test images without a mask file."""
        return [t for t in self.test if t.label == 1 and t.mask_path is None]

    @property
    def has_masks(self) -> bool:
        """True when every defective test image has a mask (pixel metrics are meaningful)."""
        return any(t.label == 1 for t in self.test) and not self.missing_masks


def is_category(path: str | Path) -> bool:
    """True when ``path`` looks like a category folder (it has a ``train`` or ``test`` sub-folder)."""
    path = Path(path)
    return (path / "train").is_dir() or (path / "test").is_dir()


def find_categories(root: str | Path) -> list[Path]:
    """Category folders under a dataset root, sorted by name; ``[root]`` when root is a category.

    Raises:
        DatasetError: ``root`` does not exist, is not a folder, or holds no category folder.
    """
    root = Path(root).expanduser()
    _require_dir(root, "Dataset folder")
    if is_category(root):
        return [root]
    categories = [p for p in _subdirs(root) if is_category(p)]
    if not categories:
        found = ", ".join(p.name for p in _subdirs(root)[:10]) or "no sub-folders"
        raise DatasetError(
            f"{root} is neither a category folder (with train/ and test/ sub-folders) nor a folder of "
            f"category folders (found: {found}); {_LAYOUT}."
        )
    return categories


def load_category(category_dir: str | Path) -> CategoryData:
    """List the images, labels and masks of one category folder.

    Raises:
        DatasetError: The folder is missing, is not in MVTec AD layout (the message says what was
            expected), or has no ``train/good`` images or no test images.
    """
    category = Path(category_dir).expanduser()
    _require_dir(category, "Category folder")
    train_dir, test_dir, gt_dir = category / "train", category / "test", category / "ground_truth"
    good_dir = train_dir / GOOD
    if not good_dir.is_dir():
        what = "a train/ folder without train/good" if train_dir.is_dir() else "no train/ folder"
        raise DatasetError(f"Category folder {category} has {what}; {_LAYOUT}.")
    train_good = _images(good_dir)
    if not train_good:
        raise DatasetError(
            f"{good_dir} holds no images of a normal part ({', '.join(IMAGE_SUFFIXES)}); "
            "at least one good training image is needed."
        )
    if not test_dir.is_dir():
        raise DatasetError(f"Category folder {category} has no test/ folder; {_LAYOUT}.")
    test: list[TestItem] = []
    for defect_dir in _subdirs(test_dir):
        defect = defect_dir.name
        label = 0 if defect == GOOD else 1
        for image in _images(defect_dir):
            mask = None if label == 0 else _mask_for(gt_dir / defect, image)
            test.append(TestItem(path=image, defect_type=defect, label=label, mask_path=mask))
    if not test:
        raise DatasetError(
            f"{test_dir} holds no test images: expected sub-folders named good or after a defect, "
            f"with images in them; {_LAYOUT}."
        )
    return CategoryData(name=category.name, train_good=train_good, test=test, path=category)


def select_references(category: CategoryData | str | Path, k: int, seed: int = 0) -> list[Path]:
    """Pick ``k`` good training images as few-shot references, deterministically.

    The images are ranked by a hash of ``(seed, file name)``: the choice depends only on the seed
    and the file names - not on the platform, the Python/NumPy version or the files added later -
    and the references for ``k`` are the first ``k`` of those for any larger ``k`` (1 of 2 of 4 shots).

    Raises:
        ValueError: ``k`` is negative.
        DatasetError: The category has fewer than ``k`` good training images.
    """
    data = category if isinstance(category, CategoryData) else load_category(category)
    if k < 0:
        raise ValueError(f"the number of references must be >= 0, not {k}")
    if k > len(data.train_good):
        raise DatasetError(
            f"Asked for {k} reference images but {data.path / 'train' / GOOD} has only {len(data.train_good)}."
        )

    def rank(path: Path) -> tuple[bytes, str]:
        return hashlib.sha256(f"{seed}/{path.name}".encode()).digest(), path.name

    return sorted(data.train_good, key=rank)[:k]


def _require_dir(path: Path, what: str) -> None:
    if not path.exists():
        raise DatasetError(f"{what} {path} does not exist.")
    if not path.is_dir():
        raise DatasetError(f"{what} {path} is a file, not a folder; {_LAYOUT}.")


def _subdirs(path: Path) -> list[Path]:
    folders = (p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    return sorted(folders, key=lambda p: p.name)


def _images(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir() if p.is_file() and is_image_file(p)), key=lambda p: p.name)


def _mask_for(gt_defect_dir: Path, image: Path) -> Path | None:
    for name in (f"{image.stem}_mask.png", f"{image.stem}.png"):
        candidate = gt_defect_dir / name
        if candidate.is_file():
            return candidate
    return None
