"""``inspector recipe recalibrate R --from-reviews``: a threshold from the operators' decisions."""

from __future__ import annotations

import argparse

from inspector.errors import InspectorError, RecipeError

EPILOG = """\
Labels are the parts an operator reviewed (latest standing decision PASS = good, FAIL = defective);
parts nobody reviewed do not count. Rates come with Clopper-Pearson intervals; a target counts as met
when the one-sided upper bound at --confidence is at or below it. Nothing is written unless the data
support the target (or, with only good parts reviewed, the percentile fallback is used and says so).
--dry-run prints the figures and writes nothing.
"""


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (a fraction: 0.001 is 0.1 %), got {text}")
    return value


def register(recipe_subparsers) -> None:
    p = recipe_subparsers.add_parser(
        "recalibrate",
        help="a new threshold from reviewed parts (ROC, rates with intervals, target escape or false reject)",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("path", help="recipe file (a new version is written to it)")
    p.add_argument("--from-reviews", action="store_true", required=True, help="use the operators' decisions")
    target = p.add_mutually_exclusive_group()
    target.add_argument("--target-escape", type=_fraction, help="highest escape rate allowed (default 0.001)")
    target.add_argument("--target-false-reject", type=_fraction, help="highest false-reject rate allowed")
    p.add_argument("--confidence", type=_fraction, default=0.95, help="confidence of the bounds (default 0.95)")
    p.add_argument("--db", help="database file or URL (default: <data folder>/inspector.db)")
    p.add_argument("--dry-run", action="store_true", help="print the figures, write nothing")
    from inspector.signing_cli import add_signer_arguments

    add_signer_arguments(p, db=False)
    p.set_defaults(func=cmd_recipe_recalibrate)


def cmd_recipe_recalibrate(args: argparse.Namespace) -> int:
    from inspector.core.recipe import load_recipe
    from inspector.recalibration import apply_recalibration, describe, recalibrate_from_reviews
    from inspector.signing_cli import signer_from_args
    from inspector.store import default_database_path, open_store

    recipe = load_recipe(args.path)
    signer = None if args.dry_run else signer_from_args(args)
    if args.db is None and not default_database_path().exists():
        raise InspectorError(f"There is no inspection database at {default_database_path()} (use --db).")
    if args.confidence < 0.5:
        raise InspectorError("--confidence must be at least 0.5.")
    with open_store(args.db) if args.db else open_store() as store:
        rec = recalibrate_from_reviews(
            store,
            recipe,
            target_escape=args.target_escape,
            target_false_reject=args.target_false_reject,
            confidence=args.confidence,
        )
        lines = describe(rec)
        for line in lines if rec.proposal is not None else lines[:-1]:  # a refusal is the error message
            print(line)
        if rec.proposal is None:
            raise RecipeError(f"Not recalibrated: {rec.refusal} The recipe file was not changed.")
        if args.dry_run:
            print("Dry run: nothing written.")
            return 0
        _recipe, version = apply_recalibration(store, rec, args.path, signer)
        from inspector.store.changes import version_signature

        signature = version_signature(store, version)
    print(f"Wrote {args.path}: recipe '{version.recipe_name}' version {version.version}.")
    print(f"Signed by {signature.describe()}" if signature else "UNSIGNED (this station requires no PIN)")
    return 0
