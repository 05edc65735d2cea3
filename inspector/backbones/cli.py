"""``inspector models list|import|download``: the model registry and its weights (registered by inspector.cli).

Handlers import what they need, so ``inspector models list`` starts without torch.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(sub) -> None:
    models = sub.add_parser("models", help="the model registry: list, import or download weights")
    msub = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    p = msub.add_parser("list", help="each registered model and whether its weights are here")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_models_list)
    p = msub.add_parser("import", help="register weights copied onto this (air-gapped) station")
    p.add_argument("path", help="weights file (open_clip) or model folder with config.json (transformers)")
    p.add_argument("--model", required=True, help="registry id, e.g. dinov2-small")
    from inspector.signing_cli import add_signer_arguments

    add_signer_arguments(p)
    p.set_defaults(func=cmd_models_import)
    p = msub.add_parser("download", help="fetch weights from the model hub (needs internet)")
    p.add_argument("model", help="registry id")
    p.set_defaults(func=cmd_models_download)


def cmd_models_list(args: argparse.Namespace) -> int:
    from inspector.console import format_rows
    from inspector.core.registry import load_registry

    specs = load_registry()
    rows = []
    for spec in specs.values():
        where = spec.weights_location()
        rows.append(
            {
                "id": spec.id,
                "role": spec.role,
                "backend": spec.backend,
                "architecture": spec.architecture + (f" / {spec.pretrained}" if spec.pretrained else ""),
                "size_mb": spec.size_mb,
                "weights": "present" if where else "missing",
                "location": str(where) if where else "",
                "hub_id": spec.hub_id,
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(
        format_rows(
            ["model", "role", "architecture", "size", "weights"],
            [[r["id"], r["role"], r["architecture"], f"{r['size_mb']} MB", r["weights"]] for r in rows],
        )
    )
    missing = [r["id"] for r in rows if r["weights"] == "missing"]
    if missing:
        print(
            "\nMissing weights: 'inspector models download MODEL' (with internet) or "
            "'inspector models import PATH --model MODEL' (air-gapped station)."
        )
    return 0


def cmd_models_import(args: argparse.Namespace) -> int:
    from inspector.backbones.checking import check_weights
    from inspector.core.registry import import_weights
    from inspector.signing_cli import open_cli_store, signer_from_args
    from inspector.store.changes import authorize_change, record_station_change

    signer = signer_from_args(args)
    with open_cli_store(args) as store:
        who = authorize_change(store, signer, ["model"])  # before anything is copied
        checked = []
        target = import_weights(
            Path(args.path),
            args.model,
            check=lambda spec, staged, given: checked.append(check_weights(spec, staged, given)),
        )
        result = checked[0]
        signature = record_station_change(
            store, signer, who, action="model", subject_table="models", subject_id=args.model,
            subject_sha256=result.fingerprint.removeprefix("sha256:") or None,
            changes=f"weights of {args.model} imported from {Path(args.path).resolve()}: {result.fingerprint}",
        )  # fmt: skip
    signed = f"signed by {signature.describe()}" if signature else "UNSIGNED (this station requires no PIN)"
    print(
        f"Imported weights of '{args.model}' into {target}: {result.tensors} tensors loaded into its "
        f"architecture; fingerprint {result.fingerprint}; {signed}"
    )
    return 0


def cmd_models_download(args: argparse.Namespace) -> int:
    from inspector.backbones.download import download_weights
    from inspector.core.registry import get_spec

    path = download_weights(get_spec(args.model))
    print(f"Downloaded '{args.model}' to {path} (every file checked)")
    return 0
