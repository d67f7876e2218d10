"""A suggested label for every training sample, with its confidence and the runner-up.

The suggestion is the top class of one set of probabilities (`suggest.label_suggester`):

- `out_of_fold`: the out-of-fold probabilities, from models that never saw the sample's label;
- `counterfactual`: the label whose last-layer gradient (p − e_c) ⊗ [h, 1] is the smallest under
  the analyzed model, argmin_c ‖p − e_c‖ = argmax_c p_c of its in-sample probabilities (the model
  that did see the given label, so a memorized wrong label pulls the suggestion towards itself).

Both read only the given labels' models, never a true or test label. The suggestion may equal the
given label (the model agrees with it); the runner-up is then the most likely other class.
docs/budget.md measures which one equals the true label more often on the flagged wrong labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Suggestions:
    """One row per training sample."""

    label: np.ndarray
    """(n,) int64 suggested class."""
    confidence: np.ndarray
    """(n,) float64 its probability."""
    runner_up: np.ndarray
    """(n,) int64 the second most likely class."""
    runner_up_confidence: np.ndarray
    """(n,) float64 its probability."""


def suggest_labels(probs: np.ndarray) -> Suggestions:
    """Top two classes of `probs` (n, C), C ≥ 2; ties go to the lower class index (as argmax)."""
    probs = np.asarray(probs, dtype=np.float64)
    rows = np.arange(len(probs))
    order = np.argsort(-probs, axis=1, kind="stable")
    first, second = order[:, 0], order[:, 1]
    return Suggestions(label=first.astype(np.int64), confidence=probs[rows, first],
                       runner_up=second.astype(np.int64), runner_up_confidence=probs[rows, second])
