"""From what an operator types to a source."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from inspector.sources import (
    FolderSource,
    HotFolderSource,
    ImageListSource,
    SourceError,
    SourceKind,
    SourceSpec,
    VideoSource,
    make_source,
    open_source,
    parse_source_spec,
)
from tests.sources.util import pattern, save


@pytest.fixture
def files(tmp_path):
    image = save(tmp_path / "part.png", pattern(5))
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"")  # parsing looks at the suffix only
    (tmp_path / "notes.txt").write_text("x")
    return tmp_path, image, video


def test_parse_paths(files):
    folder, image, video = files
    assert parse_source_spec(str(folder)) == SourceSpec(SourceKind.FOLDER, folder)
    assert parse_source_spec(folder) == SourceSpec(SourceKind.FOLDER, folder)
    assert parse_source_spec(str(folder), watch=True).kind is SourceKind.HOT_FOLDER
    assert parse_source_spec(f"hot:{folder}") == SourceSpec(SourceKind.HOT_FOLDER, folder)
    assert parse_source_spec(f"watch:{folder}").kind is SourceKind.HOT_FOLDER
    assert parse_source_spec(f"folder:{folder}").kind is SourceKind.FOLDER
    assert parse_source_spec(str(image)) == SourceSpec(SourceKind.IMAGE, image)
    assert parse_source_spec(str(video)) == SourceSpec(SourceKind.VIDEO_FILE, video)
    assert parse_source_spec(f"video:{video}").kind is SourceKind.VIDEO_FILE
    assert parse_source_spec(f"file://{folder}").kind is SourceKind.FOLDER


def test_parse_cameras_and_streams():
    assert parse_source_spec(0) == SourceSpec(SourceKind.CAMERA, 0)
    assert parse_source_spec(" 1 ") == SourceSpec(SourceKind.CAMERA, 1)
    assert parse_source_spec("camera:2") == SourceSpec(SourceKind.CAMERA, 2)
    assert parse_source_spec("/dev/video0") == SourceSpec(SourceKind.CAMERA, "/dev/video0")
    for url in ("rtsp://10.0.0.5/live", "RTSP://cam/1", "http://cam.local/mjpg", "https://x/y", "udp://@:1234"):
        spec = parse_source_spec(url)
        assert spec == SourceSpec(SourceKind.STREAM, url) and spec.kind.is_live
    assert "secret" not in parse_source_spec("rtsp://u:secret@h/live").describe()


@pytest.mark.parametrize(
    "spec, message",
    [
        ("", "No source given"),
        ("ftp://host/x", "Unsupported address"),
        ("camera:front", "not a camera number"),
        ("-1", "Nothing found"),
        ("camera:-1", "not a camera number"),
        ("/no/such/place", "Nothing found at /no/such/place"),
    ],
)
def test_parse_errors_say_what_is_accepted(spec, message):
    with pytest.raises(SourceError, match=message):
        parse_source_spec(spec)


def test_parse_errors_for_files(files):
    folder, image, _ = files
    with pytest.raises(SourceError, match="neither an image nor a video"):
        parse_source_spec(str(folder / "notes.txt"))
    with pytest.raises(SourceError, match="only a folder can be watched"):
        parse_source_spec(str(image), watch=True)
    with pytest.raises(SourceError, match="camera number"):
        parse_source_spec(True)


def test_make_source_builds_the_right_kind(files):
    folder, image, video = files
    assert isinstance(make_source(folder, recursive=True), FolderSource)
    hot = make_source(f"hot:{folder}", include_existing=True)
    assert isinstance(hot, HotFolderSource) and hot.include_existing and not hot.is_live
    assert isinstance(make_source(image), ImageListSource)
    clip = make_source(video)
    assert isinstance(clip, VideoSource) and not clip.is_live
    assert make_source(video, live=True).is_live
    cam = make_source("0", source_id="line-3")
    assert isinstance(cam, VideoSource) and cam.is_live and cam.source_id == "line-3" and cam.uri == 0
    stream = make_source("rtsp://u:pw@cam/live")
    assert stream.is_live and stream.source_id == "stream:rtsp://u:***@cam/live"


def test_open_source_reads_one_image(files):
    _, image, _ = files
    with open_source(str(image)) as src:
        frames = list(src)
    assert len(frames) == 1
    np.testing.assert_array_equal(frames[0].image, pattern(5))


def test_open_source_reads_a_video_written_with_opencv(tmp_path: Path):
    path = tmp_path / "v.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (32, 16))
    for i in range(5):
        writer.write(np.full((16, 32, 3), i * 40, np.uint8))
    writer.release()
    with open_source(path) as src:
        assert [f.index for f in src.frames()] == [0, 1, 2, 3, 4]


def test_open_source_passes_open_errors_through(tmp_path):
    with pytest.raises(SourceError, match="does not exist"):
        open_source(f"hot:{tmp_path / 'missing'}")
