"""Report benchmark (a script, not a test): 1,000 inspections, 200 flagged parts listed, every format.

    .venv/bin/python tests/bench/bench_report.py                   # in a temporary folder
    .venv/bin/python tests/bench/bench_report.py --keep out/bench  # keep the store and the reports

The store holds real-looking parts: images of the shared Magnetic Tile dataset when present
(``../shared/datasets/magnetic_tile``; synthetic 256 px parts otherwise), 256 px JPEG thumbnails
and full-resolution lossless anomaly maps (as the station stores them by default), operator
decisions with undos, captions, and some random-weights parts. Printed: seconds to gather the
figures and images, to write each format on its own, and for the end-to-end export of all three
(what ``inspector report`` does; the target is under 30 s on the station's CPU).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from inspector.reports.csv_export import write_csv  # noqa: E402
from inspector.reports.data import gather_report  # noqa: E402
from inspector.reports.export import default_outputs, export_report  # noqa: E402
from inspector.reports.html import write_html  # noqa: E402
from inspector.reports.pdf import ensure_gui_application, write_pdf  # noqa: E402
from tests.reports.factory import build_station  # noqa: E402

SHARED = ROOT.parent / "shared" / "datasets" / "magnetic_tile" / "magnetic_tile"


def real_images() -> list[tuple[Path, Path | None]] | None:
    if not SHARED.is_dir():
        return None
    pairs: list[tuple[Path, Path | None]] = [(p, None) for p in sorted((SHARED / "test" / "good").glob("*.jpg"))]
    for defect in sorted(d for d in (SHARED / "test").iterdir() if d.is_dir() and d.name != "good"):
        for image in sorted(defect.glob("*.jpg")):
            mask = SHARED / "ground_truth" / defect.name / f"{image.stem}_mask.png"
            pairs.append((image, mask if mask.is_file() else None))
    return pairs


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def timed(label: str, fn, results: dict[str, float]):
    t0 = time.perf_counter()
    value = fn()
    results[label] = time.perf_counter() - t0
    print(f"  {label:44} {results[label]:7.2f} s", flush=True)
    return value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", help="folder to build in and keep (default: a temporary folder)")
    parser.add_argument("--parts", type=int, default=1000)
    parser.add_argument("--flagged", type=int, default=200, help="parts listed with images")
    args = parser.parse_args()
    ensure_gui_application()
    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-report-"))
    folder.mkdir(parents=True, exist_ok=True)
    pairs = real_images()
    print(f"CPU: {cpu_name()} ({os.cpu_count()} logical cores); Python {platform.python_version()}")
    print(
        f"Building a store of {args.parts} inspections in {folder} "
        f"({'Magnetic Tile images' if pairs else 'synthetic images'}) ...",
        flush=True,
    )
    t0 = time.perf_counter()
    station = build_station(
        folder / "inspector.db",
        n=args.parts,
        seed=3,
        defect_rate=0.2,
        side=256,
        real_images=pairs,
        thumb_side=256,
        full_res_maps=True,
        recipe="magnetic-tile",
        object_name="magnetic tile",
    )
    print(f"  built in {time.perf_counter() - t0:.1f} s")
    store, out = station.store, folder / "reports"
    results: dict[str, float] = {}
    print("Timings:")
    data = timed("gather figures, images and charts", lambda: gather_report(store, max_parts=args.flagged), results)
    print(f"    ({data.inspections} inspections, {data.parts_total} flagged or reviewed, {len(data.parts)} listed)")
    timed("CSV (own pass over the store)", lambda: write_csv(store, None, out / "alone.csv"), results)
    timed("HTML (from the gathered figures)", lambda: write_html(data, out / "alone.html"), results)
    pdf = timed("PDF A4 (from the gathered figures)", lambda: write_pdf(data, out / "alone.pdf"), results)
    result = timed(
        "end to end: PDF + HTML + CSV in one export",
        lambda: export_report(store, None, default_outputs(out, data.scope), max_parts=args.flagged),
        results,
    )
    total = results["end to end: PDF + HTML + CSV in one export"]
    sizes = ", ".join(f"{f.upper()} {p.stat().st_size / 1e6:.1f} MB" for f, p in result.files.items())
    print(f"PDF pages: {pdf.pages}; files: {sizes}")
    verdict = "OK" if total < 30 else "TOO SLOW"
    print(
        f"End-to-end report of {data.inspections} inspections with {len(result.data.parts)} listed parts: "
        f"{total:.2f} s (target < 30 s: {verdict})"
    )
    store.close()
    return 0 if total < 30 else 1


if __name__ == "__main__":
    sys.exit(main())
