"""The dashboard's `st.cache_*` data wrappers around core (the test split's: dashboard.test_data; the job
registry: dashboard.jobs).

Every cached reader takes the run directory's path plus a *stamp* (the modification
times of the files it reads), so a re-analysis or a new retraining result invalidates
exactly the entries that depend on it. Callers use the public functions below, which
compute the stamp; the underscore-prefixed cached functions are the cache entries.

Large arrays (gradients, thumbnails) are memory-mapped once per stamp with
`st.cache_resource` and shared by every session: treat them as read-only. Tables come
from `st.cache_data` (each caller gets its own copy).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from core.config import RunConfig
from core.detect.flagging import Flagging, rank_of
from core.evaluate import explore as analysis
from core.run import schema
from core.run.reviews import ReviewStore, decision_per_sample
from core.run.rundir import RunDir
from dashboard.formatting import hover_text


def _stamp(run_path: str, *names: str) -> tuple[int, ...]:
    """Modification times (ns) of the named files in the run; 0 for a missing file."""
    stamps = []
    for name in names:
        try:
            stamps.append(os.stat(Path(run_path) / name).st_mtime_ns)
        except FileNotFoundError:
            stamps.append(0)
    return tuple(stamps)


# -- tables ----------------------------------------------------------------------------------
@st.cache_data(max_entries=32, show_spinner=False)
def _manifest(run_path: str, stamp: tuple[int, ...]) -> dict:
    return RunDir(run_path).read_manifest()


def manifest(run_path: str) -> dict:
    """manifest.json of the run (raises RunDirError when unreadable)."""
    return _manifest(run_path, _stamp(run_path, schema.MANIFEST))


@st.cache_data(max_entries=8, show_spinner="Reading samples…")
def _samples(run_path: str, stamp: tuple[int, ...]) -> pd.DataFrame:
    return RunDir(run_path).read_samples()


def samples(run_path: str) -> pd.DataFrame:
    """samples.parquet, schema-checked (raises RunDirError when unreadable)."""
    return _samples(run_path, _stamp(run_path, schema.MANIFEST, schema.SAMPLES))


def has_truth(frame: pd.DataFrame) -> bool:
    """Whether every sample's true label is known (truth views are shown only then)."""
    return bool(len(frame)) and not frame[schema.IS_NOISY].isna().any()


def is_image_run(run_path: str) -> bool:
    return manifest(run_path).get("dataset", {}).get("kind") == "image" and \
        Path(run_path, schema.THUMBNAILS).exists()


def is_text_run(run_path: str) -> bool:
    """A run of texts: its samples table has the `text` column (every view then shows the texts)."""
    return schema.TEXT in samples_columns(run_path)


def shows_cards(run_path: str) -> bool:
    """Whether samples are shown as cards (images or texts) rather than as rows of a feature table."""
    return is_image_run(run_path) or is_text_run(run_path)


def class_names(run_path: str) -> list[str]:
    return list(manifest(run_path).get("dataset", {}).get("class_names", []))


def task_metric(run_path: str) -> tuple[str, bool]:
    """The run's task's primary test metric (core.tasks.registry meta: accuracy, micro_f1, rmse; retraining records
    it) and whether a higher value of it is better."""
    from core.evaluate.report import task_name
    from core.tasks.registry import TASKS

    meta = TASKS.entry(task_name(manifest(run_path))).meta
    return meta["metric"], bool(meta["higher"])


def detectors_run(run_path: str) -> list[str]:
    """The outlier detectors the run was configured with (manifest config detect.detectors)."""
    return list(manifest(run_path)["config"]["detect"]["detectors"])


DETECTOR, INFLUENCE, LABEL_QUALITY, OTHER = "outlier detector", "influence", "label quality", "other"


def score_kinds(run_path: str) -> dict[str, str]:
    """Every score column's method name -> what it is: an outlier detector of the run, an
    influence or label-quality baseline (manifest `baselines`), or other; detectors first."""
    manifest_ = manifest(run_path)
    baselines = manifest_.get("baselines", {}) or {}
    kinds = {name: DETECTOR for name in detectors_run(run_path)}
    kinds.update({name: INFLUENCE for name in baselines.get("influence", [])})
    kinds.update({name: LABEL_QUALITY for name in baselines.get("label_quality", [])})
    names = schema.score_names(samples_columns(run_path))
    ordered = {name: kinds[name] for name in kinds if name in names}
    ordered.update({name: OTHER for name in names if name not in ordered})
    return ordered


