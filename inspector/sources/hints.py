"""Plain hints for a source that found nothing (a folder whose images sit in sub-folders)."""

from __future__ import annotations

from pathlib import Path

from inspector.sources.base import SourceError
from inspector.sources.folder import scan_images


def subfolder_hint(folder: Path, max_names: int = 4) -> str | None:
    """None when ``folder`` holds images itself (or cannot be read); else, when its sub-folders hold
    images, a sentence naming them and how many images each holds."""
    try:
        if scan_images(folder):
            return None
        found = [(sub, len(scan_images(sub, recursive=True))) for sub in sorted(folder.iterdir()) if sub.is_dir()]
    except (SourceError, OSError):
        return None
    found = [(sub, n) for sub, n in found if n]
    if not found:
        return None
    names = ", ".join(f"{sub.name} ({n})" for sub, n in found[:max_names])
    more = f" and {len(found) - max_names} more" if len(found) > max_names else ""
    total = sum(n for _sub, n in found)
    return (
        f"No images directly in {folder}, but {total} in its sub-folders: {names}{more}. "
        "Choose one of those folders as the source."
    )
