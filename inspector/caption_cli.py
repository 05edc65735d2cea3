"""``inspector review caption`` (correct a caption) and ``inspector train-captioner`` (LoRA on the corrections)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

from inspector.errors import InspectorError

REVIEW_EPILOG = """\
A correction is appended to the part's caption trail under the operator's name (and to the audit
hash chain); the captioner's own caption is kept. The newest correction is the part's effective
caption: the review screen and the reports show it, and 'inspector train-captioner --from-reviews'
learns from it. Without TEXT the part's captions are listed."""

TRAIN_EPILOG = """\
exit codes:
  0   the new captioner version (LoRA adapter) was written
  2   bad arguments, or too few corrected captions
  3   captioner weights missing
  130 cancelled (nothing was written)"""


def _open(db: str | None):
    from inspector.store import default_database_path, open_store

    if db is None and not default_database_path().exists():
        raise InspectorError(f"There is no inspection database at {default_database_path()} (use --db).")
    return open_store(db) if db else open_store()


def resolve_part(store, part: str) -> str:
    """The inspection id for a full id or a unique prefix of one."""
    from sqlalchemy import select

    from inspector.store.models import Inspection

    part = part.strip()
    if len(part) < 4:
        raise InspectorError("Give the part's id (at least its first 4 characters).")
    with store.db.read() as conn:
        ids = list(conn.execute(select(Inspection.id).where(Inspection.id.startswith(part)).limit(3)).scalars())
    if not ids:
        raise InspectorError(f"No part with the id {part} in {store.db.where}.")
    if len(ids) > 1 and part not in ids:
        raise InspectorError(f"Several parts have ids starting with {part}: give more of the id.")
    return part if part in ids else ids[0]


def cmd_review_caption(args: argparse.Namespace) -> int:
    from inspector.operators_cli import log_in
    from inspector.store import StoreError

    with _open(args.db) as store:
        part = resolve_part(store, args.part)
        if args.text is None:
            record = store.get(part)
            print(f"part {part}: captioner: {record.caption or '(none)'}")
            for c in store.caption_corrections(part):
                when = c.created_at.astimezone().strftime("%Y-%m-%d %H:%M")
                note = f"  (note: {c.note})" if c.note else ""
                print(f"  {c.seq}. {when} {c.operator}: {c.caption}{note}")
            print(f"effective caption: {record.effective_caption or '(none)'}")
            return 0
        if not args.operator:
            raise InspectorError("Say who corrects the caption: --operator NAME (it is recorded under that name).")
        who = log_in(store, args.operator, pin_stdin=args.pin_stdin, permission="review")
        try:
            correction = store.correct_caption(part, who.name, args.text, note=args.note)
        except StoreError as error:
            raise InspectorError(str(error)) from error
    was = correction.machine_caption or "(none)"
    print(f"Caption of part {part} corrected by {correction.operator} (correction {correction.seq}); was: {was}")
    return 0


def _progress_lines():
    """One line on stderr per progress message (a step of training, a phase)."""
    last = [""]

    def show(done: int, total: int, message: str) -> None:
        if message and message != last[0]:
            last[0] = message
            print(f"[{done}/{total}] {message}", file=sys.stderr, flush=True)

    return show


def cmd_train_captioner(args: argparse.Namespace) -> int:
    from inspector.captioning.lora import LoraOptions, format_outcome, train_from_reviews
    from inspector.core.progress import Cancelled, ProgressState

    if not args.from_reviews:
        raise InspectorError("Say what to learn from: --from-reviews (the operators' corrected captions).")
    options = LoraOptions(
        rank=args.rank,
        alpha=args.alpha,
        dropout=args.dropout,
        target=args.target,
        epochs=args.epochs,
        learning_rate=args.lr,
        batch_size=args.batch_size,
        holdout=args.holdout,
        seed=args.seed,
    )
    progress = ProgressState(None if args.quiet else _progress_lines())
    previous = signal.signal(signal.SIGINT, lambda *_: progress.cancel())
    try:
        with _open(args.db) as store:
            outcome = train_from_reviews(
                store,
                captioner=args.captioner,
                recipe_name=args.recipe,
                out_dir=Path(args.out) if args.out else None,
                options=options,
                device=args.device,
                dtype=args.dtype,
                random_weights=args.random_weights,
                progress=progress,
            )
    except Cancelled:
        print("inspector: captioner training cancelled; nothing was written", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGINT, previous)
    if args.json:
        print(json.dumps(outcome.version.to_json(), indent=2))
    else:
        print(format_outcome(outcome))
    return 0


