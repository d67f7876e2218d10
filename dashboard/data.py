"""The dashboard's only `st.cache_*` wrappers around core, and its background jobs.

Every cached reader takes the run directory's path plus a *stamp* (the modification
times of the files it reads), so a re-analysis or a new retraining result invalidates
exactly the entries that depend on it. Callers use the public functions below, which
compute the stamp; the underscore-prefixed cached functions are the cache entries.

Large arrays (gradients, thumbnails) are memory-mapped once per stamp with
`st.cache_resource` and shared by every session: treat them as read-only. Tables come
from `st.cache_data` (each caller gets its own copy).

Long work (an analysis, a retraining) runs in a daemon thread as a `Job`, whose progress
the pages poll from an `st.fragment(run_every=...)`; the job registry is process-wide
(`st.cache_resource`), the ids of a person's jobs live in their `st.session_state`.
"""

from __future__ import annotations

import os
import re
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from core.detect.flagging import budget_count, rank_of
from core.errors import ConfigError, GradsiftError, RunDirError
from core.evaluate import explore as analysis
from core.run import schema
from core.run.reviews import ReviewStore, decision_per_sample
from core.run.rundir import RunDir

RUNS_DIR_ENV = "GRADSIFT_RUNS_DIR"
DATA_ROOTS_ENV = "GRADSIFT_DATA_ROOTS"
"""os.pathsep-separated directories a typed dataset path must lie in (default: the working directory)."""
RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


# -- where runs are ------------------------------------------------------------------------
def runs_dir() -> Path:
    """The directory holding run directories: env GRADSIFT_RUNS_DIR, default `runs`."""
    return Path(os.environ.get(RUNS_DIR_ENV, "runs"))


def list_runs(root: Path | None = None) -> list[str]:
    """Paths of the run directories (those with a manifest) directly inside `root`, by name."""
    root = runs_dir() if root is None else root
    if not root.is_dir():
        return []
    return sorted(str(entry) for entry in root.iterdir()
                  if entry.is_dir() and (entry / schema.MANIFEST).is_file())


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


def class_names(run_path: str) -> list[str]:
    return list(manifest(run_path).get("dataset", {}).get("class_names", []))


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


def config_budget(run_path: str) -> float:
    return float(manifest(run_path)["config"]["detect"]["budget"])


@st.cache_data(max_entries=16, show_spinner=False)
def _detection_table(run_path: str, stamp: tuple[int, ...], budget: float) -> pd.DataFrame:
    from core.evaluate.report import detection_table

    return detection_table(RunDir(run_path).read_samples(), budget)


def detection_table(run_path: str, budget: float | None = None) -> pd.DataFrame:
    """core.evaluate.report.detection_table at `budget` (default: the run's)."""
    budget = config_budget(run_path) if budget is None else budget
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
    """(n,) bool: the detector's top `budget_count(budget, n)` samples (the run's budget by default)."""
    order = ranks(run_path)[detector].to_numpy()
    budget = config_budget(run_path) if budget is None else budget
    return order <= budget_count(budget, len(order))


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


def review_store(run_path: str) -> ReviewStore:
    """The run's SQLite review store (not cached: reviews change under our feet, reads are ms)."""
    n_train = manifest(run_path).get("dataset", {}).get("n_train")
    return ReviewStore(run_path, n_samples=n_train, n_classes=len(class_names(run_path)) or None)


def decisions_array(run_path: str) -> np.ndarray:
    """(n,) current review decision per sample ('' = unreviewed)."""
    store = review_store(run_path)
    return decision_per_sample(store.decisions(), store.n_samples or len(samples(run_path)))


# -- launching analyses: input checks --------------------------------------------------------
def allowed_roots() -> list[Path]:
    """Directories a typed dataset path must lie inside (env GRADSIFT_DATA_ROOTS, default cwd)."""
    raw = os.environ.get(DATA_ROOTS_ENV, "")
    roots = [Path(part).expanduser() for part in raw.split(os.pathsep) if part.strip()] or [Path.cwd()]
    return [root.resolve() for root in roots]


