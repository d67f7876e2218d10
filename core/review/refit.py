"""The last layer refit with the reviews applied: in-sample and out-of-fold predictions, gradient norms.

A head refit on the stored penultimate features (core.models.probe, the run's L2 strength) with every
relabel applied and every confirmed-mislabeled sample left out sees fewer wrong labels than the analyzed
model did, so the errors the reviewer has not reached yet stand out more against it: their gradient
norm ‖p − e_y‖·‖[h, 1]‖ (core.gradients.last_layer, O(n(C + D))) grows while clean samples' shrinks.
Seconds on 50,000 × 512 features: no backbone pass, no gradient matrix.

`oof_refit_probs` does the same K times, each fold predicted by a head that never saw its labels
(cleanlab's out-of-sample requirement; the backbone still saw every label): what the `refit` method
ranks by (docs/review-loop.md compares it with the in-sample gradient norm).

Every refit is fit under the run's task (core.tasks: softmax, per-tag sigmoids, or the regression's loss on the
standardized target) and predicts in the task's form: probabilities (n, C), tag sigmoids (n, C), or values in
the target's units (n, 1). "probs" below means those predictions.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from core.data.split import fold_assignment
from core.gradients.last_layer import closed_form_norms, factors_from_outputs
from core.models.probe import capped_rows, train_linear_probe
from core.review.config import RerankConfig
from core.review.inputs import LoopInputs, ReviewState, tag_array
from core.review.neighbors import NeighborTable, candidate_rows, neighbor_table
from core.run.io import release_pages, take_rows
from core.run.label_forms import TagForm
from core.tasks.base import Task
from core.tasks.multilabel import THRESHOLD

PREDICT_ROWS = 65_536
OOF_SHARE = 0.7
"""Share of a re-ranking's progress bar given to the out-of-fold refits; the neighbour search has the rest."""


def _fit(inputs: LoopInputs, rows: np.ndarray, labels: np.ndarray, seed: int):
    rows = capped_rows(rows, inputs.probe_max_rows, seed)
    return train_linear_probe(take_rows(inputs.features, rows), inputs.task_labels(labels[rows]), inputs.n_classes,
                              inputs.probe_reg, inputs.seed, max_iter=inputs.probe_max_iter, task=inputs.task)


def _predict(head, task: Task, features: np.ndarray, rows: np.ndarray, out: np.ndarray) -> None:
    with torch.no_grad():
        for start in range(0, len(rows), PREDICT_ROWS):
            chosen = rows[start:start + PREDICT_ROWS]
            block = take_rows(features, chosen).astype(np.float32, copy=False)
            out[chosen] = task.predict(head(torch.from_numpy(block))).numpy()
            release_pages(features)


def refit_probs(inputs: LoopInputs, state: ReviewState) -> np.ndarray:
    """(n, C) float32 predictions (the task's form) of every sample under one head refit on the samples not
    removed (at most `probe_max_rows` of them, seeded), with the labels after the reviews."""
    probs = np.empty((inputs.n_samples, inputs.n_classes), np.float32)
    _predict(_fit(inputs, np.flatnonzero(~state.removed), state.labels, inputs.seed), inputs.task, inputs.features,
             np.arange(inputs.n_samples), probs)
    return probs