@st.cache_data(max_entries=32, show_spinner=False)
def _samples_columns(run_path: str, stamp: tuple[int, ...]) -> list[str]:
    import pyarrow.parquet as pq

    return list(pq.read_schema(Path(run_path) / schema.SAMPLES).names)


def samples_columns(run_path: str) -> list[str]:
    """Column names of samples.parquet, read from its schema alone (cheap)."""
    return _samples_columns(run_path, _stamp(run_path, schema.SAMPLES))


def flagging(run_path: str) -> Flagging:
    """The run's flagging decision (core.detect.flagging.Flagging, from the manifest)."""
    return Flagging.from_dict(manifest(run_path)["flagging"])


def run_config(run_path: str) -> RunConfig:
    """The run's RunConfig, rebuilt from its manifest (every default a form shows comes from it or the dataclasses)."""
    return RunConfig.from_dict(manifest(run_path)["config"])


@st.cache_data(max_entries=16, show_spinner=False)
def _detection_table(run_path: str, stamp: tuple[int, ...], budget: float) -> pd.DataFrame:
    from core.evaluate.report import detection_table

    return detection_table(RunDir(run_path).read_samples(), budget)


def detection_table(run_path: str, budget: float | None = None) -> pd.DataFrame:
    """core.evaluate.report.detection_table at `budget` (default: the run's)."""
    budget = flagging(run_path).budget if budget is None else budget
    return _detection_table(run_path, _stamp(run_path, schema.MANIFEST, schema.SAMPLES), budget)


@st.cache_data(max_entries=8, show_spinner=False)
def _ranks(run_path: str, stamp: tuple[int, ...]) -> pd.DataFrame:
    frame = RunDir(run_path).read_samples()
    return pd.DataFrame({name: rank_of(frame[schema.score_column(name)].to_numpy())
                         for name in schema.score_names(frame.columns)})


def ranks(run_path: str) -> pd.DataFrame:
    """(n, methods) rank of every sample under every score column, 1 = most outlying."""
    return _ranks(run_path, _stamp(run_path, schema.MANIFEST, schema.SAMPLES))


def flagged_mask(run_path: str, detector: str, budget: float | None = None) -> np.ndarray:
    """(n,) bool: the run's flagging decision moved to `detector` and `budget` (default: the run's), from the cached
    ranks (core's Flagging.mask)."""
    decision = flagging(run_path)
    return decision.at(decision.budget if budget is None else budget, detector).mask(
        ranks=ranks(run_path)[detector].to_numpy())


@st.cache_data(max_entries=8, show_spinner=False)
def _correlations(run_path: str, stamp: tuple[int, ...]) -> pd.DataFrame:
    frame = RunDir(run_path).read_samples()
    return analysis.rank_correlations({name: frame[schema.score_column(name)].to_numpy()
                                       for name in schema.score_names(frame.columns)})


def correlations(run_path: str) -> pd.DataFrame:
    """Spearman rank correlation between every pair of score columns."""
    return _correlations(run_path, _stamp(run_path, schema.MANIFEST, schema.SAMPLES))


@st.cache_data(max_entries=16, show_spinner=False)
def _overlap(run_path: str, stamp: tuple[int, ...], budget: float) -> pd.DataFrame:
    frame = RunDir(run_path).read_samples()
    return analysis.flag_overlap({name: frame[schema.score_column(name)].to_numpy()
                                  for name in schema.score_names(frame.columns)}, budget)


def overlap(run_path: str, budget: float) -> pd.DataFrame:
    """Flagged-set agreement between every pair of score columns at `budget`."""
    return _overlap(run_path, _stamp(run_path, schema.MANIFEST, schema.SAMPLES), budget)


@st.cache_data(max_entries=8, show_spinner=False)
def _pr_curves(run_path: str, stamp: tuple[int, ...]) -> dict[str, pd.DataFrame]:
    frame = RunDir(run_path).read_samples()
    truth = frame[schema.IS_NOISY].to_numpy(dtype=bool)
    return {name: analysis.pr_curve(frame[schema.score_column(name)].to_numpy(), truth)
            for name in schema.score_names(frame.columns)}


