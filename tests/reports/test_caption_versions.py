"""Reports show the effective (corrected) caption, keep the captioner's, and name a recipe's captioner version."""

from __future__ import annotations

import csv

from inspector.core.captioner_version import CaptionerVersion, write_version
from inspector.reports.caption_versions import caption_blocks, caption_version_lines
from inspector.reports.csv_export import write_csv
from inspector.reports.model import LearningData, VersionLearning
from inspector.reports.scope import ReportScope
from inspector.reports.sections import _caption_text
from inspector.store import CaptionStatus, open_store

from ..store.conftest import make_items


def test_the_corrected_caption_is_what_the_csv_and_the_part_page_show(tmp_path):
    with open_store(tmp_path / "db" / "inspector.db") as store:
        recipe = store.save_recipe_version("bracket-A", {"object_name": "bracket", "threshold": 0.5})
        items = make_items(2, recipe.id)
        store.add_inspections(items)
        for item in items:
            store.set_caption(item.id, status=CaptionStatus.DONE, caption="Bracket with a hole.")
        store.correct_caption(items[0].id, "ana", "Pitting on the third thread")
        corrected, plain = store.get(items[0].id), store.get(items[1].id)
        assert (
            _caption_text(corrected)
            == "Pitting on the third thread (corrected by ana; captioner: Bracket with a hole.)"
        )
        assert _caption_text(plain) == "Bracket with a hole."
        out, _data = write_csv(store, ReportScope(), tmp_path / "parts.csv")
    rows = {r["inspection_id"]: r for r in csv.DictReader(out.path.open(encoding="utf-8-sig"))}
    assert rows[items[0].id]["caption"] == "Pitting on the third thread"
    assert rows[items[0].id]["machine_caption"] == "Bracket with a hole."
    assert rows[items[0].id]["caption_corrected_by"] == "ana"
    assert rows[items[1].id]["caption"] == "Bracket with a hole." and rows[items[1].id]["caption_corrected_by"] == ""


def test_a_recipe_versions_captioner_version_gets_a_block(tmp_path):
    version = CaptionerVersion(
        id="blip-base-lora-0123456789ab",
        base_model="blip-base",
        base_fingerprint="sha256:" + "ab" * 32,
        adapter_fingerprint="sha256:" + "0123456789ab" + "0" * 52,
        lora={"r": 8, "lora_alpha": 8.0, "target_modules": ["query", "value"]},
        data={"train": ["a"] * 16, "held_out": ["b"] * 4},
        metrics={
            "before": {"n": 4, "bleu4": 0.1, "rouge_l": 0.2, "cider": 0.3},
            "after": {"n": 4, "bleu4": 0.5, "rouge_l": 0.6, "cider": 1.7},
        },
        created_at="2026-12-01T12:00:00Z",
    )
    folder = tmp_path / version.id
    write_version(folder, version)
    lines = caption_version_lines({"captioner_version": str(folder)})
    assert lines[0].startswith("Captioner version blip-base-lora-0123456789ab: LoRA (r=8")
    assert "16 operator-corrected captions; 4 held out" in lines[1]
    assert (
        lines[3]
        == "After (with the adapter): BLEU-4 0.500, ROUGE-L 0.600, CIDEr-D 1.700 on 4 held-out corrected captions."
    )
    assert caption_version_lines({}) == ()
    assert "no captioner version" in caption_version_lines({"captioner_version": str(tmp_path / "gone")})[0]
    learning = LearningData((VersionLearning("v", "bracket-A", 3, 10, None, None, "", captioner=lines),))
    (block,) = caption_blocks(learning)
    assert block.title == "Captioner version - bracket-A v3" and block.lines == lines
