"""Signed changes: the one rule for changing a recipe, its threshold, its model or its golden parts.

Every face of the station (``inspector recipe calibrate|save|sign``, ``inspector golden add|remove``,
``inspector models import``, the window's Recipes screen) calls :func:`record_recipe_change` or
:func:`authorize_change`; nothing else decides who may change what.

The rule (21 CFR Part 11-like, see README "Signed changes"):

- When the station requires PINs (``inspector operators policy --require-pin``, implied by roles), a
  change needs a signer who gives the PIN again (a wrong PIN counts toward the lock-out) and, when
  roles are on, whose role allows it (engineer: recipes, thresholds, models). The signature (who,
  role, when, meaning, reason, what changed, the body hash of the new version) is chained in the
  audit trail, and the new recipe version names it (``recipe_versions.signature_id``). Missing
  signer: :class:`SignatureRequired`, nothing is stored.
- A station without PINs has no way to tell who someone is: changes are allowed and stored
  UNSIGNED (``signature_id`` NULL, chained like every version); reports and ``inspector recipe
  versions`` flag them. A signer may still sign there (the PIN is checked).
- A run under a station that requires PINs refuses a recipe version nobody signed
  (:func:`require_signed`): editing the recipe file by hand cannot bypass the signature.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, update

from inspector.errors import RecipeError
from inspector.store import queries
from inspector.store.accounts import Account, LoginError, SignatureRecord
from inspector.store.domain import RecipeVersionRecord, new_id, utc_now
from inspector.store.models import Recipe, RecipeVersion

if TYPE_CHECKING:
    from inspector.store.repository import InspectionStore

#: What a change is, and the permission (``accounts.PERMISSIONS``) it needs.
ACTIONS = {"recipe": "recipes", "threshold": "thresholds", "model": "models", "golden": "recipes"}
_THRESHOLD_KEYS = ("threshold", "uncertain_band", "calibration")
_MODEL_KEYS = ("detector", "model")


class SignatureRequired(LoginError):
    """A change was asked for without a signer on a station that requires signatures."""


class UnsignedRecipe(RecipeError):
    """A run was asked for with a recipe version nobody signed, on a station that requires signatures."""


@dataclass(frozen=True)
class Signer:
    """Who signs a change, with the PIN typed again, and why."""

    name: str
    pin: str
    reason: str = ""
    meaning: str = "approved"


@dataclass(frozen=True)
class ChangeRecord:
    """What :func:`record_recipe_change` stored."""

    version: RecipeVersionRecord
    signature: SignatureRecord | None  # None: stored unsigned (a station without PINs)
    changes: str  # "threshold 0.41 -> 0.44; references 4 -> 5"
    actions: tuple[str, ...]  # recipe / threshold / model / golden
    new_version: bool

    def describe(self) -> str:
        who = f"signed by {self.signature.describe()}" if self.signature else "UNSIGNED (this station requires no PIN)"
        kept = "" if self.new_version else " (unchanged)"
        return f"recipe '{self.version.recipe_name}' version {self.version.version}{kept}: {self.changes}; {who}"


def body_sha256(body: Mapping[str, Any]) -> str:
    """The hash a recipe version is stored under (the same as ``InspectionStore.save_recipe_version``)."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def describe_change(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> tuple[str, tuple[str, ...]]:
    """A short text of what changed between two recipe bodies, and the actions it amounts to."""
    if old is None:
        return "new recipe", ("recipe", "threshold", "model")
    parts: list[str] = []
    actions: list[str] = []
    for key in sorted(set(old) | set(new)):
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        if key in _THRESHOLD_KEYS:
            actions.append("threshold")
        elif key in _MODEL_KEYS or (key == "detector_params" and _artifact(before) != _artifact(after)):
            actions.append("model")
        else:
            actions.append("recipe")
        if key == "calibration":
            parts.append("calibration")
        elif key != "uncertain_band" and (isinstance(before, list) or isinstance(after, list)):
            parts.append(f"{key} {len(before or [])} -> {len(after or [])} entries")
        else:
            parts.append(f"{key} {_short(before)} -> {_short(after)}")
    return ("; ".join(parts) or "no change"), tuple(dict.fromkeys(actions or ["recipe"]))


def _artifact(params: Any) -> Any:
    return params.get("artifact_sha256") if isinstance(params, dict) else None


def _short(value: Any) -> str:
    if value is None:
        return "none"
    text = f"{value:.6g}" if isinstance(value, float) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def signatures_required(store: InspectionStore) -> bool:
    """Whether changes at this station must be signed (PINs are required)."""
    return store.accounts.policy().require_pin


def authorize_change(store: InspectionStore, signer: Signer | None, actions: Iterable[str]) -> Account | None:
    """Check, before any work is done, that ``signer`` may make a change of these actions.

    Returns the signer (None: unsigned, allowed because the station requires no PIN).

    Raises:
        SignatureRequired: no signer on a station that requires signatures.
        LoginError: wrong PIN (counted toward the lock-out), locked out, unknown operator.
        PermissionDenied: the role does not allow it.
    """
    permissions = [ACTIONS[a] for a in actions]
    if signer is None:
        if signatures_required(store):
            raise SignatureRequired(
                f"This change ({', '.join(dict.fromkeys(actions))}) must be signed: this station requires "
                "PINs. Give the engineer's name (--operator NAME in the command line) and PIN."
            )
        return None
    return store.accounts.authorize(signer.name, signer.pin, permissions)


