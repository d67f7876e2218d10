"""What the review loop learns from: a run's scores and features (never its true or test labels), and
the reviewer's decisions turned into labels and masks.

`LoopInputs.from_run` reads samples.parquet's score columns, the given labels and the model's outputs
(`given_label_prob`, `confidence`, `loss`, where the run has them), features.npy, the probe's L2 strength and
the run's task, and nothing else: `true_label`/`true_tags`/`true_value`, `is_noisy` and test_labels.npy are not
read. `ReviewState.from_decisions` applies the decisions: a `relabel` changes the sample's label, `mislabeled`
takes it out of the refit, `keep` confirms it.

Labels are held in the run's label form (core.run.label_forms), as one (n,) array: classes int64, values
float64, tag sets an object array of sorted tuples (`tag_array`); `LoopInputs.task_labels` turns them into the
array the run's Task fits on (tag indicator rows for a multi-label run).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core.errors import ConfigError
from core.run import reviews, schema
from core.run.label_forms import ClassForm, LabelForm, form_of_run, indicator_rows, tag_set
from core.run.rundir import RunDir
from core.tasks.base import Task, task_from_dict
from core.tasks.classification import Classification

MODEL_COLUMNS = (schema.GIVEN_PROB, schema.CONFIDENCE, schema.LOSS)
"""Per-sample outputs of the analyzed model the stacked model reads besides the score columns."""


@dataclass
class LoopInputs:
    """A run's evidence about each training sample, as arrays (row = sample_id)."""

    given_labels: np.ndarray
    """(n,) given labels in the run's form: int64 classes, float64 values, or an object array of tag tuples."""
    score_names: list[str]
    """Names of the columns of `scores`: every score_<method> column of samples.parquet, then MODEL_COLUMNS."""
    scores: np.ndarray
    """(n, m) float64, every score column oriented higher = more suspicious (model columns as stored)."""
    static: np.ndarray
    """(n,) float64 the primary detector's score: the static ranking."""
    features: np.ndarray
    """(n, D) float32 penultimate features (a memory map for a run)."""
    n_classes: int
    probe_reg: float
    """L2 strength of the last-layer refit (the run's, chosen on its validation split)."""
    seed: int
    probe_max_iter: int = 200
    probe_max_rows: int = 100_000
    form: LabelForm = field(default_factory=ClassForm)
    """The run's label form: what a label is and when two differ (core.run.label_forms)."""
    task: Task = field(default_factory=Classification)
    """The run's task: the refits' loss, residual and predictions (core.tasks)."""

    @property
    def n_samples(self) -> int:
        return len(self.given_labels)

    @property
    def is_classification(self) -> bool:
        return isinstance(self.form, ClassForm)

    def task_labels(self, labels: np.ndarray) -> np.ndarray:
        """Labels in this form → the array the Task fits on: tag indicator rows (n, C) for tag sets, else as they
        are."""
        if labels.dtype == object:
            return indicator_rows(labels, self.n_classes)
        return labels

    @classmethod
    def from_run(cls, run: RunDir) -> LoopInputs:
        config = run.config()
        manifest = run.read_manifest()
        n_classes = len(manifest["dataset"]["class_names"])
        form = form_of_run(run.path, n_classes)
        columns = run.sample_columns()
        names = [c for c in columns if c.startswith(schema.SCORE_PREFIX)] + [c for c in MODEL_COLUMNS if c in columns]
        primary = schema.score_column(run.flagging().detector)
        if primary not in columns:
            raise ConfigError(f"{run.file(schema.SAMPLES)} lacks the primary detector's column {primary}")
        frame = run.read_samples([schema.SAMPLE_ID, *names])
        if not np.array_equal(frame[schema.SAMPLE_ID].to_numpy(), np.arange(len(frame))):
            raise ConfigError(f"{run.file(schema.SAMPLES)}: sample_id must be 0..n-1 in row order")
        features = run.read_npy(schema.FEATURES, mmap=True)
        if len(features) != len(frame):
            raise ConfigError(f"{run.file(schema.FEATURES)} has {len(features)} rows for {len(frame)} samples")
        return cls(given_labels=label_array(form.given_labels(run.path)),
                   score_names=names, scores=frame[names].to_numpy(np.float64),
                   static=frame[primary].to_numpy(np.float64), features=features, n_classes=n_classes,
                   probe_reg=float(manifest["model"]["probe_reg"]), seed=int(config.seed),
                   probe_max_iter=config.train.probe_max_iter, probe_max_rows=config.train.probe_max_rows,
                   form=form, task=task_from_dict(manifest.get("task")))


