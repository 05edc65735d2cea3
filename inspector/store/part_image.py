"""Which image of a stored part to show: the one that was inspected, never whatever is at the path now.

The review screen and the reports show the kept image copy, else the original file *only if its
bytes still hash to the stored content hash*, else the stored thumbnail. When the file at the stored
path no longer matches, they say "file changed since inspection" (or that it is gone).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from inspector.store.artifacts import sha256_file
from inspector.store.domain import InspectionRecord

CHANGED = "file changed since inspection"


@dataclass(frozen=True)
class PartImage:
    """Where the part's image is, and what to tell the viewer.

    Attributes:
        path: The file to show (None: nothing kept).
        kind: ``copy`` (kept image copy), ``original`` (the file at the stored path, verified),
            ``thumbnail`` or ``none``.
        original_changed: The file at the stored path exists but is not the inspected image.
        note: A short note for the viewer ("" when the full inspected image is shown).
    """

    path: Path | None
    kind: str
    original_changed: bool
    note: str


def original_state(record: InspectionRecord) -> str:
    """``same``, ``changed``, ``missing`` or ``unknown`` (no path or no content hash kept)."""
    if not record.file_path or not record.content_hash:
        return "unknown"
    path = Path(record.file_path)
    try:
        if not path.is_file():
            return "missing"
        return "same" if sha256_file(path) == record.content_hash else "changed"
    except OSError:
        return "missing"


def part_image(
    artifact_path: Callable[[str], Path], record: InspectionRecord, *, prefer_thumbnail: bool = False
) -> PartImage:
    """The image to show for ``record`` (``artifact_path``: the artifact store's ``path``).

    ``prefer_thumbnail``: a report wants the small stored thumbnail before the full copy.
    """
    state = original_state(record)
    changed = state == "changed"
    copy = _artifact(artifact_path, record.image_artifact)
    thumb = _artifact(artifact_path, record.thumbnail_artifact)
    reasons = {"changed": f"The {CHANGED}: showing the stored image.", "missing": "The original file is gone."}
    why = reasons.get(state, "")
    if prefer_thumbnail and thumb is not None:
        return PartImage(thumb, "thumbnail", changed, why)
    if copy is not None:
        return PartImage(copy, "copy", changed, why)
    if state == "same":
        return PartImage(Path(str(record.file_path)), "original", False, "Showing the original file.")
    if thumb is not None:
        note = {
            "changed": f"The {CHANGED}: showing the stored thumbnail.",
            "missing": "The original file is gone: showing the stored thumbnail.",
        }.get(state, "Only a thumbnail was kept.")
        return PartImage(thumb, "thumbnail", changed, note)
    return PartImage(None, "none", changed, (why + " " if why else "") + "No image of this part was kept.")


def _artifact(path_of: Callable[[str], Path], key: str | None) -> Path | None:
    if not key:
        return None
    try:
        path = path_of(key)
    except ValueError:
        return None
    return path if path.is_file() else None