def register(sub) -> None:
    """Add ``review caption`` and ``train-captioner`` to the top-level sub-parsers."""
    review = sub.add_parser("review", help="review decisions from the command line: correct a part's caption")
    rsub = review.add_subparsers(dest="review_command", metavar="ACTION", required=True)
    p = rsub.add_parser(
        "caption",
        help="correct a part's caption (or list its captions)",
        epilog=REVIEW_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("part", metavar="ID", help="the part's id (or a unique prefix of it)")
    p.add_argument("text", metavar="TEXT", nargs="?", help="the corrected caption (omit to list the part's captions)")
    p.add_argument(
        "--operator", metavar="NAME", help="who corrects it (the PIN is asked when the station requires one)"
    )
    p.add_argument("--note", help="a note kept with the correction")
    p.add_argument("--pin-stdin", action="store_true", help="read the PIN from the first line of standard input")
    p.add_argument("--db", help="database file or URL (default: <data folder>/inspector.db)")
    p.set_defaults(func=cmd_review_caption)

    from inspector.captioning.lora import DEFAULTS, TARGETS

    p = sub.add_parser(
        "train-captioner",
        help="fine-tune the captioner with LoRA on the operators' corrected captions (a new captioner version)",
        epilog=TRAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--from-reviews", action="store_true", help="learn from the corrected captions in the database")
    p.add_argument("--recipe", metavar="NAME", help="only parts inspected under this recipe (any version)")
    p.add_argument("--captioner", default="blip-base", help="the base captioner: blip-base (CPU) or blip2-opt-2.7b")
    p.add_argument("--epochs", type=int, default=DEFAULTS.epochs)
    p.add_argument("--rank", type=int, default=DEFAULTS.rank, help="LoRA rank r")
    p.add_argument("--alpha", type=float, default=DEFAULTS.alpha, help="LoRA scaling alpha (alpha / r scales)")
    p.add_argument("--dropout", type=float, default=DEFAULTS.dropout, help="LoRA dropout")
    p.add_argument(
        "--target",
        choices=TARGETS,
        default=DEFAULTS.target,
        help="which projections get adapters: query-value (the LoRA paper's choice, peft's default for BLIP) "
        "or all-linear (a named deviation: every linear layer of attention and MLP)",
    )
    p.add_argument("--lr", type=float, default=DEFAULTS.learning_rate, help="AdamW learning rate")
    p.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size)
    p.add_argument(
        "--holdout", type=float, default=DEFAULTS.holdout, help="share of corrected parts kept for before/after"
    )
    p.add_argument("--seed", type=int, default=DEFAULTS.seed)
    p.add_argument("--out", metavar="DIR", help="where captioner versions go (default: <data folder>/captioners)")
    p.add_argument("--db", help="database file or URL (default: <data folder>/inspector.db)")
    p.add_argument("--json", action="store_true", help="print the new version's record as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.add_argument("--device", default="auto", help="auto (GPU if present), cpu, cuda ...")
    p.add_argument("--dtype", default="auto", help="auto (the registry's choice for this machine), float32, bfloat16")
    p.add_argument(
        "--random-weights",
        action="store_true",
        help="train on the captioner's architecture with random weights (tests and speed figures only)",
    )
    p.set_defaults(func=cmd_train_captioner)
