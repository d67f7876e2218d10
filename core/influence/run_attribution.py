"""Attribution on an analyzed run: which training samples shaped each test prediction.

Reads the run's stored features and probabilities (never the dataset), builds the
closed-form last-layer gradients of train and test samples (projected together when
wide), and applies core.influence.attribution's methods. Test labels come from the run
(erm_outputs.npz): this is an analysis of test predictions, not an input to flagging.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from core.detect.class_forests import ClassForests
from core.errors import ConfigError, DataError
from core.gradients.last_layer import gradients_from_outputs, residuals
from core.gradients.projection import KroneckerProjector
from core.influence.attribution import (
    ATTRIBUTION_METHODS,
    AttributionInputs,
    class_detection_auc,
    class_detection_recall,
    influence_matrices,
    rank_training_samples,
)
from core.run import schema
from core.run.rundir import RunDir

DEFAULT_RUN_METHODS = ("oga", "oga_class", "oga_sample", "datainf", "tracing")
HEATMAP_CHUNK_ROWS = 256
"""Test samples scored at a time by the class heat map."""

TEST_ID = "test_id"
TEST_LABEL = "test_label"
TEST_PRED = "test_pred_label"
METHOD = "method"
RANK = "rank"
INFLUENCE = "influence"
HARM = "harm"
SAME_CLASS = "same_class"
ATTRIBUTION_COLUMNS = (TEST_ID, TEST_LABEL, TEST_PRED, METHOD, RANK, "sample_id", "given_label", INFLUENCE, HARM,
                       SAME_CLASS)
"""Columns of `RunAttribution.top`; sample_id and given_label are core.run.schema's names."""


@dataclass
class RunAttribution:
    """Per-test-sample attribution of an analyzed run."""

    top: pd.DataFrame
    """One row per (test_id, method, rank): the top-k training samples (columns ATTRIBUTION_COLUMNS).
    influence: the method's score (higher = more influential); harm: the signed baseline value
    (−g_tᵀĤ⁻¹g_j; NaN for OGA methods); same_class: the training sample's given label equals the test label."""
    metrics: pd.DataFrame
    """One row per method: mean class-detection AUC and recall over the selected test samples
    (classes = given training labels)."""
    info: dict = field(default_factory=dict)
    """What was computed: gradient layout, width, projection, seed, trees."""


