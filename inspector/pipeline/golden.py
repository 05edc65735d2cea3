"""Golden-part checks: score a recipe's known parts and refuse (or warn) when one gets the wrong verdict.

The one function every face calls: :func:`check_golden_parts` (Qt-free). ``InspectionPipeline.run``
calls it at the start of every run (so a recipe change, which always starts a new run, is checked
too), ``inspector golden check R`` and the window's "Check golden parts" button call it on demand,
and ``inspector recipe calibrate`` after a new threshold. Every check is stored, passed or not
(``store.golden.checks``), with the recipe version, the model fingerprint and each part's result.

A golden part expected ``good`` must get PASS; one expected ``defective`` must get FAIL.
UNCERTAIN is wrong for both: a golden part is a part whose answer is known, and the check asks
whether the model still gives it. A golden file that is missing, or changed since it was
registered, is scored from the copy the station kept at registration (the artifact store, by content
hash); only when that is gone too is the check failed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from inspector.core.images import load_image
from inspector.core.progress import ProgressState
from inspector.core.recipe import Recipe
from inspector.core.types import Verdict
from inspector.detectors.base import Detector
from inspector.errors import RecipeError
from inspector.store import InspectionStore
from inspector.store.domain import RecipeVersionRecord
from inspector.store.golden import GoldenCheckRecord, GoldenPartRecord, GoldenResult

#: ``inspector run`` / ``inspector golden check`` exit code when a golden part got the wrong verdict.
GOLDEN_EXIT_CODE = 7
_WANTED = {"good": Verdict.PASS, "defective": Verdict.FAIL}


class GoldenCheckFailed(RecipeError):
    """A golden part got the wrong verdict under ``golden_policy: block``: the run is not started."""

    exit_code = GOLDEN_EXIT_CODE

    def __init__(self, message: str, check: GoldenCheckRecord) -> None:
        super().__init__(message)
        self.check = check


@dataclass(frozen=True)
class GoldenOutcome:
    """What a check found: ``check`` is None when the recipe has no golden parts."""

    check: GoldenCheckRecord | None
    message: str  # one line (passed / no golden parts) or the full refusal / warning text

    @property
    def passed(self) -> bool:
        return self.check is None or self.check.passed

    @property
    def warning(self) -> str | None:
        """The text to show when the check failed under ``golden_policy: warn``."""
        return None if self.passed else self.message


def score_golden_parts(
    store: InspectionStore,
    recipe: Recipe,
    detector: Detector,
    parts: list[GoldenPartRecord],
    progress: ProgressState | None = None,
) -> list[GoldenResult]:
    """Score each part's registered image (``store.golden.image``) with an already fitted detector;
    a part whose image is gone (file changed or missing, and no kept copy) is a wrong result."""
    progress = progress or ProgressState()
    results: list[GoldenResult] = []
    for i, part in enumerate(parts):
        progress.check()
        image = store.golden.image(part)
        if image is None:
            problem = (
                f"the file {part.file_path} changed since it was registered and no copy was kept"
                if Path(part.file_path).is_file()
                else f"the file {part.file_path} is missing and no copy was kept"
            )
            results.append(
                GoldenResult(part.id, part.file_path, part.expected, "", None, recipe.threshold, False, problem)
            )
            continue
        score = float(detector.predict([load_image(image)])[0].score)
        got = recipe.verdict(score)
        results.append(
            GoldenResult(
                part.id,
                part.file_path,
                part.expected,
                got.value,
                score,
                recipe.threshold,
                got == _WANTED[part.expected],
            )
        )
        progress.report(i + 1, len(parts), "golden parts")
    return results


def check_golden_parts(
    store: InspectionStore,
    recipe: Recipe,
    detector: Detector,
    version: RecipeVersionRecord,
    *,
    trigger: str,
    operator: str | None = None,
    progress: ProgressState | None = None,
    enforce: bool = True,
    write: Callable[[Callable[[InspectionStore], GoldenCheckRecord]], GoldenCheckRecord] | None = None,
) -> GoldenOutcome:
    """Score the recipe's golden parts, store the check, and apply the recipe's ``golden_policy``.

    ``write`` runs the store write (a run passes its session's one writer thread); by default the
    check is written on the calling thread.

    Raises:
        GoldenCheckFailed: a part got the wrong verdict and the policy is ``block`` (and ``enforce``);
            the check is stored before.
    """
    parts = store.golden.parts(recipe.name)
    if not parts:
        return GoldenOutcome(None, f"Recipe '{recipe.name}' has no golden parts.")
    info = detector.info
    results = score_golden_parts(store, recipe, detector, parts, progress)

    def record(s: InspectionStore) -> GoldenCheckRecord:
        return s.golden.record_check(
            version.id, results, trigger=trigger, policy=recipe.golden_policy, model_id=info.model_id,
            model_fingerprint=info.fingerprint, random_weights=info.random_weights, threshold=recipe.threshold,
            operator=operator,
        )  # fmt: skip

    check = write(record) if write is not None else record(store)
    message = describe_check(check)
    if not check.passed and enforce and recipe.golden_policy == "block":
        raise GoldenCheckFailed(message, check)
    return GoldenOutcome(check, message)


def describe_check(check: GoldenCheckRecord) -> str:
    """The check in words: one line when it passed, every wrong part and what to do when not."""
    weights = check.model_fingerprint.removeprefix("sha256:")[:12]
    head = (
        f"recipe '{check.recipe_name}' v{check.recipe_version}, model {check.model_id} "
        f"(weights {weights}{', RANDOM' if check.random_weights else ''})"
    )
    if check.passed:
        return f"Golden-part check passed: {len(check.results)} of {len(check.results)} right ({head})."
    wrong = check.wrong
    lines = [
        f"Golden-part check FAILED: {len(wrong)} of {len(check.results)} golden parts got the wrong verdict ({head}):"
    ]
    lines += [f"  - {r.describe()}" for r in wrong]
    if check.policy == "block":
        lines.append(
            ("The run was not started" if check.trigger == "run-start" else "A run would not start")
            + " (golden_policy: block). Check the model, the threshold and the golden parts "
            "(`inspector golden check`, `inspector golden list`); a recipe with golden_policy: warn starts anyway."
        )
    else:
        start = "Starting anyway" if check.trigger == "run-start" else "A run would start anyway"
        lines.append(f"{start} (golden_policy: warn); the check is recorded and in the report.")
    return "\n".join(lines)