def resolve_dataset_path(text: str, roots: list[Path] | None = None) -> Path:
    """The existing, symlink-resolved path typed by the user, refused outside the allowed roots."""
    roots = allowed_roots() if roots is None else roots
    if not text or not text.strip():
        raise ConfigError("type a dataset path (an image folder, a .csv/.parquet manifest or an .npz file)")
    raw = Path(text.strip()).expanduser()
    if not raw.is_absolute():
        raw = roots[0] / raw if roots else raw
    try:
        path = raw.resolve(strict=True)
    except (FileNotFoundError, RuntimeError, OSError):
        raise ConfigError(f"{text.strip()!r} does not exist") from None
    if not any(path == root or path.is_relative_to(root) for root in roots):
        raise ConfigError(f"{path} is outside the allowed data directories ({', '.join(map(str, roots))}); "
                          f"set {DATA_ROOTS_ENV} to allow another directory")
    return path


def new_run_path(name: str, root: Path | None = None) -> Path:
    """runs_dir()/name for a new run, refusing names that are not plain file names."""
    if not RUN_NAME.match(name or ""):
        raise ConfigError("a run name is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
    return (runs_dir() if root is None else root) / name


# -- background jobs -------------------------------------------------------------------------
@dataclass
class Job:
    """One piece of long work in a daemon thread; every field is read under `lock` via `snapshot`."""

    kind: str
    title: str
    run_path: str
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    status: str = "running"
    """running, done or failed."""
    stage: str = "starting"
    fraction: float = 0.0
    messages: list[str] = field(default_factory=list)
    error: str | None = None
    result: Any = None
    started: float = field(default_factory=time.time)
    finished: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    thread: threading.Thread | None = field(default=None, repr=False)

    def update(self, stage: str | None = None, fraction: float | None = None, message: str | None = None) -> None:
        with self.lock:
            if stage is not None:
                self.stage = stage
            if fraction is not None:
                self.fraction = float(min(max(fraction, 0.0), 1.0))
            if message:
                self.messages.append(message)

    def snapshot(self) -> dict:
        with self.lock:
            return {"id": self.id, "kind": self.kind, "title": self.title, "run_path": self.run_path,
                    "status": self.status, "stage": self.stage, "fraction": self.fraction,
                    "messages": list(self.messages), "error": self.error, "result": self.result,
                    "seconds": (self.finished or time.time()) - self.started}

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job ends (tests and scripts); True when it ended in time."""
        if self.thread is not None:
            self.thread.join(timeout)
        return self.status != "running"


class _Registry:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.jobs: dict[str, Job] = {}


@st.cache_resource(show_spinner=False)
def _registry() -> _Registry:
    return _Registry()


def get_job(job_id: str) -> Job | None:
    return _registry().jobs.get(job_id)


def running_job_for(run_path: str, kind: str | None = None) -> Job | None:
    """A still-running job that writes into `run_path` (any session), if any."""
    target = str(Path(run_path).resolve())
    for job in list(_registry().jobs.values()):
        if job.status == "running" and str(Path(job.run_path).resolve()) == target and kind in (None, job.kind):
            return job
    return None


def start_job(kind: str, title: str, run_path: str, work: Callable[[Job], Any]) -> Job:
    """Run `work(job)` in a daemon thread; its return value becomes `job.result`.

    A GradsiftError ends the job as failed with its one-line message; anything else also
    keeps the traceback's last lines, so a bug shows up in the page instead of vanishing.
    """
    registry = _registry()
    job = Job(kind=kind, title=title, run_path=str(run_path))

    def target() -> None:
        try:
            result = work(job)
            with job.lock:
                job.result, job.status, job.fraction = result, "done", 1.0
        except GradsiftError as exc:
            with job.lock:
                job.error, job.status = str(exc), "failed"
        except Exception as exc:  # a bug: keep it visible to the person who started the job
            with job.lock:
                job.error = f"{type(exc).__name__}: {exc}\n" + "".join(traceback.format_exc(limit=-3))
                job.status = "failed"
        finally:
            job.finished = time.time()

    with registry.lock:
        registry.jobs[job.id] = job
        job.thread = threading.Thread(target=target, name=f"gradsift-{kind}-{job.id}", daemon=True)
    job.thread.start()
    return job


def analysis_work(config, out: Path) -> Callable[[Job], Any]:
    """The job body of a new analysis: core.pipeline.runner.analyze with a progress reporter."""

    def work(job: Job) -> str:
        from core.pipeline.runner import Reporter, analyze

        class JobReporter(Reporter):
            def stage(self, name: str, index: int, total: int, skipped: bool) -> None:
                job.update(stage=f"{name} ({index + 1}/{total})" + (" cached" if skipped else ""),
                           fraction=index / total)

            def message(self, text: str) -> None:
                job.update(message=text)

        analyze(config, out, reporter=JobReporter())
        return str(out)

    return work


def retrain_work(run_path: str, detector: str, budget: float, mode: str, seed: int | None,
                 with_reviews: bool) -> Callable[[Job], Any]:
    """The job body of a retraining: the unpruned baseline of the same mode first (cached by
    core after the first time), then the requested budget, optionally with the reviews applied."""

    def work(job: Job) -> dict:
        from core.pipeline.retrain import retrain

        run = RunDir(run_path)
        reviews = ReviewStore(run_path).edits() if with_reviews else None
        if with_reviews and not reviews.key():
            raise ConfigError("no review decisions to apply yet: confirm, relabel or keep samples on the "
                              "Flagged review page first")

        def epochs(done: int, total: int) -> None:
            job.update(fraction=0.1 + 0.9 * done / max(total, 1), stage=f"training epoch {done}/{total}")

        job.update(stage="baseline (budget 0)", fraction=0.02)
        retrain(run, detector, 0.0, mode=mode, seed=seed)
        job.update(stage=f"retraining without the top {budget:.1%}", fraction=0.1)
        return retrain(run, detector, budget, mode=mode, seed=seed, reviews=reviews, progress=epochs)

    return work


def read_error(exc: BaseException) -> str:
    """One line for st.error from a run-directory or input error."""
    return str(exc) if isinstance(exc, (RunDirError, GradsiftError)) else f"{type(exc).__name__}: {exc}"


@st.cache_data(max_entries=64, show_spinner="Ranking the training samples for this test sample…")
def _attribution(run_path: str, stamp: tuple[int, ...], test_id: int, top_k: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    from core.influence.run_attribution import attribute_run

    result = attribute_run(run_path, [test_id], top_k=top_k)
    return result.top, result.metrics


def attribution(run_path: str, test_id: int, top_k: int = 12) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(top-k training samples per method, class-detection metrics) for one test sample (core.influence.attribution)."""
    return _attribution(run_path, _stamp(run_path, schema.MANIFEST, schema.FEATURES, schema.ERM_OUTPUTS),
                        int(test_id), int(top_k))


@st.cache_data(max_entries=16, show_spinner="Computing the class heat map…")
def _class_heatmap(run_path: str, stamp: tuple[int, ...], method: str) -> np.ndarray:
    from core.influence.run_attribution import class_heatmap

    return class_heatmap(run_path, method)


def class_heatmap(run_path: str, method: str = "oga") -> np.ndarray:
    """(C, C) mean influence of training classes on test classes (core.influence.attribution.class_heatmap)."""
    return _class_heatmap(run_path, _stamp(run_path, schema.MANIFEST, schema.FEATURES, schema.ERM_OUTPUTS), method)


@st.cache_resource(max_entries=2, show_spinner="Loading the test split…")
def _test_images(run_path: str, stamp: tuple[int, ...]) -> np.ndarray:
    from core.pipeline.artifacts import load_run_dataset

    run = RunDir(run_path)
    dataset = load_run_dataset(run, run.read_manifest(), run.config())
    return np.transpose(dataset.x_test, (0, 2, 3, 1))


def test_image(run_path: str, test_id: int, min_side: int = 160) -> np.ndarray | None:
    """The test sample's image (H, W, C) uint8 enlarged for display, or None for tabular runs."""
    if not is_image_run(run_path):
        return None
    image = _test_images(run_path, _stamp(run_path, schema.MANIFEST))[test_id]
    return analysis.upscale_nearest(image[None], min_side)[0]