def oof_refit_probs(inputs: LoopInputs, state: ReviewState, folds: int = 5,
                    progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """(n, C) float32 out-of-fold predictions with the reviews applied: the samples are split into `folds`
    seeded folds (stratified by the given classes; plain for tags and values; the same split as the reviews
    accumulate) and
    each fold is predicted by a head fit on the other folds' samples that were not removed, with the labels
    after the reviews. Removed samples are predicted too (by their fold's head)."""
    fold_of = fold_assignment(inputs.given_labels, folds, inputs.seed)
    probs = np.empty((inputs.n_samples, inputs.n_classes), np.float32)
    for fold in range(folds):
        head = _fit(inputs, np.flatnonzero((fold_of != fold) & ~state.removed), state.labels, inputs.seed + fold)
        _predict(head, inputs.task, inputs.features, np.flatnonzero(fold_of == fold), probs)
        if progress is not None:
            progress(fold + 1, folds)
    return probs


def margin_scores(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(n,) float64 max_{k ≠ y} p_k − p_y in [−1, 1]: higher = the model prefers another class over the label
    (cleanlab's normalized margin, negated so that higher = more suspicious)."""
    rows = np.arange(len(labels))
    given = probs[rows, labels].astype(np.float64)
    others = probs.astype(np.float64, copy=True)
    others[rows, labels] = -np.inf
    return others.max(axis=1) - given


def label_quality(inputs: LoopInputs, probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(n,) float64 how much the predictions `probs` (the task's form) dispute `labels`, higher = more suspicious:
    classification's `margin_scores`; for tags and values the task's residual norm ‖r‖₂ (tags: ‖σ(z) − y‖,
    values: |ŷ − y| / scale), the label-only factor of the gradient norm."""
    if inputs.is_classification:
        return margin_scores(probs, labels)
    residual = inputs.task.residual(probs, inputs.task_labels(labels), np.float64)
    return np.sqrt(np.einsum("ij,ij->i", residual, residual))


def predicted_labels(inputs: LoopInputs, probs: np.ndarray) -> np.ndarray:
    """(n,) the predictions as labels in the run's form: the argmax class, the tags whose sigmoid reaches
    THRESHOLD, the value."""
    if inputs.is_classification:
        return probs.argmax(axis=1)
    if isinstance(inputs.form, TagForm):
        return tag_array([np.flatnonzero(row >= THRESHOLD) for row in probs])
    return probs[:, 0].astype(np.float64)


def predicted_differs(inputs: LoopInputs, probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(n,) bool: the predicted label is another one than `labels` by the form's `differ` (another class, another
    tag set, a value more than the form's tolerance away)."""
    return inputs.form.differ(predicted_labels(inputs, probs), labels)


def refit_gradient_l2(inputs: LoopInputs, probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(n,) float64 L2 norm of each sample's last-layer gradient under the refit head, for `labels`
    (higher = the head disagrees more with the label); the bias included, as the analysis does. ‖r‖·‖h̃‖ with
    the task's residual r."""
    factors = factors_from_outputs(inputs.features, probs, inputs.task_labels(labels), inputs.task)
    return closed_form_norms(factors, include_bias=True)[1]


class Refits:
    """The refits of one re-ranking and its neighbour table, each computed on first use and then shared by the
    method and the estimate."""

    def __init__(self, inputs: LoopInputs, state: ReviewState, config: RerankConfig | None = None,
                 progress: Callable[[str, float], None] | None = None) -> None:
        self.inputs, self.state = inputs, state
        self.config = config or RerankConfig()  # folds and neighbours; the method is not used here
        self.progress = progress or (lambda stage, fraction: None)
        self._in_sample: np.ndarray | None = None
        self._out_of_fold: np.ndarray | None = None
        self._table: NeighborTable | None = None

    @property
    def in_sample(self) -> np.ndarray:
        """(n, C) float32 `refit_probs`."""
        if self._in_sample is None:
            self._in_sample = refit_probs(self.inputs, self.state)
        return self._in_sample

    @property
    def out_of_fold(self) -> np.ndarray:
        """(n, C) float32 `oof_refit_probs`."""
        if self._out_of_fold is None:
            self._out_of_fold = oof_refit_probs(
                self.inputs, self.state, self.config.folds,
                lambda done, total: self.progress(f"out-of-fold refits: {done}/{total}", OOF_SHARE * done / total))
        return self._out_of_fold

    @property
    def disagrees(self) -> np.ndarray:
        """(n,) bool `predicted_differs` of the in-sample refit and the labels after the reviews."""
        return predicted_differs(self.inputs, self.in_sample, self.state.labels)

    @property
    def neighbor_table(self) -> NeighborTable:
        """The config's `neighbors` nearest samples of each candidate (core.review.neighbors): every sample up
        to `max_rows`, else the reviewed ones and the unreviewed ones with the highest `label_quality` under the
        out-of-fold refits."""
        if self._table is None:
            n = self.inputs.n_samples
            max_rows = self.config.max_rows
            priority = (label_quality(self.inputs, self.out_of_fold, self.state.labels) if n > max_rows
                        else np.zeros(n))
            rows = candidate_rows(n, self.state.reviewed, priority, max_rows)
            self._table = neighbor_table(
                self.inputs.features, rows, self.config.neighbors, self.config.metric,
                lambda done, total: self.progress(f"nearest neighbours: {done}/{total}",
                                                  OOF_SHARE + (1 - OOF_SHARE) * done / total))
        return self._table

