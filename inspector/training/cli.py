"""``inspector train``, ``inspector library`` and ``inspector eval --recipe`` (registered by inspector.cli)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

from inspector.errors import InspectorError

METHODS = ("memory", "simplenet", "promptad", "student")
TRAIN_EXIT_CODES = """exit codes:
  0   the new recipe version was written
  2   bad arguments, recipe or library
  3   model weights missing
  130 cancelled (nothing was written)"""


def _parse_value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _params(items) -> dict:
    out = {}
    for item in items or ():
        if "=" not in item:
            raise InspectorError(f"--set takes KEY=VALUE, got '{item}'.")
        key, value = item.split("=", 1)
        out[key.strip()] = _parse_value(value.strip())
    return out


def _open_library(args, recipe):
    from inspector.training.library import build_library

    store = None
    if not args.no_store:
        from inspector.store import default_database_path, open_store

        db = Path(args.db) if args.db else default_database_path()
        if args.db or db.is_file():
            store = open_store(db)
    try:
        return build_library(recipe, store, folders=args.images or ())
    finally:
        if store is not None:
            store.close()


def _body_sha(recipe) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(recipe.to_dict(), sort_keys=True).encode()).hexdigest()


def cmd_train(args: argparse.Namespace) -> int:
    from inspector.console import ProgressBar
    from inspector.core.progress import Cancelled, ProgressState
    from inspector.core.recipe import load_recipe
    from inspector.training.job import default_output, train_recipe

    recipe_path = Path(args.recipe)
    recipe = load_recipe(recipe_path)
    library = _open_library(args, recipe)
    if not library.parts:
        raise InspectorError(
            f"Recipe '{recipe.name}' has no good parts: give reference images, review parts in the window, "
            "or add --images FOLDER."
        )
    params = _params(args.set)
    if args.epochs is not None:
        params["epochs"] = args.epochs
    out = Path(args.out) if args.out else default_output(recipe_path, args.method)
    progress = ProgressState(None if args.quiet else ProgressBar(f"train {args.method}"))
    previous = signal.signal(signal.SIGINT, lambda *_: progress.cancel())
    try:
        outcome = train_recipe(
            recipe,
            args.method,
            library,
            out,
            model=args.model or "",
            params=params,
            holdout=args.holdout,
            seed=args.seed,
            before=not args.no_before,
            device=args.device,
            dtype=args.dtype,
            random_weights=args.random_weights,
            progress=progress,
            source_sha256=_body_sha(recipe),
            gate_tolerance=args.gate_tolerance,
        )
    except Cancelled:
        print("inspector: training cancelled; no recipe version was written", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGINT, previous)
    if args.json:
        print(json.dumps(outcome.recipe.training, indent=2))
    else:
        print(format_outcome(outcome))
    return 0


def format_outcome(outcome) -> str:
    t = outcome.recipe.training
    rep = outcome.report
    lines = [
        f"Trained {rep.method} on {rep.n_images} good parts in {rep.seconds:.1f} s "
        f"({t['model']} on {t['device']}/{t['dtype']}); library {t['data']['library']}",
        f"loss {rep.losses[0]:.4f} -> {rep.losses[-1]:.4f}" if rep.losses else "",
    ]
    lines += [f"{k}: {v:g}" for k, v in rep.details.items()]
    for name, held in (("before", outcome.before), ("after", outcome.after)):
        if held is not None:
            m = held.metrics
            lines.append(
                f"{name:6s} held-out: I-AUROC {100 * m.image_auroc:5.1f}  P-AUROC {100 * m.pixel_auroc:5.1f}  "
                f"AUPRO {100 * m.aupro:5.1f}  F1-max {100 * m.f1_max:5.1f}  ({held.images_per_s:.1f} img/s)"
            )
    if outcome.agreement is not None:
        a = outcome.agreement
        lines.append(
            f"student vs teacher: map Pearson {a.map_pearson:.3f}, score Spearman {a.score_spearman:.3f}, "
            f"verdict agreement {100 * a.verdict_agreement:.1f}% at {a.threshold:.4f}"
        )
        if outcome.teacher_images_per_s and outcome.after is not None:
            ratio = outcome.after.images_per_s / outcome.teacher_images_per_s
            lines.append(
                f"student {outcome.after.images_per_s:.1f} img/s vs teacher "
                f"{outcome.teacher_images_per_s:.1f} img/s: {ratio:.1f}x"
            )
    lines += list(outcome.notes)
    if outcome.gate is not None:
        verdict = "PASSED: may be used" if outcome.gate.passed else "NOT PASSED: do not use this version"
        lines.append(f"gate {verdict} ({'; '.join(outcome.gate.reasons)})")
    lines.append(
        f"artefact {outcome.artifact.path} (sha256 {outcome.artifact.sha256[:16]}..., "
        f"{outcome.artifact.size_bytes / 2**20:.2f} MiB)"
    )
    lines.append(f"new recipe version: {outcome.recipe_path} (threshold {outcome.recipe.threshold:.4f})")
    if outcome.recipe.training.get("random_weights"):
        lines.append("RANDOM WEIGHTS were used: this trained detector is meaningless (and is marked so).")
    return "\n".join(line for line in lines if line)


def cmd_library(args: argparse.Namespace) -> int:
    from inspector.core.recipe import load_recipe, save_recipe
    from inspector.training.library import remove_from_library

    recipe = load_recipe(args.recipe)
    library = _open_library(args, recipe)
    if args.remove:
        matches = [p for p in library.parts if p.content_hash.startswith(args.remove)]
        if len(matches) != 1:
            raise InspectorError(
                f"'{args.remove}' matches {len(matches)} parts of the library; give more of the sha256."
            )
        save_recipe(remove_from_library(recipe, matches[0].content_hash), args.recipe)
        print(f"Removed {matches[0].path} ({matches[0].origin}) from the library of '{recipe.name}'.")
        return 0
    if args.json:
        print(
            json.dumps(
                [
                    {"sha256": p.content_hash, "origin": str(p.origin), "path": p.path, "inspection": p.inspection_id}
                    for p in library.parts
                ],
                indent=2,
            )
        )
        return 0
    from inspector.console import format_rows

    print(
        format_rows(["sha256", "origin", "path"], [[p.content_hash[:12], str(p.origin), p.path] for p in library.parts])
    )
    counts = ", ".join(f"{v} {k}" for k, v in library.counts().items()) or "empty"
    print(f"\n{len(library.parts)} good parts ({counts})")
    for reason in library.skipped:
        print(f"not used: {reason}")
    return 0


def register(sub, add_runtime) -> None:
    p = sub.add_parser(
        "train",
        help="train a detector (memory, simplenet, promptad, student) from a recipe's good parts",
        epilog=TRAIN_EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("recipe", help="recipe file; a new recipe version is written next to it")
    p.add_argument("--method", required=True, choices=METHODS)
    p.add_argument("--model", help="backbone registry id (default: the method's / the recipe's CLIP)")
    p.add_argument("--images", action="append", help="also learn from the good images in this folder (repeatable)")
    p.add_argument("--db", help="database to take reviewed good parts from (default: the station's, if present)")
    p.add_argument("--no-store", action="store_true", help="use no database (references and --images only)")
    p.add_argument("--out", help="new recipe file (default: RECIPE.<method>.json next to it)")
    p.add_argument("--holdout", type=float, default=0.2, help="share of the reviewed parts held out for metrics")
    p.add_argument("--epochs", type=int, help="training epochs (method default otherwise)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="a method setting, e.g. coreset_ratio=0.05")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-before", action="store_true", help="do not measure the recipe's current detector")
    p.add_argument(
        "--gate-tolerance",
        type=float,
        default=0.0,
        help="how much lower (0..1) the held-out I-AUROC may be than the current detector's for the gate to pass",
    )
    p.add_argument("--json", action="store_true", help="print the training record as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_runtime(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("library", help="list a recipe's good-part library, or remove a part from it")
    p.add_argument("recipe", help="recipe file")
    p.add_argument("--images", action="append", help="also list the good images in this folder")
    p.add_argument("--db", help="database (default: the station's, if present)")
    p.add_argument("--no-store", action="store_true", help="use no database")
    p.add_argument("--remove", metavar="SHA256", help="leave this part (sha256 or a unique prefix) out from now on")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_library)


class _AsFitted:
    """A recipe's detector, already fitted on the recipe's own references: eval does not refit it."""

    needs_references = False

    def __init__(self, detector) -> None:
        self._detector = detector
        self.info = detector.info

    def fit(self, references) -> None:  # the recipe's own references were used
        pass

    def predict(self, images):
        return self._detector.predict(images)

    def encoder_forward(self, images) -> None:
        self._detector.encoder_forward(images)


def eval_recipes(args: argparse.Namespace) -> int:
    """``inspector eval DATASET --recipe A --recipe B``: each recipe version as it inspects, side by side."""
    from inspector.console import ProgressBar, format_rows
    from inspector.core.progress import ProgressState
    from inspector.core.recipe import load_recipe
    from inspector.detectors.factory import detector_for_recipe
    from inspector.evaluation import evaluate
    from inspector.evaluation_cli import format_eval_report
    from inspector.pipeline import fit_for_recipe

    reports = []
    for path in args.recipe:
        recipe = load_recipe(path)

        def make(recipe=recipe):
            detector = detector_for_recipe(
                recipe, device=args.device, dtype=args.dtype, random_weights=args.random_weights
            )
            fit_for_recipe(detector, recipe)
            return _AsFitted(detector)

        progress = ProgressState(ProgressBar(f"eval {Path(path).name}") if not args.quiet else None)
        report = evaluate(
            Path(args.dataset),
            make,
            0,
            batch_size=args.batch_size,
            pixel_max_side=args.pixel_max_side,
            categories=args.category or (),
            progress=progress,
        )
        print(f"== {path}")
        print(format_eval_report(report))
        reports.append((path, recipe, report))
    if len(reports) > 1:

        def pct(v: float) -> str:
            return "  n/a" if v != v else f"{100 * v:5.1f}"

        rows = [
            [
                Path(p).name,
                r.detector,
                pct(rep.mean.image_auroc),
                pct(rep.mean.pixel_auroc),
                pct(rep.mean.aupro),
                pct(rep.mean.f1_max),
            ]  # fmt: skip
            for p, r, rep in reports
        ]
        print("\nrecipe versions compared (mean over categories, %):")
        print(format_rows(["recipe", "detector", "I-AUROC", "P-AUROC", "AUPRO@0.3", "F1-max"], rows))
    if args.json:
        body = [{"recipe": str(p), "report": rep.as_dict()} for p, _, rep in reports]
        Path(args.json).write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
        print(f"\nJSON written to {args.json}")
    return 0
