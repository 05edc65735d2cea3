"""The PDF: pages numbered "n of m", the figures in its text, and page 1 renders (pdftoppm)."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from inspector.core.progress import Cancelled, ProgressState
from inspector.reports.pdf import write_pdf
from inspector.reports.scope import ReportError
from inspector.reports.sections import num

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def page_count(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page(?![s\w])", pdf))


def pdf_text(path) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (Debian package poppler-utils) is not installed")
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def a4_pdf(report_data, tmp_path_factory):
    path = tmp_path_factory.mktemp("pdf") / "report.pdf"
    result = write_pdf(report_data, path, paper="a4")
    return path, result


def test_pdf_pages_and_paper(a4_pdf, report_data, tmp_path):
    path, result = a4_pdf
    data = path.read_bytes()
    assert data.startswith(b"%PDF") and result.path == path
    assert page_count(data) == result.pages >= 4  # summary, charts and the parts pages
    assert re.search(rb"/MediaBox\s*\[\s*0\s+0\s+595(\.0*)?\s+842(\.0*)?\s*\]", data)  # A4 in points
    letter = write_pdf(report_data, tmp_path / "letter.pdf", paper="letter")
    assert re.search(rb"/MediaBox\s*\[\s*0\s+0\s+612(\.0*)?\s+792(\.0*)?\s*\]", letter.path.read_bytes())
    with pytest.raises(ReportError, match="paper size"):
        write_pdf(report_data, tmp_path / "x.pdf", paper="a3")


def test_pdf_text_shows_the_figures_and_page_numbers(a4_pdf, report_data):
    path, result = a4_pdf
    text = pdf_text(path)
    pages = text.split("\f")
    assert f"Page 1 of {result.pages}" in pages[0]
    assert f"Page {result.pages} of {result.pages}" in pages[result.pages - 1]
    assert all(f"Page {i} of {result.pages}" in pages[i - 1] for i in range(1, result.pages + 1))
    assert all("RANDOM WEIGHTS" in page for page in pages[: result.pages])  # on every page
    d = report_data
    flat = " ".join(text.split())
    assert f"{num(d.random_weights)} of {num(d.inspections)} inspections" in flat
    assert f"PASS {d.model_counts.passed} " in flat and f" {d.effective_counts.passed} " in flat
    assert "Flagged and reviewed parts" in flat and "Override history" in flat
    dense = "".join(text.split())
    for part in d.parts[:3] + d.parts[-3:]:
        assert part.record.id in dense


def test_pdf_page_one_renders(a4_pdf, tmp_path):
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (Debian package poppler-utils) is not installed")
    path, result = a4_pdf
    subprocess.run(
        ["pdftoppm", "-r", "40", "-png", "-f", "1", "-l", "2", str(path), str(tmp_path / "page")], check=True
    )
    pngs = sorted(tmp_path.glob("page-*.png"))
    assert len(pngs) == 2
    for png in pngs:
        pixels = np.asarray(Image.open(png).convert("L"), dtype=np.float32)
        assert pixels.shape[0] > pixels.shape[1]  # portrait
        assert (pixels < 200).mean() > 0.02 and pixels.std() > 20  # ink on the page, not blank


def test_cancelled_pdf_leaves_no_file(report_data, tmp_path):
    progress = ProgressState(lambda done, total, phase: progress.cancel() if phase == "Writing PDF" else None)
    with pytest.raises(Cancelled):
        write_pdf(report_data, tmp_path / "cancelled.pdf", progress=progress)
    assert list(tmp_path.iterdir()) == []


def test_report_runs_on_a_worker_thread_with_progress(station, tmp_path):
    """What the export dialog does: the whole export off the GUI thread, progress per phase."""
    import threading

    from inspector.reports.export import default_outputs, export_report
    from inspector.reports.pdf import ensure_gui_application
    from inspector.reports.scope import ReportScope

    ensure_gui_application()
    phases: list[str] = []
    outcome: dict = {}
    progress = ProgressState(lambda done, total, phase: phases.append(phase) if phase not in phases else None)

    def work():
        try:
            scope = ReportScope(lot="L-17")
            outcome["result"] = export_report(station.store, scope, default_outputs(tmp_path, scope), progress=progress)
        except BaseException as error:  # reported to the test thread
            outcome["error"] = error

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(120)
    assert "error" not in outcome, outcome.get("error")
    result = outcome["result"]
    assert result.pdf_pages == page_count(result.files["pdf"].read_bytes()) and result.csv_rows == 147
    assert phases == ["Reading inspections", "Preparing images", "Writing HTML", "Laying out PDF", "Writing PDF"]
