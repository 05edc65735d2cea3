"""Signed changes on the command line: ``--operator NAME`` (PIN from ``INSPECTOR_PIN``, ``--pin-stdin``
or the terminal) for ``recipe calibrate|save``, ``golden add|remove`` and ``models import``, plus
``inspector recipe save|sign`` and ``inspector recipe versions``. The rule is
:mod:`inspector.store.changes`; this module only reads the signer and prints the outcome.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from inspector.operators_cli import PIN_HELP, read_pin


def add_signer_arguments(p: argparse.ArgumentParser, *, db: bool = True) -> None:
    """``--operator``, ``--reason``, ``--pin-stdin`` (and ``--db``) for a command that changes something signed."""
    p.add_argument(
        "--operator",
        help="the engineer who signs the change (the PIN is asked; required when the station requires PINs)",
    )
    p.add_argument("--reason", default="", help="why the change is made (kept with the signature)")
    p.add_argument(
        "--meaning",
        default="approved",
        choices=["approved", "authored", "reviewed", "responsible"],
        help="what the signature means (default approved)",
    )
    p.add_argument("--pin-stdin", action="store_true", help=PIN_HELP)
    if db:
        p.add_argument("--db", help="database file or URL (default: <data folder>/inspector.db)")


def signer_from_args(args: argparse.Namespace):
    """The :class:`~inspector.store.changes.Signer` the arguments name (None: no ``--operator``)."""
    from inspector.store.changes import Signer

    if not getattr(args, "operator", None):
        return None
    pin = read_pin(args.operator, from_stdin=args.pin_stdin, prompt="PIN to sign")
    return Signer(args.operator, pin, reason=args.reason, meaning=args.meaning)


def open_cli_store(args: argparse.Namespace):
    from inspector.store import open_store

    return open_store(args.db) if getattr(args, "db", None) else open_store()


def cmd_recipe_save(args: argparse.Namespace) -> int:
    from inspector.core.recipe import load_recipe
    from inspector.store.changes import record_recipe_change

    recipe = load_recipe(args.path)  # the body a run stores (reference paths made absolute)
    signer = signer_from_args(args)
    with open_cli_store(args) as store:
        change = record_recipe_change(store, recipe.name, recipe.to_dict(), signer)
    print(change.describe().replace("recipe ", "Recorded recipe ", 1))
    return 0


def cmd_recipe_versions(args: argparse.Namespace) -> int:
    from inspector.console import format_rows
    from inspector.store.changes import version_signature

    name = _recipe_name(args.recipe)
    with open_cli_store(args) as store:
        versions = store.recipe_versions(name)
        rows = []
        for v in versions:
            sig = version_signature(store, v)
            rows.append(
                [
                    f"v{v.version}",
                    f"{v.created_at:%Y-%m-%d %H:%M}",
                    v.body_sha256[:12],
                    sig.describe() if sig else "UNSIGNED",
                ]
            )
    if not rows:
        print(f"Recipe '{name}' has no version in the database yet.")
        return 0
    print(format_rows(["version", "created (UTC)", "body sha256", "signature"], rows))
    return 0


def _recipe_name(value: str) -> str:
    """A recipe name from a recipe file path, or the name itself."""
    path = Path(value)
    if path.suffix == ".json" and path.is_file():
        from inspector.core.recipe import load_recipe

        return load_recipe(path).name
    return value


def register_recipe_commands(rsub) -> None:
    """``inspector recipe save|sign`` and ``inspector recipe versions``."""
    p = rsub.add_parser(
        "save",
        aliases=["sign"],
        help="record the recipe file as a new version in the database, signed by --operator",
    )
    p.add_argument("path", help="recipe file")
    add_signer_arguments(p)
    p.set_defaults(func=cmd_recipe_save)
    p = rsub.add_parser("versions", help="a recipe's versions in the database and who signed each")
    p.add_argument("recipe", help="recipe file or name")
    p.add_argument("--db", help="database file or URL (default: <data folder>/inspector.db)")
    p.set_defaults(func=cmd_recipe_versions)
