"""Tiny runs for the export tests: made once per session, copied before anything writes reviews into them."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.config import BaselineConfig
from core.run.rundir import RunDir
from tests.conftest import fast_config

QUICK = {"baselines": BaselineConfig(enabled=False)}


def _analyze(dataset: str, out: Path) -> RunDir:
    from core.pipeline.runner import analyze

    return analyze(fast_config(dataset, **QUICK), out, retrain_after=False)


@pytest.fixture(scope="session")
def blobs_run(tmp_path_factory) -> RunDir:
    """A tabular run (2 features, 150 training samples, 10 known flipped labels)."""
    return _analyze("blobs", tmp_path_factory.mktemp("export-runs") / "blobs")


@pytest.fixture(scope="session")
def image_folder(tmp_path_factory) -> Path:
    """An image folder of 8x8 digits, class folders with a space in their names (URL quoting)."""
    from sklearn.datasets import load_digits

    root = tmp_path_factory.mktemp("export-data") / "digits folder"
    bunch = load_digits()
    for label in range(4):
        folder = root / f"digit {label}"
        folder.mkdir(parents=True)
        rows = np.flatnonzero(bunch.target == label)[:20]
        for row in rows:
            pixels = np.round(bunch.images[row] * (255 / 16)).astype(np.uint8)
            Image.fromarray(pixels, mode="L").save(folder / f"img{row:04d}.png")
    return root


@pytest.fixture(scope="session")
def folder_run(image_folder, tmp_path_factory) -> RunDir:
    """A run on an image folder: its samples are files (local-files URLs, manifest paths)."""
    return _analyze(str(image_folder), tmp_path_factory.mktemp("export-runs") / "folder")


def copy_run(run: RunDir, tmp_path: Path) -> RunDir:
    """A private copy of a session run (reviews are written into run directories)."""
    target = tmp_path / run.path.name
    shutil.copytree(run.path, target)
    return RunDir(target)


@pytest.fixture
def digits_copy(digits_run, tmp_path) -> RunDir:
    return copy_run(digits_run, tmp_path)


@pytest.fixture
def tag_run(digits_run, tmp_path) -> RunDir:
    """A multi-label run hand-built from the digits run (tests/kind_runs.py)."""
    from tests.kind_runs import multilabel_run

    return multilabel_run(digits_run, tmp_path / "tags")


@pytest.fixture
def value_run(digits_run, tmp_path) -> RunDir:
    """A regression run hand-built from the digits run (tests/kind_runs.py)."""
    from tests.kind_runs import regression_run

    return regression_run(digits_run, tmp_path / "values")
