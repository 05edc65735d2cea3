"""Render a realistic report to PNG pages, to look at them (a script, not a test).

    .venv/bin/python tests/reports/render_pages.py out/pages            # PDF pages + HTML screenshot
    .venv/bin/python tests/reports/render_pages.py out/pages --readme   # also refresh resources/reports/*.png

Builds a station database of 300 parts (Magnetic Tile images from ``../shared/datasets`` when
present, synthetic parts otherwise), writes the PDF (A4) and the HTML, renders every PDF page with
``pdftoppm`` (Debian package poppler-utils) and, when a Chromium is installed, a screenshot of the
HTML. ``--readme`` writes the summary page, a parts page and the drift chart's page, small, to
``resources/reports/``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from datetime import UTC
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PIL import Image  # noqa: E402

from inspector.reports.data import gather_report  # noqa: E402
from inspector.reports.html import write_html  # noqa: E402
from inspector.reports.pdf import ensure_gui_application, write_pdf  # noqa: E402
from inspector.reports.scope import ReportScope  # noqa: E402
from tests.bench.bench_report import real_images  # noqa: E402
from tests.reports.factory import build_station  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", help="folder for the database, the reports and the PNG pages")
    parser.add_argument("--dpi", type=int, default=90)
    parser.add_argument("--readme", action="store_true", help="refresh resources/reports/report-*.png")
    args = parser.parse_args()
    if shutil.which("pdftoppm") is None:
        print("pdftoppm is missing: apt-get install poppler-utils", file=sys.stderr)
        return 2
    ensure_gui_application()
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    pairs = real_images()
    station = build_station(
        out / "db" / "inspector.db",
        n=300,
        seed=11,
        defect_rate=0.15,
        side=256,
        real_images=pairs,
        thumb_side=256,
        recipe="magnetic-tile",
        object_name="magnetic tile",
        calibration_good=40,  # recipe v2 keeps calibration good scores: the drift chart's reference
        drift_from=0.6,  # and the line drifts late in shift B (good parts score higher)
    )
    scope = ReportScope(lot="L-18")  # shift B: includes parts scored with random weights, uncertain band
    data = gather_report(station.store, scope, tz=UTC, title="Shift report - lot L-18")
    pdf = write_pdf(data, out / "report.pdf")
    write_html(data, out / "report.html")
    subprocess.run(["pdftoppm", "-r", str(args.dpi), "-png", str(out / "report.pdf"), str(out / "page")], check=True)
    pages = sorted(out.glob("page-*.png"))
    print(f"{pdf.pages} PDF pages rendered to {out}/page-*.png")
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser:
        subprocess.run(
            [
                browser,
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--window-size=1200,3000",
                f"--screenshot={out / 'html.png'}",
                (out / "report.html").resolve().as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        print(f"HTML screenshot: {out / 'html.png'}")
    if args.readme:
        target = ROOT / "resources" / "reports"
        target.mkdir(parents=True, exist_ok=True)
        learning = _page_with(out / "report.pdf", "Score drift", len(pages))  # the drift chart's page
        parts = _page_with(out / "report.pdf", "Flagged and reviewed parts", len(pages))
        chosen = [(pages[0], "report-summary.png"), (pages[parts if parts is not None else -1], "report-parts.png")]
        if learning is not None:
            chosen.append((pages[learning], "report-learning.png"))
        for source, name in chosen:
            with Image.open(source) as page:
                size = (page.width, page.height)
                small = page.convert("RGB").resize(size, Image.Resampling.LANCZOS)
                small.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(target / name, optimize=True)
            print(f"wrote {target / name} ({(target / name).stat().st_size // 1024} KB)")
    station.store.close()
    return 0


def _page_with(pdf: Path, text: str, pages: int) -> int | None:
    """The index of the first page of ``pdf`` whose text holds ``text`` (pdftotext, poppler-utils)."""
    for k in range(pages):
        found = subprocess.run(
            ["pdftotext", "-f", str(k + 1), "-l", str(k + 1), str(pdf), "-"], capture_output=True, text=True
        )
        if text in found.stdout:
            return k
    return None


if __name__ == "__main__":
    sys.exit(main())