def record_recipe_change(
    store: InspectionStore, name: str, body: Mapping[str, Any], signer: Signer | None, *, action: str | None = None
) -> ChangeRecord:
    """Store ``body`` as recipe ``name``'s next version, signed by ``signer`` (see the module rule).

    ``action`` adds to what the comparison with the latest version finds (``model`` for a model
    import, ``golden`` ...). A body equal to the latest version keeps that version; an unsigned one
    gets the signature then (``inspector recipe sign``).
    """
    name = " ".join((name or "").split())
    if not name:
        raise RecipeError("The recipe has no name.")
    versions = store.recipe_versions(name)
    latest = versions[-1] if versions else None
    digest = body_sha256(body)
    same = latest is not None and latest.body_sha256 == digest
    previous = versions[-2] if same and len(versions) > 1 else (latest if not same else None)
    changes, actions = describe_change(previous.body if previous is not None else None, body)
    if action:
        actions = tuple(dict.fromkeys([action, *actions]))
    who = authorize_change(store, signer, actions)
    with store.db.write() as conn:
        recipe_id = conn.execute(select(Recipe.id).where(Recipe.name == name)).scalar()
        if recipe_id is None:
            recipe_id = new_id()
            conn.execute(insert(Recipe).values(id=recipe_id, name=name, created_at=utc_now()))
            store._audit(conn, "recipes", [recipe_id])
        row = conn.execute(
            queries.recipe_select().where(RecipeVersion.recipe_id == recipe_id).order_by(RecipeVersion.version.desc())
        ).first()
        same = row is not None and row.body_sha256 == digest
        if same and row is not None and (row.signature_id is not None or who is None):  # nothing to store
            signature = _signature(store, row.signature_id)
            return ChangeRecord(queries.recipe_record(row), signature, changes, actions, new_version=False)
        version_id = row.id if same and row is not None else new_id()
        signature = None
        if who is not None:
            assert signer is not None
            signature = store.accounts.insert_signature(
                conn, who, meaning=signer.meaning, action="+".join(actions), subject_table="recipe_versions",
                subject_id=version_id, reason=signer.reason, subject_sha256=digest, changes=changes,
            )  # fmt: skip
        if same:
            signed = signature.id if signature is not None else None
            conn.execute(update(RecipeVersion).where(RecipeVersion.id == version_id).values(signature_id=signed))
            store._audit(conn, "recipe_versions", [version_id], action="signed")
        else:
            values = {
                "id": version_id,
                "recipe_id": recipe_id,
                "version": row.version + 1 if row is not None else 1,
                "body": json.loads(json.dumps(body)),
                "body_sha256": digest,
                "created_at": utc_now(),
                "signature_id": signature.id if signature else None,
            }
            conn.execute(insert(RecipeVersion).values(**values))
            store._audit(conn, "recipe_versions", [version_id])
        record = conn.execute(queries.recipe_select().where(RecipeVersion.id == version_id)).first()
        assert record is not None  # written just above, in this transaction
        return ChangeRecord(queries.recipe_record(record), signature, changes, actions, new_version=not same)


def record_station_change(
    store: InspectionStore,
    signer: Signer | None,
    who: Account | None,
    *,
    action: str,
    subject_table: str,
    subject_id: str,
    subject_sha256: str | None,
    changes: str,
) -> SignatureRecord | None:
    """A signed change that is no recipe version (a model's weights imported): the signature, or an
    unsigned event in the audit chain when the station requires no PIN. ``who`` comes from
    :func:`authorize_change`, called before the change was made."""
    from inspector.store import audit

    with store.db.write() as conn:
        if who is None or signer is None:
            details = {"action": action, "subject_table": subject_table, "subject_id": subject_id,
                       "subject_sha256": subject_sha256, "changes": changes, "signed": False}  # fmt: skip
            audit.record_event(conn, f"unsigned_{action}", details, station=store.station)
            return None
        return store.accounts.insert_signature(
            conn, who, meaning=signer.meaning, action=action, subject_table=subject_table, subject_id=subject_id,
            reason=signer.reason, subject_sha256=subject_sha256, changes=changes,
        )  # fmt: skip


def _signature(store: InspectionStore, signature_id: str | None) -> SignatureRecord | None:
    if signature_id is None:
        return None
    return store.accounts.signature(signature_id)


def version_signature(store: InspectionStore, version: RecipeVersionRecord) -> SignatureRecord | None:
    """The signature that approved ``version`` (None: unsigned)."""
    return _signature(store, version.signature_id)


def require_signed(store: InspectionStore, name: str, body: Mapping[str, Any], recipe_path: str | None = None) -> None:
    """Refuse a run whose recipe (as it is now) is no signed version, when the station requires signatures."""
    if not signatures_required(store):
        return
    digest = body_sha256(body)
    for version in reversed(store.recipe_versions(name)):
        if version.body_sha256 == digest and version.signature_id is not None:
            return
    where = recipe_path or "RECIPE"
    raise UnsignedRecipe(
        f"Recipe '{name}' as it is now was not signed by an engineer, and this station requires signed "
        f"recipes (it was changed outside the station, or never signed). Sign it: "
        f"`inspector recipe sign {where} --operator NAME` (or save it in the Recipes screen)."
    )
