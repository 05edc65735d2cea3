"""Fixtures for the store tests: a fresh database per test and a helper to make inspections."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from inspector.store import InspectionStore, NewInspection, Verdict, open_store

T0 = datetime(2025, 3, 1, 6, 0, tzinfo=UTC)


def content_hash(n: int | str) -> str:
    return hashlib.sha256(f"part-{n}".encode()).hexdigest()


def make_items(
    n: int,
    recipe_version_id: str,
    *,
    start: int = 0,
    run_id: str | None = None,
    verdicts: tuple[Verdict, ...] = (Verdict.PASS, Verdict.FAIL, Verdict.UNCERTAIN),
) -> list[NewInspection]:
    """``n`` distinct parts, one second apart from ``T0 + start`` s, verdicts cycling."""
    return [
        NewInspection(
            content_hash=content_hash(i),
            recipe_version_id=recipe_version_id,
            score=i / 100,
            threshold=0.5,
            verdict=verdicts[i % len(verdicts)],
            detector="fewshot-dinov2",
            model_id="dinov2-small",
            source="folder:/parts",
            file_path=f"/parts/img_{i:05d}.png",
            run_id=run_id,
            inspected_at=T0 + timedelta(seconds=i),
            latency_ms=12.5,
        )
        for i in range(start, start + n)
    ]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "station" / "inspector.db"


@pytest.fixture
def store(db_path: Path) -> InspectionStore:
    s = open_store(db_path, busy_timeout_s=0.5)
    yield s
    s.close()


@pytest.fixture
def recipe(store: InspectionStore):
    return store.save_recipe_version("bracket-A", {"object": "bracket", "threshold": 0.5, "shots": 4})