def pr_curves(run_path: str) -> dict[str, pd.DataFrame]:
    """Precision-recall curve per score column (call only when the run has truth)."""
    return _pr_curves(run_path, _stamp(run_path, schema.MANIFEST, schema.SAMPLES))


# -- arrays ----------------------------------------------------------------------------------
@st.cache_resource(max_entries=4, show_spinner=False)
def _thumbnails(run_path: str, stamp: tuple[int, ...]) -> np.ndarray:
    return RunDir(run_path).read_npy(schema.THUMBNAILS, mmap=True)


def thumbnails(run_path: str) -> np.ndarray | None:
    """Memory-mapped uint8 (n, H, W, C) thumbnails, or None for non-image runs. Read-only."""
    if not Path(run_path, schema.THUMBNAILS).exists():
        return None
    return _thumbnails(run_path, _stamp(run_path, schema.THUMBNAILS))


def images(run_path: str, thumbnail_rows: np.ndarray, min_side: int = 64) -> np.ndarray:
    """The thumbnails of the given rows, nearest-neighbour enlarged to at least `min_side` pixels."""
    thumbs = thumbnails(run_path)
    rows = np.asarray(thumbnail_rows, dtype=np.int64)
    return analysis.upscale_nearest(np.asarray(thumbs[rows]), min_side)


@st.cache_resource(max_entries=4, show_spinner=False)
def _gradients(run_path: str, stamp: tuple[int, ...]) -> np.ndarray:
    return RunDir(run_path).read_npy(schema.GRADIENTS, mmap=True)


def gradients(run_path: str) -> np.ndarray:
    """Memory-mapped float32 (n, width) gradient matrix (row = sample_id). Read-only."""
    return _gradients(run_path, _stamp(run_path, schema.GRADIENTS))


@st.cache_data(max_entries=4, show_spinner="Computing PCA of the gradients…")
def _gradient_pca(run_path: str, stamp: tuple[int, ...], seed: int) -> np.ndarray:
    return analysis.gradient_pca(RunDir(run_path).read_npy(schema.GRADIENTS, mmap=True), seed=seed)


def gradient_pca(run_path: str) -> np.ndarray:
    """(n, 2) float32 PCA map of gradients.npy, computed once per gradient file."""
    seed = int(manifest(run_path)["config"].get("seed", 0))
    return _gradient_pca(run_path, _stamp(run_path, schema.GRADIENTS), seed)


@st.cache_data(max_entries=256, show_spinner=False)
def _neighbors(run_path: str, stamp: tuple[int, ...], sample_id: int, k: int,
               metric: str) -> tuple[np.ndarray, np.ndarray]:
    return analysis.nearest_neighbors(RunDir(run_path).read_npy(schema.GRADIENTS, mmap=True), sample_id, k, metric)


def neighbors(run_path: str, sample_id: int, k: int = 10, metric: str = "cosine") -> tuple[np.ndarray, np.ndarray]:
    """(ids, distances) of the k nearest samples in gradient space."""
    return _neighbors(run_path, _stamp(run_path, schema.GRADIENTS), int(sample_id), int(k), metric)


# -- retraining results and reviews --------------------------------------------------------
@st.cache_data(max_entries=16, show_spinner=False)
def _retrain_results(run_path: str, stamp: tuple[int, ...]) -> pd.DataFrame:
    from core.run.results import read_results

    return read_results(RunDir(run_path))


def retrain_results(run_path: str) -> pd.DataFrame:
    """retrain.parquet (empty frame with the schema's columns when absent)."""
    return _retrain_results(run_path, _stamp(run_path, schema.RETRAIN))


def reviewed_test_accuracy(run_path: str) -> dict | None:
    """The analyzed model's accuracy on the reviewed test samples (None when none were reviewed)."""
    from core.evaluate.report import reviewed_test_accuracy as accuracy

    return accuracy(RunDir(run_path))


def retrain_summaries(run_path: str) -> list[dict]:
    """Retrainings over seeds with their 95% t-intervals (core.evaluate.report.retrain_summaries)."""
    from core.evaluate.report import retrain_summaries as summaries

    return summaries(retrain_results(run_path))


def review_store(run_path: str, split: str = "train") -> ReviewStore:
    """The run's SQLite review store of the training (or test) samples (not cached: reviews change under
    our feet, reads are ms)."""
    n_samples = manifest(run_path).get("dataset", {}).get("n_test" if split == "test" else "n_train")
    return ReviewStore(run_path, n_samples=n_samples, n_classes=len(class_names(run_path)) or None, split=split)


