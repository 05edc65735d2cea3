"""Artifacts on the plant store: a shared folder or a real S3-compatible server (moto's server mode).

The forwarder uploads the files a batch names before it commits the batch centrally; a store that is
down holds the records back in the spool; the central report then finds the images.
"""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from inspector.cli import main
from inspector.plant.artifacts import FetchedArtifacts, S3Bucket, SharedFolder
from inspector.plant.forwarder import Forwarder
from inspector.plant.settings import PlantSettingsError, parse_plant_settings
from inspector.store import Verdict, open_store
from tests.store.conftest import make_items

pytestmark = pytest.mark.postgres


def _station_with_artifacts(tmp_path: Path, name: str, n: int = 3):
    """A station whose failed parts have an image copy, a heatmap and a thumbnail each."""
    store = open_store(tmp_path / name / "inspector.db", station=name)
    recipe = store.save_recipe_version("bracket-A", {"object": "bracket", "threshold": 0.5})
    run = store.start_run(source="folder:/parts", recipe_version_id=recipe.id, operator="ana")
    items, keys = [], []
    rng = np.random.default_rng(len(name))
    for i, item in enumerate(make_items(n, recipe.id, run_id=run.id, verdicts=(Verdict.FAIL,))):
        picture = tmp_path / name / f"part{i}.png"
        Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(picture)
        image = store.artifacts.save_image_copy(picture)
        heat = store.artifacts.save_heatmap(rng.random((10, 12), dtype=np.float32))
        thumb = store.artifacts.save_thumbnail(picture)
        keys.append((image, heat, thumb))
        items.append(replace(item, image_artifact=image, heatmap_artifact=heat, thumbnail_artifact=thumb))
    store.add_inspections(items)
    store.finish_run(run.id)
    return store, keys


def _central_keys(url: str) -> set[str]:
    central = open_store(url)
    try:
        records = central.query(limit=1000)
        return {k for r in records for k in (r.image_artifact, r.heatmap_artifact, r.thumbnail_artifact) if k}
    finally:
        central.close()


def test_s3_artifacts_are_uploaded_before_their_records_and_the_central_report_finds_them(
    tmp_path, central_url, s3_server, monkeypatch
):
    store, keys = _station_with_artifacts(tmp_path, "st-s3")
    bucket = s3_server.new_bucket()
    target = S3Bucket(s3_server.settings(bucket, prefix="line-3/"))
    f = Forwarder(store.db, central_url, station="st-s3", artifact_target=target)
    assert f.drain(timeout=120), f.state().describe()

    client = s3_server.client()
    stored = {o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]}
    assert stored == {f"line-3/{k}" for trio in keys for k in trio}
    for key in (k for trio in keys for k in trio):
        body = client.get_object(Bucket=bucket, Key=f"line-3/{key}")["Body"].read()
        assert body == store.artifacts.path(key).read_bytes()
    assert _central_keys(central_url) == {k for trio in keys for k in trio}  # records name the same keys

    # a QA office computer: plant settings name the bucket; the report reads the central database
    cache = tmp_path / "office-cache"
    settings = tmp_path / "plant.json"
    s3 = {
        "bucket": bucket,
        "prefix": "line-3/",
        "endpoint_url": s3_server.endpoint,
        "access_key_id": s3_server.access_key_id,
        "secret_access_key": s3_server.secret_access_key,
        "cache_dir": str(cache),
    }
    settings.write_text(json.dumps({"central": {"url": central_url, "s3": s3}}))
    monkeypatch.setenv("INSPECTOR_PLANT_SETTINGS", str(settings))
    out = tmp_path / "central.html"
    assert main(["report", "--db", central_url, "-f", "html", "-o", str(out), "-q"]) == 0
    html = out.read_text(encoding="utf-8")
    for _image, _heat, thumb in keys:  # the station's own thumbnail JPEG, fetched from the bucket
        assert base64.b64encode(store.artifacts.path(thumb).read_bytes()).decode() in html
    assert "image not kept" not in html and "no heatmap" not in html and "heatmap unreadable" not in html
    assert {p.name for p in cache.rglob("*") if p.is_file()} >= {Path(k).name for _i, _h, k in keys}
    store.close()


