"""What every screen of one station window shares (passed in, never a global): settings, operator,
the store and the two bridges to worker threads, and the hooks other packages plug into.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from inspector.core.recipe import Recipe
from inspector.pipeline import FlaggedPart
from inspector.store import InspectionStore
from inspector.ui.settings import StationSettings
from inspector.ui.workers import StoreOps, Tasks

log = logging.getLogger(__name__)


class CaptionHook(Protocol):
    """The pipeline's ``on_flagged`` for a run, and the means to stop it when the station closes."""

    def __call__(self, part: FlaggedPart) -> None: ...

    def close(self) -> None: ...


CaptionHookFactory = Callable[["Station", Recipe], "CaptionHook | None"]
"""Called at the start of each live run with the station and the run's recipe; returns the
pipeline's ``on_flagged`` hook, or None for no captions. The hook receives each failed or uncertain
part after its verdict is stored; captions end up in the store's ``caption`` / ``defect_type``
fields, which the live and review screens show as soon as they are there."""


class SchedulerHook:
    """Adapts the caption scheduler (``inspector.captioning``) to the pipeline's ``on_flagged``."""

    def __init__(self, scheduler: Any, model: str) -> None:
        self.scheduler = scheduler
        self.model = model
        self.map_threshold: float | None = None

    def __call__(self, part: FlaggedPart) -> None:
        from inspector.captioning import FlaggedPart as CaptionPart

        if self.scheduler.wants(part.verdict):
            self.scheduler.submit(
                CaptionPart(
                    part.inspection_id,
                    part.image,
                    part.anomaly_map,
                    part.score,
                    part.verdict,
                    part.object_name,
                    tuple(part.defect_classes),
                    self.map_threshold,
                )
            )

    def close(self) -> None:
        self.scheduler.close()


def default_caption_hook(station: Station, recipe: Recipe) -> CaptionHook | None:
    """The captioner chosen in the settings (kept between runs: its model loads once), or None.

    Captions are written through the window's database thread; the scheduler runs them after the
    verdicts, at a lower priority, and marks a caption missing (with the reason) rather than ever
    touching a verdict.
    """
    if not station.settings.captioner_enabled or station.store is None or station.ops is None:
        return None
    from inspector.captioning.factory import recipe_captioner

    chosen = recipe_captioner(recipe, station.settings.captioner_model)  # a recipe may select a trained version
    hook = station.extras.get("captions")
    if hook is not None and hook.model != chosen:
        hook.close()
        hook = None
    if hook is None:
        from inspector.captioning import create_caption_scheduler, store_callback

        scheduler = create_caption_scheduler(
            store_callback(station.ops.writer),
            captioner=chosen,
            device=station.settings.device,
            dtype=station.settings.dtype,
            random_weights=station.random_weights,
            on_error=lambda exc: log.warning("captions: %s", exc),
        )
        hook = SchedulerHook(scheduler, chosen)
        station.extras["captions"] = hook
    hook.map_threshold = recipe.threshold
    return hook


@dataclass
class Station:
    settings: StationSettings
    operator: str
    random_weights: bool
    tasks: Tasks
    store: InspectionStore | None = None
    ops: StoreOps | None = None
    detector_factory: Callable[..., Any] | None = None  # tests and benchmarks; default: the registry's
    caption_hook_factory: CaptionHookFactory = default_caption_hook
    session_overrides: int = 0
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return self.store is not None and self.ops is not None


def recipe_files(folder: Path) -> list[tuple[str, str]]:
    """``(label, path)`` of every recipe file in ``folder``, by name (unreadable files are labelled so)."""
    found: list[tuple[str, str]] = []
    if not folder.is_dir():
        return found
    for path in sorted(folder.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            label = f"{data.get('name', path.stem)}  ({data.get('detector', '?')})"
        except (OSError, ValueError, AttributeError):
            label = f"{path.stem}  (unreadable)"
        found.append((label, str(path)))
    return found


def recipe_file_name(recipe: Recipe) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in recipe.name.strip()).strip("-.")
    return f"{safe or 'recipe'}.json"
