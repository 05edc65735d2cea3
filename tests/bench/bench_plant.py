"""Plant load test (a script, not a test): many stations forward through their spools into one PostgreSQL.

    .venv/bin/python tests/bench/bench_plant.py                      # 8 stations x 20/s x 120 s, 30 s outage
    .venv/bin/python tests/bench/bench_plant.py --stations 2 --seconds 20 --outage 5   # a quick look

Each station is its own process: it stores inspections one at a time at a fixed rate into its own
SQLite (the spool) while its forwarder thread sends them to the central server. The script starts
PostgreSQL with ``packaging/services.sh`` (loopback, temporary folder), stops it for ``--outage``
seconds in the middle and starts it again. At the end it checks that every stored record is on the
server exactly once (the same ids, no more, no fewer), reports the forwarding lag (the server's
commit time, ``track_commit_timestamp``, minus the station's store time: median and worst), and
that the central ``inspector report`` CSV counts equal the sum of the stations' own counts.
All traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import multiprocessing as mp
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
SERVICES = ROOT / "packaging" / "services.sh"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def station_main(index: int, folder: str, url: str, rate: float, seconds: float, start_at: float, out: str) -> None:
    from inspector.plant.forwarder import Forwarder
    from inspector.store import NewInspection, Verdict, open_store

    name = f"station-{index:02d}"
    store = open_store(Path(folder) / name / "inspector.db", station=name)
    recipe = store.save_recipe_version("bracket-A", {"object": "bracket", "threshold": 0.5})
    run = store.start_run(source="camera:0", recipe_version_id=recipe.id, operator="ana")
    forwarder = Forwarder(store.db, url, station=name, retry_s=(0.2, 2.0), connect_timeout_s=3).start()
    verdicts = (Verdict.PASS,) * 8 + (Verdict.FAIL, Verdict.UNCERTAIN)
    ids: list[str] = []
    n = int(rate * seconds)
    while time.time() < start_at:
        time.sleep(0.01)
    for i in range(n):
        due = start_at + i / rate
        delay = due - time.time()
        if delay > 0:
            time.sleep(delay)
        item = NewInspection(
            content_hash=hashlib.sha256(f"{name}-{i}".encode()).hexdigest(),
            recipe_version_id=recipe.id,
            score=(i * 7919 % 1000) / 1000,
            threshold=0.5,
            verdict=verdicts[i % len(verdicts)],
            detector="fewshot-dinov2",
            model_id="dinov2-small",
            source="camera:0",
            run_id=run.id,
        )
        ids.extend(store.add_inspections([item]).ids)  # one committed transaction per part, as a station does
        forwarder.notify()
    store.finish_run(run.id)
    forwarder.notify()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not forwarder.state().up_to_date:
        time.sleep(0.1)
    state = forwarder.stop()
    counts = store.count_by_verdict(effective=False)
    Path(out).write_text(
        json.dumps(
            {
                "station": name,
                "ids": ids,
                "pass": counts.passed,
                "fail": counts.failed,
                "uncertain": counts.uncertain,
                "up_to_date": state.waiting == 0 and state.error is None,
                "state": state.describe(),
            }
        )
    )
    store.close()


def services(env: dict[str, str], action: str) -> None:
    subprocess.run(["bash", str(SERVICES), action, "postgres"], env=env, check=True, capture_output=True, text=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--stations", type=int, default=8)
    p.add_argument("--rate", type=float, default=20.0, help="inspections per second per station")
    p.add_argument("--seconds", type=float, default=120.0, help="how long each station stores")
    p.add_argument("--outage", type=float, default=30.0, help="seconds the server is stopped, mid-way")
    p.add_argument("--dir", help="work folder (default: a temporary one)")
    args = p.parse_args()

    import psycopg

    work = Path(args.dir or tempfile.mkdtemp(prefix="inspector-plant-bench-"))
    work.chmod(0o755)
    env = {
        **os.environ,
        "INSPECTOR_SERVICES_DIR": str(work / "services"),
        "INSPECTOR_PG_PORT": str(_free_port()),
    }
    services(env, "start")
    port = env["INSPECTOR_PG_PORT"]
    admin = f"host=127.0.0.1 port={port} user=inspector password=inspector dbname=postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS plant_bench WITH (FORCE)")
        conn.execute("CREATE DATABASE plant_bench")
    url = f"postgresql+psycopg://inspector:inspector@127.0.0.1:{port}/plant_bench"
    from inspector.store import open_store

    open_store(url).close()  # the schema, once, before the stations race to make it

    ctx = mp.get_context("spawn")
    start_at = time.time() + 8.0  # time for the processes to import and open their spools
    procs = []
    for i in range(args.stations):
        out = work / f"station-{i:02d}.json"
        proc = ctx.Process(target=station_main, args=(i, str(work), url, args.rate, args.seconds, start_at, str(out)))
        proc.start()
        procs.append((proc, out))
    stop_at = start_at + (args.seconds - args.outage) / 2
    while time.time() < stop_at:
        time.sleep(0.05)
    t_stop = time.time()
    services(env, "stop")
    print(f"server stopped at t={t_stop - start_at:.1f} s", flush=True)
    while time.time() < t_stop + args.outage:
        time.sleep(0.05)
    services(env, "start")
    print(f"server started again at t={time.time() - start_at:.1f} s", flush=True)
    for proc, _ in procs:
        proc.join(timeout=args.seconds + 600)
    t_end = time.time()
    results = [json.loads(out.read_text()) for _, out in procs]

    ok = True
    with psycopg.connect(admin.replace("dbname=postgres", "dbname=plant_bench")) as conn:
        rows = conn.execute(
            "SELECT station, id, EXTRACT(EPOCH FROM pg_xact_commit_timestamp(xmin) - inspected_at) FROM inspections"
        ).fetchall()
    central_ids: dict[str, list[str]] = {}
    lags = []
    for station, id_, lag in rows:
        central_ids.setdefault(station, []).append(id_)
        lags.append(float(lag))
    for r in results:
        got = central_ids.get(r["station"], [])
        once = len(got) == len(set(got)) == len(r["ids"]) and set(got) == set(r["ids"])
        ok &= once and r["up_to_date"]
        print(f"{r['station']}: stored {len(r['ids'])}, on the server {len(got)}, exactly once: {once}; {r['state']}")

    report = work / "central.csv"
    done = subprocess.run(
        [sys.executable, "-m", "inspector", "report", "--db", url, "-f", "csv", "-o", str(report), "-q"],
        capture_output=True,
        text=True,
        env={**env, "INSPECTOR_DATA_DIR": str(work / "reader")},
    )
    if done.returncode != 0:
        print("report failed:", done.stderr.strip())
        ok = False
        csv_counts: Counter[str] = Counter()
    else:
        with open(report, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(line for line in handle if not line.startswith("#"))
            csv_counts = Counter(row["model_verdict"] for row in reader)
    stations_sum = Counter()
    for r in results:
        stations_sum.update({"pass": r["pass"], "fail": r["fail"], "uncertain": r["uncertain"]})
    same = all(csv_counts[k] == stations_sum[k] for k in ("pass", "fail", "uncertain"))
    ok &= same
    total = sum(len(r["ids"]) for r in results)
    print(f"central report (CSV): {dict(csv_counts)}; sum of the stations: {dict(stations_sum)}; equal: {same}")
    print(
        f"{args.stations} stations x {args.rate:g}/s x {args.seconds:g} s = {total} records, server stopped "
        f"{args.outage:g} s; forwarding lag median {statistics.median(lags):.3f} s, worst {max(lags):.1f} s; "
        f"all forwarded {t_end - start_at - args.seconds:.1f} s after the last part was stored"
    )
    cpu = platform.processor() or ""
    if Path("/proc/cpuinfo").exists():
        names = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("model name")]  # fmt: skip
        cpu = names[0] if names else cpu
    print(f"CPU: {cpu}, {os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f}")
    print("RESULT:", "PASS" if ok else "FAIL")
    services(env, "stop")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
