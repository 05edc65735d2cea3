"""``inspector recipe new|calibrate|recalibrate|show|save|sign|versions`` (registered by inspector.cli)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from inspector.core.detector_table import DETECTORS
from inspector.errors import InspectorError


def register(sub, add_runtime) -> None:
    recipe = sub.add_parser("recipe", help="create, calibrate and show recipes")
    rsub = recipe.add_subparsers(dest="recipe_command", metavar="ACTION", required=True)
    p = rsub.add_parser("new", help="write a new recipe file")
    p.add_argument("path", help="recipe file to write (.json)")
    p.add_argument("--name", required=True)
    p.add_argument("--object", default="object", help="what the part is called, e.g. 'ball screw'")
    p.add_argument("--detector", default="anomalydino", choices=list(DETECTORS))
    p.add_argument("--model", help="registry id of the backbone")
    p.add_argument("--references", nargs="*", help="good reference images or folders")
    p.add_argument("--shots", type=int, default=0, help="keep only the first N references")
    p.add_argument("--defect", action="append", help="a defect class of this product (repeatable)")
    p.set_defaults(func=cmd_recipe_new)
    p = rsub.add_parser("calibrate", help="set the threshold and uncertain band from good parts")
    p.add_argument("path", help="recipe file")
    p.add_argument("--images", nargs="*", help="held-out good images (else leave-one-out on references)")
    p.add_argument("--quantile", type=float, default=0.99)
    p.add_argument("--margin", type=float, default=1.0, help="standard deviations above the quantile")
    p.add_argument("--band", type=float, default=1.0, help="uncertain band half-width in std (0: none)")
    add_runtime(p)
    from inspector.signing_cli import add_signer_arguments, register_recipe_commands

    add_signer_arguments(p)
    p.set_defaults(func=cmd_recipe_calibrate)
    from inspector.recalibration_cli import register as register_recalibrate

    register_recalibrate(rsub)
    p = rsub.add_parser("show", help="print a recipe")
    p.add_argument("path")
    p.set_defaults(func=cmd_recipe_show)
    register_recipe_commands(rsub)


def cmd_recipe_new(args: argparse.Namespace) -> int:
    from inspector.core.recipe import Recipe, save_recipe
    from inspector.sources.folder import scan_images

    refs: list[str] = []
    for item in args.references or ():
        path = Path(item)
        if path.is_dir():
            refs += [str(p.resolve()) for p in scan_images(path)]
        elif path.is_file():
            refs.append(str(path.resolve()))
        else:
            raise InspectorError(f"Reference {path} does not exist.")
    if args.shots:
        refs = refs[: args.shots]
    recipe = Recipe(
        name=args.name,
        object_name=args.object,
        detector=args.detector,
        model=args.model or "",
        references=tuple(refs),
        defect_classes=tuple(args.defect or ()),
    )
    if recipe.few_shot and not refs:
        raise InspectorError(f"Detector '{recipe.detector}' needs good reference images (--references).")
    save_recipe(recipe, args.path)
    print(
        f"Recipe '{recipe.name}' written to {args.path} ({len(refs)} references). "
        f"Next: inspector recipe calibrate {args.path}"
    )
    return 0


def cmd_recipe_calibrate(args: argparse.Namespace) -> int:
    from inspector.core.recipe import load_recipe, save_recipe
    from inspector.recipes import calibrate_recipe
    from inspector.signing_cli import open_cli_store, signer_from_args
    from inspector.store.changes import authorize_change, record_recipe_change

    recipe = load_recipe(args.path)
    signer = signer_from_args(args)
    store = open_cli_store(args)
    try:
        authorize_change(store, signer, ["threshold"])  # refused before minutes of scoring, not after
        from inspector.detectors.factory import detector_for_recipe

        detector = detector_for_recipe(
            recipe, device=args.device, dtype=args.dtype, random_weights=args.random_weights, backend=args.backend
        )
        extra = [Path(p) for p in args.images] if args.images else []
        recipe, calibration = calibrate_recipe(
            recipe, extra, quantile=args.quantile, margin=args.margin, band=args.band, detector=detector
        )
        change = record_recipe_change(store, recipe.name, recipe.to_dict(), signer, action="threshold")
        save_recipe(recipe, args.path)
        band = calibration.uncertain_band
        print(
            f"Calibrated from {calibration.n_good} good scores ({calibration.method}): "
            f"min {calibration.good_min:.4f}, median {calibration.good_median:.4f}, max {calibration.good_max:.4f}"
        )
        print(
            f"threshold {calibration.threshold:.4f}" + (f", uncertain {band[0]:.4f} .. {band[1]:.4f}" if band else "")
        )
        print(change.describe().replace("recipe ", "Recorded recipe ", 1))
        if args.random_weights:
            print("RANDOM WEIGHTS were used: this threshold is meaningless; calibrate again with real weights.")
        from inspector.pipeline.golden import check_golden_parts
        from inspector.pipeline.runner import fit_for_recipe

        if store.golden.parts(recipe.name):  # the new threshold against the golden parts, at once
            fit_for_recipe(detector, recipe)
            outcome = check_golden_parts(
                store, recipe, detector, change.version, trigger="recipe-change", operator=args.operator, enforce=False
            )
            print(outcome.message)
    finally:
        store.close()
    return 0


def cmd_recipe_show(args: argparse.Namespace) -> int:
    from inspector.core.recipe import load_recipe

    print(json.dumps(load_recipe(args.path).to_dict(), indent=2))
    return 0
