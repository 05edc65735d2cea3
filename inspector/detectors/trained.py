"""Build the trained detectors (memory, simplenet, promptad, student), loading their artefact."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from inspector.backbones.loading import load_model
from inspector.backbones.runtime import Runtime
from inspector.core.fingerprint import short_fingerprint
from inspector.core.registry import ModelSpec
from inspector.detectors.artifact import load_state
from inspector.errors import InspectorError

# Options that are recorded with a trained detector but are not constructor arguments.
RECORD_ONLY = ("artifact", "artifact_sha256")


def build_trained(
    name: str,
    spec: ModelSpec,
    runtime: Runtime,
    *,
    random_weights: bool,
    object_name: str = "object",
    extra_normal: tuple[str, ...] = (),
    extra_anomalous: tuple[str, ...] = (),
    params: dict[str, Any] | None = None,
):
    """The named trained detector; trained from ``params["artifact"]`` when given.

    A trained artefact made from random weights is refused unless ``random_weights`` is asked for,
    and the other way round (a real-weights artefact with a random backbone would score nonsense).
    """
    params = dict(params or {})
    artifact = params.get("artifact")
    sha = params.get("artifact_sha256") or (str(artifact).rsplit("/", 1)[-1].split(".", 1)[0] if artifact else None)
    options = {k: v for k, v in params.items() if k not in RECORD_ONLY}
    state = meta = None
    if artifact:
        state, meta = load_state(artifact, sha)
        if meta.get("method") != name:
            raise InspectorError(f"{artifact} holds a '{meta.get('method')}' detector, not '{name}'.")
        if meta.get("model_id") and meta["model_id"] != spec.id:
            raise InspectorError(f"{artifact} was trained on '{meta['model_id']}', not '{spec.id}'.")
        trained_random = meta.get("random_weights") == "1"
        if trained_random and not random_weights:
            raise InspectorError(
                f"{artifact} was trained on RANDOM WEIGHTS; it can only be used with --random-weights (tests)."
            )
        if random_weights and not trained_random:
            raise InspectorError(f"{artifact} was trained on real weights; load it without --random-weights.")
        saved = json.loads(meta.get("settings", "{}"))
        options = {**{k: v for k, v in saved.items() if k not in ("object_name", "anomaly_states")}, **options}
    if name == "student":
        detector = _student(spec, runtime, random_weights, object_name, extra_normal, extra_anomalous, options, state)
    else:
        loaded = load_model(spec, runtime, random_weights=random_weights)
        if name == "memory":
            from inspector.detectors.memory import MemoryDetector

            detector = MemoryDetector(loaded, **options)
        elif name == "simplenet":
            from inspector.detectors.simplenet import SimpleNetDetector

            detector = SimpleNetDetector(loaded, **options)
        else:
            from inspector.detectors.promptad import PromptADDetector

            detector = PromptADDetector(loaded, object_name=object_name, extra_anomalous=extra_anomalous, **options)
    if state is not None and meta is not None:
        trained_on = meta.get("backbone_fingerprint", "")
        if name != "student" and trained_on and detector.info.fingerprint and trained_on != detector.info.fingerprint:
            raise InspectorError(
                f"{artifact} was trained on other '{spec.id}' weights ({short_fingerprint(trained_on)}) than the "
                f"ones on this station ({short_fingerprint(detector.info.fingerprint)}): train the recipe again here."
            )
        detector.load_state(state)
        # the record names both: the backbone's weights and the trained artefact
        base = detector.info.fingerprint if name != "student" else ""
        fingerprint = f"{base}+trained:{sha}" if base else f"trained:{sha}"
        detector.info = dataclasses.replace(detector.info, fingerprint=fingerprint)
    return detector


def _student(spec, runtime, random_weights, object_name, extra_normal, extra_anomalous, options, state):
    from inspector.detectors.student import StudentDetector

    if state is not None:  # a trained student runs without its teacher (no CLIP is loaded)
        return StudentDetector(runtime, None, random_weights=random_weights, model_id=spec.id, **options)
    loaded = load_model(spec, runtime, random_weights=random_weights)
    from inspector.detectors.winclip import WinClipDetector

    teacher = WinClipDetector(
        loaded, object_name=object_name, few_shot=True, extra_normal=extra_normal, extra_anomalous=extra_anomalous
    )
    return StudentDetector(runtime, teacher, random_weights=random_weights, model_id=spec.id, **options)
