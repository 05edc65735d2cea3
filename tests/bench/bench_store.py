"""Store benchmark (a script, not a test): batched logging rate and review-table page times.

    .venv/bin/python tests/bench/bench_store.py            # in a temporary folder
    .venv/bin/python tests/bench/bench_store.py --dir /data/bench --rows 100000

Figures printed: inspections stored per second for 10,000 parts logged in batches (each batch one
committed transaction), through the database thread, and the time to fetch one page of 100 rows at
offset 50,000 of a 100,000-row table (plain, and filtered on the derived effective verdict).
"""

from __future__ import annotations

import argparse
import hashlib
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from inspector.store import InspectionFilter, NewInspection, StoreWriter, Verdict, open_store  # noqa: E402

VERDICTS = (Verdict.PASS,) * 8 + (Verdict.FAIL, Verdict.UNCERTAIN)
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def items(n: int, start: int, recipe_version_id: str, run_id: str | None = None) -> list[NewInspection]:
    return [
        NewInspection(
            content_hash=hashlib.sha256(f"bench-{i}".encode()).hexdigest(),
            recipe_version_id=recipe_version_id,
            score=random.random(),
            threshold=0.5,
            verdict=VERDICTS[i % len(VERDICTS)],
            detector="fewshot-dinov2",
            model_id="dinov2-small",
            source="folder:/bench",
            file_path=f"/bench/part_{i:07d}.png",
            run_id=run_id,
            inspected_at=T0 + timedelta(milliseconds=100 * i),
            latency_ms=20.0,
            heatmap_artifact=f"ab/{'ab' + '0' * 62}.npy.gz",
        )
        for i in range(start, start + n)
    ]


def bench_batches(folder: Path, total: int, batch: int, durability: str) -> float:
    with open_store(folder / f"batch-{batch}-{durability}.db", durability=durability) as store:
        recipe = store.save_recipe_version("bench", {"n": 1})
        run = store.start_run(source="folder:/bench", recipe_version_id=recipe.id)
        work = [items(batch, k, recipe.id, run.id) for k in range(0, total, batch)]
        t0 = time.perf_counter()
        for chunk in work:
            store.add_inspections(chunk)
        elapsed = time.perf_counter() - t0
        assert store.count() == total
    return total / elapsed


def bench_writer(folder: Path, total: int) -> float:
    with open_store(folder / "writer.db") as store:
        recipe = store.save_recipe_version("bench", {"n": 1})
        work = items(total, 0, recipe.id)
        writer = StoreWriter(store)
        t0 = time.perf_counter()
        futures = [writer.add(item) for item in work]
        for f in futures:
            f.result()
        elapsed = time.perf_counter() - t0
        writer.close()
    return total / elapsed


def timed(fn, repeats: int = 7) -> float:
    fn()  # warm the page cache
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples) * 1000


def bench_queries(folder: Path, rows: int, overrides: int) -> None:
    with open_store(folder / "query.db") as store:
        recipe = store.save_recipe_version("bench", {"n": 1})
        t0 = time.perf_counter()
        for k in range(0, rows, 5000):
            store.add_inspections(items(min(5000, rows - k), k, recipe.id))
        seeded = time.perf_counter() - t0
        ids = [r.id for r in store.query(limit=rows)]
        for inspection_id in random.Random(0).sample(ids, overrides):
            store.add_override(inspection_id, "bench", Verdict.FAIL, defect_label="scratch")
        offset = rows // 2
        flagged = InspectionFilter(effective_verdict={Verdict.FAIL, Verdict.UNCERTAIN})
        n_flagged = store.count(flagged)
        mid = n_flagged // 2
        show(f"seeded {rows:,} rows ({overrides:,} overrides) at", rows / seeded, "rows/s")
        show(f"page of 100 at offset {offset:,}, newest first", timed(lambda: store.query(offset=offset)), "ms")
        show(f"count() of {rows:,} rows", timed(store.count), "ms")
        show(
            f"page of 100 at offset {mid:,} of {n_flagged:,} effective fail/uncertain",
            timed(lambda: store.query(flagged, offset=mid)),
            "ms",
        )
        show("count(effective fail/uncertain)", timed(lambda: store.count(flagged)), "ms")
        show("count_by_verdict() (effective) over all rows", timed(store.count_by_verdict), "ms")


def show(label: str, value: float, unit: str) -> None:
    print(f"{label:<72} {value:>10,.1f} {unit}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, help="where to put the benchmark databases (default: a temp folder)")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--overrides", type=int, default=2_000)
    parser.add_argument("--total", type=int, default=10_000)
    args = parser.parse_args()
    random.seed(0)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        folder = Path(tmp)
        print(f"SQLite in WAL mode, folder {folder}")
        for durability in ("normal", "full"):
            for batch in (1000, 100, 10):
                rate = bench_batches(folder, args.total, batch, durability)
                show(f"{args.total:,} inspections, batches of {batch} (durability={durability})", rate, "/s")
        show(
            f"{args.total:,} inspections one by one via StoreWriter (group commit)",
            bench_writer(folder, args.total),
            "/s",
        )
        bench_queries(folder, args.rows, args.overrides)


if __name__ == "__main__":
    main()
