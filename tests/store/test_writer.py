"""The database thread: batching, ordering, reporting errors, and flushing on close."""

from __future__ import annotations

import threading

import pytest

from inspector.store import NotFoundError, StoreError, StoreWriter, Verdict

from .conftest import make_items


def test_futures_complete_once_the_inspection_is_committed(store, recipe):
    writer = StoreWriter(store)
    try:
        items = make_items(300, recipe.id)
        futures = [writer.add(item) for item in items]
        results = [f.result(timeout=10) for f in futures]
        assert [r.id for r in results] == [i.id for i in items]
        assert not any(r.duplicate for r in results)
        assert store.count() == 300
        again = writer.add(items[0]).result(timeout=10)
        assert again.duplicate and again.id == items[0].id
    finally:
        writer.close()


def test_parts_queued_during_a_commit_go_into_one_batch(store, recipe):
    batches: list[int] = []
    real = store.add_inspections
    gate, entered = threading.Event(), threading.Event()

    def recording(batch):
        batches.append(len(batch))
        entered.set()
        gate.wait(5)
        return real(batch)

    store.add_inspections = recording
    writer = StoreWriter(store, max_batch=1000)
    try:
        items = make_items(501, recipe.id)
        first = writer.add(items[0])  # the thread takes this one alone and blocks in the commit
        assert entered.wait(5)
        futures = [writer.add(item) for item in items[1:]]
        gate.set()
        first.result(timeout=10)
        for f in futures:
            f.result(timeout=10)
    finally:
        writer.close()
    assert batches[0] == 1 and sum(batches) == 501 and len(batches) <= 3


def test_calls_run_in_order_after_earlier_inspections(store, recipe):
    with_writer = StoreWriter(store)
    try:
        item = make_items(1, recipe.id, verdicts=(Verdict.FAIL,))[0]
        with_writer.add(item)
        override = with_writer.call(lambda s: s.add_override(item.id, "Ana", Verdict.PASS))
        assert override.result(timeout=10).previous_verdict == Verdict.FAIL
    finally:
        with_writer.close()
    assert store.get(item.id).effective_verdict == Verdict.PASS


def test_errors_reach_the_future_and_the_error_handler(store, recipe):
    reported: list[BaseException] = []
    writer = StoreWriter(store, on_error=reported.append)
    try:
        bad = writer.add(make_items(1, "no-such-recipe-version")[0])
        with pytest.raises(NotFoundError):
            bad.result(timeout=10)
        good = writer.add(make_items(1, recipe.id)[0])  # the thread keeps going
        assert not good.result(timeout=10).duplicate
    finally:
        writer.close()
    assert len(reported) == 1 and isinstance(reported[0], NotFoundError)


def test_close_commits_everything_already_queued(store, recipe):
    writer = StoreWriter(store)
    futures = [writer.add(item) for item in make_items(2000, recipe.id)]
    writer.close(timeout=30)
    assert not writer.running
    assert all(f.done() and not f.exception() for f in futures)
    assert store.count() == 2000
    with pytest.raises(StoreError, match="stopped"):
        writer.add(make_items(1, recipe.id, start=5000)[0])
    writer.close()  # twice is fine