def run_gradients(run_path: str | Path, test_labels: np.ndarray | None = None, projection_dim: int | None = None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
    """Closed-form last-layer gradients of a run's train and test samples from its stored features and probabilities.

    Returns (train_grads (n, w), train_labels (n,) given labels, test_grads (m, w), test_labels (m,), info).
    Gradients are kron(p − e_y, h̃) of the analyzed (ERM) model — not gradients.npy, which
    may be projected or come from cross-fitted models. When C·D̃ exceeds `projection_dim`
    (default: the run's gradients.projection_dim), train and test are projected with one
    `KroneckerProjector` (seed = the run's seed), never forming the outer products.
    Test labels: given, else the run's (erm_outputs.npz).
    """

    run = RunDir(run_path)
    config = run.config()
    samples = run.read_samples()
    train_labels = samples[schema.GIVEN_LABEL].to_numpy(dtype=np.int64)
    features = run.read_npy(schema.FEATURES)
    test_features = run.read_npy(schema.TEST_FEATURES)
    erm = run.read_npz(schema.ERM_OUTPUTS)
    train_probs, test_probs = erm["train_probs"], erm["test_probs"]
    if test_labels is None:
        test_labels = run.test_labels()
    test_labels = np.asarray(test_labels, dtype=np.int64).reshape(-1)
    if len(test_labels) != len(test_features):
        raise DataError(f"{len(test_labels)} test labels for {len(test_features)} test samples in {run.path}")
    include_bias = config.gradients.include_bias
    n_classes = train_probs.shape[1]
    width = n_classes * (features.shape[1] + int(include_bias))
    out_dim = projection_dim or config.gradients.projection_dim
    info = {"gradients": "closed-form last layer kron(p - e_y, [h, 1])" if include_bias
            else "closed-form last layer kron(p - e_y, h)", "width": width, "projection": None}
    if width <= out_dim:
        return (gradients_from_outputs(features, train_probs, train_labels, include_bias), train_labels,
                gradients_from_outputs(test_features, test_probs, test_labels, include_bias), test_labels, info)
    projector = KroneckerProjector(n_classes, features.shape[1], out_dim, config.seed, include_bias)

    def project(feats: np.ndarray, probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
        return projector.project_factors(residuals(probs, labels), feats)

    info.update(projection="KroneckerProjector", stored_width=projector.out_dim)
    return (project(features, train_probs, train_labels), train_labels,
            project(test_features, test_probs, test_labels), test_labels, info)


class RunAttributor:
    """One analyzed run's attribution state: closed-form train/test gradients, and the per-class
    forests fitted once (on first use) for every later query.

    The dashboard keeps one per run (cached), so each new test sample costs one scoring pass,
    not a refit of every forest.
    """

    def __init__(self, run_path: str | Path, *, test_labels: np.ndarray | None = None, seed: int | None = None,
                 n_trees: int | None = None, projection_dim: int | None = None) -> None:
        run = RunDir(run_path)
        config = run.config()
        self.seed = config.seed if seed is None else seed
        self.n_trees = config.detect.iforest_trees if n_trees is None else n_trees
        (self.train_grads, self.train_labels, self.test_grads, self.test_labels,
         self.info) = run_gradients(run_path, test_labels, projection_dim)
        self.test_pred = run.read_npz(schema.ERM_OUTPUTS)["test_probs"].argmax(axis=1)
        self._forests: ClassForests | None = None

    @property
    def forests(self) -> ClassForests:
        if self._forests is None:
            self._forests = ClassForests(self.n_trees, self.seed).fit(self.train_grads, self.train_labels)
        return self._forests

    def inputs(self, test_rows: np.ndarray) -> AttributionInputs:
        """`AttributionInputs` for the selected test rows, sharing the run's fitted forests."""
        return AttributionInputs(self.train_grads, self.train_labels, self.test_grads[test_rows], seed=self.seed,
                                 n_trees=self.n_trees, fitted_forests=self.forests)

    def check_test_ids(self, test_ids: Sequence[int] | None) -> np.ndarray:
        n_test = len(self.test_grads)
        selected = np.arange(n_test) if test_ids is None else np.asarray(test_ids, dtype=np.int64).reshape(-1)
        if len(selected) and (selected.min() < 0 or selected.max() >= n_test):
            raise ConfigError(f"test ids must lie in [0, {n_test}); got [{selected.min()}, {selected.max()}]")
        return selected

    def attribute(self, test_ids: Sequence[int] | None = None, *, top_k: int = 10,
                  methods: Sequence[str] = DEFAULT_RUN_METHODS) -> RunAttribution:
        """Top-k training samples for each selected test sample (default: all), under each method."""
        for name in methods:
            ATTRIBUTION_METHODS.check(name)
        if top_k < 1:
            raise ConfigError(f"top_k must be >= 1, got {top_k}")
        selected = self.check_test_ids(test_ids)
        inputs = self.inputs(selected)
        chosen_labels = self.test_labels[selected]
        train_labels = self.train_labels
        frames, metric_rows = [], []
        for name, matrix in influence_matrices(inputs, methods).items():
            signed = ATTRIBUTION_METHODS.entry(name).meta.get("signed_harm")
            harm = signed(inputs) if signed is not None else None
            for row, test_id in enumerate(selected):
                top = rank_training_samples(matrix[row], top_k)
                frames.append(pd.DataFrame({
                    TEST_ID: int(test_id), TEST_LABEL: int(chosen_labels[row]), TEST_PRED: int(self.test_pred[test_id]),
                    METHOD: name, RANK: np.arange(1, len(top) + 1), schema.SAMPLE_ID: top.astype(np.int64),
                    schema.GIVEN_LABEL: train_labels[top], INFLUENCE: matrix[row, top],
                    HARM: harm[row, top] if harm is not None else np.nan,
                    SAME_CLASS: train_labels[top] == chosen_labels[row]}))
            metric_rows.append({METHOD: name,
                                "auc": float(np.nanmean(class_detection_auc(matrix, train_labels, chosen_labels)))
                                if len(selected) else math.nan,
                                "recall": float(np.nanmean(class_detection_recall(matrix, train_labels,
                                                                                  chosen_labels)))
                                if len(selected) else math.nan})
        top_frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(ATTRIBUTION_COLUMNS))
        info = {**self.info, "seed": self.seed, "n_trees": self.n_trees, "n_test": len(selected)}
        return RunAttribution(top=top_frame[list(ATTRIBUTION_COLUMNS)], metrics=pd.DataFrame(metric_rows), info=info)

    def class_heatmap(self, method: str = "oga", chunk_rows: int = HEATMAP_CHUNK_ROWS) -> np.ndarray:
        """(C, C) mean influence of training samples of class j (columns, given labels) on test samples
        of class i (rows, test labels) under `method`; NaN where a class has no sample.

        Streamed over `chunk_rows` test samples at a time: memory is chunk_rows × n_train, never
        the whole (n_test, n_train) matrix.
        """
        ATTRIBUTION_METHODS.check(method)
        n_classes = int(max(self.train_labels.max(), self.test_labels.max())) + 1
        train_onehot = np.zeros((len(self.train_labels), n_classes))
        train_onehot[np.arange(len(self.train_labels)), self.train_labels] = 1.0
        sums = np.zeros((n_classes, n_classes))
        for start in range(0, len(self.test_grads), chunk_rows):
            rows = np.arange(start, min(start + chunk_rows, len(self.test_grads)))
            matrix = influence_matrices(self.inputs(rows), [method])[method]
            np.add.at(sums, self.test_labels[rows], matrix @ train_onehot)
        counts = np.outer(np.bincount(self.test_labels, minlength=n_classes),
                          np.bincount(self.train_labels, minlength=n_classes)).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(counts > 0, sums / counts, np.nan)


def attribute_run(run_path: str | Path, test_ids: Sequence[int] | None = None, *, top_k: int = 10,
                  methods: Sequence[str] = DEFAULT_RUN_METHODS, test_labels: np.ndarray | None = None,
                  seed: int | None = None, n_trees: int | None = None,
                  projection_dim: int | None = None) -> RunAttribution:
    """Top-k training samples for each selected test sample of an analyzed run, under each method.

    test_ids: rows of the run's test split (default: all). Per-class forests are fitted
    on the given training labels (seed and tree count default to the run's). The
    ground truth of the metrics is "training sample's given label = test label".
    """
    attributor = RunAttributor(run_path, test_labels=test_labels, seed=seed, n_trees=n_trees,
                               projection_dim=projection_dim)
    return attributor.attribute(test_ids, top_k=top_k, methods=methods)


def class_heatmap(run_path: str | Path, method: str = "oga") -> np.ndarray:
    """The run's class heat map (`RunAttributor.class_heatmap`)."""
    return RunAttributor(run_path).class_heatmap(method)
