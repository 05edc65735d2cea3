"""The review screen shows the stored image of a part and says so when the file changed since."""

from __future__ import annotations

import hashlib

import numpy as np
from PIL import Image

from inspector.store import open_store
from inspector.store.part_image import CHANGED
from inspector.ui.detail_view import DetailView, load_detail
from tests.helpers import failed_part, texture


def test_the_review_screen_shows_the_stored_thumbnail_and_says_the_file_changed(qtbot, tmp_path):
    part = tmp_path / "part_007.png"
    inspected = texture(240, 320, seed=3)
    Image.fromarray(inspected).save(part)
    with open_store(tmp_path / "inspector.db") as store:
        version = store.save_recipe_version("bracket", {"threshold": 0.5})
        heat = np.zeros((24, 32), np.float32)
        heat[8:14, 10:18] = 1.0
        result = store.add_inspections(
            [
                failed_part(
                    hashlib.sha256(part.read_bytes()).hexdigest(),
                    version.id,
                    file_path=str(part),
                    thumbnail_artifact=store.artifacts.save_thumbnail(inspected),
                    heatmap_artifact=store.artifacts.save_heatmap(heat),
                )
            ]
        )
        Image.fromarray(np.full((240, 320, 3), 255, np.uint8)).save(part)  # the next part, same name
        data = load_detail(store, result.ids[0])
    assert CHANGED in data.image_note and "thumbnail" in data.image_note
    assert data.part is not None and float(np.asarray(data.part.image).std()) > 5  # not the white image
    view = DetailView()
    qtbot.addWidget(view)
    view.resize(1000, 700)
    view.show_data(data)
    assert CHANGED in view.image_note.text() and CHANGED in view.fields["File"].text()
    view.grab().save(str(tmp_path / "detail_changed.png"))
