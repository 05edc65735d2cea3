"""``inspector operators ...`` and the PIN for ``--operator`` on the command line.

A PIN is read, in this order, from the ``INSPECTOR_PIN`` environment variable, from the first
line of standard input (``--pin-stdin``, for automation), or from the terminal (not echoed). A
command that needs a PIN and has none of these stops with a message (exit code 2).
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys

from inspector.core.pins import PIN_ENV
from inspector.errors import InspectorError

PIN_HELP = f"read the PIN from the first line of standard input (or set {PIN_ENV}; else it is asked at the terminal)"


def read_pin(who: str, *, from_stdin: bool = False, prompt: str = "PIN") -> str:
    """The PIN for ``who`` from the environment, standard input or the terminal."""
    pin = os.environ.get(PIN_ENV)
    if pin is not None:
        return pin.strip()
    if from_stdin:
        return sys.stdin.readline().strip()
    if sys.stdin.isatty():
        return getpass.getpass(f"{prompt} for {who}: ").strip()
    raise InspectorError(
        f"{who} must give a PIN at this station: type it at a terminal, or for automation set {PIN_ENV} "
        "or pass --pin-stdin."
    )


def log_in(store, name: str, *, pin_stdin: bool = False, permission: str | None = None):
    """Log ``name`` in under the station's policy (asking for the PIN when one is required)."""
    from inspector.store.accounts import LoginError, PermissionDenied

    accounts = store.accounts
    pin = read_pin(name, from_stdin=pin_stdin) if accounts.policy().require_pin else None
    try:
        who = accounts.log_in(name, pin)
        if permission is not None:
            accounts.require(who.name, permission)
    except (LoginError, PermissionDenied) as error:
        raise InspectorError(str(error)) from error
    return who


def check_operator(db: str | None, name: str, *, pin_stdin: bool = False) -> None:
    """For ``run --operator``: refuse to start unless ``name`` may log in (PIN when required)."""
    from inspector.store import open_store

    with open_store(db) if db else open_store() as store:
        log_in(store, name, pin_stdin=pin_stdin, permission="review")


def register(subparsers) -> None:
    p = subparsers.add_parser("operators", help="who may use this station: operators, PINs, roles, log-in policy")
    sub = p.add_subparsers(dest="operators_command", metavar="ACTION", required=True)

    def common(q: argparse.ArgumentParser) -> None:
        q.add_argument("--db", help="database file or URL (default: <data folder>/inspector.db)")

    q = sub.add_parser("list", help="operators, their roles and whether they have a PIN")
    common(q)
    q.set_defaults(func=cmd_list)
    q = sub.add_parser("add", help="add an operator, or change their role or PIN")
    q.add_argument("name")
    q.add_argument("--role", choices=["operator", "engineer", "admin"])
    q.add_argument("--set-pin", action="store_true", help="set a new PIN for NAME (asked twice at the terminal)")
    q.add_argument("--by", help="the admin making the change (needed when roles are on)")
    q.add_argument("--pin-stdin", action="store_true", help=PIN_HELP + "; with --set-pin: 'new PIN' then 'admin PIN'")
    common(q)
    q.set_defaults(func=cmd_add)
    q = sub.add_parser("policy", help="show or change the log-in policy (PINs required, roles)")
    q.add_argument("--require-pin", choices=["on", "off"])
    q.add_argument("--roles", choices=["on", "off"], help="enforce roles (needs an admin with a PIN; implies PINs)")
    q.add_argument("--by", help="the admin making the change (needed once PINs are on)")
    q.add_argument("--pin-stdin", action="store_true", help=PIN_HELP)
    common(q)
    q.set_defaults(func=cmd_policy)


def _store(db: str | None):
    from inspector.store import open_store

    return open_store(db) if db else open_store()


def cmd_list(args: argparse.Namespace) -> int:
    from inspector.console import format_rows

    with _store(args.db) as store:
        policy = store.accounts.policy()
        rows = [
            [a.name, a.role, "yes" if a.has_pin else "no", "disabled" if a.disabled else ""]
            for a in store.accounts.list()
        ]
    print(f"PINs required: {'yes' if policy.require_pin else 'no'}; roles enforced: {'yes' if policy.roles else 'no'}")
    if rows:
        print(format_rows(["operator", "role", "PIN", ""], rows))
    return 0


def _new_pin(name: str, from_stdin: bool) -> str:
    if os.environ.get(PIN_ENV) is not None or from_stdin:
        return read_pin(name, from_stdin=from_stdin, prompt="New PIN")
    first = read_pin(name, prompt="New PIN")
    if first != read_pin(name, prompt="The new PIN again"):
        raise InspectorError("The two PINs differ; nothing was changed.")
    return first


def cmd_add(args: argparse.Namespace) -> int:
    from inspector.store.accounts import LoginError, PermissionDenied
    from inspector.store.errors import StoreError

    with _store(args.db) as store:
        accounts = store.accounts
        pin = _new_pin(args.name, args.pin_stdin) if args.set_pin else None
        by_pin = read_pin(args.by, from_stdin=args.pin_stdin) if args.by and accounts.policy().roles else ""
        try:
            account = accounts.add_operator(args.name, role=args.role, pin=pin, by=args.by, by_pin=by_pin)
        except (LoginError, PermissionDenied, StoreError) as error:
            raise InspectorError(str(error)) from error
    print(f"{account.name}: role {account.role}, {'has a PIN' if account.has_pin else 'no PIN yet'}")
    return 0


def cmd_policy(args: argparse.Namespace) -> int:
    from inspector.store.accounts import LoginError, PermissionDenied

    with _store(args.db) as store:
        accounts = store.accounts
        policy = accounts.policy()
        if args.require_pin or args.roles:
            pin = read_pin(args.by or "the admin", from_stdin=args.pin_stdin) if policy.require_pin else ""
            try:
                policy = accounts.set_policy(
                    require_pin=None if args.require_pin is None else args.require_pin == "on",
                    roles=None if args.roles is None else args.roles == "on",
                    by=args.by,
                    pin=pin,
                )
            except (LoginError, PermissionDenied) as error:
                raise InspectorError(str(error)) from error
    print(f"PINs required: {'yes' if policy.require_pin else 'no'}; roles enforced: {'yes' if policy.roles else 'no'}")
    return 0
