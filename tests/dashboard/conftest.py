"""Run directories made once per session for the dashboard tests, and AppTest helpers.

Four runs cover the data paths a page must handle: `digits` (images, true labels known,
influence and label-quality baselines), `moons` (tabular, true labels known), `nolabels`
(images from an .npz without `y_true`, so every truth view must hide; no baselines, so
the detectors are compared with each other) and `text` (a text manifest whose first text
would inject Markdown and HTML if a view did not escape it). Tests that write (reviews, retraining, exports) work on a
copy, so the session runs stay as analyzed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits

from core.config import (
    BaselineConfig,
    DataConfig,
    EmbedConfig,
    FlagConfig,
    GradientConfig,
    RunConfig,
    TrainConfig,
)
from tests.conftest import text_config, write_text_manifest

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
PAGES = ("overview", "gradient_space", "outlier_vs_influence", "flagged_review", "budget_retrain", "sample_detail")


def small_config(dataset: str, baselines: bool = True) -> RunConfig:
    return RunConfig(data=DataConfig(dataset=dataset), train=TrainConfig(epochs=3, patience=2, min_steps=0),
                     gradients=GradientConfig(mode="in_sample"), embed=EmbedConfig(method="pca"),
                     baselines=BaselineConfig(enabled=baselines), flag=FlagConfig(budget=0.05))


@pytest.fixture(scope="session")
def runs_dir(tmp_path_factory) -> Path:
    """A runs directory holding the digits, moons and nolabels runs."""
    from core.pipeline.runner import analyze

    root = tmp_path_factory.mktemp("dashboard_runs")
    analyze(small_config("digits"), root / "digits")
    analyze(small_config("moons"), root / "moons")
    digits = load_digits()
    keep = np.arange(0, len(digits.images), 2)  # 899 images: enough for every view, quick to train
    images = np.round(digits.images[keep] / 16 * 255).astype(np.uint8)
    npz = tmp_path_factory.mktemp("data") / "unlabelled_digits.npz"
    np.savez(npz, X=images, y=digits.target[keep])  # no y_true: the truth is unknown
    analyze(small_config(str(npz), baselines=False), root / "nolabels")
    analyze(text_config(write_text_manifest(npz.parent / "requests.csv"), embed=EmbedConfig(method="pca"),
                        train=TrainConfig(epochs=3, patience=2, min_steps=0)), root / "text")
    return root


@pytest.fixture
def app_env(runs_dir, monkeypatch):
    """GRADSIFT_RUNS_DIR pointing at the session runs."""
    monkeypatch.setenv("GRADSIFT_RUNS_DIR", str(runs_dir))
    return runs_dir


@pytest.fixture
def writable_runs(runs_dir, tmp_path, monkeypatch) -> Path:
    """A private copy of the session runs (for tests that review, retrain or export)."""
    root = tmp_path / "runs"
    for name in ("digits", "moons", "nolabels", "text"):
        shutil.copytree(runs_dir / name, root / name)
    monkeypatch.setenv("GRADSIFT_RUNS_DIR", str(root))
    return root


def open_page(run_path: Path | str, page: str = "overview", **state):
    """An AppTest of the dashboard showing `page` for the run at `run_path`.

    Session state is set before the first run (the sidebar picker starts on that run);
    AppTest re-runs only the page script after a switch, so later tests set state
    directly instead of through the sidebar.
    """
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(str(APP), default_timeout=120)
    app.session_state["run_path"] = str(run_path)
    for key, value in state.items():
        app.session_state[key] = value
    app.run()
    if page != "overview":
        app.switch_page(f"pages/{page}.py")
        app.run()
    return app


def problems(app) -> list[str]:
    """Exceptions and st.error messages shown by the last run."""
    return [str(e.value) for e in app.exception] + [str(e.value) for e in app.error]


def count(app, element_type: str) -> int:
    return len(app.get(element_type))
