"""``inspector audit verify`` and ``inspector audit head``: check and anchor the audit trail."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from inspector.errors import InspectorError

AUDIT_EPILOG = """\
verify exit codes:
  0  the trail is intact (and matches every saved head given with --anchor)
  1  the trail is broken: the first problem is named (row, time, what changed); --all lists every one
  2  bad arguments, or the database cannot be opened

Someone with write access to the database and this program could rebuild the whole trail
consistently. Keep an exported head off the station ('inspector audit head -o FILE', e.g. at the
end of each shift) and check against it: 'inspector audit verify --anchor FILE'."""


def register(subparsers) -> None:
    """Add ``audit verify`` and ``audit head`` to an argparse sub-parser set."""
    audit = subparsers.add_parser(
        "audit",
        help="verify the tamper-evident audit trail, or export its head",
        epilog=AUDIT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = audit.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    p = sub.add_parser(
        "verify",
        help="recompute the hash chain and compare every record with it",
        epilog=AUDIT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--db", help="database file or URL (default: <data folder>/inspector.db)")
    p.add_argument("--anchor", action="append", metavar="FILE", help="a head saved with 'audit head -o' (repeatable)")
    p.add_argument("--all", action="store_true", help="list every problem, not only the first")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_audit_verify)
    p = sub.add_parser("head", help="print (or save) the trail's newest entry: keep it off the station")
    p.add_argument("--db", help="database file or URL (default: <data folder>/inspector.db)")
    p.add_argument("-o", "--out", metavar="FILE", help="write the head to FILE (JSON) instead of printing it")
    p.set_defaults(func=cmd_audit_head)


def _open(db: str | None):
    from inspector.store import default_database_path, open_store

    if db is None and not default_database_path().exists():
        raise InspectorError(f"There is no inspection database at {default_database_path()} (use --db).")
    return open_store(db) if db else open_store()


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from inspector.store.audit import load_anchor

    anchors = []
    for name in args.anchor or ():
        try:
            anchors.append(load_anchor(Path(name)))
        except (OSError, ValueError, KeyError) as error:
            raise InspectorError(f"The saved head {name} cannot be read: {error}") from error
    with _open(args.db) as store:
        report = store.verify_audit(anchors)
        where = store.db.where
        signatures = store.accounts.all_signatures()  # who signed what (chained: verified above)
    if args.json:
        print(
            json.dumps(
                {
                    "database": where,
                    "ok": report.ok,
                    "entries": report.entries,
                    "records": report.rows,
                    "head": report.head.to_json(),
                    "anchors_checked": report.anchors_checked,
                    "signatures": [
                        {
                            "operator": g.operator,
                            "role": g.role,
                            "at": g.signed_at.isoformat(),
                            "meaning": g.meaning,
                            "action": g.action,
                            "subject": f"{g.subject_table}:{g.subject_id}",
                            "subject_sha256": g.subject_sha256,
                            "changes": g.changes,
                            "reason": g.reason,
                        }
                        for g in signatures
                    ],  # fmt: skip
                    "problems": [
                        {
                            "table": f.table,
                            "row": f.row_id,
                            "at": f.at.isoformat() if f.at else None,
                            "entry": f.seq,
                            "what": f.what,
                        }
                        for f in report.findings
                    ],
                },
                indent=2,
            )
        )
    else:
        print(f"{where}: {report.summary()}")
        if report.sealed_rows:
            print(
                f"({report.sealed_rows} records were written before this station kept the trail: they are "
                "proven unchanged since they were sealed at the upgrade, not before.)"
            )
        if signatures:
            listed = signatures if args.all else signatures[-3:]
            print(f"{len(signatures)} electronic signature(s) in the trail" + ("" if args.all else ", newest:"))
            for g in listed:
                print(f"  {g.action} {g.subject_table}:{g.subject_id[:8]}: {g.describe()}")
        if not report.ok:
            shown = report.findings if args.all else report.findings[:1]
            for finding in shown:
                print(f"  {finding.describe()}")
            if len(report.findings) > len(shown):
                print(f"  ... and {len(report.findings) - len(shown)} more (--all lists them)")
    return 0 if report.ok else 1


def cmd_audit_head(args: argparse.Namespace) -> int:
    from inspector.store.audit import write_anchor

    with _open(args.db) as store:
        head = store.audit_head()
    if args.out:
        out = Path(args.out)
        if out.exists():
            out.unlink()  # an explicit export replaces the file
        write_anchor(out, head)
        print(f"Audit head {head.seq}:{head.hash[:12]} written to {out}: keep it off the station.", file=sys.stderr)
    else:
        print(json.dumps(head.to_json(), indent=2))
    return 0
