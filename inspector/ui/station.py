"""What every screen of one station window shares (passed in, never a global): settings, operator,
the station session and its bridges to the GUI thread.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from inspector.core.recipe import Recipe
from inspector.pipeline import SessionConfig, StationSession
from inspector.pipeline.detector_cache import DetectorFactory
from inspector.pipeline.session import NO_CAPTIONER, CaptionFactory
from inspector.store import InspectionStore
from inspector.ui.bridge import SessionBridge
from inspector.ui.settings import StationSettings
from inspector.ui.workers import StoreOps, Tasks

log = logging.getLogger(__name__)


@dataclass
class Station:
    """Settings, operator, the station session (store, writer, models, captions) and its Qt bridges."""

    settings: StationSettings
    operator: str
    random_weights: bool
    tasks: Tasks
    session: StationSession | None = None
    bridge: SessionBridge | None = None
    ops: StoreOps | None = None
    detector_factory: DetectorFactory | None = None  # tests and benchmarks; default: the registry's
    caption_factory: CaptionFactory | None = None  # tests; default: create_caption_scheduler
    session_overrides: int = 0

    @property
    def store(self) -> InspectionStore | None:
        return self.session.store if self.session is not None else None

    @property
    def ready(self) -> bool:
        return self.session is not None and self.ops is not None

    def session_config(self) -> SessionConfig:
        """What :func:`~inspector.pipeline.open_session` gets for this station's settings."""
        return SessionConfig(
            database=self.settings.database_path,
            durability=self.settings.durability,
            device=self.settings.device,
            dtype=self.settings.dtype,
            backend=self.settings.backend,
            random_weights=self.random_weights,
            captioner=self.captioner(),
            detector_factory=self.detector_factory,
            caption_factory=self.caption_factory,
        )

    def captioner(self) -> str:
        """The captioner the settings choose (``none`` when captions are off)."""
        return self.settings.captioner_model if self.settings.captioner_enabled else NO_CAPTIONER


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
