"""The image that is scored is the image whose hash, thumbnail and copy are stored, even when the
file is replaced while it is being read; the review screen and the report then show the stored
image and say "file changed since inspection"."""

from __future__ import annotations

import hashlib
import os

import numpy as np
from PIL import Image

from inspector.pipeline import InspectionPipeline, PartStatus
from inspector.sources import FolderSource
from inspector.store import InspectionFilter
from inspector.store.part_image import CHANGED, part_image
from tests.helpers import write_parts
from tests.pipeline.test_pipeline import setup  # noqa: F401 - the fixture


class ReplacedAfterReading(FolderSource):
    """A folder source whose file is replaced by another image right after it was read: the
    moment the red-team pass hit by timing, made certain here."""

    def __init__(self, folder, replacement: bytes) -> None:
        super().__init__(folder)
        self.replacement = replacement

    def _emit(self, image, **kwargs):
        path = kwargs.get("path")
        delivered = super()._emit(image, **kwargs)
        if path is not None:
            tmp = path.with_name(".swap")
            tmp.write_bytes(self.replacement)
            os.replace(tmp, path)  # the camera PC overwrites the file with the next part
        return delivered


def test_a_file_replaced_while_read_is_stored_as_the_image_that_was_scored(tmp_path, setup):  # noqa: F811
    recipe, detector, store = setup
    (original,) = write_parts(tmp_path / "lot", 1, defect_every=1)  # a flagged part: its copy is kept
    first = original.read_bytes()
    other = tmp_path / "other.png"
    Image.fromarray(np.full((80, 96, 3), 200, np.uint8)).save(other)
    results = []
    pipeline = InspectionPipeline(
        recipe,
        detector,
        store,
        ReplacedAfterReading(tmp_path / "lot", other.read_bytes()),
        keep_images="all",
        on_result=results.append,
    )
    pipeline.run()
    (record,) = store.query(InspectionFilter())
    assert record.content_hash == hashlib.sha256(first).hexdigest()  # not the new file's hash
    assert store.artifacts.path(record.image_artifact).read_bytes() == first  # nor its copy
    thumb = np.asarray(Image.open(store.artifacts.path(record.thumbnail_artifact)).convert("L"), np.float32)
    assert thumb.std() > 5  # the textured part, not the flat grey image that replaced it

    shown = part_image(store.artifacts.path, record)
    assert shown.kind == "copy" and shown.original_changed and CHANGED in shown.note

    # the file now at the path is a different part: a re-run inspects it, it is not "already inspected"
    again = []
    InspectionPipeline(recipe, detector, store, FolderSource(tmp_path / "lot"), on_result=again.append).run()
    assert [r.status for r in again] == [PartStatus.STORED]
    assert store.count() == 2


def test_without_a_copy_the_review_shows_the_stored_thumbnail_not_the_new_file(tmp_path, setup):  # noqa: F811
    recipe, detector, store = setup
    (path,) = write_parts(tmp_path / "lot", 1, defect_every=0)
    InspectionPipeline(recipe, detector, store, FolderSource(tmp_path / "lot"), keep_images="none").run()
    (record,) = store.query(InspectionFilter())
    assert part_image(store.artifacts.path, record).kind == "original"  # unchanged: the original is shown
    Image.fromarray(np.zeros((80, 96, 3), np.uint8)).save(path)  # replaced after the inspection
    shown = part_image(store.artifacts.path, record)
    assert shown.kind == "thumbnail" and shown.original_changed and CHANGED in shown.note
    path.unlink()
    assert "gone" in part_image(store.artifacts.path, record).note
