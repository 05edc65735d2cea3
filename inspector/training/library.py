"""The good-part library of a recipe: the good images a trained detector learns from.

Built from the store, never copied out of it: the recipe's reference images, the parts an
operator reviewed and left PASS, and the parts an operator relabelled as good (a FAIL or UNCERTAIN
verdict overridden to PASS), under any version of the recipe, plus optional extra folders. Parts an
engineer removed (``Recipe.library_excluded``, content hashes) are left out, and so are the
recipe's golden parts (``store.golden``, in the station database): those are kept apart for
checking the station and must never be learned from. Unreviewed PASS verdicts are not used: only an operator's decision
makes a part a label. Each part says where it came from.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path

from inspector.core.recipe import Recipe


class PartOrigin(StrEnum):
    REFERENCE = "reference"
    REVIEWED_PASS = "reviewed pass"
    MARKED_GOOD = "marked good"
    FOLDER = "folder"


@dataclass(frozen=True)
class GoodPart:
    """One good image of the library.

    Attributes:
        path: The image file (a reference, an image copy in the store's artifacts, or a folder file).
        origin: Where it came from.
        content_hash: sha256 of the file (the key an engineer removes it by).
        inspection_id: The inspection it came from (store parts only).
        thumbnail: The store's thumbnail file, when there is one.
        reviewed_by: The operator whose review made it a label (store parts only).
    """

    path: str
    origin: PartOrigin
    content_hash: str
    inspection_id: str | None = None
    thumbnail: str | None = None
    reviewed_by: str | None = None


@dataclass(frozen=True)
class Library:
    parts: tuple[GoodPart, ...]
    skipped: tuple[str, ...] = ()  # reviewed good parts whose image is not kept (and why)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for part in self.parts:
            out[str(part.origin)] = out.get(str(part.origin), 0) + 1
        return out


def _hash(path: Path) -> str:
    from inspector.store.artifacts import sha256_file

    return sha256_file(path)


def store_parts(store, recipe_name: str, *, page: int = 500) -> tuple[list[GoodPart], list[str]]:
    """Reviewed-good parts of every version of ``recipe_name`` in an :class:`InspectionStore`."""
    from inspector.store import InspectionFilter, Verdict

    where = InspectionFilter(recipe_name=recipe_name, effective_verdict=frozenset({Verdict.PASS}), reviewed=True)
    parts, skipped = [], []
    offset = 0
    while True:
        records = store.query(where, offset=offset, limit=page)
        for r in records:
            origin = PartOrigin.REVIEWED_PASS if r.model_verdict == Verdict.PASS else PartOrigin.MARKED_GOOD
            image = None
            if r.image_artifact and store.artifacts.exists(r.image_artifact):
                image = store.artifacts.path(r.image_artifact)
            elif r.file_path and Path(r.file_path).is_file():
                image = Path(r.file_path)
            if image is None:
                skipped.append(f"{r.file_path or r.id}: no image copy was kept")
                continue
            thumb = None
            if r.thumbnail_artifact and store.artifacts.exists(r.thumbnail_artifact):
                thumb = str(store.artifacts.path(r.thumbnail_artifact))
            parts.append(
                GoodPart(str(image), origin, r.content_hash, r.id, thumbnail=thumb, reviewed_by=r.last_reviewed_by)
            )
        if len(records) < page:
            break
        offset += page
    return parts, skipped


def build_library(recipe: Recipe, store=None, folders: Sequence[str | Path] = ()) -> Library:
    """The recipe's library: references first, then store parts, then folder images; no duplicates."""
    from inspector.sources.folder import scan_images

    excluded = set(recipe.library_excluded) | (store.golden.hashes(recipe.name) if store is not None else set())
    seen: set[str] = set()
    parts: list[GoodPart] = []
    skipped: list[str] = []

    def add(items: Iterable[GoodPart]) -> None:
        for part in items:
            if part.content_hash in excluded or part.content_hash in seen:
                continue
            seen.add(part.content_hash)
            parts.append(part)

    add(GoodPart(p, PartOrigin.REFERENCE, _hash(Path(p))) for p in recipe.references if Path(p).is_file())
    skipped += [f"{p}: reference file is missing" for p in recipe.references if not Path(p).is_file()]
    if store is not None:
        found, missing = store_parts(store, recipe.name)
        add(found)
        skipped += missing
    for folder in folders:
        add(GoodPart(str(p), PartOrigin.FOLDER, _hash(p)) for p in scan_images(Path(folder)))
    return Library(tuple(parts), tuple(skipped))


def remove_from_library(recipe: Recipe, content_hash: str) -> Recipe:
    """The recipe with one more part left out of its library (by content hash or a unique prefix of it)."""
    return replace(recipe, library_excluded=tuple(dict.fromkeys([*recipe.library_excluded, content_hash])))
