"""``inspector plant status`` and ``inspector plant forward``: the spool and its links by hand."""

from __future__ import annotations

import argparse

PLANT_EXAMPLES = """examples:
  inspector plant status                                   what waits in this station's spool
  inspector plant forward --central postgresql://inspector:PW@db.plant/inspector
                                                           forward everything now, then exit
settings: <data folder>/plant.json (or INSPECTOR_PLANT_SETTINGS); see the README, 'plant network'.
"""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "plant",
        help="the plant network: spool state, forwarding to the central database",
        epilog=PLANT_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="plant_command", metavar="ACTION", required=True)
    for name, helptext, func in (
        ("status", "what waits in the spool for the central database and the MQTT broker", cmd_status),
        ("forward", "forward the spool to the central database now (until it is empty)", cmd_forward),
    ):
        q = sub.add_parser(name, help=helptext)
        q.add_argument("--db", help="the station's database file (default: <data folder>/inspector.db)")
        q.add_argument("--settings", help="plant settings file (default: <data folder>/plant.json)")
        q.add_argument("--central", metavar="URL", help="central PostgreSQL URL (overrides the settings)")
        q.add_argument("--station", help="station id (overrides the settings; default: this computer's name)")
        q.set_defaults(func=func)
    sub.choices["forward"].add_argument(
        "--timeout", type=float, default=600.0, help="give up after this many seconds (default 600)"
    )


def _open(args):
    from inspector.plant.settings import CentralSettings, load_plant_settings
    from inspector.store import open_store

    settings = load_plant_settings(args.settings)
    if args.central:
        from dataclasses import replace

        central = replace(settings.central, url=args.central) if settings.central else CentralSettings(args.central)
        settings = replace(settings, central=central)
    if args.station:
        from dataclasses import replace

        settings = replace(settings, station_id=args.station)
    store = open_store(args.db, station=settings.station) if args.db else open_store(station=settings.station)
    return settings, store


def cmd_status(args: argparse.Namespace) -> int:
    from inspector.plant import forwarder, mqtt
    from inspector.plant.spool import Spool

    settings, store = _open(args)
    try:
        spool = Spool(store.db)
        print(f"station: {settings.station}   spool: {store.db.where}")
        if settings.central is not None:
            spool.register(forwarder.CONSUMER)
            f = forwarder.Forwarder(
                store.db,
                settings.central.url,
                station=settings.station,
                artifact_target=settings.central.artifact_target(),
            )
            f.check()  # connect once (and register the station id), forward nothing
            print(f.state().describe())
        else:
            print("central database: not configured")
        if settings.mqtt is not None:
            spool.register(mqtt.CONSUMER)
            print(f"MQTT: {spool.waiting(mqtt.CONSUMER, tables=mqtt.TABLES)} changes waiting for the broker")
        else:
            print("MQTT: not configured")
    finally:
        store.close()
    return 0


def cmd_forward(args: argparse.Namespace) -> int:
    from inspector.plant.forwarder import Forwarder
    from inspector.plant.settings import PlantSettingsError

    settings, store = _open(args)
    try:
        if settings.central is None:
            raise PlantSettingsError(
                "No central database is configured: give --central URL or the 'central' section of plant.json."
            )
        f = Forwarder(
            store.db,
            settings.central.url,
            station=settings.station,
            artifact_target=settings.central.artifact_target(),
            local_artifacts=store.artifacts,
        )
        done = f.drain(timeout=args.timeout)
        state = f.state()
        print(f"{state.forwarded} changes forwarded; {state.describe()}")
        return 0 if done else 5
    finally:
        store.close()


# -- 'inspector run' on the plant network ---------------------------------------------------------
def add_run_arguments(p: argparse.ArgumentParser) -> None:
    """The plant options of ``inspector run``."""
    g = p.add_argument_group("plant network (see the README, 'plant network')")
    g.add_argument("--plant", metavar="FILE", help="plant settings file (default: <data folder>/plant.json if present)")
    g.add_argument("--central", metavar="URL", help="forward to this PostgreSQL server (overrides the settings)")
    g.add_argument("--station", help="this station's id on the plant network (default: the computer's name)")
    g.add_argument(
        "--forward-wait",
        type=float,
        default=30.0,
        metavar="S",
        help="at the end, wait up to S seconds for forwarding and MQTT to catch up (default 30; the rest "
        "waits in the spool for the next start)",
    )


def run_database(args: argparse.Namespace) -> str | None:
    """``--db postgresql://...`` means: spool locally (the default file), forward to that server."""
    db = getattr(args, "db", None)
    if db and "://" in db and not db.startswith("sqlite"):
        args.central = args.central or db
        return None
    return db


def run_settings(args: argparse.Namespace):
    from dataclasses import replace

    from inspector.plant.settings import CentralSettings, load_plant_settings

    settings = load_plant_settings(args.plant)
    if args.central:
        central = replace(settings.central, url=args.central) if settings.central else CentralSettings(args.central)
        settings = replace(settings, central=central)
    if args.station:
        settings = replace(settings, station_id=args.station)
    return settings


def start_for_session(args: argparse.Namespace, session):
    """The plant links for one ``inspector run`` on ``session`` (None when none is configured),
    subscribed to the session's notifications (:meth:`~inspector.plant.link.PlantLink.follow`).

    With the plant settings' OPC UA block (``"enabled": true``, the default) the OPC UA server runs
    for the duration of the run: the run's state and each stored part's result, ``Stop`` ends the run
    (:class:`~inspector.plant.run_control.RunControl`).
    """
    import sys

    from inspector.plant.link import PlantLink
    from inspector.plant.run_control import RunControl

    settings = run_settings(args)
    if not settings.enabled:
        return None
    if settings.station_id:  # records carry the station id the plant knows this station by
        session.store.station = settings.station_id
    control = None
    if settings.serves_opcua:
        from inspector.core.recipe import load_recipe

        control = RunControl(session, load_recipe(args.recipe).name if args.recipe else "default zero-shot")
    link = PlantLink(session.store, settings, control=control).start()
    link.follow(session)
    print_state_changes(link)
    print(f"plant network: station '{settings.station}'; " + link.status().describe(), file=sys.stderr)
    return link


def print_state_changes(link) -> None:
    """While ``inspector run`` goes on, say on stderr when the central database or MQTT becomes
    unreachable (with the reason and what waits) and when it is up to date again; not every batch."""
    import sys
    import threading

    lock = threading.Lock()
    last: dict[str, str] = {}

    def printer(name: str, describe):
        def on_state(state) -> None:
            kind = "error:" + state.error if state.error is not None else ("" if state.waiting else "up to date")
            with lock:
                if not kind or last.get(name, "up to date") == kind:
                    last.setdefault(name, kind or "up to date")
                    return
                last[name] = kind
            print(f"inspector: {describe(state)}", file=sys.stderr, flush=True)

        return on_state

    if link.forwarder is not None:
        link.forwarder.on_state = printer("central", lambda s: s.describe())
    if link.mqtt is not None:
        link.mqtt.on_state = printer("mqtt", lambda s: s.describe())


def finish_for_run(link, timeout: float) -> list[str]:
    """Give the links ``timeout`` seconds to catch up, stop them, and return their state lines."""
    import time

    if link is None:
        return []
    deadline = time.monotonic() + max(0.0, timeout)
    link.stored()
    while time.monotonic() < deadline and not link.idle():
        time.sleep(0.1)
    return link.close().lines()
