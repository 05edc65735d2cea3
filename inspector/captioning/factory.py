"""Build a captioner by name: a registry id (``blip2-opt-2.7b``, ``blip-base``) or ``none``."""

from __future__ import annotations

from inspector.captioning.base import Captioner, NoCaptioner
from inspector.core.registry import ModelSpec, get_spec
from inspector.errors import InspectorError

DEFAULT_CAPTIONER = "blip2-opt-2.7b"
LIGHT_CAPTIONER = "blip-base"
VLM_CAPTIONERS = ("qwen3-vl-2b", "florence-2-base")
NO_CAPTIONER = "none"
CAPTIONER_CHOICES = (DEFAULT_CAPTIONER, LIGHT_CAPTIONER, *VLM_CAPTIONERS, NO_CAPTIONER)


def create_captioner(
    name: str | ModelSpec = DEFAULT_CAPTIONER,
    *,
    device: str = "auto",
    dtype: str = "auto",
    random_weights: bool = False,
    **options,
) -> Captioner:
    """A captioner for a registry id or spec, or :class:`NoCaptioner` for ``none``.

    Nothing is loaded here (no torch import): the model loads on the thread of its first caption.

    Args:
        name: ``blip2-opt-2.7b`` (default), ``blip-base`` (light, for CPU-only stations), a
            captioner version folder (``inspector train-captioner``: its base with the LoRA adapter),
            ``qwen3-vl-2b`` / ``florence-2-base`` (small current VLMs), ``none``, or any registered
            captioner (``role: captioner``) of those architectures.
        device / dtype: Where and in which precision it runs (``auto``: the registry's
            recommendation, measured per machine on CPUs).
        random_weights: Random weights (tests and benchmarks only).
        options: Generation options of :class:`~inspector.captioning.blip.TransformersCaptioner`.

    Raises:
        InspectorError: Unknown model, or not a captioner.
    """
    if isinstance(name, str) and name.strip().lower() in ("", NO_CAPTIONER):
        return NoCaptioner()
    if isinstance(name, str) and is_version_path(name):  # a captioner version: its base with the adapter
        from inspector.core.captioner_version import read_version

        options["adapter"] = name
        name = read_version(name).base_model
    spec = name if isinstance(name, ModelSpec) else get_spec(name)
    from inspector.captioning.blip import Blip2Captioner, BlipCaptioner
    from inspector.captioning.vlm import Florence2Captioner, Qwen3VLCaptioner

    for cls in (Blip2Captioner, BlipCaptioner, Qwen3VLCaptioner, Florence2Captioner):
        if spec.architecture == cls.architecture and spec.role == "captioner":
            return cls(spec, device=device, dtype=dtype, random_weights=random_weights, **options)
    raise InspectorError(
        f"Model '{spec.id}' ({spec.role}, {spec.architecture}) is not a captioner; choose one of "
        f"{', '.join(CAPTIONER_CHOICES)}."
    )


def is_version_path(name: str) -> bool:
    """Whether a captioner name is a captioner version (a folder path, not a registry id)."""
    from pathlib import Path

    return "/" in name or "\\" in name or Path(name, "captioner.json").is_file()


def recipe_captioner(recipe, chosen: str) -> str:
    """The captioner for a recipe's parts: its captioner version when it selects one (and captions
    are on), else the station's choice."""
    if str(chosen).strip().lower() in ("", NO_CAPTIONER):
        return chosen
    return getattr(recipe, "captioner_version", "") or chosen


def create_caption_scheduler(
    on_result,
    *,
    captioner: str | ModelSpec = DEFAULT_CAPTIONER,
    detector=None,
    defect_types: bool = True,
    clip_model: str | ModelSpec | None = None,
    isolate: bool | None = None,
    device: str = "auto",
    dtype: str = "auto",
    random_weights: bool = False,
    captioner_options: dict | None = None,
    **scheduler_options,
):
    """Captioner, defect-type classifier and scheduler wired as the station uses them.

    Args:
        on_result: ``on_result(inspection_id, outcome)``, e.g. :func:`~inspector.captioning.store_callback`.
        captioner: ``blip2-opt-2.7b``, ``blip-base`` or ``none``.
        detector: The station's detector; when it is WinCLIP its CLIP model is used for defect types
            (shared in-process, or the same model loaded in the caption process).
        defect_types: Classify the defect type against the recipe's classes (parts without classes
            get none).
        clip_model: CLIP model for defect types when the detector has none (default ``clip-vit-b-16``).
        isolate: Run captioner and classifier in a child process (None: wherever that is possible,
            see :mod:`inspector.captioning.process` for why it is faster on CPU stations).
        device / dtype / random_weights: For the models.
        captioner_options: Generation options (``max_new_tokens``, ``num_beams``, ...).
        scheduler_options: :class:`~inspector.captioning.scheduler.CaptionScheduler` options
            (``enabled``, ``max_pending``, ``timeout_s``, ``gate``, ``on_error``, ...).

    Nothing is loaded here; models load on the caption thread (or in the caption process) on the
    first flagged part, or at :meth:`~inspector.captioning.scheduler.CaptionScheduler.preload`.
    """
    from inspector.captioning.defect_type import DEFAULT_CLIP, DefectTypeClassifier, clip_of_detector
    from inspector.captioning.process import ProcessCaptioner, process_isolation_available
    from inspector.captioning.scheduler import CaptionScheduler

    template = create_captioner(
        captioner, device=device, dtype=dtype, random_weights=random_weights, **(captioner_options or {})
    )
    classifier = None
    if defect_types:
        shared = clip_of_detector(detector) if detector is not None else None
        classifier = (
            DefectTypeClassifier(shared)
            if shared is not None
            else DefectTypeClassifier(
                model=clip_model or DEFAULT_CLIP, device=device, dtype=dtype, random_weights=random_weights
            )
        )
    if isolate is None:
        isolate = process_isolation_available()
    scheduler_options.setdefault("close_captioner", True)
    if isolate and (classifier is not None or not isinstance(template, NoCaptioner)):
        child = ProcessCaptioner(template, classifier, gate=scheduler_options.get("gate"))
        return CaptionScheduler(child, on_result, classifier=child.classifier(), **scheduler_options)
    return CaptionScheduler(template, on_result, classifier=classifier, **scheduler_options)