def test_an_s3_server_that_is_down_holds_the_records_back_and_loses_nothing(tmp_path, central_url, s3_server):
    store, keys = _station_with_artifacts(tmp_path, "st-down", n=4)
    bucket = s3_server.new_bucket()
    s3_server.stop()
    target = S3Bucket(s3_server.settings(bucket), connect_timeout_s=2)
    f = Forwarder(store.db, central_url, station="st-down", artifact_target=target, retry_s=(0.05, 0.2))
    assert not f.drain(timeout=1)
    state = f.state()
    assert "Cannot reach the artifact store" in state.describe() and "Nothing is lost" in state.describe()
    assert state.waiting > 0
    assert _central_keys(central_url) == set()  # no record names an artifact the plant store lacks

    s3_server.start()  # same port, same bucket (the server keeps its objects)
    assert f.drain(timeout=120), f.state().describe()
    assert f.state().up_to_date
    assert _central_keys(central_url) == {k for trio in keys for k in trio}
    client = s3_server.client()
    assert len(client.list_objects_v2(Bucket=bucket)["Contents"]) == 12
    store.close()


def test_a_missing_bucket_is_a_plain_message(tmp_path, central_url, s3_server):
    store, _keys = _station_with_artifacts(tmp_path, "st-nobucket", n=1)
    f = Forwarder(
        store.db,
        central_url,
        station="st-nobucket",
        artifact_target=S3Bucket(s3_server.settings("no-such-bucket")),
        retry_s=(0.05, 0.1),
    )
    assert not f.drain(timeout=1)
    assert "has no bucket 'no-such-bucket'" in f.state().error
    assert _central_keys(central_url) == set()
    store.close()


def test_shared_folder_backend_and_the_reader_cache(tmp_path, central_url):
    store, keys = _station_with_artifacts(tmp_path, "st-share", n=2)
    shared = tmp_path / "share"
    f = Forwarder(store.db, central_url, station="st-share", artifact_target=SharedFolder(shared))
    assert f.drain(timeout=120)
    for key in (k for trio in keys for k in trio):
        assert (shared / key).read_bytes() == store.artifacts.path(key).read_bytes()
    # a reader's cache over the folder fetches on first use and refuses a damaged copy
    reader = FetchedArtifacts(tmp_path / "cache", SharedFolder(shared))
    image, heat, _thumb = keys[0]
    assert reader.load_heatmap(heat).shape == (10, 12)
    (shared / keys[1][0]).write_bytes(b"not the image")
    assert not reader.exists(keys[1][0])
    assert reader.path(image).read_bytes() == store.artifacts.path(image).read_bytes()
    store.close()


def test_s3_settings_and_their_mistakes():
    s = parse_plant_settings(
        {"central": {"url": "postgresql://u:p@db/x", "s3": {"bucket": "b", "endpoint_url": "http://minio:9000"}}}
    )
    assert s.central.s3.bucket == "b" and s.central.s3.endpoint_url == "http://minio:9000"
    for bad, message in (
        ({"url": "postgresql://db/x", "s3": {"bucket": "b"}, "shared_artifacts": "/mnt/a"}, "not both"),
        ({"url": "postgresql://db/x", "s3": {"bukket": "b"}}, "unknown s3 setting"),
        ({"url": "postgresql://db/x", "s3": {"bucket": "b", "access_key_id": "k"}}, "go together"),
        ({"url": "postgresql://db/x", "s3": "b"}, "must be a JSON object"),
    ):
        with pytest.raises(PlantSettingsError, match=message):
            parse_plant_settings({"central": bad})
