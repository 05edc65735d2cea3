"""``inspector golden add|list|remove|check``: a recipe's golden parts (see :mod:`inspector.pipeline.golden`)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

from inspector.signing_cli import add_signer_arguments, open_cli_store, signer_from_args


def _recipe(value: str):
    """The recipe of a file (loaded), or None and the name when ``value`` is only a name."""
    from inspector.core.recipe import load_recipe

    path = Path(value)
    if path.is_file():
        recipe = load_recipe(path)
        return recipe, recipe.name
    return None, value


def cmd_add(args: argparse.Namespace) -> int:
    from inspector.sources.folder import scan_images

    _, name = _recipe(args.recipe)
    images: list[Path] = []
    for item in args.images:
        path = Path(item)
        images += scan_images(path) if path.is_dir() else [path]
    signer = signer_from_args(args)
    with open_cli_store(args) as store:
        for image in images:
            part = store.golden.add(name, image, args.expect, signer=signer, note=args.note)
            signed = f"signed by {part.created_by}" if part.signature_id else "UNSIGNED (this station requires no PIN)"
            print(
                f"Golden part {Path(part.file_path).name} ({part.expected}) added to '{name}' [{part.id[:8]}], {signed}"
            )
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from inspector.console import format_rows

    _, name = _recipe(args.recipe)
    with open_cli_store(args) as store:
        parts = store.golden.parts(name, include_removed=args.all)
        checks = store.golden.checks(name, limit=1)
    if args.json:
        rows = [{**vars(p), "created_at": p.created_at.isoformat(),
                 "removed_at": p.removed_at.isoformat() if p.removed_at else None} for p in parts]  # fmt: skip
        print(json.dumps(rows, indent=2))
        return 0
    if not parts:
        print(
            f"Recipe '{name}' has no golden parts. Add some: inspector golden add RECIPE IMAGE --expect good|defective"
        )
        return 0
    rows = [
        [p.id[:8], Path(p.file_path).name, p.expected, p.created_by or "UNSIGNED", f"{p.created_at:%Y-%m-%d %H:%M}",
         "removed" if p.removed_at else ""]
        for p in parts
    ]  # fmt: skip
    print(format_rows(["id", "file", "expected", "registered by", "on (UTC)", ""], rows))
    if checks:
        last = checks[0]
        print(
            f"Last check: {last.checked_at:%Y-%m-%d %H:%M} UTC ({last.trigger}), v{last.recipe_version}: "
            + ("passed" if last.passed else f"FAILED ({len(last.wrong)} wrong)")
        )
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    _, name = _recipe(args.recipe)
    signer = signer_from_args(args)
    with open_cli_store(args) as store:
        part = store.golden.remove(store.golden.find(name, args.part).id, signer=signer)
    print(f"Golden part {Path(part.file_path).name} removed from '{name}' (kept in the records).")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from inspector.detectors.factory import detector_for_recipe
    from inspector.errors import RecipeError
    from inspector.pipeline.golden import GOLDEN_EXIT_CODE, check_golden_parts
    from inspector.pipeline.runner import fit_for_recipe

    recipe, _ = _recipe(args.recipe)
    if recipe is None:
        raise RecipeError(f"{args.recipe} is not a recipe file: the check scores with the recipe's detector.")
    with open_cli_store(args) as store:
        if not store.golden.parts(recipe.name):
            print(f"Recipe '{recipe.name}' has no golden parts: nothing to check.")
            return 0
        detector = detector_for_recipe(
            recipe, device=args.device, dtype=args.dtype, random_weights=args.random_weights, backend=args.backend
        )
        fit_for_recipe(detector, recipe)
        version = store.save_recipe_version(recipe.name, recipe.to_dict())
        outcome = check_golden_parts(
            store, recipe, detector, version, trigger="on-demand", operator=args.operator, enforce=False
        )
    if args.json:
        check = outcome.check
        assert check is not None
        print(json.dumps({"passed": check.passed, "policy": check.policy, "recipe_version": check.recipe_version,
                          "model_fingerprint": check.model_fingerprint,
                          "results": [r.to_json() for r in check.results]}))  # fmt: skip
    else:
        print(outcome.message)
    return 0 if outcome.passed else GOLDEN_EXIT_CODE


def register(sub, add_runtime: Callable[[argparse.ArgumentParser], None]) -> None:
    golden = sub.add_parser("golden", help="golden parts: known parts checked at every run start")
    gsub = golden.add_subparsers(dest="golden_command", metavar="ACTION", required=True)
    p = gsub.add_parser("add", help="register golden parts of a recipe (an engineer signs)")
    p.add_argument("recipe", help="recipe file or name")
    p.add_argument("images", nargs="+", help="image files or folders")
    p.add_argument("--expect", required=True, choices=["good", "defective"], help="the verdict they must get")
    p.add_argument("--note", help="e.g. 'crack 0.3 mm, sample from lot 17'")
    add_signer_arguments(p)
    p.set_defaults(func=cmd_add)
    p = gsub.add_parser("list", help="a recipe's golden parts and its last check")
    p.add_argument("recipe", help="recipe file or name")
    p.add_argument("--all", action="store_true", help="also removed ones")
    p.add_argument("--json", action="store_true")
    p.add_argument("--db", help="database file or URL (default: <data folder>/inspector.db)")
    p.set_defaults(func=cmd_list)
    p = gsub.add_parser("remove", help="take a golden part out of the checks (an engineer signs)")
    p.add_argument("recipe", help="recipe file or name")
    p.add_argument("part", help="id (or its first characters), file name or path")
    add_signer_arguments(p)
    p.set_defaults(func=cmd_remove)
    p = gsub.add_parser(
        "check",
        help="score the golden parts now and store the check (exit 0 all right, 7 some wrong)",
    )
    p.add_argument("recipe", help="recipe file")
    p.add_argument("--operator", help="who asks for the check (kept with it)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--db", help="database file or URL (default: <data folder>/inspector.db)")
    add_runtime(p)
    p.set_defaults(func=cmd_check)
