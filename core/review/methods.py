"""Re-ranking methods: what the reviewer said so far → a new score for every sample (higher = review sooner).

Every method works for every task kind (classification, multi-label, regression): labels are compared by the
run's label form and the refits use the run's task (core.review.refit).

- `neighbors` (the default): the share of the k nearest neighbours in feature space whose label, after
  the reviews, differs from the sample's by the form's `differ` (core.review.neighbors); ties (k + 1
  values) are broken by `refit`'s score.
- `refit`: under out-of-fold heads refit with the reviews applied (core.review.refit: relabels used,
  confirmed-mislabeled samples left out of every fit), the normalized margin (max_{k≠y} p_k − p_y) of a
  class, the residual norm ‖r‖ of the task for tags (‖σ(z) − y‖) and values (|ŷ − y| / scale).
- `refit_l2`: the closed-form gradient L2 norm ‖r‖·‖h̃‖ under one in-sample head refit with the reviews
  applied, r the task's residual.
- `stack`: a logistic regression over every score column, each turned into its rank percentile (so a
  detector's scale does not matter), fit on the reviewed samples (confirmed wrong = 1, kept = 0, classes
  balanced). It needs both kinds among the reviews (`MIN_PER_CLASS` each); until then, the static score.
- `blend`: the mean rank percentile of the static score and `refit`'s.
- `static`: the primary detector's score (the control the others are measured against).

Every method sees only `LoopInputs` (scores, features, given labels), the decisions and their refits.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

from core.review.inputs import LoopInputs, ReviewState
from core.review.neighbors import disagreement
from core.review.refit import Refits, label_quality, refit_gradient_l2

MIN_PER_CLASS = 5
"""Reviewed samples of each kind (wrong, kept) the stacked model needs before it is fit."""
STACK_C = 1.0
"""Inverse L2 strength of the stacked logistic regression (scikit-learn's C)."""
TIE_BREAK = 1e-6
"""Weight of `refit`'s rank percentile in the `neighbors` score: it only orders samples with equal votes."""


def percentile_ranks(values: np.ndarray) -> np.ndarray:
    """(n,) or (n, m) → same shape, float64 rank percentiles in [0, 1] per column (ties averaged, NaN lowest)."""
    array = np.asarray(values, dtype=np.float64)
    matrix = array.reshape(len(array), -1)
    out = np.empty_like(matrix)
    for column in range(matrix.shape[1]):
        data = np.nan_to_num(matrix[:, column], nan=-np.inf)
        out[:, column] = (rankdata(data) - 1) / max(len(data) - 1, 1)
    return out.reshape(array.shape)


def static_scores(inputs: LoopInputs, state: ReviewState, refits: Refits) -> np.ndarray:
    return inputs.static.copy()


def refit_scores(inputs: LoopInputs, state: ReviewState, refits: Refits) -> np.ndarray:
    return label_quality(inputs, refits.out_of_fold, state.labels)


def neighbors_scores(inputs: LoopInputs, state: ReviewState, refits: Refits) -> np.ndarray:
    """Neighbour disagreement in [0, 1] plus TIE_BREAK × refit's rank percentile; samples outside the neighbour
    table's candidates (above its max_rows) score below every candidate, in refit's order."""
    margin = percentile_ranks(refit_scores(inputs, state, refits))
    table = refits.neighbor_table
    scores = TIE_BREAK * margin - 1.0
    scores[table.rows] = disagreement(table, state.labels, state.removed, inputs.form) + TIE_BREAK * margin[table.rows]
    return scores


def refit_l2_scores(inputs: LoopInputs, state: ReviewState, refits: Refits) -> np.ndarray:
    return refit_gradient_l2(inputs, refits.in_sample, state.labels)


def can_stack(state: ReviewState) -> bool:
    """Whether the reviews hold at least MIN_PER_CLASS confirmed-wrong and MIN_PER_CLASS kept samples."""
    wrong = int(state.wrong.sum())
    return wrong >= MIN_PER_CLASS and len(state.wrong) - wrong >= MIN_PER_CLASS


def stack_scores(inputs: LoopInputs, state: ReviewState, refits: Refits) -> np.ndarray:
    if not can_stack(state):
        return static_scores(inputs, state, refits)
    from sklearn.linear_model import LogisticRegression

    columns = percentile_ranks(inputs.scores)
    model = LogisticRegression(C=STACK_C, class_weight="balanced", max_iter=1000, random_state=inputs.seed)
    model.fit(columns[state.reviewed], state.wrong.astype(np.int64))
    return model.decision_function(columns).astype(np.float64)


def blend_scores(inputs: LoopInputs, state: ReviewState, refits: Refits) -> np.ndarray:
    return (percentile_ranks(inputs.static) + percentile_ranks(refit_scores(inputs, state, refits))) / 2
