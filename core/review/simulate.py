"""The review loop simulated with the truth standing in for the reviewer: does re-ranking find errors sooner?

At each checkpoint m the simulated reviewer has decided the static ranking's top m samples: a sample whose
given label differs from the true one is relabelled to the true label (`relabel`), or only marked
mislabeled (`mislabeled`); the others are kept. Then each method re-ranks the unreviewed samples from
those decisions alone (core.review.methods), and the measurement is the precision of its next `batch`
(the share whose given label is truly wrong) against the static ranking's next `batch`, on the same
decisions: a paired comparison. For every method that reads the decisions, a `<method>_no_reviews` row (the
same method with no decision applied) is the control that separates what the reviews add from what the
method does without them. The estimate of the errors left (core.review.remaining) is compared
with the true count. The true labels are read here, to play the reviewer and to measure; the methods and
the estimate see only the decisions.

`loop_found` runs the loop as a person would: the static top batch first, then re-ranking after every
batch, and counts the wrong labels found after each batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from core.detect.flagging import ranking
from core.errors import ConfigError
from core.review.config import RerankConfig
from core.review.inputs import LoopInputs, ReviewState
from core.review.refit import Refits
from core.review.registry import RERANK_METHODS
from core.review.remaining import estimate_remaining
from core.run import schema
from core.run.rundir import RunDir

CHECKPOINTS = (50, 100, 200)
BATCH = 50
NO_REVIEWS = "_no_reviews"
"""Suffix of a control row: `refit_no_reviews` is refit with no decision applied."""
UNLEARNING = ("static",)
"""Methods that do not read the decisions, so they get no control."""


def truth_of(run: RunDir) -> np.ndarray:
    """(n,) int64 true labels of a run (measurement only); a run without them cannot be simulated."""
    frame = run.read_samples([schema.TRUE_LABEL])
    labels = frame[schema.TRUE_LABEL]
    if labels.isna().any():
        raise ConfigError(f"{run.path} has no true labels: the review loop can only be simulated on a run with "
                          "injected noise or known truth")
    return labels.to_numpy(np.int64)


REVIEWERS = ("relabel", "mislabeled")
"""How the simulated reviewer treats a wrong label: relabel it to the true label, or only mark it mislabeled."""


def reviewer_state(inputs: LoopInputs, true_labels: np.ndarray, reviewed: np.ndarray, reviewer: str) -> ReviewState:
    """The decisions of the truth on `reviewed`: relabel to the true label (or mislabeled), else keep."""
    if reviewer not in REVIEWERS:
        raise ConfigError(f"unknown simulated reviewer {reviewer!r}; valid: {', '.join(REVIEWERS)}")
    wrong = inputs.given_labels[reviewed] != true_labels[reviewed]
    new_labels = true_labels[reviewed] if reviewer == "relabel" else None
    return ReviewState.from_arrays(inputs.given_labels, reviewed, wrong, new_labels)


def next_batch(scores: np.ndarray, unreviewed: np.ndarray, batch: int) -> np.ndarray:
    """The `batch` unreviewed samples with the highest scores (ties by sample id)."""
    return unreviewed[ranking(scores[unreviewed])[:batch]]


def simulate(inputs: LoopInputs, true_labels: np.ndarray, *, methods: Sequence[str] = tuple(RERANK_METHODS.names()),
             checkpoints: Sequence[int] = CHECKPOINTS, batch: int = BATCH, reviewer: str = "relabel",
             config: RerankConfig | None = None) -> pd.DataFrame:
    """One row per (checkpoint, method), controls (`<method>_no_reviews`) included: `precision` of the next
    batch, the static ranking's `static_precision` on the same decisions, `gain` = their difference,
    `remaining` (true wrong labels left unreviewed) and the estimate's `estimate`, `low`, `high`. `config`
    holds the re-ranking settings (folds, neighbours; the defaults when None); its method is not used."""
    for method in methods:
        RERANK_METHODS.check(method, "method")
    noisy = inputs.given_labels != true_labels
    order = ranking(inputs.static)
    empty = ReviewState.from_arrays(inputs.given_labels, [], [])
    nothing_applied = Refits(inputs, empty, config)
    controls = {f"{method}{NO_REVIEWS}": RERANK_METHODS.get(method)(inputs, empty, nothing_applied)
                for method in methods if method not in UNLEARNING}
    rows = []
    for m in checkpoints:
        if m >= inputs.n_samples:
            continue
        state = reviewer_state(inputs, true_labels, order[:m], reviewer)
        unreviewed = state.unreviewed
        refits = Refits(inputs, state, config)
        static_precision = float(noisy[next_batch(inputs.static, unreviewed, batch)].mean())
        estimate = estimate_remaining(refits.disagrees, inputs.static, state.reviewed, state.wrong,
                                      unreviewed)
        base = {"checkpoint": int(m), "remaining": int(noisy[unreviewed].sum()), "static_precision": static_precision,
                **{key: value for key, value in estimate.to_dict().items() if key != "n_unreviewed"}}
        scored = {method: RERANK_METHODS.get(method)(inputs, state, refits) for method in methods} | controls
        for method, scores in scored.items():
            precision = float(noisy[next_batch(scores, unreviewed, batch)].mean())
            rows.append({**base, "method": method, "precision": precision, "gain": precision - static_precision})
    return pd.DataFrame(rows)


def loop_found(inputs: LoopInputs, true_labels: np.ndarray, method: str, *, batches: int = 5, batch: int = BATCH,
               reviewer: str = "relabel", config: RerankConfig | None = None,
               progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """(batches,) int: wrong labels found after each batch when the static top batch is reviewed first and
    `method` re-ranks after every batch ("static": the static ranking throughout)."""
    RERANK_METHODS.check(method, "method")
    noisy = inputs.given_labels != true_labels
    reviewed = ranking(inputs.static)[:batch]
    found = [int(noisy[reviewed].sum())]
    for step in range(1, batches):
        state = reviewer_state(inputs, true_labels, np.sort(reviewed), reviewer)
        scores = RERANK_METHODS.get(method)(inputs, state, Refits(inputs, state, config))
        reviewed = np.concatenate([reviewed, next_batch(scores, state.unreviewed, batch)])
        found.append(int(noisy[reviewed].sum()))
        if progress is not None:
            progress(step, batches - 1)
    return np.asarray(found)
