"""Cached readers of a run's test split for the dashboard: labels and predictions, texts and images, and the
attribution of test predictions to training samples (core.influence.run_attribution), with the stamps and
sharing rules of dashboard.data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from core.evaluate import explore as analysis
from core.run import schema
from core.run.rundir import RunDir
from dashboard.data import _stamp


@st.cache_data(max_entries=8, show_spinner=False)
def _test_table(run_path: str, stamp: tuple[int, ...]) -> pd.DataFrame:
    run = RunDir(run_path)
    labels = run.test_labels()
    probs = run.read_npz(schema.ERM_OUTPUTS)["test_probs"]
    rows = np.arange(len(labels))
    return pd.DataFrame({"test_id": rows, "test_label": labels, schema.PRED_LABEL: probs.argmax(axis=1),
                         schema.CONFIDENCE: probs.max(axis=1),
                         "test_label_prob": probs[rows, labels]})


def test_table(run_path: str) -> pd.DataFrame:
    """One row per test sample: its (possibly unverified) label, the analyzed model's prediction and
    confidence, and the probability it gives the test label (low = worth checking)."""
    return _test_table(run_path, _stamp(run_path, schema.TEST_LABELS, schema.ERM_OUTPUTS))


@st.cache_resource(max_entries=2, show_spinner="Fitting the per-class forests of this run…")
def _attributor(run_path: str, stamp: tuple[int, ...]):
    from core.influence.run_attribution import RunAttributor

    return RunAttributor(run_path)


def attributor(run_path: str):
    """The run's `RunAttributor`: gradients read and per-class forests fitted once per run, shared by sessions."""
    return _attributor(run_path, _stamp(run_path, schema.MANIFEST, schema.FEATURES, schema.ERM_OUTPUTS))


@st.cache_data(max_entries=64, show_spinner="Ranking the training samples for this test sample…")
def _attribution(run_path: str, stamp: tuple[int, ...], test_id: int, top_k: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    result = attributor(run_path).attribute([test_id], top_k=top_k)
    return result.top, result.metrics


def attribution(run_path: str, test_id: int, top_k: int = 12) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(top-k training samples per method, class-detection metrics) for one test sample."""
    return _attribution(run_path, _stamp(run_path, schema.MANIFEST, schema.FEATURES, schema.ERM_OUTPUTS),
                        int(test_id), int(top_k))


@st.cache_data(max_entries=16, show_spinner="Computing the class heat map…")
def _class_heatmap(run_path: str, stamp: tuple[int, ...], method: str) -> np.ndarray:
    return attributor(run_path).class_heatmap(method)


def class_heatmap(run_path: str, method: str = "oga") -> np.ndarray:
    """(C, C) mean influence of training classes on test classes (streamed over the test split)."""
    return _class_heatmap(run_path, _stamp(run_path, schema.MANIFEST, schema.FEATURES, schema.ERM_OUTPUTS), method)


@st.cache_data(max_entries=8, show_spinner=False)
def _test_predictions(run_path: str, stamp: tuple[int, ...]) -> pd.DataFrame | None:
    from core.evaluate.test_predictions import test_predictions as predictions

    return predictions(RunDir(run_path))


def test_predictions(run_path: str) -> pd.DataFrame | None:
    """The test samples' labels next to the model's predictions of a multi-label or regression run
    (core.evaluate.test_predictions); None when the run holds none in its task's form."""
    return _test_predictions(run_path, _stamp(run_path, schema.MANIFEST, schema.TEST_LABELS, schema.ERM_OUTPUTS))


@st.cache_data(max_entries=8, show_spinner=False)
def _test_texts(run_path: str, stamp: tuple[int, ...]) -> list[str]:
    return RunDir(run_path).read_parquet(schema.TEST_TEXTS)[schema.TEXT].astype(str).tolist()


def test_texts(run_path: str) -> list[str] | None:
    """Texts of the test split (row i = test sample i) of a text run; None for other runs."""
    if not Path(run_path, schema.TEST_TEXTS).exists():
        return None
    return _test_texts(run_path, _stamp(run_path, schema.TEST_TEXTS))


@st.cache_resource(max_entries=4, show_spinner=False)
def _test_thumbnails(run_path: str, stamp: tuple[int, ...]) -> np.ndarray:
    return RunDir(run_path).read_npy(schema.TEST_THUMBNAILS, mmap=True)


def test_image(run_path: str, test_id: int, min_side: int = 160) -> np.ndarray | None:
    """The test sample's image (H, W, C) uint8 from the run's test thumbnails, enlarged for display;
    None for tabular runs."""
    if not Path(run_path, schema.TEST_THUMBNAILS).exists():
        return None
    image = _test_thumbnails(run_path, _stamp(run_path, schema.TEST_THUMBNAILS))[test_id]
    return analysis.upscale_nearest(np.asarray(image)[None], min_side)[0]
