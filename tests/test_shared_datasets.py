"""In CI the real-dataset tests must run: a missing ``../shared/datasets`` fails them instead of skipping."""

from __future__ import annotations

import pytest

import tests.conftest as shared


def test_a_missing_dataset_fails_in_ci_and_skips_elsewhere(tmp_path, monkeypatch):
    monkeypatch.setattr(shared, "SHARED", tmp_path / "absent")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        shared.shared_dataset("bsdata")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        shared.shared_dataset("bsdata")
    (tmp_path / "absent" / "bsdata").mkdir(parents=True)
    monkeypatch.setenv("CI", "true")
    assert shared.shared_dataset("bsdata") == tmp_path / "absent" / "bsdata"
