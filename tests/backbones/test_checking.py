"""``models import`` accepts only weights that load into the registered architecture."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from inspector.cli import main
from inspector.core.registry import get_spec
from tests.helpers import TINY_DINO


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "inspector", *args], capture_output=True, text=True, env=dict(os.environ), timeout=600
    )


def _listing():
    out = _cli("models", "list", "--json")
    assert out.returncode == 0, out.stderr
    return {r["id"]: r["weights"] for r in json.loads(out.stdout)}


def _tiny_folder(tmp_path):
    from inspector._torch import import_torch

    import_torch()
    from transformers import Dinov2Config, Dinov2Model

    folder = tmp_path / "tiny"
    Dinov2Model(Dinov2Config(**TINY_DINO["config"])).save_pretrained(folder)
    return folder


def test_a_dinov2_folder_imported_as_clip_is_refused_plainly_and_nothing_changes(saved_dinov2_small):
    before = _listing()
    out = _cli("models", "import", str(saved_dinov2_small), "--model", "clip-vit-b-16")
    assert out.returncode in (2, 3), out.stderr
    assert "Traceback" not in out.stderr and out.stdout == ""
    message = out.stderr.strip()
    assert message.count("\n") == 0, message  # one message
    assert "clip-vit-b-16" in message and "another model" in message and "dinov2" in message
    assert "Nothing was registered" in message
    assert _listing() == before
    assert not get_spec("clip-vit-b-16").local_dir().exists()


def test_a_small_dinov2_is_not_accepted_as_dinov2_small(tmp_path, capsys):
    assert main(["models", "import", str(_tiny_folder(tmp_path)), "--model", "dinov2-small"]) == 3
    err = capsys.readouterr().err
    assert "hidden_size 32 (needs 384)" in err and "num_hidden_layers 2 (needs 12)" in err
    assert not get_spec("dinov2-small").has_weights()


def test_wrong_shapes_missing_tensors_and_truncated_files_are_each_named(tmp_path, saved_dinov2_small, capsys):
    from safetensors.torch import load_file, save_file

    # the full-size config over a small model's tensors: every shape is wrong
    wrong = _tiny_folder(tmp_path)
    shutil.copy(saved_dinov2_small / "config.json", wrong / "config.json")
    assert main(["models", "import", str(wrong), "--model", "dinov2-small"]) == 3
    assert "wrong shape" in capsys.readouterr().err

    # one tensor taken out of the real checkpoint
    lacking = tmp_path / "lacking"
    shutil.copytree(saved_dinov2_small, lacking)
    tensors = load_file(lacking / "model.safetensors")
    del tensors["layernorm.weight"]
    save_file(tensors, lacking / "model.safetensors", metadata={"format": "pt"})
    assert main(["models", "import", str(lacking), "--model", "dinov2-small"]) == 3
    err = capsys.readouterr().err
    assert "lack 1 tensors" in err and "layernorm.weight" in err

    # a copy cut short
    cut = tmp_path / "cut"
    shutil.copytree(saved_dinov2_small, cut)
    data = (cut / "model.safetensors").read_bytes()
    (cut / "model.safetensors").write_bytes(data[: len(data) // 2])
    assert main(["models", "import", str(cut), "--model", "dinov2-small"]) == 3
    assert "truncated" in capsys.readouterr().err
    assert not get_spec("dinov2-small").has_weights()


def test_a_real_checkpoint_is_accepted_with_its_fingerprint(saved_dinov2_small, capsys):
    assert main(["models", "import", str(saved_dinov2_small), "--model", "dinov2-small"]) == 0
    out = capsys.readouterr().out
    assert "223 tensors" in out and "fingerprint sha256:" in out
    spec = get_spec("dinov2-small")
    assert spec.has_weights()
    from inspector.core.fingerprint import weights_fingerprint

    assert weights_fingerprint(spec.loaded_files()) in out


@pytest.mark.parametrize("content", [b"", b"\x00\x01"])
def test_an_open_clip_file_that_is_empty_or_cut_is_refused(tmp_path, capsys, content):
    weights = tmp_path / "open_clip_model.safetensors"
    weights.write_bytes(content)
    assert main(["models", "import", str(weights), "--model", "clip-vit-b-16"]) == 3
    err = capsys.readouterr().err
    assert ("empty" in err) if not content else ("truncated" in err)
    assert not get_spec("clip-vit-b-16").has_weights()
