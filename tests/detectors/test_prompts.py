"""WinCLIP's compositional prompt ensemble."""

from __future__ import annotations

import pytest

from inspector.detectors.prompts import (
    ANOMALOUS_STATES,
    NORMAL_STATES,
    TEMPLATES,
    PromptEnsemble,
    build_prompt_ensemble,
)


def test_every_state_in_every_template():
    ensemble = build_prompt_ensemble("screw")
    assert isinstance(ensemble, PromptEnsemble)
    assert len(ensemble.normal) == len(NORMAL_STATES) * len(TEMPLATES) == 7 * 22
    assert len(ensemble.anomalous) == len(ANOMALOUS_STATES) * len(TEMPLATES) == 4 * 22
    assert len(set(ensemble.normal)) == len(ensemble.normal)
    assert len(set(ensemble.anomalous)) == len(ensemble.anomalous)
    assert "a cropped photo of the screw." in ensemble.normal
    assert "a photo of a flawless screw." in ensemble.normal
    assert "a close-up photo of the screw without defect." in ensemble.normal
    assert "a jpeg corrupted photo of a damaged screw." in ensemble.anomalous
    assert "a photo of the screw with defect for visual inspection." in ensemble.anomalous
    assert "a photo of a damaged screw for anomaly detection." in ensemble.anomalous
    assert not any("broken" in p for p in ensemble.anomalous)  # not in the paper's states
    assert all("screw" in p for p in ensemble.normal + ensemble.anomalous)


def test_normal_and_anomalous_prompts_do_not_mix():
    ensemble = build_prompt_ensemble("metal nut")
    anomalous_words = ("damaged", "broken", "with flaw", "with defect", "with damage")
    normal_words = ("flawless", "perfect", "unblemished", "without")
    assert not any(word in p for p in ensemble.normal for word in anomalous_words)
    assert not any(word in p for p in ensemble.anomalous for word in normal_words)
    assert not set(ensemble.normal) & set(ensemble.anomalous)


def test_extra_states_from_the_recipe():
    ensemble = build_prompt_ensemble(
        "tile",
        extra_normal=["{} with a smooth surface"],
        extra_anomalous=["{} with a crack", "scratched {}", "damaged {}", "a cracked tile", "  "],
    )
    assert len(ensemble.normal) == 8 * len(TEMPLATES)
    # "damaged {}" is a default state already and the blank one is dropped: 4 + 3 new states.
    assert len(ensemble.anomalous) == 7 * len(TEMPLATES)
    assert "a photo of a tile with a smooth surface." in ensemble.normal
    assert "a blurry photo of the tile with a crack." in ensemble.anomalous
    assert "a photo of a scratched tile." in ensemble.anomalous
    assert "a photo of the a cracked tile." in ensemble.anomalous  # used as written


def test_object_name_is_cleaned_and_required():
    ensemble = build_prompt_ensemble("  metal \t nut ")
    assert "a photo of a metal nut." in ensemble.normal
    assert "a photo of a {odd} part." in build_prompt_ensemble("{odd} part").normal
    with pytest.raises(ValueError, match="empty"):
        build_prompt_ensemble("   ")
