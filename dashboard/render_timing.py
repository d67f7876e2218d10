"""First-render timings of the dashboard's pages and the gradient map's JSON size on a run directory.

Used by `gradsift bench --only scale` (core/bench/scale.py runs it in a child process, so the
engine never imports streamlit).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

PAGES = ("overview", "gradient_space", "outlier_vs_influence", "flagged_review", "budget_retrain", "sample_detail")


def first_renders(run_path: Path) -> dict[str, float]:
    """Seconds of each page's first render on `run_path` (AppTest, cold caches, one process)."""
    from streamlit.testing.v1 import AppTest

    os.environ["GRADSIFT_RUNS_DIR"] = str(run_path.parent)
    app = AppTest.from_file(str(Path(__file__).resolve().parent / "app.py"), default_timeout=600)
    app.session_state["run_path"] = str(run_path)
    app.session_state["reviewer"] = "benchmark"
    seconds = {}
    for page in PAGES:
        if page != "overview":
            app.switch_page(f"pages/{page}.py")
        started = time.perf_counter()
        app.run()
        seconds[page] = time.perf_counter() - started
        if len(app.exception):
            raise RuntimeError(f"page {page} failed on {run_path}: {app.exception[0].value}")
    return seconds


def map_json_megabytes(run_path: Path) -> float:
    """Size of the gradient map figure as the page builds it (the stored map, coloured by flags)."""
    from core.run import schema
    from core.run.rundir import RunDir
    from dashboard import figures

    samples = RunDir(run_path).read_samples()
    flagged = samples[schema.IS_FLAGGED].to_numpy(bool)
    custom, hover = figures.hover_data(samples, schema.score_column("l2"))
    figure = figures.scatter_figure(samples[schema.UMAP_X].to_numpy(), samples[schema.UMAP_Y].to_numpy(), custom,
                                    color=flagged.astype(int), categories=("no", "yes"), hover_names=hover,
                                    keep=flagged)
    return len(figure.to_json()) / 1e6
