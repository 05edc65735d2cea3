"""The report's "Golden-part checks" and "Recipe signatures" sections (one home for both formats).

:func:`gather_trust` reads, for the recipes in a report, every stored golden-part check in the
report's period (``inspector.store.golden``) and who signed each recipe version used
(``inspector.store.changes``); :func:`golden_table`, :func:`signature_table` and :func:`trust_notes`
give the HTML and PDF writers the same plain text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from inspector.reports.model import ReportData, TrustSection, VersionSignature
from inspector.reports.scope import format_time
from inspector.reports.sections import Table
from inspector.store.golden import GoldenCheckRecord

if TYPE_CHECKING:
    from inspector.store import InspectionStore

MAX_CHECKS = 200  # listed in a report (newest first); the rest are counted


def gather_trust(store: InspectionStore, data: ReportData) -> TrustSection:
    """The checks and signatures of the recipes in ``data`` (its scope's period when it has one)."""
    from inspector.store.changes import version_signature

    names = sorted({u.name for u in data.recipes} | ({data.scope.recipe_name} if data.scope.recipe_name else set()))
    version_ids = {u.recipe_version_id for u in data.recipes}
    checks: list[GoldenCheckRecord] = []
    for name in names:
        found = store.golden.checks(name, since=data.scope.since, until=data.scope.until, limit=10 * MAX_CHECKS)
        if data.scope.run_id or data.scope.recipe_version:  # a run or one version: its versions' checks
            found = [c for c in found if c.recipe_version_id in version_ids]
        checks += found
    checks.sort(key=lambda c: c.checked_at, reverse=True)
    versions = []
    for use in data.recipes:
        record = store.get_recipe_version(use.recipe_version_id)
        signature = version_signature(store, record)
        versions.append(VersionSignature(use.name, use.version, signature.describe() if signature else None))
    return TrustSection(tuple(checks[:MAX_CHECKS]), len(checks), tuple(versions))


def golden_table(trust: TrustSection, data: ReportData, limit: int = MAX_CHECKS) -> Table | None:
    if not trust.checks:
        return None
    rows = []
    for c in trust.checks[:limit]:
        wrong = "; ".join(r.describe() for r in c.wrong)
        result = "passed" if c.passed else "FAILED"
        if not c.passed and c.trigger == "run-start":
            result += ", run refused" if c.policy == "block" else ", warned"
        rows.append(
            (
                format_time(c.checked_at, data.tz),
                f"{c.recipe_name} v{c.recipe_version}",
                c.trigger,
                f"{c.model_id} {c.model_fingerprint.removeprefix('sha256:')[:12]}",
                f"{len(c.results) - len(c.wrong)}/{len(c.results)}",
                result + (f": {wrong}" if wrong else ""),
            )
        )
    return Table(("Checked", "Recipe", "When", "Model, weights", "Right", "Result"), tuple(rows),
                 (False, False, False, False, True, False))  # fmt: skip


def golden_note(trust: TrustSection) -> str:
    if not trust.checks_total:
        return "No golden-part check in this report's period (the recipes have no golden parts, or no run started)."
    more = f" The newest {len(trust.checks)} are listed." if trust.checks_total > len(trust.checks) else ""
    return (
        f"{trust.checks_total} golden-part checks; {trust.failed} failed among those listed. Each names the recipe "
        f"version and the weights it was scored with.{more}"
    )


def signature_table(trust: TrustSection) -> Table | None:
    if not trust.versions:
        return None
    rows = tuple((f"{v.name} v{v.version}", v.signed_by or "UNSIGNED") for v in trust.versions)
    return Table(("Recipe version", "Signed by"), rows, (False, False))


def unsigned_notice(trust: TrustSection) -> str | None:
    if not trust.unsigned:
        return None
    names = ", ".join(f"{v.name} v{v.version}" for v in trust.unsigned)
    return (
        f"UNSIGNED recipe versions were used: {names}. Nobody signed these changes (a station without PINs, "
        "or versions from before signatures); turn on PINs and roles, and sign them with "
        "`inspector recipe sign`."
    )
