"""The station session: one store, one writer thread, a cached detector and typed notifications."""

from __future__ import annotations

import threading

import pytest

from inspector.core.types import Verdict
from inspector.errors import SourceError
from inspector.pipeline import (
    DetectorReady,
    Notification,
    OverrideWritten,
    PartNotStored,
    PartStatus,
    PartStored,
    RunRequest,
    RunState,
    RunStateChanged,
    SessionConfig,
    open_session,
)
from inspector.sources import SourceKind, SourceSpec
from tests.helpers import bracket_recipe, write_parts


@pytest.fixture
def recipe(tmp_path, tiny_registry):
    return bracket_recipe(tmp_path / "ref.png")


@pytest.fixture
def session(tmp_path, tiny_registry):
    loads = []

    def factory(recipe, **options):
        from inspector.detectors.factory import detector_for_recipe

        loads.append(recipe.name)
        return detector_for_recipe(recipe, **options)

    config = SessionConfig(
        database=tmp_path / "data" / "inspector.db",
        device="cpu",
        dtype="float32",
        random_weights=True,
        detector_factory=factory,
    )
    with open_session(config) as opened:
        opened.loads = loads
        yield opened


def folder(path) -> SourceSpec:
    return SourceSpec(SourceKind.FOLDER, path)


def test_a_run_publishes_each_part_after_its_commit_on_the_one_writer_thread(tmp_path, session, recipe):
    write_parts(tmp_path / "parts", 6)
    notes: list[Notification] = []
    committed: list[bool] = []
    threads: set[str] = set()
    writers: list[int] = []

    def on_part(note) -> None:
        threads.add(threading.current_thread().name)
        writers.append(sum(t.name == "inspector-db" for t in threading.enumerate()))  # every StoreWriter's name
        committed.append(session.store.get(note.result.inspection_id).score == note.result.score)
        notes.append(note)

    session.subscribe(on_part, PartStored)
    states = []
    session.subscribe(lambda note: states.append(note.state), RunStateChanged)
    ready = []
    session.subscribe(ready.append, DetectorReady)
    summary = session.run(RunRequest(recipe, folder(tmp_path / "parts"), batch_size=4))
    assert summary.inspected == 6 and summary.error is None
    assert len(notes) == 6 and all(committed)  # every notification came after its verdict was stored
    assert threads == {"inspector-db"}  # published by the session's writer thread ...
    assert set(writers) == {1}  # ... the only writer while the run goes (the pipeline starts none)
    assert states == [RunState.STARTING, RunState.LOADING, RunState.RUNNING, RunState.FINISHED]
    assert ready[0].info.model_id == "tiny-dino" and ready[0].info.random_weights

    # a second run keeps the model loaded and reports the parts it already knows
    skipped = []
    session.subscribe(skipped.append, PartNotStored)
    again = session.run(RunRequest(recipe, folder(tmp_path / "parts")))
    assert again.duplicates == 6 and again.inspected == 0
    assert [n.result.status for n in skipped] == [PartStatus.DUPLICATE] * 6
    assert session.loads == ["bracket"]  # loaded once for both runs


def test_a_wrong_source_fails_before_any_model_loads(tmp_path, session, recipe):
    states = []
    session.subscribe(states.append, RunStateChanged)
    with pytest.raises(SourceError):
        session.run(RunRequest(recipe, folder(tmp_path / "missing")))
    assert [s.state for s in states] == [RunState.STARTING, RunState.FAILED]
    assert "missing" in states[-1].message
    assert session.loads == []


def test_writes_publish_their_notification_once_committed_and_cancel_stops_delivery(tmp_path, session, recipe):
    write_parts(tmp_path / "parts", 3, defect_every=1)
    stored = []
    session.subscribe(stored.append, PartStored)
    session.run(RunRequest(recipe, folder(tmp_path / "parts")))
    part = stored[0].result.inspection_id
    seen = []

    def on_override(note) -> None:  # the override is already readable when it is announced
        seen.append((note.inspection_ids, session.store.get(part).effective_verdict))

    subscription = session.subscribe(on_override, OverrideWritten)
    future = session.write(lambda s: s.add_override(part, "ana", Verdict.PASS), OverrideWritten((part,)))
    future.result(timeout=30)
    assert seen == [((part,), Verdict.PASS)]
    subscription.cancel()
    session.write(lambda s: s.undo_last_override(part, "ana"), OverrideWritten((part,))).result(timeout=30)
    assert len(seen) == 1


def test_a_failing_subscriber_does_not_starve_the_others(tmp_path, session, recipe):
    write_parts(tmp_path / "parts", 2)

    def broken(_note) -> None:
        raise RuntimeError("subscriber bug")

    got = []
    session.subscribe(broken)
    session.subscribe(got.append, PartStored)
    summary = session.run(RunRequest(recipe, folder(tmp_path / "parts")))
    assert summary.inspected == 2 and len(got) == 2 and summary.error is None
