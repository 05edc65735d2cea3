"""``models download`` checks what arrived; unforeseen errors end in one plain message."""

from __future__ import annotations

import shutil

import huggingface_hub

from inspector import cli
from inspector.core.registry import get_spec
from inspector.errors import UNEXPECTED_EXIT_CODE


def _fake_hub(monkeypatch, snapshot):
    """The hub's download call returns ``snapshot`` (no network here); everything after it is real."""
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda repo_id, allow_patterns=None: str(snapshot))

    def no_metadata(*_a, **_k):
        raise OSError("offline")

    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", no_metadata)


def test_a_download_that_brought_only_config_json_says_what_is_missing(tmp_path, monkeypatch, capsys):
    snapshot = tmp_path / "snapshot"
    snapshot.mkdir()
    (snapshot / "config.json").write_text('{"model_type": "dinov2"}')
    _fake_hub(monkeypatch, snapshot)
    assert cli.main(["models", "download", "dinov2-small"]) == 3
    captured = capsys.readouterr()
    assert "Downloaded" not in captured.out
    assert "incomplete" in captured.err and "no weight file" in captured.err
    assert "Traceback" not in captured.err


def test_a_cut_download_is_not_reported_as_done(tmp_path, monkeypatch, capsys, saved_dinov2_small):
    snapshot = tmp_path / "snapshot"
    shutil.copytree(saved_dinov2_small, snapshot)
    data = (snapshot / "model.safetensors").read_bytes()
    (snapshot / "model.safetensors").write_bytes(data[:-1000])
    _fake_hub(monkeypatch, snapshot)
    assert cli.main(["models", "download", "dinov2-small"]) == 3
    err = capsys.readouterr().err
    assert "model.safetensors is truncated" in err


def test_a_whole_download_the_station_cannot_find_is_not_done_either(tmp_path, monkeypatch, capsys, saved_dinov2_small):
    _fake_hub(monkeypatch, saved_dinov2_small)  # whole, but not in the hub cache the station reads
    assert cli.main(["models", "download", "dinov2-small"]) == 3
    assert "does not find them" in capsys.readouterr().err
    assert not get_spec("dinov2-small").has_weights()


def test_an_unforeseen_error_is_one_plain_line_and_verbose_shows_the_traceback(monkeypatch, capsys):
    def broken(_args):
        raise RuntimeError("Error(s) in loading state_dict for CLIP:\n\tMissing key(s) ...")

    from inspector.backbones import cli as models_cli

    monkeypatch.setattr(models_cli, "cmd_models_list", broken)
    assert cli.main(["models", "list"]) == UNEXPECTED_EXIT_CODE
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1
    assert "RuntimeError: Error(s) in loading state_dict for CLIP:" in err and "-v" in err
    assert cli.main(["-v", "models", "list"]) == UNEXPECTED_EXIT_CODE
    assert "Traceback" in capsys.readouterr().err