def tag_array(tag_sets: Sequence[Sequence[int]]) -> np.ndarray:
    """(n,) object array of sorted tag tuples (np.array would make a 2-D array of equal-length sets)."""
    out = np.empty(len(tag_sets), dtype=object)
    for row, tags in enumerate(tag_sets):
        out[row] = tag_set(tags)
    return out


def label_array(labels: Sequence | np.ndarray) -> np.ndarray:
    """A form's given labels (LabelForm.given_labels) as one (n,) array: a list of tag sets → `tag_array`, an
    array as it is (int64 classes, float64 values)."""
    return labels if isinstance(labels, np.ndarray) else tag_array(labels)


@dataclass
class ReviewState:
    """The decisions as arrays: who was reviewed, who was confirmed wrong, the labels after the reviews."""

    reviewed: np.ndarray
    """(r,) int64 sample ids with a current decision, sorted."""
    wrong: np.ndarray
    """(r,) bool, aligned with `reviewed`: the reviewer said the given label is wrong (mislabeled or relabel)."""
    labels: np.ndarray
    """(n,) the labels after the reviews (relabels applied), in the given labels' form (int64 classes)."""
    removed: np.ndarray
    """(n,) bool: confirmed mislabeled without a new label, left out of every refit."""
    key: str = ""
    """reviews.decisions_key of the decisions this state was made from."""

    @property
    def unreviewed(self) -> np.ndarray:
        """(n − r,) int64 sample ids without a decision."""
        mask = np.ones(len(self.labels), bool)
        mask[self.reviewed] = False
        return np.flatnonzero(mask)

    @classmethod
    def from_decisions(cls, decisions: pd.DataFrame, given_labels: np.ndarray) -> ReviewState:
        """Decisions (ReviewStore.decisions(): one row per reviewed sample) → the state; ids outside the run are
        refused."""
        n = len(given_labels)
        ids = decisions[schema.SAMPLE_ID].to_numpy(np.int64)
        if len(ids) and (ids.min() < 0 or ids.max() >= n):
            raise ConfigError(f"review decisions name sample ids outside [0, {n}): the review store belongs to "
                              "another run")
        actions = decisions[reviews.ACTION].to_numpy()
        order = np.argsort(ids, kind="stable")
        ids, actions = ids[order], actions[order]
        new_labels = decisions[reviews.NEW_LABEL].to_numpy()[order]
        labels = _relabelled(given_labels, ids[actions == reviews.RELABEL], new_labels[actions == reviews.RELABEL])
        removed = np.zeros(n, bool)
        removed[ids[actions == reviews.MISLABELED]] = True
        return cls(reviewed=ids, wrong=np.isin(actions, [reviews.MISLABELED, reviews.RELABEL]), labels=labels,
                   removed=removed, key=reviews.decisions_key(decisions))

    @classmethod
    def from_arrays(cls, given_labels: np.ndarray, reviewed: np.ndarray, wrong: np.ndarray,
                    new_labels: np.ndarray | None = None) -> ReviewState:
        """A state without a review store (the simulation, classification runs only): `new_labels` (r,) class
        indices relabel the wrong ones (−1 or no array: removed instead)."""
        reviewed = np.asarray(reviewed, dtype=np.int64)
        wrong = np.asarray(wrong, dtype=bool)
        action = np.where(wrong, reviews.MISLABELED, reviews.KEEP).astype(object)
        labels = np.full(len(reviewed), -1, np.int64) if new_labels is None else np.asarray(new_labels, np.int64)
        action[wrong & (labels >= 0)] = reviews.RELABEL
        new_label = pd.Series(labels, dtype="Int64").where(pd.Series(action == reviews.RELABEL))
        frame = pd.DataFrame({schema.SAMPLE_ID: reviewed, reviews.ACTION: action, reviews.NEW_LABEL: new_label})
        return cls.from_decisions(frame, given_labels)


def _relabelled(given_labels: np.ndarray, ids: np.ndarray, new_labels: np.ndarray) -> np.ndarray:
    """A copy of the given labels with `new_labels` (canonical, one per id) at `ids`: int64 classes, float64
    values, or tag tuples (an object array, kept one per element)."""
    given = np.asarray(given_labels)
    if given.dtype == object:
        labels = given.copy()
        for sample, tags in zip(ids.tolist(), new_labels, strict=True):
            labels[sample] = tag_set(tags)
        return labels
    dtype = np.float64 if np.issubdtype(given.dtype, np.floating) else np.int64
    labels = given.astype(dtype, copy=True)
    labels[ids] = np.asarray(new_labels, dtype=dtype)
    return labels
