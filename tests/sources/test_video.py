"""Video files written by the test with OpenCV, and a simulated camera that drops and comes back."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from inspector.sources import SourceError, SourceState, VideoSource
from inspector.sources.video import describe_uri, redact_url, to_rgb
from tests.sources.util import StateLog, wait_until

N_FRAMES = 30
SIZE = (48, 64)  # rows, columns


def bgr_frame(i: int) -> np.ndarray:
    """Frame ``i`` as OpenCV writes it: blue encodes the frame number, red is constant."""
    frame = np.zeros((*SIZE, 3), np.uint8)
    frame[..., 0] = i * 8  # blue
    frame[..., 1] = 60
    frame[..., 2] = 220  # red
    return frame


def frame_number(rgb: np.ndarray) -> int:
    """Read the frame number back from an RGB frame (checks the BGR -> RGB conversion too)."""
    r, g, b = (float(np.median(rgb[..., c])) for c in range(3))
    assert abs(r - 220) <= 6 and abs(g - 60) <= 6, f"not RGB order: {r}, {g}, {b}"
    return round(b / 8)


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("video") / "line.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (SIZE[1], SIZE[0]))
    assert writer.isOpened(), "this OpenCV build cannot write MJPG .avi"
    for i in range(N_FRAMES):
        writer.write(bgr_frame(i))
    writer.release()
    return path


def test_video_file_is_read_in_order_with_no_drops(video):
    log = StateLog()
    src = VideoSource(video, buffer_size=2, on_state=log)
    assert not src.is_live
    frames = []
    with src:
        assert src.total == N_FRAMES
        for frame in src.frames():
            if len(frames) < 5:
                time.sleep(0.02)  # a slow consumer: the reader waits
            frames.append(frame)
    assert [f.index for f in frames] == list(range(N_FRAMES))
    assert [frame_number(f.image) for f in frames] == list(range(N_FRAMES))
    assert all(f.ok and f.image.shape == (*SIZE, 3) and f.image.dtype == np.uint8 for f in frames)
    assert all(f.path == video.absolute() for f in frames)
    assert src.dropped == 0 and src.fps == pytest.approx(30.0)
    assert log.states == [SourceState.RUNNING, SourceState.FINISHED]
    assert f"{N_FRAMES} frame(s) read" in src.message and "damaged" not in src.message


def test_video_file_read_live_keeps_only_the_newest_frames(video):
    log = StateLog()
    src = VideoSource(video, live=True, realtime=False, buffer_size=3, on_state=log).open()
    log.wait_for(SourceState.FINISHED)  # nobody consumed while the whole file was read
    frames = list(src.frames())
    src.close()
    assert [f.index for f in frames] == [27, 28, 29]
    assert [frame_number(f.image) for f in frames] == [27, 28, 29]
    assert src.dropped == 27


def test_video_file_read_live_plays_at_its_frame_rate(video):
    src = VideoSource(video, live=True, buffer_size=N_FRAMES)
    assert src.realtime
    start = time.monotonic()
    with src:
        frames = list(src.frames())
    assert len(frames) == N_FRAMES and src.dropped == 0
    assert time.monotonic() - start >= (N_FRAMES - 1) / 30.0 * 0.9


def test_unreadable_video_files_are_clear_errors(tmp_path):
    with pytest.raises(SourceError, match="does not exist"):
        VideoSource(tmp_path / "missing.avi").open()
    junk = tmp_path / "junk.avi"
    junk.write_bytes(b"not a video" * 100)
    with pytest.raises(SourceError, match="not a video this station can read"):
        VideoSource(junk).open()


class FakeCamera:
    """A camera the test can unplug and plug in again; frame n carries n in its pixels."""

    def __init__(self) -> None:
        self.online = True
        self.produced = 0
        self.opens = 0
        self.lock = threading.Lock()

    def factory(self, uri: int | str) -> FakeCapture:
        assert uri == 0
        with self.lock:
            self.opens += 1
        return FakeCapture(self, opened=self.online)


class FakeCapture:
    def __init__(self, camera: FakeCamera, opened: bool) -> None:
        self.camera, self.opened = camera, opened

    def isOpened(self) -> bool:  # noqa: N802 - OpenCV's name
        return self.opened

    def read(self) -> tuple[bool, np.ndarray | None]:
        time.sleep(0.002)  # a 500 fps camera
        cam = self.camera
        if not (self.opened and cam.online):
            return False, None
        with cam.lock:
            n = cam.produced
            cam.produced += 1
        frame = np.zeros((4, 4, 3), np.uint8)
        frame[..., 0] = n % 256  # blue: low byte
        frame[..., 1] = n // 256 % 256  # green: high byte
        frame[..., 2] = 255  # red
        return True, frame

    def get(self, prop_id: int) -> float:
        return 0.0

    def release(self) -> None:
        self.opened = False


def fake_number(rgb: np.ndarray) -> int:
    assert rgb[0, 0, 0] == 255  # red came out first: BGR was converted
    return int(rgb[0, 0, 1]) * 256 + int(rgb[0, 0, 2])


def test_live_camera_falling_behind_keeps_the_newest_frames():
    camera = FakeCamera()
    with VideoSource(0, buffer_size=2, capture_factory=camera.factory) as src:
        assert src.is_live
        first = src.read(timeout=10)
        wait_until(lambda: camera.produced >= first.index + 100, what="the camera to run ahead")
        produced = camera.produced
        frame = src.read(timeout=10)
        assert frame.index >= produced - 3  # only the newest frames were kept
        assert src.dropped >= 90
        for f in (first, frame):
            assert fake_number(f.image) == f.index  # index counts camera frames: gaps are drops


def test_camera_that_drops_out_is_lost_then_reconnects_and_frames_resume():
    camera = FakeCamera()
    log = StateLog()
    src = VideoSource(
        0, capture_factory=camera.factory, lost_after=0.05, reconnect_delays=(0.01, 0.02), buffer_size=4, on_state=log
    )
    with src:
        assert src.read(timeout=10).ok
        camera.online = False  # cable pulled
        lost = log.wait_for(SourceState.LOST)
        assert "camera 0 lost" in lost.message.lower()
        log.wait_for(SourceState.RECONNECTING)
        wait_until(lambda: camera.opens >= 4, what="several reconnect attempts")
        assert src.state is SourceState.RECONNECTING
        while src.read(timeout=0) is not None:
            pass  # frames from before the drop
        before = camera.produced
        camera.online = True  # plugged in again
        back = log.wait_for(SourceState.RUNNING, after=log.events.index(lost))
        assert "is back" in back.message
        frame = src.read(timeout=10)
        assert frame.ok and fake_number(frame.image) >= before
        assert fake_number(frame.image) == frame.index
    assert log.states == [
        SourceState.RUNNING,
        SourceState.LOST,
        SourceState.RECONNECTING,
        SourceState.RUNNING,
        SourceState.STOPPED,
    ]
    assert src.reconnects == 1


def test_camera_that_never_comes_back_ends_in_an_error_after_the_attempts():
    camera = FakeCamera()
    log = StateLog()
    src = VideoSource(
        0,
        capture_factory=camera.factory,
        lost_after=0.05,
        reconnect_delays=(0.01,),
        max_reconnect_attempts=3,
        on_state=log,
    ).open()
    assert src.read(timeout=10).ok
    camera.online = False
    with pytest.raises(SourceError, match="no frames after 3 reconnect attempt"):
        for _ in src.frames():
            pass
    src.close()
    assert src.state is SourceState.ERROR and camera.opens == 4
    assert log.states[-3:] == [SourceState.LOST, SourceState.RECONNECTING, SourceState.ERROR]


def test_camera_that_cannot_be_opened_is_a_clear_error():
    camera = FakeCamera()
    camera.online = False
    with pytest.raises(SourceError, match="Cannot open camera 0. Check that it is connected"):
        VideoSource(0, capture_factory=camera.factory).open()


def test_close_stops_a_live_camera_promptly():
    camera = FakeCamera()
    src = VideoSource(0, capture_factory=camera.factory).open()
    assert src.read(timeout=10).ok
    src.close(timeout=5)
    assert src.state is SourceState.STOPPED and not src._thread.is_alive()


def test_frame_conversions():
    gray = np.full((2, 2), 7, np.uint8)
    assert to_rgb(gray).shape == (2, 2, 3) and (to_rgb(gray) == 7).all()
    bgra = np.zeros((2, 2, 4), np.uint8)
    bgra[..., 0] = 200
    assert to_rgb(bgra)[0, 0].tolist() == [0, 0, 200]
    deep = np.full((2, 2, 3), 0xAB00, np.uint16)
    assert to_rgb(deep).dtype == np.uint8 and (to_rgb(deep) == 0xAB).all()


def test_stream_passwords_are_never_shown():
    url = "rtsp://admin:s3cret@10.0.0.5:554/live"
    assert redact_url(url) == "rtsp://admin:***@10.0.0.5:554/live"
    src = VideoSource(url, capture_factory=lambda uri: FakeCapture(FakeCamera(), opened=False))
    assert src.is_live and "s3cret" not in src.source_id and "s3cret" not in src.name
    with pytest.raises(SourceError) as info:
        src.open()
    assert "s3cret" not in str(info.value)
    assert describe_uri(0) == "camera 0" and describe_uri("/dev/video2") == "camera /dev/video2"


def test_video_frames_carry_their_time_and_are_sampled_at_the_asked_rate(video):
    with VideoSource(video) as src:
        every = list(src.frames())
    assert [f.media_time_s for f in every] == pytest.approx([i / 30.0 for i in range(N_FRAMES)])
    with VideoSource(video, sample_fps=4.0) as src:
        sampled = list(src.frames())
    # 30 fps sampled at 4 per second: frames at 0, 0.25, 0.5, 0.75 s ... (the first frame at or after each step)
    assert [f.index for f in sampled] == [0, 8, 15, 23]
    assert [frame_number(f.image) for f in sampled] == [0, 8, 15, 23]
    assert [f.media_time_s for f in sampled] == pytest.approx([0.0, 8 / 30, 0.5, 23 / 30])
    with pytest.raises(SourceError, match="sampling rate"):
        VideoSource(video, sample_fps=-1)
