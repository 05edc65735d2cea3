"""The frame buffer's two policies and the Source life cycle."""

from __future__ import annotations

import threading
from datetime import UTC

import pytest

from inspector.errors import InspectorError
from inspector.sources import Frame, FrameBuffer, Source, SourceError, SourceState
from inspector.sources.base import utc_now
from tests.sources.util import StateLog, pattern, wait_until


def _frame(i: int) -> Frame:
    return Frame(image=None, source_id="t", index=i, timestamp=utc_now())


def test_live_buffer_drops_the_oldest_and_counts():
    buf = FrameBuffer(3, drop_oldest=True)
    for i in range(10):
        assert buf.put(_frame(i))
    assert buf.dropped == 7
    assert [buf.get(0).index for _ in range(3)] == [7, 8, 9]
    assert buf.get(0) is None


def test_waiting_buffer_blocks_until_there_is_room_and_drops_nothing():
    buf = FrameBuffer(2, drop_oldest=False)
    buf.put(_frame(0))
    buf.put(_frame(1))
    third_in = threading.Event()

    def producer():
        buf.put(_frame(2))
        third_in.set()

    t = threading.Thread(target=producer)
    t.start()
    assert not third_in.wait(0.1)  # full: the producer waits
    assert buf.get(1).index == 0
    assert third_in.wait(5)
    t.join()
    assert [buf.get(0).index, buf.get(0).index] == [1, 2]
    assert buf.dropped == 0


def test_close_wakes_a_blocked_producer_and_keeps_buffered_frames():
    buf = FrameBuffer(1, drop_oldest=False)
    buf.put(_frame(0))
    result = []
    t = threading.Thread(target=lambda: result.append(buf.put(_frame(1))))
    t.start()
    buf.close()
    t.join(5)
    assert result == [False]
    assert not buf.drained
    assert buf.get(0).index == 0
    assert buf.drained and buf.get(None) is None


class _Counting(Source):
    def __init__(self, n: int, fail_at: int | None = None, **kw):
        super().__init__("count", live=False, buffer_size=2, **kw)
        self.n, self.fail_at = n, fail_at

    def _setup(self) -> None:
        pass

    def _run_loop(self) -> None:
        for i in range(self.n):
            if i == self.fail_at:
                raise RuntimeError("sensor on fire")
            if not self._emit(pattern(i)):
                return


def test_source_delivers_everything_then_finishes():
    log = StateLog()
    with _Counting(5, on_state=log) as src:
        frames = list(src.frames())
    assert [f.index for f in frames] == [0, 1, 2, 3, 4]
    assert all(f.ok and f.timestamp.tzinfo is UTC for f in frames)
    assert log.states == [SourceState.RUNNING, SourceState.FINISHED]
    assert src.exhausted and src.stats().delivered == 5


def test_a_crash_in_the_loop_is_an_error_state_and_a_source_error_for_the_consumer():
    log = StateLog()
    src = _Counting(5, fail_at=3, on_state=log).open()
    got = []
    with pytest.raises(SourceError, match="sensor on fire") as info:
        for frame in src.frames():
            got.append(frame.index)
    assert isinstance(info.value, InspectorError)
    assert got == [0, 1, 2]  # frames before the failure are not lost
    assert src.state is SourceState.ERROR and "sensor on fire" in src.error
    assert log.states[-1] is SourceState.ERROR
    src.close()
    assert src.state is SourceState.ERROR  # a final state is never left


def test_stop_ends_a_blocked_producer_and_is_a_stopped_state():
    src = _Counting(1000).open()
    wait_until(lambda: src.stats().queued == 2, what="a full buffer")
    src.close(timeout=30)
    assert src.state is SourceState.STOPPED
    assert src._thread is not None and not src._thread.is_alive()


def test_a_failing_state_callback_does_not_break_the_source():
    def boom(event):
        raise ValueError("UI bug")

    with _Counting(3, on_state=boom) as src:
        assert len(list(src.frames())) == 3


def test_sources_are_single_use():
    src = _Counting(1).open()
    src.close()
    with pytest.raises(RuntimeError):
        src.open()