def decisions_array(run_path: str) -> np.ndarray:
    """(n,) current review decision per sample ('' = unreviewed)."""
    store = review_store(run_path)
    return decision_per_sample(store.decisions(), store.n_samples or len(samples(run_path)))


@st.cache_data(max_entries=8, show_spinner=False)
def _hover_texts(run_path: str, stamp: tuple[int, ...]) -> np.ndarray:
    texts = RunDir(run_path).read_samples([schema.TEXT])[schema.TEXT].astype(str)
    return np.array([hover_text(text) for text in texts], dtype=object)


def hover_texts(run_path: str) -> np.ndarray | None:
    """(n,) the training texts of a text run, shortened and HTML-escaped for map hover labels; None otherwise."""
    if not is_text_run(run_path):
        return None
    return _hover_texts(run_path, _stamp(run_path, schema.MANIFEST, schema.SAMPLES))


# -- the suggested budget ---------------------------------------------------------------------
def suggested_budget(run_path: str) -> dict | None:
    """The suggest stage's noise-rate estimate (value, low, high, method, level, ...; fractions), or None."""
    return manifest(run_path).get("suggested_budget")


BUDGET_STEP = 0.005


@st.cache_data(max_entries=16, show_spinner=False)
def _budget_curve(run_path: str, stamp: tuple[int, ...], detector: str, top: float) -> pd.DataFrame:
    from core.estimate.noise_rate import precision_recall_curve

    frame = RunDir(run_path).read_samples(
        [schema.NOISE_PROBABILITY, schema.IS_NOISY, schema.score_column(detector)])
    scores = frame[schema.score_column(detector)].to_numpy()
    budgets = np.arange(1, int(round(top / BUDGET_STEP)) + 1) * BUDGET_STEP
    curve = pd.DataFrame(precision_recall_curve(frame[schema.NOISE_PROBABILITY].to_numpy(), scores, budgets))
    if has_truth(frame):
        truth = precision_recall_curve(frame[schema.IS_NOISY].to_numpy(dtype=np.float64), scores, budgets)
        curve["true_precision"], curve["true_recall"] = truth["precision"], truth["recall"]
    return curve


def budget_curve(run_path: str, detector: str, top: float = 0.3) -> pd.DataFrame:
    """Estimated precision and recall of `detector`'s flags at every budget on a 0.5% grid up to `top` (and the
    true ones when the truth is known): columns budget, n_flagged, precision, recall[, true_precision, true_recall]."""
    return _budget_curve(run_path, _stamp(run_path, schema.MANIFEST, schema.SAMPLES), detector, float(top))


def estimated_at(run_path: str, detector: str, budget: float) -> tuple[float, float]:
    """(estimated precision, estimated recall) of `detector`'s flags at `budget` (core.estimate.noise_rate.
    flagged_precision_recall of `flagged_mask`: no sort per call)."""
    from core.estimate.noise_rate import flagged_precision_recall

    probability = samples(run_path)[schema.NOISE_PROBABILITY].to_numpy(dtype=np.float64)
    return flagged_precision_recall(probability, flagged_mask(run_path, detector, budget))
# -- the review loop: re-ranking and conflicting near-duplicates (computed by core in jobs, read here) ----------
@st.cache_data(max_entries=8, show_spinner=False)
def _rerank(run_path: str, stamp: tuple[int, ...]):
    from core.review.rerank import read_rerank

    return read_rerank(run_path)


def rerank(run_path: str):
    """The run's latest re-ranking (core.review.rerank.RerankResult), or None before the first one."""
    return _rerank(run_path, _stamp(run_path, schema.MANIFEST, schema.RERANK))


@st.cache_data(max_entries=8, show_spinner=False)
def _conflicts(run_path: str, stamp: tuple[int, ...]):
    from core.review.conflicts import read_conflicts

    return read_conflicts(run_path)


def conflicts(run_path: str) -> tuple[pd.DataFrame, dict] | None:
    """The run's stored conflicting near-duplicate pairs and their search's facts, or None before a search."""
    return _conflicts(run_path, _stamp(run_path, schema.MANIFEST, schema.CONFLICTS))
